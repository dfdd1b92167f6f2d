"""Whole builds in ``tmp_path``: links, atomic output, and errors reported together."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    FIXTURE_FILES,
    GOOD_REPORT,
    REPO,
    build_ok,
    crawl,
    make_site,
    report,
    run_module,
    snapshot,
)

import sitegen.output
from sitegen.build import build
from sitegen.config import load_config

Run = Callable[..., tuple[int, str, str]]
GOOD = {"content/2020/taji.md": GOOD_REPORT}
BAD_DATE = "---\ntitle: Bad date\ndate: 2022-13-45\nactors: [X]\n---\nBody\n"
BROKEN_YAML = "---\ntitle: Broken\ndate: 2022-01-01\nsummary: one: two\n---\nBody\n"
DATE_MESSAGE = ("date: '2022-13-45' is not a valid date; use YYYY-MM-DD, optionally with a "
                "time and offset such as 2020-03-11T22:30:00+03:00")


def staging_leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if ".staging-" in p.name or ".old-" in p.name)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if not line.startswith("sitegen: ")]


# --- links ---------------------------------------------------------------------------------


def test_every_internal_link_of_the_fixture_resolves(fixture_site: Path) -> None:
    checked, problems = crawl(fixture_site, "/", check_fragments=True)
    assert problems == []
    assert checked > 300


def test_every_internal_link_of_a_paginated_fixture_resolves(tmp_path: Path) -> None:
    out = build_ok(make_site(tmp_path, FIXTURE_FILES, {"page_size": 1}))
    assert (out / "page/6/index.html").is_file()
    assert (out / "actors/kataib-hezbollah/page/4/index.html").is_file()
    checked, problems = crawl(out, "/", check_fragments=True)
    assert problems == []
    assert checked > 500


def test_every_internal_link_of_the_sample_archive_resolves(tmp_path: Path) -> None:
    sample = REPO / "content"
    assert len(list(sample.rglob("*.md"))) >= 15, "the sample archive needs 15+ reports"
    shutil.copytree(sample, tmp_path / "content")
    if (REPO / "sitegen.yaml").is_file():
        shutil.copy(REPO / "sitegen.yaml", tmp_path / "sitegen.yaml")
    config, diags = load_config(None, root=tmp_path)
    assert diags == []
    result = build(config)
    assert result.ok, "\n".join(d.format() for d in result.diagnostics)
    out = config.output_path
    site = result.site
    assert site is not None and len(site.reports) >= 1
    for rel in ["index.html", "404.html", "actors/index.html", "locations/index.html",
                "archive/index.html", "static/style.css", site.reports[0].url + "index.html",
                site.actors[0].url + "index.html", site.locations[0].url + "index.html",
                site.years[0].url + "index.html"]:
        assert (out / rel).is_file(), rel
    checked, problems = crawl(out, config.base_path, check_fragments=True)
    assert problems == []
    assert checked > 10 * len(site.reports)


# --- output --------------------------------------------------------------------------------


def test_rebuild_replaces_the_whole_output(tmp_path: Path) -> None:
    root = make_site(tmp_path, {**GOOD, "content/old.md": report("Old", "2019-01-01",
                                                                  actors=["Gone"])})
    out = build_ok(root)
    assert (out / "actors/gone/index.html").is_file()
    (root / "content/old.md").unlink()
    build_ok(root)
    assert not (out / "actors/gone").exists()
    assert not (out / "reports/2019").exists()
    assert staging_leftovers(root) == []


def test_build_is_reproducible(tmp_path: Path) -> None:
    one = build_ok(make_site(tmp_path / "one", FIXTURE_FILES))
    two = build_ok(make_site(tmp_path / "two", FIXTURE_FILES))
    assert snapshot(one) == snapshot(two)


def test_content_errors_exit_1_name_both_files_and_keep_output(tmp_path: Path) -> None:
    """The issue's acceptance test, run as a user would: ``python -m sitegen build``."""
    root = make_site(tmp_path, GOOD)
    out = build_ok(root)
    before = snapshot(out)
    assert len(before) > 5
    make_site(root, {"content/bad-date.md": BAD_DATE, "content/broken.md": BROKEN_YAML})
    code, stdout, stderr = run_module(root, "build")
    assert code == 1
    assert stderr.splitlines() == [
        f"content/bad-date.md:3:7: error[frontmatter.date]: {DATE_MESSAGE}",
        "content/broken.md:4:13: error[frontmatter.yaml]: invalid YAML: mapping values are not "
        "allowed here",
        "sitegen: 2 errors; nothing was written",
    ]
    assert stdout == ""
    assert "Traceback" not in stderr + stdout
    assert snapshot(out) == before
    assert staging_leftovers(root) == []


