"""Rendering: the Jinja environment, one typed context per page kind, and ``render_site``.

``render_site`` is a pure map from a frozen ``Site`` to ``OutputFile``s (or diagnostics for
template errors); it never touches the filesystem except to read templates. Templates get
``site`` (a ``SiteView``, never the raw config), ``page_url``, ``sitegen_version``, ``url`` and
the fields of their page's context dataclass, documented by each field's ``help``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date as date_type
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from babel.dates import format_date, format_datetime, get_month_names
from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PrefixLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    select_autoescape,
)
from markupsafe import Markup

from sitegen import __version__, slugs
from sitegen.access import BodyAccess
from sitegen.diagnostics import Diagnostic, error
from sitegen.files import OutputFile
from sitegen.model import (
    CoTerm,
    Listed,
    Report,
    Site,
    Term,
    TermKind,
    YearArchive,
)
from sitegen.parallel import ordered_map
from sitegen.related import reading_minutes, related_reports
from sitegen.svg import MapPlace, format_coordinates, locator_map, year_bars
from sitegen.themes import builtin_theme

T = TypeVar("T")
KIND_LABELS = {"actor": ("Actor", "Actors"), "location": ("Location", "Locations")}


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass(frozen=True, slots=True)
class NavItem:
    title: str
    url: str


@dataclass(frozen=True, slots=True)
class TermSummary:
    slug: str
    name: str
    url: str
    count: int


@dataclass(frozen=True, slots=True)
class SiteView:
    """What templates see of the site: never the raw config."""

    title: str
    description: str
    base_url: str
    base_path: str
    language: str
    nav: tuple[NavItem, ...]
    report_count: int
    actors: tuple[TermSummary, ...]
    locations: tuple[TermSummary, ...]
    extra: Mapping[str, Any]

    def absolute(self, url: str) -> str | None:
        """Absolute URL of a site-relative path, when base_url is a full URL."""
        if "://" not in self.base_url:
            return None
        root = self.base_url if self.base_url.endswith("/") else self.base_url + "/"
        return root + slugs.href("/", url).lstrip("/")


@dataclass(frozen=True, slots=True)
class Pagination(Generic[T]):
    items: tuple[T, ...]
    number: int
    total_pages: int
    total_items: int
    base_url: str

    @property
    def prev_url(self) -> str | None:
        return slugs.paged_url(self.base_url, self.number - 1) if self.number > 1 else None

    @property
    def next_url(self) -> str | None:
        return (slugs.paged_url(self.base_url, self.number + 1)
                if self.number < self.total_pages else None)

    def page_url(self, number: int) -> str:
        return slugs.paged_url(self.base_url, number)


def paginate(items: Sequence[T], page_size: int, base_url: str) -> list[Pagination[T]]:
    total = max(1, math.ceil(len(items) / page_size))
    return [Pagination(tuple(items[i * page_size:(i + 1) * page_size]), i + 1, total, len(items),
                       base_url) for i in range(total)]


# --- page contexts -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PageContext:
    site: SiteView = field(metadata=_help("The site: title, base_path, nav, actors, locations."))
    page_url: str = field(metadata=_help("This page's site-relative URL, e.g. 'actors/kh/'."))
    page_title: str = field(metadata=_help("Title for the <title> element and the h1."))
    sitegen_version: str = field(metadata=_help("Version of sitegen that built the page."))


@dataclass(frozen=True, slots=True)
class IndexPage(PageContext):
    pagination: Pagination[Report] = field(metadata=_help("Newest reports, one page of them."))


@dataclass(frozen=True, slots=True)
class ReportPage(PageContext):
    report: Report = field(metadata=_help("The report (see model.Report)."))
    older: Report | None = field(metadata=_help("The previous report in time, if any."))
    newer: Report | None = field(metadata=_help("The next report in time, if any."))
    related: tuple[Report, ...] = field(metadata=_help(
        "Up to five reports sharing actors and locations, rarest shared terms first."))
    reading_minutes: int = field(metadata=_help("Estimated reading time in minutes."))


@dataclass(frozen=True, slots=True)
class TermIndexPage(PageContext):
    kind: TermKind = field(metadata=_help("'actor' or 'location'."))
    terms: tuple[Term, ...] = field(metadata=_help("Every term of this kind, A-Z."))
    letters: tuple[tuple[str, tuple[Term, ...]], ...] = field(
        metadata=_help("Terms grouped by first letter: (letter, terms)."))


@dataclass(frozen=True, slots=True)
class TermPage(PageContext):
    kind: TermKind = field(metadata=_help("'actor' or 'location'."))
    term: Term = field(metadata=_help(
        "The actor or location (see model.Term): name, aliases, entity (registry entry or "
        "none), description_html, parents (breadcrumb), children, reports."))
    pagination: Pagination[Listed] = field(metadata=_help(
        "The reports its page lists, newest first, paged: each item has .report and .via "
        "(the child locations it came through; empty if it names the term itself)."))
    co_actors: tuple[CoTerm, ...] = field(metadata=_help(
        "Up to 10 actors named most often in the same reports: .ref (name, url), .count."))
    co_locations: tuple[CoTerm, ...] = field(metadata=_help(
        "Up to 10 locations named most often in the same reports: .ref, .count."))
    timeline: Markup | None = field(metadata=_help(
        "Inline SVG bar chart of listed reports per year (term.timeline has the numbers)."))
    locator_map: Markup | None = field(metadata=_help(
        "Inline SVG map of the place and nearby related places, if it has coordinates."))
    coordinates: str | None = field(metadata=_help(
        "The place's coordinates as text ('32.62° N, 44.02° E'), if known."))


@dataclass(frozen=True, slots=True)
class ArchiveIndexPage(PageContext):
    years: tuple[YearArchive, ...] = field(metadata=_help("Every year, newest first."))


@dataclass(frozen=True, slots=True)
class YearPage(PageContext):
    archive: YearArchive = field(metadata=_help("The year, with its months, newest first."))
    older: YearArchive | None = field(metadata=_help("The previous year with reports."))
    newer: YearArchive | None = field(metadata=_help("The next year with reports."))


@dataclass(frozen=True, slots=True)
class SimplePage(PageContext):
    """Search page and 404 page: nothing beyond the common fields."""


def context_dict(ctx: PageContext) -> dict[str, Any]:
    return {f.name: getattr(ctx, f.name) for f in fields(ctx)}


# --- environment ---------------------------------------------------------------------------


class _Environment(Environment):
    """Jinja's environment, except that ``select_template`` skips names that no template
    folder holds without asking the loaders again: every report page first tries its own
    ``report-<slug>.html``, which is almost never there, and each miss cost a file lookup in
    every theme folder (templates do not change during a build: ``auto_reload`` is off)."""

    _names: frozenset[str] | None = None

    def select_template(self, names: Any, parent: str | None = None,
                        globals: Any = None) -> Any:
        if self._names is None:
            self._names = frozenset(self.list_templates())
        if isinstance(names, list | tuple):
            names = [n for n in names if not isinstance(n, str) or n in self._names] or names
        return super().select_template(names, parent, globals)


def make_env(theme_dirs: Sequence[Path], base_path: str = "/", language: str = "en",
             base_url: str = "/", access: BodyAccess | None = None) -> Environment:
    """The one place a Jinja ``Environment`` is created. ``access`` records the stored
    bodies a page reads (see ``BodyAccess``), fragments reused from ``cached`` included."""
    builtin = builtin_theme() / "templates"
    env = _Environment(
        loader=ChoiceLoader([
            FileSystemLoader([str(d / "templates") for d in theme_dirs] + [str(builtin)]),
            PrefixLoader({"builtin": FileSystemLoader(str(builtin))}, delimiter=":"),
        ]),
        autoescape=select_autoescape(["html", "htm", "xml"]),
        undefined=StrictUndefined,
        auto_reload=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    register_filters(env, base_path, language, base_url)
    env.globals["cached"] = _MacroCache(access)
    return env


class _MacroCache:
    """``cached(macro, *args)``: the macro's output for these arguments, rendered once per
    process and environment and reused (Hugo's ``partialCached``). A report's entry in a
    list is the same on the home page, its year and each of its actors' and places' pages;
    rendering it once instead of on every list is a fifth of a theme-only rebuild.

    Only for macros whose output depends on their arguments alone (a macro imported without
    context sees nothing else, but ``caller()`` would). Arguments are told apart by
    identity, not equality (a report is a large value to hash): the entry holds them, so
    their ids stay theirs while the cache lives. It holds at most ``LIMIT`` characters of
    output, the oldest entries going first, so a large archive costs no more memory. The
    stored bodies an entry read when it was rendered are noted again each time it is reused
    (``BodyAccess.replay``), so a page's recorded reads are those of a page rendered without
    the cache."""

    LIMIT = 16 << 20

    def __init__(self, access: BodyAccess | None = None) -> None:
        self._held: dict[tuple[int, ...], tuple[tuple[Any, ...], Any, frozenset[bytes]]] = {}
        self._size = 0
        self._access = access

    def __call__(self, macro: Any, *args: Any) -> Any:
        key = (id(macro), *map(id, args))
        hit = self._held.get(key)
        if hit is None:
            if self._access is None:
                output, read = macro(*args), frozenset[bytes]()
            else:
                with self._access.recording() as seen:
                    output = macro(*args)
                read = frozenset(seen)
            hit = self._held[key] = ((macro, *args), output, read)
            self._size += len(hit[1])
            while self._size > self.LIMIT:
                self._size -= len(self._held.pop(next(iter(self._held)))[1])
        elif hit[2] and self._access is not None:
            self._access.replay(hit[2])
        return hit[1]


def register_filters(env: Environment, base_path: str, language: str,
                     base_url: str = "/") -> None:
    locale = language.replace("-", "_")

    def url(path: str) -> str:
        return slugs.href(base_path, path)

    @functools.lru_cache(maxsize=1 << 14)
    def _date(day: date_type, fmt: str) -> str:
        return format_date(day, format=fmt, locale=locale)

    def date(value: datetime, fmt: str = "medium") -> str:
        # Babel takes tens of microseconds a date; a site shows each date on many pages
        return _date(value.date() if isinstance(value, datetime) else value, fmt)

    def datetime_(value: datetime, fmt: str = "medium") -> str:
        return format_datetime(value, format=fmt, tzinfo=value.tzinfo, locale=locale)

    def month_name(month: int) -> str:
        return str(get_month_names("wide", locale=locale)[month])

    def isodate(value: datetime) -> str:
        return value.isoformat()

    def absolute(path: str) -> str:
        """Absolute URL when base_url is a full URL, else the root-relative link."""
        if "://" in base_url:
            return base_url.rstrip("/") + "/" + slugs.href("/", path).lstrip("/")
        return url(path)

    def jsonld(value: Any) -> Markup:
        """JSON for a <script type="application/ld+json"> block, safe against </script>."""
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
        return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e")
                      .replace("&", "\\u0026"))

    def news_article(report: Report, site: SiteView) -> dict[str, Any]:
        """schema.org NewsArticle for a report page."""
        def thing(kind: str, name: str, path: str) -> dict[str, str]:
            return {"@type": kind, "name": name, "url": absolute(path)}

        data: dict[str, Any] = {
            "@context": "https://schema.org", "@type": "NewsArticle",
            "headline": report.title, "url": absolute(report.url),
            "mainEntityOfPage": absolute(report.url),
            "datePublished": report.date.isoformat(),
            "dateModified": (report.updated or report.date).isoformat(),
            "publisher": {"@type": "Organization", "name": site.title, "url": absolute("")},
            "about": [thing("Thing", t.name, t.url) for t in report.actors],
            "mentions": [thing("Place", t.name, t.url) for t in report.locations],
            "inLanguage": site.language,
        }
        if report.summary:
            data["description"] = report.summary
        if report.author:
            data["author"] = {"@type": "Person", "name": report.author}
        else:
            data["author"] = {"@type": "Organization", "name": site.title}
        return data

    # Babel reads the locale's data on first use: here, once, before page workers are forked
    # (and renewed), rather than in each of them (about 10 ms a worker). An unknown locale
    # is left for the first page that formats a date to report.
    with contextlib.suppress(Exception):
        _date(date_type(2000, 1, 1), "medium")
    env.globals["url"] = url
    env.globals["absolute_url"] = absolute
    env.globals["news_article"] = news_article
    env.globals["feed_url"] = slugs.feed_url
    env.filters.update({
        "url": url,
        "date": date,
        "datetime": datetime_,
        "month_name": month_name,
        "isodate": isodate,
        "slugify": slugs.slugify_name,
        "jsonld": jsonld,
        "html": lambda s: Markup(s),  # only for sanitised Markdown output (report.body.html)
    })


def template_diagnostic(exc: BaseException, page: str) -> Diagnostic:
    """Point a template error at the template file and line."""
    if isinstance(exc, TemplateSyntaxError):
        return error("template.syntax", _shown(exc.filename or exc.name or "?"),
                     exc.message or str(exc), exc.lineno)
    if isinstance(exc, TemplateNotFound):
        return error("template.missing", page, f"template not found: {exc.name}")
    frames = [(f.filename, f.lineno) for f in traceback.extract_tb(exc.__traceback__)
              if f.filename.endswith((".html", ".xml", ".txt"))]
    where, line = frames[-1] if frames else ("<template>", None)
    return error("template.render", _shown(where), f"{type(exc).__name__}: {exc} "
                 f"(while rendering {page})", line)


def _shown(path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return path


# --- pages ---------------------------------------------------------------------------------


def site_nav() -> tuple[NavItem, ...]:
    return (NavItem("Reports", ""), NavItem("Actors", slugs.term_index_url("actor")),
            NavItem("Places", slugs.term_index_url("location")),
            NavItem("Archive", slugs.archive_url()), NavItem("Search", "search/"))


def site_view(site: Site) -> SiteView:
    config = site.config

    def summaries(terms: Sequence[Term]) -> tuple[TermSummary, ...]:
        return tuple(TermSummary(t.slug, t.name, t.url, len(t.reports)) for t in terms)

    return SiteView(
        title=config.title, description=config.description, base_url=config.base_url,
        base_path=config.base_path, language=config.language,
        nav=site_nav(),
        report_count=len(site.reports), actors=summaries(site.actors),
        locations=summaries(site.locations), extra=config.extra,
    )


@dataclass(frozen=True, slots=True)
class PageJob:
    """One page to render: its URL, template names to try, and its context. ``later``
    computes fields of the context where the page is rendered (in a worker process) rather
    than where the jobs are listed: ``complete()`` fills them in."""

    url: str
    templates: tuple[str, ...]
    context: PageContext
    later: Callable[[], Mapping[str, Any]] | None = None

    def complete(self) -> PageJob:
        if self.later is None:
            return self
        return PageJob(self.url, self.templates, replace(self.context, **self.later()))


class _TermExtras:
    """``term_extras(site, term)``, computed once per process for all pages of a term (the
    stored bodies it read noted again for each page, as ``_MacroCache`` does)."""

    def __init__(self, site: Site, term: Term, access: BodyAccess | None) -> None:
        self._site, self._term, self._access = site, term, access
        self._value: dict[str, Any] | None = None
        self._read: frozenset[bytes] = frozenset()

    def __call__(self) -> dict[str, Any]:
        if self._value is None:
            if self._access is None:
                self._value = term_extras(self._site, self._term)
            else:
                with self._access.recording() as seen:
                    self._value = term_extras(self._site, self._term)
                self._read = frozenset(seen)
        elif self._read and self._access is not None:
            self._access.replay(self._read)
        return self._value


class _ReadingTime:
    """A report page's reading time, worked out where the page is rendered (so that a
    ``BodyAccess`` recording sees the word count read)."""

    def __init__(self, report: Report) -> None:
        self._report = report

    def __call__(self) -> dict[str, Any]:
        return {"reading_minutes": reading_minutes(self._report.body.word_count)}


_LATER_EXTRAS: dict[str, Any] = {"co_actors": (), "co_locations": (), "timeline": None,
                                 "locator_map": None, "coordinates": None}


def page_jobs(site: Site, view: SiteView,
              related: Mapping[str, tuple[Report, ...]] | None = None,
              access: BodyAccess | None = None) -> Iterator[PageJob]:
    """Every page of the site, in a stable order. ``related`` is ``related_reports(site)``
    when the caller has it already; ``access``, the build's ``BodyAccess``, if any."""
    common: dict[str, Any] = {"site": view, "sitegen_version": __version__}
    size = site.config.page_size
    for page in paginate(site.reports, size, ""):
        url = page.page_url(page.number)
        title = view.title if page.number == 1 else f"{view.title}, page {page.number}"
        yield PageJob(url, ("index.html",), IndexPage(page_url=url, page_title=title,
                                                      pagination=page, **common))
    reports = site.reports
    if related is None:
        related = related_reports(site)
    for i, report in enumerate(reports):
        yield PageJob(report.url, (f"report-{report.slug}.html", "report.html"), ReportPage(
            page_url=report.url, page_title=report.title, report=report,
            newer=reports[i - 1] if i > 0 else None,
            older=reports[i + 1] if i + 1 < len(reports) else None,
            related=related.get(report.url, ()), reading_minutes=0, **common),
            later=_ReadingTime(report))
    for kind in ("actor", "location"):
        terms = site.terms(kind)
        label = KIND_LABELS[kind][1]
        index_url = slugs.term_index_url(kind)
        yield PageJob(index_url, (f"{kind}s.html", "terms.html"), TermIndexPage(
            page_url=index_url, page_title=label, kind=kind, terms=terms,
            letters=_letters(terms), **common))
        for term in terms:
            extras = _TermExtras(site, term, access)  # charts and maps: drawn in the workers
            for listed in paginate(term.listing, size, term.url):
                url = listed.page_url(listed.number)
                title = (term.name if listed.number == 1
                         else f"{term.name}, page {listed.number}")
                yield PageJob(url, (f"{kind}-{term.slug}.html", f"{kind}.html", "term.html"),
                              TermPage(page_url=url, page_title=title, kind=kind, term=term,
                                       pagination=listed, **_LATER_EXTRAS, **common),
                              later=extras)
    yield PageJob(slugs.archive_url(), ("archive.html",), ArchiveIndexPage(
        page_url=slugs.archive_url(), page_title="Archive", years=site.years, **common))
    for i, year in enumerate(site.years):
        yield PageJob(year.url, ("year.html",), YearPage(
            page_url=year.url, page_title=f"Reports from {year.year}", archive=year,
            newer=site.years[i - 1] if i > 0 else None,
            older=site.years[i + 1] if i + 1 < len(site.years) else None, **common))
    yield PageJob("search/", ("search.html",), SimplePage(page_url="search/",
                                                          page_title="Search", **common))
    yield PageJob("404.html", ("404.html",), SimplePage(page_url="404.html",
                                                        page_title="Page not found", **common))


