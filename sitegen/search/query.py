"""Searching a built index: the one query module used by the CLI, the server and the tests.

``search(index_dir, request)`` opens the index, runs one ``SearchRequest`` and closes it.
A long-running process keeps a ``SearchIndex``, which reopens the index when a rebuild has
swapped a new one into place (it watches ``terms.json``, written last by ``build_index``).
Both are read-only.

The free-text query uses Whoosh's syntax over the text fields: words (all required), quoted
phrases, ``OR``/``AND``/``NOT``, parentheses, ``word*`` prefixes, ``field:value`` for
``title``, ``summary``, ``body``, ``source``, ``tags``, ``actor``/``location`` (exact: any
spelling of the name, e.g. ``actor:"Kata'ib Hezbollah"``) and ``date:[2020 TO 2021]`` or
``date:2021-03``. Structured filters in the request (actors, locations, since, until, source)
are exact filters: they narrow the results without affecting scores, and several actors or
locations must all be present. Input never makes ``search`` raise: malformed syntax is parsed
leniently or retried as plain words, limits are applied, and ``SearchResults.message`` says
what was changed or could not be understood.
"""

from __future__ import annotations

import html
import json
import logging
import pickle
import queue
import re
import struct
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from itertools import islice
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from rapidfuzz import process as fuzzy
from rapidfuzz.distance import OSA
from whoosh import index as whoosh_index
from whoosh import qparser, sorting
from whoosh import query as wq
from whoosh.fields import Schema
from whoosh.searching import Searcher

from sitegen.search.analysis import analyze, fold, term_spans
from sitegen.search.engine import Engine, rank_key
from sitegen.search.index import (
    INDEX_NAME,
    TERMS_FILE,
    TermEntry,
    TermMap,
    load_spelling,
    load_term_map,
)
from sitegen.slugs import slugify_name

__all__ = [
    "MAX_PAGE",
    "MAX_PAGE_SIZE",
    "MAX_QUERY_LENGTH",
    "Excerpt",
    "Hit",
    "HitTerm",
    "SearchIndex",
    "SearchRequest",
    "SearchResults",
    "search",
]

log = logging.getLogger(__name__)

MAX_QUERY_LENGTH = 500
MAX_PAGE_SIZE = 100
MAX_PAGE = 10_000
MAX_FACET_LIMIT = 200
MAX_EXPANSIONS = 100  # words one wildcard or prefix may stand for (the most frequent are kept)
EXCERPT_CHARS = 240
EXCERPT_SCAN = 1 << 16  # only the first 64K characters of a body are searched for matches

Sort = Literal["relevance", "date"]
TEXT_FIELDS = ("title", "summary", "body", "actors_text", "locations_text", "source",
               "tags_text")
EXACT_FIELDS = {"actor": "actor", "location": "location"}  # query field -> term kind
# Fields a query may name; everything else ("url:", "spell:") is read as plain words.
QUERY_FIELDS = (*TEXT_FIELDS, "actor", "location", "tags", "date")
FIELD_ALIASES = {"actor": ["actors"], "location": ["locations", "place"], "tags": ["tag"]}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_ONLY_WILDCARDS = re.compile(r"^[\s*?]*\*[\s*?]*$")


# --- request and results ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SearchRequest:
    q: str = ""
    actors: tuple[str, ...] = ()  # any spelling, name or slug
    locations: tuple[str, ...] = ()
    since: date | None = None  # inclusive, the report's own calendar date
    until: date | None = None  # inclusive
    source: str | None = None  # source name (any case/accents)
    sort: Sort = "relevance"
    page: int = 1
    page_size: int = 10
    facet_limit: int = 20


@dataclass(frozen=True, slots=True)
class HitTerm:
    slug: str
    name: str
    url: str


@dataclass(frozen=True, slots=True)
class Excerpt:
    html: str  # safe HTML: matched words in <mark>, everything else escaped
    text: str  # the same excerpt as plain text


@dataclass(frozen=True, slots=True)
class Hit:
    url: str
    title: str
    date: date  # a datetime (with its offset) when the report has a time, else a date
    summary: str
    actors: tuple[HitTerm, ...]
    locations: tuple[HitTerm, ...]
    score: float | None  # None when sorted by date
    excerpt: Excerpt


FacetCounts = tuple[tuple[str, str, int], ...]  # (name, slug, count), most frequent first


@dataclass(frozen=True, slots=True)
class SearchResults:
    query: str  # the query text actually searched (cleaned, possibly truncated)
    total: int  # all matching reports
    page: int
    page_size: int
    hits: tuple[Hit, ...]
    facets: Mapping[str, FacetCounts]  # "actors" and "locations", over all matching reports
    suggestion: str | None = None  # "did you mean": a corrected query, or a term name
    message: str | None = None  # what was adjusted or not understood, for the user
    suggested_request: SearchRequest | None = field(default=None, compare=False)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    def as_dict(self) -> dict[str, Any]:
        """The JSON API shape (dates in ISO 8601)."""
        return {
            "query": self.query,
            "total": self.total,
            "hits": [{
                "url": h.url,
                "title": h.title,
                "date": h.date.isoformat(),
                "summary": h.summary,
                "actors": [t.name for t in h.actors],
                "locations": [t.name for t in h.locations],
                "score": h.score,
                "excerpt": h.excerpt.html,
            } for h in self.hits],
            "facets": {kind: {name: count for name, _, count in self.facets.get(kind, ())}
                       for kind in ("actors", "locations")},
            "suggestion": self.suggestion,
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), ensure_ascii=False)


