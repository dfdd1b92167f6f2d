"""The Whoosh search index: its schema, and ``build_index`` writing one into a staging folder.

``build_index(reports, terms, dest)`` writes a fresh index into ``dest`` (a folder inside the
staging output handed over by ``build.py``; nothing is written anywhere else) together with
``terms.json``, the map from every known spelling's slug (canonical names, registry aliases
and spellings used in front matter) to its canonical term, which lets the query side accept
any spelling of an actor or location: ``actor:KH`` finds Kataib Hezbollah.

Fields (see ``make_schema``):

==================  =====================================================================
``url``             ID, unique, stored
``title``           text, boost 3, stored
``summary``         text, stored
``body``            text (``report.body.text``), stored for excerpts (Whoosh compresses stored
                    fields; zlib on top measured larger)
``actor``           exact slugs of the report's actors (``SlugListTokenizer``), for facets,
                    filters and ``actor:`` in queries; ``location`` likewise
``actors_text``     analysed canonical names, registry aliases and every spelling used;
                    ``locations_text`` too
``actor_refs``      stored ``(slug, name, url)`` triples for display; ``location_refs`` too
``date``            DATETIME of the report's local wall time (its own offset), sortable
``ts``              UTC POSIX seconds, sortable: the "newest first" order across offsets
``date_iso``        stored ISO 8601 date ("2021-03-04") or datetime with offset
``source``          analysed source name, stored; ``source_id`` its slug, for exact filters
``tags``            exact tag slugs (``SlugListTokenizer``): ``tags:"Air strike"`` finds the tag
                    "air strike" whatever its case or accents; ``tags_text`` the analysed tags
``spell``           the unstemmed folded words of the report, for "did you mean"
==================  =====================================================================

The index is deterministic: documents are added newest first (ties by URL), the segment has a
fixed name and the term map is written with sorted keys, so the same reports give the same
bytes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from whoosh import index as whoosh_index
from whoosh.codec.whoosh3 import LENGTHS_COLUMN, W3Codec, W3PerDocReader, W3Segment
from whoosh.fields import DATETIME, ID, KEYWORD, NUMERIC, STORED, TEXT, Schema
from whoosh.writing import NO_MERGE

from sitegen.diagnostics import Diagnostic, error, warning
from sitegen.search.analysis import (
    SLUG_SEPARATOR,
    slug_analyzer,
    text_analyzer,
    words,
)
from sitegen.slugs import slugify_name

if TYPE_CHECKING:
    from sitegen.model import Report, Term

__all__ = [
    "FORMAT_VERSION",
    "INDEX_NAME",
    "TERMS_FILE",
    "IndexStats",
    "TermEntry",
    "TermMap",
    "build_index",
    "build_term_map",
    "load_term_map",
    "make_schema",
]

log = logging.getLogger(__name__)

INDEX_NAME = "MAIN"
TERMS_FILE = "terms.json"
FORMAT_VERSION = 1
KINDS = ("actor", "location")
TITLE_BOOST = 3.0
_SEGMENT_ID = "sitegen000000001"  # fixed, so two builds of the same input match byte for byte


@dataclass(frozen=True, slots=True)
class IndexStats:
    documents: int
    actors: int  # canonical actor terms in the term map
    locations: int
    size_bytes: int  # all files written into dest
    diagnostics: tuple[Diagnostic, ...] = ()


@dataclass(frozen=True, slots=True)
class TermEntry:
    slug: str  # canonical slug
    name: str  # display name


@dataclass(frozen=True, slots=True)
class TermMap:
    """Spelling slug -> canonical term, per kind; what ``terms.json`` holds."""

    actor: Mapping[str, TermEntry]
    location: Mapping[str, TermEntry]

    def of(self, kind: str) -> Mapping[str, TermEntry]:
        return self.actor if kind == "actor" else self.location

    def resolve(self, kind: str, spelling: str) -> TermEntry | None:
        """The term a spelling, name or slug refers to, or None if it is unknown."""
        return self.of(kind).get(slugify_name(spelling)) if spelling.strip() else None

    def names(self, kind: str) -> dict[str, str]:
        """Canonical slug -> display name."""
        return {e.slug: e.name for e in self.of(kind).values()}

    def to_json(self) -> str:
        data = {"version": FORMAT_VERSION}
        for kind in KINDS:
            data[kind] = {s: {"slug": e.slug, "name": e.name}  # type: ignore[assignment]
                          for s, e in sorted(self.of(kind).items())}
        return json.dumps(data, ensure_ascii=False, sort_keys=True, indent=1) + "\n"


def make_schema() -> Schema:
    text = text_analyzer()  # one instance for all fields: pickled once into the TOC
    slugs = slug_analyzer()
    return Schema(
        url=ID(unique=True, stored=True, sortable=True),
        # hash of what the document was made from: an incremental update replaces exactly
        # the documents whose key changed (see update_index)
        key=ID(sortable=True),
        title=TEXT(analyzer=text, stored=True, field_boost=TITLE_BOOST),
        summary=TEXT(analyzer=text, stored=True),
        body=TEXT(analyzer=text, stored=True),
        actor=TEXT(analyzer=slugs, phrase=False),
        location=TEXT(analyzer=slugs, phrase=False),
        actors_text=TEXT(analyzer=text),
        locations_text=TEXT(analyzer=text),
        actor_refs=STORED(),
        location_refs=STORED(),
        date=DATETIME(sortable=True),
        ts=NUMERIC(int, bits=64, signed=True, sortable=True),
        date_iso=STORED(),
        source=TEXT(analyzer=text, stored=True),
        source_id=ID(),
        tags=TEXT(analyzer=slugs, phrase=False),
        tags_text=TEXT(analyzer=text),
        # scorable only so Whoosh writes a length column: without one, the writer stats the
        # missing column file once per posting (a third of the build time).
        spell=KEYWORD(scorable=True),
    )


class _MemoryLengthsReader(W3PerDocReader):  # type: ignore[misc]
    """Whoosh's per-document reader, but each field-length column (one byte per document) is
    read into memory once. Stock Whoosh reads one byte from the file per posting, both when
    writing a segment's postings and when scoring a match: a third of the indexing time."""

    def _cached_reader(self, fieldname: str, column: Any) -> Any:
        if fieldname not in self._readers:
            reader = super()._cached_reader(fieldname, column)
            if reader is not None and column is LENGTHS_COLUMN:
                self._readers[fieldname] = bytes(reader)
        return self._readers.get(fieldname)


