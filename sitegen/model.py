"""The site model: plain frozen data built from parsed reports, read by every later stage.

``build_site`` groups reports into actor and location terms, date archives and the
newest-first list. It does no I/O and knows nothing of Markdown or Jinja: rendered bodies
(and registry descriptions) arrive as HTML strings.

Terms: every front-matter name is resolved through the registry (``sitegen.entities``): any
spelling of a registered entity (canonical name or alias, compared case- and accent-
insensitively) becomes that entity's term, with its slug and canonical name. Names the
registry does not know are grouped by slug as before, named by their most used spelling.
A location term also lists the reports of the locations below it in the registry (with
``include_child_locations``), each marked with the child locations it came through; such a
location gets a page even when no report names it directly.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sitegen import slugs
from sitegen.access import BodyAccess
from sitegen.config import SiteConfig
from sitegen.content import SourceDoc
from sitegen.diagnostics import Diagnostic, error, warning
from sitegen.entities import REGISTRY_FILES, Entity, Registry

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
    name: str  # the term's display name (canonical or most used spelling), not the report's own
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
class StoredBody:
    """A rendered body whose HTML and text stay where the build stored them (the build
    cache): the table of contents and word count are at hand, ``html`` and ``text`` are read
    through ``read`` each time they are asked for. It reads like a ``RenderedBody``; a build
    with a cache never holds every report's body in memory at once. Each of the four is
    noted in ``access``, if given."""

    key: bytes  # the report's cache key
    stored_toc: tuple[Heading, ...]
    stored_word_count: int
    read: Callable[[bytes], tuple[str, str]] = field(compare=False, repr=False)
    access: BodyAccess | None = field(default=None, compare=False, repr=False)

    def _noted(self) -> bytes:
        if self.access is not None:
            self.access.note(self.key)
        return self.key

    @property
    def html(self) -> str:
        return self.read(self._noted())[0]

    @property
    def text(self) -> str:
        return self.read(self._noted())[1]

    @property
    def toc(self) -> tuple[Heading, ...]:
        self._noted()
        return self.stored_toc

    @property
    def word_count(self) -> int:
        self._noted()
        return self.stored_word_count


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
    body: RenderedBody | StoredBody
    draft: bool
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def terms(self) -> tuple[TermRef, ...]:
        return self.actors + self.locations


@dataclass(frozen=True, slots=True)
class PlaceRef:
    """A location in a breadcrumb: it may have no page (a registered place without reports)."""

    slug: str
    name: str
    url: str | None  # site-relative page URL, or None when the place has no page


@dataclass(frozen=True, slots=True)
class Listed:
    """One report on a term's page."""

    report: Report
    via: tuple[TermRef, ...] = ()  # () if the report names the term itself; otherwise the
    # locations below it (in the registry) that the report names instead, in its own order


@dataclass(frozen=True, slots=True)
class YearCount:
    year: int
    count: int


@dataclass(frozen=True, slots=True)
class CoTerm:
    """Another term named in the same reports as a term."""

    ref: TermRef
    count: int  # reports that name both


