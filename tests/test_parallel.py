"""A parallel build writes exactly the same bytes as a one-process build."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import pytest
from browser_support import REPO
from conftest import snapshot

from sitegen import build as build_module
from sitegen.build import FEW_PAGES, build
from sitegen.config import load_config
from sitegen.parallel import ordered_map


def checksums(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _copies_site(root: Path) -> None:
    """The sample, and copies of its reports under other slugs: more pages than
    ``FEW_PAGES``, so a cold build forks page workers."""
    shutil.copytree(REPO / "content", root / "content")
    shutil.copy(REPO / "sitegen.yaml", root / "sitegen.yaml")
    for i in range(8):
        for src in sorted((REPO / "content").glob("20*/*.md")):
            lines = [line for line in src.read_text(encoding="utf-8").splitlines(keepends=True)
                     if not line.startswith("slug:")]
            text = "".join(lines).replace("\ntitle: ", f"\nslug: copy-{i}-{src.stem}\ntitle: ",
                                          1)
            dest = root / "content" / f"copies{i}" / src.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(text, encoding="utf-8")


def test_parallel_output_equals_serial_output_byte_for_byte(tmp_path: Path) -> None:
    _copies_site(tmp_path)
    config, diags = load_config(tmp_path / "sitegen.yaml")
    assert diags == []
    serial = build(config, jobs=1, use_cache=False)
    assert serial.ok, [d.format() for d in serial.diagnostics]
    one = checksums(config.output_path)
    parallel = build(config, jobs=2, use_cache=False)
    assert parallel.ok
    assert checksums(config.output_path) == one
    assert len(one) > 500
    assert serial.stats == parallel.stats


def test_a_parallel_edit_build_equals_a_serial_cold_build(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An edit's few pages are rendered in the main process while the standby workers
    update the index beside them (``FEW_PAGES``): pages and search results equal a
    one-process cold build's."""
    _copies_site(tmp_path / "site")
    config, diags = load_config(tmp_path / "site" / "sitegen.yaml")
    assert diags == [] and build(config, jobs=2).ok
    report = sorted((tmp_path / "site" / "content").glob("copies3/*.md"))[2]
    report.write_text(report.read_text(encoding="utf-8") + "\nA zebrafinch was seen.\n",
                      encoding="utf-8")
    calls: list[tuple[int, int]] = []
    real = build_module.ordered_map

    def spy(func: Any, items: Any, jobs: int, *args: Any, **kwargs: Any) -> Any:
        if getattr(func, "__name__", "") == "page_task":
            calls.append((len(items), jobs))
        return real(func, items, jobs, *args, **kwargs)

    monkeypatch.setattr(build_module, "ordered_map", spy)
    edit = build(config, jobs=2)
    assert edit.ok
    [(pages, jobs)] = calls
    assert 0 < pages <= FEW_PAGES and jobs == 1  # rendered here, the index beside
    shutil.copytree(tmp_path / "site", tmp_path / "cold",
                    ignore=shutil.ignore_patterns("output", ".*"))
    cold, diags = load_config(tmp_path / "cold" / "sitegen.yaml")
    assert build(cold, jobs=1, use_cache=False).ok
    assert snapshot(config.output_path) == snapshot(cold.output_path)


def test_ordered_map_keeps_order_and_results() -> None:
    items = list(range(1000))
    assert list(ordered_map(lambda x: x * x, items, jobs=2, chunk=7)) == [x * x for x in items]
    assert list(ordered_map(str, [], jobs=2)) == []


def test_ordered_map_runs_only_a_few_chunks_ahead_of_its_caller() -> None:
    """Results the caller has not taken wait in its process: the workers may not run far
    ahead of a slow caller (at 100,000 reports that was hundreds of megabytes of bodies)."""
    import multiprocessing
    import time

    from sitegen import parallel

    done = multiprocessing.get_context("fork").Value("i", 0)

    def work(x: int) -> int:
        with done.get_lock():
            done.value += 1
        return x

    results = ordered_map(work, list(range(2000)), jobs=2, chunk=10)
    assert next(results) == 0
    time.sleep(1.0)  # ample time for the workers to run through all 2,000 items
    assert done.value <= parallel.AHEAD * 2 * 10  # the chunks handed out, no more
    assert [0, *results] == list(range(2000))
    assert done.value == 2000


