"""Publishing: Atom feeds, sitemap.xml, robots.txt, redirect pages, JSON exports, related
reports and reading time.

Every function here is pure: it reads a frozen ``Site`` (and ``now`` where time matters) and
returns ``OutputFile``s and ``Diagnostic``s; ``output.py`` decides where the bytes end up. XML
is built with ``xml.etree.ElementTree`` so it is always well-formed, or, for the feeds and
sitemaps of a large archive, written directly in the bytes ElementTree writes for the same tree
(tests compare the two); characters XML 1.0 cannot carry (control characters, lone surrogates)
are dropped from text and attributes.

Absolute URLs come from ``config.base_url``. Feeds, ``sitemap.xml`` and ``robots.txt`` need a
*full* base_url (``https://example.org/archive/``) to be valid for feed readers and crawlers.
With a path-only base_url (``/``) the files stay well-formed, links are root-relative
(``/reports/2020/x/``), Atom ids become ``urn:uuid:`` names derived from those paths, Atom
categories carry no ``scheme`` and robots.txt has no ``Sitemap:`` line. ``check_base_url``
returns the warning the build should show in that case.
"""

from __future__ import annotations

import html
import io
import itertools
import json
import math
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from sitegen import __version__, slugs
from sitegen.config import CONFIG_NAME, SiteConfig
from sitegen.diagnostics import Diagnostic, error, warning
from sitegen.files import OutputFile
from sitegen.model import Report, Site, Term, TermKind
from sitegen.slugs import feed_url

ATOM_NS = "http://www.w3.org/2005/Atom"
SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
FEED_SIZE = 50  # entries per Atom feed
SUMMARY_CHARS = 300  # length of the fallback summary cut from the body text
SITEMAP_MAX_URLS = 50_000  # sitemaps.org limit per file; more makes sitemap.xml an index
SITEMAP_URL = "sitemap.xml"
ROBOTS_URL = "robots.txt"
REPORTS_JSON_URL = "data/reports.json"
REPORTS_JSONL_URL = "data/reports.jsonl"
ENTITIES_JSON_URL = "data/entities.json"
LOCATIONS_GEOJSON_URL = "data/locations.geojson"
KINDS: tuple[TermKind, TermKind] = ("actor", "location")


_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


# --- URLs ----------------------------------------------------------------------------------


def is_absolute_base(config: SiteConfig) -> bool:
    """True when base_url is a full URL (scheme and host), so links can be absolute."""
    parts = urlsplit(config.base_url)
    return bool(parts.scheme and parts.netloc)


def absolute_url(config: SiteConfig, url: str) -> str:
    """The absolute, percent-encoded URL of a site-relative URL ("reports/2020/x/").

    With a path-only base_url this is the root-relative link ("/reports/2020/x/").
    """
    if not is_absolute_base(config):
        return slugs.href(config.base_path, url)
    parts = urlsplit(config.base_url)
    return f"{parts.scheme}://{parts.netloc}" + slugs.href(config.base_path, url)


def check_base_url(config: SiteConfig) -> list[Diagnostic]:
    """A warning when base_url is only a path: feeds and the sitemap need absolute URLs."""
    if is_absolute_base(config):
        return []
    return [warning(
        "publish.base-url", CONFIG_NAME,
        f"base_url {config.base_url!r} is not a full URL, so feed.xml, sitemap.xml and "
        "robots.txt can only link root-relative paths, which feed readers and crawlers do not "
        "accept; set base_url to the published address, e.g. https://example.org/archive/")]


def _uri(config: SiteConfig, url: str) -> str:
    """A stable Atom id: the absolute URL, or a urn:uuid derived from the path."""
    if is_absolute_base(config):
        return absolute_url(config, url)
    return uuid.uuid5(uuid.NAMESPACE_URL, "sitegen:" + config.base_path + url).urn


# --- text helpers --------------------------------------------------------------------------


