"""sitegen serve --watch: an edit shows up over HTTP, a broken edit shows an overlay over the
last good site, and the fix clears it."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

REPO = Path(__file__).resolve().parent.parent
REPORT = "content/2020/camp-taji-rocket-attack.md"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fetch(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def wait_for(predicate, timeout: float = 20.0) -> float:  # type: ignore[no-untyped-def]
    """Poll until ``predicate()`` is true; return the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout} s")


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    shutil.copytree(REPO / "content", tmp_path / "content")
    shutil.copy(REPO / "sitegen.yaml", tmp_path / "sitegen.yaml")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "sitegen", "serve", "--watch", "--port",
                             str(port)], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        wait_for(lambda: _up(port))
        yield tmp_path, port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _up(port: int) -> bool:
    try:
        return fetch(port, "/")[0] == 200
    except OSError:
        return False


def _title(port: int, url: str) -> str:
    status, body = fetch(port, url)
    h1 = BeautifulSoup(body, "html.parser").select_one("h1")
    return h1.get_text() if status == 200 and h1 else ""


def test_edit_is_served_and_errors_overlay_the_last_good_site(served: tuple[Path, int]) -> None:
    root, port = served
    url = "/reports/2020/rocket-attack-on-camp-taji-kills-two-us-service-members-and-a-british-soldier/"
    status, body = fetch(port, url)
    soup = BeautifulSoup(body, "html.parser")
    assert status == 200
    assert soup.select_one("script[src='/_sitegen/livereload.js']") is not None
    status_before = fetch(port, "/_sitegen/status")[1]

    source = root / REPORT
    text = source.read_text(encoding="utf-8")
    source.write_text(text.replace(
        "## What happened", "## What happened\n\nEDITED-MARKER paragraph.", 1), encoding="utf-8")
    seconds = wait_for(lambda: b"EDITED-MARKER" in fetch(port, url)[1])
    print(f"edit visible over HTTP after {seconds:.2f} s")
    wait_for(lambda: fetch(port, "/_sitegen/status")[1] != status_before)  # tabs will reload

    # a broken edit: the last good page stays, with an overlay naming file and line
    source.write_text(text.replace("date: 2020-03-11T19:35:00+03:00", "date: 2020-13-45"),
                      encoding="utf-8")
    wait_for(lambda: b"sitegen-build-error" in fetch(port, url)[1])
    soup = BeautifulSoup(fetch(port, url)[1], "html.parser")
    overlay = soup.select_one("#sitegen-build-error").get_text(" ", strip=True)
    assert re.search(r"content/2020/camp-taji-rocket-attack\.md:3:7: error\[frontmatter\.date\]",
                     overlay), overlay
    assert b"EDITED-MARKER" in fetch(port, url)[1]  # still the last good build

    source.write_text(text, encoding="utf-8")
    wait_for(lambda: b"sitegen-build-error" not in fetch(port, url)[1]
             and b"EDITED-MARKER" not in fetch(port, url)[1])