def test_two_processes_with_different_hash_seeds_write_the_same_bytes(tmp_path: Path) -> None:
    """Nothing in the output may depend on Python's per-process hash seed (set order)."""
    import os
    import subprocess
    import sys

    shutil.copytree(REPO / "content", tmp_path / "content")
    shutil.copy(REPO / "sitegen.yaml", tmp_path / "sitegen.yaml")
    sums = []
    for seed in ("1", "2"):
        subprocess.run([sys.executable, "-m", "sitegen", "build", "--quiet", "--jobs", "1"],
                       cwd=tmp_path, check=True, env={**os.environ, "PYTHONHASHSEED": seed})
        sums.append(checksums(tmp_path / "output"))
    assert sums[0] == sums[1]


def test_a_background_task_says_when_it_is_ready() -> None:
    import time

    from sitegen.parallel import in_background

    task = in_background(time.sleep, 0.5)
    assert not task.ready()  # still sleeping in its own process
    time.sleep(1.5)
    assert task.ready()
    assert task() is None and task.ready()

    def fail() -> None:
        raise ValueError("from the background")

    failing = in_background(fail)
    try:
        failing()
    except ValueError as exc:
        assert "from the background" in str(exc)
    else:
        raise AssertionError("the task's exception was not raised")


# Standby workers are sent their function by name: these live at module level.
_MADE_AFTER_THE_FORK: list[int] = []


def _square(x: int) -> int:
    return x * x


def _seen_after_the_fork(_: object) -> int:
    return len(_MADE_AFTER_THE_FORK)


def _fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("three")
    return x


def _die(_: object) -> None:
    import os

    os._exit(3)


def test_standby_workers_return_results_in_order_and_were_forked_before_the_work() -> None:
    """The index's writers are forked at the start of a build and sent their documents:
    they hold none of what the build made after (the model), so they copy none of it."""
    from sitegen.parallel import Standby

    with Standby(2) as workers:
        assert len(workers) == 2
        _MADE_AFTER_THE_FORK.extend(range(5))  # "the model", built after the fork
        try:
            squares = workers.map(_square, iter(range(50)))
            seen = workers.map(_seen_after_the_fork, [None, None, None])
            assert squares() == [x * x for x in range(50)]
            assert squares.ready()
            assert seen() == [0, 0, 0]  # the workers do not have it
        finally:
            _MADE_AFTER_THE_FORK.clear()
    with Standby(1) as alone:  # no workers: the map runs here, when it is called
        assert len(alone) == 0
        _MADE_AFTER_THE_FORK.append(1)
        try:
            assert alone.map(_seen_after_the_fork, [None])() == [1]
        finally:
            _MADE_AFTER_THE_FORK.clear()


def test_standby_workers_hand_back_exceptions_and_deaths() -> None:
    import pytest

    from sitegen.parallel import Standby

    with Standby(2) as workers:
        failing = workers.map(_fail_on_three, range(6))
        with pytest.raises(ValueError, match="three"):
            failing()
        assert workers.map(_square, [4])() == [16]  # a worker that raised still works
        with pytest.raises(RuntimeError, match="died"):
            workers.map(_die, [None])()


def _square_and_cube(x: int) -> tuple[int, list[int]]:
    return x * x, [x] * 1000


def test_standby_results_can_be_drained_as_they_come() -> None:
    """``drain`` hands over a part of each result as the results arrive, in input order (the
    index's writers' static search weights, merged while the other segments are written),
    and keeps the rest for the call; a second drain goes on where the first stopped; a
    failure is raised there."""
    import pytest

    from sitegen.parallel import Standby

    with Standby(2) as workers:
        sent = workers.map(_square_and_cube, range(20))
        taken = []
        for part in sent.drain(lambda done: (done[0], done[1])):
            taken.append(part)
            if len(taken) == 5:
                break
        taken.extend(sent.drain(lambda done: (done[0], done[1])))
        assert [part[0] for part in taken] == list(range(20))  # in input order
        assert sent() == [x * x for x in range(20)]  # the rest, in order
        assert list(sent.drain(lambda done: (done, None))) == []  # all drained already
        failing = workers.map(_fail_on_three, range(6))
        with pytest.raises(ValueError, match="three"):
            list(failing.drain(lambda done: (done, None)))
        with pytest.raises(ValueError, match="three"):
            failing()
    with Standby(1) as alone:  # no workers: nothing comes in before the call
        sent = alone.map(_square, range(3))
        assert list(sent.drain(lambda done: (done, None))) == []
        assert sent() == [0, 1, 4]


