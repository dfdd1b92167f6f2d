"""The build pipeline, written out stage by stage.

config -> load sources -> Markdown -> model -> render -> stage files -> search index -> swap.
Each stage returns values and diagnostics; the build stops after a stage that produced errors,
before anything touches ``output/``. ``check`` runs the same stages and writes nothing.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import functools
import gc
import pickle
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from whoosh.index import LockError

from sitegen import __version__, content, model, output, publish, render, slugs
from sitegen.access import BodyAccess
from sitegen.cache import BuildCache, CacheCorrupt, FileRecord, digest, discarded, dumps, loads
from sitegen.config import SiteConfig
from sitegen.diagnostics import Diagnostic, error, has_errors, sort_key
from sitegen.entities import MentionFinder, MentionFix, check_mentions, load_registry
from sitegen.files import OutputFile
from sitegen.fingerprint import (
    Fingerprints,
    combine,
    config_key,
    join_refs,
    refs_current,
    settings_key,
    site_totals,
)
from sitegen.markdown import MarkdownTooComplex, render_markdown
from sitegen.model import RenderedBody, StoredBody
from sitegen.parallel import Background, Standby, in_background, ordered_map, release_memory
from sitegen.related import related_reports
from sitegen.search.analysis import analyze
from sitegen.search.index import IndexStats, IndexUpdate, build_index, doc_keys, update_index
from sitegen.search.static import (
    WeightsPart,
    build_static_index,
    doc_order,
    merged_posting_texts,
    name_sets,
    posting_texts,
    report_weights,
    term_lookup,
    update_posting_texts,
)
from sitegen.themes import builtin_theme, theme_chain

Progress = Callable[[str, int, int], None]  # (stage, done, total)
_PendingIndex = IndexUpdate | Background[IndexStats]  # the search index, written beside the build
# Page workers are replaced by new forks after this many chunks of 32 pages: each page copies
# the pages of the model it touches (reference counts) and fills the macro cache, and a worker
# that lived through the whole render held 110 MiB at 10,000 reports, against 20 after its
# first chunk. At 10,000 reports the process tree's peak during the render went from 365 to
# 265 MiB, for about 2 s more of render (the templates are compiled before the fork).
RENEW_PAGE_WORKERS = 16
# At most this many pages to render (an edit's), and they are rendered in this process
# while the index is updated beside them: forking page workers costs more than they save.
FEW_PAGES = 256
GC_THRESHOLD = 50_000  # allocations between young-generation collections during a build
_TEXTS_PART = 1 << 20  # characters of static-search posting texts per cache entry
PAGE_REFS = digest("page-refs")  # the memo entry of the last build's page references


@dataclass(frozen=True, slots=True)
class BuildStats:
    reports: int = 0
    drafts_skipped: int = 0
    actors: int = 0
    locations: int = 0
    pages: int = 0
    files: int = 0
    bytes: int = 0  # bytes written (reused files not counted)
    reused: int = 0  # files hard-linked unchanged from the previous output (build cache)
    parsed: int = 0  # reports parsed and rendered from Markdown (the others came from the cache)


@dataclass(frozen=True, slots=True)
class BuildResult:
    ok: bool
    diagnostics: tuple[Diagnostic, ...]
    stats: BuildStats = field(default_factory=BuildStats)
    timings: tuple[tuple[str, float], ...] = ()
    site: model.Site | None = None
    fixes: tuple[MentionFix, ...] = ()  # check only: names `sitegen check --fix` would add


class _Timer:
    def __init__(self) -> None:
        self.timings: list[tuple[str, float]] = []
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings.append((stage, now - self._last))
        self._last = now


def _noop(stage: str, done: int, total: int) -> None:
    return None


def _settle(pending: _PendingIndex | None) -> None:
    """Wait for a background index before its staging folder is deleted; its result no
    longer matters."""
    if pending is not None:
        with contextlib.suppress(Exception):
            pending()


def _read_parse(config: SiteConfig, folder: Path, settings: bytes, apart: bool,
                source: tuple[str, str]) -> tuple[bytes | None, bytes, bytes | None]:
    """Read one report file of the content ``folder`` (``config.content_path``, resolved
    once, not once a report) again (``_load`` keeps only its key) and hand it to
    ``_parse_and_render``, in a worker: (its key, the two results), or (None, the pickled
    diagnostics) if it can no longer be read."""
    rel, shown = source
    raw, found = content.read_source(folder, Path(rel),
                                     max_report_bytes=config.max_report_bytes)
    if raw is None:
        return None, dumps(tuple(found)), None
    entry, text = _parse_and_render(config, apart, raw, shown)
    return _doc_key(settings, shown, raw), entry, text


def _doc_key(settings: bytes, shown: str, raw: bytes) -> bytes:
    """A report's cache key: the parse and Markdown settings, its path and its bytes."""
    return digest(settings, shown, raw)


