"""The site model: plain frozen data built from parsed reports, read by every later stage.

``build_site`` groups reports into actor and location terms (merging spellings that share a
slug), date archives and the newest-first list. It does no I/O and knows nothing of Markdown
or Jinja: rendered bodies arrive as strings in ``RenderedReport``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sitegen import slugs
from sitegen.config import SiteConfig
from sitegen.content import SourceDoc
from sitegen.diagnostics import Diagnostic, error, warning

TermKind = Literal["actor", "location"]
# First path segments the site's own pages and files use; a report URL may not start with one.
RESERVED_SEGMENTS = frozenset({"actors", "locations", "archive", "search", "page", "static",
                               "data", "feed.xml", "sitemap.xml", "robots.txt", "404.html",
                               "_search", "_static_search"})


@dataclass(frozen=True, slots=True)
class TermRef:
    """A report's link to one actor or location term."""

    kind: TermKind
    slug: str
    name: str  # the term's display name (most used spelling), not the report's own spelling
    url: str  # site-relative path, e.g. "actors/kataib-hezbollah/"


@dataclass(frozen=True, slots=True)
class Heading:
    level: int
    id: str
    title: str


@dataclass(frozen=True, slots=True)
class RenderedBody:
    """The output of the Markdown stage for one report (pure function of its body)."""

    html: str  # sanitised HTML
    text: str  # plain text, for search and summaries
    toc: tuple[Heading, ...]
    word_count: int


@dataclass(frozen=True, slots=True)
class Report:
    source: str  # path relative to the content folder, posix
    slug: str
    url: str  # site-relative path, always ending in "/"
    title: str
    date: datetime  # timezone-aware; its own offset decides year and month
    date_has_time: bool
    updated: datetime | None
    summary: str
    source_name: str | None
    source_url: str | None
    author: str | None
    tags: tuple[str, ...]
    actors: tuple[TermRef, ...]
    locations: tuple[TermRef, ...]
    body: RenderedBody
    draft: bool
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def terms(self) -> tuple[TermRef, ...]:
        return self.actors + self.locations


@dataclass(frozen=True, slots=True)
class Term:
    kind: TermKind
    slug: str
    name: str  # most used spelling
    url: str
    spellings: tuple[tuple[str, int], ...]  # (spelling, number of reports), most used first
    reports: tuple[Report, ...]  # newest first


@dataclass(frozen=True, slots=True)
class MonthGroup:
    year: int
    month: int
    reports: tuple[Report, ...]  # newest first


@dataclass(frozen=True, slots=True)
class YearArchive:
    year: int
    url: str
    months: tuple[MonthGroup, ...]  # newest first

    @property
    def count(self) -> int:
        return sum(len(m.reports) for m in self.months)


@dataclass(frozen=True, slots=True)
class Site:
    config: SiteConfig
    reports: tuple[Report, ...]  # newest first
    actors: tuple[Term, ...]  # A-Z by display name
    locations: tuple[Term, ...]
    years: tuple[YearArchive, ...]  # newest first

    def terms(self, kind: TermKind) -> tuple[Term, ...]:
        return self.actors if kind == "actor" else self.locations


def _sort_key(report: Report) -> tuple[float, str, str]:
    return (-report.date.timestamp(), report.title.casefold(), report.url)


def _name_key(name: str) -> tuple[str, str]:
    return (slugs.slugify_name(name), name)