@dataclass(frozen=True, slots=True)
class Term:
    """An actor or location page: a registered entity or an unregistered name.

    ``reports`` are the reports that name the term (its count, feed and co-occurrences);
    ``listing`` is what its page lists: those, plus for a location the reports that name
    only places below it (``via_reports``, when ``include_child_locations`` is on).
    """

    kind: TermKind
    slug: str
    name: str  # canonical name if registered, else the most used spelling
    url: str
    spellings: tuple[tuple[str, int], ...]  # (spelling, number of reports), most used first
    reports: tuple[Report, ...]  # reports naming the term, newest first
    entity: Entity | None = None  # the registry entry, if any
    description_html: str = ""  # the entity's description rendered from Markdown (sanitised)
    aliases: tuple[str, ...] = ()  # registry aliases, then other spellings used in reports
    parents: tuple[PlaceRef, ...] = ()  # locations: the chain above it, outermost first
    children: tuple[TermRef, ...] = ()  # locations: the places directly below it with a page
    via_reports: tuple[Listed, ...] = ()  # locations: reports naming only places below it
    # ``listing`` and ``timeline``, computed once: every page of a long term's list reads
    # them, and recomputing them per page made term pages quadratic in the term's reports.
    _listing: tuple[Listed, ...] = field(init=False, repr=False, compare=False, default=())
    _timeline: tuple[YearCount, ...] = field(init=False, repr=False, compare=False,
                                             default=())

    def __post_init__(self) -> None:
        own = tuple(Listed(r) for r in self.reports)
        listing = own if not self.via_reports else tuple(
            sorted(own + self.via_reports, key=lambda item: _sort_key(item.report)))
        object.__setattr__(self, "_listing", listing)
        years = Counter(item.report.date.year for item in listing)
        object.__setattr__(self, "_timeline", () if not years else tuple(
            YearCount(y, years.get(y, 0)) for y in range(min(years), max(years) + 1)))

    @property
    def names(self) -> tuple[str, ...]:
        """Every name the term goes by: display name, then aliases (for search)."""
        return (self.name, *(a for a in self.aliases if a != self.name))

    @property
    def category(self) -> str | None:
        """The registry's kind of entity ("armed group", "city"...), if registered."""
        return self.entity.category if self.entity is not None else None

    @property
    def coordinates(self) -> tuple[float, float] | None:
        return self.entity.coordinates if self.entity is not None else None

    @property
    def country(self) -> str | None:
        return self.entity.country if self.entity is not None else None

    @property
    def parent_slug(self) -> str | None:
        return self.parents[-1].slug if self.parents else None

    @property
    def listing(self) -> tuple[Listed, ...]:
        """The reports the page lists, newest first: its own, and those from child places."""
        return self._listing

    @property
    def timeline(self) -> tuple[YearCount, ...]:
        """Reports listed on the page per year, from the first year to the last (years with
        no report count 0); () if there are none."""
        return self._timeline

    @property
    def co_actors(self) -> tuple[CoTerm, ...]:
        """Actors named in the same reports as this term (``reports``), most shared first."""
        return self._co_terms("actor")

    @property
    def co_locations(self) -> tuple[CoTerm, ...]:
        """Locations named in the same reports as this term, most shared first."""
        return self._co_terms("location")

    def _co_terms(self, kind: TermKind) -> tuple[CoTerm, ...]:
        counts: Counter[str] = Counter()
        refs: dict[str, TermRef] = {}
        for report in self.reports:
            for ref in (report.actors if kind == "actor" else report.locations):
                if kind == self.kind and ref.slug == self.slug:
                    continue
                counts[ref.slug] += 1
                refs.setdefault(ref.slug, ref)
        ordered = sorted(counts, key=lambda slug: (-counts[slug], _name_key(refs[slug].name)))
        return tuple(CoTerm(refs[slug], counts[slug]) for slug in ordered)


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
    registry: Registry = field(default_factory=Registry)  # every registered entity

    def terms(self, kind: TermKind) -> tuple[Term, ...]:
        return self.actors if kind == "actor" else self.locations


def _sort_key(report: Report) -> tuple[float, str, str]:
    return (-report.date.timestamp(), report.title.casefold(), report.url)


def _name_key(name: str) -> tuple[str, str]:
    return (slugs.slugify_name(name), name)


