"""Evaluating a parsed Whoosh query with whole posting lists in arrays.

Whoosh finds, scores, sorts and counts matches one document at a time in Python, about
10 µs per match: a two-word query matching most of a 10,000-report archive took half a
second. Here the same query is evaluated a posting list at a time with numpy: every query
leaf becomes a dense array of BM25F scores over all documents, compound queries combine
arrays, filters are boolean masks and facets are counted with ``bincount``. Per-term arrays
(document numbers, term frequencies, positions for phrases) are read once per opened index
and kept in a bounded cache.

The answer is Whoosh's own: the same matches, and each leaf scored with the same BM25F
formula, global statistics (idf, average field length) and one-byte field lengths as
Whoosh's scorer, so scores agree to the last few bits (sums are added in another order).
``tests/test_search_engine.py`` checks it against Whoosh's collector on many queries.
Queries it does not know (wildcards, ranges or NOT in the text, fuzzy terms, a coordination
scale, a deleted document in the index) return ``None`` and are run by Whoosh.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from whoosh import query as wq
from whoosh import scoring
from whoosh.codec.whoosh3 import LENGTHS_COLUMN, W3LeafMatcher
from whoosh.reading import TermNotFound
from whoosh.util.numeric import byte_to_length
from whoosh.util.times import datetime_to_long

__all__ = ["Answer", "Engine", "rank_key"]

_POS_BITS = 24  # a position key is docnum << 24 | position (fields < 16M words)
_BYTE_TO_LENGTH = np.array([byte_to_length(i) for i in range(256)], dtype=np.float64)
# Posting arrays kept per opened index. At 100,000 reports the 500-query bench mix needs
# about 200 MB of them: with 128 MB they were read again and again (p99 410 ms against
# 28 ms with 256 MB; the process's peak RSS was 317 against 377 MiB).
CACHE_BYTES = 256 << 20
STATS_HELD = 1 << 16  # per-term presence and idf values kept per opened index
SCORE_DIGITS = 9  # scores are compared rounded, so sums in another order tie alike


def rank_key(score: float) -> float:
    """The score as it is compared when ranking (see ``SCORE_DIGITS``)."""
    return round(score, SCORE_DIGITS)


class Unsupported(Exception):
    """A query node this module does not evaluate; Whoosh runs the query instead."""


@dataclass(frozen=True, slots=True)
class Answer:
    total: int
    top: tuple[tuple[int, float], ...]  # (docnum, score) in rank order, at most ``limit``
    groups: Mapping[str, Mapping[str, int]]  # facet field -> term -> matching documents


@dataclass(frozen=True, slots=True)
class _Postings:
    ids: Any  # int64 docnums, ascending
    weights: Any  # float64 term frequencies


class _Cache:
    """A byte-bounded LRU of arrays, shared by the threads searching one opened index."""

    def __init__(self, limit: int) -> None:
        self._items: OrderedDict[Any, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._limit = limit
        self._lock = threading.Lock()

    def get(self, key: Any, make: Callable[[], tuple[Any, int]]) -> Any:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit[0]
        value, size = make()
        with self._lock:
            if key not in self._items:
                self._items[key] = (value, size)
                self._bytes += size
                while self._bytes > self._limit and len(self._items) > 1:
                    _, (_, dropped) = self._items.popitem(last=False)
                    self._bytes -= dropped
        return value


class Engine:
    """Array evaluation over one opened index (one fixed set of segments).

    ``ranks[docnum]`` is the document's place in the tie-breaking order; ``term_lists``
    maps each facet field to the terms of every document.
    """

    def __init__(self, ranks: Sequence[int],
                 term_lists: Mapping[str, Sequence[Sequence[str]]]) -> None:
        self.count = len(ranks)
        self._ranks = np.asarray(ranks, dtype=np.int64)
        self._facets: dict[str, tuple[tuple[str, ...], Any, Any]] = {}
        for name, lists in term_lists.items():
            names = tuple(sorted({t for terms in lists for t in terms}))
            index = {t: i for i, t in enumerate(names)}
            docs = np.fromiter((d for d, terms in enumerate(lists) for _ in terms),
                               dtype=np.int64)
            which = np.fromiter((index[t] for terms in lists for t in terms), dtype=np.int64)
            self._facets[name] = (names, docs, which)
        self._cache = _Cache(CACHE_BYTES)
        self._lock = threading.Lock()
        self._columns: dict[str, Any] = {}
        # (kind, field, term) -> presence, idf or average length: each is a walk over every
        # segment in Whoosh (a term lookup in each segment's term table), and the index
        # does not change while this engine lives
        self._stats: dict[tuple[Any, ...], Any] = {}

    def _stat(self, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
        try:
            return self._stats[key]
        except KeyError:
            pass
        value = make()
        if len(self._stats) >= STATS_HELD:
            self._stats.clear()
        self._stats[key] = value
        return value

    def has_term(self, reader: Any, fieldname: str, btext: bytes) -> bool:
        return bool(self._stat(("has", fieldname, btext),
                               lambda: (fieldname, btext) in reader))

    def idf(self, searcher: Any, fieldname: str, btext: bytes) -> float:
        return float(self._stat(("idf", fieldname, btext),
                                lambda: searcher.idf(fieldname, btext)))

    def avg_field_length(self, searcher: Any, fieldname: str) -> float:
        return float(self._stat(("avgfl", fieldname),
                                lambda: searcher.avg_field_length(fieldname) or 1))

    # --- per-index arrays ---------------------------------------------------------------

    def _lengths(self, reader: Any, fieldname: str) -> Any:
        """The field length of every document, as Whoosh's scorer reads it."""
        def make() -> tuple[Any, int]:
            parts = []
            for leaf, _offset in reader.leaf_readers():
                n = leaf.doc_count_all()
                raw = _length_bytes(leaf, fieldname, n)
                if raw is None:
                    parts.append(np.array([leaf.doc_field_length(d, fieldname, 1) or 0
                                           for d in range(n)], dtype=np.float64))
                else:
                    parts.append(_BYTE_TO_LENGTH[np.frombuffer(raw, dtype=np.uint8)])
            arr = np.concatenate(parts) if parts else np.zeros(0)
            return arr, arr.nbytes
        return self._cache.get(("len", fieldname), make)

    def _column(self, reader: Any, name: str) -> Any:
        with self._lock:
            if name not in self._columns:
                self._columns[name] = np.fromiter(
                    reader.column_reader(name, translate=False), dtype=np.int64,
                    count=self.count)
            return self._columns[name]

    def _postings(self, reader: Any, fieldname: str, btext: bytes) -> _Postings:
        def make() -> tuple[_Postings, int]:
            ids: list[Any] = []
            weights: list[Any] = []
            for offset, block_ids, block_weights, _ in _term_blocks(
                    reader, fieldname, btext, values=False):
                ids.append(np.asarray(block_ids, dtype=np.int64) + offset)
                weights.append(np.asarray(block_weights, dtype=np.float64))
            p = _Postings(np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64),
                          np.concatenate(weights) if weights else np.zeros(0))
            return p, p.ids.nbytes + p.weights.nbytes
        return self._cache.get(("post", fieldname, btext), make)  # type: ignore[no-any-return]

    def _positions(self, reader: Any, fieldname: str, btext: bytes) -> Any:
        """Sorted keys ``docnum << 24 | position`` of every occurrence of the term."""
        def make() -> tuple[Any, int]:
            fmt = reader.schema[fieldname].format
            keys: list[int] = []
            for offset, block_ids, _, values in _term_blocks(reader, fieldname, btext,
                                                             values=True):
                for docnum, value in zip(block_ids, values, strict=True):
                    base = (docnum + offset) << _POS_BITS
                    keys.extend(base + p for p in fmt.decode_positions(value))
            arr = np.array(keys, dtype=np.int64)
            arr.sort()
            return arr, arr.nbytes
        return self._cache.get(("pos", fieldname, btext), make)

    # --- evaluation ---------------------------------------------------------------------

    def run(self, searcher: Any, q: wq.Query, filters: Sequence[wq.Query], *,
            scored: bool, limit: int, facets: Sequence[str]) -> Answer | None:
        """Matches of ``q`` within ``filters``: the total, the first ``limit`` as (docnum,
        score) ranked by score (if ``scored``) then rank, and the counts per facet term.
        ``None`` when the query holds something this module does not evaluate."""
        reader = searcher.reader()
        if reader.has_deletions() or reader.doc_count_all() != self.count:
            return None
        weighting = searcher.weighting
        if type(weighting) is not scoring.BM25F:
            return None
        ev = _Evaluation(self, searcher, reader, weighting)
        try:
            if isinstance(q, wq.Every) and q.fieldname in (None, "", "*"):
                mask, score = np.ones(self.count, dtype=bool), np.zeros(self.count)
            else:
                mask, score = ev.node(q)
            for f in filters:
                mask = mask & ev.filter(f)
        except Unsupported:
            return None
        docs = np.flatnonzero(mask)
        ranks = self._ranks[docs]
        if scored:
            keys = np.round(score[docs], SCORE_DIGITS)
            if limit < len(docs):  # only those that can reach the first ``limit``
                cut = np.partition(keys, len(keys) - limit)[len(keys) - limit]
                keep = keys >= cut
                docs, ranks, keys = docs[keep], ranks[keep], keys[keep]
            order = np.lexsort((ranks, -keys))[:limit]
        else:
            order = np.argsort(ranks, kind="stable")[:limit]
        top = tuple((int(docs[i]), float(score[docs[i]]) if scored else 0.0) for i in order)
        groups = {}
        for name in facets:
            names, fdocs, which = self._facets[name]
            counts = np.bincount(which[mask[fdocs]], minlength=len(names))
            groups[name] = {names[i]: int(counts[i]) for i in np.flatnonzero(counts)}
        return Answer(len(mask.nonzero()[0]), top, groups)


