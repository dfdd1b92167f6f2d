"""The only module that creates, swaps or deletes the output folder.

A build writes into a sibling staging folder (same filesystem). ``Staging.commit`` then
exchanges it with ``output/`` in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``), so a
reader or a crash never sees half a site; where the exchange is unavailable it falls back to
two renames. A failed or aborted build deletes its staging folder and leaves ``output/``
untouched. Writes refuse paths outside the staging folder and files written twice.

After an exchange the staging folder holds the previous site. Rather than deleting it, it
is kept as ``.output.spare`` and becomes the next build's staging folder (double
buffering): its folders already exist, and a file that is still the same inode as the live
(unchanged) file needs nothing at all. Nothing in it is trusted: a file is kept only when it
is that inode, and what the build did not claim is deleted before the swap.

A file of the spare that the build writes anew is rewritten in place only when nothing else
can see it change: it is a regular file with no other link (so not the live site's inode)
and no other open descriptor, which the kernel confirms by granting a write lease
(``F_SETLEASE``; it also holds back anyone opening the file until the write is done). A
reader that opened it while it was live (a server's cached descriptor, a download in
flight) keeps the old bytes, because then the file is unlinked and a new one written, as
everywhere leases are unavailable. Reusing the inode matters: on ext4 mounted with
``discard`` an unlink waits for the freed blocks to be trimmed, and unlinking and creating
13,000 pages cost 170-190 us a page against 26-29 us rewritten (measured, 30 KB files).
Leases notify their holder with SIGIO, whose default action ends the process, so they are
used only while SIGIO is ignored (the CLI ignores it; see ``ignore_lease_breaks``).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import shutil
import signal
import stat as stat_module
import sys
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath

from sitegen.diagnostics import Diagnostic, error
from sitegen.files import OutputFile

try:
    from fcntl import fcntl as fcntl_call
except ImportError:  # not POSIX: no leases, files are always written anew
    fcntl_call = None  # type: ignore[assignment]

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_F_SETLEASE = 1024 if sys.platform.startswith("linux") and fcntl_call is not None else None
_F_WRLCK, _F_UNLCK = 1, 2  # fcntl's lock types, which a lease takes too
_SIGIO = getattr(signal, "SIGIO", None)
# drop_replaced: threads, files a thread takes at a time, and the fewest files worth threads
_DROP_THREADS, _DROP_CHUNK, _DROP_THREADED_MIN = 8, 128, 512
_DROP_SAMPLE = 32  # files looked at first: threads only if half of them are to be dropped


class OutputError(Exception):
    """A problem writing the site; the message names the path."""


def check_output_dir(output: Path, content: Path, root: Path) -> list[Diagnostic]:
    """Refuse output folders that a swap would destroy something precious with."""
    out = output.resolve()
    src = content.resolve()
    problems = []
    if out == Path(out.anchor):
        problems.append("is the filesystem root")
    if out == Path.home().resolve():
        problems.append("is your home folder")
    if out == src:
        problems.append("is the content folder")
    elif src.is_relative_to(out):
        problems.append("contains the content folder")
    elif out.is_relative_to(src):
        problems.append("is inside the content folder")
    if out == root.resolve():
        problems.append("is the site root")
    return [error("output.unsafe", str(output), f"refusing to use this output folder: it "
                  f"{p}; choose a dedicated folder such as output/") for p in problems]


def safe_relpath(relpath: str) -> PurePosixPath | None:
    """A normalised relative path, or None when it would escape the output folder."""
    if not relpath or "\\" in relpath or "\x00" in relpath:
        return None
    path = PurePosixPath(relpath)
    if path.is_absolute() or any(part in ("..", "") for part in path.parts):
        return None
    return path


def _posix_relpath(relpath: str) -> str | None:
    """``safe_relpath(relpath)`` as a string; a path already in normal form (the usual
    case) is checked without building a path object."""
    if relpath and "\\" not in relpath and "\x00" not in relpath and relpath[0] != "/" \
            and relpath[-1] != "/":
        parts = relpath.split("/")
        if "" not in parts and "." not in parts and ".." not in parts:
            return relpath
    rel = safe_relpath(relpath)
    return None if rel is None else rel.as_posix()


class Staging:
    """A staging folder beside ``output`` that becomes ``output`` on commit."""

    def __init__(self, output: Path) -> None:
        self.output = output.absolute()
        for folder in (self.output.parent, *self.output.parent.parents):
            if folder.exists() and not folder.is_dir():  # mkdir would only say "File exists"
                raise OutputError(f"{folder} is a file, not a folder")
        self.output.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(self.output)
        self.path = self.output.parent / f".{self.output.name}.staging-{os.getpid()}-" \
                                          f"{uuid.uuid4().hex[:8]}"
        self.spare = self.output.parent / f".{self.output.name}.spare"
        self.recycled = _take_spare(self.spare, self.path)
        if not self.recycled:
            self.path.mkdir()
        self._output, self._path = str(self.output), str(self.path)  # joined per file
        self.written: dict[str, str] = {}  # relpath -> origin
        self.bytes_written = 0
        self.reused = 0  # files hard-linked from the live output (see reuse)
        self._folders: set[str] = {"."}
        self._handed: set[str] = set()  # folders given to other writers (subdir)

    def _claim(self, relpath: str, origin: str) -> PurePosixPath:
        rel = safe_relpath(relpath)
        if rel is None:
            raise OutputError(f"{origin or relpath}: refusing to write {relpath!r}: it is "
                              "outside the output folder")
        key = rel.as_posix()
        if key in self.written:
            raise OutputError(f"two pages would be written to {key}: {self.written[key]} and "
                              f"{origin}")
        self.written[key] = origin
        return rel

    def _parent(self, rel: PurePosixPath) -> Path:
        folder = self.path.joinpath(*rel.parts[:-1])
        if rel.parent.as_posix() not in self._folders:
            _make_folder(self.path, folder)
            self._folders.add(rel.parent.as_posix())
        return folder

    def write(self, file: OutputFile) -> os.stat_result:
        """Write one file; returns its ``stat`` (which the build cache records)."""
        rel = self._claim(file.relpath, file.origin)
        target = self._parent(rel) / rel.name
        stat = _write_new(target, file.data, self.recycled)
        self.bytes_written += len(file.data)
        return stat

    def claim(self, relpath: str, origin: str) -> None:
        """Reserve ``relpath`` for ``write_claimed`` or ``link_claimed``."""
        key = _posix_relpath(relpath)
        if key is None or key in self.written:
            self._claim(relpath, origin)  # raises, saying why
            return
        self.written[key] = origin

    def _claimed(self, relpath: str) -> str:
        """The staging path of a claimed ``relpath`` (a string: asked of every page)."""
        rel = _posix_relpath(relpath)
        if rel is None or rel not in self.written:
            raise OutputError(f"{relpath!r} was not claimed in the staging folder")
        return f"{self.path}/{rel}"

    def write_claimed(self, file: OutputFile) -> os.stat_result:
        """Write a file whose path was claimed. It changes nothing in this object, so forked
        workers may call it (the parent counts the bytes from the returned stat)."""
        target = Path(self._claimed(file.relpath))
        try:
            return _write_new(target, file.data, self.recycled)
        except (FileNotFoundError, NotADirectoryError):
            _make_folder(self.path, target.parent)
            return _write_new(target, file.data, self.recycled)

    def _unchanged_live(self, relpath: str, unchanged: Callable[[os.stat_result], bool],
                        ) -> tuple[str, os.stat_result] | None:
        """The live output's regular file at ``relpath`` and its stat, if ``unchanged(its
        stat)``. (Strings, not paths: a build asks this of every page.)"""
        rel = _posix_relpath(relpath)
        if rel is None:
            return None
        live = f"{self.output}/{rel}"
        try:
            stat = os.lstat(live)
        except OSError:
            return None
        return (live, stat) if stat_module.S_ISREG(stat.st_mode) and unchanged(stat) else None

    def link_claimed(self, relpath: str, unchanged: Callable[[os.stat_result], bool]) -> bool:
        """``reuse`` for a claimed path, from a forked worker (the parent counts it)."""
        found = self._linkable(relpath, unchanged)
        if found is None:
            return False
        live, target, live_stat = found
        if self.recycled:
            held = _held(target)
            if held == (live_stat.st_ino, live_stat.st_dev):
                return True  # the spare already holds this very file
            if held is not None:
                _remove(Path(target))
        try:
            try:
                os.link(live, target)
            except (FileNotFoundError, NotADirectoryError):
                _make_folder(self.path, Path(target).parent)
                os.link(live, target)
        except OSError:  # another filesystem, or links not allowed: write it after all
            return False
        return True

    def _linkable(self, relpath: str, unchanged: Callable[[os.stat_result], bool],
                  ) -> tuple[str, str, os.stat_result] | None:
        """(live path, staging path, live stat) of a claimed ``relpath`` whose live file is
        a regular file and ``unchanged(its stat)``, else None."""
        if relpath in self.written:  # claimed in normal form: checked when it was claimed
            live, target = f"{self._output}/{relpath}", f"{self._path}/{relpath}"
            try:
                live_stat = os.lstat(live)
            except OSError:
                return None
            if not stat_module.S_ISREG(live_stat.st_mode) or not unchanged(live_stat):
                return None
            return live, target, live_stat
        found = self._unchanged_live(relpath, unchanged)
        if found is None:
            return None
        return found[0], self._claimed(relpath), found[1]

    def drop_replaced(self, items: Sequence[tuple[str, Callable[[os.stat_result], bool]]],
                      ) -> None:
        """Before ``link_claimed`` is asked of each ``(relpath, unchanged)``: unlink, over
        threads, the older site's files at those claimed paths that it would replace by a
        link to an unchanged live file. Only a speed-up (``link_claimed`` does the same, one
        file at a time): after a theme change every page of the older site goes this way,
        and each unlink waits for the filesystem (on a ``discard`` mount, for the freed
        blocks to be trimmed) without holding the GIL."""
        if not self.recycled or len(items) < _DROP_THREADED_MIN:
            return

        def replaced(relpath: str, unchanged: Callable[[os.stat_result], bool]) -> str | None:
            """The staging path ``link_claimed`` would unlink for this item, if any."""
            found = self._linkable(relpath, unchanged) if relpath in self.written else None
            if found is None:
                return None
            _, target, live_stat = found
            held = _held(target)
            return target if held not in (None, (live_stat.st_ino, live_stat.st_dev)) else None

        # In most builds the older site already holds the live files (nothing to drop): a
        # sample tells, before every file is looked at twice
        sample = items[:: max(1, len(items) // _DROP_SAMPLE)][:_DROP_SAMPLE]
        if sum(replaced(*item) is not None for item in sample) * 2 < len(sample):
            return

        def drop(chunk: Sequence[tuple[str, Callable[[os.stat_result], bool]]]) -> None:
            for item in chunk:
                target = replaced(*item)
                if target is not None:
                    _remove(Path(target))

        step = _DROP_CHUNK
        with ThreadPoolExecutor(_DROP_THREADS) as pool:
            list(pool.map(drop, [items[i:i + step] for i in range(0, len(items), step)]))

    def reuse(self, relpath: str, origin: str, unchanged: Callable[[os.stat_result], bool],
              ) -> bool:
        """Hard-link ``relpath`` from the live output folder instead of writing it, if that
        file exists and ``unchanged(its stat)`` (the build cache knows the file it wrote
        there). The live folder is not modified; the link shares the file's bytes."""
        if self._unchanged_live(relpath, unchanged) is None:
            return False
        key = self._claim(relpath, origin).as_posix()
        if not self.link_claimed(relpath, lambda _stat: True):
            del self.written[key]
            return False
        self.reused += 1
        return True

    def write_all(self, files: Iterable[OutputFile]) -> None:
        for file in files:
            self.write(file)

    def copy_tree(self, source: Path, dest: str) -> int:
        """Copy a folder's files under ``dest`` (files already written are kept: the first
        theme in the chain wins). Returns the number of files copied."""
        copied = 0
        for path in sorted(source.rglob("*")):
            if not path.is_file() or any(p.startswith(".") for p in path.relative_to(source).parts):
                continue
            rel = f"{dest}/{path.relative_to(source).as_posix()}"
            if rel in self.written:
                continue
            self.written[rel] = str(path)
            target = self.path / rel
            _make_folder(self.path, target.parent)
            _remove(target)
            shutil.copyfile(path, target)
            copied += 1
        return copied

    def reuse_all(self, files: dict[str, Callable[[os.stat_result], bool]], origin: str) -> bool:
        """``reuse`` for a whole set of files, or for none of them: False (and nothing
        linked) unless every file is there unchanged."""
        for relpath, unchanged in files.items():
            rel = safe_relpath(relpath)
            if rel is None or rel.as_posix() in self.written or self._unchanged_live(
                    relpath, unchanged) is None:
                return False
        done: list[str] = []
        for relpath in files:
            if not self.reuse(relpath, origin, lambda _stat: True):
                for linked in done:  # undo: the caller writes the whole set instead
                    del self.written[linked]
                    (self.path / linked).unlink()
                    self.reused -= 1
                return False
            done.append(relpath)
        return True

    def subdir(self, name: str) -> Path:
        """A folder inside the staging area handed to another writer (the search index)."""
        rel = safe_relpath(name)
        if rel is None:
            raise OutputError(f"refusing folder name {name!r}")
        target = self.path.joinpath(*rel.parts)
        if self.recycled:
            _remove(target)
        _make_folder(self.path, target)
        self._handed.add(rel.as_posix())
        return target

    def prune(self) -> int:
        """Delete what a recycled staging folder holds that this build did not write: files
        and links not claimed (outside the folders handed to other writers) and the folders
        left empty. One pass over the tree. Returns the number of files deleted."""
        if not self.recycled:
            return 0
        return self._prune(self._path, "")[0]

    def _prune(self, folder: str, prefix: str) -> tuple[int, bool]:
        """(files deleted, whether ``folder`` is now empty)."""
        deleted, kept = 0, False
        with os.scandir(folder) as entries:
            listed = list(entries)
        for entry in listed:
            rel = prefix + entry.name
            if entry.is_dir(follow_symlinks=False):
                if rel in self._handed:
                    kept = True
                    continue
                gone, empty = self._prune(entry.path, rel + "/")
                deleted += gone
                if empty:
                    try:
                        Path(entry.path).rmdir()
                        continue
                    except OSError:
                        pass
                kept = True
            elif rel in self.written:
                kept = True
            else:
                Path(entry.path).unlink()
                deleted += 1
        return deleted, not kept

    def commit(self) -> None:
        """Make the staging folder the new ``output`` atomically; the old site becomes the
        spare folder the next build starts from."""
        self.prune()
        os.chmod(self.path, 0o755)
        if self.output.is_symlink() or (self.output.exists() and not self.output.is_dir()):
            raise OutputError(f"{self.output} exists and is not a folder; move it away")
        if not self.output.exists():
            os.replace(self.path, self.output)
            return
        if _exchange(self.path, self.output):
            try:  # now holds the old site
                self.path.rename(self.spare)
            except OSError:  # another build left a spare meanwhile
                shutil.rmtree(self.path, ignore_errors=True)
            return
        old = self.output.parent / f".{self.output.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(self.output, old)
        os.replace(self.path, self.output)
        shutil.rmtree(old, ignore_errors=True)

    def abort(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def _take_spare(spare: Path, path: Path) -> bool:
    """Move the spare folder (the site before the live one) to ``path``; False if there is
    none (or it is not a plain folder, which is then deleted)."""
    try:
        spare.rename(path)
    except OSError:
        return False
    try:
        st = os.lstat(path)
    except OSError:
        return False
    if stat_module.S_ISDIR(st.st_mode) and st.st_uid == os.getuid():
        return True
    _remove(path)
    return False


def _held(path: str) -> tuple[int, int] | None:
    """(inode, device) of what is at ``path`` (not following a link), or None if nothing."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return st.st_ino, st.st_dev


def _remove(path: Path) -> None:
    """Delete a file, link or folder at ``path`` if there is one (never following links)."""
    try:
        path.unlink()
    except (FileNotFoundError, NotADirectoryError):
        return
    except (IsADirectoryError, PermissionError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            raise


def _make_folder(root: Path, folder: Path) -> None:
    """``mkdir -p`` inside ``root``, deleting a file (left by an older site) in the way."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return
    except (FileExistsError, NotADirectoryError):
        pass
    rel = folder.relative_to(root)
    current = root
    for part in rel.parts:
        current = current / part
        if not current.is_dir() or current.is_symlink():
            _remove(current)
            current.mkdir()


def ignore_lease_breaks() -> None:
    """Ignore SIGIO in this process (and the workers it forks), which lets a recycled staging
    folder rewrite unshared files in place (see the module doc). For programs that do not
    use SIGIO themselves: the CLI calls it; ``build()`` alone never changes a signal."""
    if _SIGIO is not None:
        with contextlib.suppress(ValueError):  # not the main thread: leave it as it is
            signal.signal(_SIGIO, signal.SIG_IGN)


def _write_new(target: Path, data: bytes, recycled: bool = True) -> os.stat_result:
    """Write ``data`` at ``target`` so that no other path or reader sees the file change:
    rewritten in place if nothing shares it, else whatever is there is unlinked first and a
    new file written; its stat after the write. ``recycled``: ``target`` may hold a file of
    an older site (else the file is created where nothing is expected, and only what is
    found there after all is removed first). A missing folder raises FileNotFoundError."""
    if recycled:
        if _rewrite_unshared(str(target), data):
            return target.stat()
    else:
        created = _create(str(target), data)
        if created is not None:
            return created
    _remove(target)
    target.write_bytes(data)
    return target.stat()


def _create(target: str, data: bytes) -> os.stat_result | None:
    """Create the file ``target`` with ``data`` (``O_EXCL``: never through a link or over
    another file) and give its stat; None if something is there already. In a fresh staging
    folder (a cold build's 17,000 files at 10,000 reports) this is one open, the writes, one
    fstat and one close, where an unlink that finds nothing, a buffered write and a stat by
    path cost two more system calls and two Python path objects a file."""
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    except FileExistsError:
        return None
    try:
        _write_fd(fd, data)
        return os.fstat(fd)
    finally:
        os.close(fd)


def _write_fd(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd`` (``os.write`` may write part of it)."""
    view, done = memoryview(data), 0
    while done < len(data):
        done += os.write(fd, view[done:])


_NO_LEASES: set[int] = set()  # devices whose filesystem refused a lease as unsupported


def _rewrite_unshared(target: str, data: bytes) -> bool:
    """Overwrite the regular file at ``target`` with ``data`` if it has one link and no other
    open descriptor, under a write lease; False (nothing changed) if it is anything else,
    shared, or leases are unavailable here."""
    if _F_SETLEASE is None or _SIGIO is None or signal.getsignal(_SIGIO) != signal.SIG_IGN:
        return False
    try:
        seen = os.lstat(target)  # no open() of a FIFO or device left in an old site
    except OSError:
        return False
    if not stat_module.S_ISREG(seen.st_mode) or seen.st_nlink != 1 or \
            seen.st_dev in _NO_LEASES:
        return False
    try:
        fd = os.open(target, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        now = os.fstat(fd)
        if (now.st_ino, now.st_dev) != (seen.st_ino, seen.st_dev) or now.st_nlink != 1:
            return False
        try:
            fcntl_call(fd, _F_SETLEASE, _F_WRLCK)  # EAGAIN: someone else has it open
        except OSError as exc:
            if exc.errno in (errno.EINVAL, errno.ENOLCK, errno.ENOSYS):
                _NO_LEASES.add(seen.st_dev)  # this filesystem has none: not asked again
            return False
        try:
            view, done = memoryview(data), 0
            while done < len(data):
                done += os.pwrite(fd, view[done:], done)
            if len(data) < now.st_size:  # a longer page has grown the file already
                os.ftruncate(fd, len(data))
        finally:
            with contextlib.suppress(OSError):
                fcntl_call(fd, _F_SETLEASE, _F_UNLCK)
        return True
    finally:
        os.close(fd)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with renameat2(RENAME_EXCHANGE); False if unsupported."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EXDEV):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _remove_stale(output: Path) -> None:
    """Delete staging folders left by builds that were killed."""
    for path in output.parent.glob(f".{output.name}.staging-*"):
        pid = path.name.rsplit("-", 2)[1] if path.name.count("-") >= 2 else ""
        if pid.isdigit() and _alive(int(pid)) and int(pid) != os.getpid():
            continue
        shutil.rmtree(path, ignore_errors=True)
    for path in output.parent.glob(f".{output.name}.old-*"):
        if output.exists():
            shutil.rmtree(path, ignore_errors=True)
        else:  # a crash between the two fallback renames: put the old site back
            os.replace(path, output)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