def build_site(config: SiteConfig,
               docs: Sequence[tuple[SourceDoc, RenderedBody | StoredBody]],
               registry: Registry | None = None,
               descriptions: Mapping[tuple[TermKind, str], str] | None = None,
               ) -> tuple[Site, list[Diagnostic]]:
    """Assemble the site from parsed reports and their rendered bodies (pure).

    ``registry`` resolves front-matter names to entities (an empty one by default);
    ``descriptions`` maps ``(kind, slug)`` of registered entities to their rendered
    description HTML. Names not in a non-empty registry get an ``entities.unknown-name``
    warning with the closest registered names.
    """
    registry = registry if registry is not None else Registry()
    descriptions = descriptions or {}
    diags: list[Diagnostic] = []
    published = [(d, b) for d, b in docs if config.drafts or not d.meta.draft]
    kinds: tuple[TermKind, TermKind] = ("actor", "location")

    resolved: dict[tuple[TermKind, str], tuple[str, Entity | None]] = {}

    def resolve(kind: TermKind, name: str) -> tuple[str, Entity | None]:
        # once per spelling: a name recurs in hundreds of reports
        hit = resolved.get((kind, name))
        if hit is None:
            entity = registry.resolve(kind, name)
            hit = resolved[(kind, name)] = (
                entity.slug if entity is not None else slugs.slugify_name(name)), entity
        return hit

    # Terms: every spelling goes to its entity, or is grouped by slug; a report counts once
    # per spelling.
    spellings: dict[tuple[TermKind, str], Counter[str]] = defaultdict(Counter)
    entities: dict[tuple[TermKind, str], Entity] = {}
    for doc, _ in published:
        for kind in kinds:
            unknown: list[str] = []
            for name in _names(doc, kind):
                slug, entity = resolve(kind, name)
                spellings[(kind, slug)][name] += 1
                if entity is not None:
                    entities[(kind, slug)] = entity
                elif not registry.is_empty(kind) and name not in unknown:
                    unknown.append(name)
            diags.extend(_unknown_name(doc, kind, name, registry) for name in unknown)
    display: dict[tuple[TermKind, str], str] = {
        key: (entities[key].name if key in entities
              else min(counter.items(), key=lambda item: (-item[1], item[0]))[0])
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
            actors=_dedupe(refs[("actor", resolve("actor", n)[0])] for n in meta.actors),
            locations=_dedupe(refs[("location", resolve("location", n)[0])]
                              for n in meta.locations),
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

    # Reports that reach a location only through a place below it: location slug ->
    # report url -> (report, the places it names below that location).
    via: dict[str, dict[str, tuple[Report, list[TermRef]]]] = defaultdict(dict)
    if config.include_child_locations:
        for report in reports:
            named = {ref.slug for ref in report.locations}
            for ref in report.locations:
                for above in registry.ancestors(ref.slug):
                    if above.slug in named:
                        continue
                    entry = via[above.slug].setdefault(report.url, (report, []))
                    entry[1].append(ref)
    for slug in via:
        if ("location", slug) not in display:
            entity = registry.get("location", slug)
            assert entity is not None
            entities[("location", slug)] = entity
            display[("location", slug)] = entity.name
            refs[("location", slug)] = TermRef("location", slug, entity.name,
                                               slugs.term_url("location", slug))

    def has_page(kind: TermKind, slug: str) -> bool:
        return bool(members.get((kind, slug))) or (kind == "location" and slug in via)

    def term(kind: TermKind, slug: str) -> Term:
        key = (kind, slug)
        used = tuple(sorted(spellings[key].items(), key=lambda item: (-item[1], item[0])))
        entity = entities.get(key)
        aliases = [*(entity.aliases if entity is not None else ()),
                   *(s for s, _ in used)]
        parents: tuple[PlaceRef, ...] = ()
        children: tuple[TermRef, ...] = ()
        if kind == "location" and entity is not None:
            parents = tuple(PlaceRef(p.slug, p.name, refs[("location", p.slug)].url
                                     if has_page("location", p.slug) else None)
                            for p in reversed(registry.ancestors(slug)))
            children = tuple(refs[("location", c.slug)] for c in registry.children(slug)
                             if has_page("location", c.slug))
        return Term(
            kind=kind, slug=slug, name=display[key], url=refs[key].url, spellings=used,
            reports=tuple(members.get(key, ())), entity=entity,
            description_html=descriptions.get(key, "") if entity is not None else "",
            aliases=tuple(a for a in dict.fromkeys(aliases) if a != display[key]),
            parents=parents, children=children,
            via_reports=tuple(Listed(r, tuple(v)) for r, v in via.get(slug, {}).values())
            if kind == "location" else ())

    def terms_of(kind: TermKind) -> tuple[Term, ...]:
        found = [term(kind, slug) for (k, slug) in display if k == kind and has_page(k, slug)]
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
                locations=terms_of("location"), years=archives, registry=registry)
    return site, diags


def _names(doc: SourceDoc, kind: TermKind) -> tuple[str, ...]:
    return doc.meta.actors if kind == "actor" else doc.meta.locations


def _unknown_name(doc: SourceDoc, kind: TermKind, name: str, registry: Registry) -> Diagnostic:
    key = "actors" if kind == "actor" else "locations"
    close = registry.suggest(kind, name)
    quoted = " or ".join(f"'{c}'" for c in close)
    hint = (f"; did you mean {quoted}?" if close
            else "; add it there as a name or an alias if it is one")
    mark = doc.marks.get(key)
    return warning("entities.unknown-name", doc.path,
                   f"{kind} '{name}' is not in the registry ({REGISTRY_FILES[kind]}){hint}",
                   mark.line if mark else None, mark.col if mark else None)


def _dedupe(refs: Iterable[TermRef]) -> tuple[TermRef, ...]:
    seen: dict[str, TermRef] = {}
    for ref in refs:
        seen.setdefault(ref.slug, ref)
    return tuple(seen.values())
