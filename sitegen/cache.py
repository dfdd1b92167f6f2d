"""The build cache: what earlier builds computed, reused when the inputs are the same.

It lives in its own folder (``cache_dir``, default ``.sitegen-cache/`` in the site root),
never inside ``output/``, and holds:

``cache.sqlite`` (stdlib SQLite, one transaction per build)
    ``meta``: the cache format, sitegen's version and a hash of its code, Python's version
    and the site root. Any mismatch
    means a foreign cache: it is discarded with a warning and the build starts afresh.
    ``docs``: per report, keyed by a hash of its path, its bytes and the settings that
    affect parsing and Markdown (``doc_key``): the parsed front matter (without the
    Markdown), its diagnostics and the rendered body's table of contents and word count.
    ``bodies``: the rendered body's HTML and plain text, same key. They are not loaded with
    the reports: the model holds ``StoredBody`` values that read them when a page, the
    search index or a feed asks (``BodyReader``), so a build never holds every body at once.
    Each value carries a BLAKE2 checksum and is unpickled with an
    allow-list of classes, so a corrupted or tampered entry is detected, never trusted.
    ``files``: per output file, the fingerprint of the inputs it was made from and the
    ``stat`` of the file written (size, mtime, inode). An unchanged page whose file in
    ``output/`` still has that stat is hard-linked into the next build, not re-rendered.
``whoosh/``
    The search index, updated document by document (``sitegen.search.index.update_index``)
    and hard-linked into each new output.

A cache that cannot be opened or read (not a database, a bad checksum, a class outside the
allow-list) is deleted and rebuilt, with a ``cache.discarded`` warning; the build is then a
cold build and its output is the same.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import importlib
import io
import json
import os
import pickle
import shutil
import sqlite3
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sitegen import __version__
from sitegen.diagnostics import Diagnostic, warning

FORMAT = "3"
DB_NAME = "cache.sqlite"
INDEX_DIR = "whoosh"
_CHECKSUM = 16
_BATCH = 256  # report entries per write
_BATCH_BYTES = 8 << 20  # ... or this many bytes of new memo entries, whichever comes first

# What a cached value may contain: the classes of a parsed report, its diagnostics and its
# rendered body, and the standard types of YAML values. Anything else is refused.
_ALLOWED = {
    ("sitegen.content", "ReportMeta"), ("sitegen.content", "SourceDoc"),
    ("sitegen.model", "RenderedBody"), ("sitegen.model", "Heading"),
    ("sitegen.diagnostics", "Diagnostic"), ("sitegen.diagnostics", "Severity"),
    ("sitegen.yamlutil", "Mark"), ("sitegen.yamlutil", "Marks"), ("sitegen.cache", "_frozen"),
    ("datetime", "datetime"), ("datetime", "date"), ("datetime", "time"),
    ("datetime", "timedelta"), ("datetime", "timezone"), ("zoneinfo", "ZoneInfo"),
    ("zoneinfo._zoneinfo", "ZoneInfo"),
    ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "bytearray"),
    ("copyreg", "_reconstructor"), ("builtins", "object"), ("builtins", "getattr"),
}


@functools.cache
def code_digest() -> str:
    """A hash of sitegen's own source files: a cache made by other code is foreign even
    under the same version number (a development checkout, an install from a commit
    between releases), since what an entry means can change with the code."""
    h = hashlib.blake2b(digest_size=8)
    package = Path(__file__).resolve().parent
    for path in sorted(package.rglob("*.py")):
        h.update(path.relative_to(package).as_posix().encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()


class CacheCorrupt(Exception):
    """A cache entry failed its checksum or held something outside the allow-list."""


def _frozen(items: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    return MappingProxyType(items)


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, MappingProxyType):
            return _frozen, (dict(obj),)
        cls = type(obj)
        names = _INIT_FIELDS.get(cls)
        if names is None:
            names = _INIT_FIELDS[cls] = _init_fields(cls)
        if names:  # rebuilt by its __init__: twice as fast to load as dataclasses' __setstate__
            return cls, tuple(getattr(obj, name) for name in names)
        return NotImplemented


_INIT_FIELDS: dict[type, tuple[str, ...]] = {}


def _init_fields(cls: type) -> tuple[str, ...]:
    """The fields of an allowed dataclass whose __init__ takes them all, in order; else ()."""
    if (cls.__module__, cls.__qualname__) not in _ALLOWED or not dataclasses.is_dataclass(cls):
        return ()
    found = dataclasses.fields(cls)
    if any(not f.init or f.kw_only for f in found):
        return ()
    return tuple(f.name for f in found)


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise CacheCorrupt(f"refusing to load {module}.{name} from the cache")
        return _allowed_class(module, name)


@functools.cache
def _allowed_class(module: str, name: str) -> Any:
    """One of the ``_ALLOWED`` globals, imported once: a build loads 10,000s of entries,
    eight globals each."""
    return getattr(importlib.import_module(module), name)


def dumps(value: Any) -> bytes:
    """``value`` pickled, behind a checksum."""
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    data = buffer.getvalue()
    return hashlib.blake2b(data, digest_size=_CHECKSUM).digest() + data


def loads(blob: bytes) -> Any:
    """The value ``dumps`` stored; ``CacheCorrupt`` if the bytes were changed."""
    checksum, data = blob[:_CHECKSUM], blob[_CHECKSUM:]
    if len(checksum) != _CHECKSUM or hashlib.blake2b(
            data, digest_size=_CHECKSUM).digest() != checksum:
        raise CacheCorrupt("a cache entry failed its checksum")
    try:
        return _Unpickler(io.BytesIO(data)).load()
    except CacheCorrupt:
        raise
    except Exception as exc:
        raise CacheCorrupt(f"a cache entry could not be read: {exc}") from exc


def digest(*parts: bytes | str) -> bytes:
    """A 16-byte BLAKE2 hash of the parts (length-prefixed, so parts cannot run together)."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        data = part.encode("utf-8", "surrogatepass") if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.digest()


