"""The search server under load and attack.

- ``bench/load_server.py`` in its short mode (10 s, 20 clients) against ``sitegen serve`` and
  the same app under waitress, while two rebuilds swap the output: zero errors and zero wrong
  answers (each answer is checked against the app run in-process on the live generation; see
  the script's docstring). No timing assertions: the figures are in bench/RESULTS.md.
- Hostile requests the server tests (tests/test_server.py) do not cover get 4xx, never a 500.
- Every response, errors included, carries the security headers; every page kind, served with
  the real Content-Security-Policy, runs in chromium without a single CSP violation.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import build_sample, chromium, http_get, serve_app

from sitegen.config import load_config
from sitegen.server import SECURITY_HEADERS, SiteApp

REPO = Path(__file__).resolve().parent.parent


def test_load_short_mode_has_no_errors_and_no_wrong_answers() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "load_server.py"), "--seconds", "10",
         "--clients", "20", "--server", "sitegen", "--no-results", "--json"],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    [result] = json.loads(proc.stdout)
    assert result["server"] == "sitegen"
    assert (result["errors"], result["error_examples"]) == (0, {}), result
    assert (result["wrong"], result["wrong_examples"]) == (0, {}), result
    assert result["requests"] > 200
    assert set(result["by_kind"]) == {"api", "html", "static", "attack"}
    assert [b["exit"] for b in result["rebuilds"]] == [0, 0]


def test_the_app_runs_under_waitress(sample: Path) -> None:
    """The production recipe from the README (waitress-serve --call ...), briefly; the bench
    script's full run drives it under load too (bench/RESULTS.md)."""
    pytest.importorskip("waitress")
    root = sample
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "waitress", f"--listen=127.0.0.1:{port}",
                             "--call", "sitegen.server:app_from_env"], cwd=root,
                            env={**os.environ, "SITEGEN_ROOT": str(root)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        status, headers, body = fetch(("127.0.0.1", port), "/api/search?q=Karbala+airport")
        assert status == 200 and json.loads(body)["total"] >= 1
        assert headers["content-security-policy"] == dict(SECURITY_HEADERS)[
            "Content-Security-Policy"]
        assert fetch(("127.0.0.1", port), "/%2e%2e/sitegen.yaml")[0] == 404
        assert fetch(("127.0.0.1", port), "/", "POST")[0] == 405
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# --- hostile requests ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_sample(tmp_path_factory.mktemp("served"))


@pytest.fixture(scope="module")
def server(sample: Path) -> Iterator[tuple[str, int]]:
    config, diags = load_config(sample / "sitegen.yaml")
    assert diags == []
    with serve_app(SiteApp(config)) as address:
        yield address


fetch = http_get


HOSTILE = [
    ("OPTIONS", "/", 405), ("TRACE", "/", 405), ("PATCH", "/api/search?q=x", 405),
    ("PROPFIND", "/", 405), ("CONNECT", "/", 405),
    ("GET", "/" + "a" * 300, 404),  # a file name over 255 bytes: was a 500 (ENAMETOOLONG)
    ("GET", "/static/" + "b" * 300 + "/x.css", 404),
    ("GET", "/" + "a/" * 1100, 414),
    ("GET", "/api/search?" + "&".join(["q=a"] * 50), 400),  # one name, many values
    ("GET", "/api/search?q=%C3%28", 400),  # percent-encoding of invalid UTF-8
    ("GET", "/api/search?q=a%", 400), ("GET", "/api/search?q=%2", 400),
    ("GET", "/search/?q=" + "b" * 5000, 414),
    ("GET", "/api/search?limit=-1", 400), ("GET", "/api/search?page=abc", 400),
    ("GET", "/%zz/", 404), ("GET", "//etc/passwd", 404), ("GET", "/..;/sitegen.yaml", 404),
    ("GET", "/_search/../../sitegen.yaml", 404),
]


def test_more_hostile_requests_get_4xx(server: tuple[str, int]) -> None:
    wrong = []
    for method, path, expected in HOSTILE:
        status, headers, _ = fetch(server, path, method)
        if status != expected or any(headers.get(n.lower()) != v for n, v in SECURITY_HEADERS):
            wrong.append((method, path[:60], status, expected))
    assert wrong == []


KINDS = [
    ("GET", "/"), ("HEAD", "/"), ("GET", "/actors"), ("GET", "/no/such/page/"),
    ("GET", "/api/search?q=x"), ("GET", "/search/?q=x"), ("GET", "/static/search.js"),
    ("POST", "/"), ("GET", "/api/search?q=%zz"), ("GET", "/api/search?q=" + "a" * 5000),
]


def test_security_headers_on_every_kind_of_response(server: tuple[str, int]) -> None:
    for method, path in KINDS:
        _, headers, _ = fetch(server, path, method)
        for name, value in SECURITY_HEADERS:
            assert headers[name.lower()] == value, (method, path[:60], name)
        csp = dict(part.strip().split(" ", 1) for part in
                   headers["content-security-policy"].split(";"))
        assert csp["script-src"] == "'self'" and csp["object-src"] == "'none'"
        assert csp["frame-ancestors"] == "'none'" and csp["base-uri"] == "'self'"


# --- the theme under the real CSP ----------------------------------------------------------

PAGE_KINDS = {
    "home": "/", "home, page 2": "/page/2/",
    "report": "/reports/2020/us-strikes-hit-kataib-hezbollah-weapons-sites-after-camp-taji-"
              "attack/",
    "actors": "/actors/", "actor": "/actors/kataib-hezbollah/",
    "locations": "/locations/", "location": "/locations/iraq/",
    "archive": "/archive/", "year": "/archive/2020/",
    "static search page": "/search/", "server results": "/search/?q=rockets&actor=kataib-"
                                                        "hezbollah",
    "server results, no hits": "/search/?q=hezbolah", "not found": "/no/such/page/",
}
WATCH_CSP = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sourceFile));
"""


@pytest.mark.browser
def test_every_page_kind_runs_under_the_csp_without_violations(server: tuple[str, int]
                                                                ) -> None:
    base = f"http://{server[0]}:{server[1]}"
    violations: list[str] = []
    with chromium() as browser:
        page = browser.new_page()
        page.add_init_script(WATCH_CSP)
        console: list[str] = []
        page.on("console", lambda m: console.append(m.text))
        page.on("pageerror", lambda exc: console.append(f"page error: {exc}"))
        for kind, path in PAGE_KINDS.items():
            console.clear()
            response = page.goto(base + path)
            assert response is not None
            assert "script-src 'self'" in response.headers["content-security-policy"], kind
            page.wait_for_load_state("load")
            if kind == "static search page":  # exercise search.js: fetches, DOM updates
                page.fill("#search-q", "Karbala airport")
                page.press("#search-q", "Enter")
                page.wait_for_selector("#search-results li a")
            if kind == "actors":  # exercise filter.js
                box = page.query_selector("input[type=search]:not(#header-q)")
                if box is not None:
                    box.fill("kata")
            page.wait_for_timeout(100)
            found: list[Any] = page.evaluate("window.__csp")
            violations += [f"{kind}: {v}" for v in found]
            violations += [f"{kind}: console: {m}" for m in console
                           if "Content Security Policy" in m or "Refused to" in m
                           or m.startswith("page error")]
    assert violations == []


@pytest.mark.parametrize(("args", "host", "warning"), [
    ((), "127.0.0.1", ""),
    (("--host", "0.0.0.0"), "0.0.0.0", "warning: listening beyond this machine"),
])
def test_serve_binds_to_loopback_unless_told(sample: Path, args: tuple[str, ...], host: str,
                                            warning: str) -> None:
    root = sample
    proc = subprocess.Popen([sys.executable, "-m", "sitegen", "serve", "--port", "0", *args],
                            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()  # printed from the bound socket's own address
        assert line.startswith(f"Serving {root / 'output'} at http://{host}:"), line
        if warning:
            assert proc.stderr.readline().strip() == warning
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "Traceback" not in err