def excerpt(text: str, limit: int = SUMMARY_CHARS) -> str:
    """The first ``limit`` characters of plain text, cut at a word boundary, with '…'."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit + 1]
    head = cut.rsplit(" ", 1)[0] if " " in cut else cut[:limit]
    return head.rstrip(" ,;:.-\u2013\u2014") + "…"


def summary_text(report: Report) -> str:
    """The report's own summary, or the start of its body text, or (empty body) its title."""
    return report.summary.strip() or excerpt(report.body.text) or report.title


def updated_at(report: Report) -> datetime:
    """When the report last changed: ``updated`` (never before ``date``) or ``date``."""
    return max(report.updated, report.date) if report.updated else report.date


def isoformat(when: datetime) -> str:
    """RFC 3339 / W3C datetime with offset, to the second."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"naive datetime {when!r}: pass a timezone-aware value")
    return when.isoformat(timespec="seconds")


def _xml_text(value: str) -> str:
    return _NOT_XML.sub("", value)


def _root(tag: str, ns: str, **attrs: str) -> ET.Element:
    """A root element in the default namespace ``ns``; children use plain tag names (so
    attributes can stay unqualified and no ``ns0:`` prefixes appear)."""
    return ET.Element(tag, {"xmlns": ns, **attrs})


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    child = ET.SubElement(parent, tag, {k: _xml_text(v) for k, v in attrs.items()})
    if text is not None:
        child.text = _xml_text(text)
    return child


def _xml_bytes(root: ET.Element) -> bytes:
    ET.indent(root, space=" ")
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data + b"\n"


# --- Atom feeds ----------------------------------------------------------------------------


def site_feed(site: Site, now: datetime) -> OutputFile:
    """``feed.xml``: the newest 50 reports of the site."""
    return _feed(site, site.reports, url=feed_url(), title=site.config.title, alternate="",
                 now=now)


def term_feeds(site: Site, now: datetime) -> Iterator[OutputFile]:
    """``actors/<slug>/feed.xml`` and ``locations/<slug>/feed.xml``: the newest 50 reports of
    each term's page (for a location, with those of the places below it)."""
    entries: dict[str, str] = {}
    for kind in KINDS:
        for term in site.terms(kind):
            yield term_feed(site, term, now, entries)


def term_feed_inputs(site: Site, term: Term) -> tuple[object, ...]:
    """Everything ``term_feed`` reads besides the config and ``now`` (which it reads only
    when the site has no report): for the build cache's fingerprint."""
    return (term.kind, term.slug, term.name, term.url,
            tuple(item.report for item in term.listing[:FEED_SIZE]), site.reports[:1])


def term_feed(site: Site, term: Term, now: datetime,
              entries: dict[str, str] | None = None) -> OutputFile:
    """One actor's or location's feed. ``entries`` (report source -> its ``<entry>``)
    memoises the entries across the feeds of one site: at 10,000 reports the 800 term
    feeds hold 22,000 entries of 9,000 reports."""
    listed = tuple(item.report for item in term.listing[:FEED_SIZE])
    return _feed(site, listed, url=feed_url(term.kind, term.slug),
                 title=f"{site.config.title}: {term.name}", alternate=term.url, now=now,
                 entries=entries)


