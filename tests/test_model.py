"""The site model: terms, spellings, ordering, archives, drafts and URL collisions (pure)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sitegen.config import SiteConfig
from sitegen.content import SourceDoc, parse_document
from sitegen.model import RenderedBody, Site, build_site

ROOT = Path("/srv/site")
BODY = RenderedBody(html="<p>x</p>", text="x", toc=(), word_count=1)


def doc(path: str, title: str, date: str, **meta: Any) -> SourceDoc:
    """A parsed report; ``meta`` values are YAML snippets."""
    lines = ["---", f"title: {json.dumps(title)}", f"date: {date}"]
    lines += [f"{k}: {v}" for k, v in meta.items()]
    text = "\n".join([*lines, "---", "Body", ""])
    parsed, diags = parse_document(text, path, ZoneInfo("UTC"))
    assert parsed is not None, diags
    return parsed


def names(values: list[str]) -> str:
    return json.dumps(values, ensure_ascii=False)


def site_of(*docs: SourceDoc, **config: Any) -> tuple[Site, list[str]]:
    site, diags = build_site(SiteConfig(root=ROOT, **config), [(d, BODY) for d in docs])
    return site, [d.format() for d in diags]


def urls(reports: Any) -> list[str]:
    return [r.url for r in reports]


def test_variant_spellings_merge_and_most_used_spelling_wins() -> None:
    site, diags = site_of(
        doc("content/a.md", "A", "2020-01-01", actors=names(["Kataib Hezbollah"])),
        doc("content/b.md", "B", "2020-01-02", actors=names(["Kata'ib Hezbollah"])),
        doc("content/c.md", "C", "2020-01-03", actors=names(["Kataib Hezbollah", "KH"])),
    )
    assert diags == []
    kh = next(t for t in site.actors if t.slug == "kataib-hezbollah")
    # "Kata'ib ..." sorts first, so only counting picks "Kataib ...".
    assert kh.name == "Kataib Hezbollah"
    assert kh.url == "actors/kataib-hezbollah/"
    assert kh.spellings == (("Kataib Hezbollah", 2), ("Kata'ib Hezbollah", 1))
    assert [r.title for r in kh.reports] == ["C", "B", "A"]
    b = next(r for r in site.reports if r.title == "B")
    assert [(t.slug, t.name) for t in b.actors] == [("kataib-hezbollah", "Kataib Hezbollah")]


def test_tied_spellings_pick_a_stable_name() -> None:
    one = doc("content/a.md", "A", "2020-01-01", actors=names(["Kataib Hezbollah"]))
    two = doc("content/b.md", "B", "2020-01-02", actors=names(["Kata'ib Hezbollah"]))
    first, _ = site_of(one, two)
    second, _ = site_of(two, one)
    assert first.actors[0].name == second.actors[0].name


def test_two_spellings_in_one_report_link_once() -> None:
    site, _ = site_of(doc("content/a.md", "A", "2020-01-01",
                          actors=names(["Kataib Hezbollah", "Kata'ib Hezbollah"])))
    [report] = site.reports
    assert [t.slug for t in report.actors] == ["kataib-hezbollah"]
    assert len(site.actors) == 1 and len(site.actors[0].reports) == 1


def test_reports_newest_first_by_instant_and_terms_a_to_z() -> None:
    site, _ = site_of(
        doc("content/a.md", "Old", "2019-12-27T19:20:00+03:00",
            locations=names(["Kirkuk", "Iraq"])),
        doc("content/b.md", "Newer by offset", "2019-12-27T12:00:00-05:00",
            locations=names(["Iraq"])),
        doc("content/c.md", "Newest", "2020-03-11", locations=names(["Camp Taji", "Iraq"])),
    )
    assert [r.title for r in site.reports] == ["Newest", "Newer by offset", "Old"]
    assert [t.name for t in site.locations] == ["Camp Taji", "Iraq", "Kirkuk"]
    iraq = next(t for t in site.locations if t.slug == "iraq")
    assert [r.title for r in iraq.reports] == ["Newest", "Newer by offset", "Old"]


def test_archive_years_and_months_use_the_reports_own_offset() -> None:
    site, _ = site_of(
        doc("content/taji.md", "Taji", "2020-03-11T22:30:00+03:00", actors=names(["KH"])),
        # 29 February in UTC, but 1 March where it happened.
        doc("content/early.md", "Early March", "2020-03-01T01:30:00+03:00",
            actors=names(["KH"])),
        doc("content/feb.md", "February", "2020-02-10", actors=names(["KH"])),
        doc("content/k1.md", "K-1", "2019-12-27", actors=names(["KH"])),
    )
    assert [(y.year, y.url, y.count) for y in site.years] == [
        (2020, "archive/2020/", 3), (2019, "archive/2019/", 1)]
    assert [(m.month, [r.title for r in m.reports]) for m in site.years[0].months] == [
        (3, ["Taji", "Early March"]), (2, ["February"])]


def test_drafts_are_skipped_unless_enabled() -> None:
    docs = (doc("content/a.md", "Published", "2020-01-01", actors=names(["A"])),
            doc("content/d.md", "Draft", "2020-01-02", actors=names(["Only in draft", "A"]),
                draft="true"))
    site, _ = site_of(*docs)
    assert [r.title for r in site.reports] == ["Published"]
    assert [t.name for t in site.actors] == ["A"]
    assert [len(t.reports) for t in site.actors] == [1]
    site, _ = site_of(*docs, drafts=True)
    assert [r.title for r in site.reports] == ["Draft", "Published"]
    assert [t.name for t in site.actors] == ["A", "Only in draft"]


def test_report_urls_from_slug_or_title_and_permalink() -> None:
    site, _ = site_of(
        doc("content/a.md", "Rocket attack on Camp Taji", "2020-03-11", actors=names(["A"])),
        doc("content/b.md", "Whatever", "2020-03-13", slug="'US and UK strikes'",
            actors=names(["A"])),
    )
    assert urls(site.reports) == ["reports/2020/us-and-uk-strikes/",
                                  "reports/2020/rocket-attack-on-camp-taji/"]
    site, _ = site_of(doc("content/a.md", "Taji", "2020-03-01T01:30:00+03:00",
                          actors=names(["A"])), permalink="{year}/{month}/{day}/{slug}/")
    assert urls(site.reports) == ["2020/03/01/taji/"]


def test_two_reports_with_the_same_url_name_both_files() -> None:
    _, diags = site_of(
        doc("content/2020/a.md", "Camp Taji", "2020-03-11", actors=names(["A"])),
        doc("content/2020/b.md", "Camp  Taji!", "2020-06-01", actors=names(["A"])),
    )
    assert diags == [
        "content/2020/b.md:2:8: error[model.url-collision]: this report and content/2020/a.md "
        "would both be published at /reports/2020/camp-taji/; give one of them a different "
        "'slug:'"]


def test_untagged_report_warns() -> None:
    _, diags = site_of(doc("content/a.md", "Lonely", "2020-01-01"))
    assert diags == ["content/a.md:2:8: warning[model.untagged]: report lists no actors and "
                     "no locations"]


def test_arabic_name_gets_its_own_term() -> None:
    site, _ = site_of(doc("content/a.md", "A", "2020-01-01",
                          actors=names(["كتائب حزب الله", "Kataib Hezbollah"])))
    assert sorted((t.slug, t.name) for t in site.actors) == [
        ("kataib-hezbollah", "Kataib Hezbollah"), ("كتائب-حزب-الله", "كتائب حزب الله")]


def test_extra_front_matter_reaches_the_report() -> None:
    site, _ = site_of(doc("content/a.md", "A", "2020-01-01", actors=names(["A"]),
                          foo="bar"))
    assert dict(site.reports[0].extra) == {"foo": "bar"}


def test_model_is_frozen() -> None:
    site, _ = site_of(doc("content/a.md", "A", "2020-01-01", actors=names(["A"])))
    with pytest.raises(dataclasses.FrozenInstanceError):
        site.reports[0].title = "B"  # type: ignore[misc]
    assert isinstance(site.reports, tuple) and isinstance(site.actors, tuple)
    assert isinstance(site.actors[0].reports, tuple)
