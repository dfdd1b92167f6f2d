"""An ordered map over worker processes, for the pure per-item stages (Markdown, pages).

Workers are forked, so they inherit the function and the items (the frozen site model, the
compiled Jinja environment) without pickling them; only results travel back, in input order,
which makes a parallel build byte-identical to a serial one. Where ``fork`` is unavailable, or
for small inputs, it is a plain ``map``.

``Standby`` is the other kind: workers forked at the start of a build, while the process is
small, and sent their items later, for a stage that runs beside the build and would otherwise
copy every page of the model it touches (the search index).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import gc
import multiprocessing
import multiprocessing.connection
import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from multiprocessing.pool import AsyncResult
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

AHEAD = 4  # chunks queued or done per worker, ahead of the one the caller is taking

# The task of the pool being forked: read by workers only, set and cleared around the pool.
_TASK: tuple[Callable[[Any], Any], Sequence[Any]] | None = None


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    with contextlib.suppress(OSError):
        return getattr(ctypes.CDLL(name), "malloc_trim", None)  # glibc only
    return None


def release_memory() -> None:
    """Give the C heap's free pages back to the system (glibc's ``malloc_trim``; nothing
    elsewhere). After a stage that made and dropped large objects (an export of every
    report, the static search postings) the freed memory stays in the process otherwise:
    at 10,000 reports 20 to 35 MiB of it after each of those stages, while the index
    writers run beside it."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@contextlib.contextmanager