def _feed(site: Site, reports: Sequence[Report], *, url: str, title: str, alternate: str,
          now: datetime, entries: dict[str, str] | None = None) -> OutputFile:
    """An Atom feed, written out directly in the bytes ElementTree gives for the same tree
    indented by ``ET.indent`` (a test compares them): serialising 22,000 entries through
    ElementTree took 2 s at 10,000 reports."""
    config = site.config
    listed = reports[:FEED_SIZE]
    # An empty feed is dated by the newest report of the site, so builds stay reproducible.
    newest = max(map(updated_at, listed or site.reports[:1]), default=now)
    lang = _attr(config.language, clean=False)  # as ET.Element(attrs) takes it, unfiltered
    out = [f'<?xml version=\'1.0\' encoding=\'utf-8\'?>\n<feed xmlns="{_attr(ATOM_NS)}" '
           f'xml:lang="{lang}">',
           _leaf(1, "id", _uri(config, url)), _leaf(1, "title", title)]
    if config.description:
        out.append(_leaf(1, "subtitle", config.description))
    out += [_leaf(1, "updated", isoformat(newest)),
            _leaf(1, "link", rel="self", type="application/atom+xml",
                  href=absolute_url(config, url)),
            _leaf(1, "link", rel="alternate", type="text/html",
                  href=absolute_url(config, alternate)),
            _leaf(1, "generator", "sitegen", version=__version__)]
    for report in listed:
        entry = None if entries is None else entries.get(report.source)
        if entry is None:
            entry = _entry(config, report)
            if entries is not None:
                entries[report.source] = entry
        out.append(entry)
    return OutputFile(url, f"{''.join(out)}\n</feed>\n".encode(), origin="feed")


def _entry(config: SiteConfig, report: Report) -> str:
    """One report's ``<entry>`` at the feed's first level, with the newline before it."""
    out = ["\n <entry>", _leaf(2, "id", _uri(config, report.url)),
           _leaf(2, "title", report.title), _leaf(2, "updated", isoformat(updated_at(report))),
           _leaf(2, "published", isoformat(report.date)),
           _leaf(2, "link", rel="alternate", type="text/html",
                 href=absolute_url(config, report.url)),
           "\n  <author>", _leaf(3, "name", report.author or config.title), "\n  </author>"]
    for ref in report.terms:
        attrs = {"term": ref.slug, "label": ref.name}
        if is_absolute_base(config):
            attrs["scheme"] = absolute_url(config, slugs.term_index_url(ref.kind))
        out.append(_leaf(2, "category", **attrs))
    out += [_leaf(2, "summary", summary_text(report), type="text"), "\n </entry>"]
    return "".join(out)


def _leaf(level: int, tag: str, text: str | None = None, **attrs: str) -> str:
    """A childless element as ``_sub`` makes it and ElementTree writes it, indented for
    ``level``, with the newline before it: ``<tag a="v" />`` when its text is empty."""
    head = "\n" + " " * level + "<" + tag + "".join(
        f' {name}="{_attr(value)}"' for name, value in attrs.items())
    body = _cdata(text) if text is not None else ""
    return f"{head}>{body}</{tag}>" if body else f"{head} />"


def _attr(value: str, clean: bool = True) -> str:
    """An attribute value as ``_sub`` filters it and ElementTree escapes it."""
    if clean:
        value = _xml_text(value)
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace(
        '"', "&quot;").replace("\r", "&#13;").replace("\n", "&#10;").replace("\t", "&#09;")


# --- sitemap and robots --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SitemapEntry:
    url: str  # site-relative
    lastmod: datetime | None


def sitemap_entries(site: Site) -> list[SitemapEntry]:
    """Home, every report, term indexes and first term pages, archive and years, once each.

    A report's lastmod is ``updated_at``; a list's is the latest ``updated_at`` of the
    reports it lists.
    """
    def newest(reports: Iterable[Report]) -> datetime | None:
        return max(map(updated_at, reports), default=None)

    found = [SitemapEntry("", newest(site.reports))]
    found += [SitemapEntry(r.url, updated_at(r)) for r in site.reports]
    for kind in KINDS:
        terms = [SitemapEntry(t.url, newest(t.reports)) for t in site.terms(kind)]
        latest = max((e.lastmod for e in terms if e.lastmod), default=None)
        found += [SitemapEntry(slugs.term_index_url(kind), latest), *terms]
    found.append(SitemapEntry(slugs.archive_url(), newest(site.reports)))
    found += [SitemapEntry(y.url, newest(r for m in y.months for r in m.reports))
              for y in site.years]
    seen: set[str] = set()
    unique = []
    for entry in found:
        if entry.url not in seen:
            seen.add(entry.url)
            unique.append(entry)
    return unique