CO_TERMS_SHOWN = 10


def term_extras(site: Site, term: Term) -> dict[str, Any]:
    """The computed parts of a term page: top co-occurring terms, the year chart and, for a
    place with coordinates, the locator map (with its parent, children and co-occurring
    places that have coordinates, as registered)."""
    timeline = term.timeline
    span = (f"in {timeline[0].year}" if len(timeline) == 1
            else f"per year, {timeline[0].year} to {timeline[-1].year}")
    chart = (Markup(year_bars([(y.year, y.count) for y in timeline],
                              f"Reports listed for {term.name} {span}"))
             if timeline else None)
    located = None
    if term.coordinates is not None:
        related = [*(p.slug for p in term.parents), *(c.slug for c in term.children),
                   *(c.ref.slug for c in term.co_locations)]
        places = []
        for slug in related:
            entity = site.registry.get("location", slug)
            if entity is not None and entity.coordinates is not None:
                places.append(MapPlace(entity.name, *entity.coordinates))
        located = Markup(locator_map(MapPlace(term.name, *term.coordinates), places))
    return {
        "co_actors": term.co_actors[:CO_TERMS_SHOWN],
        "co_locations": term.co_locations[:CO_TERMS_SHOWN],
        "timeline": chart,
        "locator_map": located,
        "coordinates": format_coordinates(*term.coordinates) if term.coordinates else None,
    }


