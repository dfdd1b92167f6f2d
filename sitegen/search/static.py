"""The static search index: sharded JSON that ``search/index.html`` queries with no server.

``build_static_index`` is pure: it turns the reports and their actor/location terms into
``OutputFile``s under ``_static_search/`` and writes nothing. It uses the same ``analyze``
function as the Whoosh index, and ``themes/default/static/search.js`` repeats that analysis
for the query (fold accents, tokenize, lowercase, stop words, Porter stem), so a word matches
in the browser exactly when it matches on the server.

Layout (all JSON, UTF-8, sorted keys, no timestamps: two builds of the same site are
byte-identical):

``meta.json``
    ``version``; ``build`` (a hash of every other file, which the browser appends as ``?v=``
    so a cached shard never meets a newer ``meta.json``); ``count``; ``analysis`` (``stop``
    words, ``min``/``max`` term length, and the ASCII part of the ``fold`` table); ``docs``
    (``size`` per chunk, ``chunks``, ``fields``); ``terms.bounds`` (the first term of each
    term shard); ``actors`` and ``locations`` as ``[slug, name, url, count]`` rows whose
    position is the id.
``terms/<i>.json``
    ``{term: [[doc_id, weight], ...]}`` for a contiguous range of the sorted terms.
    Shards are cut by size (about ``SHARD_BYTES``), not by a fixed prefix, so a common
    prefix such as "co" cannot produce one huge file; one term never spans two shards.
    Terms sort by UTF-16 code units, the order JavaScript compares strings in, so the
    browser finds a term's shard by binary search over ``bounds``.
``docs/<i>.json``
    rows ``[url, title, date, summary, actor_ids, location_ids]`` for doc ids
    ``i*size .. i*size+size-1``; the browser loads only the chunks of the hits it shows.
``fold.json``
    the whole accent-fold table, which the browser loads only for a non-ASCII query.
``actors/<id>.json``, ``locations/<id>.json``
    the sorted doc ids of that term's reports, loaded only when a filter uses them.

Doc ids number the reports newest first, so "newest first" is ascending id order.
Weights are integers: ``WEIGHT_SCALE`` times the sum over fields of the field weight times a
saturating term frequency ``tf * (K1 + 1) / (tf + K1)`` (1 for one occurrence, at most 2.2),
so a word in the title outranks the same word repeated in a long body.
"""

from __future__ import annotations

import hashlib
import json
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from sitegen.files import OutputFile
from sitegen.search import analysis
from sitegen.search.analysis import FOLD_TABLE, MAX_TOKEN_LENGTH, MIN_TOKEN_LENGTH, STOP_WORDS

if TYPE_CHECKING:
    from sitegen.model import Report, Term, TermRef

Analyzer = Callable[[str], Sequence[str]]
Posting = tuple[int, int]  # (doc id, weight)

FORMAT_VERSION = 1
ROOT = "_static_search"
ORIGIN = "search.static"

# The text the Whoosh index searches, field by field ("names": the linked actors' and
# locations' names and spellings).
FIELD_WEIGHTS = {"title": 3.0, "names": 2.0, "tags": 2.0, "summary": 1.5, "body": 1.0,
                 "source": 1.0}
K1 = 1.2  # term-frequency saturation, as in BM25
WEIGHT_SCALE = 10
DOCS_PER_CHUNK = 10  # ~3 KB a chunk: the 10 hits a page shows touch at most 10 chunks
SHARD_BYTES = 32_000  # target size of a term shard before the next one starts
SUMMARY_CHARS = 200
DOC_FIELDS = ("url", "title", "date", "summary", "actors", "locations")


