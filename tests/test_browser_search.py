"""The static search page answers queries in a real browser, with no search server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browser_support import build_sample, chromium, static_server

pytestmark = pytest.mark.browser

STRIKES = "/reports/2020/us-strikes-hit-kataib-hezbollah-weapons-sites-after-camp-taji-attack/"


@pytest.fixture(scope="module")
def site_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = build_sample(tmp_path_factory.mktemp("sample"))
    with static_server(root / "output") as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


def _result_links(page: Any) -> list[str]:
    return page.eval_on_selector_all("#search-results li a[href^='/reports/']",
                                     "els => els.map(e => e.getAttribute('href'))")


def test_text_query_finds_the_strikes_report(browser: Any, site_url: str) -> None:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{site_url}/search/")
    page.fill("#search-q", "Karbala airport")
    page.press("#search-q", "Enter")
    page.wait_for_selector("#search-results li a")
    links = _result_links(page)
    assert STRIKES in links
    assert "result" in page.text_content("#search-status")
    assert "q=Karbala" in page.url  # the query is kept in the address for sharing
    assert errors == []


def test_actor_filter_then_open_a_result(browser: Any, site_url: str) -> None:
    page = browser.new_page()
    page.goto(f"{site_url}/search/")
    page.fill("#search-q", "rockets")
    page.select_option("#search-actor", "kataib-hezbollah")
    page.click("#search-form button[type=submit]")
    page.wait_for_selector("#search-results li a")
    links = _result_links(page)
    assert links, "no results for rockets + Kataib Hezbollah"
    # every result is tagged with the actor: check on each report page
    page.click(f"#search-results li a[href='{links[0]}']")
    page.wait_for_url(f"**{links[0]}")
    actor_links = page.eval_on_selector_all(".facts a", "els => els.map(e => e.getAttribute('href'))")
    assert "/actors/kataib-hezbollah/" in actor_links


def test_prefiltered_link_from_a_term_page(browser: Any, site_url: str) -> None:
    page = browser.new_page()
    page.goto(f"{site_url}/locations/camp-taji/")
    page.click("a.button[href*='search/']")
    page.wait_for_selector("#search-results li a")
    assert page.input_value("#search-location") == "camp-taji"
    assert STRIKES in _result_links(page)


def test_no_results_message(browser: Any, site_url: str) -> None:
    page = browser.new_page()
    page.goto(f"{site_url}/search/?q=zzzxqv")
    page.wait_for_selector("#search-status:not(:empty)")
    page.wait_for_timeout(300)
    assert _result_links(page) == []
    assert "no" in page.text_content("#search-status").lower()


def test_header_search_box_leads_to_results(browser: Any, site_url: str) -> None:
    page = browser.new_page()
    page.goto(f"{site_url}/")
    page.fill("#header-q", "Tower 22")
    page.press("#header-q", "Enter")
    page.wait_for_selector("#search-results li a")
    assert any("tower-22" in link for link in _result_links(page))
