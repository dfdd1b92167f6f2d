"""Publishing features seen in a built site: feeds, sitemap, redirects, social and JSON-LD
tags, reading time, table of contents, related reports, dates in the site's language."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import feedparser  # type: ignore[import-untyped]
from bs4 import BeautifulSoup
from conftest import build_ok, make_site, page, report

BASE = "https://example.org/archive/"
THREE_HEADINGS = "Intro.\n\n## One\n\nA.\n\n## Two\n\nB.\n\n### Two and a half\n\nC.\n"
FILES = {
    "content/2020/taji.md": report(
        "Rockets hit Camp Taji", "2020-03-11T22:30:00+03:00", body=THREE_HEADINGS + "word " * 460,
        actors=["Kataib Hezbollah"], locations=["Camp Taji", "Iraq"], summary="Rockets.",
        aliases=["old/taji-attack/", "2020/03/taji.html"]),
    "content/2020/strikes.md": report(
        "Strikes on weapons sites", "2020-03-13", actors=["Kataib Hezbollah", "CENTCOM"],
        locations=["Karbala", "Camp Taji", "Iraq"], summary="Strikes."),
    "content/2021/erbil.md": report("Erbil attack", "2021-02-15", body="One heading only.\n",
                                    actors=["Unknown group"], locations=["Erbil", "Iraq"]),
}


def built(tmp_path: Path, **config: object) -> Path:
    return build_ok(make_site(tmp_path, FILES, {"base_url": BASE, **config}))


def test_feeds_parse_and_list_the_right_entries(tmp_path: Path) -> None:
    out = built(tmp_path)
    site = feedparser.parse((out / "feed.xml").read_bytes())
    assert site.bozo == 0
    assert [e.title for e in site.entries] == ["Erbil attack", "Strikes on weapons sites",
                                               "Rockets hit Camp Taji"]
    for entry in site.entries:
        assert entry.id and entry.title and entry.updated and entry.summary
        assert entry.link.startswith(BASE)
    taji = feedparser.parse((out / "locations/camp-taji/feed.xml").read_bytes())
    assert taji.bozo == 0
    assert sorted(e.title for e in taji.entries) == ["Rockets hit Camp Taji",
                                                     "Strikes on weapons sites"]
    soup = page(out, "locations/camp-taji/")
    feeds = [a["href"] for a in soup.select("link[rel=alternate][type='application/atom+xml']")]
    assert feeds == ["/archive/feed.xml", "/archive/locations/camp-taji/feed.xml"]


def test_sitemap_lists_every_report_and_term_page_once(tmp_path: Path) -> None:
    out = built(tmp_path)
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    locs = [e.text for e in ET.parse(out / "sitemap.xml").getroot().findall("s:url/s:loc", ns)]
    assert len(locs) == len(set(locs))
    for path in ("reports/2020/rockets-hit-camp-taji/", "reports/2020/strikes-on-weapons-sites/",
                 "reports/2021/erbil-attack/", "actors/kataib-hezbollah/", "actors/centcom/",
                 "locations/camp-taji/", "locations/erbil/", "actors/", "locations/", ""):
        assert BASE + path in locs, path
    robots = (out / "robots.txt").read_text()
    assert f"Sitemap: {BASE}sitemap.xml" in robots.splitlines()


def test_aliases_become_redirect_pages(tmp_path: Path) -> None:
    out = built(tmp_path)
    target = BASE + "reports/2020/rockets-hit-camp-taji/"
    for rel in ("old/taji-attack/index.html", "2020/03/taji.html"):
        soup = BeautifulSoup((out / rel).read_text(), "html.parser")
        assert soup.select_one("meta[http-equiv=refresh]")["content"] == f"0; url={target}"
        assert soup.select_one("link[rel=canonical]")["href"] == target
        assert soup.select_one("meta[name=robots]")["content"] == "noindex"
        assert soup.select_one("a")["href"] == target


def test_report_page_social_tags_json_ld_reading_time_and_toc(tmp_path: Path) -> None:
    out = built(tmp_path)
    soup = page(out, "reports/2020/rockets-hit-camp-taji/")
    url = BASE + "reports/2020/rockets-hit-camp-taji/"
    assert soup.select_one("link[rel=canonical]")["href"] == url
    assert soup.select_one("meta[property='og:url']")["content"] == url
    assert soup.select_one("meta[property='og:type']")["content"] == "article"
    assert soup.select_one("meta[name='twitter:card']")["content"] == "summary"
    data = json.loads(soup.select_one("script[type='application/ld+json']").string)
    assert data["@type"] == "NewsArticle"
    assert data["headline"] == "Rockets hit Camp Taji"
    assert data["datePublished"] == "2020-03-11T22:30:00+03:00"
    assert [m["name"] for m in data["mentions"]] == ["Camp Taji", "Iraq"]
    assert [a["name"] for a in data["about"]] == ["Kataib Hezbollah"]
    assert soup.select_one(".reading-time").get_text() == "2 min read"  # ~470 words
    assert [a["href"] for a in soup.select("nav.toc a")] == ["#one", "#two", "#two-and-a-half"]
    short = page(out, "reports/2021/erbil-attack/")
    assert short.select_one("nav.toc") is None
    assert short.select_one(".reading-time").get_text() == "1 min read"


def test_related_reports_rank_shared_rare_terms(tmp_path: Path) -> None:
    out = built(tmp_path)
    soup = page(out, "reports/2020/rockets-hit-camp-taji/")
    assert [a.get_text() for a in soup.select(".related a")] == [
        "Strikes on weapons sites", "Erbil attack"]  # shares KH + Camp Taji + Iraq vs Iraq only


def test_reports_json_export(tmp_path: Path) -> None:
    out = built(tmp_path)
    data = json.loads((out / "data/reports.json").read_text())
    assert [r["title"] for r in data["reports"]] == ["Erbil attack", "Strikes on weapons sites",
                                                    "Rockets hit Camp Taji"]
    taji = data["reports"][2]
    assert taji["date"] == "2020-03-11T22:30:00+03:00"
    assert [a["slug"] for a in taji["actors"]] == ["kataib-hezbollah"]
    lines = (out / "data/reports.jsonl").read_text().splitlines()
    assert [json.loads(line)["title"] for line in lines] == [r["title"] for r in data["reports"]]


def test_dates_follow_the_site_language_and_the_reports_own_offset(tmp_path: Path) -> None:
    out = built(tmp_path, language="fr")
    soup = page(out, "reports/2020/rockets-hit-camp-taji/")
    assert soup.select_one("html")["lang"] == "fr"
    assert soup.select_one(".report-header time").get_text() == "11 mars 2020"
    year = page(out, "archive/2020/")
    assert [h.get_text() for h in year.select(".archive-month h2")] == ["mars 2020"]


def test_theme_override_of_a_static_file_keeps_the_rest(tmp_path: Path) -> None:
    files = {**FILES, "themes/mine/static/style.css": "body { color: red; }\n"}
    out = build_ok(make_site(tmp_path, files, {"base_url": BASE, "theme": "mine"}))
    assert (out / "static/style.css").read_text() == "body { color: red; }\n"
    assert (out / "static/search.js").is_file()  # inherited from the default theme
