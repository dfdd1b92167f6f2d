"""The command line: commands, flags, exit codes and what gets printed."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import FIXTURE_FILES, GOOD_REPORT, make_site, page, report, run_module, snapshot

from sitegen import __version__
from sitegen.cli import make_parser
from sitegen.content import parse_document

Run = Callable[..., tuple[int, str, str]]
SUMMARY = re.compile(r"Built (\d+) reports \((\d+) drafts skipped\), (\d+) actors, (\d+) "
                     r"locations: (\d+) pages, (\d+) files in \d+\.\d\d s "
                     r"\((\d+) unchanged, reused from the build cache\)")


def subcommands() -> list[str]:
    parser = make_parser()
    [action] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sorted(action.choices)


def test_version(run_cli: Run, tmp_path: Path) -> None:
    assert run_cli(tmp_path, "--version") == (0, f"sitegen {__version__}\n", "")


def test_version_as_a_module(tmp_path: Path) -> None:
    assert run_module(tmp_path, "--version") == (0, f"sitegen {__version__}\n", "")


@pytest.mark.parametrize("command", ["build", "check", "new"])
def test_issue_commands_exist(command: str) -> None:
    assert command in subcommands()


@pytest.mark.parametrize("command", [None, *subcommands()])
def test_help_for_each_command(run_cli: Run, tmp_path: Path, command: str | None) -> None:
    argv = ["--help"] if command is None else [command, "--help"]
    code, out, err = run_cli(tmp_path, *argv)
    assert code == 0
    assert out.startswith("usage: sitegen" + ("" if command is None else f" {command}"))
    assert err == ""


def test_build_help_lists_the_issue_flags(run_cli: Run, tmp_path: Path) -> None:
    _, out, _ = run_cli(tmp_path, "build", "--help")
    for flag in ("--content", "--output", "--theme", "--config", "--drafts", "--strict",
                 "--quiet"):
        assert flag in out


@pytest.mark.parametrize("argv", [[], ["bogus"], ["build", "--bogus"], ["new"]])
def test_usage_errors_exit_2(run_cli: Run, tmp_path: Path, argv: list[str]) -> None:
    code, _, _ = run_cli(tmp_path, *argv)
    assert code == 2


def test_a_reader_that_stops_reading_ends_the_command_quietly(tmp_path: Path,
                                                            build_site_dir: Run) -> None:
    """``sitegen search ... | head``: the pipe is closed before anything is written, so the
    first write fails; the command ends with 141 (128 + SIGPIPE), as Unix tools do, and no
    traceback."""
    root = make_site(tmp_path, FIXTURE_FILES)
    assert build_site_dir(root, "--quiet")[0] == 0
    proc = subprocess.Popen([sys.executable, "-m", "sitegen", "search", "report"], cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "COLUMNS": "200"})
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # long before the command has started
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert "Traceback" not in err and "BrokenPipe" not in err
    # with a reader, the same command prints its hits
    code, out, _ = run_module(root, "search", "report")
    assert code == 0 and "report" in out.lower()


# --- build ---------------------------------------------------------------------------------


def test_build_prints_a_summary(tmp_path: Path, build_site_dir: Run) -> None:
    root = make_site(tmp_path, FIXTURE_FILES)
    code, out, err = build_site_dir(root)
    assert (code, err) == (0, "")
    match = SUMMARY.fullmatch(out.strip())
    assert match, out
    reports, drafts, actors, locations, pages, files, reused = map(int, match.groups())
    assert (reports, drafts, actors, locations) == (6, 1, 7, 11)
    assert pages == len(list((root / "output").rglob("*.html")))
    assert files >= pages
    assert reused == 0  # a first build
    code, out, err = build_site_dir(root)
    match = SUMMARY.fullmatch(out.strip())
    assert match, out
    assert int(match.group(7)) >= pages  # nothing changed: every page reused


STAGES = ["load", "markdown", "model", "render", "publish", "static", "static search",
          "search index", "swap"]


@pytest.mark.parametrize("extra", [[], ["--quiet"]])
def test_build_timings_lists_every_stage(tmp_path: Path, build_site_dir: Run,
                                         extra: list[str]) -> None:
    """--timings prints each stage's seconds and share after the summary, and its total is
    the summary's; asked for, they are printed under --quiet too."""
    root = make_site(tmp_path, FIXTURE_FILES)
    code, out, err = build_site_dir(root, "--timings", *extra)
    assert (code, err) == (0, "")
    lines = out.strip().splitlines()
    if not extra:
        summary = SUMMARY.fullmatch(lines.pop(0))
        assert summary, out
    assert re.fullmatch(r"stage +seconds +share", lines[0])
    rows = [re.fullmatch(r"(\w[\w ]*?) +(\d+\.\d\d) +(\d+)%", line) for line in lines[1:-1]]
    assert all(rows), lines
    assert [m.group(1) for m in rows if m] == STAGES
    total = re.fullmatch(r"total +(\d+\.\d\d)", lines[-1])
    assert total, lines[-1]
    seconds = [float(m.group(2)) for m in rows if m]
    assert abs(sum(seconds) - float(total.group(1))) < 0.01 * len(STAGES)
    assert 97 <= sum(int(m.group(3)) for m in rows if m) <= 103
    if not extra:
        assert f"in {total.group(1)} s" in out.splitlines()[0]


