"""Rendered pages, asserted on parsed HTML with selectors (never substrings of HTML)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest
from bs4 import BeautifulSoup
from conftest import (
    FIXTURE_FILES,
    FIXTURE_URLS,
    build_ok,
    crawl,
    hrefs,
    html_files,
    make_site,
    page,
    page_url_of,
    parse,
    report,
)
from jinja2 import UndefinedError

from sitegen.render import make_env, paginate

KH = "actors/kataib-hezbollah/"
KH_ARABIC = "actors/كتائب-حزب-الله/"


def links(urls: list[str], base: str = "/") -> list[str]:
    return [base + quote(u) for u in urls]


def report_links(soup: BeautifulSoup) -> list[str]:
    return hrefs(soup, ".report-list .report-item-title a")


def five_reports() -> dict[str, str]:
    return {f"content/r{i}.md": report(f"Report {i}", f"2020-01-0{i}",
                                       actors=["Big Actor"] + (["Small"] if i == 3 else []),
                                       locations=["Iraq"])
            for i in range(1, 6)}


# --- page kinds ----------------------------------------------------------------------------


def test_every_page_kind_exists(fixture_site: Path) -> None:
    for rel in ["index.html", "404.html", "search/index.html", "static/style.css",
                "actors/index.html", "locations/index.html", f"{KH}index.html",
                "locations/iraq/index.html", "archive/index.html", "archive/2019/index.html",
                "archive/2020/index.html", "archive/2021/index.html",
                *(f"{u}index.html" for u in FIXTURE_URLS)]:
        assert (fixture_site / rel).is_file(), rel


def test_index_lists_newest_first_with_date_summary_and_terms(fixture_site: Path) -> None:
    soup = page(fixture_site, "")
    assert report_links(soup) == links(FIXTURE_URLS)
    erbil = soup.select(".report-list .report-item")[1]
    assert erbil.select_one(".report-item-title").get_text(strip=True) == \
        "Rocket attack on Erbil airport"
    assert erbil.select_one("time")["datetime"] == "2021-02-15T21:30:00+03:00"
    assert erbil.select_one(".summary").get_text() == "One contractor was killed."
    assert hrefs(erbil, "a.chip-actor") == ["/actors/saraya-awliya-al-dam/"]
    assert hrefs(erbil, "a.chip-location") == ["/locations/erbil/", "/locations/iraq/"]
    assert soup.select(".pager") == []  # 6 reports fit on one page of 20


def test_report_page(fixture_site: Path) -> None:
    soup = page(fixture_site, "reports/2019/rocket-attack-on-k-1-base-near-kirkuk/")
    art = soup.select_one("article.report")
    assert art.select_one("h1").get_text() == "Rocket attack on K-1 base near Kirkuk"
    assert soup.title.get_text() == "Rocket attack on K-1 base near Kirkuk · Report archive"
    assert art.select_one(".meta time")["datetime"] == "2019-12-27T19:20:00+03:00"
    assert art.select_one(".meta time").get_text() == "December 27, 2019"
    assert art.select_one(".lede").get_text() == "A US contractor was killed."
    facts = art.select_one("dl.facts")
    assert [dt.get_text() for dt in facts.select("dt")] == ["Actors", "Locations", "Source"]
    assert hrefs(facts, "dd:nth-of-type(1) a") == ["/actors/kataib-hezbollah/",
                                                   "/actors/us-department-of-defense/"]
    assert hrefs(facts, "dd:nth-of-type(2) a") == ["/locations/k-1-air-base/",
                                                   "/locations/kirkuk/", "/locations/iraq/"]
    source = facts.select_one("dd:nth-of-type(3) a")
    assert (source["href"], source.get_text()) == ("https://www.defense.gov/", "DoD statement")
    body = art.select_one(".report-body")
    assert [h.get_text() for h in body.select("h2")] == ["What happened", "Context"]
    assert hrefs(body, "a") == ["../us-strikes-on-kataib-hezbollah/"]


def test_report_body_extensions_reach_the_page(fixture_site: Path) -> None:
    soup = page(fixture_site, "reports/2020/rocket-attack-on-camp-taji/")
    body = soup.select_one(".report-body")
    assert [td.get_text() for td in body.select("table td")] == ["3", "14"]
    assert body.select_one("pre code").get_text() == "no <b>markup</b>\n"
    assert hrefs(body, "sup a.footnote-ref") == ["#fn:1"]
    assert [p.get_text() for p in body.select("p") if "Quoted" in p.get_text()] == [
        "“Quoted” text \u2013 here."]
    toc = soup.select("nav.toc a")
    assert [(a["href"], a.get_text()) for a in toc] == [
        ("#attack", "Attack"), ("#response", "Response"), ("#aftermath", "Aftermath")]
    for a in toc:
        assert body.select_one(f"[id='{a['href'][1:]}']") is not None


def test_report_prev_next(fixture_site: Path) -> None:
    for i, url in enumerate(FIXTURE_URLS):
        nav = page(fixture_site, url).select_one("nav.prev-next")
        newer = hrefs(nav, "a[rel=next]")
        older = hrefs(nav, "a[rel=prev]")
        assert newer == ([] if i == 0 else ["/" + FIXTURE_URLS[i - 1]])
        assert older == ([] if i == len(FIXTURE_URLS) - 1 else ["/" + FIXTURE_URLS[i + 1]])


# --- terms ---------------------------------------------------------------------------------


def test_term_page_lists_exactly_its_reports(fixture_site: Path) -> None:
    assert report_links(page(fixture_site, KH)) == links([
        "reports/2020/us-and-uk-strikes-after-taji/",
        "reports/2020/rocket-attack-on-camp-taji/",
        "reports/2019/us-strikes-on-kataib-hezbollah/",
        "reports/2019/rocket-attack-on-k-1-base-near-kirkuk/"])
    assert report_links(page(fixture_site, "locations/iraq/")) == links(FIXTURE_URLS[1:])
    assert report_links(page(fixture_site, "locations/mali/")) == links(FIXTURE_URLS[:1])
    assert report_links(page(fixture_site, "actors/us-department-of-defense/")) == links([
        "reports/2020/us-and-uk-strikes-after-taji/",
        "reports/2019/us-strikes-on-kataib-hezbollah/",
        "reports/2019/rocket-attack-on-k-1-base-near-kirkuk/"])


def test_variant_spellings_merge_into_one_term_page(fixture_site: Path) -> None:
    soup = page(fixture_site, KH)
    # Three reports write "Kataib Hezbollah", one "Kata'ib Hezbollah".
    assert soup.select_one("main h1").get_text() == "Kataib Hezbollah"
    assert soup.select_one(".aka").get_text(strip=True) == "Also known as:Kata'ib Hezbollah"
    assert [b.get_text() for b in soup.select(".aka .alias")] == ["Kata'ib Hezbollah"]
    strikes = page(fixture_site, "reports/2019/us-strikes-on-kataib-hezbollah/")
    actor_links = strikes.select("dl.facts dd:nth-of-type(1) a")
    assert (actor_links[0]["href"], actor_links[0].get_text()) == (
        "/actors/kataib-hezbollah/", "Kataib Hezbollah")
    actor_dirs = sorted(p.name for p in (fixture_site / "actors").iterdir() if p.is_dir())
    assert [d for d in actor_dirs if "kata" in d] == ["kataib-hezbollah"]


def test_term_indexes_a_to_z_with_counts(fixture_site: Path) -> None:
    soup = page(fixture_site, "actors/")
    rows = [(li.a["href"], li.a.get_text(), li.select_one(".count").get_text())
            for li in soup.select(".term-list li")]
    assert rows == [
        ("/actors/kataib-hezbollah/", "Kataib Hezbollah", "4"),
        ("/actors/ministere-des-armees/", "Ministère des Armées", "1"),
        ("/actors/operation-inherent-resolve/", "Operation Inherent Resolve", "1"),
        ("/actors/saraya-awliya-al-dam/", "Saraya Awliya al-Dam", "1"),
        ("/actors/uk-ministry-of-defence/", "UK Ministry of Defence", "1"),
        ("/actors/us-department-of-defense/", "US Department of Defense", "3"),
        ("/" + quote(KH_ARABIC), "كتائب حزب الله", "1"),
    ]
    assert [h.get_text() for h in soup.select(".letter-group h2")] == ["K", "M", "O", "S", "U",
                                                                       "#"]
    locations = page(fixture_site, "locations/")
    assert [li.a.get_text() for li in locations.select(".term-list li")] == [
        "Al-Qa'im", "Camp Taji", "Erbil", "Iraq", "Jurf al-Sakhar", "K-1 Air Base", "Karbala",
        "Kirkuk", "Mali", "Sahel", "Syria"]


def test_arabic_name_gets_a_readable_unicode_page(fixture_site: Path) -> None:
    target = fixture_site / KH_ARABIC / "index.html"
    assert target.is_file()
    soup = parse(target)
    assert soup.select_one("main h1").get_text() == "كتائب حزب الله"
    assert report_links(soup) == links(["reports/2020/rocket-attack-on-camp-taji/"])
    taji = page(fixture_site, "reports/2020/rocket-attack-on-camp-taji/")
    assert "/" + quote(KH_ARABIC) in hrefs(taji, "dl.facts a")


def test_drafts_and_non_reports_are_skipped(fixture_site: Path) -> None:
    every_href = {a["href"] for f in html_files(fixture_site) for a in parse(f).select("a")}
    assert not any("draft" in h or "hidden" in h or "skip" in h or "notes" in h
                   for h in every_href)
    assert not (fixture_site / "reports/2022").exists()
    assert not (fixture_site / "actors/draft-actor").exists()
    assert not (fixture_site / "actors/hidden-actor").exists()
    assert not (fixture_site / "archive/2022").exists()
    names = [a.get_text() for a in page(fixture_site, "actors/").select(".term-list a")]
    assert "Draft Actor" not in names and "Hidden Actor" not in names


def test_drafts_are_included_with_drafts(tmp_path: Path) -> None:
    out = build_ok(make_site(tmp_path, FIXTURE_FILES), drafts=True)
    assert report_links(page(out, ""))[0] == "/reports/2022/draft-not-yet-published/"
    assert report_links(page(out, "actors/draft-actor/")) == [
        "/reports/2022/draft-not-yet-published/"]


def test_subfolders_are_reports(fixture_site: Path) -> None:
    soup = page(fixture_site, "reports/2021/barkhane-drawdown-announced/")
    assert soup.select_one("article h1").get_text() == "Barkhane drawdown announced"


# --- pagination ----------------------------------------------------------------------------


def test_index_pagination(tmp_path: Path) -> None:
    out = build_ok(make_site(tmp_path, five_reports(), {"page_size": 2}))
    pages = {url: page(out, url) for url in ("", "page/2/", "page/3/")}
    assert not (out / "page/1").exists() and not (out / "page/4").exists()
    assert {u: report_links(s) for u, s in pages.items()} == {
        "": ["/reports/2020/report-5/", "/reports/2020/report-4/"],
        "page/2/": ["/reports/2020/report-3/", "/reports/2020/report-2/"],
        "page/3/": ["/reports/2020/report-1/"],
    }
    assert {u: (hrefs(s, ".pager a[rel=prev]"), hrefs(s, ".pager a[rel=next]"))
            for u, s in pages.items()} == {
        "": ([], ["/page/2/"]),
        "page/2/": (["/"], ["/page/3/"]),
        "page/3/": (["/page/2/"], []),
    }
    assert pages["page/2/"].select_one(".pager span").get_text() == "Page 2 of 3"
    assert pages["page/3/"].title.get_text().startswith("Report archive, page 3")


def test_term_pagination(tmp_path: Path) -> None:
    out = build_ok(make_site(tmp_path, five_reports(), {"page_size": 2}))
    big = "actors/big-actor/"
    assert report_links(page(out, big)) == ["/reports/2020/report-5/", "/reports/2020/report-4/"]
    assert report_links(page(out, big + "page/2/")) == ["/reports/2020/report-3/",
                                                        "/reports/2020/report-2/"]
    assert report_links(page(out, big + "page/3/")) == ["/reports/2020/report-1/"]
    assert not (out / big / "page/4").exists()
    assert hrefs(page(out, big + "page/2/"), ".pager a") == [f"/{big}", f"/{big}page/3/"]
    small = page(out, "actors/small/")
    assert report_links(small) == ["/reports/2020/report-3/"]
    assert small.select(".pager") == [] and not (out / "actors/small/page").exists()
    # The term's header counts all its reports, not one page of them.
    assert page(out, big + "page/3/").select_one(".lede").get_text().startswith("5 reports")


def test_paginate() -> None:
    pages = paginate(list(range(5)), 2, "actors/x/")
    assert [p.items for p in pages] == [(0, 1), (2, 3), (4,)]
    assert [(p.prev_url, p.next_url) for p in pages] == [
        (None, "actors/x/page/2/"), ("actors/x/", "actors/x/page/3/"), ("actors/x/page/2/", None)]
    [empty] = paginate([], 20, "")
    assert (empty.items, empty.total_pages, empty.prev_url, empty.next_url) == ((), 1, None,
                                                                                None)


# --- archive -------------------------------------------------------------------------------


def test_archive_years_and_months(fixture_site: Path) -> None:
    soup = page(fixture_site, "archive/")
    years = [(s.h2.a["href"], s.h2.a.get_text(), s.select_one("h2 .count").get_text())
             for s in soup.select("section.archive-year")]
    assert years == [("/archive/2021/", "2021", "2"), ("/archive/2020/", "2020", "2"),
                     ("/archive/2019/", "2019", "2")]
    months_2021 = [(a["href"], a.get_text()) for a in
                   soup.select("section.archive-year")[0].select(".month-list a")]
    assert months_2021 == [("/archive/2021/#m06", "June"), ("/archive/2021/#m02", "February")]
    year = page(fixture_site, "archive/2019/")
    assert [s["aria-labelledby"] for s in year.select("section.archive-month")] == ["m12"]
    assert report_links(year) == links(FIXTURE_URLS[4:])
    assert hrefs(year, "nav.prev-next a[rel=next]") == ["/archive/2020/"]
    assert hrefs(year, "nav.prev-next a[rel=prev]") == []


def test_report_with_offset_is_in_its_local_month(tmp_path: Path) -> None:
    out = build_ok(make_site(tmp_path, {
        "content/taji.md": report("Taji", "2020-03-11T22:30:00+03:00", actors=["KH"]),
        # 29 February 2020 in UTC; 1 March where it happened.
        "content/early.md": report("Early", "2020-03-01T01:30:00+03:00", actors=["KH"]),
        "content/feb.md": report("Feb", "2020-02-28", actors=["KH"]),
    }))
    year = page(out, "archive/2020/")
    months = {s.h2["id"]: report_links(s) for s in year.select("section.archive-month")}
    assert months == {"m03": ["/reports/2020/taji/", "/reports/2020/early/"],
                      "m02": ["/reports/2020/feb/"]}
    assert year.select_one("#m03").get_text() == "March 2020"
    taji = page(out, "reports/2020/taji/")
    assert taji.select_one(".meta time").get_text() == "March 11, 2020"


# --- encodings and files -------------------------------------------------------------------


def test_crlf_and_bom_files_build(tmp_path: Path) -> None:
    text = report("Windows file", "2020-05-01", "## Heading\r\n\r\nBody line.\r\n",
                  actors=["Kataib Hezbollah"]).replace("\n", "\r\n").replace("\r\r", "\r")
    out = build_ok(make_site(tmp_path, {"content/win.md": b"\xef\xbb\xbf" + text.encode()}))
    soup = page(out, "reports/2020/windows-file/")
    assert soup.select_one("article h1").get_text() == "Windows file"
    assert [h.get_text() for h in soup.select(".report-body h2")] == ["Heading"]
    assert soup.select_one(".report-body p").get_text() == "Body line."
    assert hrefs(soup, "dl.facts a") == ["/actors/kataib-hezbollah/"]


# --- base_url ------------------------------------------------------------------------------


def test_base_url_with_a_path_prefixes_every_internal_link(tmp_path: Path) -> None:
    out = build_ok(make_site(tmp_path, FIXTURE_FILES,
                              {"base_url": "https://example.org/sub/", "page_size": 2}))
    seen = 0
    for path in html_files(out):
        soup = parse(path)
        for body in soup.select(".report-body"):  # author links: only checked by the crawler
            body.decompose()
        for tag in soup.find_all(True):
            for attr in ("href", "src", "action"):
                value = tag.get(attr)
                if value is None or value.startswith("#"):
                    continue
                if value.startswith("https://example.org"):
                    assert value.startswith("https://example.org/sub/"), (path, value)
                    continue
                if "://" in value or value.startswith("mailto:"):
                    continue
                seen += 1
                assert value.startswith("/sub/"), (path.relative_to(out), attr, value)
    assert seen > 300
    checked, problems = crawl(out, "/sub/", check_fragments=True)
    assert problems == []
    assert checked > seen
    canonical = page(out, FIXTURE_URLS[0]).select_one("link[rel=canonical]")["href"]
    assert canonical == f"https://example.org/sub/{FIXTURE_URLS[0]}"


# --- themes --------------------------------------------------------------------------------


def test_extra_front_matter_and_site_extra_reach_templates(tmp_path: Path) -> None:
    out = build_ok(make_site(tmp_path, {
        "content/a.md": report("A", "2020-01-01", actors=["X"], foo="bar <b>",
                               casualties={"killed": 3}),
        "themes/t/templates/report.html":
            '{% extends "builtin:report.html" %}\n{% block content %}'
            '<p id="foo">{{ report.extra.foo }}</p><p id="killed">'
            '{{ report.extra.casualties.killed }}</p><p id="team">{{ site.extra.team }}</p>'
            '{{ super() }}{% endblock %}\n',
    }, {"theme": "t", "extra": {"team": "Desk"}}))
    soup = page(out, "reports/2020/a/")
    assert soup.select_one("#foo").get_text() == "bar <b>"
    assert soup.select("#foo b") == []
    assert soup.select_one("#killed").get_text() == "3"
    assert soup.select_one("#team").get_text() == "Desk"
    assert soup.select_one("article.report h1").get_text() == "A"  # builtin block still there


def test_overriding_one_template_changes_only_those_pages(tmp_path: Path) -> None:
    plain = build_ok(make_site(tmp_path / "plain", FIXTURE_FILES))
    themed = build_ok(make_site(tmp_path / "themed", {
        **FIXTURE_FILES,
        "themes/mine/templates/report.html":
            '{% extends "base.html" %}\n{% block content %}'
            '<h1 class="custom">{{ report.title }}</h1>{% endblock %}\n',
    }, {"theme": "mine"}))
    plain_pages = {page_url_of(plain, p): p.read_bytes() for p in html_files(plain)}
    themed_pages = {page_url_of(themed, p): p.read_bytes() for p in html_files(themed)}
    assert plain_pages.keys() == themed_pages.keys()
    changed = sorted(u for u in plain_pages if plain_pages[u] != themed_pages[u])
    assert changed == sorted(FIXTURE_URLS)
    for url in FIXTURE_URLS:
        soup = page(themed, url)
        assert soup.select("h1.custom") and not soup.select("article.report")
    assert page(themed, "").select("h1.custom") == []


def test_per_report_template(tmp_path: Path) -> None:
    out = build_ok(make_site(tmp_path, {
        "content/a.md": report("Special", "2020-01-01", actors=["X"]),
        "content/b.md": report("Ordinary", "2020-01-02", actors=["X"]),
        "themes/t/templates/report-special.html":
            '{% extends "builtin:report.html" %}{% block body_class %}special{% endblock %}',
    }, {"theme": "t"}))
    assert page(out, "reports/2020/special/").body["class"] == ["special"]
    assert page(out, "reports/2020/ordinary/").body["class"] == ["page-report"]


def test_theme_static_files_override_and_add(tmp_path: Path) -> None:
    out = build_ok(make_site(tmp_path, {
        "content/a.md": report("A", "2020-01-01", actors=["X"]),
        "themes/t/static/style.css": "body { color: red }\n",
        "themes/t/static/img/logo.svg": "<svg/>\n",
    }, {"theme": "t"}))
    assert (out / "static/style.css").read_text() == "body { color: red }\n"
    assert (out / "static/img/logo.svg").is_file()


# --- XSS -----------------------------------------------------------------------------------

XSS_BODY = (
    "## <script>alert('h1')</script>Attack\n\n"
    "## <img src=x onerror=alert('h2')>Response\n\n"
    "## Aftermath\n\n"
    "<script>alert('body')</script>\n\n"
    "<img src=x onerror=alert('img')>\n\n"
    "[click](javascript:alert('md')) <a href=\"JaVaScRiPt:alert('raw')\">raw</a>\n\n"
    "<a href=\"data:text/html,<script>alert(1)</script>\">data</a>"
    " <svg onload=alert('svg')></svg> <iframe src=\"javascript:alert('if')\"></iframe>\n\n"
    "![x](javascript:alert('imgmd'))\n"
)
XSS_TITLE = "<script>alert('title')</script> Taji <img src=x onerror=alert('t')>"


def test_markup_in_content_never_becomes_live(tmp_path: Path) -> None:
    out = build_ok(make_site(tmp_path, {
        "content/xss.md": report(
            XSS_TITLE, "2020-03-11", XSS_BODY,
            actors=["<script>alert('actor')</script>", "<img src=x onerror=alert('a2')>",
                    "Evil\" onmouseover=\"alert('a3')"],
            locations=["<svg onload=alert('loc')>", "javascript:alert('loc2')"],
            summary="<b onclick=alert('s')>bold</b> <a href=\"javascript:alert('s2')\">x</a>",
            source="<script>alert('src')</script>", author="<img src=x onerror=alert(1)>",
            tags=["<script>alert('tag')</script>"], foo="<script>alert('extra')</script>"),
        "content/other.md": report("Neighbour", "2020-03-12",
                                   actors=["<script>alert('actor')</script>"]),
    }, {"page_size": 1, "title": "<script>alert('site')</script>",
        "description": "<img src=x onerror=alert('d')>"}))
    pages = list(html_files(out))
    assert len(pages) > 15
    for path in pages:
        rel = path.relative_to(out).as_posix()
        soup = parse(path)
        scripts = soup.find_all("script")
        # JSON-LD is a data block, never executed: it must parse as JSON and hold no "<".
        for block in [s for s in scripts if s.get("type") == "application/ld+json"]:
            assert "<" not in block.string, rel
            assert json.loads(block.string)["@type"] == "NewsArticle", rel
        scripts = [s for s in scripts if s.get("type") != "application/ld+json"]
        # only the theme's own scripts (search.js, filter.js): by src, nothing inline
        assert all(s.get("src", "").startswith("/static/") and not s.get_text().strip()
                   for s in scripts), rel
        if rel not in ("search/index.html", "actors/index.html", "locations/index.html"):
            assert scripts == [], rel
        # The only SVG is sitegen's own charts (entity pages); their text is escaped like
        # the rest, and the attribute checks below cover every element inside them.
        charts = [svg for svg in soup.find_all("svg") if "chart" in svg.get("class", [])]
        assert len(charts) == len(soup.find_all("svg")), rel
        for tag in soup.find_all(True):
            assert tag.name not in ("iframe", "object", "embed", "foreignobject"), rel
            for attr, value in tag.attrs.items():
                assert not attr.lower().startswith("on"), (rel, tag.name, attr)
                if attr in ("href", "src", "action", "formaction"):
                    assert not str(value).strip().lower().startswith(
                        ("javascript:", "data:", "vbscript:")), (rel, tag.name, value)
    # The markup is shown as text, not dropped.
    soup = page(out, "reports/2020/script-alert-title-script-taji-img-src-x-onerror-alert-t/")
    assert soup.select_one("article h1").get_text() == XSS_TITLE
    assert [a.get_text() for a in soup.select("dl.facts dd:nth-of-type(1) a")] == [
        "<script>alert('actor')</script>", "<img src=x onerror=alert('a2')>",
        "Evil\" onmouseover=\"alert('a3')"]
    assert soup.select_one(".lede").get_text() == \
        "<b onclick=alert('s')>bold</b> <a href=\"javascript:alert('s2')\">x</a>"
    assert len(soup.select("nav.toc li")) == 3


# --- environment ---------------------------------------------------------------------------


def test_env_autoescapes_and_is_strict(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "t.html").write_text("{{ x }}|{{ url('actors/é/') }}")
    (tmp_path / "templates" / "u.html").write_text("{{ missing }}")
    env = make_env([tmp_path], base_path="/sub/")
    assert env.get_template("t.html").render(x="<b>") == "&lt;b&gt;|/sub/actors/%C3%A9/"
    with pytest.raises(UndefinedError):
        env.get_template("u.html").render()
    assert env.get_template("builtin:base.html") is not None


def test_cached_renders_a_macro_once_for_the_same_arguments(tmp_path: Path) -> None:
    """``cached(macro, *args)`` gives the macro's own output, renders it once per distinct
    set of argument objects, and holds no more than its limit."""
    folder = tmp_path / "theme" / "templates"
    folder.mkdir(parents=True)
    (folder / "m.html").write_text(
        "{% macro item(x, h) %}<{{ h }}>{{ x.name }}</{{ h }}>{% endmacro %}", "utf-8")
    (folder / "page.html").write_text(
        '{% from "m.html" import item %}'
        "{% for x in xs %}{{ cached(item, x, 'h2') }}|{{ item(x, 'h2') }}\n{% endfor %}", "utf-8")
    env = make_env([tmp_path / "theme"])
    calls: list[str] = []

    class Thing:
        def __init__(self, name: str) -> None:
            self.name = name

        def __getattribute__(self, attr: str) -> object:
            if attr == "name":
                calls.append(object.__getattribute__(self, "name"))
            return object.__getattribute__(self, attr)

    a, b = Thing("<A&>"), Thing("B")
    out = env.get_template("page.html").render(xs=[a, b, a, a])
    parts = [p.split("|") for p in out.strip().split("\n") if p]
    assert len(parts) == 4, out
    assert all(cached == plain for cached, plain in parts)  # same bytes as the plain call
    assert parts[0][0] == "<h2>&lt;A&amp;&gt;</h2>"  # still escaped
    assert calls.count("<A&>") == 3 + 1  # three plain calls, one cached render
    assert calls.count("B") == 2

    cache = env.globals["cached"]
    cache.LIMIT = 20  # a few entries' worth: the oldest go
    many = [Thing(f"n{i}") for i in range(10)]
    env.get_template("page.html").render(xs=many)
    assert 0 < cache._size <= 20 and len(cache._held) < 10


def test_compile_templates_compiles_what_the_jobs_use_before_workers_fork() -> None:
    """Page workers (renewed during a build) inherit the compiled templates."""
    from types import SimpleNamespace

    from sitegen.render import compile_templates
    from sitegen.themes import builtin_theme

    env = make_env([builtin_theme()])
    jobs = [SimpleNamespace(templates=("report-x.html", "report.html")),
            SimpleNamespace(templates=("index.html",))]
    compile_templates(env, jobs)  # type: ignore[arg-type]
    assert env.cache is not None
    compiled = {key[1] for key in env.cache}
    assert {"report.html", "index.html"} <= compiled
    assert "report-x.html" not in compiled and "term.html" not in compiled


def test_make_env_loads_the_locale_data_before_workers_fork() -> None:
    """Babel reads a locale's data on first use; make_env reads it in the parent, so page
    workers (forked after it, and renewed) inherit it instead of each reading it again."""
    from babel import localedata

    from sitegen.themes import builtin_theme

    localedata._cache.pop("nl", None)
    make_env([builtin_theme()], language="nl")
    assert "nl" in localedata._cache