def _empty(request: SearchRequest, query: str, messages: list[str]) -> SearchResults:
    return SearchResults(query, 0, request.page, request.page_size, (),
                         MappingProxyType({"actors": (), "locations": ()}), None,
                         _join(messages))


def _join(messages: Iterable[str]) -> str | None:
    text = " ".join(dict.fromkeys(m for m in messages if m))
    return text or None


# --- request cleaning -------------------------------------------------------------------


def clean_query(q: str) -> tuple[str, list[str]]:
    """Control characters and lone surrogates become spaces; overlong text is cut."""
    messages = []
    text = _CONTROL.sub(" ", q).strip()
    if len(text) > MAX_QUERY_LENGTH:
        text = text[:MAX_QUERY_LENGTH].rstrip()
        messages.append(f"The query was cut to its first {MAX_QUERY_LENGTH} characters.")
    return text, messages


def _clean_value(value: str) -> str:
    return _CONTROL.sub(" ", value).strip()[:MAX_QUERY_LENGTH]


def normalize_request(request: SearchRequest) -> tuple[SearchRequest, list[str]]:
    """Clamp paging and limits to their ranges and clean every string."""
    messages: list[str] = []
    q, qmsgs = clean_query(request.q or "")
    messages += qmsgs
    page, size = request.page, request.page_size
    if not 1 <= size <= MAX_PAGE_SIZE:
        size = min(max(size, 1), MAX_PAGE_SIZE)
        messages.append(f"Results per page must be between 1 and {MAX_PAGE_SIZE}; "
                        f"showing {size}.")
    if not 1 <= page <= MAX_PAGE:
        page = min(max(page, 1), MAX_PAGE)
        messages.append(f"Page numbers go from 1 to {MAX_PAGE}; showing page {page}.")
    sort = request.sort
    if sort not in ("relevance", "date"):
        messages.append(f"Unknown sort order {str(sort)[:40]!r}; sorting by relevance.")
        sort = "relevance"
    since, until = request.since, request.until
    since = since.date() if isinstance(since, datetime) else since
    until = until.date() if isinstance(until, datetime) else until
    if since and until and since > until:
        since, until = until, since
        messages.append("The start date was after the end date; they were swapped.")
    facet_limit = min(max(request.facet_limit, 0), MAX_FACET_LIMIT)
    source = _clean_value(request.source) if request.source else None
    return SearchRequest(
        q=q,
        actors=tuple(dict.fromkeys(v for v in map(_clean_value, request.actors) if v)),
        locations=tuple(dict.fromkeys(v for v in map(_clean_value, request.locations) if v)),
        since=since, until=until, source=source or None, sort=sort, page=page,
        page_size=size, facet_limit=facet_limit,
    ), messages


# --- the index handle -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Opened:
    signature: tuple[int, int, int]
    index: Any  # whoosh.index.FileIndex
    terms: TermMap
    query_schema: Schema
    term_lists: Mapping[str, tuple[tuple[str, ...], ...]]  # field -> slugs of each docnum
    doc_count: int
    ranks: tuple[int, ...] = ()  # docnum -> place in "newest first, then URL" order
    spelling: Mapping[str, Mapping[str, int]] = field(  # first letter -> word -> reports
        default_factory=lambda: MappingProxyType({}))
    readers: _ReaderPool | None = None
    engine: Engine | None = None  # None: every query is run by Whoosh's collector


class _ReaderPool:
    """Open Whoosh readers of one index, lent to one search at a time.

    Opening a reader reads the table of contents, opens every segment file and loads the
    field lengths into memory (``_MemoryLengthsReader``): several milliseconds at 10,000
    reports, so readers are kept between searches instead. A reader is not thread-safe (its
    files are read with seek + read), hence one per concurrent search.
    """

    def __init__(self, ix: Any) -> None:
        self._ix = ix
        self._idle: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = False

    def take(self) -> Any:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            return self._ix.reader()

    def give_back(self, reader: Any) -> None:
        if self._closed:
            reader.close()
        else:
            self._idle.put(reader)

    def close(self) -> None:
        """Close the idle readers; those lent out are closed when given back."""
        self._closed = True
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


