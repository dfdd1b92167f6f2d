"""publish.py: Atom feeds, sitemap, robots.txt, redirect pages, JSON exports, related reports
and reading time, on real ``Site``s built from report text."""

from __future__ import annotations

import dataclasses
import json
import math
import random
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import feedparser  # type: ignore[import-untyped]
import pytest
from bs4 import BeautifulSoup

from sitegen import __version__, publish, related
from sitegen.config import default_config
from sitegen.content import ReportMeta, SourceDoc, parse_document
from sitegen.diagnostics import Severity
from sitegen.markdown import render_markdown
from sitegen.model import RenderedBody, Report, Site, build_site

BASE = "https://example.org/archive/"
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
SM = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
REPO = Path(__file__).resolve().parent.parent


def text_of(title: str, date: str, body: str = "Body text.\n", **meta: Any) -> str:
    lines = ["---", f"title: {json.dumps(title)}", f"date: {date}"]
    lines += [f"{key}: {json.dumps(value, ensure_ascii=False)}" for key, value in meta.items()]
    return "\n".join([*lines, "---", body])


def make(root: Path, files: Mapping[str, str], **config: Any
         ) -> tuple[Site, dict[str, tuple[str, ...]]]:
    """A site from report texts; also the aliases mapping (report url -> front matter aliases),
    built the way the build pipeline can build it from the parsed documents."""
    cfg = default_config(root, **{"base_url": BASE, **config})
    pairs = []
    for path, text in files.items():
        doc, diags = parse_document(text, path, cfg.tz)
        assert doc is not None, diags
        pairs.append((doc, render_markdown(doc.body)))
    site, diags = build_site(cfg, pairs)
    assert not [d for d in diags if d.severity is Severity.ERROR]
    by_source = {doc.path: doc for doc, _ in pairs}
    return site, {r.url: by_source[r.source].meta.aliases for r in site.reports}


FILES = {
    "2019/k1.md": text_of(
        "Rocket attack on K-1", "2019-12-27T19:20:00+03:00", "## What\n\nRockets hit.\n",
        actors=["Kataib Hezbollah"], locations=["K-1 Air Base", "Iraq"],
        summary="A US contractor was killed.", source="DoD statement",
        source_url="https://www.defense.gov/", author="Desk A", tags=["rocket attack"]),
    "2019/us-strikes.md": text_of(
        "US strikes on Kataib Hezbollah", "2019-12-29", "Strikes hit five sites. " * 40,
        actors=["Kata'ib Hezbollah", "US Department of Defense"],
        locations=["Al-Qa'im", "Iraq", "Syria"]),
    "2020/taji.md": text_of(
        "Rocket attack on Camp Taji", "2020-03-11T22:30:00+03:00", "Rockets hit the camp.\n",
        actors=["Kataib Hezbollah", "كتائب حزب الله"], locations=["Camp Taji", "Iraq"],
        summary="Three service members died.", updated="2020-04-01T10:00:00+03:00",
        aliases=["/old/taji/", "2020/03/taji.html", "legacy/taji"]),
    "2020/strikes.md": text_of(
        "US and UK strikes after Taji", "2020-03-13", "Precision strikes.\n",
        actors=["US Department of Defense", "Kataib Hezbollah"],
        locations=["Camp Taji", "Jurf al-Sakhar", "Iraq"]),
    "2021/mali.md": text_of(
        "Barkhane drawdown", "2021-06-10", "France announced the end.\n",
        actors=["Ministère des Armées"], locations=["Mali"]),
}


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return make(tmp_path, FILES)[0]


def by_title(site: Site, title: str) -> Report:
    return next(r for r in site.reports if r.title == title)


def files_of(site: Site) -> dict[str, bytes]:
    files, _ = publish.publish_files(site, NOW)
    return {f.relpath: f.data for f in files}


# --- feeds ---------------------------------------------------------------------------------


def test_site_feed_is_valid_atom_with_every_entry_complete(site: Site) -> None:
    out = publish.site_feed(site, NOW)
    assert out.relpath == "feed.xml"
    feed = feedparser.parse(out.data)
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.version == "atom10"
    assert feed.feed.id == BASE + "feed.xml"
    assert feed.feed.title == "Report archive"
    links = {link.rel: link.href for link in feed.feed.links}
    assert links == {"self": BASE + "feed.xml", "alternate": BASE}
    assert feed.feed.generator == "sitegen"
    assert [e.link for e in feed.entries] == [BASE + r.url for r in site.reports]
    for entry in feed.entries:
        for key in ("id", "title", "updated", "link", "summary", "published", "author"):
            assert entry.get(key), (key, entry)
    # The feed's updated is the newest entry update, not the wall clock.
    assert feed.feed.updated == "2021-06-10T00:00:00+00:00"
    taji = feedparser.parse(next(f.data for f in publish.term_feeds(site, NOW)
                                 if f.relpath == "locations/camp-taji/feed.xml"))
    assert taji.feed.updated == "2020-04-01T10:00:00+03:00"  # Taji's "updated" wins
    assert publish.site_feed(site, NOW + timedelta(days=9)).data == out.data