def _frozen() -> Iterator[None]:
    """This process's objects kept out of the garbage collector's reach while workers are
    forked (``gc.freeze``, as Python's documentation advises before a fork): a collection
    in a worker would otherwise write into every container object it inherited (the GC's
    header of each), which copies the page that holds it into the worker."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


def ordered_map(func: Callable[[T], R], items: Sequence[T], jobs: int,
                chunk: int = 64, renew: int | None = None) -> Iterator[R]:
    """``map(func, items)`` spread over ``jobs`` forked processes, results in input order.
    ``renew``: a worker is replaced by a new fork after that many chunks, which bounds what
    it holds: the pages of this process it copied by touching their objects, and what it
    cached."""
    global _TASK
    can_fork = "fork" in multiprocessing.get_all_start_methods()
    if jobs <= 1 or not can_fork or len(items) < 2 * chunk or _TASK is not None:
        yield from map(func, items)
        return
    _TASK = (func, items)
    try:
        bounds = ((i, min(i + chunk, len(items))) for i in range(0, len(items), chunk))
        with _frozen(), multiprocessing.get_context("fork").Pool(
                jobs, maxtasksperchild=renew) as pool:  # frozen: renewed workers fork too
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
        with _frozen():
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



class Standby:
    """Worker processes forked now, while this process is still small (before the content
    is loaded), and sent work later with ``map``: whatever they do then copies none of the
    pages of the model this process builds in the meantime. A stage that runs beside the
    build (the search index) gets workers that hold only what they are sent. Close it
    (or use it as a context manager) to end them. With ``jobs`` below 2 or no ``fork`` it
    has no workers and ``map`` runs here."""

    def __init__(self, jobs: int) -> None:
        self._workers: list[tuple[Any, Any]] = []  # (process, connection)
        self._sent: Sent[Any] | None = None
        if jobs < 2 or "fork" not in multiprocessing.get_all_start_methods():
            return
        ctx = multiprocessing.get_context("fork")
        with _frozen():
            for _ in range(jobs):
                mine, theirs = ctx.Pipe()
                process = ctx.Process(target=_standby_loop, args=(theirs,), daemon=True)
                process.start()
                theirs.close()
                self._workers.append((process, mine))

    def __len__(self) -> int:
        return len(self._workers)

    def map(self, func: Callable[[T], R], items: Iterable[T]) -> Sent[R]:
        """``map(func, items)`` over the workers, started now: ``items`` is consumed, and
        each item pickled to a free worker, by a thread while this process goes on. A map
        still under way is waited for first (the workers serve one at a time)."""
        if self._sent is not None:
            self._sent.wait()
        self._sent = Sent(func, items, [conn for _, conn in self._workers])
        return self._sent

    def close(self) -> None:
        """End the workers; a map still under way (the build failed or was interrupted) is
        cut short: its workers are terminated."""
        if self._sent is not None and not self._sent.ready():
            for process, _ in self._workers:
                process.terminate()
            self._sent.wait()
        self._sent = None
        for _, conn in self._workers:
            with contextlib.suppress(OSError):
                conn.send(None)
            conn.close()
        for process, _ in self._workers:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
                process.join()
        self._workers.clear()

    def __enter__(self) -> Standby:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _standby_loop(conn: Any) -> None:
    """A ``Standby`` worker: run each ``(func, item)`` it receives and send back
    ``(True, result)`` or ``(False, exception)``, until it receives None or its parent is
    gone."""
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        func, item = task
        try:
            answer: tuple[bool, Any] = (True, func(item))
        except BaseException as exc:  # noqa: BLE001 - handed to the parent, which re-raises it
            answer = (False, exc)
        conn.send(answer)
        del task, func, item, answer
        release_memory()  # an idle worker holds no more than it must


class Sent(Generic[R]):
    """The results of ``Standby.map``, on their way: call it to wait for them, in input
    order (or raise what ``func`` raised); ``ready()`` says whether they are all in. With
    no workers, ``func`` runs here when it is called."""

    def __init__(self, func: Callable[[Any], R], items: Iterable[Any],
                 conns: list[Any]) -> None:
        self._func, self._items = func, items
        self._results: dict[int, tuple[bool, Any]] = {}
        self._arrived: queue.SimpleQueue[int | None] = queue.SimpleQueue()  # see drain
        self._drained = False
        self._early: dict[int, Any] = {}  # drained parts waiting for those before them
        self._next = 0  # the input index drain yields next
        self._thread: threading.Thread | None = None
        if conns:
            self._thread = threading.Thread(target=self._feed, args=(conns,), daemon=True,
                                            name="sitegen-standby")
            self._thread.start()

    def _feed(self, conns: list[Any]) -> None:
        free: list[Any] = list(conns)
        busy: dict[Any, int] = {}  # connection -> index of its item
        try:
            for n, item in enumerate(self._items):
                while not free:
                    self._collect(busy, free)
                conn = free.pop()
                conn.send((self._func, item))
                busy[conn] = n
            while busy:
                self._collect(busy, free)
        except BaseException as exc:  # noqa: BLE001 - raised by __call__
            self._results[-1] = (False, exc)
        finally:
            self._arrived.put(None)

    def _collect(self, busy: dict[Any, int], free: list[Any]) -> None:
        conn: Any
        for conn in multiprocessing.connection.wait(list(busy)):
            n = busy.pop(conn)
            try:
                self._results[n] = conn.recv()
            except EOFError:
                raise RuntimeError("a worker process died") from None
            self._arrived.put(n)
            free.append(conn)

    def ready(self) -> bool:
        return self._thread is not None and not self._thread.is_alive()

    def drain(self, split: Callable[[R], tuple[R, Any]]) -> Iterator[Any]:
        """As the results come in, in input order (one that comes early waits for those
        before it): ``split`` each into what stays for ``__call__`` and what is yielded now,
        so that part is not held with the others (a large part of each result, taken as it
        comes). Raises what ``func`` raised. A later call goes on where the last stopped;
        with no workers nothing comes in before ``__call__``."""
        if self._thread is None or self._drained:
            return
        while (n := self._arrived.get()) is not None:
            ok, value = self._results[n]
            if not ok:
                raise value
            kept, self._early[n] = split(value)
            self._results[n] = (True, kept)
            del value
            while self._next in self._early:
                self._next += 1
                yield self._early.pop(self._next - 1)
        self._drained = True
        if -1 in self._results:
            raise self._results[-1][1]

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()

    def __call__(self) -> list[R]:
        if self._thread is None:
            return [self._func(item) for item in self._items]
        self._thread.join()
        if -1 in self._results:
            raise self._results[-1][1]
        out = []
        for n in range(len(self._results)):
            ok, value = self._results[n]
            if not ok:
                raise value
            out.append(value)
        return out
