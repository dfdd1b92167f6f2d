"""An ordered map over worker processes, for the pure per-item stages (Markdown, pages).

Workers are forked, so they inherit the function and the items (the frozen site model, the
compiled Jinja environment) without pickling them; only results travel back, in input order,
which makes a parallel build byte-identical to a serial one. Where ``fork`` is unavailable, or
for small inputs, it is a plain ``map``.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# The task of the pool being forked: read by workers only, set and cleared around the pool.
_TASK: tuple[Callable[[Any], Any], Sequence[Any]] | None = None


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


def ordered_map(func: Callable[[T], R], items: Sequence[T], jobs: int,
                chunk: int = 64) -> Iterator[R]:
    """``map(func, items)`` spread over ``jobs`` forked processes, results in input order."""
    global _TASK
    can_fork = "fork" in multiprocessing.get_all_start_methods()
    if jobs <= 1 or not can_fork or len(items) < 2 * chunk or _TASK is not None:
        yield from map(func, items)
        return
    _TASK = (func, items)
    try:
        bounds = [(i, min(i + chunk, len(items))) for i in range(0, len(items), chunk)]
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            for batch in pool.imap(_run_chunk, bounds):
                yield from batch
    finally:
        _TASK = None


def _run_chunk(bounds: tuple[int, int]) -> list[Any]:
    assert _TASK is not None, "worker started outside ordered_map"
    func, items = _TASK
    return [func(items[i]) for i in range(*bounds)]