def sitemap_files(site: Site, max_urls: int = SITEMAP_MAX_URLS) -> Iterator[OutputFile]:
    """``sitemap.xml``; beyond ``max_urls`` URLs it becomes a sitemap index of
    ``sitemaps/sitemap-<n>.xml`` files (made one at a time, the index first)."""
    config = site.config
    entries = sitemap_entries(site)
    if len(entries) <= max_urls:
        yield OutputFile(SITEMAP_URL, _urlset(config, entries), origin="sitemap")
        return
    index = _root("sitemapindex", SITEMAP_NS)
    parts = [(f"sitemaps/sitemap-{n}.xml", entries[start:start + max_urls])
             for n, start in enumerate(range(0, len(entries), max_urls), start=1)]
    for url, chunk in parts:
        item = _sub(index, "sitemap")
        _sub(item, "loc", absolute_url(config, url))
        latest = max((e.lastmod for e in chunk if e.lastmod), default=None)
        if latest:
            _sub(item, "lastmod", isoformat(latest))
    yield OutputFile(SITEMAP_URL, _xml_bytes(index), origin="sitemap")
    for url, chunk in parts:  # the entries are shared: only each file's bytes are new
        yield OutputFile(url, _urlset(config, chunk), origin="sitemap")


def _urlset(config: SiteConfig, entries: Iterable[SitemapEntry]) -> bytes:
    """A ``<urlset>``, written out directly rather than through ElementTree (ten times
    faster at 10,000 URLs), in the bytes ``_xml_bytes`` gives for the same tree (a test
    compares them)."""
    head = f"<?xml version='1.0' encoding='utf-8'?>\n<urlset xmlns=\"{SITEMAP_NS}\""
    out = []
    for entry in entries:
        out.append(f"\n <url>\n  <loc>{_cdata(absolute_url(config, entry.url))}</loc>")
        if entry.lastmod:
            out.append(f"\n  <lastmod>{isoformat(entry.lastmod)}</lastmod>")
        out.append("\n </url>")
    if not out:  # an element without children is written <urlset ... />
        return f"{head} />\n".encode()
    return f"{head}>{''.join(out)}\n</urlset>\n".encode()


