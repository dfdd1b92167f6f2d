"""Writing into a recycled staging folder (sitegen.output): a file of the older site is
rewritten in place only when no other path and no other reader can see it change."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, snapshot
from test_incremental import cold, copy_sample, run

from sitegen import output

F_SETLEASE, F_WRLCK, F_UNLCK = 1024, 1, 2

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGIO"), reason="POSIX only")


@pytest.fixture
def sigio_ignored() -> Iterator[None]:
    """SIGIO ignored, as the CLI leaves it (``ignore_lease_breaks``)."""
    before = signal.getsignal(signal.SIGIO)
    output.ignore_lease_breaks()
    try:
        yield
    finally:
        signal.signal(signal.SIGIO, before)


def leases_granted(folder: Path) -> bool:
    """Whether this kernel and filesystem grant a write lease on a file of ``folder``
    (asked here, not of sitegen.output)."""
    probe = folder / ".lease-probe"
    probe.write_bytes(b"x")
    fd = os.open(probe, os.O_RDWR)
    try:
        fcntl.fcntl(fd, F_SETLEASE, F_WRLCK)
    except OSError:
        return False
    else:
        fcntl.fcntl(fd, F_SETLEASE, F_UNLCK)
        return True
    finally:
        os.close(fd)
        probe.unlink()


def test_an_unshared_file_is_rewritten_in_place(tmp_path: Path, sigio_ignored: None) -> None:
    page = tmp_path / "index.html"
    page.write_bytes(b"<p>an older site's page, longer than the new one</p>")
    inode = page.stat().st_ino
    output._write_new(page, b"<p>new</p>")
    assert page.read_bytes() == b"<p>new</p>"  # the old tail is cut off
    if leases_granted(tmp_path):
        assert page.stat().st_ino == inode
    output._write_new(page, b"<p>newer, and longer than the one before</p>")
    assert page.read_bytes() == b"<p>newer, and longer than the one before</p>"


def test_a_file_open_elsewhere_is_replaced_and_its_reader_keeps_the_old_bytes(
        tmp_path: Path, sigio_ignored: None) -> None:
    page = tmp_path / "index.html"
    page.write_bytes(b"old bytes")
    inode = page.stat().st_ino
    with page.open("rb") as reader:  # a server's cached descriptor, a download in flight
        output._write_new(page, b"new bytes, longer")
        assert reader.read() == b"old bytes"
    assert page.read_bytes() == b"new bytes, longer"
    assert page.stat().st_ino != inode


def test_a_file_with_another_link_is_replaced_and_the_link_keeps_the_old_bytes(
        tmp_path: Path, sigio_ignored: None) -> None:
    live = tmp_path / "live.html"  # the live site's file, linked into the spare
    live.write_bytes(b"live page")
    page = tmp_path / "index.html"
    os.link(live, page)
    output._write_new(page, b"rendered again")
    assert live.read_bytes() == b"live page"
    assert page.read_bytes() == b"rendered again"
    assert page.stat().st_ino != live.stat().st_ino


def test_a_link_or_a_fifo_in_the_old_site_is_replaced_not_opened(
        tmp_path: Path, sigio_ignored: None) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"outside")
    link = tmp_path / "feed.xml"
    link.symlink_to(outside)
    output._write_new(link, b"<feed/>")
    assert not link.is_symlink() and link.read_bytes() == b"<feed/>"
    assert outside.read_bytes() == b"outside"
    fifo = tmp_path / "page.html"
    os.mkfifo(fifo)
    output._write_new(fifo, b"<p>page</p>")  # would block forever if it were opened
    assert fifo.is_file() and fifo.read_bytes() == b"<p>page</p>"


def test_without_sigio_ignored_no_lease_is_taken(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A lease break signals its holder with SIGIO, which would end the process: with the
    default disposition the file is written anew and no lease is asked for."""
    calls: list[tuple[int, ...]] = []
    monkeypatch.setattr(output, "fcntl_call", lambda *args: calls.append(args))
    before = signal.signal(signal.SIGIO, signal.SIG_DFL)
    try:
        page = tmp_path / "index.html"
        page.write_bytes(b"old")
        output._write_new(page, b"new")
        assert page.read_bytes() == b"new"
        assert calls == []
        output.ignore_lease_breaks()
        output._write_new(page, b"newer")
        assert page.read_bytes() == b"newer"
        assert calls and calls[0][1:] == (F_SETLEASE, F_WRLCK)
    finally:
        signal.signal(signal.SIGIO, before)