def _term_lists(ix: Any, fieldname: str) -> tuple[tuple[str, ...], ...]:
    """The terms of ``fieldname`` for every document (in each, sorted as the term table
    sorts them), read once per opened index. Read segment by segment: each segment's own
    terms, in one pass over its term table. Asking the whole index for each term's postings
    looked every term up in every segment, twice (800 terms, 40 segments: most of the 0.9 s
    the first search took at 10,000 reports)."""
    with ix.reader() as reader:
        lists: list[list[str]] = [[] for _ in range(reader.doc_count_all())]
        for leaf, offset in reader.leaf_readers():
            if fieldname not in leaf.schema:
                continue
            for btext in leaf.lexicon(fieldname):
                text = btext.decode("utf-8")
                for docnum in leaf.postings(fieldname, btext).all_ids():
                    lists[offset + docnum].append(text)
    return tuple(tuple(x) for x in lists)


def _date_ranks(ix: Any) -> tuple[int, ...]:
    """docnum -> its place in the order newest first, then by URL; read once per opened
    index, so sorting a search's matches never reads the columns again."""
    with ix.reader() as reader:
        count = reader.doc_count_all()
        if not count:
            return ()
        ts = list(reader.column_reader("ts"))
        urls = list(reader.column_reader("url"))
    ranks = [0] * count
    for place, docnum in enumerate(sorted(range(count), key=lambda d: (-ts[d], urls[d]))):
        ranks[docnum] = place
    return tuple(ranks)


class _RankCategorizer(sorting.Categorizer):  # type: ignore[misc]
    def __init__(self, ranks: tuple[int, ...], scored: bool) -> None:
        self._ranks = ranks
        self._offset = 0
        self.needs_current = scored

    def set_searcher(self, segment_searcher: Any, docoffset: int) -> None:
        self._offset = docoffset

    def key_for(self, matcher: Any, segment_docnum: int) -> Any:
        rank = self._ranks[self._offset + segment_docnum]
        return (-rank_key(matcher.score()), rank) if self.needs_current else (0.0, rank)


class _RankFacet(sorting.FacetType):  # type: ignore[misc]
    """Sort by score (if ``scored``), then newest first, then URL: never by Whoosh's
    document numbers, which depend on the order documents were added, so an index updated
    report by report answers exactly as a fresh one. The key is ``(-score, rank)``, the
    score rounded as ``engine.rank_key`` rounds it."""

    def __init__(self, ranks: tuple[int, ...], scored: bool) -> None:
        self._ranks = ranks
        self._scored = scored

    def categorizer(self, global_searcher: Any) -> _RankCategorizer:
        return _RankCategorizer(self._ranks, self._scored)


class _ListCategorizer(sorting.Categorizer):  # type: ignore[misc]
    allow_overlap = True

    def __init__(self, lists: tuple[tuple[str, ...], ...]) -> None:
        self._lists = lists
        self._offset = 0

    def set_searcher(self, segment_searcher: Any, docoffset: int) -> None:
        self._offset = docoffset

    def keys_for(self, matcher: Any, segment_docnum: int) -> tuple[str, ...]:
        return self._lists[self._offset + segment_docnum]


class _ListFacet(sorting.FacetType):  # type: ignore[misc]
    """Groups by the terms of a multi-valued field, from lists cached with the index.

    Counts like ``FieldFacet(field, allow_overlap=True)`` (a report counts once under each
    of its terms) without re-reading the postings on every search.
    """

    def __init__(self, lists: tuple[tuple[str, ...], ...]) -> None:
        self._lists = lists
        self.maptype = sorting.Count

    def categorizer(self, global_searcher: Any) -> _ListCategorizer:
        return _ListCategorizer(self._lists)


def _signature(index_dir: Path) -> tuple[int, int, int] | None:
    try:
        st = (index_dir / TERMS_FILE).stat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


class SearchIndex:
    """An index folder kept open across searches, reopened when its contents are replaced.

    Safe to share between threads: each search borrows its own Whoosh reader.
    """

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = index_dir
        self._lock = threading.Lock()
        self._opened: _Opened | None = None

    def _current(self) -> _Opened | None:
        sig = _signature(self.index_dir)
        opened = self._opened
        if opened is not None and opened.signature == sig:
            return opened
        with self._lock:
            if self._opened is not None and self._opened.signature == sig:
                return self._opened
            if self._opened is not None and self._opened.readers is not None:
                self._opened.readers.close()
            self._opened = None if sig is None else _open(self.index_dir, sig)
            return self._opened

    def close(self) -> None:
        """Close the open files (the index is reopened by the next search)."""
        with self._lock:
            if self._opened is not None and self._opened.readers is not None:
                self._opened.readers.close()
            self._opened = None

    @property
    def available(self) -> bool:
        return self._current() is not None

    def doc_count(self) -> int:
        """The number of indexed reports (0 when there is no index)."""
        opened = self._current()
        return opened.doc_count if opened else 0

    def names(self, kind: str) -> dict[str, str]:
        """Canonical slug -> display name of every known ``kind`` term ("actor"/"location")."""
        opened = self._current()
        return opened.terms.names(kind) if opened else {}

    def resolve(self, kind: str, spelling: str) -> TermEntry | None:
        """The term (canonical slug and name) any spelling, name or slug refers to."""
        opened = self._current()
        return opened.terms.resolve(kind, spelling) if opened else None

    def search(self, request: SearchRequest) -> SearchResults:
        request, messages = normalize_request(request)
        for _ in range(2):  # a second try when the index was replaced while opening it
            opened = self._current()
            if opened is None:
                break
            assert opened.readers is not None
            try:
                reader = opened.readers.take()
            except _OPEN_ERRORS as exc:
                log.debug("reopening %s: %s", self.index_dir, exc)
                with self._lock:
                    if self._opened is opened:
                        opened.readers.close()
                        self._opened = None
                continue
            try:
                searcher = Searcher(reader, fromindex=opened.index, closereader=False)
                return _run(searcher, opened, request, messages)
            finally:
                opened.readers.give_back(reader)
        return _empty(request, request.q, [*messages, "The search index is not available."])