def _letters(terms: Sequence[Term]) -> tuple[tuple[str, tuple[Term, ...]], ...]:
    groups: dict[str, list[Term]] = {}
    for term in terms:
        first = slugs.slugify_name(term.name)[:1].upper()
        letter = first if first.isascii() and first.isalpha() else "#"
        groups.setdefault(letter, []).append(term)
    ordered = sorted(groups, key=lambda k: (k == "#", k))
    return tuple((k, tuple(groups[k])) for k in ordered)


# The SiteView fields that change whenever a report is added, removed or retagged. A page
# that never reads them need not be rendered again for such a change: ``render_page`` records
# which of them a page read (see sitegen.fingerprint).
SITE_TOTALS = ("report_count", "actors", "locations")


def site_totals(view: SiteView) -> dict[str, object]:
    return {name: getattr(view, name) for name in SITE_TOTALS}


class _TrackedSite:
    """A SiteView that notes which of the ``SITE_TOTALS`` a template reads."""

    def __init__(self, view: SiteView, used: set[str]) -> None:
        self._view = view
        self._used = used

    def __getattr__(self, name: str) -> Any:
        if name in SITE_TOTALS:
            self._used.add(name)
        return getattr(self._view, name)


@dataclass(frozen=True, slots=True)
class RenderedPage:
    file: OutputFile  # without its bytes when a sink wrote them
    site_fields: tuple[str, ...]  # the SITE_TOTALS the templates read
    written: Any = None  # what the sink returned


