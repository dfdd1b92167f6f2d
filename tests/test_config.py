"""Site configuration: typed keys, exact diagnostics, defaults and command-line overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from sitegen.config import FILE_KEYS, SiteConfig, load_config, parse_config

ROOT = Path("/srv/site")


def problems(text: str) -> list[str]:
    _, diags = parse_config(text, "sitegen.yaml", ROOT)
    return [d.format() for d in diags]


def test_defaults_make_a_bare_content_folder_buildable(tmp_path: Path) -> None:
    config, diags = load_config(None, root=tmp_path)
    assert diags == []
    assert config == SiteConfig(root=tmp_path)
    assert config.title == "Report archive"
    assert config.base_url == "/" and config.base_path == "/"
    assert config.content_path == (tmp_path / "content").resolve()
    assert config.output_path == tmp_path / "output"
    assert config.page_size == 20
    assert config.permalink == "reports/{year}/{slug}/"
    assert config.allow_raw_html is False and config.drafts is False


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n"])
def test_empty_config_file_is_the_defaults(text: str) -> None:
    config, diags = parse_config(text, "sitegen.yaml", ROOT)
    assert diags == []
    assert config == SiteConfig(root=ROOT)


def test_every_key_is_read() -> None:
    config, diags = parse_config(
        "title: Iraq incidents\n"
        "description: Rocket and drone attacks\n"
        "base_url: https://example.org/sub\n"
        "language: fr\n"
        "timezone: Asia/Baghdad\n"
        "content_dir: reports\n"
        "output_dir: public\n"
        "theme: mytheme\n"
        "page_size: 2\n"
        "permalink: '{year}/{month}/{day}/{slug}/'\n"
        "allow_raw_html: true\n"
        "drafts: true\n"
        "search_dir: _idx\n"
        "include_child_locations: false\n"
        "extra: {analytics: false, team: [a, b]}\n", "sitegen.yaml", ROOT)
    assert diags == []
    assert config.title == "Iraq incidents"
    assert config.description == "Rocket and drone attacks"
    assert config.base_path == "/sub/"
    assert config.language == "fr"
    assert str(config.tz) == "Asia/Baghdad"
    assert config.content_dir == Path("reports") and config.output_dir == Path("public")
    assert config.theme == "mytheme"
    assert config.page_size == 2
    assert config.permalink == "{year}/{month}/{day}/{slug}/"
    assert config.allow_raw_html is True and config.drafts is True
    assert config.search_dir == "_idx"
    assert config.include_child_locations is False
    assert dict(config.extra) == {"analytics": False, "team": ["a", "b"]}
    assert set(FILE_KEYS) == {
        "title", "description", "base_url", "language", "timezone", "content_dir",
        "output_dir", "cache_dir", "theme", "page_size", "permalink", "allow_raw_html", "drafts",
        "search_dir", "include_child_locations", "max_report_bytes",
        "max_front_matter_bytes", "markdown_time_limit", "extra"}


@pytest.mark.parametrize(("base_url", "base_path"), [
    ("/", "/"), ("/archive", "/archive/"), ("/archive/", "/archive/"),
    ("https://example.org", "/"), ("https://example.org/sub/", "/sub/"),
])
def test_base_path(base_url: str, base_path: str) -> None:
    config, diags = parse_config(f"base_url: {base_url!r}\n", "sitegen.yaml", ROOT)
    assert diags == []
    assert config.base_path == base_path


def test_unknown_key_names_the_key_its_line_and_a_suggestion() -> None:
    assert problems("title: X\ntitel: Y\nfrobnicate: 1\n") == [
        "sitegen.yaml:2:1: error[config.unknown-key]: unknown setting 'titel'; "
        "did you mean 'title'?",
        "sitegen.yaml:3:1: error[config.unknown-key]: unknown setting 'frobnicate'",
    ]


@pytest.mark.parametrize(("text", "message"), [
    ("title: [1]\n",
     "sitegen.yaml:1:8: error[config.type]: title: expected a string, got a list"),
    ("page_size: '3'\n",
     "sitegen.yaml:1:12: error[config.type]: page_size: expected a whole number, got a string"),
    ("page_size: true\n",
     "sitegen.yaml:1:12: error[config.type]: page_size: expected a whole number, got a boolean"),
    ("page_size: 0\n",
     "sitegen.yaml:1:12: error[config.type]: page_size: expected a number from 1 to 10000, "
     "got 0"),
    ("allow_raw_html: 1\n",
     "sitegen.yaml:1:17: error[config.type]: allow_raw_html: expected true or false, "
     "got a number"),
    ("drafts: null\n",
     "sitegen.yaml:1:9: error[config.type]: drafts: expected true or false, got nothing (null)"),
    ("content_dir: 3\n",
     "sitegen.yaml:1:14: error[config.type]: content_dir: expected a folder path, got a number"),
    ("extra: 3\n",
     "sitegen.yaml:1:8: error[config.type]: extra: expected a mapping, got a number"),
    ("base_url: ftp://example.org/\n",
     "sitegen.yaml:1:11: error[config.type]: base_url: expected an http(s) URL or a path such "
     "as /archive/, got 'ftp://example.org/'"),
    ("timezone: Mars/Olympus\n",
     "sitegen.yaml:1:11: error[config.type]: timezone: unknown time zone 'Mars/Olympus' "
     "(use an IANA name such as Europe/Paris)"),
    ("language: xx-QQ\n",
     "sitegen.yaml:1:11: error[config.type]: language: unknown language 'xx-QQ' "
     "(use a code such as en, fr or ar)"),
    ("permalink: reports/{year}/\n",
     "sitegen.yaml:1:12: error[config.type]: permalink: must contain {slug}"),
    ("permalink: reports/{yr}/{slug}/\n",
     "sitegen.yaml:1:12: error[config.type]: permalink: unknown placeholder {yr}; "
     "use {year}, {month}, {day}, {slug}"),
    ("permalink: /reports/{slug}\n",
     "sitegen.yaml:1:12: error[config.type]: permalink: must be a relative path ending in '/', "
     "e.g. reports/{year}/{slug}/"),
    ("permalink: ../{slug}/\n",
     "sitegen.yaml:1:12: error[config.type]: permalink: must be a relative path ending in '/', "
     "e.g. reports/{year}/{slug}/"),
    ("search_dir: a/b\n",
     "sitegen.yaml:1:13: error[config.type]: search_dir: expected a plain folder name such "
     "as _search"),
])
def test_wrong_type_names_the_key_and_the_line_of_its_value(text: str, message: str) -> None:
    assert problems(text) == [message]


def test_every_problem_is_reported_not_just_the_first() -> None:
    assert problems("title: My site\npage_size: many\nthem: dark\nlanguage: 7\n") == [
        "sitegen.yaml:2:12: error[config.type]: page_size: expected a whole number, "
        "got a string",
        "sitegen.yaml:3:1: error[config.unknown-key]: unknown setting 'them'; "
        "did you mean 'theme'?",
        "sitegen.yaml:4:11: error[config.type]: language: expected a string, got a number",
    ]


def test_top_level_must_be_a_mapping() -> None:
    assert problems("- title\n- date\n") == [
        "sitegen.yaml:1:1: error[config.type]: expected a mapping of settings at the top "
        "level, got a list"]


def test_yaml_syntax_error_has_line_and_column() -> None:
    assert problems("title: x\nextra: {a: 1\n") == [
        "sitegen.yaml:3:1: error[config.yaml]: invalid YAML: while parsing a flow mapping; "
        "expected ',' or '}', but got '<stream end>'"]


def test_control_characters_are_a_diagnostic() -> None:
    assert problems("title: x\ndescription: a\x7fb\n") == [
        "sitegen.yaml:2:15: error[config.yaml]: invalid YAML: control character U+007F is not "
        "allowed"]


def test_python_tags_are_refused() -> None:
    [message] = problems("title: !!python/object/apply:os.system ['true']\n")
    assert message.startswith("sitegen.yaml:1:8: error[config.yaml]: invalid YAML: could not "
                              "determine a constructor for the tag")
    assert message.endswith("(only plain YAML is allowed: no tags such as !!python/object)")


def test_load_config_reads_root_sitegen_yaml_and_names_it(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    (tmp_path / "sitegen.yaml").write_text("\ufefftitle: Mine\npage_size: x\n",
                                           encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    config, diags = load_config(None, root=tmp_path)
    assert config.title == "Mine"
    assert [d.format() for d in diags] == [
        "sitegen.yaml:2:12: error[config.type]: page_size: expected a whole number, "
        "got a string"]


def test_missing_config_file_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    monkeypatch.chdir(tmp_path)
    _, diags = load_config(tmp_path / "nope.yaml")
    assert [d.format() for d in diags] == [
        "nope.yaml: error[config.missing]: config file not found"]


def test_command_line_overrides_win_and_are_checked(tmp_path: Path) -> None:
    (tmp_path / "sitegen.yaml").write_text("drafts: false\ntheme: a\n", encoding="utf-8")
    config, diags = load_config(None, root=tmp_path,
                                overrides={"drafts": True, "theme": None,
                                           "output_dir": tmp_path / "public"})
    assert diags == []
    assert config.drafts is True
    assert config.theme == "a"  # None means "not given"
    assert config.output_path == tmp_path / "public"
    _, diags = load_config(None, root=tmp_path, overrides={"page_size": "x"})
    assert [d.format() for d in diags] == [
        "<command line>: error[config.type]: page_size: expected a whole number, got a string"]


def test_config_is_frozen() -> None:
    config = SiteConfig(root=ROOT)
    with pytest.raises(AttributeError):
        config.title = "x"  # type: ignore[misc]