_OPEN_ERRORS = (OSError, ValueError, EOFError, KeyError, AttributeError, ImportError,
                pickle.UnpicklingError, struct.error, whoosh_index.IndexError)


def _open(index_dir: Path, sig: tuple[int, int, int]) -> _Opened | None:
    try:
        ix = whoosh_index.open_dir(str(index_dir), indexname=INDEX_NAME, readonly=True)
    except _OPEN_ERRORS as exc:
        log.debug("cannot open the search index in %s: %s", index_dir, exc)
        return None
    try:
        lists = {name: _term_lists(ix, name) for name in EXACT_FIELDS}
    except _OPEN_ERRORS as exc:
        log.debug("cannot read the search index in %s: %s", index_dir, exc)
        return None
    schema = ix.schema
    query_schema = Schema(**{name: schema[name] for name in QUERY_FIELDS if name in schema})
    try:
        ranks = _date_ranks(ix)
        with ix.reader() as reader:
            segments = [leaf.segment().segment_id() for leaf, _ in reader.leaf_readers()
                        if leaf.segment() is not None and leaf.doc_count_all()]
    except _OPEN_ERRORS as exc:
        log.debug("cannot read the search index in %s: %s", index_dir, exc)
        return None
    by_letter: dict[str, dict[str, int]] = {}
    try:
        for word, count in sorted(load_spelling(index_dir, segments).items()):
            by_letter.setdefault(word[:1], {})[word] = count
    except (OSError, ValueError, TypeError) as exc:  # searching works; no "did you mean"
        log.debug("cannot read the word lists in %s: %s", index_dir, exc)
        by_letter = {}
    return _Opened(sig, ix, load_term_map(index_dir), query_schema, lists,
                   len(lists["actor"]), ranks, MappingProxyType(by_letter), _ReaderPool(ix),
                   Engine(ranks, lists) if USE_ENGINE else None)


def search(index_dir: Path, request: SearchRequest) -> SearchResults:
    """Run one search against the index in ``index_dir`` (opened and closed here)."""
    index = SearchIndex(index_dir)
    try:
        return index.search(request)
    finally:
        index.close()


# --- parsing ----------------------------------------------------------------------------


def _parser(schema: Schema) -> qparser.QueryParser:
    parser = qparser.MultifieldParser(list(TEXT_FIELDS), schema)
    # Apostrophes are everywhere in transliterated names (Kata'ib, Sana'a): no 'quoting'.
    parser.remove_plugin_class(qparser.SingleQuotePlugin)
    parser.add_plugin(qparser.FieldAliasPlugin(FIELD_ALIASES))
    return parser


# Whoosh reports bad input with ValueError, AttributeError (odd query trees), its own
# error classes and, in DATETIME (while parsing *and* while searching), a bare Exception.
# Every call that sees user input therefore catches Exception: input must never crash a
# search, and each such place degrades to a message or an empty answer, logged at debug.


_RANGE = re.compile(r"\w+:\s*[\[{][^\]}]*[\]}]?")
_SYNTAX = re.compile(r"[\"(){}\[\]^~:*?\\]")
_DATE_HELP = "(write dates as date:2021, date:2021-03-04 or date:[2020 TO 2021])"


def _try_parse(parser: qparser.QueryParser, text: str) -> wq.Query | None:
    try:
        return parser.parse(text, normalize=False)
    # "date:[1 TO 2]" raises a bare Exception, a bound with a time part ValueError.
    except Exception as exc:  # noqa: BLE001
        log.debug("query %r: %s: %s", text, type(exc).__name__, exc)
        return None