Sink = Callable[[OutputFile], Any]


def compile_templates(env: Environment, work: Iterable[PageJob]) -> None:
    """Compile, in this process, every template the jobs may use, before worker processes
    are forked: each worker (and each one that replaces another) then inherits them instead
    of compiling them again. A template that does not compile is left for its page to
    report."""
    names = {name for job in work for name in job.templates}
    for name in sorted(names & set(env.list_templates())):
        with contextlib.suppress(Exception):
            env.get_template(name)


def render_page(env: Environment, job: PageJob, sink: Sink | None = None,
                ) -> RenderedPage | Diagnostic:
    """Render one page. With a ``sink``, the page is handed to it where it was rendered (in
    a worker process, say) and only what the sink returns travels back, not the bytes."""
    job = job.complete()
    used: set[str] = set()
    tracked: Any = _TrackedSite(job.context.site, used)  # quacks like the SiteView
    context = replace(job.context, site=tracked)
    try:
        template = env.select_template(list(job.templates))
        text = template.render(context_dict(context) | {"page": context})
    except (TemplateError, TypeError, ValueError, AttributeError, LookupError,
            ArithmeticError) as exc:
        return template_diagnostic(exc, job.url or "index.html")
    file = OutputFile(slugs.output_relpath(job.url), text.encode("utf-8"), origin=job.url)
    if sink is not None:
        return RenderedPage(OutputFile(file.relpath, b"", file.origin), tuple(sorted(used)),
                            sink(file))
    return RenderedPage(file, tuple(sorted(used)))


