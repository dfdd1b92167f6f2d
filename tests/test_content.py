"""Source reports: ``parse_document`` (pure), discovery and reading."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sitegen.content import (
    SourceDoc,
    discover,
    is_report_path,
    load_sources,
    parse_document,
)

BAGHDAD = ZoneInfo("Asia/Baghdad")


def parse_ok(text: str, tz: ZoneInfo = BAGHDAD) -> SourceDoc:
    doc, diags = parse_document(text, "content/x.md", tz)
    assert diags == []
    assert doc is not None
    return doc


def problems(text: str) -> list[str]:
    _, diags = parse_document(text, "content/x.md", BAGHDAD)
    return sorted(d.format() for d in diags)


def test_minimal_report() -> None:
    doc = parse_ok("---\ntitle: Camp Taji\ndate: 2020-03-11\n---\nRockets hit.\n")
    assert doc.path == "content/x.md"
    assert doc.meta.title == "Camp Taji"
    assert doc.meta.date == datetime(2020, 3, 11, tzinfo=BAGHDAD)
    assert doc.meta.date_has_time is False
    assert doc.meta.actors == () and doc.meta.locations == () and doc.meta.tags == ()
    assert doc.meta.summary == "" and doc.meta.draft is False
    assert doc.body == "Rockets hit.\n"
    assert doc.body_line == 5


def test_all_known_fields() -> None:
    doc = parse_ok(
        "---\n"
        "title: '  Strikes  '\n"
        "date: 2020-03-13\n"
        "updated: 2020-03-14T08:00:00+03:00\n"
        "actors: [US Department of Defense, UK Ministry of Defence]\n"
        "locations: Jurf al-Sakhar\n"
        "tags: [airstrike]\n"
        "summary: Precision strikes.\n"
        "source: DoD\n"
        "source_url: https://www.defense.gov/\n"
        "author: Desk\n"
        "slug: strikes-after-taji\n"
        "draft: true\n"
        "---\n")
    meta = doc.meta
    assert meta.title == "Strikes"
    assert meta.updated == datetime(2020, 3, 14, 8, tzinfo=timezone(timedelta(hours=3)))
    assert meta.actors == ("US Department of Defense", "UK Ministry of Defence")
    assert meta.locations == ("Jurf al-Sakhar",)
    assert meta.tags == ("airstrike",)
    assert meta.summary == "Precision strikes."
    assert meta.source == "DoD" and meta.source_url == "https://www.defense.gov/"
    assert meta.author == "Desk" and meta.slug == "strikes-after-taji"
    assert meta.draft is True
    assert dict(meta.extra) == {}


@pytest.mark.parametrize(("value", "expected", "has_time"), [
    ("2020-03-11", datetime(2020, 3, 11, tzinfo=BAGHDAD), False),
    ("'2020-03-11'", datetime(2020, 3, 11, tzinfo=BAGHDAD), False),
    ("2020-03-11T22:30:00", datetime(2020, 3, 11, 22, 30, tzinfo=BAGHDAD), True),
    ("2020-03-11 22:30", datetime(2020, 3, 11, 22, 30, tzinfo=BAGHDAD), True),
    ("2020-03-11T22:30:00+03:00",
     datetime(2020, 3, 11, 22, 30, tzinfo=timezone(timedelta(hours=3))), True),
    ("2020-03-11T19:30:00Z", datetime(2020, 3, 11, 19, 30, tzinfo=UTC), True),
    ("2020-03-11T12:00:00-05:00",
     datetime(2020, 3, 11, 12, tzinfo=timezone(timedelta(hours=-5))), True),
])
def test_dates_with_and_without_time_zone(value: str, expected: datetime,
                                          has_time: bool) -> None:
    meta = parse_ok(f"---\ntitle: T\ndate: {value}\n---\n").meta
    assert meta.date == expected
    assert meta.date.utcoffset() == expected.utcoffset()
    assert meta.date_has_time is has_time
    assert meta.date.tzinfo is not None


def test_a_date_keeps_its_own_offset() -> None:
    meta = parse_ok("---\ntitle: T\ndate: 2020-03-01T01:30:00+03:00\n---\n",
                    ZoneInfo("UTC")).meta
    assert (meta.date.year, meta.date.month, meta.date.day) == (2020, 3, 1)


def test_single_string_names_and_dedupe() -> None:
    meta = parse_ok(
        "---\ntitle: T\ndate: 2020-01-01\n"
        "actors: Kataib Hezbollah\n"
        "locations: [Iraq, ' Camp   Taji ', Camp Taji, Iraq, 1984]\n"
        "tags: rockets\n---\n").meta
    assert meta.actors == ("Kataib Hezbollah",)
    assert meta.locations == ("Iraq", "Camp Taji", "1984")
    assert meta.tags == ("rockets",)


def test_empty_names_warn_and_are_dropped() -> None:
    doc, diags = parse_document(
        "---\ntitle: T\ndate: 2020-01-01\nactors: [Kataib Hezbollah, '', '  ']\n"
        "locations: [~, Iraq]\n---\n", "content/x.md", BAGHDAD)
    assert doc is not None
    assert doc.meta.actors == ("Kataib Hezbollah",)
    assert doc.meta.locations == ("Iraq",)
    assert [d.format() for d in diags] == [
        "content/x.md:4:9: warning[frontmatter.empty-name]: actors: empty name ignored",
        "content/x.md:4:9: warning[frontmatter.empty-name]: actors: empty name ignored",
        "content/x.md:5:12: warning[frontmatter.empty-name]: locations: empty name ignored",
    ]


def test_extra_keys_are_kept() -> None:
    meta = parse_ok("---\ntitle: T\ndate: 2020-01-01\nfoo: bar\n"
                    "casualties: {killed: 3, wounded: 14}\nwhen: 2020-01-02\n---\n").meta
    assert dict(meta.extra) == {"foo": "bar", "casualties": {"killed": 3, "wounded": 14},
                                "when": "2020-01-02"}


def test_bom_and_crlf() -> None:
    doc = parse_ok("\ufeff---\r\ntitle: Taji\r\ndate: 2020-03-11\r\nactors: [A]\r\n---\r\n"
                   "Line one\r\nLine two\r\n")
    assert doc.meta.title == "Taji"
    assert doc.meta.actors == ("A",)
    assert doc.body == "Line one\nLine two\n"
    assert doc.body_line == 6


def test_old_mac_line_endings_and_dots_fence() -> None:
    doc = parse_ok("---\rtitle: T\rdate: 2020-01-01\r...\rBody\r")
    assert doc.meta.title == "T" and doc.body == "Body\n"


def test_front_matter_closed_at_end_of_file() -> None:
    doc = parse_ok("---\ntitle: T\ndate: 2020-01-01\n---")
    assert doc.body == ""


def test_body_keeps_later_fences() -> None:
    doc = parse_ok("---\ntitle: T\ndate: 2020-01-01\n---\nIntro\n\n---\n\nMore\n")
    assert doc.body == "Intro\n\n---\n\nMore\n"


def test_marks_point_at_values() -> None:
    doc = parse_ok("---\ntitle: T\ndate: 2020-01-01\nactors:  [A]\n---\n")
    assert (doc.marks["title"].line, doc.marks["title"].col) == (2, 8)
    assert (doc.marks["actors"].line, doc.marks["actors"].col) == (4, 10)


@pytest.mark.parametrize(("text", "expected"), [
    ("no front matter\n",
     ["content/x.md:1:1: error[frontmatter.missing]: no front matter: a report starts with a "
      "'---' line, then YAML with at least title and date, then another '---' line"]),
    ("---\ntitle: T\ndate: 2020-01-01\n",
     ["content/x.md:1:1: error[frontmatter.unclosed]: front matter is not closed: add a "
      "'---' line after the YAML"]),
    ("---\ndate: 2020-01-01\n---\n",
     ["content/x.md:2:1: error[frontmatter.missing-key]: missing required key 'title'"]),
    ("---\ntitle: T\n---\n",
     ["content/x.md:2:1: error[frontmatter.missing-key]: missing required key 'date'"]),
    ("---\ntitle: ''\ndate: 2020-01-01\n---\n",
     ["content/x.md:2:8: error[frontmatter.empty]: title: must not be empty"]),
    ("---\ntitle: T\ndate: 2022-13-45\n---\n",
     ["content/x.md:3:7: error[frontmatter.date]: date: '2022-13-45' is not a valid date; use "
      "YYYY-MM-DD, optionally with a time and offset such as 2020-03-11T22:30:00+03:00"]),
    ("---\ntitle: T\ndate: 2020-01-01\nactors: {a: 1}\n---\n",
     ["content/x.md:4:9: error[frontmatter.type]: actors: expected a list of names or a single "
      "name, got a mapping"]),
    ("---\ntitle: T\ndate: 2020-01-01\nlocations: [[Iraq]]\n---\n",
     ["content/x.md:4:12: error[frontmatter.type]: locations: each name must be text, "
      "got a list"]),
    ("---\ntitle: [T]\ndate: 2020-01-01\n---\n",
     ["content/x.md:2:8: error[frontmatter.type]: title: expected text, got a list"]),
    ("---\ntitle: T\ndate: 2020-01-01\ndraft: yes please\n---\n",
     ["content/x.md:4:8: error[frontmatter.type]: draft: expected true or false, got a string"]),
    ("---\ntitle: T\ndate: 2020-01-01\nsource_url: javascript:alert(1)\n---\n",
     ["content/x.md:4:13: error[frontmatter.url]: source_url: expected an http(s) URL, "
      "got 'javascript:alert(1)'"]),
    ("---\ntitle: T\ndate: 2020-01-01\nslug: ../etc\n---\n",
     ["content/x.md:4:7: error[frontmatter.slug]: slug: '../etc' is not a valid slug "
      "(no slashes or dots-only names)"]),
    ("---\n- title\n---\n",
     ["content/x.md:2:1: error[frontmatter.type]: front matter must be a mapping of keys such "
      "as 'title: ...', got a list"]),
    ("---\ntitle: T\ndate: 2020-01-01\nactors: [a, b\n---\n",
     ["content/x.md:5:1: error[frontmatter.yaml]: invalid YAML: while parsing a flow "
      "sequence; expected ',' or ']', but got '<stream end>'"]),
    ("---\ntitle: 'T\ndate: 2020-01-01\n---\n",
     ["content/x.md:4:1: error[frontmatter.yaml]: invalid YAML: while scanning a quoted "
      "scalar; found unexpected end of stream"]),
])
def test_front_matter_problems(text: str, expected: list[str]) -> None:
    doc, diags = parse_document(text, "content/x.md", BAGHDAD)
    assert doc is None
    assert sorted(d.format() for d in diags) == expected


def test_all_problems_of_one_file_are_reported() -> None:
    assert problems("---\ntitle: ''\ndate: nope\ntags: {a: 1}\ndraft: 3\n---\n") == [
        "content/x.md:2:8: error[frontmatter.empty]: title: must not be empty",
        "content/x.md:3:7: error[frontmatter.date]: date: 'nope' is not a valid date; use "
        "YYYY-MM-DD, optionally with a time and offset such as 2020-03-11T22:30:00+03:00",
        "content/x.md:4:7: error[frontmatter.type]: tags: expected a list of names or a single "
        "name, got a mapping",
        "content/x.md:5:8: error[frontmatter.type]: draft: expected true or false, got a number",
    ]


def test_control_character_in_front_matter_is_a_diagnostic() -> None:
    assert problems("---\ntitle: Taji\x1b[0m\ndate: 2020-01-01\n---\n") == [
        "content/x.md:2:12: error[frontmatter.yaml]: invalid YAML: control character U+001B "
        "is not allowed"]


def test_python_object_tag_is_refused() -> None:
    doc, diags = parse_document(
        "---\ntitle: T\ndate: 2020-01-01\nfoo: !!python/object/apply:os.system ['touch x']\n"
        "---\n", "content/x.md", BAGHDAD)
    assert doc is None
    [d] = diags
    assert (d.code, d.line, d.col) == ("frontmatter.yaml", 4, 6)
    assert "only plain YAML is allowed" in d.message


def test_parse_document_is_pure() -> None:
    text = "---\ntitle: T\ndate: 2020-01-01\nactors: [A]\nfoo: [1]\n---\nBody\n"
    first = parse_document(text, "content/x.md", BAGHDAD)
    second = parse_document(text, "content/x.md", BAGHDAD)
    assert first == second


@pytest.mark.parametrize(("rel", "expected"), [
    ("a.md", True), ("2020/03/a.md", True), ("a.markdown", True), ("A.MD", True),
    ("a.txt", False), ("_data/actors.md", False), ("_notes.md", False),
    (".hidden.md", False), ("2020/_draft.md", False), (".git/x.md", False),
    ("2020/.cache/x.md", False),
])
def test_is_report_path(rel: str, expected: bool) -> None:
    assert is_report_path(Path(rel)) is expected


def test_discover_and_load(tmp_path: Path) -> None:
    content = tmp_path / "content"
    good = "---\ntitle: T\ndate: 2020-01-01\n---\n"
    for rel in ("b.md", "2020/a.md", "2020/03/deep.md", "_data/x.md", "_data/actors.yaml",
                "_notes.md", ".hidden.md", "2020/_skip.md", "notes.txt"):
        (content / rel).parent.mkdir(parents=True, exist_ok=True)
        (content / rel).write_text(good, encoding="utf-8")
    (content / "folder.md").mkdir()
    assert [p.as_posix() for p in discover(content)] == ["2020/03/deep.md", "2020/a.md", "b.md"]
    docs, diags = load_sources(content, BAGHDAD)
    assert diags == []
    assert [d.path for d in docs] == ["content/2020/03/deep.md", "content/2020/a.md",
                                      "content/b.md"]


def test_load_reports_every_bad_file(tmp_path: Path) -> None:
    content = tmp_path / "content"
    content.mkdir()
    (content / "latin1.md").write_bytes(b"---\ntitle: caf\xe9\ndate: 2020-01-01\n---\n")
    (content / "bad-date.md").write_text("---\ntitle: T\ndate: 2022-13-45\n---\n")
    (content / "ok.md").write_text("---\ntitle: T\ndate: 2020-01-01\n---\n")
    docs, diags = load_sources(content, BAGHDAD)
    assert [d.path for d in docs] == ["content/ok.md"]
    assert sorted(d.format() for d in diags) == [
        "content/bad-date.md:3:7: error[frontmatter.date]: date: '2022-13-45' is not a valid "
        "date; use YYYY-MM-DD, optionally with a time and offset such as "
        "2020-03-11T22:30:00+03:00",
        "content/latin1.md:2:11: error[content.encoding]: not valid UTF-8 (byte 0xe9); save "
        "the file as UTF-8",
    ]


def test_missing_content_folder(tmp_path: Path) -> None:
    docs, diags = load_sources(tmp_path / "nope", BAGHDAD)
    assert docs == []
    assert [d.code for d in diags] == ["content.missing"]