@dataclass(frozen=True, slots=True)
class FileRecord:
    """An output file as the last build wrote it: the fingerprint of its inputs and the
    ``stat`` of the file, which must still match for the file to be reused."""

    fingerprint: bytes
    size: int
    mtime_ns: int
    inode: int
    site_fields: tuple[str, ...] = ()  # the site-wide totals the page read (render.SITE_TOTALS)

    def matches(self, stat: os.stat_result) -> bool:
        return (stat.st_size, stat.st_mtime_ns, stat.st_ino) == (
            self.size, self.mtime_ns, self.inode)


class BuildCache:
    """The cache folder of one site. Use ``BuildCache.open``; ``None`` as a cache means the
    build runs without one."""

    def __init__(self, folder: Path, db: sqlite3.Connection) -> None:
        self.folder = folder
        self._db = db
        self.files: dict[str, FileRecord] = {
            relpath: FileRecord(fp, size, mtime, ino, tuple(filter(None, used.split(","))))
            for relpath, fp, size, mtime, ino, used in db.execute(
                "SELECT relpath, fingerprint, size, mtime_ns, inode, site_fields FROM files")}
        self._new_docs: list[tuple[bytes, bytes]] = []
        self._new_bodies: list[tuple[bytes, bytes]] = []
        self._reader = BodyReader(folder / DB_NAME)
        self._new_memo: list[tuple[bytes, bytes]] = []
        self._new_memo_bytes = 0
        self._used_memo: set[bytes] = set()
        # stage name -> (fingerprint of its inputs, the files it wrote, pickled diagnostics)
        self.stages: dict[str, tuple[bytes, tuple[str, ...], bytes]] = {
            name: (fp, tuple(json.loads(files)), diags)
            for name, fp, files, diags in db.execute(
                "SELECT name, fingerprint, files, diagnostics FROM stages")}
        self._new_stages: dict[str, tuple[bytes, tuple[str, ...], bytes]] = {}
        # report path -> (its stat and the settings when it was read, its key): see
        # ``known_key``
        self.sources: dict[str, tuple[str, bytes]] = {
            path: (stat, key)
            for path, stat, key in db.execute("SELECT path, stat, key FROM sources")}
        self._new_sources: dict[str, tuple[str, bytes]] = {}

    @classmethod
    def open(cls, folder: Path, site_root: Path) -> tuple[BuildCache | None, list[Diagnostic]]:
        """Open (or create) the cache in ``folder``. A foreign or unreadable cache is
        deleted and replaced, with a warning; if even that fails the build goes on without
        a cache (also a warning)."""
        expected = {"format": FORMAT, "sitegen": __version__, "code": code_digest(),
                    "python": sys.version.split()[0], "root": str(site_root.resolve())}
        diags: list[Diagnostic] = []
        for attempt in (1, 2):
            try:
                folder.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(folder / DB_NAME, timeout=30, isolation_level=None)
                db.execute("PRAGMA journal_mode=WAL")
                # a commit need not reach the disk before the build goes on: a crash can lose
                # the last entries (the build makes them again), never corrupt the file
                db.execute("PRAGMA synchronous=NORMAL")
                db.executescript(_SCHEMA)
                meta = dict(db.execute("SELECT key, value FROM meta"))
                if not meta:
                    db.executemany("INSERT INTO meta VALUES (?, ?)", expected.items())
                    meta = expected
                if meta != expected:
                    db.close()
                    why = ", ".join(f"{k} {meta.get(k)!r} (now {v!r})"
                                    for k, v in expected.items() if meta.get(k) != v)
                    diags.append(discarded(folder, f"it was made with {why}"))
                    shutil.rmtree(folder, ignore_errors=True)
                    continue
                return cls(folder, db), diags
            except (sqlite3.OperationalError, OSError) as exc:  # locked, disk full...
                diags.append(warning("cache.unusable", str(folder), f"cannot use the build "
                                     f"cache ({exc}); building without it"))
                return None, diags
            except (sqlite3.DatabaseError, ValueError) as exc:  # not a database, damaged
                if attempt == 2:
                    diags.append(warning("cache.unusable", str(folder), f"cannot use the "
                                         f"build cache ({exc}); building without it"))
                    return None, diags
                diags.append(discarded(folder, f"it cannot be read ({exc})"))
                shutil.rmtree(folder, ignore_errors=True)
        return None, diags

    @property
    def index_dir(self) -> Path:
        return self.folder / INDEX_DIR

    def get_docs(self, keys: list[bytes]) -> dict[bytes, Any]:
        """The stored entries of those reports' ``keys`` the cache has. ``CacheCorrupt`` if
        an entry is damaged; ``sqlite3.Error`` if the database is."""
        return self._select("docs", keys)

    def _select(self, table: str, keys: list[bytes]) -> dict[bytes, Any]:
        found: dict[bytes, Any] = {}
        for start in range(0, len(keys), 500):  # SQLite's limit on parameters
            part = keys[start:start + 500]
            marks = ",".join("?" * len(part))
            for key, value in self._db.execute(
                    f"SELECT key, value FROM {table} WHERE key IN ({marks})", part):
                found[key] = loads(value)
        return found

    def holds_no_docs(self) -> bool:
        """Whether no report is stored (a new cache): no file's key can be found then. A
        database that cannot say is not called empty (reading it reports the damage)."""
        try:
            return self._db.execute("SELECT 1 FROM docs LIMIT 1").fetchone() is None
        except sqlite3.Error:
            return False

    def known_key(self, path: str, stat: str) -> bytes | None:
        """The key a report had when its file had this ``stat`` (``source_stat``), so an
        unchanged file need not be read and hashed again."""
        held = self.sources.get(path)
        return held[1] if held is not None and held[0] == stat else None

    def put_source(self, path: str, stat: str, key: bytes) -> None:
        self._new_sources[path] = (stat, key)

    def put_doc(self, key: bytes, entry: bytes, body: bytes | None = None) -> None:
        """Store a report's entry and the HTML and text of its body, both made with
        ``dumps`` (written in batches, not held until ``save``: an entry is valid on its
        own, whatever happens to the build)."""
        self._new_docs.append((key, entry))
        if body is not None:
            self._new_bodies.append((key, body))
        if len(self._new_docs) >= _BATCH:
            self.flush()

    def flush(self) -> bool:
        """Write the report and memo entries put so far; False if the database refused
        them (they are dropped: a cache that cannot grow is no loss, but ``BodyReader`` will
        not find those bodies)."""
        done = False
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("BEGIN")
            try:
                self._db.executemany("INSERT OR REPLACE INTO docs VALUES (?, ?)",
                                     self._new_docs)
                self._db.executemany("INSERT OR REPLACE INTO bodies VALUES (?, ?)",
                                     self._new_bodies)
                self._db.executemany("INSERT OR REPLACE INTO memo VALUES (?, ?)",
                                     self._new_memo)
                self._db.execute("COMMIT")
                done = True
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        self._new_docs.clear()
        self._new_bodies.clear()
        self._new_memo.clear()
        self._new_memo_bytes = 0
        return done

    def body_reader(self) -> BodyReader:
        """The one reader of this cache's bodies (each process opens one connection)."""
        return self._reader

    def get_memo(self, keys: list[bytes]) -> dict[bytes, Any]:
        """Stored values of a pure function (see ``put_memo``) for those of ``keys`` it has.
        ``CacheCorrupt`` if an entry is damaged."""
        found = self._select("memo", keys)
        self._used_memo.update(found)
        return found

    def put_memo(self, key: bytes, value: Any) -> None:
        """Remember ``value``, the result of a pure function for the input hashed as ``key``
        (only plain data: it is read back with the same allow-list)."""
        self.put_packed_memo(key, dumps(value))

    def put_packed_memo(self, key: bytes, data: bytes) -> None:
        """``put_memo`` of a value ``dumps`` packed already (in another process)."""
        self._new_memo.append((key, data))
        self._new_memo_bytes += len(data)
        self._used_memo.add(key)
        if len(self._new_memo) >= _BATCH or self._new_memo_bytes >= _BATCH_BYTES:
            self.flush()

    def keep_memo(self, keys: Iterable[bytes]) -> None:
        """Keep these entries although this build did not read them (their stage was
        reused whole); a complete build drops the entries it neither read nor kept."""
        self._used_memo.update(keys)

    def stage(self, name: str) -> tuple[bytes, tuple[str, ...], Any] | None:
        """What a whole stage wrote last time: (fingerprint, files, diagnostics)."""
        held = self.stages.get(name)
        return None if held is None else (held[0], held[1], loads(held[2]))

    def put_stage(self, name: str, fingerprint: bytes, files: Iterable[str],
                  diagnostics: Any) -> None:
        self._new_stages[name] = (fingerprint, tuple(files), dumps(diagnostics))

    def save(self, files: Mapping[str, FileRecord] | None, live_docs: Iterable[bytes]) -> None:
        """Store the new report entries and (unless ``files`` is None, when the output did
        not change) the record of every output file, and drop entries of reports that no
        longer exist (one transaction). Only rows that changed since the cache was opened
        are written or deleted: an edit changes a few of 10,000 sources and 17,000 file
        records. (Whatever another build stored meanwhile can only fail the checks each
        record gets before it is trusted.)"""
        db = self._db
        db.execute("BEGIN")
        try:
            db.executemany("INSERT OR REPLACE INTO docs VALUES (?, ?)", self._new_docs)
            db.executemany("INSERT OR REPLACE INTO bodies VALUES (?, ?)", self._new_bodies)
            db.executemany("INSERT OR REPLACE INTO memo VALUES (?, ?)", self._new_memo)
            live = set(live_docs)
            for table in ("docs", "bodies"):
                db.executemany(f"DELETE FROM {table} WHERE key = ?", [
                    (key,) for (key,) in db.execute(f"SELECT key FROM {table}")
                    if key not in live])
            _put_changed(db, "sources", "path", self.sources, self._new_sources,
                         lambda path, held: (path, *held))
            if files is not None:  # a complete build: drop what it did not use
                db.executemany("DELETE FROM memo WHERE key = ?", [
                    (key,) for (key,) in db.execute("SELECT key FROM memo")
                    if key not in self._used_memo])
                db.execute("DELETE FROM stages")
                db.executemany("INSERT INTO stages VALUES (?, ?, ?, ?)", (
                    (name, fp, json.dumps(list(paths)), diags)
                    for name, (fp, paths, diags) in self._new_stages.items()))
                _put_changed(db, "files", "relpath", self.files, files, lambda rel, r: (
                    rel, r.fingerprint, r.size, r.mtime_ns, r.inode, ",".join(r.site_fields)))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._new_docs.clear()
        self._new_bodies.clear()
        self._new_memo.clear()
        self._new_memo_bytes = 0
        self.sources, self._new_sources = self._new_sources, {}
        if files is not None:
            self._used_memo.clear()
            self.files = dict(files)
            self.stages, self._new_stages = self._new_stages, {}

    def forget_files(self) -> None:
        """Drop the output-file records (before the output changes without them)."""
        self._db.execute("DELETE FROM files")
        self.files = {}

    def close(self) -> None:
        self._db.close()

    def discard(self) -> None:
        """Delete the whole cache (it is damaged); the caller builds without it."""
        self._db.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def _put_changed(db: sqlite3.Connection, table: str, column: str, old: Mapping[str, Any],
                 new: Mapping[str, Any], row: Callable[[str, Any], tuple[Any, ...]]) -> None:
    """Make ``table`` (keyed by ``column``), which holds ``old``, hold ``new``: delete the
    keys gone and write the rows that changed."""
    db.executemany(f"DELETE FROM {table} WHERE {column} = ?",
                   [(k,) for k in old.keys() - new.keys()])
    changed = [row(k, v) for k, v in new.items() if old.get(k) != v]
    if changed:
        marks = ", ".join("?" * len(changed[0]))
        db.executemany(f"INSERT OR REPLACE INTO {table} VALUES ({marks})", changed)


