"""Hostile content never becomes script: a corpus of XSS vectors (tests/data/xss_vectors.txt,
from the OWASP and PortSwigger cheat sheets) is put into every field of a report and of the
actor/location registry, the site is built, and every output is checked with a parser:

- every HTML page (``html.parser``, the way the bytes are written), the Atom feeds and the
  sitemap (as XML), ``data/*.json``;
- the search server's JSON API and HTML results page, with each vector also as the query
  and the filters (reflected input);
- the static search page and report pages in chromium: results for a word the hostile
  reports share and for typed vectors, checked in the live DOM, with no ``alert`` dialog.

"Inert" means: no ``<script>`` except the theme's own ``src=`` scripts and JSON-LD data
blocks (which must parse as JSON and cannot close their element); no ``on*`` attribute; no
``javascript:``/``vbscript:``/``data:`` URL in a URL attribute; no element outside the
theme's and the Markdown sanitiser's vocabulary (so no iframe, object, embed, base, style,
math, meta refresh...); SVG only as sitegen's own charts (``class="chart ..."``), whose
elements get the same attribute checks.
"""

from __future__ import annotations

import json
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import yaml
from browser_support import chromium, static_server
from conftest import build_ok, make_site, report

from sitegen.config import load_config
from sitegen.markdown import ALLOWED_TAGS
from sitegen.server import SiteApp, make_wsgi_server

DATA = Path(__file__).parent / "data" / "xss_vectors.txt"
VECTORS = [line for line in DATA.read_text(encoding="utf-8").splitlines()
           if line.strip() and not line.startswith("# ")]
MARKER = "zyxhostile"  # a word every hostile report carries, to search for them

THEMES = Path(__file__).resolve().parent.parent / "themes"
# The elements the theme's templates write ("<slug>" is a placeholder in a comment); with the
# Markdown sanitiser's allow-list, that is every element a page may hold outside a chart.
THEME_TAGS = {tag.lower() for path in THEMES.glob("default/templates/*.html")
              for tag in re.findall(r"<([a-zA-Z][a-zA-Z0-9-]*)", path.read_text("utf-8"))
              } - {"slug"} | {"mark"}
SVG_TAGS = {"svg", "g", "path", "rect", "circle", "line", "text", "title", "desc"}
URL_ATTRS = {"href", "src", "action", "formaction", "xlink:href", "data", "background",
             "poster", "srcset", "lowsrc", "dynsrc", "codebase", "cite", "longdesc", "ping",
             "manifest", "icon", "usemap"}  # and <meta http-equiv=refresh content>: refused
BAD_SCHEMES = ("javascript:", "vbscript:", "data:", "livescript:")


def unsafe_url(value: str) -> bool:
    # Browsers drop ASCII tab and newline anywhere in a URL and leading control/space.
    cleaned = re.sub(r"[\t\n\r]", "", value).lstrip("\x00\x01\x02\x03\x04\x05\x06\x07\x08"
                                                    "\x0b\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15"
                                                    "\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f "
                                                    ).lower()
    return cleaned.startswith(BAD_SCHEMES)


