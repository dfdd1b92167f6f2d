"""Shared helpers for the browser tests: a built sample archive, a plain static file server,
and Debian's chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]


def build_sample(dest: Path) -> Path:
    """Copy the sample archive into ``dest`` and build it; returns the site root."""
    from sitegen.build import build
    from sitegen.config import load_config

    shutil.copytree(REPO / "content", dest / "content")
    shutil.copy(REPO / "sitegen.yaml", dest / "sitegen.yaml")
    config, diags = load_config(dest / "sitegen.yaml")
    assert not diags, diags
    result = build(config)
    assert result.ok, [d.format() for d in result.diagnostics]
    return dest


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


@contextmanager
def static_server(root: Path) -> Iterator[str]:
    """A plain static file server (no search API) on a free loopback port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: run ./scripts/test, which installs it")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def serve_app(app: Any) -> Iterator[tuple[str, int]]:
    """A WSGI app (sitegen's SiteApp) on sitegen's threaded server, on a free loopback port."""
    from sitegen.server import make_wsgi_server

    httpd = make_wsgi_server(app, "127.0.0.1", 0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield ("127.0.0.1", int(httpd.server_address[1]))
    finally:
        httpd.shutdown()
        httpd.server_close()


def http_get(server: tuple[str, int], path: str, method: str = "GET"
             ) -> tuple[int, dict[str, str], bytes]:
    """One raw HTTP request (the path is sent as given, not normalised): status, headers
    (lower-case names) and body."""
    import http.client

    conn = http.client.HTTPConnection(*server, timeout=10)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()