def build_static_index(
    reports: Iterable[Report],
    actors: Sequence[Term],
    locations: Sequence[Term],
    analyze: Analyzer,
    *,
    stop_words: Iterable[str] = STOP_WORDS,
    min_length: int = MIN_TOKEN_LENGTH,
    max_length: int = MAX_TOKEN_LENGTH,
    fold_table: Mapping[int, str | None] = FOLD_TABLE,
    weights: Mapping[str, Mapping[str, int]] | None = None,
    texts: Mapping[str, str] | None = None,
    order: Sequence[Report] | None = None,
) -> Iterator[OutputFile]:
    """Yield the files of the static search index (see the module docstring), each made as
    it is asked for; ``meta.json`` comes last, as it holds a hash of all the others.

    The keyword arguments describe what ``analyze`` does (the defaults are those of
    ``sitegen.search.analysis``); the browser repeats it on the query from meta.json and
    fold.json, so they must agree with ``analyze``. ``weights`` (report URL ->
    ``report_weights``) may bring the weights of some reports, computed earlier; ``texts``
    (``posting_texts``, for the reports in ``doc_order``) replaces weights altogether;
    ``order`` is ``doc_order(reports)``, if the caller has it already.
    """
    docs = doc_order(reports) if order is None else list(order)
    doc_id = {r.url: i for i, r in enumerate(docs)}
    actor_id = {t.slug: i for i, t in enumerate(actors)}
    location_id = {t.slug: i for i, t in enumerate(locations)}
    if texts is None:
        by_key = term_lookup(actors, locations)
        known = weights or {}
        texts = posting_texts(
            [known.get(r.url) or report_weights(r, by_key, analyze) for r in docs])

    build = hashlib.sha256()  # of every file but meta.json, which comes last and names it

    def hashed(file: OutputFile) -> OutputFile:
        build.update(file.relpath.encode() + b"\0" + hashlib.sha256(file.data).digest())
        return file

    # One file at a time: at 100,000 reports the shards alone are hundreds of megabytes.
    bounds: list[str] = []
    for n, shard in enumerate(_shards(texts)):
        bounds.append(shard[0])
        # exactly json.dumps(dict, sort_keys=True, ensure_ascii=False, compact separators)
        data = ",".join(json.dumps(term, ensure_ascii=False) + ":" + texts[term]
                        for term in sorted(shard))
        yield hashed(OutputFile(f"{ROOT}/terms/{n}.json", ("{" + data + "}").encode("utf-8"),
                                ORIGIN))

    chunks = range(0, len(docs), DOCS_PER_CHUNK)
    for n, start in enumerate(chunks):
        rows = [_doc_row(r, actor_id, location_id) for r in docs[start:start + DOCS_PER_CHUNK]]
        yield hashed(_json_file(f"docs/{n}.json", rows))

    facet_rows: dict[str, list[list[str | int]]] = {}
    for kind, terms in (("actors", actors), ("locations", locations)):
        facet_rows[kind] = []
        for n, facet in enumerate(terms):
            ids = sorted({doc_id[r.url] for r in facet.reports if r.url in doc_id})
            facet_rows[kind].append([facet.slug, facet.name, facet.url, len(ids)])
            yield hashed(_json_file(f"{kind}/{n}.json", ids))
    yield hashed(_json_file("fold.json", _fold_json(fold_table, ascii_only=False)))

    meta = {
        "version": FORMAT_VERSION,
        "build": build.hexdigest()[:16],
        "count": len(docs),
        "analysis": {
            "stop": sorted(set(stop_words)),
            "min": min_length,
            "max": max_length,
            "fold": _fold_json(fold_table, ascii_only=True),
        },
        "docs": {"size": DOCS_PER_CHUNK, "chunks": len(chunks), "fields": list(DOC_FIELDS)},
        "terms": {"bounds": bounds},
        "actors": facet_rows["actors"],
        "locations": facet_rows["locations"],
    }
    yield _json_file("meta.json", meta)


def doc_order(reports: Iterable[Report]) -> list[Report]:
    """The reports in doc-id order: newest first, then by URL."""
    return sorted(reports, key=lambda r: (-r.date.timestamp(), r.url))


def posting_texts(weights: Iterable[Mapping[str, int]]) -> dict[str, str]:
    """Each term's postings as the JSON text a term shard holds, ``[[id,weight],...]``
    (exactly json.dumps with compact separators), from each doc's ``report_weights`` in
    doc-id order. Gathered in int arrays (id, weight, id, weight...): millions of postings
    as small lists or strings took hundreds of MB, and json.dumps on them three times as
    long."""
    postings: dict[str, array[int]] = {}
    for i, found in enumerate(weights):
        for term, weight in found.items():
            held = postings.get(term)
            if held is None:
                held = postings[term] = array("i")
            held.append(i)
            held.append(int(weight))
    texts = {}
    while postings:  # each term's array goes as its text is made: not both whole at once
        term, held = postings.popitem()
        texts[term] = _postings_json(held[0::2], held[1::2])
    return texts