def test_a_parallel_cold_build_weighs_the_static_search_in_the_index_writers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a cache and workers, a cold build's index writers weigh every report for the
    static search as they analyse it (``report_weights`` is not called): the site equals a
    one-process build without a cache byte for byte, and an edit after it, which updates
    the static postings from the weights the writers packed, equals a cold build."""
    _copies_site(tmp_path / "site")
    config, diags = load_config(tmp_path / "site" / "sitegen.yaml")
    assert diags == []

    def not_here(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("weighed in the main process")

    with monkeypatch.context() as patched:
        patched.setattr(build_module, "report_weights", not_here)
        assert build(config, jobs=2).ok
    shutil.copytree(tmp_path / "site", tmp_path / "cold",
                    ignore=shutil.ignore_patterns("output", ".*"))
    cold, _ = load_config(tmp_path / "cold" / "sitegen.yaml")
    assert build(cold, jobs=1, use_cache=False).ok
    assert snapshot(config.output_path) == snapshot(cold.output_path)
    assert len(list((config.output_path / "_static_search" / "terms").iterdir())) > 3
    for site in (tmp_path / "site", tmp_path / "cold"):  # one word of one report
        report = sorted((site / "content").glob("copies5/*.md"))[4]
        report.write_text(report.read_text(encoding="utf-8").replace(" the ", " a ", 1),
                          encoding="utf-8")
    assert build(config, jobs=2).ok
    shutil.rmtree(cold.output_path)
    assert build(cold, jobs=1, use_cache=False).ok
    assert snapshot(config.output_path) == snapshot(cold.output_path)


def test_ordered_map_renews_its_workers() -> None:
    import os

    pids = list(ordered_map(lambda _: os.getpid(), list(range(400)), jobs=2, chunk=10,
                            renew=2))
    assert len(set(pids)) >= 400 // (10 * 2)  # a new process every two chunks
    assert os.getpid() not in pids


def _sleep(seconds: float) -> None:
    import time

    time.sleep(seconds)


def test_closing_standby_workers_cuts_a_map_short() -> None:
    """A build that fails or is interrupted does not wait for its index's writers."""
    import time

    from sitegen.parallel import Standby

    workers = Standby(2)
    workers.map(_sleep, [30.0] * 4)
    started = time.monotonic()
    workers.close()
    assert time.monotonic() - started < 10
    assert len(workers) == 0


def test_release_memory_gives_freed_heap_pages_back() -> None:
    """After a stage drops large objects their pages leave the process (glibc's malloc_trim),
    not only the top of the heap: here one block in 200 is still alive among them."""
    import subprocess
    import sys

    probe = """
import os
from sitegen.parallel import release_memory, _malloc_trim
assert _malloc_trim() is not None  # glibc, as on every Linux machine this project runs on
def rss():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
blobs = [bytes(2000) + i.to_bytes(4, 'little') for i in range(50_000)]
keep = blobs[::200]
del blobs
held = rss()
release_memory()
print(held - rss())
"""
    if not Path("/proc/self/statm").exists():
        raise AssertionError("this test reads /proc: Linux only")
    freed = int(subprocess.run([sys.executable, "-c", probe], check=True, text=True,
                               capture_output=True, cwd=REPO).stdout)
    assert freed > 50 * 2**20  # of about 100 MiB freed by Python but held by the heap


def _freeze_count(_: object) -> int:
    import gc

    return gc.get_freeze_count()


def test_workers_inherit_this_process_frozen_and_it_is_unfrozen_after() -> None:
    """Workers are forked with the objects of this process frozen out of the garbage
    collector's reach (a collection there would copy every page it scanned), and this
    process collects them again once its workers are started."""
    import gc

    from sitegen.parallel import Standby

    with Standby(2) as workers:
        assert gc.get_freeze_count() == 0
        assert all(n > 1000 for n in workers.map(_freeze_count, range(4))())
    pooled = list(ordered_map(_freeze_count, list(range(8)), 2, chunk=2))
    assert gc.get_freeze_count() == 0
    assert all(n > 1000 for n in pooled)