def _cdata(text: str) -> str:
    """Element text as ElementTree escapes it (characters XML forbids dropped first)."""
    return _xml_text(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def robots_txt(site: Site) -> OutputFile:
    """``robots.txt``: allow everything and name the sitemap (absolute; left out without a
    full base_url). Crawlers read only ``/robots.txt`` at the host root, so under a base path
    such as ``/archive/`` this file is advisory and the host's own robots.txt decides."""
    lines = ["User-agent: *", "Allow: /"]
    if is_absolute_base(site.config):
        lines.append(f"Sitemap: {absolute_url(site.config, SITEMAP_URL)}")
    return OutputFile(ROBOTS_URL, ("\n".join(lines) + "\n").encode("utf-8"), origin="robots")


# --- redirect pages ------------------------------------------------------------------------


def site_relpaths(site: Site) -> list[str]:
    """Output files the site's pages and this module's files are written to (no static files,
    no search index): what an alias must not overwrite."""
    size = site.config.page_size
    urls = [slugs.paged_url("", n) for n in range(1, _pages(len(site.reports), size) + 1)]
    urls += [r.url for r in site.reports]
    for kind in KINDS:
        urls.append(slugs.term_index_url(kind))
        for term in site.terms(kind):
            urls += [slugs.paged_url(term.url, n)
                     for n in range(1, _pages(len(term.listing), size) + 1)]
            urls.append(feed_url(kind, term.slug))
    urls += [slugs.archive_url(), *(y.url for y in site.years), "search/", "404.html",
             feed_url(), SITEMAP_URL, ROBOTS_URL, REPORTS_JSON_URL, REPORTS_JSONL_URL]
    return [slugs.output_relpath(u) for u in urls]


def _pages(count: int, size: int) -> int:
    return max(1, math.ceil(count / size))


@dataclass(frozen=True, slots=True)
class _Alias:
    relpath: str | None
    problem: str | None


def _parse_alias(alias: str) -> _Alias:
    """Turn an alias into the output file it redirects from, or say why it is rejected.

    ``old/path/`` and ``old/path`` give ``old/path/index.html``; ``old/page.html`` gives that
    file. A leading ``/`` means the site root (base_url's path). Percent-escapes are decoded.
    """
    raw = alias.strip()
    if not raw:
        return _Alias(None, "an alias must not be empty")
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc or raw.startswith("//"):
        return _Alias(None, f"alias {alias!r} is an absolute URL; write the old path on this "
                      "site instead, e.g. /reports/2019/old-name/")
    if "?" in raw or "#" in raw:
        return _Alias(None, f"alias {alias!r} has a query or fragment, which a static redirect "
                      "page cannot match")
    path = unquote(raw)
    if "\\" in path or any(ord(ch) < 32 or ord(ch) == 127 for ch in path):
        return _Alias(None, f"alias {alias!r} contains a backslash or control character")
    segments = path.lstrip("/").split("/")
    if segments[-1] == "":
        segments.pop()
    if not segments:
        return _Alias(None, f"alias {alias!r} is the home page")
    if any(s in ("", ".", "..") for s in segments):
        return _Alias(None, f"alias {alias!r} must be a plain path without '..', '.' or "
                      "empty segments")
    if any(len(s.encode("utf-8")) > 255 for s in segments):
        return _Alias(None, f"alias {alias!r} has a path segment longer than 255 bytes")
    joined = "/".join(segments)
    if segments[-1].lower().endswith((".html", ".htm")) and not path.endswith("/"):
        return _Alias(joined, None)
    return _Alias(joined + "/index.html", None)


def redirect_pages(site: Site, aliases: Mapping[str, Sequence[str]],
                   taken: Iterable[str] = (),
                   reserved_dirs: Collection[str] = ("static",)
                   ) -> tuple[list[OutputFile], list[Diagnostic]]:
    """One small redirect page per alias of a moved report.

    ``aliases`` maps a report's URL to its old paths (front matter ``aliases:``); URLs that
    are not a published report are ignored. ``taken`` adds output relpaths the lead knows
    about beyond ``site_relpaths`` (e.g. rendered files); no alias may go under
    ``reserved_dirs`` or the search index folder. Rejected aliases (absolute URLs, ``..``,
    collisions with a page, a file's folder or another alias) are errors naming the report's
    source file; an alias repeated within one report is written once.
    """
    config = site.config
    owner: dict[str, str] = {}  # output file -> what owns it, for messages
    dirs: dict[str, str] = {}  # folder (no trailing '/') -> what owns a file inside it

    def claim(relpath: str, what: str) -> None:
        owner.setdefault(relpath, what)
        for parent in itertools.accumulate(relpath.split("/")[:-1], lambda a, b: f"{a}/{b}"):
            dirs.setdefault(parent, what)

    for path in (*site_relpaths(site), *taken):
        claim(path, f"the page /{path.removesuffix('index.html')}")
    blocked = {*reserved_dirs, config.search_dir}
    files: list[OutputFile] = []
    diags: list[Diagnostic] = []
    for report in site.reports:
        mine: set[str] = set()
        for alias in aliases.get(report.url, ()):
            parsed = _parse_alias(alias)
            relpath: str | None = parsed.relpath
            problem = parsed.problem if relpath is None else _collision(
                relpath, alias, owner, dirs, blocked, mine)
            if problem or relpath is None:
                diags.append(error("publish.alias", report.source, problem or alias))
                continue
            if relpath in mine:
                continue
            mine.add(relpath)
            claim(relpath, f"an alias of {report.source}")
            files.append(OutputFile(relpath, render_redirect(
                absolute_url(config, report.url), report.title, config.language),
                origin=report.source))
    return files, diags


def _collision(relpath: str, alias: str, owner: Mapping[str, str], dirs: Mapping[str, str],
               blocked: Collection[str], mine: Collection[str]) -> str | None:
    if relpath in mine:
        return None
    top = relpath.split("/", 1)[0]
    if top in blocked and "/" in relpath:
        return f"alias {alias!r} is inside the reserved folder {top}/"
    if relpath in owner:
        return f"alias {alias!r} would overwrite {owner[relpath]}"
    if relpath in dirs:
        return f"alias {alias!r} is a folder holding {dirs[relpath]}"
    parents = itertools.accumulate(relpath.split("/")[:-1], lambda a, b: f"{a}/{b}")
    for parent in parents:
        if parent in owner:
            return f"alias {alias!r} would need a folder where {owner[parent]} is a file"
    return None


def render_redirect(target: str, title: str, language: str = "en") -> bytes:
    """A redirect page: meta refresh, canonical link, noindex and a plain link."""
    to = html.escape(target, quote=True)
    name = html.escape(title, quote=True)
    lang = html.escape(language, quote=True)
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{lang}">\n'
        "<head>\n"
        '<meta charset="utf-8">\n'
        f"<title>Moved: {name}</title>\n"
        f'<link rel="canonical" href="{to}">\n'
        '<meta name="robots" content="noindex">\n'
        f'<meta http-equiv="refresh" content="0; url={to}">\n'
        "</head>\n"
        "<body>\n"
        f'<p>This report has moved to <a href="{to}">{name}</a>.</p>\n'
        "</body>\n"
        "</html>\n"
    ).encode()