class WeightsPart:
    """The static postings of some reports, weighed where the Whoosh index's segment writer
    has just analysed their text (``sitegen.search.index``), so the text is analysed once
    for both indexes. ``add`` one report at a time, then ``finish``;
    ``merged_posting_texts`` joins the parts. Each report's weights are also kept, packed by
    ``pack`` (the build cache stores them, as it stores those ``report_weights`` gives),
    with its doc id, in ``packed``."""

    def __init__(self, pack: Callable[[dict[str, int]], bytes]) -> None:
        self._pack = pack
        self._analyzed: dict[str, frozenset[str]] = {}  # tag -> its terms
        # until finish: each report's doc id, terms and weights, in the order they came
        self._added: list[tuple[int, tuple[str, ...], array[int]]] = []
        self.postings: dict[str, tuple[array[int], array[int]]] = {}  # term -> (ids, weights)
        self.packed: list[tuple[int, bytes]] = []

    def add(self, doc_id: int, counts: Iterable[tuple[str, Mapping[str, int]]],
            tags: Sequence[str], names: Sequence[frozenset[str]]) -> None:
        """Weigh one report from the term counts of its ``TEXT_FIELDS`` (see
        ``weigh_counts``), its tags and its ``name_sets``."""
        weights = weigh_counts(counts, tags, names, self._analyze)
        # not the dict: a segment of 2,500 reports held them all, 75 MB at 100,000 reports
        self._added.append((doc_id, tuple(weights), array("i", weights.values())))
        self.packed.append((doc_id, self._pack(weights)))

    def _analyze(self, tag: str) -> frozenset[str]:
        found = self._analyzed.get(tag)
        if found is None:
            found = self._analyzed[tag] = frozenset(analysis.analyze(tag))
        return found

    def finish(self) -> None:
        """Gather each term's postings, in descending doc-id order (the order in which the
        index's segments come: oldest first), whatever order the reports came in (a
        segment's reports come oldest first, ties by URL, and doc ids number them newest
        first, ties by URL)."""
        self._added.sort(key=lambda added: -added[0])
        postings = self.postings
        for doc_id, terms, weights in self._added:
            for term, weight in zip(terms, weights, strict=True):
                held = postings.get(term)
                if held is None:
                    held = postings[term] = (array("i"), array("i"))
                held[0].append(doc_id)
                held[1].append(weight)
        self._added = []


def merged_posting_texts(parts: Iterable[WeightsPart], count: int,
                         packed: Callable[[int, bytes], None]) -> dict[str, str]:
    """``posting_texts`` of ``count`` reports (doc ids 0 to count - 1) from finished parts
    that hold each report once, best given in descending doc-id order (the index's segments,
    oldest first), when each term's postings are joined as they come and only reversed at
    the end; each report's packed weights are handed to ``packed`` as its part comes.
    ``ValueError`` if the parts do not hold every report once."""
    postings: dict[str, tuple[array[int], array[int]]] = {}
    unsorted: set[str] = set()  # terms whose parts came out of order, or interleave
    seen = bytearray(count)
    for part in parts:
        for doc_id, data in part.packed:
            if not 0 <= doc_id < count or seen[doc_id]:
                raise ValueError(f"doc id {doc_id} is out of range or in two parts")
            seen[doc_id] = 1
            packed(doc_id, data)
        for term, (ids, weights) in part.postings.items():
            held = postings.get(term)
            if held is None:
                postings[term] = (ids, weights)
                continue
            if held[0][-1] <= ids[0]:
                # Not after the postings so far: parts given out of order, or two parts
                # whose reports interleave in doc-id order (a date that two segments share:
                # see WeightsPart.finish). Sorted at the end.
                unsorted.add(term)
            held[0].extend(ids)
            held[1].extend(weights)
        part.postings, part.packed = {}, []  # each part's memory goes as it is merged
    if seen.count(0):
        raise ValueError(f"{seen.count(0)} of {count} reports are in no part")
    texts = {}
    while postings:  # each term's arrays go as its text is made
        term, (ids, weights) = postings.popitem()
        if term in unsorted:  # runs of postings: the sort merges them in linear time
            at = sorted(range(len(ids)), key=ids.__getitem__)
            ids = array("i", [ids[i] for i in at])
            weights = array("i", [weights[i] for i in at])
        else:
            ids.reverse()
            weights.reverse()
        texts[term] = _postings_json(ids, weights)
    return texts