def render_pages(env: Environment, work: Sequence[PageJob], jobs: int = 1,
                 sink: Sink | None = None) -> Iterator[RenderedPage | Diagnostic]:
    """Render the pages of ``work`` over ``jobs`` processes, in order; a template error
    becomes one diagnostic (each distinct error once). See ``render_page`` for ``sink``."""
    seen: set[tuple[str, int | None, str]] = set()
    for result in ordered_map(functools.partial(render_page, env, sink=sink), work, jobs,
                              chunk=32):
        if isinstance(result, Diagnostic):
            if diagnostic_key(result) in seen:
                continue
            seen.add(diagnostic_key(result))
        yield result


def diagnostic_key(found: Diagnostic) -> tuple[str, int | None, str]:
    """A template error once, however many pages it broke."""
    return found.path, found.line, found.message.split(" (while")[0]


def render_site(site: Site, env: Environment,
                jobs: int = 1) -> Iterator[RenderedPage | Diagnostic]:
    """Render every page of the site (see ``render_pages``)."""
    yield from render_pages(env, list(page_jobs(site, site_view(site))), jobs)


def count_pages(site: Site) -> int:
    size = site.config.page_size
    n = max(1, math.ceil(len(site.reports) / size)) + len(site.reports) + 2 + 1 + len(site.years)
    n += sum(max(1, math.ceil(len(t.listing) / size)) for t in site.actors + site.locations)
    return n + 2