def _parse(schema: Schema, text: str) -> tuple[wq.Query, list[str]]:
    """Parse leniently: on an error retry without range clauses, then as plain words."""
    messages: list[str] = []
    if _ONLY_WILDCARDS.match(text):
        return wq.Every(), messages
    parser = _parser(schema)
    q = _try_parse(parser, text)
    if q is None:
        without_ranges = _RANGE.sub(" ", text)
        q = _try_parse(parser, without_ranges) if without_ranges != text else None
        if q is not None:
            messages.append(f"A range in the query could not be understood and was ignored "
                            f"{_DATE_HELP}.")
        else:
            messages.append("Part of the query could not be understood; "
                            "it was searched as plain words.")
            q = _try_parse(parser, _SYNTAX.sub(" ", text)) or wq.NullQuery
    if any(getattr(node, "error", None) for node in _walk(q)):
        # Whoosh leaves a fresh _NullQuery where it could not parse a value (a bad date);
        # only the NullQuery singleton is dropped by normalize(), so swap it in.
        q = q.accept(lambda node: wq.NullQuery if getattr(node, "error", None) else node)
        messages.append(f"Part of the query could not be understood and was ignored "
                        f"{_DATE_HELP}.")
    try:
        return q.normalize(), messages
    except Exception as exc:  # noqa: BLE001  # pragma: no cover - defensive
        log.debug("normalising %r: %s", text, exc)
        return wq.NullQuery, messages


def _walk(q: wq.Query, skip_not: bool = False) -> Iterator[wq.Query]:
    yield q
    if skip_not and isinstance(q, wq.Not):
        return
    for child in q.children():
        yield from _walk(child, skip_not)


def _resolve_aliases(q: wq.Query, terms: TermMap) -> wq.Query:
    """``actor:KH`` -> ``actor:kataib-hezbollah``: exact-field terms to canonical slugs."""

    def fix(node: wq.Query) -> wq.Query:
        if isinstance(node, wq.Term) and node.fieldname in EXACT_FIELDS:
            entry = terms.of(EXACT_FIELDS[node.fieldname]).get(node.text)
            if entry is not None and entry.slug != node.text:
                node.text = entry.slug
        return node

    return q.accept(fix)


def _bound_expansions(q: wq.Query, reader: Any, messages: list[str]) -> wq.Query:
    """Replace a wildcard or prefix standing for too many words by its most frequent ones."""

    def fix(node: wq.Query) -> wq.Query:
        if not isinstance(node, (wq.Prefix, wq.Wildcard, wq.Regex)):
            return node
        fieldname = node.fieldname
        try:
            words = list(islice(node._btexts(reader), 10 * MAX_EXPANSIONS))
        except Exception:  # noqa: BLE001
            return wq.NullQuery
        if len(words) <= MAX_EXPANSIONS:
            return node
        freq = [(reader.doc_frequency(fieldname, w), w) for w in words]
        freq.sort(key=lambda fw: (-fw[0], fw[1]))
        messages.append(f"{node.text!r} matches too many words; only the {MAX_EXPANSIONS} "
                        "most frequent were searched.")
        field_obj = reader.schema[fieldname]
        return wq.Or([wq.Term(fieldname, field_obj.from_bytes(w), boost=node.boost)
                      for _, w in freq[:MAX_EXPANSIONS]])

    return q.accept(fix)


# --- filters ----------------------------------------------------------------------------


def _filters(request: SearchRequest, terms: TermMap) -> tuple[
        list[wq.Query], list[tuple[str, str]]]:
    """Exact filters for the request, and the (kind, value) filters naming no known term."""
    clauses: list[wq.Query] = []
    unknown: list[tuple[str, str]] = []
    for kind, values in (("actor", request.actors), ("location", request.locations)):
        for value in values:
            entry = terms.resolve(kind, value)
            if entry is None:
                unknown.append((kind, value))
                clauses.append(wq.Term(kind, slugify_name(value)))
            else:
                clauses.append(wq.Term(kind, entry.slug))
    if request.since or request.until:
        start = datetime.combine(request.since, time.min) if request.since else None
        end = datetime.combine(request.until, time.max) if request.until else None
        clauses.append(wq.DateRange("date", start, end))
    if request.source:
        clauses.append(wq.Term("source_id", slugify_name(request.source)))
    return clauses, unknown


# --- running a search -------------------------------------------------------------------


def _prepare(reader: Any, opened: _Opened, request: SearchRequest,
             messages: list[str]) -> wq.Query:
    """The Whoosh query for the request's text (``Every`` when there is none)."""
    if not request.q:
        return wq.Every()
    parsed, pmsgs = _parse(opened.query_schema, request.q)
    messages += pmsgs
    parsed = _bound_expansions(_resolve_aliases(parsed, opened.terms), reader, messages)
    if isinstance(parsed, type(wq.NullQuery)) and not pmsgs:
        messages.append("The query has no searchable words (very common words such "
                        "as “the”, and words over 64 letters, are not indexed).")
    return parsed


_FAILED = "The query could not be run; try simpler words."
_PLAIN_WORDS = re.compile(r"[^\"():\[\]{}*?^~\\]*")
_OPERATOR = re.compile(r"\b(?:AND|OR|NOT|ANDNOT|ANDMAYBE)\b")
PROXIMITY_FIELDS = ("title", "summary", "body")
PROXIMITY_SLOP = 5  # words may be up to 4 apart
PROXIMITY_BOOST = 2.0
USE_ENGINE = True  # False: every query through Whoosh's collector (tests compare the two)


