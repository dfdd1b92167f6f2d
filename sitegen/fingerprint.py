"""Fingerprints of what a page is made from, so an incremental build re-renders only the
pages whose inputs changed.

A page is a pure function of its template files, the settings and its context (see
``sitegen.render``); its fingerprint is a hash of all three. The context is pickled with
two substitutions that keep it cheap and exact:

- a ``Report`` becomes the key of its source (path, bytes and the parse/Markdown settings:
  every field of the report follows from those) plus its URL and its resolved actor and
  location references, which depend on the other reports and the registry;
- a ``Term`` becomes the hash of its own fields with its reports substituted, computed once
  per build however many pages show it.

Sets are pickled sorted, so a fingerprint does not depend on the process's hash seed. The
site-wide totals a template may read (``site.report_count``, ``site.actors``,
``site.locations``) are left out: ``render`` records which of them each page read, and
``site_totals`` hashes just those.

A page's *references* are the cache keys of the report bodies it read while it was rendered
(``sitegen.access.BodyAccess``: its own report's body, an excerpt shown in a list).
Everything else in a page's context follows from the site's *structure* (``structure``: the
settings, the registry, the totals and every report but its body). So while the structure
stays the same, a page whose references are all still keys of this build's bodies
(``refs_current``) is the page it was: an edit to one report's body re-renders its own page
and the pages that read that body, not every list that names the report.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import pickle
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sitegen import __version__
from sitegen.config import SiteConfig
from sitegen.model import Report, Term


def _hash(*parts: bytes) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.digest()


def config_key(config: SiteConfig) -> bytes:
    """sitegen's version and every setting, except the folders (which change no byte of
    the output: building into another folder or from a moved site reuses the cache)."""
    kept = replace(config, root=Path(), content_dir=Path(), output_dir=Path(),
                   cache_dir=Path())
    return _hash(f"{__version__}\0{kept!r}".encode())


def settings_key(config: SiteConfig, theme_dirs: Sequence[Path], builtin: Path) -> bytes:
    """Everything every page depends on besides its context: sitegen's version, the config
    and the bytes of every template file of the theme chain."""
    h = hashlib.blake2b(digest_size=16)
    h.update(config_key(config))
    for folder in (*(d / "templates" for d in theme_dirs), builtin):
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                h.update(f"{path.relative_to(folder).as_posix()}\0".encode())
                h.update(hashlib.blake2b(path.read_bytes(), digest_size=16).digest())
    return h.digest()


class Fingerprints:
    """Fingerprints of pages' contexts within one build (memoised per report and term)."""

    def __init__(self, settings: bytes, doc_keys: Mapping[str, bytes]) -> None:
        self._settings = settings
        self._doc_keys = doc_keys  # report.source -> the key of its source in the cache
        self._memo: dict[int, tuple[object, bytes]] = {}  # id -> (object kept alive, hash)
        self._held_rows: tuple[Sequence[Report], bytes] | None = None

    def report(self, report: Report) -> bytes:
        hit = self._memo.get(id(report))
        if hit is None:
            refs = tuple((r.kind, r.slug, r.name, r.url) for r in report.terms)
            value = _hash(b"R", self._doc_keys[report.source],
                          pickle.dumps((report.url, report.slug, refs), protocol=5))
            hit = self._memo[id(report)] = (report, value)
        return hit[1]

    def term(self, term: Term) -> bytes:
        hit = self._memo.get(id(term))
        if hit is None:
            hit = self._memo[id(term)] = (term, _hash(b"T", self._pickle(term, top=term)))
        return hit[1]

    def page(self, templates: Sequence[str], context: object) -> bytes:
        """The fingerprint of a page rendered from ``templates`` with ``context``."""
        return _hash(self._settings, "\0".join(templates).encode(), self._pickle(context))

    def structure(self, reports: Sequence[Report], registry: object,
                  totals: Mapping[str, object]) -> bytes:
        """The site's structure (see the module doc): the settings, the registry, every
        site-wide total, and each report, in order, with all its fields but its body."""
        return _hash(b"S", self._settings, self._rows(reports), self._pickle(registry),
                     site_totals(totals, sorted(totals)))

    def published(self, reports: Sequence[Report]) -> tuple[bytes, list[tuple[object, ...]]]:
        """What ``sitegen.publish`` reads of each report (feeds, sitemap, exports): every
        field but the body (hashed, as for ``structure``), the body's word count, and its
        source's key only where the body stands in for a missing summary
        (``publish.summary_text``). The actors and locations follow from these, the
        registry and the settings, so an edit to a report's body leaves the feeds and
        exports as they were."""
        return self._rows(reports), [
            (r.body.word_count, None if r.summary.strip() else self._doc_keys[r.source])
            for r in reports]

    def _rows(self, reports: Sequence[Report]) -> bytes:
        """The hash of every report's fields but its body, in order (once per build: the
        structure and the published fingerprint both need it)."""
        if self._held_rows is None or self._held_rows[0] is not reports:
            rows = [tuple(getattr(r, name) for name in _REPORT_FIELDS) for r in reports]
            self._held_rows = (reports, _hash(b"W", self._pickle(rows)))
        return self._held_rows[1]

    def current(self, reports: Sequence[Report]) -> set[bytes]:
        """The body keys of this build's reports, for ``refs_current``."""
        return {self._doc_keys[r.source] for r in reports}

    def of(self, *values: object) -> bytes:
        """The fingerprint of any model values (reports and terms by key, as for pages)."""
        return _hash(*(self._pickle(v) for v in values))

    def data(self, data: bytes) -> bytes:
        """The fingerprint of a file whose bytes are already known (feeds, search data)."""
        return _hash(b"D", data)

    def _pickle(self, value: object, top: object = None) -> bytes:
        buffer = io.BytesIO()
        _Pickler(buffer, self, top).dump(value)
        return buffer.getvalue()