class _StableCodec(W3Codec):  # type: ignore[misc]
    """The default codec, except that a new segment gets a given id instead of a random one
    (a fixed one for a fresh index) and field lengths are read from memory
    (``_MemoryLengthsReader``)."""

    def __init__(self, segid: str = _SEGMENT_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._segid = segid

    def new_segment(self, storage: Any, indexname: str) -> W3Segment:
        return W3Segment(self, indexname, segid=self._segid)

    def per_document_reader(self, storage: Any, segment: Any) -> W3PerDocReader:
        return _MemoryLengthsReader(storage, segment)


def build_term_map(reports: Iterable[Report], terms: Iterable[Term]) -> tuple[
        TermMap, list[Diagnostic]]:
    """Map every spelling's slug (and each canonical slug) to its term. Pure.

    ``terms`` gives canonical names, registry aliases and spellings (``Term.names``,
    ``Term.spellings``); report references fill in terms missing from it. When two terms claim one spelling slug, the term whose slug it is wins, then the
    alphabetically first, and a warning names both.
    """
    diags: list[Diagnostic] = []
    names: dict[tuple[str, str], str] = {}
    spellings: dict[tuple[str, str], set[str]] = {}
    for term in terms:
        names[(term.kind, term.slug)] = term.name
        spellings.setdefault((term.kind, term.slug), set()).update(
            [*term.names, *(s for s, _ in term.spellings)])
    for report in reports:
        for ref in report.terms:
            names.setdefault((ref.kind, ref.slug), ref.name)
            spellings.setdefault((ref.kind, ref.slug), set())
    maps: dict[str, dict[str, TermEntry]] = {kind: {} for kind in KINDS}
    for (kind, slug), name in sorted(names.items()):
        if kind not in maps:
            continue
        entry = TermEntry(slug, name)
        keys = {slug} | {slugify_name(s) for s in spellings[(kind, slug)] if s.strip()}
        for key in sorted(keys):
            held = maps[kind].get(key)
            if held is None or (key == slug and held.slug != key):
                if held is not None:
                    diags.append(_conflict(kind, key, held, entry))
                maps[kind][key] = entry
            elif held.slug != slug:
                diags.append(_conflict(kind, key, entry, held))
    return TermMap(MappingProxyType(maps["actor"]), MappingProxyType(maps["location"])), diags


def _conflict(kind: str, key: str, loser: TermEntry, winner: TermEntry) -> Diagnostic:
    return warning("search.spelling-conflict", TERMS_FILE,
                   f"{kind} spelling {key!r} belongs to both {winner.name!r} and "
                   f"{loser.name!r}; filters use {winner.name!r}")


def load_term_map(index_dir: Path) -> TermMap:
    """Read ``terms.json`` from an index folder (an empty map if it is missing or invalid)."""
    try:
        data = json.loads((index_dir / TERMS_FILE).read_text(encoding="utf-8"))
        maps = {kind: {str(k): TermEntry(str(v["slug"]), str(v["name"]))
                       for k, v in data.get(kind, {}).items()} for kind in KINDS}
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        log.debug("cannot read %s: %s", index_dir / TERMS_FILE, exc)
        return TermMap(MappingProxyType({}), MappingProxyType({}))
    return TermMap(MappingProxyType(maps["actor"]), MappingProxyType(maps["location"]))


def _document(report: Report, names: Mapping[tuple[str, str], str]) -> dict[str, Any]:
    date = report.date
    body = report.body.text
    actors_text = "\n".join(names.get(("actor", r.slug), r.name) for r in report.actors)
    locations_text = "\n".join(names.get(("location", r.slug), r.name)
                               for r in report.locations)
    source = report.source_name or ""
    spell = words("\n".join((report.title, report.summary, body, actors_text, locations_text,
                             source, " ".join(report.tags))))
    doc = {
        "url": report.url,
        "title": report.title,
        "summary": report.summary,
        "body": body,
        "actor": SLUG_SEPARATOR.join(r.slug for r in report.actors),
        "location": SLUG_SEPARATOR.join(r.slug for r in report.locations),
        "actors_text": actors_text,
        "locations_text": locations_text,
        "actor_refs": tuple((r.slug, r.name, r.url) for r in report.actors),
        "location_refs": tuple((r.slug, r.name, r.url) for r in report.locations),
        "date": date,
        "ts": int(date.timestamp()),
        "date_iso": date.isoformat() if report.date_has_time else date.date().isoformat(),
        "source": source,
        "tags": SLUG_SEPARATOR.join(slugify_name(t) for t in report.tags if t.strip()),
        "tags_text": "\n".join(report.tags),
        "spell": " ".join(sorted({w for w in spell if len(w) >= 3 and w.isalpha()})),
    }
    if source.strip():
        doc["source_id"] = slugify_name(source)
    return doc


def _name_texts(reports: Sequence[Report], terms: Sequence[Term]) -> dict[tuple[str, str], str]:
    """(kind, slug) -> the term's display name, aliases and every spelling, one per line."""
    texts: dict[tuple[str, str], list[str]] = {}
    for term in terms:
        texts[(term.kind, term.slug)] = list(dict.fromkeys(
            [*term.names, *(s for s, _ in term.spellings if s.strip())]))
    for report in reports:
        for ref in report.terms:
            texts.setdefault((ref.kind, ref.slug), [ref.name])
    return {k: "\n".join(v) for k, v in texts.items()}


def doc_keys(reports: Iterable[Report], terms: Sequence[Term],
             report_keys: Mapping[str, bytes]) -> dict[str, str]:
    """url -> the key of the document indexed for it: its report's fingerprint
    (``report_keys[url]``) and the name texts of its actors and locations."""
    reports = list(reports)
    names = _name_texts(reports, terms)
    keys = {}
    for report in reports:
        h = hashlib.blake2b(report_keys[report.url], digest_size=16)
        for ref in report.terms:
            h.update(f"\0{ref.kind}\0{ref.slug}\0{names.get((ref.kind, ref.slug), ref.name)}"
                     .encode("utf-8", "surrogatepass"))
        keys[report.url] = h.hexdigest()
    return keys


# Whoosh keeps a deleted document's statistics (term counts, field lengths) in its segment,
# and merging segments re-reads field lengths from a lossy one-byte encoding: either way
# scores would drift from a fresh index's. So an update only ever adds a segment of new
# documents (exact: statistics add up); a change or deletion rebuilds the cached index, as
# do more than MAX_SEGMENTS segments (each one slows queries a little).
MAX_SEGMENTS = 8


def update_index(reports: Iterable[Report], terms: Iterable[Term], keys: Mapping[str, str],
                 index_dir: Path, dest: Path) -> IndexStats:
    """Bring the persistent index in ``index_dir`` (the build cache's) up to date with
    ``reports`` document by document, then hard-link its files into ``dest`` and write
    ``terms.json`` there. ``keys`` is ``doc_keys``: a document whose key is unchanged is
    kept and new ones are added as a new segment; if any document changed or went, the index is
    rebuilt (see MAX_SEGMENTS), so it always answers exactly as a fresh one. Whoosh commits
    atomically. Raises ``LockError`` if another
    build holds the index; the caller then builds a fresh one with ``build_index``."""
    reports = sorted(reports, key=lambda r: (-r.date.timestamp(), r.url))
    terms = list(terms)
    term_map, diags = build_term_map(reports, terms)
    names = _name_texts(reports, terms)
    wanted: dict[str, Report] = {}
    for report in reports:
        if report.url in wanted:
            diags.append(error("search.duplicate-url", report.source,
                               f"another report already has the URL {report.url!r}; "
                               "not indexed"))
            continue
        wanted[report.url] = report
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        if whoosh_index.exists_in(str(index_dir), indexname=INDEX_NAME):
            ix = whoosh_index.open_dir(str(index_dir), indexname=INDEX_NAME)
        else:
            ix = whoosh_index.create_in(str(index_dir), make_schema(), indexname=INDEX_NAME)
        current: dict[str, str] = {}
        with ix.reader() as reader:
            if reader.doc_count():
                urls, held = reader.column_reader("url"), reader.column_reader("key")
                current = {urls[n]: held[n] for n in reader.all_doc_ids()}
        stale = [url for url, key in current.items() if wanted.get(url) is None
                 or keys.get(url) != key]
        if stale or len(ix._segments()) >= MAX_SEGMENTS:
            ix.close()
            ix = whoosh_index.create_in(str(index_dir), make_schema(), indexname=INDEX_NAME)
            current = {}
        new = [r for url, r in wanted.items() if current.get(url) != keys[url]]
        if new:
            # a name never used before: the old files are hard-linked into live output
            # folders, so no file of the cached index may ever be rewritten in place
            segid = uuid.uuid4().hex[:16]
            writer = ix.writer(codec=_StableCodec(segid), procs=1, limitmb=256,
                               compound=False)
            try:
                for report in new:
                    writer.add_document(**_document(report, names), key=keys[report.url])
            except BaseException:
                writer.cancel()
                raise
            writer.commit(mergetype=NO_MERGE)
        ix.close()
        dest.mkdir(parents=True, exist_ok=True)
        size = 0
        for path in sorted(index_dir.iterdir()):
            if path.is_file() and not path.name.endswith("LOCK"):
                try:
                    (dest / path.name).hardlink_to(path)
                except OSError:  # another filesystem: copy (the files are never rewritten)
                    shutil.copyfile(path, dest / path.name)
                size += path.stat().st_size
        (dest / TERMS_FILE).write_text(term_map.to_json(), encoding="utf-8")
    except OSError as exc:
        diags.append(error("search.write", str(dest), f"cannot write the search index: {exc}"))
        return IndexStats(0, 0, 0, 0, tuple(diags))
    return IndexStats(len(wanted), len(term_map.names("actor")),
                      len(term_map.names("location")), size, tuple(diags))


def build_index(reports: Iterable[Report], terms: Iterable[Term], dest: Path,
                keys: Mapping[str, str] | None = None) -> IndexStats:
    """Write a new search index for ``reports`` into the empty (or missing) folder ``dest``.

    ``terms`` are the site's actor and location terms (``site.actors + site.locations``);
    their spellings go into the name fields and ``terms.json``. Problems come back as
    diagnostics: a duplicate URL skips the later report, an I/O error fails the stage.
    """
    reports = sorted(reports, key=lambda r: (-r.date.timestamp(), r.url))
    terms = list(terms)
    term_map, diags = build_term_map(reports, terms)
    names = _name_texts(reports, terms)
    where = str(dest)
    try:
        if dest.exists() and any(dest.iterdir()):
            diags.append(error("search.dest-not-empty", where,
                               "the search index folder must be empty; refusing to write"))
            return IndexStats(0, 0, 0, 0, tuple(diags))
        dest.mkdir(exist_ok=True)
        ix = whoosh_index.create_in(str(dest), make_schema(), indexname=INDEX_NAME)
        # compound=False: assembling one compound file records file mtimes, which would make
        # the index differ between two builds of the same input.
        writer = ix.writer(codec=_StableCodec(), procs=1, limitmb=256, compound=False)
        seen: set[str] = set()
        count = 0
        try:
            for report in reports:
                if report.url in seen:
                    diags.append(error("search.duplicate-url", report.source,
                                       f"another report already has the URL {report.url!r}; "
                                       "not indexed"))
                    continue
                seen.add(report.url)
                writer.add_document(**_document(report, names),
                                    key=(keys or {}).get(report.url, ""))
                count += 1
        except BaseException:
            writer.cancel()
            raise
        writer.commit(merge=False)
        ix.close()
        (dest / f"{INDEX_NAME}_WRITELOCK").unlink(missing_ok=True)
        (dest / TERMS_FILE).write_text(term_map.to_json(), encoding="utf-8")
        size = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    except OSError as exc:
        diags.append(error("search.write", where, f"cannot write the search index: {exc}"))
        return IndexStats(0, 0, 0, 0, tuple(diags))
    return IndexStats(count, len(term_map.names("actor")), len(term_map.names("location")),
                      size, tuple(diags))