def _parse_and_render(config: SiteConfig, apart: bool, raw: bytes, shown: str,
                      ) -> tuple[bytes, bytes | None]:
    """One report file's bytes -> its parsed front matter and diagnostics, and its body
    rendered (or why it could not be). Pure; run in the worker processes. The result comes
    back as the cache's own pickles (``cache.dumps``, which also carry the front matter's
    read-only mappings): ``(doc, found, body)``, or with ``apart`` the cache's two entries,
    ``(doc without its Markdown, found, (toc, word count) or a Diagnostic)`` and the body's
    ``(html, text)``, which the build stores without unpickling."""
    doc, found = content.parse_source(raw, shown, config.tz,
                                      max_front_matter_bytes=config.max_front_matter_bytes)
    body: RenderedBody | Diagnostic | None = None
    if doc is not None:
        try:
            body = render_markdown(doc.body, config.allow_raw_html, config.base_path,
                                   config.markdown_time_limit)
        except MarkdownTooComplex as exc:
            line = doc.body_line + (exc.line - 1 if exc.line else 0)
            body = error("markdown.too-complex", doc.path, exc.message, line)
    if not apart:
        return dumps((doc, tuple(found), body)), None
    light = None if doc is None else dataclasses.replace(doc, body="")
    if isinstance(body, RenderedBody):
        return (dumps((light, tuple(found), (body.toc, body.word_count))),
                dumps((body.html, body.text)))
    return dumps((light, tuple(found), body)), None


def build(config: SiteConfig, *, strict: bool = False, write: bool = True,
          progress: Progress | None = None, now: datetime | None = None,
          jobs: int = 1, use_cache: bool = True) -> BuildResult:
    """Build the site described by ``config``. With ``write=False`` this is ``sitegen check``:
    every stage runs (templates included) and nothing is written. ``now`` (default: the
    clock) only dates an empty feed, so builds of the same input are identical. ``jobs`` worker
    processes share the Markdown and page rendering; the output does not depend on it.
    ``use_cache`` reuses what earlier builds computed (see ``sitegen.cache``); the output is
    byte for byte the output of a build without it."""
    report = progress or _noop
    timer = _Timer()
    diags: list[Diagnostic] = []
    fixes: list[MentionFix] = []

    def result(ok: bool, stats: BuildStats | None = None,
               site: model.Site | None = None) -> BuildResult:
        return BuildResult(ok, tuple(sorted(diags, key=sort_key)), stats or BuildStats(),
                           tuple(timer.timings), site, tuple(fixes))

    chain, found = theme_chain(config)
    diags += found
    if write:
        diags += output.check_output_dir(config.output_path, config.content_path, config.root)
        if use_cache and not has_errors(diags):
            diags += _check_cache_dir(config)
    if has_errors(diags):
        return result(False)
    store: BuildCache | None = None
    # the search index's writers: forked now, while this process is small (see Standby)
    standby = Standby(jobs if write and use_cache else 1)
    if write and use_cache:
        store, found = BuildCache.open(config.cache_path, config.root)
        diags += found
    before = list(diags)
    thresholds = gc.get_threshold()
    # The build allocates millions of objects that live to its end (the model, the cached
    # entries): at the default threshold each full collection walks all of them again, a
    # third of the time spent unpickling the cache at 10,000 reports. Cyclic garbage then
    # waits a little longer to be freed, at most this many objects' worth.
    gc.set_threshold(max(thresholds[0], GC_THRESHOLD), *thresholds[1:])
    try:
        for attempt in (1, 2, 3):
            try:
                return _build(config, chain, store, diags, fixes, timer, result,
                              strict=strict, write=write, report=report, now=now, jobs=jobs,
                              standby=standby)
            except CacheCorrupt as exc:  # a stored body failed its checks in some stage
                if store is None or attempt == 3:
                    raise
                diags[:] = [*before, discarded(store.folder, str(exc))]
                fixes.clear()
                store.discard()
                store = None  # a fresh cache, and if that fails too, none
                if attempt == 1:
                    store, found = BuildCache.open(config.cache_path, config.root)
                    diags += found
        raise AssertionError("unreachable")
    finally:
        standby.close()
        gc.set_threshold(*thresholds)
        if jobs > 1:
            gc.unfreeze()  # see _fork_friendly
        if store is not None:
            store.close()


@dataclass(slots=True)
class _Loaded:
    """One report file after the load and Markdown stages."""

    key: bytes  # cache key: path, bytes and the settings that affect parsing and Markdown
    doc: content.SourceDoc | None
    found: list[Diagnostic]  # parse diagnostics
    body: RenderedBody | StoredBody | Diagnostic | None = None
    cached: bool = False
    source: tuple[str, str] | None = None  # path in the content folder and shown path,
    # until a worker has read and parsed it
    stat: str = ""  # source_stat of a file not hashed yet: recorded with the worker's key