# --- machine-readable data -----------------------------------------------------------------


def report_record(site: Site, report: Report) -> dict[str, object]:
    """The JSON object of one report in ``data/reports.json`` and ``.jsonl``."""
    config = site.config
    return {
        "url": report.url,
        "absolute_url": absolute_url(config, report.url) if is_absolute_base(config) else None,
        "title": report.title,
        "date": isoformat(report.date),
        "updated": isoformat(report.updated) if report.updated else None,
        "summary": summary_text(report),
        "source": report.source_name,
        "source_url": report.source_url,
        "author": report.author,
        "tags": list(report.tags),
        "actors": [{"name": t.name, "slug": t.slug, "url": t.url} for t in report.actors],
        "locations": [{"name": t.name, "slug": t.slug, "url": t.url} for t in report.locations],
        "word_count": report.body.word_count,
    }


def _report_rows(site: Site, **dumps: Any) -> Iterator[bytes]:
    """Each report's ``report_record`` as JSON bytes, one at a time (no list of them all)."""
    for report in site.reports:
        yield json.dumps(report_record(site, report), ensure_ascii=False, **dumps).encode()


def reports_json(site: Site) -> OutputFile:
    """``data/reports.json``: every published report, newest first, one report per line (no
    timestamps of the build, so unchanged content gives identical bytes). Made row by row
    into one buffer: at 100,000 reports a list of the records was hundreds of megabytes."""
    head = json.dumps({"generated_by": f"sitegen {__version__}",
                       "site": {"title": site.config.title, "base_url": site.config.base_url,
                                "language": site.config.language}}, ensure_ascii=False)
    out = io.BytesIO()
    out.write(head[:-1].encode() + b', "reports": [')
    # json.dumps without indent runs in C; with indent it is pure Python (1 s at 10,000)
    for n, row in enumerate(_report_rows(site)):
        out.write(b",\n" if n else b"\n")
        out.write(row)
    out.write(b"\n]}\n" if site.reports else b"]}\n")
    return OutputFile(REPORTS_JSON_URL, out.getvalue(), origin="data")