def test_build_quiet_prints_nothing(tmp_path: Path, build_site_dir: Run) -> None:
    root = make_site(tmp_path, FIXTURE_FILES)
    assert build_site_dir(root, "--quiet") == (0, "", "")
    assert (root / "output/index.html").is_file()


def test_no_progress_bar_when_not_a_terminal(tmp_path: Path) -> None:
    root = make_site(tmp_path, FIXTURE_FILES)
    code, out, err = run_module(root, "build")
    assert (code, err) == (0, "")
    assert SUMMARY.fullmatch(out.strip()), out


def test_flags_override_config(tmp_path: Path, build_site_dir: Run) -> None:
    root = make_site(tmp_path / "site", {
        "sources/a.md": report("A", "2020-01-01", actors=["X"]),
        "sources/d.md": report("Draft", "2020-01-02", actors=["X"], draft=True),
        "elsewhere/mytheme/templates/report.html":
            '{% extends "builtin:report.html" %}{% block body_class %}mine{% endblock %}',
    }, {"output_dir": "never", "theme": "missing-theme"})
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    code, _, err = build_site_dir(
        root, "--config", root / "sitegen.yaml", "--content", root / "sources",
        "--output", tmp_path / "public", "--theme", root / "elsewhere/mytheme", "--drafts")
    assert (code, err) == (0, "")
    out = tmp_path / "public"
    assert not (root / "never").exists()
    assert page(out, "reports/2020/a/").body["class"] == ["mine"]
    assert (out / "reports/2020/draft/index.html").is_file()


def test_unknown_theme_is_an_error(tmp_path: Path, build_site_dir: Run) -> None:
    root = make_site(tmp_path, {"content/a.md": GOOD_REPORT}, {"theme": "nope"})
    code, _, err = build_site_dir(root)
    assert code == 1
    assert err.splitlines()[0] == (f"sitegen.yaml: error[config.theme]: theme: folder "
                                   f"{root / 'themes/nope'} not found")


def test_empty_content_folder_builds(tmp_path: Path, build_site_dir: Run) -> None:
    root = make_site(tmp_path, {})
    code, out, _ = build_site_dir(root)
    assert code == 0
    assert out.startswith("Built 0 reports")
    assert (root / "output/index.html").is_file()


# --- check ---------------------------------------------------------------------------------


def test_check_writes_nothing(tmp_path: Path, run_cli: Run) -> None:
    root = make_site(tmp_path, FIXTURE_FILES)
    before = snapshot(tmp_path)
    code, out, err = run_cli(root, "check")
    assert (code, err) == (0, "")
    assert re.fullmatch(r"Checked 6 reports, 7 actors, 11 locations, \d+ pages: no errors, "
                        r"0 warnings", out.strip()), out
    assert not (root / "output").exists()
    assert sorted(p.name for p in root.iterdir()) == ["content"]
    assert snapshot(tmp_path) == before


def test_check_keeps_an_existing_output_untouched(tmp_path: Path, run_cli: Run,
                                                  build_site_dir: Run) -> None:
    root = make_site(tmp_path, FIXTURE_FILES)
    assert build_site_dir(root, "--quiet")[0] == 0
    before = snapshot(root)
    make_site(root, {"content/new.md": report("New", "2024-01-01",
                                              actors=["Kataib Hezbollah"])})
    assert run_cli(root, "check", "--quiet") == (0, "", "")
    assert {k: v for k, v in snapshot(root).items() if k != "content/new.md"} == before