def build_site(config: SiteConfig,
               docs: Sequence[tuple[SourceDoc, RenderedBody]]) -> tuple[Site, list[Diagnostic]]:
    """Assemble the site from parsed reports and their rendered bodies (pure)."""
    diags: list[Diagnostic] = []
    published = [(d, b) for d, b in docs if config.drafts or not d.meta.draft]

    # Terms: group every spelling by slug; a report counts once per spelling.
    spellings: dict[tuple[TermKind, str], Counter[str]] = defaultdict(Counter)
    kinds: tuple[TermKind, TermKind] = ("actor", "location")
    for doc, _ in published:
        for kind in kinds:
            names = doc.meta.actors if kind == "actor" else doc.meta.locations
            for name in names:
                spellings[(kind, slugs.slugify_name(name))][name] += 1
    display: dict[tuple[TermKind, str], str] = {
        key: min(counter.items(), key=lambda item: (-item[1], item[0]))[0]
        for key, counter in spellings.items()
    }
    refs = {key: TermRef(key[0], key[1], name, slugs.term_url(key[0], key[1]))
            for key, name in display.items()}

    reports: list[Report] = []
    by_url: dict[str, SourceDoc] = {}
    reserved = RESERVED_SEGMENTS | {config.search_dir}
    for doc, body in published:
        meta = doc.meta
        slug = slugs.slugify_name(meta.slug or meta.title)
        url = slugs.report_url(config.permalink, meta.date, slug)
        if url.split("/", 1)[0] in reserved or url in ("", "index.html"):
            mark = doc.marks.get("slug") or doc.marks.get("title")
            diags.append(error(
                "model.url-reserved", doc.path,
                f"this report would be published at /{url}, which the site's own pages use; "
                "set another 'slug:' or a permalink with a prefix such as reports/",
                mark.line if mark else None, mark.col if mark else None))
            continue
        if url in by_url:
            other = by_url[url]
            mark = doc.marks.get("slug") or doc.marks.get("title")
            diags.append(error(
                "model.url-collision", doc.path,
                f"this report and {other.path} would both be published at /{url}; "
                "give one of them a different 'slug:'",
                mark.line if mark else None, mark.col if mark else None))
            continue
        by_url[url] = doc
        reports.append(Report(
            source=doc.path, slug=slug, url=url, title=meta.title, date=meta.date,
            date_has_time=meta.date_has_time, updated=meta.updated, summary=meta.summary,
            source_name=meta.source, source_url=meta.source_url, author=meta.author,
            tags=meta.tags,
            actors=_dedupe(refs[("actor", slugs.slugify_name(n))] for n in meta.actors),
            locations=_dedupe(refs[("location", slugs.slugify_name(n))] for n in meta.locations),
            body=body, draft=meta.draft, extra=meta.extra,
        ))
        if not meta.actors and not meta.locations:
            mark = doc.marks.get("title")
            diags.append(warning("model.untagged", doc.path,
                                 "report lists no actors and no locations",
                                 mark.line if mark else None, mark.col if mark else None))
    reports.sort(key=_sort_key)

    members: dict[tuple[TermKind, str], list[Report]] = defaultdict(list)
    for report in reports:
        for ref in report.terms:
            members[(ref.kind, ref.slug)].append(report)

    def terms_of(kind: TermKind) -> tuple[Term, ...]:
        found = [
            Term(kind=kind, slug=slug, name=display[(kind, slug)], url=refs[(kind, slug)].url,
                 spellings=tuple(sorted(spellings[(kind, slug)].items(),
                                        key=lambda item: (-item[1], item[0]))),
                 reports=tuple(members[(kind, slug)]))
            for (k, slug) in display if k == kind and members[(kind, slug)]
        ]
        return tuple(sorted(found, key=lambda t: _name_key(t.name)))

    years: dict[int, dict[int, list[Report]]] = defaultdict(lambda: defaultdict(list))
    for report in reports:
        years[report.date.year][report.date.month].append(report)
    archives = tuple(
        YearArchive(year=year, url=slugs.archive_url(year),
                    months=tuple(MonthGroup(year, month, tuple(months[month]))
                                 for month in sorted(months, reverse=True)))
        for year, months in sorted(years.items(), reverse=True)
    )
    site = Site(config=config, reports=tuple(reports), actors=terms_of("actor"),
                locations=terms_of("location"), years=archives)
    return site, diags


def _dedupe(refs: Iterable[TermRef]) -> tuple[TermRef, ...]:
    seen: dict[str, TermRef] = {}
    for ref in refs:
        seen.setdefault(ref.slug, ref)
    return tuple(seen.values())