def _with_proximity(q: wq.Query, text: str) -> wq.Query:
    """Rank reports where the words of a plain multi-word query stand close together first.

    Only for plain words (no operators, fields, quotes or wildcards): the query still decides
    what matches; a sloppy phrase per field adds to the score of those that also match it.
    """
    if not _PLAIN_WORDS.fullmatch(text) or _OPERATOR.search(text):
        return q
    terms = analyze(text)
    if len(terms) < 2 or len(set(terms)) < 2:
        return q
    near = wq.Or([wq.Phrase(f, terms, slop=PROXIMITY_SLOP, boost=PROXIMITY_BOOST)
                  for f in PROXIMITY_FIELDS])
    return wq.AndMaybe(q, near)


def _run(searcher: Any, opened: _Opened, request: SearchRequest,
         messages: list[str]) -> SearchResults:
    reader = searcher.reader()
    try:
        parsed = _prepare(reader, opened, request, messages)
    except Exception as exc:  # noqa: BLE001
        log.debug("preparing %r failed: %s", request.q, exc)
        return _empty(request, request.q, [*messages, _FAILED])
    scored = bool(request.q) and not isinstance(parsed, wq.Every)
    clauses, unknown = _filters(request, opened.terms)
    by_date = request.sort == "date" or not scored

    limit = min(request.page * request.page_size, max(searcher.doc_count(), 1))
    query = _with_proximity(parsed, request.q) if scored else parsed
    words = _highlight_words(parsed, reader) if scored else frozenset()
    start = (request.page - 1) * request.page_size
    found = _collect(searcher, opened, query, clauses, by_date, limit)
    if found is None:
        return _empty(request, request.q, [*messages, _FAILED])
    total, top, groups = found
    hits = tuple(_hit(searcher.stored_fields(docnum), words, None if by_date else score)
                 for docnum, score in top[start:start + request.page_size])
    facet_counts = MappingProxyType({
        "actors": _facet(groups.get("actor", {}), opened.terms.names("actor"),
                         request.facet_limit),
        "locations": _facet(groups.get("location", {}), opened.terms.names("location"),
                            request.facet_limit),
    })

    suggestion: str | None = None
    suggested: SearchRequest | None = None
    if total == 0:
        try:
            suggestion, suggested = _suggest(searcher, opened, request, parsed, unknown,
                                             messages)
        except Exception as exc:  # noqa: BLE001 - a suggestion must never fail the search
            log.debug("suggesting for %r failed: %s", request.q, exc)
    return SearchResults(request.q, total, request.page, request.page_size, hits,
                         facet_counts, suggestion, _join(messages), suggested)


def _collect(searcher: Any, opened: _Opened, query: wq.Query, clauses: list[wq.Query],
             by_date: bool, limit: int) -> tuple[
                 int, tuple[tuple[int, float], ...], Mapping[str, Mapping[str, int]]] | None:
    """(total, the first ``limit`` (docnum, score) in rank order, facet field -> term ->
    count) for ``query`` within the filter ``clauses``; None if the search failed.

    Through ``engine`` (arrays) when it evaluates the query, else Whoosh's collector.
    """
    if opened.engine is not None:
        try:
            answer = opened.engine.run(searcher, query, clauses, scored=not by_date,
                                       limit=limit, facets=list(EXACT_FIELDS))
        except Exception as exc:  # noqa: BLE001 - Whoosh gets its turn
            log.debug("engine on %r failed: %s", query, exc)
            answer = None
        if answer is not None:
            return answer.total, answer.top, answer.groups
    facets = sorting.Facets()
    for name in EXACT_FIELDS:
        facets.add_facet(name, _ListFacet(opened.term_lists[name]))
    try:
        results = searcher.search(
            query, limit=limit, filter=wq.And(clauses) if clauses else None,
            groupedby=facets, maptype=sorting.Count,
            sortedby=_RankFacet(opened.ranks, scored=not by_date), terms=False)
        top = tuple((h.docnum, 0.0 if by_date else -h.score[0])  # see _RankFacet
                    for h in results)
        groups = {name: dict(results.groups(name)) for name in EXACT_FIELDS}
        return len(results), top, groups
    except Exception as exc:  # noqa: BLE001
        log.debug("search %r failed: %s", query, exc)
        return None


def _facet(groups: Mapping[str, int], names: Mapping[str, str], limit: int) -> FacetCounts:
    rows = [(names.get(slug, slug), slug, int(count)) for slug, count in groups.items()]
    rows.sort(key=lambda r: (-r[2], r[0].casefold(), r[1]))
    return tuple(rows[:limit])


def _parse_date(value: str) -> date:
    return datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)


