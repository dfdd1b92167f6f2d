"""The Whoosh search index: its schema, and ``build_index`` writing one into a staging folder.

``build_index(reports, terms, dest)`` writes a fresh index into ``dest`` (a folder inside the
staging output handed over by ``build.py``; nothing is written anywhere else) together with
``terms.json``, the map from every known spelling's slug (canonical names, registry aliases
and spellings used in front matter) to its canonical term, which lets the query side accept
any spelling of an actor or location: ``actor:KH`` finds Kataib Hezbollah.

Fields (see ``make_schema``):

==================  =====================================================================
``url``             ID, unique, stored
``title``           text, boost 3, stored
``summary``         text, stored
``body``            text (``report.body.text``), stored for excerpts (Whoosh compresses stored
                    fields; zlib on top measured larger)
``actor``           exact slugs of the report's actors (``SlugListTokenizer``), for facets,
                    filters and ``actor:`` in queries; ``location`` likewise
``actors_text``     analysed canonical names, registry aliases and every spelling used;
                    ``locations_text`` too
``actor_refs``      stored ``(slug, name, url)`` triples for display; ``location_refs`` too
``date``            DATETIME of the report's local wall time (its own offset), sortable
``ts``              UTC POSIX seconds, sortable: the "newest first" order across offsets
``date_iso``        stored ISO 8601 date ("2021-03-04") or datetime with offset
``source``          analysed source name, stored; ``source_id`` its slug, for exact filters
``tags``            exact tag slugs (``SlugListTokenizer``): ``tags:"Air strike"`` finds the tag
                    "air strike" whatever its case or accents; ``tags_text`` the analysed tags
==================  =====================================================================

"Did you mean" picks from the unstemmed, folded words of the reports. They are not a Whoosh
field (their postings cost a quarter of the indexing time): each segment has a companion file
``<segment>.spl``, ``{word: reports}`` for its reports, which Whoosh deletes with its segment;
``load_spelling`` sums them.

The index is deterministic: documents are added newest first (ties by URL), the segment has a
fixed name and the term map is written with sorted keys, so the same reports give the same
bytes.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import json
import logging
import shutil
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from whoosh import index as whoosh_index
from whoosh.codec.whoosh3 import LENGTHS_COLUMN, W3Codec, W3PerDocReader, W3Segment, _lenfield
from whoosh.fields import DATETIME, ID, NUMERIC, STORED, TEXT, Schema
from whoosh.util.numeric import byte_to_length

from sitegen.diagnostics import Diagnostic, error, warning
from sitegen.parallel import Sent, Standby
from sitegen.search.analysis import (
    SLUG_SEPARATOR,
    PackedPositions,
    slug_analyzer,
    text_analyzer,
    words,
)
from sitegen.search.segment import BulkSegmentWriter, PostingsWriter
from sitegen.search.static import TEXT_FIELDS, WeightsPart
from sitegen.slugs import slugify_name

if TYPE_CHECKING:
    from sitegen.model import Report, Term

__all__ = [
    "FORMAT_VERSION",
    "INDEX_NAME",
    "TERMS_FILE",
    "IndexStats",
    "TermEntry",
    "TermMap",
    "build_index",
    "build_term_map",
    "load_spelling",
    "load_term_map",
    "make_schema",
]

log = logging.getLogger(__name__)

INDEX_NAME = "MAIN"
TERMS_FILE = "terms.json"
FORMAT_VERSION = 1
KINDS = ("actor", "location")
TITLE_BOOST = 3.0
_SEGMENT_ID = "sitegen000000001"  # fixed, so two builds of the same input match byte for byte


@dataclass(frozen=True, slots=True)
class IndexStats:
    documents: int
    actors: int  # canonical actor terms in the term map
    locations: int
    size_bytes: int  # all files written into dest
    diagnostics: tuple[Diagnostic, ...] = ()


@dataclass(frozen=True, slots=True)
class TermEntry:
    slug: str  # canonical slug
    name: str  # display name


@dataclass(frozen=True, slots=True)
class TermMap:
    """Spelling slug -> canonical term, per kind; what ``terms.json`` holds."""

    actor: Mapping[str, TermEntry]
    location: Mapping[str, TermEntry]

    def of(self, kind: str) -> Mapping[str, TermEntry]:
        return self.actor if kind == "actor" else self.location

    def resolve(self, kind: str, spelling: str) -> TermEntry | None:
        """The term a spelling, name or slug refers to, or None if it is unknown."""
        return self.of(kind).get(slugify_name(spelling)) if spelling.strip() else None

    def names(self, kind: str) -> dict[str, str]:
        """Canonical slug -> display name."""
        return {e.slug: e.name for e in self.of(kind).values()}

    def to_json(self) -> str:
        data = {"version": FORMAT_VERSION}
        for kind in KINDS:
            data[kind] = {s: {"slug": e.slug, "name": e.name}  # type: ignore[assignment]
                          for s, e in sorted(self.of(kind).items())}
        return json.dumps(data, ensure_ascii=False, sort_keys=True, indent=1) + "\n"


class UnindexedID(ID):  # type: ignore[misc]
    """An ``ID`` field that is stored and kept as a column but has no terms: no query
    looks a URL or a cache key up as a term, and each document's unique term cost a
    posting list of its own in every segment."""

    indexed = False


class UnindexedNumber(NUMERIC):  # type: ignore[misc]
    """A ``NUMERIC`` column with no terms. Whoosh indexes a 64-bit number as 16 tiered
    terms (one per 4 bits of precision) for range queries; ``ts`` is only read as a column
    (the newest-first order), and those terms, most of them unique to one document, were a
    fifth of the indexing time."""

    indexed = False


class CoarseDatetime(DATETIME):  # type: ignore[misc]
    """``DATETIME`` with its terms 16 bits apart instead of 8: four tiered terms a report
    instead of eight. The low tiers are unique to each report's timestamp, so they were a
    quarter of a segment's posting lists (1,311 of 5,030 in 250 reports), each written and
    looked up on its own. Range queries stay exact (Whoosh's ``NumericRange`` builds its
    tiers from the field's ``shift_step``); an edge of a range at the finest tier spans up
    to 2^16 microseconds (65 ms) and at the next up to 2^32 (72 minutes), where the terms
    are the reports' own timestamps, so a range still looks up few terms. ``--since`` and
    ``--until`` read the column instead (``sitegen.search.engine``)."""

    def __init__(self, sortable: bool = False) -> None:
        super().__init__(sortable=sortable)
        self.shift_step = 16


def _text(analyzer: Any, stored: bool = False, field_boost: float = 1.0) -> TEXT:
    """A free-text field with positions for phrases, packed (``PackedPositions``)."""
    field = TEXT(analyzer=analyzer, stored=stored, field_boost=field_boost)
    field.format = PackedPositions(field_boost=field_boost)
    return field


def make_schema() -> Schema:
    text = text_analyzer()  # one instance for all fields: pickled once into the TOC
    slugs = slug_analyzer()
    return Schema(
        url=UnindexedID(stored=True, sortable=True),
        # hash of what the document was made from: an incremental update replaces exactly
        # the documents whose key changed (see update_index)
        key=UnindexedID(sortable=True),
        title=_text(text, stored=True, field_boost=TITLE_BOOST),
        summary=_text(text, stored=True),
        body=_text(text, stored=True),
        actor=TEXT(analyzer=slugs, phrase=False),
        location=TEXT(analyzer=slugs, phrase=False),
        actors_text=_text(text),
        locations_text=_text(text),
        actor_refs=STORED(),
        location_refs=STORED(),
        date=CoarseDatetime(sortable=True),
        ts=UnindexedNumber(int, bits=64, signed=True, sortable=True),
        date_iso=STORED(),
        source=_text(text, stored=True),
        source_id=ID(),
        tags=TEXT(analyzer=slugs, phrase=False),
        tags_text=_text(text),
    )


_LENGTHS = (None, *(byte_to_length(b) for b in range(1, 256)))  # Whoosh's length byte decoded


class _MemoryLengthsReader(W3PerDocReader):  # type: ignore[misc]
    """Whoosh's per-document reader, but each field-length column (one byte per document) is
    read into memory once. Stock Whoosh reads one byte from the file per posting, both when
    writing a segment's postings and when scoring a match: a third of the indexing time."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lengths: dict[str, tuple[int | None, ...]] = {}

    def _cached_reader(self, fieldname: str, column: Any) -> Any:
        if fieldname not in self._readers:
            reader = super()._cached_reader(fieldname, column)
            if reader is not None and column is LENGTHS_COLUMN:
                self._readers[fieldname] = bytes(reader)
        return self._readers.get(fieldname)

    def field_lengths(self, fieldname: str) -> tuple[int | None, ...]:
        """Every document's decoded length of one field (a length byte of 0 gives None), or
        () if the segment has no lengths for it."""
        lengths = self._lengths.get(fieldname)
        if lengths is None:
            found = self._cached_reader(_lenfield(fieldname), LENGTHS_COLUMN)
            lengths = self._lengths[fieldname] = () if found is None else tuple(
                _LENGTHS[b] for b in found)
        return lengths

    def doc_field_length(self, docnum: int, fieldname: str, default: int = 0) -> int | None:
        """As Whoosh's (a length byte of 0 gives None), with each field's lengths decoded
        once: writing a segment asks for one per posting."""
        lengths = self.field_lengths(fieldname)
        if docnum > self._doccount:
            raise IndexError(f"Asked for docnum {docnum!r} of {self._doccount}")
        return lengths[docnum] if lengths else default


class _StableCodec(W3Codec):  # type: ignore[misc]
    """The default codec, except that a new segment gets a given id instead of a random one
    (a fixed one for a fresh index), field lengths are read from memory
    (``_MemoryLengthsReader``) and small posting blocks are not compressed
    (``PostingsWriter``)."""

    def __init__(self, segid: str = _SEGMENT_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._segid = segid

    def new_segment(self, storage: Any, indexname: str) -> W3Segment:
        return W3Segment(self, indexname, segid=self._segid)

    def per_document_reader(self, storage: Any, segment: Any) -> W3PerDocReader:
        return _MemoryLengthsReader(storage, segment)

    def postings_writer(self, dbfile: Any, byteids: bool = False) -> PostingsWriter:
        return PostingsWriter(dbfile, blocklimit=self._blocklimit, byteids=byteids,
                              compression=self._compression, inlinelimit=self._inlinelimit)


def build_term_map(reports: Iterable[Report], terms: Iterable[Term]) -> tuple[
        TermMap, list[Diagnostic]]:
    """Map every spelling's slug (and each canonical slug) to its term. Pure.

    ``terms`` gives canonical names, registry aliases and spellings (``Term.names``,
    ``Term.spellings``); report references fill in terms missing from it. When two terms claim one spelling slug, the term whose slug it is wins, then the
    alphabetically first, and a warning names both.
    """
    diags: list[Diagnostic] = []
    names: dict[tuple[str, str], str] = {}
    spellings: dict[tuple[str, str], set[str]] = {}
    for term in terms:
        names[(term.kind, term.slug)] = term.name
        spellings.setdefault((term.kind, term.slug), set()).update(
            [*term.names, *(s for s, _ in term.spellings)])
    for report in reports:
        for ref in report.terms:
            names.setdefault((ref.kind, ref.slug), ref.name)
            spellings.setdefault((ref.kind, ref.slug), set())
    maps: dict[str, dict[str, TermEntry]] = {kind: {} for kind in KINDS}
    for (kind, slug), name in sorted(names.items()):
        if kind not in maps:
            continue
        entry = TermEntry(slug, name)
        keys = {slug} | {slugify_name(s) for s in spellings[(kind, slug)] if s.strip()}
        for key in sorted(keys):
            held = maps[kind].get(key)
            if held is None or (key == slug and held.slug != key):
                if held is not None:
                    diags.append(_conflict(kind, key, held, entry))
                maps[kind][key] = entry
            elif held.slug != slug:
                diags.append(_conflict(kind, key, entry, held))
    return TermMap(MappingProxyType(maps["actor"]), MappingProxyType(maps["location"])), diags


def _conflict(kind: str, key: str, loser: TermEntry, winner: TermEntry) -> Diagnostic:
    return warning("search.spelling-conflict", TERMS_FILE,
                   f"{kind} spelling {key!r} belongs to both {winner.name!r} and "
                   f"{loser.name!r}; filters use {winner.name!r}")


def load_term_map(index_dir: Path) -> TermMap:
    """Read ``terms.json`` from an index folder (an empty map if it is missing or invalid)."""
    try:
        data = json.loads((index_dir / TERMS_FILE).read_text(encoding="utf-8"))
        maps = {kind: {str(k): TermEntry(str(v["slug"]), str(v["name"]))
                       for k, v in data.get(kind, {}).items()} for kind in KINDS}
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        log.debug("cannot read %s: %s", index_dir / TERMS_FILE, exc)
        return TermMap(MappingProxyType({}), MappingProxyType({}))
    return TermMap(MappingProxyType(maps["actor"]), MappingProxyType(maps["location"]))


def _document(report: Report, names: Mapping[tuple[str, str], str]) -> dict[str, Any]:
    date = report.date
    body = report.body.text
    actors_text = "\n".join(names.get(("actor", r.slug), r.name) for r in report.actors)
    locations_text = "\n".join(names.get(("location", r.slug), r.name)
                               for r in report.locations)
    source = report.source_name or ""
    doc = {
        "url": report.url,
        "title": report.title,
        "summary": report.summary,
        "body": body,
        "actor": SLUG_SEPARATOR.join(r.slug for r in report.actors),
        "location": SLUG_SEPARATOR.join(r.slug for r in report.locations),
        "actors_text": actors_text,
        "locations_text": locations_text,
        "actor_refs": tuple((r.slug, r.name, r.url) for r in report.actors),
        "location_refs": tuple((r.slug, r.name, r.url) for r in report.locations),
        "date": date,
        "ts": int(date.timestamp()),
        "date_iso": date.isoformat() if report.date_has_time else date.date().isoformat(),
        "source": source,
        "tags": SLUG_SEPARATOR.join(slugify_name(t) for t in report.tags if t.strip()),
        "tags_text": "\n".join(report.tags),
    }
    if source.strip():
        doc["source_id"] = slugify_name(source)
    return doc


def _name_texts(reports: Sequence[Report], terms: Sequence[Term]) -> dict[tuple[str, str], str]:
    """(kind, slug) -> the term's display name, aliases and every spelling, one per line."""
    texts: dict[tuple[str, str], list[str]] = {}
    for term in terms:
        texts[(term.kind, term.slug)] = list(dict.fromkeys(
            [*term.names, *(s for s, _ in term.spellings if s.strip())]))
    for report in reports:
        for ref in report.terms:
            texts.setdefault((ref.kind, ref.slug), [ref.name])
    return {k: "\n".join(v) for k, v in texts.items()}


def doc_keys(reports: Iterable[Report], terms: Sequence[Term],
             report_keys: Mapping[str, bytes]) -> dict[str, str]:
    """url -> the key of the document indexed for it: its report's fingerprint
    (``report_keys[url]``) and the name texts of its actors and locations."""
    reports = list(reports)
    names = _name_texts(reports, terms)
    keys = {}
    for report in reports:
        h = hashlib.blake2b(report_keys[report.url], digest_size=16)
        for ref in report.terms:
            h.update(f"\0{ref.kind}\0{ref.slug}\0{names.get((ref.kind, ref.slug), ref.name)}"
                     .encode("utf-8", "surrogatepass"))
        keys[report.url] = h.hexdigest()
    return keys


# Whoosh keeps a deleted document's statistics (term counts, field lengths) in its segment,
# and merging segments re-reads field lengths from a lossy one-byte encoding: either way
# scores would drift from a fresh index's. Statistics of segments written fresh from the
# reports do add up exactly, so the cached index is a set of such segments that are never
# merged and never hold a deletion: an update drops every segment with a changed or deleted
# report and indexes that segment's reports again, with the new ones, into new segments of
# at most ``chunk_size`` reports. Small segments are re-indexed together once there are
# SMALL_SEGMENTS of them. Ties in ranking are broken by date and URL (sitegen.search.query),
# so the answers equal a fresh single-segment index's exactly.
MIN_CHUNK = 250  # reports per segment: an edit re-indexes this many (or a 40th of all)
SEGMENTS = 40
SMALL_SEGMENTS = 4
MIN_SPLIT = 50  # reports a writer takes at least when fewer segments than writers are due


SPELL_EXT = "spl"


def _write_spelling(index_dir: Path, segment_id: str, counts: Counter[str]) -> None:
    text = json.dumps(dict(sorted(counts.items())), ensure_ascii=False, separators=(",", ":"))
    (index_dir / f"{segment_id}.{SPELL_EXT}").write_text(text, encoding="utf-8")


def load_spelling(index_dir: Path, segment_ids: Iterable[str]) -> dict[str, int]:
    """word -> number of reports with it, over the given segments (see the module doc)."""
    total: Counter[str] = Counter()
    for segment_id in segment_ids:
        path = index_dir / f"{segment_id}.{SPELL_EXT}"
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"{path} is not a word list")
        total.update({str(k): int(v) for k, v in data.items()})
    return dict(total)


_SPELLING_FIELDS = ("title", "summary", "body", "actors_text", "locations_text", "source",
                    "tags_text")


def _add(writer: Any, doc: dict[str, Any], spelling: Counter[str]) -> None:
    """Index one report's document (``_document``, with its ``key``), and count the words
    "did you mean" may suggest: the folded, unstemmed words of its text fields (three
    letters or more, letters only), which the bulk writer collects as it analyses them."""
    writer.add_document(**doc)
    found = getattr(writer, "last_words", None)
    if found is None:  # Whoosh's own writer (tests compare the two)
        found = set(words("\n".join(doc.get(f) or "" for f in _SPELLING_FIELDS)))
    spelling.update({w for w in found if len(w) >= 3 and w.isalpha()})


def chunk_size(reports: int) -> int:
    return max(MIN_CHUNK, -(-reports // SEGMENTS))


class IndexUpdate:
    """An update of the persistent index (``update_index``), under way: its new segments are
    being written by the ``workers`` (``sitegen.parallel.Standby``), each sent its reports'
    documents, while the caller goes on. Call it to wait, commit and link the
    index into ``dest``; it gives the ``IndexStats``. ``ready()`` hints whether the
    segments are written.

    With ``weigh`` (report -> its doc id in the static search, tags and ``name_sets``) and
    ``pack``, an update that indexes every report again (a cold build) also weighs them for
    the static search as their text is analysed (``weighed``; see ``WeightsPart``):
    ``weights_parts`` gives the parts as the segments are written."""

    def __init__(self, reports: Iterable[Report], terms: Iterable[Term],
                 keys: Mapping[str, str], index_dir: Path, dest: Path,
                 workers: Standby,
                 weigh: Callable[[Report], tuple[int, Sequence[str],
                                                 Sequence[frozenset[str]]]] | None = None,
                 pack: Callable[[dict[str, int]], bytes] | None = None) -> None:
        reports = sorted(reports, key=lambda r: (r.date.timestamp(), r.url))  # oldest first
        terms = list(terms)
        self._dest, self._index_dir = dest, index_dir
        self._term_map, self._diags = build_term_map(reports, terms)
        self._writer: Any = None
        self._ix: Any = None
        self._segments: Sent[Any] | None = None
        self._failed: OSError | None = None
        self.weighed = False
        names = _name_texts(reports, terms)
        wanted: dict[str, Report] = {}
        for report in sorted(reports, key=lambda r: (-r.date.timestamp(), r.url)):
            if report.url in wanted:
                self._diags.append(error("search.duplicate-url", report.source,
                                         f"another report already has the URL {report.url!r}"
                                         "; not indexed"))
                continue
            wanted[report.url] = report
        self._count = len(wanted)
        chunk = chunk_size(len(wanted))
        try:
            index_dir.mkdir(parents=True, exist_ok=True)
            if whoosh_index.exists_in(str(index_dir), indexname=INDEX_NAME):
                ix = whoosh_index.open_dir(str(index_dir), indexname=INDEX_NAME)
            else:
                ix = whoosh_index.create_in(str(index_dir), make_schema(),
                                            indexname=INDEX_NAME)
            self._ix = ix
            kept, before = _kept_segments(ix, wanted, keys, chunk)
            present: set[str] = set().union(*kept.values()) if kept else set()
            todo = [r for r in reports if r.url in wanted and wanted[r.url] is r
                    and r.url not in present]
            batches = [todo[i:i + chunk] for i in range(0, len(todo), chunk)]
            if len(batches) < len(workers) and len(todo) >= len(workers) * MIN_SPLIT:
                # an edit's one segment, shared out: each worker writes a part of it
                share = -(-len(todo) // len(workers))
                batches = [todo[i:i + share] for i in range(0, len(todo), share)]
            self._kept = frozenset(kept)
            if batches or len(kept) < before:
                # one writer holds the index's lock while the new segments are written, side
                # by side in fresh processes, and one commit then swaps them in
                self._writer = ix.writer(codec=_StableCodec(), procs=1, limitmb=256,
                                         compound=False)
                # weighed only with workers, which hand each part over as it is done
                self.weighed = weigh is not None and pack is not None and len(workers) > 0 \
                    and len(todo) == self._count
                static = weigh if self.weighed else None
                documents: Iterator[list[dict[str, Any]]] = (
                    [{**_document(r, names), "key": keys[r.url],
                      **({} if static is None else {"_static": static(r)})} for r in batch]
                    for batch in batches)
                # each worker's first batch made here, before the caller goes on: made by
                # the sending thread, each waited for it while this process's other work
                # held the interpreter (a third of a second at 250 reports a batch)
                first = list(itertools.islice(documents, len(workers)))
                documents = itertools.chain(first, documents)
                self._segments = workers.map(functools.partial(
                    _write_segment, str(index_dir), pack=pack if self.weighed else None),
                    documents)
        except OSError as exc:  # reported when it is called, as a diagnostic
            self._abandon()
            self._failed = exc
        except BaseException:  # LockError: the caller writes a fresh index instead
            self._abandon()
            raise

    def ready(self) -> bool:
        return self._segments is None or self._segments.ready()

    def weights_parts(self) -> Iterator[WeightsPart]:
        """Each new segment's ``WeightsPart`` as the segments are written, in their order
        (none unless ``weighed``); what a writer raised is raised here. The parts are not
        kept: each is the caller's to merge and drop."""
        if self._segments is not None and self.weighed:
            for part in self._segments.drain(lambda done: ((done[0], None), done[1])):
                if part is not None:
                    yield part

    def _abandon(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.cancel()
            self._writer = None
        if self._ix is not None:
            self._ix.close()

    def __call__(self) -> IndexStats:
        diags, dest = self._diags, self._dest
        try:
            if self._failed is not None:
                raise self._failed
            if self._writer is not None:
                try:
                    added = [segment for segment, _ in self._segments()] \
                        if self._segments is not None else []
                except BaseException:
                    self._abandon()
                    raise
                self._writer.commit(mergetype=functools.partial(_keep_only, self._kept, added))
                self._writer = None
            self._ix.close()
            dest.mkdir(parents=True, exist_ok=True)
            size = 0
            for path in sorted(self._index_dir.iterdir()):
                if path.is_file() and not path.name.endswith("LOCK"):
                    try:
                        (dest / path.name).hardlink_to(path)
                    except OSError:  # another filesystem: copy (the files are never rewritten)
                        shutil.copyfile(path, dest / path.name)
                    size += path.stat().st_size
            (dest / TERMS_FILE).write_text(self._term_map.to_json(), encoding="utf-8")
        except OSError as exc:
            diags.append(error("search.write", str(dest),
                               f"cannot write the search index: {exc}"))
            return IndexStats(0, 0, 0, 0, tuple(diags))
        return IndexStats(self._count, len(self._term_map.names("actor")),
                          len(self._term_map.names("location")), size, tuple(diags))


def _kept_segments(ix: Any, wanted: Mapping[str, Report], keys: Mapping[str, str],
                   chunk: int) -> tuple[dict[str, set[str]], int]:
    """The cached index's segments that stay (segment id -> its URLs): those without a
    deletion whose documents all still have their key, unless there are SMALL_SEGMENTS of
    fewer than ``chunk`` documents, which are indexed again together; and how many segments
    the index had."""
    kept: dict[str, set[str]] = {}
    present: set[str] = set()
    with ix.reader() as reader:
        before = len(reader.leaf_readers()) if reader.doc_count_all() else 0
        for leaf, _ in reader.leaf_readers():
            segment = leaf.segment()
            if segment is None or not leaf.doc_count_all():
                continue
            urls, held = leaf.column_reader("url"), leaf.column_reader("key")
            docs = {urls[n]: held[n] for n in leaf.all_doc_ids()}
            if segment.deleted_count() or present & docs.keys() or any(
                    keys.get(url) != key or url not in wanted for url, key in docs.items()):
                continue
            kept[segment.segment_id()] = set(docs)
            present |= docs.keys()
    small = [sid for sid, urls in kept.items() if len(urls) < chunk]
    if len(small) >= SMALL_SEGMENTS:
        for sid in small:
            del kept[sid]
    return kept, before


def update_index(reports: Iterable[Report], terms: Iterable[Term], keys: Mapping[str, str],
                 index_dir: Path, dest: Path, jobs: int = 1) -> IndexStats:
    """Bring the persistent index in ``index_dir`` (the build cache's) up to date with
    ``reports``, then hard-link its files into ``dest`` and write ``terms.json`` there.
    ``keys`` is ``doc_keys``: a segment whose documents all still have their key is kept;
    the others are dropped and their reports indexed again with the new ones (see
    ``chunk_size``), in up to ``jobs`` processes. Each Whoosh commit is atomic. Raises
    ``LockError`` if another build holds the index; the caller then builds a fresh one with
    ``build_index``. ``IndexUpdate`` is the same, started and finished apart."""
    with Standby(jobs) as workers:
        return IndexUpdate(reports, terms, keys, index_dir, dest, workers)()


def _keep_only(keep: frozenset[str], added: list[Any], writer: Any,
               segments: list[Any]) -> list[Any]:
    """A Whoosh merge policy that merges nothing, drops every segment not in ``keep`` and
    adds the segments ``_write_segment`` wrote."""
    return [s for s in segments if s.segment_id() in keep] + added


def _write_segment(index_dir: str, documents: Sequence[dict[str, Any]],
                   pack: Callable[[dict[str, int]], bytes] | None = None,
                   ) -> tuple[Any, WeightsPart | None]:
    """Write one new segment of ``documents`` and its spelling file into the index in
    ``index_dir``, outside the TOC (the caller holds the index's lock and commits); return
    Whoosh's ``Segment``, and with ``pack`` the static search's ``WeightsPart`` of the
    documents, each weighed from the postings the writer made of its text (a document then
    carries ``_static``: its doc id, tags and ``name_sets``). Whoosh's own multiprocess
    writer does the same in its sub-writers (``_lk=False``)."""
    # a name never used before: the old files are hard-linked into live output folders,
    # so no file of the cached index may ever be rewritten in place
    segid = uuid.uuid4().hex[:16]
    ix = whoosh_index.open_dir(index_dir, indexname=INDEX_NAME)
    writer = BulkSegmentWriter(ix, _lk=False, codec=_StableCodec(segid), compound=False)
    spelling: Counter[str] = Counter()
    part = None if pack is None else WeightsPart(pack)
    try:
        for doc in documents:
            _add(writer, doc, spelling)
            if part is not None:
                doc_id, tags, names = doc["_static"]
                found = writer.last_postings
                part.add(doc_id, ((field, _counts(found.get(field, {})))
                                  for field in TEXT_FIELDS), tags, names)
        _write_spelling(Path(index_dir), f"{INDEX_NAME}_{segid}", spelling)
        if part is not None:
            part.finish()
        # as whoosh.multiproc's sub-writers do; the temporary folder they share is the
        # locking writer's to remove
        return writer._finalize_segment(), part
    except BaseException:
        writer._close_segment()
        raise


def _counts(found: Mapping[str, int | list[int]]) -> dict[str, int]:
    """Term -> count from ``postings`` (one position, or a list of them): what
    ``Counter(analyze(text))`` gives, in the same order."""
    return {term: 1 if type(poses) is int else len(poses)  # type: ignore[arg-type]
            for term, poses in found.items()}


def build_index(reports: Iterable[Report], terms: Iterable[Term], dest: Path,
                keys: Mapping[str, str] | None = None) -> IndexStats:
    """Write a new search index for ``reports`` into the empty (or missing) folder ``dest``.

    ``terms`` are the site's actor and location terms (``site.actors + site.locations``);
    their spellings go into the name fields and ``terms.json``. Problems come back as
    diagnostics: a duplicate URL skips the later report, an I/O error fails the stage.
    """
    reports = sorted(reports, key=lambda r: (-r.date.timestamp(), r.url))
    terms = list(terms)
    term_map, diags = build_term_map(reports, terms)
    names = _name_texts(reports, terms)
    where = str(dest)
    try:
        if dest.exists() and any(dest.iterdir()):
            diags.append(error("search.dest-not-empty", where,
                               "the search index folder must be empty; refusing to write"))
            return IndexStats(0, 0, 0, 0, tuple(diags))
        dest.mkdir(exist_ok=True)
        ix = whoosh_index.create_in(str(dest), make_schema(), indexname=INDEX_NAME)
        # compound=False: assembling one compound file records file mtimes, which would make
        # the index differ between two builds of the same input.
        writer = BulkSegmentWriter(ix, codec=_StableCodec(), compound=False)
        seen: set[str] = set()
        count = 0
        spelling: Counter[str] = Counter()
        try:
            for report in reports:
                if report.url in seen:
                    diags.append(error("search.duplicate-url", report.source,
                                       f"another report already has the URL {report.url!r}; "
                                       "not indexed"))
                    continue
                seen.add(report.url)
                _add(writer, {**_document(report, names), "key": (keys or {}).get(report.url, "")},
                     spelling)
                count += 1
        except BaseException:
            writer.cancel()
            raise
        if count:
            _write_spelling(dest, f"{INDEX_NAME}_{_SEGMENT_ID}", spelling)
        writer.commit(merge=False)
        ix.close()
        (dest / f"{INDEX_NAME}_WRITELOCK").unlink(missing_ok=True)
        (dest / TERMS_FILE).write_text(term_map.to_json(), encoding="utf-8")
        size = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    except OSError as exc:
        diags.append(error("search.write", where, f"cannot write the search index: {exc}"))
        return IndexStats(0, 0, 0, 0, tuple(diags))
    return IndexStats(count, len(term_map.names("actor")), len(term_map.names("location")),
                      size, tuple(diags))