def test_entry_fields(site: Site) -> None:
    feed = feedparser.parse(publish.site_feed(site, NOW).data)
    entries = {e.title: e for e in feed.entries}
    taji = entries["Rocket attack on Camp Taji"]
    assert taji.id == BASE + "reports/2020/rocket-attack-on-camp-taji/"
    assert taji.updated == "2020-04-01T10:00:00+03:00"
    assert taji.published == "2020-03-11T22:30:00+03:00"
    assert taji.summary == "Three service members died."
    assert taji.author == "Report archive"  # no author: the site title
    assert entries["Rocket attack on K-1"].author == "Desk A"
    tags = {(t.scheme, t.term, t.label) for t in taji.tags}
    assert (BASE + "actors/", "kataib-hezbollah", "Kataib Hezbollah") in tags
    assert (BASE + "locations/", "camp-taji", "Camp Taji") in tags
    assert len(tags) == 4
    # No summary: the start of the body, cut at a word boundary.
    strikes = entries["US strikes on Kataib Hezbollah"]
    assert strikes.summary.startswith("Strikes hit five sites. Strikes")
    assert strikes.summary.endswith("…") and len(strikes.summary) <= 301
    assert strikes.updated == strikes.published == "2019-12-29T00:00:00+00:00"


def test_summary_of_an_empty_report_is_its_title(tmp_path: Path) -> None:
    site, _ = make(tmp_path, {"a.md": text_of("Only a title", "2020-01-01", "", actors=["A"])})
    [entry] = feedparser.parse(publish.site_feed(site, NOW).data).entries
    assert entry.summary == "Only a title"


def test_site_feed_keeps_the_newest_50(tmp_path: Path) -> None:
    files = {f"r{i}.md": text_of(f"Report {i:02d}", f"2020-01-01T00:{i:02d}:00Z",
                                 actors=["A"]) for i in range(60)}
    site, _ = make(tmp_path, files)
    feed = feedparser.parse(publish.site_feed(site, NOW).data)
    assert [e.title for e in feed.entries] == [f"Report {i:02d}" for i in range(59, 9, -1)]


def test_term_feeds_list_the_right_entries(site: Site) -> None:
    feeds = {f.relpath: f.data for f in publish.term_feeds(site, NOW)}
    expected = {publish.feed_url(t.kind, t.slug): t for t in site.actors + site.locations}
    assert set(feeds) == set(expected)
    for relpath, term in expected.items():
        feed = feedparser.parse(feeds[relpath])
        assert feed.bozo == 0
        assert [e.link for e in feed.entries] == [BASE + r.url for r in term.reports]
        links = {link.rel: link.href for link in feed.feed.links}
        assert links["alternate"] == publish.absolute_url(site.config, term.url)
        assert term.name in feed.feed.title
    taji = feedparser.parse(feeds["locations/camp-taji/feed.xml"])
    assert [e.title for e in taji.entries] == ["US and UK strikes after Taji",
                                               "Rocket attack on Camp Taji"]


def test_non_ascii_slugs_are_percent_encoded(site: Site) -> None:
    arabic = next(t for t in site.actors if not t.slug.isascii())
    relpath = publish.feed_url("actor", arabic.slug)
    assert relpath == f"actors/{arabic.slug}/feed.xml"  # the file keeps its Unicode name
    data = next(f.data for f in publish.term_feeds(site, NOW) if f.relpath == relpath)
    feed = feedparser.parse(data)
    assert feed.bozo == 0
    self_link = next(link.href for link in feed.feed.links if link.rel == "self")
    assert self_link.isascii()
    assert unquote(urlsplit(self_link).path) == f"/archive/{relpath}"


def test_hostile_text_round_trips_as_text(tmp_path: Path) -> None:
    title = "<script>alert('x')</script> & \"quotes\" ]]> <b>"
    site, _ = make(tmp_path, {"a.md": text_of(title, "2020-01-01", actors=["A & <B>"],
                                               summary="x < y & z > \"w\"")})
    feed = feedparser.parse(publish.site_feed(site, NOW).data)
    assert feed.bozo == 0
    [entry] = feed.entries
    assert entry.title == title
    assert entry.summary == "x < y & z > \"w\""
    assert entry.tags[0].label == "A & <B>"
    root = ET.fromstring(publish.site_feed(site, NOW).data)
    atom = "{http://www.w3.org/2005/Atom}"
    assert root.find(f"{atom}entry/{atom}title").text == title  # type: ignore[union-attr]