def _postings_json(ids: Sequence[int], weights: Sequence[int]) -> str:
    if len(ids) != len(weights):
        raise ValueError("as many weights as ids are needed")
    return "[" + ",".join(map("[{},{}]".format, ids, weights)) + "]"


def update_posting_texts(texts: dict[str, str],
                         changes: Iterable[tuple[int, Mapping[str, int], Mapping[str, int]]],
                         ) -> set[str]:
    """Apply weight changes to ``posting_texts`` output in place: ``changes`` holds (doc id,
    old weights, new weights) for docs that kept their id. Only the terms whose weight
    changed are parsed and written again; they are returned (with those now gone)."""
    changes = list(changes)
    touched: dict[str, dict[int, int | None]] = {}
    for doc, old, new in changes:
        for term in old.keys() - new.keys():
            touched.setdefault(term, {})[doc] = None
        for term, weight in new.items():
            if old.get(term) != weight:  # a one-word edit changes a few weights, not all
                touched.setdefault(term, {})[doc] = int(weight)
    for term, docs in touched.items():
        pairs: dict[int, int] = dict(json.loads(texts.get(term, "[]")))
        for doc, new_weight in docs.items():
            if new_weight is None:
                pairs.pop(doc, None)
            else:
                pairs[doc] = new_weight
        if pairs:
            ordered = sorted(pairs)
            texts[term] = _postings_json(ordered, [pairs[d] for d in ordered])
        else:
            texts.pop(term, None)
    return set(touched)


def term_lookup(actors: Sequence[Term], locations: Sequence[Term]) -> dict[tuple[str, str], Term]:
    """(kind, slug) -> term, as ``report_weights`` needs it."""
    return {(t.kind, t.slug): t for t in (*actors, *locations)}


def report_weights(
    report: Report, terms: Mapping[tuple[str, str], Term], analyze: Analyzer,
    names: dict[tuple[str, str, str], frozenset[str]] | None = None,
) -> dict[str, int]:
    """Map each analysed term of ``report`` to its integer weight: a pure function of the
    report and the names and spellings of its actors and locations. ``names``, if given,
    memoises each linked term's analysed names across calls with the same ``terms`` and
    ``analyze`` (the same names give the same set)."""
    texts = (report.title, report.summary, report.body.text, report.source_name or "")
    return weigh_counts(zip(TEXT_FIELDS, (Counter(analyze(text)) for text in texts), strict=True),
                        report.tags, name_sets(report, terms, analyze, names), analyze)


# The fields weighed from the term counts of one text each, in the order ``weigh_counts``
# adds them up (the Whoosh fields of the same names hold the same texts: see WeightsPart).
TEXT_FIELDS = ("title", "summary", "body", "source")


def name_sets(
    report: Report, terms: Mapping[tuple[str, str], Term], analyze: Analyzer,
    names: dict[tuple[str, str, str], frozenset[str]] | None = None,
) -> tuple[frozenset[str], ...]:
    """The analysed names of each actor and location ``report`` links to: the name it uses,
    and the term's names and spellings (memoised in ``names``, as ``report_weights``)."""
    found_sets = []
    for ref in report.terms:
        key = (ref.kind, ref.slug, ref.name)
        found = None if names is None else names.get(key)
        if found is None:
            found = frozenset(_name_terms(ref, terms, analyze))
            if names is not None:
                names[key] = found
        found_sets.append(found)
    return tuple(found_sets)