_KEY_SIZE = 16  # bytes of a body's cache key (sitegen.cache.digest)
_REPORT_FIELDS = tuple(f.name for f in dataclasses.fields(Report) if f.name != "body")


def join_refs(keys: Iterable[bytes]) -> bytes:
    """Body keys as a page's references: distinct, sorted, joined."""
    return b"".join(sorted(set(keys)))


def refs_current(refs: bytes, current: set[bytes]) -> bool:
    """Whether every reference in ``refs`` (from ``join_refs``) is in ``current``."""
    return all(refs[i:i + _KEY_SIZE] in current for i in range(0, len(refs), _KEY_SIZE))


def _ref(*key: object) -> None:
    """Stands for a report, term or the site view in a fingerprint pickle (never called:
    fingerprints are hashed, not unpickled)."""


def _fields(*values: object) -> None:
    """Stands for a dataclass instance in a fingerprint pickle (never called)."""


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


class _Pickler(pickle.Pickler):
    """Pickles a page context for hashing. Reports and terms are replaced by their keys,
    dataclasses by their field values. All of it happens in ``reducer_override``, which the
    C pickler calls only for non-builtin objects (a ``persistent_id`` method would be called
    for every string and number). Sets are pickled in iteration order, so contexts hold
    none (a set of strings would change its fingerprint with the hash seed)."""

    def __init__(self, file: io.BytesIO, prints: Fingerprints, top: object) -> None:
        super().__init__(file, protocol=5)
        self._prints = prints
        self._top = top

    def reducer_override(self, obj: Any) -> Any:
        cls = type(obj)
        if cls is Report:
            return _ref, ("R", self._prints.report(obj))
        if cls is Term and obj is not self._top:
            return _ref, ("T", self._prints.term(obj))
        if cls is MappingProxyType:
            return _fields, ("mappingproxy", dict(obj))  # its class cannot be pickled
        if cls.__name__ == "SiteView":  # see site_totals
            return _ref, ("site",)
        names = _FIELD_NAMES.get(cls)
        if names is None:
            names = _FIELD_NAMES[cls] = tuple(
                f.name for f in dataclasses.fields(cls)) if dataclasses.is_dataclass(cls) else ()
        if names:
            return _fields, (cls.__qualname__, *(getattr(obj, n) for n in names))
        return NotImplemented


def site_totals(values: Mapping[str, object], names: Sequence[str]) -> bytes:
    """Hash of the named site-wide totals (``values``: name -> value)."""
    return _hash(*(name.encode() + b"\0" + pickle.dumps(values[name], protocol=5)
                   for name in sorted(names)))


def combine(page: bytes, totals: bytes) -> bytes:
    return _hash(page, totals)
