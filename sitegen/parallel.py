"""An ordered map over worker processes, for the pure per-item stages (Markdown, pages).

Workers are forked, so they inherit the function and the items (the frozen site model, the
compiled Jinja environment) without pickling them; only results travel back, in input order,
which makes a parallel build byte-identical to a serial one. Where ``fork`` is unavailable, or
for small inputs, it is a plain ``map``.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.pool import AsyncResult
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

AHEAD = 4  # chunks queued or done per worker, ahead of the one the caller is taking

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
        bounds = ((i, min(i + chunk, len(items))) for i in range(0, len(items), chunk))
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            # At most AHEAD chunks a worker in flight: results the caller has not taken yet
            # wait in this process, and a caller slower than its workers (it stores each
            # body, or folds each report's weights into postings) would otherwise hold them
            # all -- at 100,000 reports, hundreds of megabytes.
            waiting: deque[AsyncResult[list[Any]]] = deque()
            for span in bounds:
                waiting.append(pool.apply_async(_run_chunk, (span,)))
                if len(waiting) >= AHEAD * jobs:
                    yield from waiting.popleft().get()
            while waiting:
                yield from waiting.popleft().get()
    finally:
        _TASK = None


def _run_chunk(bounds: tuple[int, int]) -> list[Any]:
    assert _TASK is not None, "worker started outside ordered_map"
    func, items = _TASK
    return [func(items[i]) for i in range(*bounds)]


class Background(Generic[R]):
    """A task running in a forked process (``in_background``): call it to wait for its
    result (or raise what it raised); ``ready()`` says whether it has finished."""

    def __init__(self, func: Callable[..., R], args: tuple[Any, ...]) -> None:
        self._done: tuple[R] | None = None
        if "fork" not in multiprocessing.get_all_start_methods():
            self._done = (func(*args),)  # no fork: run it here, at once
            return
        ctx = multiprocessing.get_context("fork")
        self._receive, send = ctx.Pipe(duplex=False)
        # not a daemon: the task may fork workers of its own (the search index does)
        self._process = ctx.Process(target=_send_result, args=(send, func, args))
        self._process.start()
        send.close()

    def ready(self) -> bool:
        return self._done is not None or self._receive.poll()

    def __call__(self) -> R:
        if self._done is not None:
            return self._done[0]
        try:
            ok, value = self._receive.recv()
        except EOFError:
            self._process.join()
            raise RuntimeError(
                f"background task died (exit code {self._process.exitcode})") from None
        finally:
            self._receive.close()
        self._process.join()
        if not ok:
            raise value
        self._done = (value,)
        return value  # type: ignore[no-any-return]


def in_background(func: Callable[..., R], *args: Any) -> Background[R]:
    """Run ``func(*args)`` in a forked process now (see ``Background``). Without ``fork``
    it runs here, at once."""
    return Background(func, args)


def _send_result(send: Any, func: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        send.send((True, func(*args)))
    except BaseException as exc:  # noqa: BLE001 - handed to the parent, which re-raises it
        send.send((False, exc))
    finally:
        send.close()