def test_every_kind_of_content_error_is_reported_together(tmp_path: Path, build_site_dir: Run
                                                          ) -> None:
    root = make_site(tmp_path, {
        **GOOD,
        "content/no-title.md": "---\ndate: 2020-01-01\n---\n",
        "content/no-date.md": "---\ntitle: T\n---\n",
        "content/actors-map.md": "---\ntitle: T\ndate: 2020-01-01\nactors: {a: 1}\n---\n",
        "content/latin1.md": b"---\ntitle: caf\xe9\ndate: 2020-01-01\n---\n",
        "content/no-front-matter.md": "Just text.\n",
        "content/unclosed.md": "---\ntitle: T\ndate: 2020-01-01\n",
        "content/tag.md": "---\ntitle: T\ndate: 2020-01-01\n"
                          "x: !!python/object/apply:os.system ['touch pwned']\n---\n",
        "content/2021/sub/deep.md": BAD_DATE,
        "content/control.md": "---\ntitle: Page\x0cbreak\ndate: 2020-01-01\n---\n",
    })
    code, _, stderr = build_site_dir(root)
    assert code == 1
    assert error_lines(stderr) == [
        f"content/2021/sub/deep.md:3:7: error[frontmatter.date]: {DATE_MESSAGE}",
        "content/actors-map.md:4:9: error[frontmatter.type]: actors: expected a list of names "
        "or a single name, got a mapping",
        "content/control.md:2:12: error[frontmatter.yaml]: invalid YAML: control character "
        "U+000C is not allowed",
        "content/latin1.md:2:11: error[content.encoding]: not valid UTF-8 (byte 0xe9); save "
        "the file as UTF-8",
        "content/no-date.md:2:1: error[frontmatter.missing-key]: missing required key 'date'",
        "content/no-front-matter.md:1:1: error[frontmatter.missing]: no front matter: a report "
        "starts with a '---' line, then YAML with at least title and date, then another '---' "
        "line",
        "content/no-title.md:2:1: error[frontmatter.missing-key]: missing required key 'title'",
        "content/tag.md:4:4: error[frontmatter.yaml]: invalid YAML: could not determine a "
        "constructor for the tag 'tag:yaml.org,2002:python/object/apply:os.system' (only plain "
        "YAML is allowed: no tags such as !!python/object)",
        "content/unclosed.md:1:1: error[frontmatter.unclosed]: front matter is not closed: add "
        "a '---' line after the YAML",
    ]
    assert stderr.splitlines()[-1] == "sitegen: 9 errors; nothing was written"
    assert not (root / "output").exists()
    assert not (root / "pwned").exists()


def test_two_reports_with_the_same_url_is_an_error_naming_both(tmp_path: Path,
                                                                build_site_dir: Run) -> None:
    root = make_site(tmp_path, {
        **GOOD,
        "content/a/taji.md": report("Camp Taji", "2020-06-01", actors=["X"]),
    })
    code, _, stderr = build_site_dir(root)
    assert code == 1
    assert error_lines(stderr) == [
        "content/a/taji.md:2:8: error[model.url-collision]: this report and "
        "content/2020/taji.md would both be published at /reports/2020/camp-taji/; give one of "
        "them a different 'slug:'"]


def test_config_errors_name_the_key_and_line(tmp_path: Path, build_site_dir: Run) -> None:
    root = make_site(tmp_path, GOOD)
    (root / "sitegen.yaml").write_text("title: Archive\ntitel: x\npage_size: lots\n")
    code, _, stderr = build_site_dir(root)
    assert code == 1
    assert stderr.splitlines() == [
        "sitegen.yaml:2:1: error[config.unknown-key]: unknown setting 'titel'; did you mean "
        "'title'?",
        "sitegen.yaml:3:12: error[config.type]: page_size: expected a whole number, got a "
        "string",
        "sitegen: 2 errors; nothing was written",
    ]
    assert not (root / "output").exists()


def test_warnings_pass_unless_strict(tmp_path: Path, build_site_dir: Run) -> None:
    root = make_site(tmp_path, {
        **GOOD,
        "content/empty-actor.md": "---\ntitle: Empty\ndate: 2020-01-01\n"
                                  "actors: [Kataib Hezbollah, '']\n---\n"})
    code, _, stderr = build_site_dir(root, "--quiet")
    assert code == 0
    assert stderr.splitlines() == [
        "content/empty-actor.md:4:9: warning[frontmatter.empty-name]: actors: empty name "
        "ignored"]
    before = snapshot(root / "output")
    code, _, stderr = build_site_dir(root, "--strict")
    assert code == 1
    assert stderr.splitlines() == [
        "content/empty-actor.md:4:9: warning[frontmatter.empty-name]: actors: empty name "
        "ignored",
        "sitegen: 1 warning (--strict); nothing was written"]
    assert snapshot(root / "output") == before


# --- template errors -----------------------------------------------------------------------


def test_template_syntax_error_names_template_and_line(tmp_path: Path, build_site_dir: Run
                                                       ) -> None:
    root = make_site(tmp_path, {
        **GOOD,
        "themes/t/templates/report.html":
            '{% extends "base.html" %}\n{% block content %}\n{% if %}\n{% endblock %}\n',
    }, {"theme": "t"})
    code, _, stderr = build_site_dir(root)
    assert code == 1
    assert error_lines(stderr) == [
        "themes/t/templates/report.html:3: error[template.syntax]: Expected an expression, "
        "got 'end of statement block'"]


