"""The build pipeline, written out stage by stage.

config -> load sources -> Markdown -> model -> render -> stage files -> search index -> swap.
Each stage returns values and diagnostics; the build stops after a stage that produced errors,
before anything touches ``output/``. ``check`` runs the same stages and writes nothing.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sitegen import content, model, output, publish, render
from sitegen.config import SiteConfig
from sitegen.diagnostics import Diagnostic, error, has_errors, sort_key
from sitegen.entities import MentionFinder, MentionFix, check_mentions, load_registry
from sitegen.markdown import MarkdownTooComplex, render_markdown
from sitegen.model import RenderedBody
from sitegen.parallel import in_background, ordered_map
from sitegen.search.analysis import analyze
from sitegen.search.index import IndexStats, build_index
from sitegen.search.static import build_static_index
from sitegen.themes import theme_chain

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True, slots=True)
class BuildStats:
    reports: int = 0
    drafts_skipped: int = 0
    actors: int = 0
    locations: int = 0
    pages: int = 0
    files: int = 0
    bytes: int = 0


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


def _settle(pending: Callable[[], IndexStats] | None) -> None:
    """Wait for a background index before its staging folder is deleted; its result no
    longer matters."""
    if pending is not None:
        with contextlib.suppress(Exception):
            pending()


def _body_html(allow_raw_html: bool, base_path: str, time_limit: float,
               doc: content.SourceDoc) -> RenderedBody | Diagnostic:
    try:
        return render_markdown(doc.body, allow_raw_html, base_path, time_limit)
    except MarkdownTooComplex as exc:  # a value, not an exception, across worker processes
        line = doc.body_line + (exc.line - 1 if exc.line else 0)
        return error("markdown.too-complex", doc.path, exc.message, line)


def build(config: SiteConfig, *, strict: bool = False, write: bool = True,
          progress: Progress | None = None, now: datetime | None = None,
          jobs: int = 1) -> BuildResult:
    """Build the site described by ``config``. With ``write=False`` this is ``sitegen check``:
    every stage runs (templates included) and nothing is written. ``now`` (default: the
    clock) only dates an empty feed, so builds of the same input are identical. ``jobs`` worker
    processes share the Markdown and page rendering; the output does not depend on it."""
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
    if has_errors(diags):
        return result(False)

    docs, found = content.load_sources(config.content_path, config.tz,
                                       max_report_bytes=config.max_report_bytes,
                                       max_front_matter_bytes=config.max_front_matter_bytes)
    diags += found
    registry, found = load_registry(config.content_path)
    diags += found
    if not write:  # the editor's check: too noisy for every build (see `check --help`)
        finder = MentionFinder(registry)
        for doc in docs:
            found, fixed = check_mentions(doc.path, doc.body, doc.body_line, doc.meta.actors,
                                          doc.meta.locations, finder, registry)
            diags += found
            fixes.extend(fixed)
    timer.lap("load")
    to_html = functools.partial(_body_html, config.allow_raw_html, config.base_path,
                                config.markdown_time_limit)
    bodies = []
    for i, body in enumerate(ordered_map(to_html, docs, jobs)):
        if isinstance(body, Diagnostic):
            diags.append(body)
        else:
            bodies.append((docs[i], body))
        report("markdown", i + 1, len(docs))
    timer.lap("markdown")
    if has_errors(diags, strict):
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
    if has_errors(diags, strict):
        return result(False)

    env = render.make_env(chain, config.base_path, config.language, config.base_url)
    total = render.count_pages(site)
    stage: output.Staging | None = None
    pending: Callable[[], IndexStats] | None = None  # the index, when written in the background
    pages = 0
    paths: list[str] = []
    try:
        # inside the try: a staging folder that cannot be made is an output.write error
        stage = output.Staging(config.output_path) if write else None
        if stage is not None and jobs > 1:
            # The Whoosh index is single-threaded: write it in a forked process meanwhile.
            pending = in_background(build_index, site.reports, site.actors + site.locations,
                                    stage.subdir(config.search_dir))
        for item in render.render_site(site, env, jobs=jobs):
            if isinstance(item, Diagnostic):
                diags.append(item)
                continue
            pages += 1
            paths.append(item.relpath)
            report("render", pages, total)
            if stage is not None and not has_errors(diags):
                stage.write(item)
        timer.lap("render")
        old_urls = {doc.path: doc.meta.aliases for doc in docs}
        published, found = publish.publish_files(
            site, now or datetime.now(UTC),
            {r.url: old_urls.get(r.source, ()) for r in site.reports}, taken=paths)
        diags += found
        timer.lap("publish")
        if has_errors(diags, strict) or stage is None:
            if stage is not None:
                _settle(pending)
                stage.abort()
            return result(not has_errors(diags, strict), _stats(site, docs, pages, None), site)
        for theme in chain:
            static = theme / "static"
            if static.is_dir():
                stage.copy_tree(static, "static")
        stage.write_all(published)
        timer.lap("static")
        stage.write_all(build_static_index(site.reports, site.actors, site.locations, analyze))
        timer.lap("static search")
        if pending is not None:
            indexed, pending = pending(), None
        else:
            indexed = build_index(site.reports, site.actors + site.locations,
                                  stage.subdir(config.search_dir))
        diags.extend(indexed.diagnostics)
        timer.lap("search index")
        if has_errors(diags, strict):
            stage.abort()
            return result(False, _stats(site, docs, pages, None), site)
        stage.commit()
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
    return result(True, _stats(site, docs, pages, stage), site)


def output_error(path: Path, exc: BaseException) -> Diagnostic:
    if isinstance(exc, OSError):
        where = exc.filename or path
        return error("output.write", str(where), f"cannot write the site: {exc.strerror}; "
                     "the previous output is unchanged")
    return error("output.write", str(path), f"{exc}; the previous output is unchanged")


def _stats(site: model.Site, docs: list[content.SourceDoc], pages: int,
           stage: output.Staging | None) -> BuildStats:
    return BuildStats(
        reports=len(site.reports),
        drafts_skipped=sum(1 for d in docs if d.meta.draft) if not site.config.drafts else 0,
        actors=len(site.actors), locations=len(site.locations), pages=pages,
        files=len(stage.written) if stage else 0, bytes=stage.bytes_written if stage else 0)
