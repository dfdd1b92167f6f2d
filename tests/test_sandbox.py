"""Content stays in its box: nothing outside ``content/`` is read as a report, and nothing a
report, a slug, an alias or a setting says can make the build write outside ``output/``.
Content is data, never template code."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import GOOD_REPORT, build_ok, make_site, page, report

from sitegen import content
from sitegen.files import OutputFile
from sitegen.output import OutputError, Staging

Run = Callable[..., tuple[int, str, str]]
SECRET = report("Secret outside the content folder", "2020-01-01", "The secret body.\n")


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if not line.startswith("sitegen: ")]


def everything_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


# --- symbolic links ------------------------------------------------------------------------


def test_symlinked_report_pointing_outside_is_refused(tmp_path: Path, run_cli: Run) -> None:
    outside = make_site(tmp_path / "elsewhere", {"content/secret.md": SECRET})
    root = make_site(tmp_path / "site", {"content/2020/taji.md": GOOD_REPORT})
    (root / "content/2020/leak.md").symlink_to(outside / "content/secret.md")
    code, _, stderr = run_cli(root, "build")
    assert code == 1
    assert error_lines(stderr) == [
        f"content/2020/leak.md: error[content.symlink-escape]: is a symbolic link to "
        f"{outside / 'content/secret.md'}, outside the content folder; sitegen reads only files "
        "inside it (copy the file in instead)"]
    assert not (root / "output").exists()


def test_links_are_checked_where_open_cannot_refuse_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a report is opened with O_NOFOLLOW and its link checked only if that open refuses
    # it; where the flag does not exist, the link is looked for first instead
    outside = make_site(tmp_path / "elsewhere", {"content/secret.md": SECRET})
    root = make_site(tmp_path / "site", {"content/2020/taji.md": GOOD_REPORT})
    (root / "content/2020/leak.md").symlink_to(outside / "content/secret.md")
    (root / "content/2020/same.md").symlink_to("taji.md")
    monkeypatch.delattr(content.os, "O_NOFOLLOW")
    raw, diags = content.read_source(root / "content", Path("2020/leak.md"))
    assert raw is None and [d.code for d in diags] == ["content.symlink-escape"]
    raw, diags = content.read_source(root / "content", Path("2020/same.md"))
    assert diags == [] and raw == GOOD_REPORT.encode()


def test_symlinked_folder_pointing_outside_is_refused(tmp_path: Path, run_cli: Run) -> None:
    outside = make_site(tmp_path / "elsewhere", {"content/secret.md": SECRET})
    root = make_site(tmp_path / "site", {"content/2020/taji.md": GOOD_REPORT})
    (root / "content/imported").symlink_to(outside / "content")
    (root / "content/etc").symlink_to("/etc")
    code, _, stderr = run_cli(root, "build")
    assert code == 1
    assert error_lines(stderr) == [
        "content/etc: error[content.symlink-escape]: is a symbolic link to /etc, outside the "
        "content folder; sitegen reads only files inside it (copy the file in instead)",
        f"content/imported: error[content.symlink-escape]: is a symbolic link to "
        f"{outside / 'content'}, outside the content folder; sitegen reads only files inside "
        "it (copy the file in instead)"]


def test_relative_symlink_climbing_out_is_refused(tmp_path: Path, run_cli: Run) -> None:
    root = make_site(tmp_path / "site", {"content/2020/taji.md": GOOD_REPORT,
                                         "notes/private.md": SECRET})
    (root / "content/2020/private.md").symlink_to("../../notes/private.md")
    code, _, stderr = run_cli(root, "check")
    assert code == 1
    assert error_lines(stderr) == [
        f"content/2020/private.md: error[content.symlink-escape]: is a symbolic link to "
        f"{root / 'notes/private.md'}, outside the content folder; sitegen reads only files "
        "inside it (copy the file in instead)"]


def test_symlinks_inside_the_content_folder_are_fine(tmp_path: Path) -> None:
    root = make_site(tmp_path, {"content/2020/taji.md": GOOD_REPORT,
                                "content/_shared/erbil.md": report("Erbil", "2021-02-15")})
    (root / "content/2021").mkdir()
    (root / "content/2021/erbil.md").symlink_to("../_shared/erbil.md")
    (root / "content/2021/loop").symlink_to("..")  # a folder link is not entered: no loop
    out = build_ok(root)
    assert page(out, "reports/2021/erbil/").select_one("article h1").get_text() == "Erbil"


def test_dangling_symlink_is_reported(tmp_path: Path, run_cli: Run) -> None:
    root = make_site(tmp_path, {"content/2020/taji.md": GOOD_REPORT})
    (root / "content/gone.md").symlink_to(root / "content/missing.md")
    code, _, stderr = run_cli(root, "build")
    assert code == 1
    assert error_lines(stderr) == [
        f"content/gone.md: error[content.read]: is a broken symbolic link (to "
        f"{root / 'content/missing.md'})"]


def test_symlinks_in_ignored_folders_are_not_followed_or_reported(tmp_path: Path) -> None:
    root = make_site(tmp_path, {"content/2020/taji.md": GOOD_REPORT})
    (root / "content/.git").mkdir()
    (root / "content/.git/link.md").symlink_to("/etc/passwd")
    (root / "content/notes.txt").symlink_to("/etc/passwd")  # not a report
    build_ok(root)


# --- slugs, aliases and permalinks ---------------------------------------------------------


@pytest.mark.parametrize("slug", ["../../etc", "..", ".", "a/b", "a\\\\b", "/etc/passwd", "...."])
def test_slugs_that_would_leave_their_folder_are_refused(tmp_path: Path, run_cli: Run,
                                                         slug: str) -> None:
    text = f'---\ntitle: T\ndate: 2020-01-01\nslug: "{slug}"\n---\nBody\n'
    root = make_site(tmp_path, {"content/a.md": text})
    code, _, stderr = run_cli(root, "build")
    assert code == 1
    shown = slug.replace("\\\\", "\\")
    assert error_lines(stderr) == [
        f"content/a.md:4:7: error[frontmatter.slug]: slug: {shown!r} is not a valid slug (no "
        "slashes or dots-only names)"]
    assert not (root / "output").exists()


def test_odd_slugs_are_slugified_into_the_output_folder(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site", {
        "content/a.md": report("A", "2020-01-01", slug="%2e%2e"),
        "content/b.md": report("B", "2020-01-01", slug="..x?#<script>"),
    })
    out = build_ok(root)
    assert (out / "reports/2020/2e-2e/index.html").is_file()
    assert (out / "reports/2020/x-script/index.html").is_file()
    assert everything_under(tmp_path) - {f"site/{p}" for p in everything_under(root)} == {
        "site"}


@pytest.mark.parametrize("alias", ["../../../escape/", "/a/../../escape.html", "%2e%2e/escape/",
                                   "//evil.example/x", "a\\..\\..\\escape"])
def test_aliases_that_would_leave_the_output_are_refused(tmp_path: Path, run_cli: Run,
                                                         alias: str) -> None:
    root = make_site(tmp_path / "site", {
        "content/a.md": report("A", "2020-01-01", actors=["X"], aliases=[alias])})
    code, _, stderr = run_cli(root, "build")
    assert code == 1
    [line] = error_lines(stderr)
    assert line.startswith(f"content/a.md: error[publish.alias]: alias {alias!r} ")
    assert not (tmp_path / "escape").exists() and not (tmp_path / "escape.html").exists()


@pytest.mark.parametrize("permalink", [
    "../{slug}/", "{slug}/../../x/", "reports/../../{slug}/", "./{slug}/", "a//{slug}/",
    "/{slug}/", "a\\{slug}/", "%2e%2e/{slug}/", "{slug}?x/",
])
def test_permalinks_that_would_leave_the_output_are_refused(tmp_path: Path, run_cli: Run,
                                                            permalink: str) -> None:
    root = make_site(tmp_path / "site", {"content/a.md": GOOD_REPORT},
                     {"permalink": permalink})
    code, _, stderr = run_cli(root, "build")
    assert code == 1
    [line] = error_lines(stderr)
    assert line.endswith("error[config.type]: permalink: must be a relative path ending in "
                         "'/', e.g. reports/{year}/{slug}/")
    assert line.startswith("sitegen.yaml:1:")
    assert sorted(everything_under(tmp_path)) == ["site", "site/content", "site/content/a.md",
                                                  "site/sitegen.yaml"]


def test_the_writer_refuses_paths_outside_the_staging_folder(tmp_path: Path) -> None:
    """The last line of defence, whatever a renderer or publisher hands it."""
    stage = Staging(tmp_path / "output")
    try:
        for relpath in ("../escape.html", "/etc/passwd", "a/../../escape.html", "a\\b.html",
                        "", "nul\x00.html"):
            with pytest.raises(OutputError, match="outside the output folder"):
                stage.write(OutputFile(relpath, b"x", "test"))
        stage.write(OutputFile("ok/index.html", b"x", "test"))
        with pytest.raises(OutputError, match=r"two pages would be written to ok/index\.html"):
            stage.write(OutputFile("ok/index.html", b"y", "other"))
    finally:
        stage.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# --- content is data, never a template -----------------------------------------------------


def test_template_syntax_in_content_is_shown_not_run(tmp_path: Path) -> None:
    payload = "{{ 7*7 }} {{ config }} {% for x in range(3) %}loop{% endfor %} ${7*7} #{7*7}"
    root = make_site(tmp_path, {"content/a.md": report(
        payload, "2020-01-01", payload + "\n", summary=payload, actors=[payload],
        source=payload)})
    out = build_ok(root)
    soup = page(out, "reports/2020/7-7-config-for-x-in-range-3-loop-endfor-7-7-7-7/")
    assert soup.select_one("article h1").get_text() == payload
    assert soup.select_one(".lede").get_text() == payload
    smart = payload.replace("{% for", "{% for")  # the body went through Markdown's smarty
    assert any(p.get_text() == smart for p in soup.select("article p")), soup.select("article p")
    for path in out.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        assert "looplooploop" not in text and "SiteConfig" not in text, path


def test_registry_symlinked_outside_content_is_refused(tmp_path: Path) -> None:
    from sitegen.entities import load_registry

    outside = tmp_path / "secret.yaml"
    outside.write_text("- name: Leaked\n", encoding="utf-8")
    content = tmp_path / "site" / "content"
    (content / "_data").mkdir(parents=True)
    (content / "_data" / "actors.yaml").symlink_to(outside)
    registry, diags = load_registry(content)
    assert [d.format() for d in diags] == [
        f"content/_data/actors.yaml: error[registry.symlink-escape]: is a symbolic link to "
        f"{outside.resolve()}, outside the content folder; sitegen reads only files inside it "
        "(copy the file in instead)"]
    assert registry.entities("actor") == ()
