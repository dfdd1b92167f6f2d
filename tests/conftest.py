"""Shared fixtures: fixture sites written into ``tmp_path``, in-process and subprocess CLI runs,
and HTML parsing.

- ``make_site(root, files={relpath: text}, config={...})`` writes a site root: ``files`` keys
  are paths relative to the root (``content/2020/a.md``, ``themes/t/templates/report.html``),
  values ``str`` (written as UTF-8) or ``bytes`` (written as is); ``config`` becomes
  ``sitegen.yaml``.
- ``build_site_dir(root, *args)`` runs ``sitegen build *args`` in-process from ``root`` and
  returns ``(exit_code, stdout, stderr)``; ``run_cli`` runs any command line the same way and
  ``run_module`` runs ``python -m sitegen`` in a subprocess (exit codes and tracebacks as a
  user sees them).
- ``build_ok(root, **overrides)`` calls ``sitegen.build.build`` directly and returns the output
  folder, failing the test with the diagnostics if the build did not succeed.
- ``parse(path)`` returns the page as ``BeautifulSoup``.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import pytest
import yaml
from bs4 import BeautifulSoup

from sitegen.build import build
from sitegen.cli import main
from sitegen.config import load_config

REPO = Path(__file__).resolve().parent.parent


def make_site(root: Path, files: Mapping[str, str | bytes] | None = None,
               config: Mapping[str, Any] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "content").mkdir(exist_ok=True)
    for rel, text in (files or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8", newline="")
    if config is not None:
        (root / "sitegen.yaml").write_text(
            yaml.safe_dump(dict(config), allow_unicode=True, sort_keys=False), encoding="utf-8")
    return root


@pytest.fixture(name="make_site")
def make_site_fixture() -> Callable[..., Path]:
    """``make_site`` as a fixture, for tests that prefer fixtures to imports."""
    return make_site


def report(title: str, date: str, body: str = "Body text.\n", **meta: Any) -> str:
    """The text of one report: front matter from the arguments, then the body."""
    front = {"title": title, "date": date, **meta}
    lines = ["---"]
    for key, value in front.items():
        dumped = yaml.safe_dump(value, allow_unicode=True, default_flow_style=True, width=10_000)
        lines.append(f"{key}: {dumped.strip().removesuffix('...').strip()}")
    lines.append("---")
    return "\n".join(lines) + "\n" + body


GOOD_REPORT = report("Camp Taji", "2020-03-11T22:30:00+03:00", actors=["Kataib Hezbollah"],
                     locations=["Iraq"])

# A realistic small archive: 6 published reports over 3 years, one draft, variant spellings,
# an Arabic-script name, a name with diacritics, and files that are not reports.
FIXTURE_FILES: dict[str, str] = {
    "content/2019/k1-rocket-attack.md": report(
        "Rocket attack on K-1 base near Kirkuk", "2019-12-27T19:20:00+03:00",
        "## What happened\n\nMore than 30 rockets struck the base.\n\n"
        "## Context\n\nSee the [US strikes](../us-strikes-on-kataib-hezbollah/).\n",
        actors=["Kataib Hezbollah", "US Department of Defense"],
        locations=["K-1 Air Base", "Kirkuk", "Iraq"],
        summary="A US contractor was killed.", source="DoD statement",
        source_url="https://www.defense.gov/"),
    "content/2019/us-strikes.md": report(
        "US strikes on Kataib Hezbollah", "2019-12-29",
        "Strikes hit five sites in Iraq and Syria.\n",
        actors=["Kata'ib Hezbollah", "US Department of Defense"],
        locations=["Al-Qa'im", "Iraq", "Syria"], summary="Five sites were struck."),
    "content/2020/camp-taji.md": report(
        "Rocket attack on Camp Taji", "2020-03-11T22:30:00+03:00",
        "## Attack\n\nRockets hit the camp[^1].\n\n| Killed | Wounded |\n|---|---|\n| 3 | 14 |\n\n"
        "## Response\n\n\"Quoted\" text -- here.\n\n## Aftermath\n\n```\nno <b>markup</b>\n```\n\n"
        "[^1]: Coalition statement.\n",
        actors=["Kataib Hezbollah", "Operation Inherent Resolve", "كتائب حزب الله"],
        locations=["Camp Taji", "Iraq"], summary="Two US and one UK service member died."),
    "content/2020/strikes-after-taji.md": report(
        "US and UK strikes after Taji", "2020-03-13",
        "Precision strikes on weapons storage sites.\n",
        actors=["US Department of Defense", "UK Ministry of Defence", "Kataib Hezbollah"],
        locations=["Jurf al-Sakhar", "Karbala", "Iraq"]),
    "content/2021/erbil.md": report(
        "Rocket attack on Erbil airport", "2021-02-15T21:30:00+03:00",
        "Rockets struck near the airport.\n",
        actors=["Saraya Awliya al-Dam"], locations=["Erbil", "Iraq"],
        summary="One contractor was killed.", theatre="Kurdistan Region"),
    "content/2021/sahel/barkhane.md": report(
        "Barkhane drawdown announced", "2021-06-10",
        "France announced the end of the operation.\n",
        actors=["Ministère des Armées"], locations=["Mali", "Sahel"]),
    "content/2022/draft-report.md": report(
        "Draft not yet published", "2022-01-05", actors=["Draft Actor"],
        locations=["Draftland"], draft=True),
    # An actor registry (not a report): names only, no aliases, so the Arabic-script name
    # stays a separate actor with its own page.
    "content/_data/actors.yaml": "".join(f"- name: {n}\n" for n in (
        "Kataib Hezbollah", "كتائب حزب الله", "US Department of Defense",
        "Operation Inherent Resolve", "UK Ministry of Defence", "Saraya Awliya al-Dam",
        "Ministère des Armées")),
    "content/_notes.md": report("Editor notes", "2020-01-01", actors=["Hidden Actor"]),
    "content/.hidden.md": report("Hidden", "2020-01-01", actors=["Hidden Actor"]),
    "content/2020/_skip.md": report("Skipped", "2020-01-01", actors=["Hidden Actor"]),
    "content/README.txt": "not a report\n",
}

# Report URLs of the fixture, newest first.
FIXTURE_URLS = [
    "reports/2021/barkhane-drawdown-announced/",
    "reports/2021/rocket-attack-on-erbil-airport/",
    "reports/2020/us-and-uk-strikes-after-taji/",
    "reports/2020/rocket-attack-on-camp-taji/",
    "reports/2019/us-strikes-on-kataib-hezbollah/",
    "reports/2019/rocket-attack-on-k-1-base-near-kirkuk/",
]


def build_ok(root: Path, **overrides: Any) -> Path:
    """Build in-process with ``sitegen.build.build``; return the output folder."""
    config, diags = load_config(None, root=root, overrides=overrides)
    assert diags == []
    result = build(config)
    assert result.ok, "\n".join(d.format() for d in result.diagnostics)
    return config.output_path


@pytest.fixture(scope="module")
def fixture_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The realistic fixture archive, built once per module; returns the output folder."""
    root = make_site(tmp_path_factory.mktemp("fixture"), FIXTURE_FILES)
    return build_ok(root)


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str],
            monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple[int, str, str]]:
    """Run ``sitegen *argv`` in-process from ``root``; return (exit code, stdout, stderr)."""

    def run(root: Path, *argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        with monkeypatch.context() as m:
            m.chdir(root)
            try:
                code = main([str(a) for a in argv])
            except SystemExit as exc:  # argparse: --help, --version, usage errors
                code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def build_site_dir(run_cli: Callable[..., tuple[int, str, str]]
                   ) -> Callable[..., tuple[int, str, str]]:
    """``build_site_dir(root, *args)`` runs ``sitegen build *args`` in-process from ``root``."""

    def run(root: Path, *args: str) -> tuple[int, str, str]:
        return run_cli(root, "build", *args)

    return run


def run_module(root: Path, *argv: str, env: Mapping[str, str] | None = None
               ) -> tuple[int, str, str]:
    """Run ``python -m sitegen *argv`` in a subprocess from ``root``."""
    proc = subprocess.run([sys.executable, "-m", "sitegen", *map(str, argv)], cwd=root,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200", **(env or {})})
    return proc.returncode, proc.stdout, proc.stderr


def parse(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_bytes(), "html.parser")


def page(output: Path, url: str) -> BeautifulSoup:
    """Parse the page a site-relative URL is written to."""
    rel = url + "index.html" if url == "" or url.endswith("/") else url
    return parse(output / rel)


def hrefs(soup: BeautifulSoup, selector: str) -> list[str]:
    return [a["href"] for a in soup.select(selector)]


SEARCH_PROBES = ("strikes", "rocket attack", "Kataib Hezbollah", "Karbala", "the", "zzzz",
                 "protests", "drone", "strke")


def search_signature(index_dir: Path) -> str:
    """The answers of a fixed set of queries (hits, scores, facets, suggestions), with and
    without filters: what a reader gets from a Whoosh index, whatever its segment files."""
    from sitegen.search.query import SearchRequest, search

    answers = []
    for q in SEARCH_PROBES:
        for extra in ({}, {"actors": ("Kataib Hezbollah",)}, {"locations": ("Iraq",)},
                      {"sort": "date"}):
            answers.append(repr(search(index_dir, SearchRequest(q=q, **extra))))  # type: ignore[arg-type]
    return hashlib.sha256("\n".join(answers).encode()).hexdigest()


def snapshot(folder: Path, search_dir: str = "_search") -> dict[str, str]:
    """relpath -> sha256 of every file under ``folder``; the Whoosh index's files (whose names
    and bytes depend on how it was updated) count as one entry, ``search_signature``."""
    found = {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(folder.rglob("*")) if p.is_file()}
    index = {k for k in found if k.startswith(f"{search_dir}/") and not k.endswith(".json")}
    if index:
        for key in index:
            del found[key]
        found[f"{search_dir}/(search results)"] = search_signature(folder / search_dir)
    return found


def html_files(output: Path) -> Iterator[Path]:
    yield from sorted(output.rglob("*.html"))


def page_url_of(output: Path, path: Path) -> str:
    rel = path.relative_to(output).as_posix()
    return rel.removesuffix("index.html") if rel.endswith("index.html") else rel


def crawl(output: Path, base_path: str = "/",
          check_fragments: bool = False) -> tuple[int, list[str]]:
    """Check that every link to the site in every HTML file resolves to a file.

    Links are resolved against the page's own URL (so relative links are checked too); a
    link is internal when it lands under ``base_path`` on the same host. Directory URLs mean
    their ``index.html``; ``?query`` is dropped and the path percent-decoded. With
    ``check_fragments``, a ``#fragment`` must name an element id in the target page.
    Returns (number of internal links checked, problems).
    """
    problems: list[str] = []
    checked = 0
    ids: dict[Path, set[str]] = {}
    for path in html_files(output):
        soup = parse(path)
        here = "http://site.invalid" + base_path + page_url_of(output, path)
        for tag in soup.find_all(True):
            for attr in ("href", "src", "action"):
                value = tag.get(attr)
                if value is None:
                    continue
                absolute = urljoin(here, value.strip())
                parts = urlsplit(absolute)
                if parts.scheme not in ("http", "https") or parts.netloc != "site.invalid":
                    continue
                if not parts.path.startswith(base_path):
                    problems.append(f"{path.relative_to(output)}: {attr}={value!r} leaves "
                                    f"the base path {base_path}")
                    continue
                checked += 1
                rel = unquote(parts.path[len(base_path):])
                target = output / (rel + "index.html" if rel == "" or rel.endswith("/")
                                   else rel)
                if not target.is_file():
                    problems.append(f"{path.relative_to(output)}: {attr}={value!r} -> "
                                    f"missing {target.relative_to(output)}")
                    continue
                if check_fragments and parts.fragment and target.suffix == ".html":
                    if target not in ids:
                        ids[target] = {t["id"] for t in parse(target).find_all(id=True)}
                    if unquote(parts.fragment) not in ids[target]:
                        problems.append(f"{path.relative_to(output)}: {attr}={value!r} -> "
                                        f"no id {parts.fragment!r} in "
                                        f"{target.relative_to(output)}")
    return checked, problems
