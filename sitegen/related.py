"""Related reports and reading time: pure functions of the model, used by report pages.

``related_reports`` ranks, for every report, the reports that share its actors and locations,
weighting each shared term by its rarity (``log(N / df)``), exactly but without comparing all
pairs (see its docstring). Split from ``publish.py`` so ``render.py`` can use it.
"""

from __future__ import annotations

import heapq
import itertools
import math
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from sitegen.model import Report, Site, TermKind
from sitegen.parallel import ordered_map

WORDS_PER_MINUTE = 230
KINDS: tuple[TermKind, TermKind] = ("actor", "location")
COMMON_TERM_SHARE = 0.2  # a term in more than this share of reports does not seed candidates


def reading_minutes(word_count: int) -> int:
    """Estimated reading time at about 230 words per minute, rounded, at least 1."""
    return max(1, (word_count + WORDS_PER_MINUTE // 2) // WORDS_PER_MINUTE)


# --- related reports -----------------------------------------------------------------------

_Key = tuple[float, float, str, int]  # (-score, seconds apart, url, position): smaller is
# more related (urls are distinct, so the position never decides)
_MAX_COMBO_TERMS = 10  # beyond this many common terms, common terms seed candidates too
_TIES = 32  # above this many reports about the k-th best score, ``closest`` thins them out


def related_reports(site: Site, k: int = 5, jobs: int = 1,
                    ) -> Mapping[str, tuple[Report, ...]]:
    """Report URL -> up to ``k`` related reports (every report has an entry, maybe empty).

    A report relates to those sharing at least one actor or location. Score: the sum over
    shared terms of ``log(N / df)`` (N reports, df reports with the term); ties go to the
    report closest in time, then the smaller URL. The result is exact: every report sharing
    one of the report's terms that are in at most 20% of reports is scored, a posting list
    at a time in numpy arrays (each score summed rarest term first, as one report at a time
    would); terms in more than 20% of reports only add to those scores, and reports sharing
    nothing but such terms are found by searching each combination of them outward in time
    from the report. Each report's list is a pure function of the posting lists, so with
    ``jobs`` above 1 the reports are shared out among forked workers; the result is the same.
    """
    reports = site.reports
    n = len(reports)
    result: dict[str, tuple[Report, ...]] = {r.url: () for r in reports}
    if n < 2 or k <= 0:
        return result
    position = {r.url: i for i, r in enumerate(reports)}
    by_term = {(kind, term.slug): sorted(position[r.url] for r in term.reports)
               for kind in KINDS for term in site.terms(kind) if term.reports}
    # Term ids in order of rarity, so a report's sorted ids visit its rarest terms first.
    order = sorted(by_term, key=lambda t: (len(by_term[t]), t))
    ids = {t: i for i, t in enumerate(order)}
    postings = [by_term[t] for t in order]
    stamps = [r.date.timestamp() for r in reports]
    first_common = next((i for i, p in enumerate(postings) if len(p) > COMMON_TERM_SHARE * n),
                        len(postings))
    common = np.zeros((len(postings) - first_common, n), dtype=bool)
    for row, held in zip(common, postings[first_common:], strict=True):
        row[held] = True
    ctx = _Related(urls=[r.url for r in reports],
                   arrays=[np.asarray(p, dtype=np.intp) for p in postings],
                   postings=postings, common=common,
                   idf=[math.log(n / len(p)) for p in postings],
                   terms=[frozenset(ids[(ref.kind, ref.slug)] for ref in r.terms)
                          for r in reports],
                   stamps=stamps, stamp_array=np.asarray(stamps, dtype=np.float64), k=k,
                   first_common=first_common, scratch=np.zeros(n))
    for a, found in enumerate(ordered_map(ctx.related, range(n), jobs, chunk=256)):
        result[reports[a].url] = tuple(reports[b] for b in found)
    return result


@dataclass(frozen=True, slots=True)
class _Related:
    """What ``related_reports`` ranks with: plain lists and arrays by report position (no
    ``Report`` objects, so a forked worker that reads them copies few of its parent's
    pages)."""

    urls: Sequence[str]
    arrays: Sequence[np.ndarray]  # term id -> report positions, ascending (newest first)
    postings: Sequence[list[int]]  # the same as lists, for the common terms' searches
    common: np.ndarray  # (term id - first_common, position) -> whether the report has it
    idf: Sequence[float]
    terms: Sequence[frozenset[int]]
    stamps: Sequence[float]
    stamp_array: np.ndarray  # the same as an array
    k: int
    first_common: int  # the first term id in more than COMMON_TERM_SHARE of the reports
    scratch: np.ndarray  # zeros, one per report: scores are summed here, then reset

    def related(self, a: int) -> tuple[int, ...]:
        """The positions of report ``a``'s related reports, best first."""
        k, idf, first_common = self.k, self.idf, self.first_common
        mine = sorted(self.terms[a])  # rarest first; every sum adds in this order
        if not mine:
            return ()
        weights = [idf[t] for t in mine]
        suffix = [sum(weights[j:]) for j in range(len(weights) + 1)]  # what terms j.. can add
        if sum(t >= first_common for t in mine) > _MAX_COMBO_TERMS:
            seeds = mine  # too many combinations of common terms: they seed candidates too
        else:
            seeds = [t for t in mine if t < first_common]
        best: list[_Key] = []
        if seeds:
            scratch = self.scratch
            for t in seeds:  # each term's reports are distinct: one addition per report
                scratch[self.arrays[t]] += idf[t]
            if len(seeds) > 1:  # sorted, then deduplicated: np.unique hashed, 4x slower here
                found = np.sort(np.concatenate([self.arrays[t] for t in seeds]))
                found = found[np.concatenate(([True], found[1:] != found[:-1]))]
            else:
                found = self.arrays[seeds[0]]
            scores = scratch[found]
            scratch[found] = 0.0
            keep = found != a
            found, scores = found[keep], scores[keep]
            for t in mine[len(seeds):]:  # common terms add to the reports already found
                scores = scores + idf[t] * self.common[t - first_common][found]
            if len(found) > k:  # only reports scoring about the k-th best need the full key
                floor = np.partition(scores, len(scores) - k)[len(scores) - k] - 1e-6
                near = np.flatnonzero(scores >= floor)
                found, scores = found[near], scores[near]
            if len(found) > _TIES:
                found, scores = self.closest(a, found, scores)
            best = heapq.nsmallest(k, map(self.key, itertools.repeat(a), found.tolist(),
                                          scores.tolist()))
        i = len(seeds)
        if i < len(mine) and (len(best) < k or -best[-1][0] <= round(suffix[i], 9)):
            best = self.add_common_only(a, mine[i:], frozenset(seeds), best)
        return tuple(b for _, _, _, b in best)

    def closest(self, a: int, found: np.ndarray, scores: np.ndarray,
                ) -> tuple[np.ndarray, np.ndarray]:
        """Of many reports tied about the k-th best score (say, hundreds that share one
        place with ``a``), those that can still make the list: for each score, the k
        closest in time to ``a``, ties of time kept. The same score gives the same rounded
        score, so only time and URL order them; ``key`` then ranks the few left."""
        k = self.k
        gaps = np.abs(self.stamp_array[found] - self.stamps[a])  # as ``key`` computes them
        keep = []
        for value in np.unique(scores):
            same = np.flatnonzero(scores == value)
            if len(same) > k:
                held = gaps[same]
                same = same[held <= np.partition(held, k - 1)[k - 1]]
            keep.append(same)
        chosen = np.concatenate(keep)
        return found[chosen], scores[chosen]

    def key(self, a: int, b: int, score: float) -> _Key:
        return (-round(score, 9), abs(self.stamps[a] - self.stamps[b]), self.urls[b], b)

    def add_common_only(self, a: int, shared: Sequence[int], seeds: frozenset[int],
                        best: list[_Key]) -> list[_Key]:
        """Merge in reports that share only ``shared`` (common) terms with ``a``: those
        without any of its ``seeds``, the terms whose reports were all scored.

        Such a report's score depends only on which of those terms it has, so each combination
        is searched in score order, outward in time from ``a``, until the k-th best so far
        beats every combination left.
        """
        k = self.k
        combos = []
        for size in range(len(shared), 0, -1):
            for combo in itertools.combinations(shared, size):  # keeps ``shared``'s order
                score = round(sum(self.idf[t] for t in combo), 9)
                combos.append((-score, combo))
        combos.sort()
        pool = list(best)
        wanted = frozenset(shared)
        for neg, combo in combos:
            if len(pool) >= k and heapq.nsmallest(k, pool)[-1][0] < neg:
                break
            members = frozenset(combo)

            def accept(b: int, members: frozenset[int] = members) -> bool:
                held = self.terms[b]
                return held.isdisjoint(seeds) and held & wanted == members

            postings = min((self.postings[t] for t in combo), key=len)
            pool += [(neg, gap, self.urls[b], b) for gap, b in self._nearest(
                a, postings, accept)]
        return heapq.nsmallest(k, pool)

    def _nearest(self, a: int, postings: Sequence[int],
                 accept: Callable[[int], bool]) -> list[tuple[float, int]]:
        """Up to k accepted reports of ``postings`` closest in time to ``a`` (ties kept).

        ``postings`` holds report positions in ascending order, i.e. newest first."""
        stamps, here = self.stamps, self.stamps[a]
        mid = bisect_left(postings, a)
        left, right = mid - 1, mid + 1 if mid < len(postings) and postings[mid] == a else mid
        found: list[tuple[float, int]] = []
        while left >= 0 or right < len(postings):
            gap_l = stamps[postings[left]] - here if left >= 0 else math.inf
            gap_r = here - stamps[postings[right]] if right < len(postings) else math.inf
            if len(found) >= self.k and min(gap_l, gap_r) > found[self.k - 1][0]:
                break
            if gap_l <= gap_r:
                b, left = postings[left], left - 1
            else:
                b, right = postings[right], right + 1
            if accept(b):
                found.append((abs(here - stamps[b]), b))
        return found