def _load(config: SiteConfig, store: BuildCache | None, diags: list[Diagnostic],
          access: BodyAccess) -> tuple[list[_Loaded], BuildCache | None, bytes]:
    """Read every report; parse those the cache does not know. A damaged cache is
    discarded (a warning) and the build goes on without it. Stored bodies note their reads
    in ``access``."""
    folder = config.content_path
    if not folder.is_dir():
        diags.append(error("content.missing", str(folder), "content folder not found"))
        return [], store, b""
    paths, found = content.scan(folder)
    diags += found
    settings = digest(__version__, repr((config.timezone, config.max_report_bytes,
                                         config.max_front_matter_bytes, config.allow_raw_html,
                                         config.base_path, config.markdown_time_limit)))
    # The bytes are not kept: at 100,000 reports they are most of a gigabyte. A report the
    # cache does not know is read again by the worker that parses it.
    sources: list[tuple[bytes | None, str, Path, str]] = []  # key, shown, path, stat
    # A cache with no reports (a cold build) cannot know any file's bytes: each file is then
    # read once, by the worker that parses it, which also gives its key.
    blind = store is None or store.holds_no_docs()
    now_ns, salt = time.time_ns(), settings.hex()
    for rel in paths:
        shown = content.shown_path(folder, rel)
        # what identifies the file's bytes for the cache; nothing to look up without one
        stat = content.source_stat(folder, rel, salt, now_ns) if store is not None else None
        key = store.known_key(shown, stat) if store is not None and stat else None
        if key is None and blind:
            sources.append((None, shown, rel, stat or ""))  # hashed by its worker
            continue
        if key is None:  # changed, or not seen before: its key is the hash of its bytes
            raw, found = content.read_source(folder, rel,
                                             max_report_bytes=config.max_report_bytes)
            if raw is None:
                diags += found
                continue
            key = _doc_key(settings, shown, raw)
        sources.append((key, shown, rel, ""))
        if store is not None and stat:
            store.put_source(shown, stat, key)
    held: dict[bytes, Any] = {}
    if store is not None:
        try:
            held = store.get_docs([key for key, _, _, _ in sources if key is not None])
        except (CacheCorrupt, sqlite3.Error) as exc:
            diags.append(discarded(store.folder, str(exc)))
            store.discard()
            store, found = BuildCache.open(config.cache_path, config.root)
            diags += found
    loaded = []
    read_body = store.body_reader().body if store is not None else None
    for key, shown, rel, stat in sources:
        if key is None:
            loaded.append(_Loaded(b"", None, [], source=(rel.as_posix(), shown), stat=stat))
            continue
        hit = held.get(key)
        if hit is not None and read_body is not None:
            doc, found, outcome = hit
            if isinstance(outcome, tuple):  # the body's toc and word count; the rest stays
                toc, words = outcome
                outcome = StoredBody(key, tuple(toc), int(words), read=read_body,
                                     access=access)
            loaded.append(_Loaded(key, doc, list(found), outcome, cached=True))
            continue
        loaded.append(_Loaded(key, None, [], source=(rel.as_posix(), shown)))  # see _read_parse
    return loaded, store, settings


def _fork_friendly(jobs: int) -> None:
    """Before forking workers: move every object so far out of the garbage collector's
    reach (``gc.freeze``). A collection in a worker would otherwise write to the header of
    every object of the parent's heap it inherited, copying all of its pages; and each
    collection would walk the whole model. ``build`` unfreezes them at the end."""
    if jobs > 1:
        gc.freeze()


