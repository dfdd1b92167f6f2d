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
from typing import Any, TypeVar

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


def in_background(func: Callable[..., R], *args: Any) -> Callable[[], R]:
    """Run ``func(*args)`` in a forked process now; the returned function waits for it and
    gives its result (or raises what it raised). Without ``fork`` it runs here, at once."""
    if "fork" not in multiprocessing.get_all_start_methods():
        result = func(*args)
        return lambda: result
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    # not a daemon: the task may fork workers of its own (the search index does)
    process = ctx.Process(target=_send_result, args=(send, func, args))
    process.start()
    send.close()

    def join() -> R:
        try:
            ok, value = receive.recv()
        except EOFError:
            process.join()
            raise RuntimeError(f"background task died (exit code {process.exitcode})") from None
        finally:
            receive.close()
        process.join()
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]

    return join


def _send_result(send: Any, func: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        send.send((True, func(*args)))
    except BaseException as exc:  # noqa: BLE001 - handed to the parent, which re-raises it
        send.send((False, exc))
    finally:
        send.close()