def _hit(stored: Mapping[str, Any], words: frozenset[str], score: float | None) -> Hit:
    summary = stored.get("summary", "")
    body = stored.get("body", "")
    return Hit(
        url=stored["url"],
        title=stored.get("title", ""),
        date=_parse_date(stored["date_iso"]),
        summary=summary,
        actors=tuple(HitTerm(*t) for t in stored.get("actor_refs", ())),
        locations=tuple(HitTerm(*t) for t in stored.get("location_refs", ())),
        score=None if score is None else round(float(score), 4),
        excerpt=make_excerpt(body, summary, words),
    )


# --- excerpts ---------------------------------------------------------------------------


def make_excerpt(body: str, summary: str, words: frozenset[str]) -> Excerpt:
    """A passage of about ``EXCERPT_CHARS`` around the most matched ``words`` in the body
    (else the summary), matched tokens in ``<mark>``; without a match, the start of the
    summary (else the body), unmarked. ``words`` are analysed terms, as in the index.
    """
    if words:
        for text in (body, summary):
            spans = term_spans(text[:EXCERPT_SCAN], words)
            if spans:
                return _window(text, spans)
    plain = _shorten(summary or body)
    return Excerpt(html.escape(plain), plain)


def _window(text: str, spans: list[tuple[int, int]]) -> Excerpt:
    """The excerpt window holding the most matches, widened to whole words."""
    lead = EXCERPT_CHARS // 4
    best_i, best_n = 0, 0
    j = 0
    for i, (start, _) in enumerate(spans):  # two pointers: matches inside [start, start+len)
        j = max(j, i)
        while j < len(spans) and spans[j][1] <= start - lead + EXCERPT_CHARS:
            j += 1
        if j - i > best_n:
            best_i, best_n = i, j - i
    lo = max(0, min(spans[best_i][0] - lead, len(text) - EXCERPT_CHARS))
    hi = min(len(text), lo + EXCERPT_CHARS)
    if lo > 0:  # start on a word boundary
        cut = text.find(" ", lo, spans[best_i][0])
        lo = cut + 1 if cut != -1 else lo
    if hi < len(text):
        cut = text.rfind(" ", spans[best_i][1], hi)
        hi = cut if cut != -1 else hi
    html_parts = ["… " if lo > 0 else ""]
    pos = lo
    for a, b in spans:
        if a < pos or b > hi:
            continue
        html_parts += [html.escape(text[pos:a]), "<mark>", html.escape(text[a:b]), "</mark>"]
        pos = b
    html_parts += [html.escape(text[pos:hi]), " …" if hi < len(text) else ""]
    plain = ("… " if lo > 0 else "") + text[lo:hi] + (" …" if hi < len(text) else "")
    return Excerpt(_squash("".join(html_parts)), _squash(plain))


def _squash(text: str) -> str:
    return " ".join(text.split())


def _shorten(text: str) -> str:
    text = _squash(text)
    if len(text) <= EXCERPT_CHARS:
        return text
    cut = text[:EXCERPT_CHARS].rsplit(" ", 1)[0]
    return cut + " …"


def _highlight_words(q: wq.Query, reader: Any) -> frozenset[str]:
    """The analysed words a hit may be highlighted for (NOT clauses excluded)."""
    found: set[str] = set()
    for leaf in _walk(q, skip_not=True):
        if isinstance(leaf, wq.Not):
            continue
        if leaf.is_leaf() and leaf.field() in TEXT_FIELDS:
            try:
                for fieldname, text in leaf.expanded_terms(reader, phrases=True):
                    if fieldname in TEXT_FIELDS:
                        found.add(text.decode("utf-8") if isinstance(text, bytes) else text)
            except Exception:  # noqa: BLE001
                continue
    return frozenset(found)


# --- did you mean -----------------------------------------------------------------------


def _suggest(searcher: Any, opened: _Opened, request: SearchRequest, parsed: wq.Query,
             unknown: list[tuple[str, str]], messages: list[str]) -> tuple[
                 str | None, SearchRequest | None]:
    reader = searcher.reader()
    new_request = request
    name_suggestion: str | None = None
    # names in the query text (actor:..., location:...), by the slug they were read as
    named: list[tuple[str, str]] = []
    for node in _walk(parsed, skip_not=True):
        if isinstance(node, wq.Term) and node.fieldname in EXACT_FIELDS and \
                opened.terms.of(EXACT_FIELDS[node.fieldname]).get(node.text) is None and \
                (EXACT_FIELDS[node.fieldname], node.text) not in named:
            named.append((EXACT_FIELDS[node.fieldname], node.text))
    for kind, slug in named:
        best = closest_term(opened.terms, kind, slug)
        messages.append(f"No {kind} is called “{slug}”" + (
            f"; did you mean {kind}:\"{best}\"?" if best is not None else "."))
    for kind, value in unknown:
        best = closest_term(opened.terms, kind, value)
        if best is None:
            messages.append(f"No {kind} is called “{value}”.")
            continue
        messages.append(f"No {kind} is called “{value}”; did you mean “{best}”?")
        name_suggestion = name_suggestion or best
        if kind == "actor":
            new_request = replace(new_request, actors=tuple(
                best if v == value else v for v in new_request.actors))
        else:
            new_request = replace(new_request, locations=tuple(
                best if v == value else v for v in new_request.locations))
    text = _correct_text(reader, opened.terms, opened.spelling, request.q, parsed) if request.q else None
    if text is not None:
        new_request = replace(new_request, q=text)
    if new_request == request:
        return None, None
    # Only suggest what finds something.
    check, _ = normalize_request(replace(new_request, page=1, page_size=1))
    clauses, still_unknown = _filters(check, opened.terms)
    q = _resolve_aliases(_parse(opened.query_schema, check.q)[0], opened.terms) \
        if check.q else wq.Every()
    try:
        found = not still_unknown and len(searcher.search(
            q, limit=1, filter=wq.And(clauses) if clauses else None)) > 0
    except Exception:  # noqa: BLE001
        found = False
    if not found:
        return None, None
    return (text or name_suggestion), new_request