class _Evaluation:
    """One query against one searcher: each node to (mask, scores), scores 0 off the mask."""

    def __init__(self, engine: Engine, searcher: Any, reader: Any,
                 weighting: scoring.BM25F) -> None:
        self.e = engine
        self.searcher = searcher
        self.reader = reader
        self.weighting = weighting
        self.n = engine.count

    def empty(self) -> tuple[Any, Any]:
        return np.zeros(self.n, dtype=bool), np.zeros(self.n)

    def node(self, q: wq.Query) -> tuple[Any, Any]:
        kind = type(q)
        if q is wq.NullQuery or kind is type(wq.NullQuery):
            return self.empty()
        if kind is wq.Term:
            mask, score = self.term(q.fieldname, q.text)
            return mask, score * q.boost if q.boost != 1.0 else score
        if kind is wq.Phrase:
            return self.phrase(q)
        if kind in (wq.And, wq.Or):
            if kind is wq.Or and (q.minmatch or q.scale):
                raise Unsupported(q)
            subs = [self.node(s) for s in q.subqueries]
            if not subs:
                return self.empty()
            mask = subs[0][0].copy()
            for m, _ in subs[1:]:
                if kind is wq.And:
                    mask &= m
                else:
                    mask |= m
            score = np.zeros(self.n)
            for _, s in subs:
                score += s
            score[~mask] = 0.0
            return mask, score * q.boost if q.boost != 1.0 else score
        if kind in (wq.AndMaybe, wq.AndNot) and q.boost == 1.0:
            amask, ascore = self.node(q.a)
            bmask, bscore = self.node(q.b)
            if kind is wq.AndNot:
                mask = amask & ~bmask
                return mask, np.where(mask, ascore, 0.0)
            return amask, ascore + np.where(amask, bscore, 0.0)
        raise Unsupported(q)

    def filter(self, q: wq.Query) -> Any:
        """A filter clause as a mask (filters are not scored)."""
        kind = type(q)
        if kind is wq.DateRange and q.fieldname == "date" and not (
                q.startexcl or q.endexcl) and self.reader.schema["date"].column_type:
            ts = self.e._column(self.reader, "date")
            mask = np.ones(self.n, dtype=bool)
            if q.startdate is not None:
                mask &= ts >= datetime_to_long(_naive(q.startdate))
            if q.enddate is not None:
                mask &= ts <= datetime_to_long(_naive(q.enddate))
            return mask
        if kind is wq.And:
            mask = np.ones(self.n, dtype=bool)
            for sub in q.subqueries:
                mask &= self.filter(sub)
            return mask
        return self.node(q)[0]

    def term(self, fieldname: str, text: Any) -> tuple[Any, Any]:
        schema = self.reader.schema
        if fieldname not in schema:
            return self.empty()
        field = schema[fieldname]
        try:
            btext = field.to_bytes(text)
        except ValueError:
            return self.empty()
        if not self.e.has_term(self.reader, fieldname, btext):
            return self.empty()
        p = self.e._postings(self.reader, fieldname, btext)
        mask, score = self.empty()
        mask[p.ids] = True
        if not field.scorable:
            score[p.ids] = p.weights  # WeightScorer: the weight is the score
            return mask, score
        w = self.weighting
        B = w._field_B.get(fieldname, w.B)
        K1 = w.K1
        idf = self.e.idf(self.searcher, fieldname, btext)
        avgfl = self.e.avg_field_length(self.searcher, fieldname)
        fl = self.e._lengths(self.reader, fieldname)[p.ids]
        tf = p.weights
        score[p.ids] = idf * ((tf * (K1 + 1)) / (tf + K1 * ((1 - B) + B * fl / avgfl)))
        return mask, score

    def phrase(self, q: wq.Phrase) -> tuple[Any, Any]:
        """Whoosh's ``Phrase``: each word within ``slop`` positions after the previous one,
        in order; the score is the sum of the words' scores in the field, boosted."""
        schema = self.reader.schema
        if q.fieldname not in schema or not q.words:
            return self.empty()
        field = schema[q.fieldname]
        if not field.format or not field.format.supports("positions"):
            raise Unsupported(q)
        btexts = []
        for word in q.words:
            try:
                btext = field.to_bytes(word)
            except ValueError:
                return self.empty()
            if not self.e.has_term(self.reader, q.fieldname, btext):
                return self.empty()
            btexts.append(btext)
        mask = np.ones(self.n, dtype=bool)
        score = np.zeros(self.n)
        for btext in btexts:
            m, s = self.term(q.fieldname, btext.decode("utf-8"))
            mask &= m
            score += s
        if not mask.any():
            return self.empty()
        ends = self._within(self.e._positions(self.reader, q.fieldname, btexts[0]), mask)
        for btext in btexts[1:]:
            nxt = self._within(self.e._positions(self.reader, q.fieldname, btext), mask)
            # the nearest earlier occurrence of the phrase so far must be 1..slop before
            before = np.searchsorted(ends, nxt, side="left") - 1
            ok = before >= 0
            ok[ok] = nxt[ok] - ends[before[ok]] <= q.slop
            ends = nxt[ok]
            if not len(ends):
                return self.empty()
        found = np.zeros(self.n, dtype=bool)
        found[np.unique(ends >> _POS_BITS)] = True
        mask &= found
        score[~mask] = 0.0
        return mask, score * q.boost if q.boost != 1.0 else score

    @staticmethod
    def _within(keys: Any, mask: Any) -> Any:
        return keys[mask[keys >> _POS_BITS]]