def _build(config: SiteConfig, chain: list[Path], store: BuildCache | None,
           diags: list[Diagnostic], fixes: list[MentionFix], timer: _Timer,
           result: Callable[..., BuildResult], *, strict: bool, write: bool, report: Progress,
           now: datetime | None, jobs: int, standby: Standby) -> BuildResult:
    access = BodyAccess()  # which stored bodies each page reads: see _page_refs
    loaded, store, settings = _load(config, store, diags, access)
    _fork_friendly(jobs)
    registry, found = load_registry(config.content_path)
    diags += found
    timer.lap("load")
    todo = [item for item in loaded if item.source is not None]
    task = functools.partial(_read_parse, config, config.content_path, settings,
                             store is not None)
    for i, (key, entry, text) in enumerate(ordered_map(task, [item.source for item in todo],
                                                       jobs)):
        item = todo[i]
        if key is None:  # gone or unreadable since _load hashed it
            diags.extend(loads(entry))
            item.source = None
            loaded.remove(item)
            continue
        item.key = key  # the same, unless the file changed since _load hashed it
        if item.stat and store is not None and item.source is not None:  # see _load
            store.put_source(item.source[1], item.stat, key)  # not hashed by _load
        doc, found, outcome = loads(entry)
        item.source, item.doc, item.found, item.body = None, doc, list(found), outcome
        if store is not None:
            store.put_doc(item.key, entry, text)
            if isinstance(outcome, tuple):
                toc, words = outcome
                item.body = StoredBody(item.key, toc, words, read=store.body_reader().body,
                                       access=access)
        report("markdown", i + 1, len(todo))
    if store is not None and not store.flush():  # the stages that read bodies need them
        raise CacheCorrupt("the build cache could not store the rendered reports")
    for item in loaded:
        diags += item.found
    docs = [item.doc for item in loaded if item.doc is not None]
    if not write:  # the editor's check: too noisy for every build (see `check --help`)
        finder = MentionFinder(registry)
        for doc in docs:
            found, fixed = check_mentions(doc.path, doc.body, doc.body_line, doc.meta.actors,
                                          doc.meta.locations, finder, registry)
            diags += found
            fixes.extend(fixed)
    bodies = []
    keys: dict[str, bytes] = {}  # report source -> cache key
    for item in loaded:
        if item.doc is None:
            continue
        keys[item.doc.path] = item.key
        if isinstance(item.body, Diagnostic):
            diags.append(item.body)
        elif item.body is not None:
            bodies.append((item.doc, item.body))
    timer.lap("markdown")
    if has_errors(diags, strict):
        _save(store, None, loaded)
        return result(False)

    descriptions = {}
    for e in (*registry.actors, *registry.locations):
        if e.description:
            try:
                descriptions[(e.kind, e.slug)] = render_markdown(
                    e.description, False, config.base_path, config.markdown_time_limit).html
            except MarkdownTooComplex as exc:
                diags.append(error("markdown.too-complex", e.path, exc.message, e.line))
    site, found = model.build_site(config, bodies, registry, descriptions)
    diags += found
    timer.lap("model")
    _fork_friendly(jobs)
    if has_errors(diags, strict):
        _save(store, None, loaded)
        return result(False)

    env = render.make_env(chain, config.base_path, config.language, config.base_url, access)
    view = render.site_view(site)
    work = list(render.page_jobs(site, view, _related(site, store, jobs), access))
    prints = Fingerprints(settings_key(config, chain, builtin_theme() / "templates"), keys)
    old = store.files if store is not None else {}
    totals = render.site_totals(view)
    records: dict[str, FileRecord] = {}
    stage: output.Staging | None = None
    pending: _PendingIndex | None = None  # the index, when written in the background
    pages = 0
    paths: list[str] = []

    def reused(file_rel: str, origin: str, fp: bytes, prior: FileRecord | None,
               fields: tuple[str, ...] = ()) -> bool:
        """Link the file from the live output if it was made from the same inputs."""
        if stage is None or prior is None or prior.site_fields != fields or \
                prior.fingerprint != fp or not stage.reuse(file_rel, origin, prior.matches):
            return False
        records[file_rel] = prior
        return True

    def written(file: OutputFile, fp: bytes, fields: tuple[str, ...] = ()) -> None:
        if stage is None or has_errors(diags):
            return
        stat = stage.write(file)
        records[file.relpath] = FileRecord(fp, stat.st_size, stat.st_mtime_ns, stat.st_ino,
                                           fields)

    def write_all(files: Iterable[OutputFile], stage_name: str = "",
                  stage_fp: bytes = b"", found: Sequence[Diagnostic] = (),
                  also: Sequence[str] = ()) -> None:
        paths = list(also)
        for file in files:
            fp = prints.data(file.data)
            paths.append(file.relpath)
            if not reused(file.relpath, file.origin, fp, old.get(file.relpath)):
                written(file, fp)
        if store is not None and stage_name:
            store.put_stage(stage_name, stage_fp, paths, tuple(found))

    def cached_stage(name: str, fp: bytes) -> tuple[Diagnostic, ...] | None:
        """A whole stage whose inputs did not change since the last build: link its files
        from the live output and give its diagnostics; None if it must run."""
        if store is None or stage is None:
            return None
        try:
            held = store.stage(name)
        except CacheCorrupt:
            return None
        if held is None or held[0] != fp:
            return None
        _, files, found = held
        priors = {rel: old.get(rel) for rel in files}
        if any(p is None for p in priors.values()) or not stage.reuse_all(
                {rel: p.matches for rel, p in priors.items() if p is not None}, name):
            return None
        records.update({rel: p for rel, p in priors.items() if p is not None})
        store.put_stage(name, fp, files, found)
        return tuple(found)

    try:
        # inside the try: a staging folder that cannot be made is an output.write error
        stage = output.Staging(config.output_path) if write else None
        report_keys = {r.url: prints.report(r) for r in site.reports}
        index_keys = doc_keys(site.reports, site.actors + site.locations, report_keys)
        terms = site.actors + site.locations
        order = doc_order(site.reports)  # once: 10,000 aware datetimes to sort by
        if stage is not None:
            index_args = (site.reports, terms, index_keys, stage.subdir(config.search_dir),
                          store.index_dir if store is not None else None,
                          _weigh(site, order))
        paths.extend(slugs.output_relpath(job.url) for job in work)
        # Pages whose references (the bodies they read) are all unchanged in an unchanged
        # structure (see sitegen.fingerprint) are linked here, without a context
        # fingerprinted or a job completed; the others go to the workers.
        structure = prints.structure(site.reports, site.registry, totals)
        held_structure, held_refs = _page_refs(store) if stage is not None else (b"", {})
        new_refs: dict[str, tuple[bytes, bytes]] = {}  # relpath -> (fingerprint, references)
        # Reads are recorded only of stored bodies: with any other, no page is linked blind.
        tracked = all(isinstance(r.body, StoredBody) for r in site.reports)
        current = prints.current(site.reports) if stage is not None and held_refs and \
            tracked and held_structure == structure else None
        unchanged = [_unchanged_page(old.get(rel), held_refs.get(rel), current)
                     for rel in paths] if current is not None else [False] * len(paths)
        if stage is not None and jobs > 1 and unchanged.count(False) <= FEW_PAGES:
            # An edit's few pages: rendered here, while the standby workers update the
            # index's changed segments beside them (no page workers are forked then, so
            # none is forked while this process's thread feeds the index writers).
            pending = _start_index(*index_args, standby)
        todo_pages = []
        if stage is not None:
            for job, rel in zip(work, paths, strict=True):
                stage.claim(rel, job.url)
            stage.drop_replaced([(rel, old[rel].matches)
                                 for rel, same in zip(paths, unchanged, strict=True) if same])
        for job, rel, same in zip(work, paths, unchanged, strict=True):
            if same and stage is not None and stage.link_claimed(rel, old[rel].matches):
                records[rel] = old[rel]
                new_refs[rel] = held_refs[rel]
                stage.reused += 1
                pages += 1
                continue
            todo_pages.append(job)
        report("render", pages, len(work))

        def page_task(job: render.PageJob) -> tuple[str, FileRecord | None, bool, bytes] | \
                Diagnostic:
            """One page, in a worker: linked from the live output if made from the same
            inputs, else rendered and written. Only (relpath, record, reused, references)
            comes back: the references are the bodies it read, or for a linked page those
            it read when it was rendered. A page whose reads are not known is rendered
            again, unless no reads are recorded in this build."""
            rel = slugs.output_relpath(job.url)
            with access.recording() as read:
                job = job.complete()
                base = prints.page(job.templates, job.context)
                prior, held = old.get(rel), held_refs.get(rel)
                if stage is not None and prior is not None and (not tracked or (
                        held is not None and held[0] == prior.fingerprint)) and \
                        prior.fingerprint == combine(base, site_totals(
                            totals, prior.site_fields)) and stage.link_claimed(
                        rel, prior.matches):
                    return rel, prior, True, held[1] if held is not None else b""
                page = render.render_page(env, job, stage.write_claimed if stage else None)
            if isinstance(page, Diagnostic):
                return page
            stat = page.written
            if stat is None:
                return rel, None, False, b""
            fp = combine(base, site_totals(totals, page.site_fields))
            return rel, FileRecord(fp, stat.st_size, stat.st_mtime_ns, stat.st_ino,
                                   page.site_fields), False, join_refs(read)

        seen: set[tuple[str, int | None, str]] = set()
        page_jobs = 1 if pending is not None else jobs
        if page_jobs > 1:
            render.compile_templates(env, todo_pages)
        for done in ordered_map(page_task, todo_pages, page_jobs, chunk=32,
                                renew=RENEW_PAGE_WORKERS):
            if isinstance(done, Diagnostic):
                if render.diagnostic_key(done) not in seen:
                    seen.add(render.diagnostic_key(done))
                    diags.append(done)
                continue
            pages += 1
            report("render", pages, len(work))
            rel, record, was_reused, refs = done
            if record is not None and stage is not None:
                records[rel] = record
                if tracked:  # else its reads are unknown: no entry, never linked blind
                    new_refs[rel] = (record.fingerprint, refs)
                if was_reused:
                    stage.reused += 1
                else:
                    stage.bytes_written += record.size
        if stage is not None and jobs > 1 and pending is None:
            # Once the page workers are done, the Whoosh index's new segments are written
            # side by side by the standby workers, sent their documents by a thread of
            # this process, while it makes the feeds and the static search index.
            pending = _start_index(*index_args, standby)
        timer.lap("render")
        old_urls = {doc.path: doc.meta.aliases for doc in docs}
        aliases = {r.url: old_urls.get(r.source, ()) for r in site.reports}
        when = now or datetime.now(UTC)
        publish_fp = prints.of(config_key(config), prints.published(site.reports),
                               site.registry, aliases, paths, None if site.reports else when)
        published_found = cached_stage("publish", publish_fp)
        published: Iterator[OutputFile] = iter(())  # made one by one as they are written
        if published_found is None:
            published, publish_diags = publish.publish_files(site, when, aliases, taken=paths,
                                                             with_term_feeds=False)
            diags += publish_diags
        else:
            diags += published_found
        if has_errors(diags, strict) or stage is None:
            if stage is not None:
                _settle(pending)
                stage.abort()
            _save(store, None, loaded)
            return result(not has_errors(diags, strict), _stats(site, docs, pages, None, len(todo)), site)
        if published_found is None:
            feeds: list[str] = []  # the actor and location feeds, written one by one
            entries: dict[str, str] = {}  # each report's feed entry, made once
            empty_site = None if site.reports else when
            for term in (*site.actors, *site.locations):
                # a feed changes only with its term's newest reports: reuse the others
                rel = slugs.feed_url(term.kind, term.slug)
                fp = prints.of(config_key(config), publish.term_feed_inputs(site, term),
                               empty_site)
                feeds.append(rel)
                if not reused(rel, "feed", fp, old.get(rel)):
                    written(publish.term_feed(site, term, when, entries), fp)
            write_all(published, "publish", publish_fp, publish_diags, also=feeds)
            release_memory()  # the exports of every report are made and dropped here
        timer.lap("publish")
        for theme in chain:
            static = theme / "static"
            if static.is_dir():
                stage.copy_tree(static, "static")
        timer.lap("static")
        # What the static index reads of the terms besides the reports' documents (whose
        # keys hold their terms' names): not the terms' own keys, which hash every report
        static_fp = prints.of(config_key(config), [(r.url, index_keys[r.url])
                                                   for r in site.reports],
                              [(t.kind, t.slug, t.name, t.url, [r.url for r in t.reports])
                               for t in terms])
        if cached_stage("static search", static_fp) is None:
            # While the index is still being written, weigh the reports here rather than
            # in more workers: the cores are busy either way, and two more processes
            # would only add their memory to the build's.
            busy = pending is not None and not pending.ready()
            _fork_friendly(jobs)
            texts = _static_texts(site, index_keys, store, 1 if busy else jobs, order,
                                  _weighed_parts(pending))
            write_all(build_static_index(site.reports, site.actors, site.locations, analyze,
                                         texts=texts, order=order), "static search",
                      static_fp)
            del texts  # every posting of the site: not held while the index is finished
            release_memory()
        elif store is not None:  # its cached parts serve the next build that runs it
            _keep_static_memo(site, index_keys, store)
        timer.lap("static search")
        for _ in _weighed_parts(pending) or ():  # not used (the stage was reused): let go
            pass
        if pending is not None:
            indexed, pending = pending(), None
            standby.close()  # the index writers' memory is not held through the swap
        else:
            indexed = _index(*index_args[:-1], jobs)
        diags.extend(indexed.diagnostics)
        timer.lap("search index")
        if has_errors(diags, strict):
            stage.abort()
            _save(store, None, loaded)
            return result(False, _stats(site, docs, pages, None, len(todo)), site)
        stage.commit()
        if store is not None:  # each entry holds its page's fingerprint: see _page_refs
            store.put_memo(PAGE_REFS, (structure, new_refs))
        _save(store, records, loaded)
        timer.lap("swap")
    except (output.OutputError, OSError) as exc:
        _settle(pending)
        if stage is not None:
            stage.abort()
        diags.append(output_error(config.output_path, exc))
        return result(False)
    except BaseException:
        _settle(pending)
        if stage is not None:
            stage.abort()
        raise
    return result(True, _stats(site, docs, pages, stage, len(todo)), site)


