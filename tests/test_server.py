"""The search server over real HTTP: JSON and HTML results, 404s, traversal, bad requests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import build_sample, http_get, serve_app
from bs4 import BeautifulSoup

from sitegen.config import load_config
from sitegen.server import SiteApp

STRIKES = "reports/2020/us-strikes-hit-kataib-hezbollah-weapons-sites-after-camp-taji-attack/"


@pytest.fixture(scope="module")
def site_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = build_sample(tmp_path_factory.mktemp("served"))
    (root / "secret.txt").write_text("outside the output folder")
    (root / "output" / "escape").symlink_to(root)  # a symlink pointing out of the site
    return root


@pytest.fixture(scope="module")
def server(site_root: Path) -> Iterator[tuple[str, int]]:
    config, diags = load_config(site_root / "sitegen.yaml")
    assert diags == []
    with serve_app(SiteApp(config)) as address:
        yield address


get = http_get


def test_api_search_returns_the_documented_json(server: tuple[str, int]) -> None:
    status, headers, body = get(server, "/api/search?q=Karbala+airport")
    assert status == 200
    assert headers["content-type"].startswith("application/json")
    data = json.loads(body)
    assert set(data) == {"query", "total", "hits", "facets", "suggestion"}
    assert data["total"] >= 1
    assert data["hits"][0]["url"] == STRIKES
    assert set(data["hits"][0]) == {"url", "title", "date", "summary", "actors", "locations",
                                    "score", "excerpt"}
    assert data["facets"]["locations"]["Karbala"] >= 1


def test_api_actor_filter_accepts_any_spelling(server: tuple[str, int]) -> None:
    a = json.loads(get(server, "/api/search?actor=Kata%27ib+Hezbollah&limit=100")[2])
    b = json.loads(get(server, "/api/search?actor=kataib-hezbollah&limit=100")[2])
    assert a["total"] == b["total"] > 5
    assert [h["url"] for h in a["hits"]] == [h["url"] for h in b["hits"]]


def test_html_search_page_has_results_facets_and_filters(server: tuple[str, int]) -> None:
    status, _, body = get(server, "/search/?q=rockets")
    assert status == 200
    soup = BeautifulSoup(body, "html.parser")
    hits = [a["href"] for a in soup.select("#search-results .report-item-title a")]
    assert hits and all(h.startswith("/reports/") for h in hits)
    facet_links = [a["href"] for a in soup.select(".facets a")]
    assert any("actor=kataib-hezbollah" in h for h in facet_links)
    # following a facet link narrows the search and shows the filter as removable
    narrowed = next(h for h in facet_links if "actor=kataib-hezbollah" in h)
    status, _, body = get(server, narrowed)
    soup2 = BeautifulSoup(body, "html.parser")
    assert [a.get_text(" ", strip=True) for a in soup2.select(".active-filters a")] == [
        "Actor: Kataib Hezbollah × (remove filter)"]
    total = int(soup.select_one("#results-count").get_text().split()[0])
    total2 = int(soup2.select_one("#results-count").get_text().split()[0])
    assert 0 < total2 <= total
    assert soup.select_one("html")["lang"] == "en"


def test_misspelled_query_gets_a_suggestion(server: tuple[str, int]) -> None:
    data = json.loads(get(server, "/api/search?q=hezbolah")[2])
    assert data["total"] == 0
    assert data["suggestion"]


def test_static_files_and_directory_index(server: tuple[str, int]) -> None:
    status, headers, body = get(server, "/")
    assert status == 200 and b"<h1>" in body
    status, headers, _ = get(server, "/static/style.css")
    assert status == 200 and headers["content-type"].startswith("text/css")
    status, headers, _ = get(server, "/actors")
    assert status == 301 and headers["location"] == "/actors/"


def test_unknown_path_gets_the_themes_404_page(server: tuple[str, int]) -> None:
    status, _, body = get(server, "/no/such/page/")
    assert status == 404
    soup = BeautifulSoup(body, "html.parser")
    assert soup.select_one("h1").get_text() == "Page not found"


@pytest.mark.parametrize("path", [
    "/../secret.txt", "/%2e%2e/secret.txt", "/static/..%2f..%2fsecret.txt",
    "/static/%2e%2e/%2e%2e/secret.txt", "/..%5c..%5csecret.txt", "/escape/secret.txt",
    "/%00/index.html", "/static/../../secret.txt", "/./../secret.txt",
])
def test_traversal_never_serves_a_file_outside_output(server: tuple[str, int], path: str) -> None:
    status, _, body = get(server, path)
    assert status in (400, 403, 404)
    assert b"outside the output folder" not in body


@pytest.mark.parametrize(("method", "path", "expected"), [
    ("POST", "/api/search?q=x", 405), ("PUT", "/", 405), ("DELETE", "/index.html", 405),
    ("GET", "/api/search?q=" + "a" * 5000, 414),
    ("GET", "/api/search?q=%zz", 400),
    ("GET", "/api/search?q=%ff%fe", 400),
    ("GET", "/api/search?" + "&".join(f"p{i}=1" for i in range(60)), 400),
    ("GET", "/api/search?page=0", 400),
    ("GET", "/api/search?limit=100000", 400),
    ("GET", "/api/search?since=yesterday", 400),
    ("GET", "/api/search?sort=random", 400),
])
def test_bad_requests_get_4xx(server: tuple[str, int], method: str, path: str,
                              expected: int) -> None:
    status, headers, _ = get(server, path, method)
    assert status == expected
    if expected == 405:
        assert headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize("q", ['"unbalanced', "actor:", "*", "(((", "AND OR NOT",
                               "\x01\x02", "a" * 1000, "date:[2020 TO", "location:\"",
                               "Ḥalab", "كتائب"])
def test_hostile_queries_answer_200(server: tuple[str, int], q: str) -> None:
    from urllib.parse import quote

    status, _, body = get(server, "/api/search?q=" + quote(q))
    assert status == 200
    assert isinstance(json.loads(body)["total"], int)


def test_security_headers_on_every_response(server: tuple[str, int]) -> None:
    for path in ("/", "/api/search?q=x", "/search/?q=x", "/missing", "/static/style.css"):
        _, headers, _ = get(server, path)
        assert "script-src 'self'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"]


def test_head_has_no_body(server: tuple[str, int]) -> None:
    status, headers, body = get(server, "/", "HEAD")
    assert status == 200 and body == b"" and int(headers["content-length"]) > 0


def test_misspelled_actor_filter_suggests_a_working_search(server: tuple[str, int]) -> None:
    _, _, body = get(server, "/search/?actor=Kataib+Hezbolah")
    soup = BeautifulSoup(body, "html.parser")
    link = soup.select_one(".suggestion a")
    assert link is not None and link.get_text() == "Kataib Hezbollah"
    _, _, body = get(server, link["href"])
    soup = BeautifulSoup(body, "html.parser")
    assert int(soup.select_one("#results-count").get_text().split()[0]) > 5


def test_warm_opens_the_search_index_before_the_first_search(site_root: Path) -> None:
    """``warm`` opens the index in the background (serve does it at start and after each
    rebuild); a search afterwards finds it open, and answers as usual."""
    config, _ = load_config(site_root / "sitegen.yaml")
    app = SiteApp(config)
    assert app.index._opened is None  # nothing is opened by making the app
    app.warm().join(timeout=30)
    opened = app.index._opened
    assert opened is not None and opened.doc_count > 0
    from sitegen.search.query import SearchRequest

    results = app.index.search(SearchRequest(q="Kataib Hezbollah"))
    assert results.total > 0
    assert app.index._opened is opened  # the search used the index warm opened