def test_characters_xml_cannot_carry_are_dropped(site: Site) -> None:
    report = dataclasses.replace(site.reports[0], title="Bell\x07 and\x0b tab\tok")
    broken = dataclasses.replace(site, reports=(report, *site.reports[1:]))
    feed = feedparser.parse(publish.site_feed(broken, NOW).data)
    assert feed.bozo == 0
    assert feed.entries[0].title == "Bell and tab\tok"


def test_empty_site_feed_uses_now(tmp_path: Path) -> None:
    site, _ = make(tmp_path, {})
    feed = feedparser.parse(publish.site_feed(site, NOW).data)
    assert feed.bozo == 0 and feed.entries == []
    assert feed.feed.updated == "2026-01-02T03:04:05+00:00"
    with pytest.raises(ValueError, match="naive"):
        publish.site_feed(site, datetime(2026, 1, 1))  # noqa: DTZ001


def test_feed_url() -> None:
    assert publish.feed_url() == "feed.xml"
    assert publish.feed_url("actor", "kh") == "actors/kh/feed.xml"
    assert publish.feed_url("location", "iraq") == "locations/iraq/feed.xml"
    with pytest.raises(ValueError):
        publish.feed_url("actor")


def test_path_only_base_url_stays_valid_and_warns(tmp_path: Path) -> None:
    site, _ = make(tmp_path, FILES, base_url="/sub/")
    [diag] = publish.check_base_url(site.config)
    assert diag.severity is Severity.WARNING and diag.code == "publish.base-url"
    assert publish.check_base_url(make(tmp_path, {})[0].config) == []
    feed = feedparser.parse(publish.site_feed(site, NOW).data)
    assert feed.bozo == 0
    assert feed.entries[0].link == "/sub/" + site.reports[0].url
    assert all(e.id.startswith("urn:uuid:") for e in feed.entries)
    assert len({e.id for e in feed.entries}) == len(site.reports)
    robots = publish.robots_txt(site).data.decode()
    assert "Sitemap:" not in robots
    _, diags = publish.publish_files(site, NOW)
    assert diags == []  # a path-only base_url is normal for previews: no build warning
    assert [d.code for d in publish.check_base_url(site.config)] == ["publish.base-url"]
    records = json.loads(publish.reports_json(site).data)["reports"]
    assert all(r["absolute_url"] is None for r in records)


# --- sitemap and robots --------------------------------------------------------------------


def sitemap_of(data: bytes) -> dict[str, str | None]:
    root = ET.fromstring(data)
    assert root.tag == f"{SM}urlset"
    locs = [u.findtext(f"{SM}loc") or "" for u in root.findall(f"{SM}url")]
    assert len(locs) == len(set(locs)), "a URL is listed twice"
    return {u.findtext(f"{SM}loc") or "": u.findtext(f"{SM}lastmod")
            for u in root.findall(f"{SM}url")}


def test_sitemap_lists_every_page_once_with_lastmod(site: Site) -> None:
    [out] = publish.sitemap_files(site)
    assert out.relpath == "sitemap.xml"
    entries = sitemap_of(out.data)
    expected = ["", "actors/", "locations/", "archive/", *(r.url for r in site.reports),
                *(t.url for t in site.actors + site.locations), *(y.url for y in site.years)]
    assert set(entries) == {publish.absolute_url(site.config, u) for u in expected}
    assert len(entries) == len(expected)
    assert all(loc.startswith(BASE) and loc.isascii() for loc in entries)
    taji = by_title(site, "Rocket attack on Camp Taji")
    assert entries[BASE + taji.url] == "2020-04-01T10:00:00+03:00"  # updated
    assert entries[BASE + "reports/2019/us-strikes-on-kataib-hezbollah/"] == (
        "2019-12-29T00:00:00+00:00")  # date
    assert entries[BASE + "locations/camp-taji/"] == "2020-04-01T10:00:00+03:00"
    assert entries[BASE + "locations/mali/"] == "2021-06-10T00:00:00+00:00"
    assert entries[BASE] == entries[BASE + "archive/"] == "2021-06-10T00:00:00+00:00"
    assert entries[BASE + "archive/2020/"] == "2020-04-01T10:00:00+03:00"
    assert entries[BASE + "archive/2019/"] == "2019-12-29T00:00:00+00:00"