def _related(site: model.Site, store: BuildCache | None, jobs: int,
             ) -> Mapping[str, tuple[model.Report, ...]]:
    """``related_reports(site)``, from the cache when no report's URL, date or terms changed
    (it depends on nothing else)."""
    key = digest("related", pickle.dumps(
        [(r.url, r.date.timestamp(), [(t.kind, t.slug) for t in r.terms]) for r in site.reports],
        protocol=5))
    by_url = {r.url: r for r in site.reports}
    if store is not None:
        with contextlib.suppress(CacheCorrupt, sqlite3.Error):
            held = store.get_memo([key]).get(key)
            if isinstance(held, dict) and held.keys() == by_url.keys():
                return {url: tuple(by_url[u] for u in urls) for url, urls in held.items()}
    related = related_reports(site, jobs=jobs)
    if store is not None:
        store.put_memo(key, {url: [r.url for r in found] for url, found in related.items()})
    return related


def _unchanged_page(prior: FileRecord | None, held: tuple[bytes, bytes] | None,
                    current: set[bytes]) -> bool:
    """Whether a page is the page it was (see ``_page_refs``): the file record and the
    references of its last build agree, and every body it read is unchanged."""
    return prior is not None and held is not None and held[0] == prior.fingerprint and \
        refs_current(held[1], current)