def close_spellings(word: str, candidates: Iterable[str], limit: int,
                    ) -> Iterator[tuple[str, int]]:
    """``(candidate, distance)`` for each candidate within ``limit`` edits of ``word``: the
    optimal string alignment distance (insertions, deletions, substitutions and swaps of two
    neighbours, as Whoosh's ``damerau_levenshtein`` counts them), computed by rapidfuzz in
    C and cut off at ``limit``. The pure-Python distance took about 0.15 ms a pair, so a
    filter naming an unknown actor cost 30-50 ms with 300 known spellings, and would cost
    seconds with tens of thousands."""
    for candidate, distance, _ in fuzzy.extract_iter(word, candidates, scorer=OSA.distance,
                                                     score_cutoff=limit):
        yield candidate, int(distance)


def closest_term(terms: TermMap, kind: str, value: str) -> str | None:
    """The display name of the known term whose spelling is closest to ``value`` (within a
    quarter of its length in edits, at least 2)."""
    slug = slugify_name(value)
    entries = terms.of(kind)
    limit = max(2, len(slug) // 4)
    best: tuple[float, str, str] | None = None
    for key, d in close_spellings(slug, list(entries), limit):
        name = entries[key].name
        cand = (d / max(len(slug), 1), name.casefold(), name)
        if best is None or cand < best:
            best = cand
    return best[2] if best else None


def _correct_text(reader: Any, terms: TermMap, spelling: Mapping[str, Mapping[str, int]],
                  qstring: str, parsed: wq.Query) -> str | None:
    """``qstring`` with each unknown word replaced by the closest indexed word, or None."""
    spans: dict[tuple[int, int], list[tuple[str, str]]] = {}
    for token in parsed.all_tokens():
        sc, ec = getattr(token, "startchar", None), getattr(token, "endchar", None)
        if sc is None or ec is None or not 0 <= sc < ec <= len(qstring):
            continue
        spans.setdefault((sc, ec), []).append((token.fieldname, token.text))
    edits: list[tuple[int, int, str]] = []
    for (sc, ec), fields in sorted(spans.items()):
        if any(_known(reader, f, t) for f, t in fields):
            continue
        original = qstring[sc:ec]
        exact = [f for f, _ in fields if f in EXACT_FIELDS]
        if exact:
            name = closest_term(terms, EXACT_FIELDS[exact[0]], original)
            if name is None:
                continue
            quoted = sc > 0 and qstring[sc - 1] == '"'
            edits.append((sc, ec, name if quoted or " " not in name else f'"{name}"'))
        elif any(f in TEXT_FIELDS for f, _ in fields):
            word = _closest_word(spelling, original)
            if word is not None:
                edits.append((sc, ec, word))
    if not edits:
        return None
    out, pos = [], 0
    for sc, ec, text in edits:
        if sc < pos:
            continue
        out += [qstring[pos:sc], text]
        pos = ec
    out.append(qstring[pos:])
    return "".join(out)


def _known(reader: Any, fieldname: str, text: Any) -> bool:
    if not isinstance(text, str):
        return True  # dates and other non-text terms are never "misspelled"
    try:
        return (fieldname, text) in reader
    except Exception:  # noqa: BLE001
        return True


def _closest_word(spelling: Mapping[str, Mapping[str, int]], original: str) -> str | None:
    """The indexed word nearest ``original`` (same first letter, within 1 edit for short
    words and 2 for longer), the most used one on ties. ``spelling``: first letter ->
    {word: reports}."""
    word = fold(original.lower())
    if len(word) < 3 or not word.isalpha():
        return None
    maxdist = 1 if len(word) <= 4 else 2
    best: tuple[int, int, str] | None = None
    words = spelling.get(word[0], {})
    for cand, dist in close_spellings(word, list(words), maxdist):
        if cand == word:
            continue
        key = (dist, -words[cand], cand)
        if best is None or key < best:
            best = key
    return best[2] if best else None
