"""Reader journeys in a real browser (Debian's chromium via Playwright) against the sample
archive served by ``sitegen serve``'s WSGI app: navigation, server search with facets,
keyboard use, the 404 page, accessibility (axe-core, both colour schemes), no horizontal
overflow at phone and desktop widths, and the README screenshots.

Screenshots go to a temporary folder; to refresh the README's, run
``SITEGEN_SCREENSHOTS=docs/screenshots .venv/bin/python -m pytest tests/test_browser_reader.py -k screenshots`` (README "Development").
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import REPO, build_sample, chromium, serve_app

from sitegen.config import load_config
from sitegen.server import SiteApp

pytestmark = pytest.mark.browser

AXE = REPO / "tests" / "node_modules" / "axe-core" / "axe.min.js"
STRIKES = "/reports/2020/us-strikes-hit-kataib-hezbollah-weapons-sites-after-camp-taji-attack/"
PAGE_KINDS = {
    "home": "/",
    "home-page-2": "/page/2/",
    "report": STRIKES,
    "actors": "/actors/",
    "actor": "/actors/kataib-hezbollah/",
    "locations": "/locations/",
    "location": "/locations/karbala/",
    "archive": "/archive/",
    "year": "/archive/2020/",
    "search": "/search/",
    "search-results": "/search/?q=rockets",
    "not-found": "/no/such/page/",
}
WIDTHS = {"phone": 360, "desktop": 1280}
README_SHOTS = {("home", "desktop"), ("actor", "desktop"), ("search-results", "desktop"),
                ("report", "phone")}


@pytest.fixture(scope="module")
def site_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = build_sample(tmp_path_factory.mktemp("reader"))
    config, _ = load_config(root / "sitegen.yaml")
    with serve_app(SiteApp(config)) as (host, port):
        yield f"http://{host}:{port}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


@pytest.fixture()
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    context.close()
    assert errors == [], errors


def hrefs(page: Any, selector: str) -> list[str]:
    return page.eval_on_selector_all(selector, "els => els.map(e => e.getAttribute('href'))")


# --- journeys ------------------------------------------------------------------------------


def test_home_actor_report_location_year(page: Any, site_url: str) -> None:
    page.goto(site_url + "/")
    assert page.locator("h1").count() == 1
    page.click(".report-item .chip-actor >> text=Kataib Hezbollah")
    page.wait_for_url("**/actors/kataib-hezbollah/")
    assert page.text_content("h1").strip() == "Kataib Hezbollah"
    page.click(f".report-list a[href='{STRIKES}']")
    page.wait_for_url(f"**{STRIKES}")
    page.click(".facts a[href='/locations/karbala/']")
    page.wait_for_url("**/locations/karbala/")
    assert STRIKES in hrefs(page, ".report-list a")
    page.click(".site-nav a:text('Archive')")
    page.wait_for_url("**/archive/")
    page.click("a[href='/archive/2020/']")
    page.wait_for_url("**/archive/2020/")
    assert STRIKES in hrefs(page, ".report-list a")


def test_server_search_with_facet_links(page: Any, site_url: str) -> None:
    page.goto(site_url + "/")
    page.fill("#header-q", "rockets")
    page.press("#header-q", "Enter")
    page.wait_for_selector("#results-count")
    before = int(page.text_content("#results-count").split()[0])
    page.click(".facets a[href*='actor=kataib-hezbollah']")
    page.wait_for_selector(".active-filters")
    after = int(page.text_content("#results-count").split()[0])
    assert 0 < after <= before
    # removing the filter brings the wider search back
    page.click(".active-filters a")
    page.wait_for_selector("#results-count")
    assert int(page.text_content("#results-count").split()[0]) == before


def test_keyboard_only_through_search_results(page: Any, site_url: str) -> None:
    page.goto(site_url + "/search/?q=strikes")
    page.keyboard.press("Tab")  # the skip link comes first
    assert page.evaluate("document.activeElement.className") == "skip-link"
    page.keyboard.press("Enter")
    first = hrefs(page, "#search-results .report-item-title a")[0]
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.getAttribute('href')") == first:
            break
    else:
        raise AssertionError("the first result was never reached with Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # a visible focus state
    page.keyboard.press("Enter")
    page.wait_for_url(f"**{first}")


def test_not_found_page(page: Any, site_url: str) -> None:
    response = page.goto(site_url + "/no/such/page/")
    assert response.status == 404
    assert page.text_content("h1").strip() == "Page not found"
    page.fill("#nf-q", "Tower 22")
    page.press("#nf-q", "Enter")
    page.wait_for_selector("#results-count")


# --- layout, accessibility, screenshots -----------------------------------------------------


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_no_horizontal_overflow_and_screenshots(browser: Any, site_url: str, width: str,
                                                tmp_path: Path) -> None:
    out = Path(os.environ.get("SITEGEN_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": WIDTHS[width], "height": 800})
    pg = context.new_page()
    overflowing = {}
    for name, path in PAGE_KINDS.items():
        pg.goto(site_url + path)
        pg.wait_for_load_state("networkidle")
        extra = pg.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        if extra > 0:
            overflowing[name] = extra
        if (name, width) in README_SHOTS:
            pg.screenshot(path=str(out / f"{name}-{width}.jpg"), type="jpeg", quality=60)
    context.close()
    assert overflowing == {}


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_serious_violations(browser: Any, site_url: str, scheme: str) -> None:
    assert AXE.is_file(), "run ./scripts/test, which installs axe-core from npm"
    context = browser.new_context(color_scheme=scheme, bypass_csp=True)
    pg = context.new_page()
    foreign: list[str] = []  # no fonts, scripts or images from anywhere else
    pg.on("request", lambda r: None if r.url.startswith((site_url, "data:"))
          else foreign.append(r.url))
    problems: dict[str, list[str]] = {}
    for name, path in PAGE_KINDS.items():
        pg.goto(site_url + path)
        pg.wait_for_load_state("networkidle")
        pg.add_script_tag(path=str(AXE))
        violations = pg.evaluate("""async () => {
            const r = await axe.run(document, {resultTypes: ['violations']});
            return r.violations.filter(v => ['serious', 'critical'].includes(v.impact))
              .map(v => v.id + ': ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '));
        }""")
        if violations:
            problems[name] = violations
        landmarks = pg.evaluate("""() => ({
            h1: document.querySelectorAll('h1').length,
            main: document.querySelectorAll('main').length,
            banner: document.querySelectorAll('body > header').length,
            nav: document.querySelectorAll('nav[aria-label="Main"]').length,
            footer: document.querySelectorAll('body > footer').length,
            skip: document.querySelectorAll('a.skip-link[href="#main"]').length,
            lang: document.documentElement.lang,
            imgsWithoutAlt: document.querySelectorAll('img:not([alt])').length})""")
        assert landmarks == {"h1": 1, "main": 1, "banner": 1, "nav": 1, "footer": 1, "skip": 1,
                             "lang": "en", "imgsWithoutAlt": 0}, name
    context.close()
    assert problems == {}
    assert foreign == []


def test_filter_box_narrows_the_actor_list(page: Any, site_url: str) -> None:
    page.goto(site_url + "/actors/")
    page.wait_for_selector(".term-filter:not([hidden])")
    total = page.locator(".term-list li").count()
    page.fill("#term-filter-q", "kataib hizb")  # an alias with the apostrophe folded away
    visible = page.eval_on_selector_all(".term-list li:not([hidden]) a",
                                        "els => els.map(e => e.textContent)")
    assert visible == ["Kataib Hezbollah"]
    assert page.text_content("#term-filter-status") == f"1 of {total} shown"
    page.fill("#term-filter-q", "zzzz")
    assert page.locator(".term-filter-empty").is_visible()
    page.fill("#term-filter-q", "")
    assert page.locator(".term-list li:not([hidden])").count() == total