def _page_refs(store: BuildCache | None) -> tuple[bytes, dict[str, tuple[bytes, bytes]]]:
    """The last build's structure (``Fingerprints.structure``) and its pages: relpath ->
    (fingerprint, references). A page's references follow from its fingerprint, whatever
    the structure; whether they tell that a page is unchanged holds only in the same
    structure. An entry counts only where its fingerprint is the page's file record's, so
    entries stored by a build that failed before its swap are never trusted."""
    if store is None:
        return b"", {}
    with contextlib.suppress(CacheCorrupt, sqlite3.Error):
        held = store.get_memo([PAGE_REFS]).get(PAGE_REFS)
        if isinstance(held, tuple) and len(held) == 2 and isinstance(held[0], bytes) and \
                isinstance(held[1], dict) and all(
                isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], bytes)
                and isinstance(v[1], bytes) for v in held[1].values()):
            return held[0], held[1]
    return b"", {}


def _static_weight_keys(site: model.Site, index_keys: Mapping[str, str]) -> dict[str, bytes]:
    return {r.url: digest("static-weights", index_keys[r.url]) for r in site.reports}


def _static_state_key(order: Sequence[model.Report]) -> bytes:
    """The cache key of the static index's postings for this order of reports (doc ids)."""
    return digest("static-postings", *(r.url for r in order))