def reports_jsonl(site: Site) -> OutputFile:
    """``data/reports.jsonl``: the same objects, one per line, for streaming."""
    out = io.BytesIO()
    for row in _report_rows(site, separators=(",", ":")):
        out.write(row)
        out.write(b"\n")
    return OutputFile(REPORTS_JSONL_URL, out.getvalue(), origin="data")


def entity_records(site: Site) -> list[dict[str, object]]:
    """Every actor and location: the site's terms, then registered entities no report names
    (no page: ``url`` is null, ``report_count`` 0)."""
    records: list[dict[str, object]] = []
    seen: set[tuple[str, str]] = set()
    for kind in KINDS:
        for term in site.terms(kind):
            seen.add((kind, term.slug))
            records.append({
                "kind": kind, "name": term.name, "slug": term.slug, "category": term.category,
                "aliases": list(term.aliases), "parent": term.parent_slug,
                "country": term.country,
                "coordinates": list(term.coordinates) if term.coordinates else None,
                "report_count": len(term.reports), "url": term.url,
                "absolute_url": absolute_url(site.config, term.url)
                if is_absolute_base(site.config) else None,
            })
        for entity in site.registry.entities(kind):
            if (kind, entity.slug) in seen:
                continue
            records.append({
                "kind": kind, "name": entity.name, "slug": entity.slug,
                "category": entity.category, "aliases": list(entity.aliases),
                "parent": entity.parent, "country": entity.country,
                "coordinates": list(entity.coordinates) if entity.coordinates else None,
                "report_count": 0, "url": None, "absolute_url": None,
            })
    return records


def entities_json(site: Site) -> OutputFile:
    data = {"generated_by": f"sitegen {__version__}", "entities": entity_records(site)}
    return OutputFile(ENTITIES_JSON_URL, (json.dumps(data, ensure_ascii=False, indent=1,
                                                     sort_keys=True) + "\n").encode("utf-8"),
                      origin="data/entities.json")


def locations_geojson(site: Site) -> OutputFile:
    """A GeoJSON FeatureCollection of the located places (RFC 7946: [longitude, latitude])."""
    features = []
    for rec in entity_records(site):
        coords = rec["coordinates"]
        if rec["kind"] != "location" or not isinstance(coords, list):
            continue
        features.append({"type": "Feature",
                         "geometry": {"type": "Point", "coordinates": [coords[1], coords[0]]},
                         "properties": {k: v for k, v in rec.items() if k != "coordinates"}})
    data = {"type": "FeatureCollection", "features": features}
    return OutputFile(LOCATIONS_GEOJSON_URL, (json.dumps(data, ensure_ascii=False, indent=1,
                                                         sort_keys=True) + "\n").encode("utf-8"),
                      origin="data/locations.geojson")


# --- everything at once --------------------------------------------------------------------


def publish_files(site: Site, now: datetime, aliases: Mapping[str, Sequence[str]] | None = None,
                  taken: Iterable[str] = (), with_term_feeds: bool = True,
                  ) -> tuple[Iterator[OutputFile], list[Diagnostic]]:
    """Every file of this module: feeds, sitemap, robots.txt, data exports, redirects; plus
    alias errors. ``with_term_feeds=False`` leaves out the actor and location feeds (the
    build then makes them one by one with ``term_feed``).

    The files come one at a time, each made when it is asked for (the diagnostics are known
    at once): the exports and sitemaps of a large archive are tens of megabytes each, and a
    caller that writes each file as it comes holds one of them at a time."""
    redirects, diags = redirect_pages(site, aliases or {}, taken)

    def files() -> Iterator[OutputFile]:
        yield site_feed(site, now)
        if with_term_feeds:
            yield from term_feeds(site, now)
        yield from sitemap_files(site)
        yield robots_txt(site)
        yield reports_json(site)
        yield reports_jsonl(site)
        yield entities_json(site)
        yield locations_geojson(site)
        yield from redirects

    return files(), diags