def test_template_runtime_errors_name_template_and_line_once(tmp_path: Path,
                                                              build_site_dir: Run) -> None:
    root = make_site(tmp_path, {
        **GOOD,
        "content/other.md": report("Other", "2020-01-01", actors=["Kataib Hezbollah"]),
        "themes/t/templates/term.html":
            '{% extends "base.html" %}\n{% block content %}\n<p>\n{{ nope.x }}</p>\n'
            '{% endblock %}\n',
        "themes/t/templates/year.html":
            '{% extends "base.html" %}\n{% block content %}{{ archive.nope }}{% endblock %}\n',
    }, {"theme": "t"})
    code, _, stderr = build_site_dir(root)
    assert code == 1
    assert error_lines(stderr) == [
        "themes/t/templates/term.html:4: error[template.render]: UndefinedError: 'nope' is "
        "undefined (while rendering actors/kataib-hezbollah/)",
        "themes/t/templates/year.html:2: error[template.render]: UndefinedError: "
        "'sitegen.model.YearArchive object' has no attribute 'nope' (while rendering "
        "archive/2020/)",
    ]


def test_failed_render_keeps_previous_output(tmp_path: Path, build_site_dir: Run) -> None:
    root = make_site(tmp_path, GOOD)
    out = build_ok(root)
    before = snapshot(out)
    make_site(root, {"themes/default/templates/year.html": "{{ 1 / 0 }}\n"})
    code, _, stderr = build_site_dir(root)
    assert code == 1
    assert "themes/default/templates/year.html:1: error[template.render]: ZeroDivisionError" \
        in stderr
    assert snapshot(out) == before
    assert staging_leftovers(root) == []


# --- unsafe output folders -----------------------------------------------------------------


@pytest.fixture
def no_staging(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make sure a refused output folder is never touched, even if the check regressed."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("Staging created for an unsafe output folder")

    monkeypatch.setattr(sitegen.output, "Staging", refuse)


def refusal(path: Path | str, reason: str) -> str:
    return (f"{path}: error[output.unsafe]: refusing to use this output folder: it {reason}; "
            "choose a dedicated folder such as output/")


@pytest.mark.usefixtures("no_staging")
def test_output_equal_to_content_is_refused(tmp_path: Path, build_site_dir: Run) -> None:
    root = make_site(tmp_path, GOOD)
    before = snapshot(root)
    code, _, stderr = build_site_dir(root, "--output", "content")
    assert code == 1
    assert error_lines(stderr) == [refusal(root / "content", "is the content folder")]
    assert snapshot(root) == before


@pytest.mark.usefixtures("no_staging")
def test_output_containing_content_is_refused(tmp_path: Path, build_site_dir: Run) -> None:
    root = make_site(tmp_path / "site", GOOD)
    code, _, stderr = build_site_dir(root, "--output", str(tmp_path))
    assert code == 1
    assert error_lines(stderr) == [refusal(tmp_path, "contains the content folder")]
    code, _, stderr = build_site_dir(root, "--output", ".")
    assert code == 1
    assert error_lines(stderr) == [refusal(root, "contains the content folder"),
                                   refusal(root, "is the site root")]


@pytest.mark.usefixtures("no_staging")
def test_output_inside_content_is_refused(tmp_path: Path, build_site_dir: Run) -> None:
    root = make_site(tmp_path, GOOD)
    code, _, stderr = build_site_dir(root, "--output", "content/site")
    assert code == 1
    assert error_lines(stderr) == [refusal(root / "content/site",
                                           "is inside the content folder")]


@pytest.mark.usefixtures("no_staging")
def test_filesystem_root_is_refused(tmp_path: Path, build_site_dir: Run) -> None:
    root = make_site(tmp_path, GOOD)
    code, _, stderr = build_site_dir(root, "--output", "/")
    assert code == 1
    assert refusal("/", "is the filesystem root") in error_lines(stderr)


@pytest.mark.usefixtures("no_staging")
def test_home_folder_is_refused(tmp_path: Path, build_site_dir: Run,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "precious.txt").write_text("keep me")
    monkeypatch.setenv("HOME", str(home))
    root = make_site(tmp_path / "site", GOOD)
    code, _, stderr = build_site_dir(root, "--output", str(home))
    assert code == 1
    assert error_lines(stderr) == [refusal(home, "is your home folder")]
    assert sorted(p.name for p in home.iterdir()) == ["precious.txt"]


def test_report_colliding_with_a_generated_page_names_the_file(tmp_path: Path,
                                                               run_cli: Run) -> None:
    root = make_site(tmp_path, {"content/a.md": report("Actors", "2020-01-01", actors=["X"])},
                      {"permalink": "{slug}/"})
    code, _, stderr = run_cli(root, "check")
    assert code == 1
    assert "content/a.md" in stderr