def _static_texts(site: model.Site, index_keys: Mapping[str, str],
                  store: BuildCache | None, jobs: int, order: Sequence[model.Report],
                  weighed: Iterator[WeightsPart] | None) -> dict[str, str]:
    """``posting_texts`` for the site. When the reports are those of the last build in the
    same order (doc ids unchanged) and few changed, the last build's texts are updated for
    the terms of the changed reports only; otherwise merged from the parts the index's
    writers ``weighed``, if it re-indexed every report (see ``_weigh``), or made from every
    report's weights."""
    keys = _static_weight_keys(site, index_keys)
    state_key = _static_state_key(order)
    updated: tuple[dict[str, str], list[str], set[str]] | None = None
    if store is not None:
        with contextlib.suppress(CacheCorrupt, sqlite3.Error, TypeError, ValueError):
            updated = _updated_texts(site, keys, state_key, store, order)
    texts: dict[str, str] | None = None
    if updated is None:
        def packed(doc_id: int, data: bytes) -> None:
            if store is not None:
                store.put_packed_memo(keys[order[doc_id].url], data)

        if weighed is not None:
            with contextlib.suppress(ValueError):  # not every report once: weighed below
                texts = merged_posting_texts(weighed, len(order), packed)
        if texts is None:
            texts = posting_texts(_static_weights(site, index_keys, store, jobs, order))
        bounds, touched = None, None
    else:
        texts, bounds, touched = updated
    if store is not None:
        parts, bounds = _put_parts(store, state_key, texts, bounds, touched)
        store.put_memo(state_key, (dict(keys), parts, bounds))
    return texts


def _put_parts(store: BuildCache, state_key: bytes, texts: dict[str, str],
               bounds: list[str] | None, touched: set[str] | None,
               ) -> tuple[list[bytes], list[str]]:
    """Store ``texts`` in parts of about a megabyte (one pickle of every posting was most of
    the stage's peak memory, and its copy in SQLite's hands another): their keys and each
    part's first term. Given the last build's ``bounds`` and the terms ``touched`` since,
    the parts keep their bounds and only those holding a touched term are stored again."""
    groups: list[list[str]] = []
    if bounds is None:
        size = _TEXTS_PART
        for term in sorted(texts):
            if size >= _TEXTS_PART:
                groups.append([])
                size = 0
            groups[-1].append(term)
            size += len(texts[term])
        bounds = [group[0] for group in groups] or [""]
    else:
        groups = [[] for _ in bounds]
        for term in sorted(texts):
            groups[max(0, bisect.bisect_right(bounds, term) - 1)].append(term)
    keys = []
    for n, group in enumerate(groups or [[]]):
        key = digest("static-postings-part", state_key, str(n))
        if touched is None or any(term in touched for term in group):
            store.put_memo(key, {term: texts[term] for term in group})
            store.flush()  # its pickle is not held beside the texts until a batch is full
        keys.append(key)
    return keys, bounds


def _keep_static_memo(site: model.Site, index_keys: Mapping[str, str],
                      store: BuildCache) -> None:
    """Keep the static search stage's cache entries when the stage was reused whole."""
    state_key = _static_state_key(doc_order(site.reports))
    parts: list[bytes] = []
    with contextlib.suppress(CacheCorrupt, sqlite3.Error):
        held = store.get_memo([state_key]).get(state_key)
        if isinstance(held, tuple) and len(held) == 3 and isinstance(held[1], list):
            parts = held[1]
    store.keep_memo([state_key, *parts, *_static_weight_keys(site, index_keys).values()])


