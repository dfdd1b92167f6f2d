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
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

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


def related_reports(site: Site, k: int = 5, jobs: int = 1,
                    ) -> Mapping[str, tuple[Report, ...]]:
    """Report URL -> up to ``k`` related reports (every report has an entry, maybe empty).

    A report relates to those sharing at least one actor or location. Score: the sum over
    shared terms of ``log(N / df)`` (N reports, df reports with the term); ties go to the
    report closest in time, then the smaller URL. The result is exact, but candidates are
    gathered cheaply: the report's terms are visited rarest first through inverted lists, and
    gathering stops once the k-th best partial score beats anything the remaining terms could
    add. Terms in more than 20% of reports never seed candidates (they only add to scores);
    reports sharing nothing but such terms are found by searching each combination of them
    outward in time from the report. Each report's list is a pure function of the inverted
    lists, so with ``jobs`` above 1 the reports are shared out among forked workers (a few
    seconds in one process at 10,000 reports); the result is the same.
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
    ctx = _Related(urls=[r.url for r in reports], postings=postings,
                   idf=[math.log(n / len(p)) for p in postings],
                   terms=[frozenset(ids[(ref.kind, ref.slug)] for ref in r.terms)
                          for r in reports],
                   stamps=[r.date.timestamp() for r in reports], k=k,
                   first_common=next((i for i, p in enumerate(postings)
                                      if len(p) > COMMON_TERM_SHARE * n), len(postings)))
    for a, found in enumerate(ordered_map(ctx.related, range(n), jobs, chunk=256)):
        result[reports[a].url] = tuple(reports[b] for b in found)
    return result


@dataclass(frozen=True, slots=True)
class _Related:
    """What ``related_reports`` ranks with: plain lists by report position (no ``Report``
    objects, so a forked worker that reads them copies few of its parent's pages)."""

    urls: Sequence[str]
    postings: Sequence[list[int]]  # term id -> report positions, ascending (newest first)
    idf: Sequence[float]
    terms: Sequence[frozenset[int]]
    stamps: Sequence[float]
    k: int
    first_common: int  # the first term id in more than COMMON_TERM_SHARE of the reports

    def related(self, a: int) -> tuple[int, ...]:
        """The positions of report ``a``'s related reports, best first."""
        k, idf, postings, terms = self.k, self.idf, self.postings, self.terms
        first_common = self.first_common
        mine = sorted(terms[a])  # rarest first; every sum adds in this order
        if not mine:
            return ()
        weights = [idf[t] for t in mine]
        suffix = [sum(weights[j:]) for j in range(len(weights) + 1)]  # what terms j.. can add
        seed_common = sum(t >= first_common for t in mine) > _MAX_COMBO_TERMS
        scores: dict[int, float] = {}
        i = 0
        while i < len(mine) and (seed_common or mine[i] < first_common):
            if len(scores) >= k and round(heapq.nlargest(k, scores.values())[-1], 9) > round(
                    suffix[i], 9):
                break  # no report outside ``scores`` can reach the k-th best any more
            weight = idf[mine[i]]
            if not scores:
                scores = dict.fromkeys(postings[mine[i]], 0.0 + weight)
            else:
                for b in postings[mine[i]]:
                    scores[b] = scores.get(b, 0.0) + weight
            scores.pop(a, None)
            i += 1
        for t in mine[i:]:  # the remaining terms only add to the reports already found
            weight = idf[t]
            if len(postings[t]) < len(scores):
                for b in postings[t]:
                    if b in scores:
                        scores[b] += weight
            else:
                for b in scores:
                    if t in terms[b]:
                        scores[b] += weight
        # Only reports scoring at least the k-th best need the full key (gap, url).
        floor = heapq.nlargest(k, scores.values())[-1] - 1e-6 if len(scores) > k else -1.0
        best = heapq.nsmallest(k, (self.key(a, b, score) for b, score in scores.items()
                                   if score >= floor))
        if i < len(mine) and mine[i] >= first_common and (
                len(best) < k or -best[-1][0] <= round(suffix[i], 9)):
            best = self.add_common_only(a, mine[i:], scores.keys(), best)
        return tuple(b for _, _, _, b in best)

    def key(self, a: int, b: int, score: float) -> _Key:
        return (-round(score, 9), abs(self.stamps[a] - self.stamps[b]), self.urls[b], b)

    def add_common_only(self, a: int, shared: Sequence[int], seen: Collection[int],
                        best: list[_Key]) -> list[_Key]:
        """Merge in reports that share only ``shared`` (common) terms with ``a``.

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
                return b not in seen and self.terms[b] & wanted == members

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