def test_large_sitemap_becomes_an_index(site: Site) -> None:
    files = list(publish.sitemap_files(site, max_urls=5))
    index = ET.fromstring(files[0].data)
    assert files[0].relpath == "sitemap.xml" and index.tag == f"{SM}sitemapindex"
    parts = [loc.text for loc in index.iter(f"{SM}loc")]
    assert parts == [BASE + f.relpath for f in files[1:]]
    merged: dict[str, str | None] = {}
    for part in files[1:]:
        chunk = sitemap_of(part.data)
        assert len(chunk) <= 5
        merged.update(chunk)
    assert merged == sitemap_of(next(publish.sitemap_files(site)).data)


def test_sitemap_text_is_what_elementtree_writes(site: Site) -> None:
    """The urlset is formatted directly; its bytes are ElementTree's for the same tree,
    with URLs that need escaping and a lastmod missing."""
    def with_elementtree(entries: list[publish.SitemapEntry]) -> bytes:
        root = publish._root("urlset", publish.SITEMAP_NS)
        for entry in entries:
            item = publish._sub(root, "url")
            publish._sub(item, "loc", publish.absolute_url(site.config, entry.url))
            if entry.lastmod:
                publish._sub(item, "lastmod", publish.isoformat(entry.lastmod))
        return publish._xml_bytes(root)

    entries = publish.sitemap_entries(site)
    odd = [publish.SitemapEntry("reports/a&b<c>/\x01é'\"/", None),
           publish.SitemapEntry("https://x.example/?a=1&b=<2>", NOW)]
    for chosen in (entries, entries[:1], odd, []):
        assert publish._urlset(site.config, chosen) == with_elementtree(chosen)
    assert b"?a=1&amp;b=&lt;2&gt;</loc>" in publish._urlset(
        site.config, odd)


def _feed_with_elementtree(site: Site, reports: list[Report], url: str, title: str,
                           alternate: str) -> bytes:
    """The Atom feed as ElementTree writes it (the code ``_feed`` replaced)."""
    config = site.config
    entries = reports[:publish.FEED_SIZE]
    root = publish._root("feed", publish.ATOM_NS, **{publish.XML_LANG: config.language})
    publish._sub(root, "id", publish._uri(config, url))
    publish._sub(root, "title", title)
    if config.description:
        publish._sub(root, "subtitle", config.description)
    newest = max(map(publish.updated_at, entries or site.reports[:1]), default=NOW)
    publish._sub(root, "updated", publish.isoformat(newest))
    publish._sub(root, "link", rel="self", type="application/atom+xml",
                 href=publish.absolute_url(config, url))
    publish._sub(root, "link", rel="alternate", type="text/html",
                 href=publish.absolute_url(config, alternate))
    publish._sub(root, "generator", "sitegen", version=__version__)
    for report in entries:
        entry = publish._sub(root, "entry")
        publish._sub(entry, "id", publish._uri(config, report.url))
        publish._sub(entry, "title", report.title)
        publish._sub(entry, "updated", publish.isoformat(publish.updated_at(report)))
        publish._sub(entry, "published", publish.isoformat(report.date))
        publish._sub(entry, "link", rel="alternate", type="text/html",
                     href=publish.absolute_url(config, report.url))
        author = publish._sub(entry, "author")
        publish._sub(author, "name", report.author or config.title)
        for ref in report.terms:
            attrs = {"term": ref.slug, "label": ref.name}
            if publish.is_absolute_base(config):
                attrs["scheme"] = publish.absolute_url(
                    config, publish.slugs.term_index_url(ref.kind))
            publish._sub(entry, "category", **attrs)
        publish._sub(entry, "summary", publish.summary_text(report), type="text")
    return publish._xml_bytes(root)


@pytest.mark.parametrize("base_url", [BASE, "/"])
def test_feeds_are_what_elementtree_writes(tmp_path: Path, base_url: str) -> None:
    """Feeds are written directly; their bytes are ElementTree's for the same tree, with
    text and attributes that need escaping or filtering, an empty author and title, a
    description, and memoised entries shared between term feeds."""
    hostile = 'A & B <c> "d" \'e\' \x01\x7f\u2028 tab\there'
    files = {**FILES, "2021/odd.md": text_of(
        hostile, "2021-07-01T10:00:00+02:00", "",
        actors=["Kata'ib <Hezbollah> & \"Co\"", "CENTCOM"],
        locations=["Camp Taji\u00a0\u00e9"], summary=hostile[:16] + "\u2028 tab\there",
        author="")}
    for config in ({"description": 'Desc & <more> \x02'}, {"title": ""}):
        site, _ = make(tmp_path, files, base_url=base_url, **config)
        feed = publish.site_feed(site, NOW)
        assert feed.data == _feed_with_elementtree(site, list(site.reports), "feed.xml",
                                                   site.config.title, "")
        entries: dict[str, str] = {}
        for term in (*site.actors, *site.locations):
            listed = [item.report for item in term.listing]
            expected = _feed_with_elementtree(site, listed, publish.feed_url(term.kind, term.slug),
                                              f"{site.config.title}: {term.name}", term.url)
            assert publish.term_feed(site, term, NOW, entries).data == expected
            assert publish.term_feed(site, term, NOW).data == expected
        assert entries  # shared: the second feed of a report reused its entry
    odd = 'a\tb\nc\rd "e" <f> & \x01'
    element = ET.Element("x")
    publish._sub(element, "leaf", odd, label=odd)
    publish._sub(element, "bare", "\x01", label="")
    assert publish._leaf(1, "leaf", odd, label=odd) + publish._leaf(1, "bare", "\x01", label="") \
        == "".join("\n " + ET.tostring(child, encoding="unicode") for child in element)
    empty, _ = make(tmp_path, {})
    assert publish.site_feed(empty, NOW).data == _feed_with_elementtree(
        empty, [], "feed.xml", empty.config.title, "")