def _updated_texts(site: model.Site, keys: Mapping[str, bytes], state_key: bytes,
                   store: BuildCache, docs: Sequence[model.Report],
                   ) -> tuple[dict[str, str], list[str], set[str]] | None:
    """The last build's texts updated for the changed reports, its parts' bounds and the
    terms whose postings changed; None to start afresh."""
    held = store.get_memo([state_key]).get(state_key)
    if not isinstance(held, tuple) or len(held) != 3:
        return None
    old_keys, part_keys, bounds = held
    if not isinstance(old_keys, dict) or not isinstance(part_keys, list) or \
            not isinstance(bounds, list) or len(bounds) != len(part_keys) or \
            not all(isinstance(b, str) for b in bounds) or old_keys.keys() != keys.keys():
        return None
    texts: dict[str, str] = {}
    for part_key in part_keys:  # one at a time: each unpickled part goes once merged
        part = store.get_memo([part_key]).get(part_key)
        if not isinstance(part, dict):
            return None
        texts.update(part)
    changed = [(i, r) for i, r in enumerate(docs) if old_keys[r.url] != keys[r.url]]
    if len(changed) > max(10, len(docs) // 20):
        return None  # many changes: as fast to start afresh
    wanted = [old_keys[r.url] for _, r in changed] + [keys[r.url] for _, r in changed]
    found = store.get_memo(wanted)
    if any(not isinstance(found.get(old_keys[r.url]), dict) for _, r in changed):
        return None
    lookup = term_lookup(site.actors, site.locations)
    changes = []
    for i, report in changed:
        new = found.get(keys[report.url])
        if not isinstance(new, dict):
            new = report_weights(report, lookup, analyze)
            store.put_memo(keys[report.url], new)
        changes.append((i, found[old_keys[report.url]], new))
    touched = update_posting_texts(texts, changes)
    store.keep_memo(keys.values())
    return texts, bounds, touched


def _weigh(site: model.Site, order: Sequence[model.Report],
           ) -> Callable[[model.Report], tuple[int, Sequence[str], Sequence[frozenset[str]]]]:
    """What the index's writers need besides a report's document to weigh it for the static
    search (``IndexUpdate``): its doc id, tags and ``name_sets``."""
    doc_id = {r.url: i for i, r in enumerate(order)}
    lookup = term_lookup(site.actors, site.locations)
    names: dict[tuple[str, str, str], frozenset[str]] = {}
    return lambda report: (doc_id[report.url], report.tags,
                           name_sets(report, lookup, analyze, names))


def _weighed_parts(pending: _PendingIndex | None) -> Iterator[WeightsPart] | None:
    """The static search parts the index's writers weigh, if they weigh every report."""
    return pending.weights_parts() if isinstance(pending, IndexUpdate) and pending.weighed \
        else None


def _static_weights(site: model.Site, index_keys: Mapping[str, str],
                    store: BuildCache | None, jobs: int, order: Sequence[model.Report],
                    ) -> Iterator[Mapping[str, int]]:
    """Each report's static-search weights, in doc-id order: from the cache (keyed like its
    Whoosh document: the report and its terms' names) or computed now over ``jobs``
    processes and stored. One at a time: ``posting_texts`` folds each into the postings as
    it comes."""
    keys = _static_weight_keys(site, index_keys)
    known: dict[bytes, Any] = {}
    if store is not None:
        with contextlib.suppress(CacheCorrupt, sqlite3.Error):  # then compute them all
            known = store.get_memo(list(keys.values()))
    missing = [r for r in order if not isinstance(known.get(keys[r.url]), dict)]
    weigh = functools.partial(report_weights, terms=term_lookup(site.actors, site.locations),
                              analyze=analyze, names={})
    computed = ordered_map(weigh, missing, jobs)
    for report in order:
        found = known.pop(keys[report.url], None)
        if not isinstance(found, dict):
            found = next(computed)
            if store is not None:
                store.put_memo(keys[report.url], found)
        yield found


def _index(reports: Sequence[model.Report], terms: Sequence[model.Term],
           keys: dict[str, str], dest: Path, cached: Path | None, jobs: int) -> IndexStats:
    """The Whoosh index into ``dest``: updated in the cache and linked, or written afresh
    (no cache, or another build holds the cached index)."""
    if cached is not None:
        with contextlib.suppress(LockError):
            return update_index(reports, terms, keys, cached, dest, jobs)
    return build_index(reports, terms, dest, keys)


def _start_index(reports: Sequence[model.Report], terms: Sequence[model.Term],
                 keys: dict[str, str], dest: Path, cached: Path | None,
                 weigh: Callable[[model.Report], Any], standby: Standby) -> _PendingIndex:
    """``_index`` started beside this process: the cached index updated by the ``standby``
    workers, which are sent the documents and so copy none of this process's pages (and
    weigh the reports for the static search if they index all of them: see ``_weigh``);
    or, with no cached index to update, a fresh one written in a forked process."""
    if cached is not None:
        with contextlib.suppress(LockError):
            return IndexUpdate(reports, terms, keys, cached, dest, standby, weigh, dumps)
    return in_background(build_index, reports, terms, dest, keys)


def _save(store: BuildCache | None, files: dict[str, FileRecord] | None,
          loaded: list[_Loaded]) -> None:
    """Store the new cache entries; ``files`` (None: keep the old records) after a commit."""
    if store is None:
        return
    with contextlib.suppress(sqlite3.Error, OSError):  # a cache that cannot be saved is no loss
        store.save(files, [item.key for item in loaded])


def _check_cache_dir(config: SiteConfig) -> list[Diagnostic]:
    cache, out = config.cache_path.resolve(), config.output_path.resolve()
    if cache.is_relative_to(out) or out.is_relative_to(cache):
        return [error("config.cache-dir", str(config.cache_dir), "the cache folder and the "
                      "output folder must not contain one another; each build replaces the "
                      "output folder")]
    return []


def output_error(path: Path, exc: BaseException) -> Diagnostic:
    if isinstance(exc, OSError):
        where = exc.filename or path
        return error("output.write", str(where), f"cannot write the site: {exc.strerror}; "
                     "the previous output is unchanged")
    return error("output.write", str(path), f"{exc}; the previous output is unchanged")


def _stats(site: model.Site, docs: list[content.SourceDoc], pages: int,
           stage: output.Staging | None, parsed: int) -> BuildStats:
    return BuildStats(
        reports=len(site.reports),
        drafts_skipped=sum(1 for d in docs if d.meta.draft) if not site.config.drafts else 0,
        actors=len(site.actors), locations=len(site.locations), pages=pages,
        files=len(stage.written) if stage else 0, bytes=stage.bytes_written if stage else 0,
        reused=stage.reused if stage else 0, parsed=parsed)