class InertChecker(HTMLParser):
    """Collects every way an HTML document could run script, as problems."""

    def __init__(self, where: str, theme_scripts: bool = True) -> None:
        super().__init__(convert_charrefs=True)
        self.where = where
        self.theme_scripts = theme_scripts
        self.allowed = (THEME_TAGS if theme_scripts else set()) | ALLOWED_TAGS
        self.problems: list[str] = []
        self.svg_depth = 0
        self.script: dict[str, str | None] | None = None
        self.script_text: list[str] = []
        self.scripts = 0

    def problem(self, text: str) -> None:
        self.problems.append(f"{self.where}: {text}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.check(tag, attrs)
        if tag == "svg":
            self.svg_depth += 1
        elif tag == "script":
            self.script = dict(attrs)
            self.script_text = []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.check(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg" and self.svg_depth:
            self.svg_depth -= 1
        elif tag == "script" and self.script is not None:
            self.check_script(self.script, "".join(self.script_text))
            self.script = None

    def handle_data(self, data: str) -> None:
        if self.script is not None:
            self.script_text.append(data)

    def check(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "svg" and self.svg_depth == 0:
            if "chart" not in (values.get("class") or "").split():
                self.problem(f"<svg> that is not one of sitegen's charts: {attrs}")
        elif self.svg_depth == 0 and tag not in self.allowed:
            self.problem(f"unexpected element <{tag}> {attrs}")
        elif self.svg_depth and tag not in SVG_TAGS:
            self.problem(f"unexpected element <{tag}> inside a chart")
        if tag == "meta" and (values.get("http-equiv") or "").lower() == "refresh":
            self.problem("<meta http-equiv=refresh>")
        for name, value in attrs:
            if name.startswith("on"):
                self.problem(f"event handler <{tag} {name}={value!r}>")
            if name in URL_ATTRS and value and unsafe_url(value):
                self.problem(f"script URL <{tag} {name}={value!r}>")
            if name == "style":
                self.problem(f"style attribute <{tag} style={value!r}>")

    def check_script(self, attrs: dict[str, str | None], text: str) -> None:
        self.scripts += 1
        if attrs.get("type") == "application/ld+json":
            if "</" in text or "<!--" in text:
                self.problem("JSON-LD that could close its <script> element")
            try:
                json.loads(text)
            except ValueError:
                self.problem("JSON-LD that is not JSON")
            return
        src = attrs.get("src") or ""
        if not (self.theme_scripts and src.startswith("/static/") and not text.strip()
                and set(attrs) <= {"src", "defer", "data-base", "data-index"}):
            self.problem(f"<script {attrs}> {text[:80]!r}")


def inert(html: str, where: str, theme_scripts: bool = True) -> list[str]:
    checker = InertChecker(where, theme_scripts)
    checker.feed(html)
    checker.close()
    return checker.problems


# --- the hostile site ----------------------------------------------------------------------


def hostile_files() -> dict[str, str]:
    files: dict[str, str] = {}
    for i, v in enumerate(VECTORS):
        body = (f"{MARKER} report {i}.\n\n{v}\n\nInline: {v} end.\n\n- {v}\n\n> {v}\n\n"
                f"| a | b |\n|---|---|\n| {v.replace('|', '')} | x |\n\n"
                f"Para\n{{: onclick=\"alert({i})\" }}\n\n[click][evil{i}] *x*{{: onclick=alert(1) }}"
                f"\n\n[evil{i}]: javascript:alert({i})\n")
        files[f"content/{2015 + i % 10}/hostile-{i}.md"] = report(
            f"{MARKER} {i} {v}", f"{2015 + i % 10}-{1 + i % 12:02d}-{1 + i % 28:02d}", body,
            actors=[v, "Hostile Registry Actor"], locations=[v, "Hostile Registry Place"],
            tags=[v, MARKER], summary=f"{MARKER} {v}", source=v,
            source_url="https://xss.example/" + v, author=v,
            slug=f"hostile-{i}-" + re.sub(r"[/\\]", " ", v), hostile_extra=v,
            updated=f"{2015 + i % 10}-12-31")
    description = "\n\n".join(VECTORS)
    actors = [{"name": "Hostile Registry Actor", "aliases": VECTORS[:8],
               "kind": VECTORS[8], "description": description,
               "links": [{"title": v, "url": "https://xss.example/?q=" + quote(v)}
                         for v in VECTORS[9:20]]}]
    places = [{"name": "Hostile Registry Place", "aliases": VECTORS[20:28], "kind": VECTORS[28],
               "description": description, "country": "IQ", "coordinates": [33.3, 44.4],
               "links": [{"title": v, "url": "https://xss.example/?q=" + quote(v)}
                         for v in VECTORS[29:40]]}]
    files["content/_data/actors.yaml"] = yaml.safe_dump(actors, allow_unicode=True, width=10_000)
    files["content/_data/locations.yaml"] = yaml.safe_dump(places, allow_unicode=True,
                                                           width=10_000)
    return files


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_site(tmp_path_factory.mktemp("hostile"), hostile_files(), {
        "title": VECTORS[1], "description": VECTORS[3], "page_size": 50,
        "base_url": "https://hostile.example/"})
    build_ok(root)
    return root


def test_the_corpus_is_big_enough() -> None:
    assert len(VECTORS) >= 50
    assert len(set(VECTORS)) == len(VECTORS)


def test_every_html_page_is_inert(site: Path) -> None:
    out = site / "output"
    pages = sorted(out.rglob("*.html"))
    assert len(pages) > 2 * len(VECTORS)
    problems: list[str] = []
    for path in pages:
        problems += inert(path.read_text(encoding="utf-8"), path.relative_to(out).as_posix())
    assert problems == []
    # the vectors are there, as text: a report page shows its title as typed
    report_page = next(out.glob("reports/2015/hostile-0-*/index.html"))
    assert f"{MARKER} 0 {VECTORS[0]}" in re.sub(r"\s+", " ", _text(report_page))


def _text(path: Path) -> str:
    from bs4 import BeautifulSoup

    return BeautifulSoup(path.read_bytes(), "html.parser").get_text(" ")


def test_feeds_and_sitemap_are_inert_xml(site: Path) -> None:
    out = site / "output"
    feeds = sorted(out.rglob("feed.xml"))
    assert len(feeds) > len(VECTORS)
    atom = "{http://www.w3.org/2005/Atom}"
    problems = []
    for path in [*feeds, out / "sitemap.xml"]:
        where = path.relative_to(out).as_posix()
        tree = ET.parse(path)  # well-formed, or this raises
        for element in tree.iter():
            for name, value in element.attrib.items():
                if name.startswith("on") or (name in ("href", "src", "uri", "scheme")
                                             and unsafe_url(value)):
                    problems.append(f"{where}: <{element.tag} {name}={value!r}>")
            if element.get("type") in ("html", "xhtml"):
                problems += inert(element.text or "", f"{where} {element.tag}", False)
            elif element.tag in (f"{atom}title", f"{atom}summary", f"{atom}content") \
                    and len(element):
                problems.append(f"{where}: markup inside <{element.tag}>")
            if element.tag.endswith("}loc") and not (element.text or "").startswith("https://"):
                problems.append(f"{where}: sitemap location {element.text!r}")
    assert problems == []


def _walk(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, str(k))
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item, key)
    elif isinstance(value, str):
        yield key, value


def check_json_strings(data: Any, where: str) -> list[str]:
    """URL fields have safe schemes; HTML fields are inert; the rest is data (a title may
    well be the text "<script>")."""
    problems = []
    for key, value in _walk(data):
        if key in ("url", "absolute_url", "href", "link", "source_url", "uri") \
                and unsafe_url(value):
            problems.append(f"{where}: {key}={value!r}")
        if key in ("html", "excerpt"):
            problems += inert(value, f"{where} {key}", False)
    return problems


def test_data_exports_are_valid_json_with_safe_urls(site: Path) -> None:
    out = site / "output"
    problems = []
    for path in sorted((out / "data").iterdir()):
        where = path.relative_to(out).as_posix()
        text = path.read_text(encoding="utf-8")
        docs = [json.loads(line) for line in text.splitlines()] if path.suffix == ".jsonl" \
            else [json.loads(text)]
        for doc in docs:
            problems += check_json_strings(doc, where)
    for path in sorted((out / "_static_search").rglob("*.json")):
        problems += check_json_strings(json.loads(path.read_text(encoding="utf-8")),
                                       path.relative_to(out).as_posix())
    assert problems == []
    reports = json.loads((out / "data/reports.json").read_text(encoding="utf-8"))["reports"]
    assert len(reports) == len(VECTORS)


# --- the search server ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def app(site: Path) -> SiteApp:
    config, diags = load_config(site / "sitegen.yaml")
    assert diags == []
    return SiteApp(config)


def call(app: SiteApp, path: str, query: str) -> tuple[str, dict[str, str], str]:
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        captured["status"], captured["headers"] = status, dict(headers)

    body = b"".join(app({"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": query},
                        start_response))
    return captured["status"], captured["headers"], body.decode("utf-8")


def test_search_api_and_page_for_the_hostile_reports(app: SiteApp) -> None:
    status, _, body = call(app, "/api/search", urlencode({"q": MARKER, "limit": 100}))
    assert status == "200 OK"
    data = json.loads(body)
    assert data["total"] == len(VECTORS)
    assert check_json_strings(data, "api") == []
    assert any("<mark>" in hit["excerpt"] for hit in data["hits"])
    status, _, html = call(app, "/search/", urlencode({"q": MARKER, "limit": 100}))
    assert status == "200 OK"
    assert inert(html, "search page") == []
    assert html.count('class="report-item-title"') >= 10 or MARKER in html


def test_vectors_as_query_and_filters_are_not_reflected_as_markup(app: SiteApp) -> None:
    problems = []
    for vector in VECTORS:
        query = urlencode({"q": vector, "actor": vector, "location": vector})
        status, headers, html = call(app, "/search/", query)
        assert status == "200 OK", vector
        problems += inert(html, f"search page for {vector!r}")
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        status, _, body = call(app, "/api/search", urlencode({"q": f"{MARKER} {vector}"}))
        assert status == "200 OK", vector
        problems += check_json_strings(json.loads(body), f"api for {vector!r}")
    assert problems == []


# --- in a real browser ---------------------------------------------------------------------

BROWSER_VECTORS = [v for v in VECTORS if re.search(r"onerror|onload|<script|<svg|javascript:"
                                                     r"|<iframe|ontoggle|onfocus", v, re.I)][:8]


@pytest.mark.browser
def test_static_search_server_search_and_pages_in_chromium_run_no_content_script(
        site: Path, app: SiteApp) -> None:
    """The static search page (results rendered by search.js from the static index) and the
    server's results page (with its real CSP header), in chromium: the live DOM stays inert
    and no alert() dialog opens."""
    out = site / "output"
    dialogs: list[str] = []
    errors: list[str] = []
    problems: list[str] = []
    reports = sorted(out.glob("reports/*/hostile-*/index.html"))[:4]
    httpd = make_wsgi_server(app, "127.0.0.1", 0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        with static_server(out) as url, chromium() as browser:
            page = browser.new_page()
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{url}/search/")
            page.fill("#search-q", MARKER)
            page.press("#search-q", "Enter")
            page.wait_for_selector("#search-results li a")
            assert len(page.query_selector_all("#search-results li")) >= 10
            problems += inert(page.content(), "static search (DOM)")
            for vector in BROWSER_VECTORS:
                page.fill("#search-q", vector)
                page.press("#search-q", "Enter")
                page.wait_for_selector("#search-status:not(:empty)")
                page.wait_for_timeout(50)
                problems += inert(page.content(), f"static search for {vector!r} (DOM)")
            for path in [*reports, out / "actors/hostile-registry-actor/index.html",
                         out / "locations/hostile-registry-place/index.html"]:
                rel = path.relative_to(out).as_posix().removesuffix("index.html")
                page.goto(f"{url}/{rel}")
                page.wait_for_load_state("load")
                problems += inert(page.content(), f"{rel} (DOM)")
            served = f"http://127.0.0.1:{httpd.server_address[1]}"
            for vector in BROWSER_VECTORS[:3]:
                page.goto(f"{served}/search/?" + urlencode({"q": vector, "actor": vector}))
                problems += inert(page.content(), f"server search for {vector!r} (DOM)")
            page.wait_for_timeout(200)  # let any timer-based payload fire
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert problems == []
    assert dialogs == []
    assert errors == []


def test_the_checker_is_not_blind() -> None:
    """A negative control: the raw vectors, as a page would hold them unescaped, are caught."""
    caught = [v for v in VECTORS if inert(v, "raw", theme_scripts=False)]
    assert len(caught) >= 0.75 * len(VECTORS)
    for v in VECTORS:
        if re.search(r"<script|\sonerror=|<iframe|<svg", v, re.I) and not v.endswith("<"):
            assert v in caught, v
