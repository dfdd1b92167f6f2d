"""Slugs and the URL scheme (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitegen.slugs import (
    archive_url,
    href,
    output_relpath,
    paged_url,
    report_url,
    slugify_name,
    term_index_url,
    term_url,
)


@pytest.mark.parametrize(("name", "slug"), [
    # The examples, exactly.
    ("Kata'ib Hezbollah", "kataib-hezbollah"),
    ("Kataib Hezbollah", "kataib-hezbollah"),
    ("Ministère des Armées", "ministere-des-armees"),
    # Apostrophe variants, case and spacing do not split a term.
    ("Kata\u2019ib Hezbollah", "kataib-hezbollah"),
    ("Kata\u02bcib Hezbollah", "kataib-hezbollah"),
    ("KATAIB  HEZBOLLAH", "kataib-hezbollah"),
    ("  Kataib Hezbollah  ", "kataib-hezbollah"),
    ("Al-Qa'im", "al-qaim"),
    ("K-1 Air Base", "k-1-air-base"),
    ("Ḥalab", "halab"),
    ("Jurf al-Ṣakhar", "jurf-al-sakhar"),
    ("UK Ministry of Defence", "uk-ministry-of-defence"),
])
def test_slugify_name_examples(name: str, slug: str) -> None:
    assert slugify_name(name) == slug


def test_arabic_script_name_keeps_a_readable_unicode_slug() -> None:
    assert slugify_name("كتائب حزب الله") == "كتائب-حزب-الله"
    assert slugify_name("Зеленский Владимир") == "зеленский-владимир"


def test_name_without_letters_gets_a_stable_hash_slug() -> None:
    slug = slugify_name("???")
    assert slug.startswith("n-") and len(slug) == 12
    assert slugify_name("???") == slug
    assert slugify_name("!!!") != slug


def test_long_names_are_cut() -> None:
    assert len(slugify_name("word " * 100)) <= 80
    assert len(slugify_name("كلمة " * 100)) <= 80


names = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60)
mixed_names = st.one_of(
    names,
    st.lists(st.sampled_from(["Kata'ib", "Hezbollah", "Ministère", "des", "Armées", "كتائب",
                              "حزب", "الله", "..", "/", "-", "'", "Зеленский", "北京", "🚀",
                              " ", "_", "ǅ", "ß", "ΐ"]), max_size=8).map(" ".join),
)


@settings(max_examples=400, deadline=None)
@given(mixed_names)
def test_slug_properties(name: str) -> None:
    slug = slugify_name(name)
    assert slug
    assert "/" not in slug and "\\" not in slug
    assert ".." not in slug
    assert slug not in (".", "..")
    assert slug == slug.strip("-")
    assert slugify_name(slug) == slug  # idempotent on its own output
    assert slugify_name(name) == slug  # deterministic


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0x20000, max_codepoint=0x2A6DF),
               min_size=70, max_size=120))
def test_slug_fits_in_a_file_name(name: str) -> None:
    # 80 characters of a four-byte script would be 320 bytes; file names allow 255.
    slug = slugify_name(name)
    assert 0 < len(slug.encode("utf-8")) <= 200
    assert slugify_name(slug) == slug


def test_url_scheme() -> None:
    assert term_index_url("actor") == "actors/"
    assert term_index_url("location") == "locations/"
    assert term_url("actor", "kataib-hezbollah") == "actors/kataib-hezbollah/"
    assert term_url("location", "iraq") == "locations/iraq/"
    assert archive_url() == "archive/"
    assert archive_url(2020) == "archive/2020/"
    when = datetime(2020, 3, 1, 1, 30, tzinfo=timezone(timedelta(hours=3)))
    assert report_url("reports/{year}/{slug}/", when, "taji") == "reports/2020/taji/"
    assert report_url("{year}/{month}/{day}/{slug}/", when, "taji") == "2020/03/01/taji/"


def test_paged_urls() -> None:
    assert paged_url("", 1) == ""
    assert paged_url("", 2) == "page/2/"
    assert paged_url("actors/kh/", 1) == "actors/kh/"
    assert paged_url("actors/kh/", 3) == "actors/kh/page/3/"


def test_output_relpath() -> None:
    assert output_relpath("") == "index.html"
    assert output_relpath("actors/kh/") == "actors/kh/index.html"
    assert output_relpath("404.html") == "404.html"


def test_href_adds_base_path_and_percent_encodes() -> None:
    assert href("/", "") == "/"
    assert href("/sub/", "actors/kh/") == "/sub/actors/kh/"
    assert href("/", "actors/كتائب/") == "/actors/%D9%83%D8%AA%D8%A7%D8%A6%D8%A8/"
    assert href("/sub/", "https://example.org/x") == "https://example.org/x"
    assert href("/sub/", "#top") == "#top"


def test_slugs_do_not_depend_on_the_unidecode_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """python-slugify prefers Unidecode when installed; sitegen transliterates first, so a
    different transliterator behind slugify cannot change any URL."""
    import importlib

    from sitegen import slugs

    impl = importlib.import_module("slugify.slugify")  # the module, not the function

    names = ["Kata'ib Hezbollah", "Ministère des Armées", "Ḥalab", "Saint-Étienne", "Łódź",
             "Ğazze", "Þórshöfn", "N'Djamena", "Straße"]
    expected = [slugs.slugify_name(n) for n in names]
    slugs.slugify_name.cache_clear()
    monkeypatch.setattr(impl, "_transliterate", lambda text, backend: text.upper() + "-zz")
    assert [slugs.slugify_name(n) for n in names] == expected
    slugs.slugify_name.cache_clear()


@settings(max_examples=500, deadline=None)
@given(st.lists(st.text("abcz0189", min_size=1, max_size=12), min_size=1, max_size=12)
       .map("-".join))
def test_a_name_that_is_already_a_slug_is_its_own_slug(name: str) -> None:
    """slugify_name's shortcut for names that are already slugs gives what the whole
    transliteration gives (and such a name longer than 80 characters takes the long way)."""
    from sitegen.slugs import _slugify

    assert slugify_name(name) == _slugify(name)