def _naive(value: datetime) -> datetime:
    return value.replace(tzinfo=None) if value.tzinfo is not None else value


def _length_bytes(leaf: Any, fieldname: str, n: int) -> bytes | None:
    """A segment's one-byte field lengths (what ``doc_field_length`` decodes), or None
    when the segment reader is not Whoosh's own."""
    perdoc = getattr(leaf, "_perdoc", None)
    if perdoc is None or not hasattr(perdoc, "_cached_reader"):
        return None
    column = perdoc._cached_reader(f"_{fieldname}_len", LENGTHS_COLUMN)
    if column is None:
        return b"\x01" * n if byte_to_length(1) == 1 else None  # no column: length 1
    raw = column if isinstance(column, bytes) else bytes(column)
    return raw[:n] if len(raw) >= n else None


def _term_blocks(reader: Any, fieldname: str, btext: bytes, *, values: bool) -> Any:
    """(docnum offset, ids, weights, values) of a term's postings in every segment that has
    it, a block at a time (values only if asked)."""
    for leaf, offset in reader.leaf_readers():
        try:
            m = leaf.postings(fieldname, btext)
        except TermNotFound:
            continue
        for ids, weights, vals in _blocks(m, values=values):
            yield offset, ids, weights, vals


def _blocks(m: Any, *, values: bool) -> Any:
    """(ids, weights, values) of a posting list, a block at a time where Whoosh stores it
    in blocks (values only if asked)."""
    if isinstance(m, W3LeafMatcher):
        while m.is_active():
            m._read_ids()
            m._read_weights()
            if values:
                m._read_values()
            yield m._ids, m._weights, (m._values if values else None)
            m._next_block()
        return
    ids, weights, vals = [], [], []
    while m.is_active():
        ids.append(m.id())
        weights.append(m.weight())
        if values:
            vals.append(m.value())
        m.next()
    yield ids, weights, vals