PAGE_KINDS: tuple[tuple[str, str, type[PageContext]], ...] = (
    ("index.html", "home page and its pages (page/2/...)", IndexPage),
    ("report.html (or report-<slug>.html)", "one report", ReportPage),
    ("terms.html (or actors.html / locations.html)", "actor and location lists A-Z",
     TermIndexPage),
    ("term.html (or actor.html / location.html, actor-<slug>.html...)",
     "one actor or location", TermPage),
    ("archive.html", "all years", ArchiveIndexPage),
    ("year.html", "one year by month", YearPage),
    ("search.html, 404.html", "the static search page, the not-found page", SimplePage),
)
FILTERS_HELP: tuple[tuple[str, str], ...] = (
    ("url(path) / path|url", "link to a site-relative path, with the base path, percent-encoded"),
    ("absolute_url(path)", "absolute URL from base_url (for canonical and social tags)"),
    ("feed_url(kind='site', slug='')", "site-relative URL of the site's or a term's Atom feed"),
    ("value|date(format='medium')", "a date in the site's language (Babel: short, medium, long)"),
    ("value|datetime(format='medium')", "date and time in the site's language"),
    ("month|month_name", "the month's name in the site's language"),
    ("value|isodate", "ISO 8601, for <time datetime>"),
    ("name|slugify", "the slug of a name, as sitegen makes them"),
    ("news_article(report, site)|jsonld", "schema.org NewsArticle as a safe JSON-LD block"),
    ("html|html", "mark sanitised HTML (report.body.html) as safe; never use on other values"),
    ("cached(macro, *args)", "the macro's output, rendered once per build and worker for the "
     "same arguments (the same objects); for macros that read nothing but their arguments"),
)


def context_reference() -> str:
    """The README's template reference: page kinds, their context fields, the filters."""
    def cell(text: str) -> str:
        return text.rstrip(".").replace("|", "\\|")

    def described(items: Sequence[Any]) -> str:
        return "; ".join(f"`{f.name}`: {cell(f.metadata['help'])}" for f in items)

    common = {f.name for f in fields(PageContext)}
    lines = ["| template | page | fields |", "|---|---|---|",
             f"| (all) | every page | {described(fields(PageContext))}; `page`: the whole "
             "context object |"]
    for template, what, kind in PAGE_KINDS:
        own = [f for f in fields(kind) if f.name not in common]
        lines.append(f"| `{template}` | {what} | {described(own) or '(common fields only)'} |")
    lines += ["", "| filter or function | what it does |", "|---|---|"]
    lines += [f"| `{cell(name)}` | {cell(text)} |" for name, text in FILTERS_HELP]
    return "\n".join(lines)