def test_robots_txt(site: Site) -> None:
    out = publish.robots_txt(site)
    assert out.relpath == "robots.txt"
    lines = out.data.decode().splitlines()
    assert lines == ["User-agent: *", "Allow: /", f"Sitemap: {BASE}sitemap.xml"]


# --- redirects -----------------------------------------------------------------------------


def test_redirect_pages_point_at_the_report(tmp_path: Path) -> None:
    site, aliases = make(tmp_path, FILES)
    files, diags = publish.redirect_pages(site, aliases)
    assert diags == []
    target = BASE + by_title(site, "Rocket attack on Camp Taji").url
    assert {f.relpath for f in files} == {"old/taji/index.html", "2020/03/taji.html",
                                          "legacy/taji/index.html"}
    for out in files:
        soup = BeautifulSoup(out.data, "html.parser")
        refresh = soup.find("meta", attrs={"http-equiv": "refresh"})
        assert refresh is not None and refresh["content"] == f"0; url={target}"
        canonical = soup.find("link", rel="canonical")
        assert canonical is not None and canonical["href"] == target
        robots = soup.find("meta", attrs={"name": "robots"})
        assert robots is not None and robots["content"] == "noindex"
        assert [a["href"] for a in soup.find_all("a")] == [target]
        assert out.origin == "2020/taji.md"


def test_redirect_page_escapes_everything(tmp_path: Path) -> None:
    title = "\"><script>alert(1)</script>"
    site, aliases = make(tmp_path, {"a.md": text_of(title, "2020-01-01", actors=["A"],
                                                     slug="o'k\"<x>", aliases=["moved/"])})
    [out], diags = publish.redirect_pages(site, aliases)
    assert diags == []
    soup = BeautifulSoup(out.data, "html.parser")
    assert soup.find("script") is None
    assert soup.find("a").get_text() == title  # type: ignore[union-attr]
    href = soup.find("link", rel="canonical")["href"]  # type: ignore[index]
    assert href == publish.absolute_url(site.config, site.reports[0].url)
    assert not set("\"'<> ") & set(str(href))


@pytest.mark.parametrize(("alias", "message"), [
    ("https://evil.example/x/", "absolute URL"),
    ("//evil.example/x/", "absolute URL"),
    ("javascript:alert(1)", "absolute URL"),
    ("../../etc/passwd", "'..'"),
    ("old/%2e%2e/%2e%2e/x", "'..'"),
    ("old/./x", "'..'"),
    ("old//x", "empty segments"),
    ("old\\x", "backslash"),
    ("old/%0Ax/", "control character"),
    ("old/?page=2", "query"),
    ("", "empty"),
    ("/", "home page"),
    ("actors/", "would overwrite the page /actors/"),
    ("/reports/2021/barkhane-drawdown/", "would overwrite the page"),
    ("reports/", None),  # no page lives at reports/: a redirect may

    ("reports/2020/rocket-attack-on-camp-taji/index.html", "would overwrite the page"),
    ("feed.xml/", "would need a folder where the page /feed.xml is a file"),
    ("data/reports.json", "where the page /data/reports.json is a file"),
    ("reports.html/", "where an alias of 2020/taji.md is a file"),
    ("zzz.html", "is a folder holding an alias of 2020/taji.md"),
    ("static/old/", "reserved folder static/"),
    ("_search/x.html", "reserved folder _search/"),
])
def test_bad_aliases_are_rejected_naming_the_source(tmp_path: Path, alias: str,
                                                    message: str | None) -> None:
    files = {**FILES, "2020/taji.md": text_of(
        "Rocket attack on Camp Taji", "2020-03-11T22:30:00+03:00", actors=["Kataib Hezbollah"],
        aliases=["reports.html", "zzz.html/"]), "2020/other.md": text_of(
        "Other", "2019-05-01", actors=["A"], aliases=[alias, "fine/"])}
    site, aliases = make(tmp_path, files)
    if alias == "":  # the front matter drops empty names; pass it directly
        aliases[by_title(site, "Other").url] = ("", "fine/")
    out, diags = publish.redirect_pages(site, aliases)
    if message is None:
        assert diags == [] and out[2].relpath == "reports/index.html"
        return
    assert [f.relpath for f in out] == ["reports.html", "zzz.html/index.html", "fine/index.html"]
    [diag] = diags
    assert diag.severity is Severity.ERROR and diag.code == "publish.alias"
    assert diag.path == "2020/other.md"
    assert message in diag.message, diag.message