class BodyReader:
    """Reads the HTML and text of stored report bodies (``model.BodyTexts``), in any process:
    each process (the build, its forked workers, the index writer) opens its own read-only
    connection the first time it asks. ``CacheCorrupt`` for a missing or damaged entry;
    ``build`` then discards the cache and builds again without it."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._connections: dict[int, sqlite3.Connection] = {}  # process id -> connection

    def body(self, key: bytes) -> tuple[str, str]:
        db = self._connections.get(os.getpid())
        try:
            if db is None:
                db = sqlite3.connect(f"{self._path.resolve().as_uri()}?mode=ro", uri=True,
                                     timeout=30, check_same_thread=False)
                self._connections[os.getpid()] = db
            row = db.execute("SELECT value FROM bodies WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            raise CacheCorrupt(f"cannot read a report body from the cache: {exc}") from exc
        if row is None:
            raise CacheCorrupt("a report body is missing from the cache")
        value = loads(row[0])
        if not (isinstance(value, tuple) and len(value) == 2
                and all(isinstance(v, str) for v in value)):
            raise CacheCorrupt("a report body in the cache is not HTML and text")
        return value

    def __reduce__(self) -> tuple[Any, ...]:  # connections stay in their process
        return BodyReader, (self._path,)


def discarded(folder: Path, why: str) -> Diagnostic:
    return warning("cache.discarded", str(folder), f"discarding the build cache: {why}; "
                   "this build starts afresh")


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS docs (key BLOB PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS bodies (key BLOB PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS memo (key BLOB PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS sources (path TEXT PRIMARY KEY, stat TEXT NOT NULL, key BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS stages (name TEXT PRIMARY KEY, fingerprint BLOB NOT NULL,
                                   files TEXT NOT NULL, diagnostics BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS files (relpath TEXT PRIMARY KEY, fingerprint BLOB NOT NULL,
                                  size INTEGER, mtime_ns INTEGER, inode INTEGER,
                                  site_fields TEXT NOT NULL);
"""