def weigh_counts(counts: Iterable[tuple[str, Mapping[str, int]]], tags: Iterable[str],
                 names: Iterable[frozenset[str]],
                 analyze: Callable[[str], Iterable[str]]) -> dict[str, int]:
    """``report_weights`` from the term counts of the report's ``TEXT_FIELDS`` (field, term
    -> count, in that order), its tags and its ``name_sets``."""
    total: dict[str, float] = {}
    for field, counter in counts:
        _add_field(total, field, counter)
    # Each tag counts a word once; each linked term counts once per word, whichever of its
    # spellings has the word, so "Kataib Hezbollah" is also found as "Kata'ib Hizbullah".
    _add_field(total, "tags", Counter(term for tag in tags for term in set(analyze(tag))))
    named: Counter[str] = Counter()
    for found in names:
        named.update(found)
    _add_field(total, "names", named)
    return {term: max(1, round(WEIGHT_SCALE * w)) for term, w in total.items()}


def _add_field(total: dict[str, float], field: str, counts: Mapping[str, int]) -> None:
    fw, saturated = FIELD_WEIGHTS[field], _SATURATED[field]
    get = total.get
    for term, tf in counts.items():
        total[term] = get(term, 0.0) + (saturated[tf] if tf < _SATURATED_HELD
                                        else fw * tf * (K1 + 1) / (tf + K1))


# Each field's saturated weight of a term found tf times (``fw * tf * (K1 + 1) / (tf + K1)``,
# the same expression, so the same floats) for the usual counts: read, not worked out, for
# each of the 350 or so terms of a report.
_SATURATED_HELD = 64
_SATURATED = {field: tuple(fw * tf * (K1 + 1) / (tf + K1) for tf in range(_SATURATED_HELD))
              for field, fw in FIELD_WEIGHTS.items()}


def _name_terms(
    ref: TermRef, terms: Mapping[tuple[str, str], Term], analyze: Analyzer
) -> Iterator[str]:
    yield from analyze(ref.name)
    term = terms.get((ref.kind, ref.slug))
    if term is not None:
        for spelling in (*term.names, *(s for s, _count in term.spellings)):
            yield from analyze(spelling)


def _fold_json(table: Mapping[int, str | None], *, ascii_only: bool) -> dict[str, object]:
    """The fold table as ``{"delete": chars, "to": {replacement: chars}}``.

    ``ascii_only`` keeps the entries for ASCII characters (the apostrophe and backtick): all
    an ASCII query needs, so it can skip fold.json.
    """
    delete: list[str] = []
    to: dict[str, list[str]] = {}
    for cp in sorted(table):
        if ascii_only and cp > 0x7F:
            continue
        repl = table[cp]
        if repl:
            to.setdefault(repl, []).append(chr(cp))
        else:
            delete.append(chr(cp))
    return {"delete": "".join(delete), "to": {r: "".join(cs) for r, cs in to.items()}}


def _utf16_key(term: str) -> bytes:
    return term.encode("utf-16-be")


def _shards(texts: Mapping[str, str]) -> Iterator[list[str]]:
    """Cut the terms, sorted, into consecutive shards of about ``SHARD_BYTES`` of JSON
    (``texts``: term -> its postings as JSON)."""
    shard: list[str] = []
    size = 0
    for term in sorted(texts, key=_utf16_key):
        # "term":[[id,w],...], -- close enough to the serialised size to cut on.
        entry = len(term.encode()) + 4 + len(texts[term])
        if shard and size + entry > SHARD_BYTES:
            yield shard
            shard, size = [], 0
        shard.append(term)
        size += entry
    if shard:
        yield shard


def _doc_row(report: Report, actor_id: dict[str, int], location_id: dict[str, int]) -> list[object]:
    return [
        report.url,
        report.title,
        report.date.date().isoformat(),
        _truncate(report.summary, SUMMARY_CHARS),
        [actor_id[a.slug] for a in report.actors if a.slug in actor_id],
        [location_id[loc.slug] for loc in report.locations if loc.slug in location_id],
    ]


def _truncate(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` characters at a word boundary, adding an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:.-\u2013\u2014") + "…"


def _json_file(relpath: str, value: object) -> OutputFile:
    data = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return OutputFile(f"{ROOT}/{relpath}", data.encode("utf-8"), ORIGIN)