def test_alias_claimed_by_two_reports_and_repeated_alias(tmp_path: Path) -> None:
    files = {"a.md": text_of("A", "2020-01-02", actors=["X"], aliases=["old/", "/old"]),
             "b.md": text_of("B", "2020-01-01", actors=["X"], aliases=["old/index.html"])}
    site, aliases = make(tmp_path, files)
    out, diags = publish.redirect_pages(site, aliases)
    assert [(f.relpath, f.origin) for f in out] == [("old/index.html", "a.md")]
    [diag] = diags
    assert diag.path == "b.md" and "an alias of a.md" in diag.message


def test_taken_paths_count_as_pages(site: Site) -> None:
    url = by_title(site, "Barkhane drawdown").url
    _, diags = publish.redirect_pages(site, {url: ("extra/",)}, taken=["extra/index.html"])
    assert [d.code for d in diags] == ["publish.alias"]


# --- data exports --------------------------------------------------------------------------


def test_reports_json(site: Site) -> None:
    out = publish.reports_json(site)
    assert out.relpath == "data/reports.json"
    data = json.loads(out.data)
    assert data["generated_by"] == f"sitegen {__version__}"
    records = data["reports"]
    assert [r["url"] for r in records] == [r.url for r in site.reports]
    k1 = next(r for r in records if r["title"] == "Rocket attack on K-1")
    assert k1 == {
        "url": "reports/2019/rocket-attack-on-k-1/",
        "absolute_url": BASE + "reports/2019/rocket-attack-on-k-1/",
        "title": "Rocket attack on K-1",
        "date": "2019-12-27T19:20:00+03:00",
        "updated": None,
        "summary": "A US contractor was killed.",
        "source": "DoD statement",
        "source_url": "https://www.defense.gov/",
        "author": "Desk A",
        "tags": ["rocket attack"],
        "actors": [{"name": "Kataib Hezbollah", "slug": "kataib-hezbollah",
                    "url": "actors/kataib-hezbollah/"}],
        "locations": [{"name": "K-1 Air Base", "slug": "k-1-air-base",
                       "url": "locations/k-1-air-base/"},
                      {"name": "Iraq", "slug": "iraq", "url": "locations/iraq/"}],
        "word_count": 3,
    }
    taji = next(r for r in records if r["title"] == "Rocket attack on Camp Taji")
    assert taji["updated"] == "2020-04-01T10:00:00+03:00"
    assert "كتائب حزب الله" in out.data.decode("utf-8")  # readable, not \\u escapes
    assert publish.reports_json(site).data == out.data  # deterministic


def test_reports_jsonl_has_the_same_objects(site: Site) -> None:
    out = publish.reports_jsonl(site)
    assert out.relpath == "data/reports.jsonl"
    lines = out.data.decode().splitlines()
    assert [json.loads(line) for line in lines] == json.loads(
        publish.reports_json(site).data)["reports"]