def test_check_fails_on_content_and_template_errors(tmp_path: Path, run_cli: Run) -> None:
    root = make_site(tmp_path, {"content/bad.md": "---\ntitle: T\ndate: 2022-13-45\n---\n"})
    code, out, err = run_cli(root, "check")
    assert code == 1 and out == ""
    assert err.splitlines()[0].startswith("content/bad.md:3:7: error[frontmatter.date]:")
    assert not (root / "output").exists()

    root = make_site(tmp_path / "tpl", {
        "content/a.md": GOOD_REPORT,
        "themes/default/templates/term.html": "{{ nope }}\n"})
    code, _, err = run_cli(root, "check")
    assert code == 1
    assert err.splitlines()[0].startswith(
        "themes/default/templates/term.html:1: error[template.render]: UndefinedError")
    assert not (root / "output").exists()


def test_check_strict(tmp_path: Path, run_cli: Run) -> None:
    root = make_site(tmp_path, {
        "content/a.md": "---\ntitle: T\ndate: 2020-01-01\nlocations: [Iraq, '']\n---\n"})
    code, out, err = run_cli(root, "check")
    assert code == 0
    assert out.strip().endswith("no errors, 1 warning")
    assert err.splitlines() == [
        "content/a.md:4:12: warning[frontmatter.empty-name]: locations: empty name ignored"]
    code, out, _ = run_cli(root, "check", "--strict")
    assert code == 1 and out == ""


# --- new -----------------------------------------------------------------------------------


def test_new_creates_a_parseable_draft(tmp_path: Path, run_cli: Run,
                                       build_site_dir: Run) -> None:
    root = make_site(tmp_path, {})
    title = "Kata'ib Hezbollah: \"strikes\" on Jurf al-Ṣakhar #2 \\ [update]"
    code, out, err = run_cli(root, "new", title, "--actor", "Kata'ib Hezbollah", "--actor",
                             "US: CENTCOM", "--location", "Jurf al-Ṣakhar", "--date",
                             "2020-03-13")
    assert (code, err) == (0, "")
    target = root / "content/2020/kataib-hezbollah-strikes-on-jurf-al-sakhar-2-update.md"
    assert out.strip() == f"Created {target} (draft: true; remove that line to publish)"
    doc, diags = parse_document(target.read_text(encoding="utf-8"), "x.md", ZoneInfo("UTC"))
    assert diags == []
    assert doc is not None
    assert doc.meta.title == title
    assert doc.meta.actors == ("Kata'ib Hezbollah", "US: CENTCOM")
    assert doc.meta.locations == ("Jurf al-Ṣakhar",)
    assert doc.meta.date.date().isoformat() == "2020-03-13"
    assert doc.meta.draft is True

    assert build_site_dir(root, "--quiet", "--drafts") == (0, "", "")
    assert (root / "output/actors/kataib-hezbollah/index.html").is_file()
    # Creating it again would overwrite an editor's work.
    assert run_cli(root, "new", title, "--date", "2020-03-13")[0] == 1


def test_new_defaults_to_today(tmp_path: Path, run_cli: Run) -> None:
    root = make_site(tmp_path, {})
    code, _, _ = run_cli(root, "new", "Plain title")
    assert code == 0
    [created] = (root / "content").rglob("*.md")
    doc, diags = parse_document(created.read_text(encoding="utf-8"), "x.md", ZoneInfo("UTC"))
    assert doc is not None and diags == []
    assert doc.meta.actors == () and doc.meta.locations == ()
    today = datetime.now().astimezone().date()
    assert abs((doc.meta.date.date() - today).days) <= 1
    assert created.parent.name == doc.meta.date.strftime("%Y")


def test_new_rejects_a_bad_date(tmp_path: Path, run_cli: Run) -> None:
    root = make_site(tmp_path, {})
    code, _, err = run_cli(root, "new", "T", "--date", "13/03/2020")
    assert code == 2
    assert err.strip() == "sitegen new: --date '13/03/2020': expected YYYY-MM-DD"
    assert list((root / "content").iterdir()) == []


def test_new_rejects_an_impossible_date(tmp_path: Path, run_cli: Run) -> None:
    root = make_site(tmp_path, {})
    code, _, _ = run_cli(root, "new", "T", "--date", "2022-13-45")
    assert code == 2
    assert list((root / "content").iterdir()) == []