def edit_theme(root: Path, n: int) -> None:
    base = root / "themes/default/templates/base.html"
    if not base.exists():
        base.parent.mkdir(parents=True)
        shutil.copy(REPO / "themes/default/templates/base.html", base)
    text = base.read_text(encoding="utf-8")
    base.write_text(text.replace("</body>", f"<!-- theme edit {n} -->\n</body>", 1),
                    encoding="utf-8")


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_theme_change_rewrites_the_older_site_in_place_but_not_what_is_open(
        tmp_path: Path, sigio_ignored: None, jobs: int) -> None:
    """Two theme changes in a row: the second build writes every page into the site before
    last, whose pages are no longer linked from the live one. Pages nobody holds open are
    rewritten in place; those a reader opened while they were live are new files, and the
    reader keeps its bytes. The output equals a cold build's either way."""
    root = copy_sample(tmp_path / "site")
    run(root)
    edit_theme(root, 1)
    run(root)
    spare = root / ".output.spare"
    pages = sorted((spare / "reports").rglob("index.html"))
    assert all(p.stat().st_nlink == 1 for p in pages)  # not shared with the live site
    inodes = {p.relative_to(spare): p.stat().st_ino for p in pages}
    held = pages[:3]
    with contextlib.ExitStack() as stack:
        readers = [stack.enter_context(p.open("rb")) for p in held]
        before = [r.read() for r in readers]
        edit_theme(root, 2)
        run(root, jobs=jobs)
        for reader, old in zip(readers, before, strict=True):
            reader.seek(0)
            assert reader.read() == old
            assert b"theme edit" not in old  # the site before the first change
    live = root / "output"
    assert all(b"theme edit 2" in (live / rel).read_bytes() for rel in inodes)
    for p in held:
        assert (live / p.relative_to(spare)).stat().st_ino != inodes[p.relative_to(spare)]
    if leases_granted(tmp_path):
        kept = [rel for rel in inodes if spare / rel not in held]
        assert kept and all((live / rel).stat().st_ino == inodes[rel] for rel in kept)
    assert snapshot(live) == cold(root, tmp_path)


def test_the_build_after_a_theme_change_links_every_page_the_same_over_threads(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The build after a theme change links every page from the live site, replacing each of
    the older site's files (``drop_replaced`` unlinks them over threads first; the sample
    is below its threshold, so the threshold is lowered). A page whose live file was
    tampered with is rendered again, not linked; the output equals a cold build's."""
    monkeypatch.setattr(output, "_DROP_THREADED_MIN", 1)
    monkeypatch.setattr(output, "_DROP_CHUNK", 3)
    dropped: list[str] = []  # what threads other than this one unlinked
    remove = output._remove

    def spy(path: Path) -> None:
        if threading.current_thread() is not threading.main_thread():
            dropped.append(str(path))
        remove(path)

    monkeypatch.setattr(output, "_remove", spy)
    root = copy_sample(tmp_path / "site")
    run(root)
    edit_theme(root, 1)
    run(root)
    live = root / "output"
    pages = sorted(live.rglob("*.html"))
    tampered = pages[5]
    tampered.write_bytes(tampered.read_bytes().replace(b"</body>", b"<!-- by hand --></body>"))
    spare = root / ".output.spare"
    old_inodes = {p.relative_to(live): (spare / p.relative_to(live)).stat().st_ino
                  for p in pages}
    dropped.clear()
    result = run(root, jobs=2)
    assert result.stats.reused >= len(pages) - 1
    assert len(set(dropped)) == len(pages) - 1  # all but the tampered page's
    for page in pages:
        rel = page.relative_to(live)
        if page == tampered:
            assert b"by hand" not in page.read_bytes()  # rendered again, not linked
            continue
        assert page.stat().st_nlink == 2  # linked: the same file as the spare's
        assert (spare / rel).stat().st_ino == page.stat().st_ino != old_inodes[rel]
    assert snapshot(live) == cold(root, tmp_path)


def test_a_fresh_staging_file_is_created_and_its_stat_given(tmp_path: Path) -> None:
    """In a fresh staging folder (``recycled=False``) a file is created where nothing is
    expected and the stat returned is the file's; whatever is found there after all (a
    file, a link, a FIFO) is replaced, never written through, and a missing folder is the
    caller's to make."""
    page = tmp_path / "page.html"
    stat = output._write_new(page, b"<p>page</p>", recycled=False)
    assert page.read_bytes() == b"<p>page</p>"
    assert (stat.st_ino, stat.st_size, stat.st_mtime_ns) == (
        page.stat().st_ino, 11, page.stat().st_mtime_ns)
    old_inode = stat.st_ino
    stat = output._write_new(page, b"<p>again</p>", recycled=False)
    assert page.read_bytes() == b"<p>again</p>" and stat.st_size == 12
    assert stat.st_ino == page.stat().st_ino
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"outside")
    link = tmp_path / "feed.xml"
    link.symlink_to(outside)
    output._write_new(link, b"<feed/>", recycled=False)
    assert not link.is_symlink() and link.read_bytes() == b"<feed/>"
    assert outside.read_bytes() == b"outside"
    fifo = tmp_path / "fifo.html"
    os.mkfifo(fifo)
    output._write_new(fifo, b"<p>page</p>", recycled=False)
    assert fifo.is_file() and fifo.read_bytes() == b"<p>page</p>"
    with pytest.raises(FileNotFoundError):
        output._write_new(tmp_path / "missing" / "index.html", b"x", recycled=False)
    assert old_inode  # the first file had an inode of its own