def test_publish_files_are_made_as_they_are_taken(site: Site,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The diagnostics come at once; each file is made when asked for, so a build that
    writes them one by one never holds every export of a large archive at once."""
    made: list[str] = []
    real = publish.reports_json
    monkeypatch.setattr(publish, "reports_json",
                        lambda s: made.append("reports.json") or real(s))
    files, diags = publish.publish_files(site, NOW)
    assert diags == [] and made == []
    paths = [f.relpath for f in files]
    assert made == ["reports.json"] and "data/reports.json" in paths


def test_publish_files_writes_each_path_once(site: Site) -> None:
    files, diags = publish.publish_files(site, NOW)
    assert diags == []
    paths = [f.relpath for f in files]
    assert len(paths) == len(set(paths))
    assert {"feed.xml", "sitemap.xml", "robots.txt", "data/reports.json",
            "data/reports.jsonl", "actors/kataib-hezbollah/feed.xml"} <= set(paths)
    assert not any(p.startswith("/") for p in paths)


# --- related reports -----------------------------------------------------------------------


def test_related_reports_hand_computed(tmp_path: Path) -> None:
    site, _ = make(tmp_path, {
        "taji.md": text_of("Taji", "2020-03-11T22:30:00+03:00", actors=["KH"],
                           locations=["Camp Taji", "Iraq"]),
        "strike.md": text_of("Strike", "2020-03-13T01:00:00+03:00", actors=["KH"],
                             locations=["Karbala", "Iraq", "Camp Taji"]),
        "second.md": text_of("Second", "2020-03-14T10:00:00+03:00",
                             locations=["Camp Taji", "Iraq"]),
        "k1.md": text_of("K1", "2019-12-27T19:20:00+03:00", actors=["KH"], locations=["Iraq"]),
        "erbil.md": text_of("Erbil", "2021-02-15T21:30:00+03:00", locations=["Iraq"]),
        "mali.md": text_of("Mali", "2021-06-10", locations=["Mali"]),
    })
    # N = 6; df: Camp Taji 3, KH 3, Iraq 5, Karbala 1, Mali 1.
    # Taji shares CT+KH+Iraq with Strike (2 ln 2 + ln 1.2 = 1.569), CT+Iraq with Second and
    # KH+Iraq with K1 (ln 2 + ln 1.2 = 0.875 each: Second is closer in time), Iraq with Erbil
    # (0.182); nothing with Mali.
    # Second shares CT+Iraq with Strike and Taji (0.875 each: Strike is 1.4 days away, Taji
    # 2.5), Iraq with K1 and Erbil (0.182 each: K1 is 78 days away, Erbil 11 months).
    found = related.related_reports(site)
    titles = {r.title: [x.title for x in found[r.url]] for r in site.reports}
    assert titles["Taji"] == ["Strike", "Second", "K1", "Erbil"]
    assert titles["Second"] == ["Strike", "Taji", "K1", "Erbil"]
    assert titles["Mali"] == []
    assert titles["K1"] == ["Taji", "Strike", "Second", "Erbil"]
    short = related.related_reports(site, k=2)
    assert [x.title for x in short[by_title(site, "Taji").url]] == ["Strike", "Second"]
    assert all(len(v) <= 2 for v in short.values())


def test_camp_taji_relates_to_taji_and_kataib_hezbollah(tmp_path: Path) -> None:
    # The acceptance: with two reports, "Camp Taji" is in every report (idf 0), yet
    # the shared term still relates them.
    site, _ = make(tmp_path, {
        "a.md": text_of("Camp Taji attack", "2020-03-11", locations=["Camp Taji"]),
        "b.md": text_of("Strikes", "2020-03-13", actors=["Kataib Hezbollah"],
                        locations=["Camp Taji"]),
    })
    found = related.related_reports(site)
    a, b = by_title(site, "Camp Taji attack"), by_title(site, "Strikes")
    assert found[a.url] == (b,) and found[b.url] == (a,)


def test_ties_go_to_the_closest_date_then_the_url(tmp_path: Path) -> None:
    site, _ = make(tmp_path, {
        "a.md": text_of("A", "2020-01-10", actors=["X"]),
        "c.md": text_of("C", "2020-01-12", actors=["X"]),
        "b.md": text_of("B", "2020-01-08", actors=["X"]),
        "d.md": text_of("D", "2020-01-01", actors=["X"]),
        "e.md": text_of("E", "2020-01-01", actors=["Y"]),
    })
    found = related.related_reports(site)
    assert [r.title for r in found[by_title(site, "A").url]] == ["B", "C", "D"]
    assert found[by_title(site, "E").url] == ()


def brute_related(site: Site, k: int) -> dict[str, list[str]]:
    """The definition, over all pairs: sum of ln(N/df) of shared terms, then time, then URL."""
    n = len(site.reports)
    df = Counter((t.kind, t.slug) for r in site.reports for t in r.terms)
    out = {}
    for a in site.reports:
        mine = {(t.kind, t.slug) for t in a.terms}
        keys = []
        for b in site.reports:
            shared = mine & {(t.kind, t.slug) for t in b.terms}
            if b is a or not shared:
                continue
            score = sum(math.log(n / df[t]) for t in shared)
            keys.append((-round(score, 6), abs((a.date - b.date).total_seconds()), b.url))
        out[a.url] = [url for *_, url in sorted(keys)[:k]]
    return out


@pytest.mark.parametrize(("n", "vocab", "share", "seed"), [
    (2, 3, 0.5, 1), (8, 4, 0.5, 2), (40, 6, 0.4, 3), (150, 40, 0.15, 4), (300, 12, 0.6, 5),
    (120, 200, 0.02, 6),
])
def test_related_reports_match_the_definition(tmp_path: Path, n: int, vocab: int,
                                              share: float, seed: int) -> None:
    rng = random.Random(seed)
    files = {}
    for i in range(n):
        names = [f"T{j}" for j in range(vocab) if rng.random() < share * (1 + j % 3) / 2]
        actors = [x for x in names if int(x[1:]) % 2 == 0]
        locations = [x for x in names if int(x[1:]) % 2 == 1]
        day = f"2020-{rng.randint(1, 3):02d}-{rng.randint(1, 5):02d}"  # many equal dates
        files[f"r{i}.md"] = text_of(f"R{i}", day, actors=actors, locations=locations)
    site, _ = make(tmp_path, files)
    for k in (1, 3, 5):
        got = {url: [r.url for r in rel] for url, rel in related.related_reports(site, k).items()}
        assert got == brute_related(site, k)


def synthetic_site(n: int, seed: int = 1) -> Site:
    """n reports with Zipf-distributed actors and places plus two very common places."""
    rng = random.Random(seed)
    actors = [f"Actor {i}" for i in range(800)]
    places = [f"Place {i}" for i in range(3000)]
    actor_weights = [1 / (i + 1) ** 1.1 for i in range(len(actors))]
    place_weights = [1 / (i + 1) ** 1.1 for i in range(len(places))]
    body = RenderedBody("<p>x</p>", "x", (), 1)
    start = datetime(2010, 1, 1, tzinfo=UTC)
    docs = []
    for i in range(n):
        names = rng.choices(actors, actor_weights, k=rng.randint(1, 4))
        where = rng.choices(places, place_weights, k=rng.randint(1, 3))
        where += ["Iraq"] * (rng.random() < 0.6) + ["Syria"] * (rng.random() < 0.3)
        meta = ReportMeta(title=f"Report {i}", date_has_time=True,
                          date=start + timedelta(hours=rng.randint(0, 24 * 365 * 14)),
                          actors=tuple(dict.fromkeys(names)), locations=tuple(dict.fromkeys(where)))
        docs.append((SourceDoc(f"r{i}.md", meta, "", 1, {}), body))
    site, _ = build_site(default_config(Path("/srv/site"), base_url=BASE), docs)
    return site


def test_related_reports_exact_on_a_zipf_archive() -> None:
    site = synthetic_site(600, seed=7)
    got = {url: [r.url for r in rel] for url, rel in related.related_reports(site).items()}
    assert got == brute_related(site, 5)


def test_related_reports_in_workers_equal_one_process() -> None:
    """With jobs=2 the reports are shared out among forked workers (600 reports: more than
    the two chunks ordered_map needs before it forks); the lists are the same objects in
    the same order."""
    site = synthetic_site(600, seed=11)
    serial = related.related_reports(site)
    parallel = related.related_reports(site, jobs=2)
    assert serial == parallel
    assert all(a is b for url in serial for a, b in zip(serial[url], parallel[url], strict=True))
    assert sum(map(len, serial.values())) > 2_000


def test_related_reports_fast_at_10000_reports() -> None:
    site = synthetic_site(10_000)
    start = time.perf_counter()
    found = related.related_reports(site)
    elapsed = time.perf_counter() - start
    print(f"related_reports on 10,000 reports: {elapsed:.2f}s")
    assert len(found) == 10_000
    assert sum(len(v) == 5 for v in found.values()) > 9_900


def test_related_on_the_sample_archive_links_camp_taji_to_the_strikes() -> None:
    from sitegen.content import load_sources

    config = default_config(REPO, base_url=BASE)
    if not (config.content_path / "2020" / "camp-taji-rocket-attack.md").is_file():
        pytest.skip("sample archive not present")
    docs, _ = load_sources(config.content_path, config.tz)
    site, _ = build_site(config, [(d, render_markdown(d.body)) for d in docs])
    taji = next(r for r in site.reports if r.source.endswith("2020/camp-taji-rocket-attack.md"))
    rel = [r.source for r in related.related_reports(site)[taji.url]]
    assert any(s.endswith("2020/us-strikes-kataib-hezbollah-weapons-sites.md") for s in rel)


# --- reading time --------------------------------------------------------------------------


@pytest.mark.parametrize(("words", "minutes"), [
    (0, 1), (1, 1), (230, 1), (344, 1), (345, 2), (460, 2), (1000, 4), (2300, 10), (-5, 1),
])
def test_reading_minutes(words: int, minutes: int) -> None:
    assert related.reading_minutes(words) == minutes


def test_excerpt() -> None:
    assert publish.excerpt("short  text") == "short text"
    assert publish.excerpt("word " * 100, limit=12) == "word word…"
    assert publish.excerpt("x" * 50, limit=10) == "x" * 10 + "…"
