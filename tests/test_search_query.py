"""Searching a built index (sitegen.search.query): syntax, filters, facets, paging,
suggestions, excerpts, limits and hostile input."""


from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from factories import make_report, make_term
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sitegen.search import query as query_module
from sitegen.search.analysis import analyze
from sitegen.search.index import build_index
from sitegen.search.query import (
    MAX_PAGE_SIZE,
    Excerpt,
    HitTerm,
    SearchIndex,
    SearchRequest,
    SearchResults,
    make_excerpt,
    search,
)

# --- the corpus -------------------------------------------------------------------------


KH = "Kata'ib Hezbollah"
HALAB = "Ḥalab"
H1 = "reports/2021/halab-strikes/"
H2 = "reports/2020/mosul-ambush/"
H3 = "reports/2019/baghdad-protest/"
H4 = "reports/2021/halab-shelling/"
H5 = "reports/2022/erbil-drone/"
FILLERS = [f"reports/2018/ceasefire-{i:02d}/" for i in range(1, 26)]

REPORTS = [
    make_report(H1, "Air strikes on Ḥalab", "2021-03-04T10:00:00+03:00",
                body="Évacuations of civilians began after the strikes near the airport. "
                     "Kata'ib Hezbollah denied any involvement.",
                summary="Several air strikes hit the city.", actors=(KH,), locations=(HALAB,),
                source="Reuters", tags=("Airstrike",)),
    make_report(H2, "Convoy ambush near Mosul", "2020-06-01",
                body="An ambush on a supply convoy. The evacuation of the wounded was ordered.",
                actors=(KH, "Islamic State"), locations=("Mosul",), source="AFP"),
    make_report(H3, "Protest in Baghdad", "2019-11-20",
                body="Protesters gathered in Tahrir Square. Security forces used tear gas "
                     "against <script>alert(1)</script> the crowd & others.",
                actors=("Iraqi Security Forces",), locations=("Baghdad",), source="Reuters",
                tags=("Protest",)),
    # Local date 2021-12-31, but 2022-01-01T04:30Z: newer than H5.
    make_report(H4, "Shelling in Halab", "2021-12-31T23:30:00-05:00",
                body="An artillery strike hit a market in Halab; the strike killed three.",
                actors=("Syrian Arab Army",), locations=(HALAB,), source="Local media"),
    make_report(H5, "Drone attack on Erbil airport", "2022-01-01T01:00:00+00:00",
                body="A drone strike targeted the airport. Kata'ib Hezbollah was blamed.",
                actors=(KH,), locations=("Erbil",), tags=("Drone", "Airstrike")),
    *(make_report(url, f"Ceasefire monitoring {i}", f"2018-01-{i:02d}",
                  body=f"Ceasefire monitoring report number {i}.", actors=("UN Monitors",),
                  locations=("Idlib",), source="UN")
      for i, url in enumerate(FILLERS, start=1)),
]
BY_URL = {r.url: r for r in REPORTS}
ALL = len(REPORTS)
TERMS = [
    make_term("actor", KH, "Kataib Hezbollah", "Hizballah Brigades", "KH"),
    make_term("actor", "Islamic State", "ISIS"), make_term("actor", "Iraqi Security Forces"),
    make_term("actor", "Syrian Arab Army"), make_term("actor", "UN Monitors"),
    make_term("location", HALAB, "Halab", "Aleppo"), make_term("location", "Mosul"),
    make_term("location", "Baghdad"), make_term("location", "Erbil"),
    make_term("location", "Idlib"),
]
NEWEST_FIRST = sorted(BY_URL, key=lambda u: BY_URL[u].date, reverse=True)


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("search") / "_search"
    stats = build_index(REPORTS, TERMS, dest)
    assert stats.diagnostics == ()
    return dest


@pytest.fixture(scope="module")
def ix(index_dir: Path) -> SearchIndex:
    return SearchIndex(index_dir)


def run(ix: SearchIndex, q: str = "", **kw: object) -> SearchResults:
    kw.setdefault("page_size", MAX_PAGE_SIZE)
    return ix.search(SearchRequest(q=q, **kw))  # type: ignore[arg-type]


def urls(results: SearchResults) -> set[str]:
    return {h.url for h in results.hits}


def expected_facets(matching: Iterable[str], kind: str) -> tuple[tuple[str, str, int], ...]:
    """Facet rows computed from the corpus, independently of the index."""
    counts: Counter[tuple[str, str]] = Counter()
    for url in matching:
        report = BY_URL[url]
        for r in report.actors if kind == "actor" else report.locations:
            counts[(r.name, r.slug)] += 1
    return tuple(sorted(((n, s, c) for (n, s), c in counts.items()),
                        key=lambda row: (-row[2], row[0].casefold(), row[1])))


# --- words, stems, accents, phrases -----------------------------------------------------


@pytest.mark.parametrize(("q", "expected"), [
    ("strike", {H1, H4, H5}),
    ("strikes", {H1, H4, H5}),
    ("STRIKING", {H1, H4, H5}),
    ("struck", set()),  # Porter does not know irregular forms
    ("Évacuation", {H1, H2}),
    ("evacuations", {H1, H2}),
    ("EVACUATIONS", {H1, H2}),
    ("Halab", {H1, H4}),
    ("Ḥalab", {H1, H4}),
    ("aleppo", {H1, H4}),  # a spelling of the location, indexed with the names
    ("hezbollah", {H1, H2, H5}),
    ("Kataib", {H1, H2, H5}),
    ("Kata'ib", {H1, H2, H5}),
    ("Kata’ib Hezbollah", {H1, H2, H5}),
    ("hizballah", {H1, H2, H5}),
    ("strike airport", {H1, H5}),
    ("strike OR protest", {H1, H3, H4, H5}),
    ("strike NOT airport", {H4}),
    ('"supply convoy"', {H2}),
    ('"convoy supply"', set()),
    ('"evacuation of the wounded"', {H2}),  # stop words inside a phrase
    ('"Kataib Hezbollah denied"', {H1}),
    ("airstrike", {H1, H5}),  # tags are words too
    ("reuters", {H1, H3}),  # and sources
    ("title:ambush", {H2}),
    ("body:ambush", {H2}),
    ("title:airport", {H5}),
    ("evac*", {H1, H2}),
])
def test_text_queries(ix: SearchIndex, q: str, expected: set[str]) -> None:
    results = run(ix, q)
    assert urls(results) == expected
    assert results.total == len(expected)
    assert results.message is None


def test_title_boost_puts_title_matches_first(ix: SearchIndex) -> None:
    results = run(ix, "airport")
    assert [h.url for h in results.hits] == [H5, H1]
    assert results.hits[0].score is not None
    assert results.hits[0].score > results.hits[1].score  # type: ignore[operator]


# --- actor:/location: syntax and structured filters --------------------------------------


@pytest.mark.parametrize("q", [
    f'actor:"{KH}"', 'actor:"Kataib Hezbollah"', "actor:kataib-hezbollah",
    'actors:"KATAIB HEZBOLLAH"', 'actor:"Hizballah Brigades"', "actor:KH",
    'actor:"Kata’ib Hezbollah"',
])
def test_actor_field_syntax_accepts_any_spelling(ix: SearchIndex, q: str) -> None:
    results = run(ix, q)
    assert urls(results) == {H1, H2, H5}
    assert results.message is None


@pytest.mark.parametrize(("q", "expected"), [
    ("actor:hezbollah", set()),  # exact: a word of the name is not the name
    ('location:"Halab"', {H1, H4}),
    ("location:Ḥalab", {H1, H4}),
    ("place:aleppo", {H1, H4}),
    ('actor:"Islamic State" location:mosul', {H2}),
    ("tags:airstrike", {H1, H5}),
    ("tag:AIRSTRIKE", {H1, H5}),
    ("strike actor:kh", {H1, H5}),
])
def test_exact_field_syntax(ix: SearchIndex, q: str, expected: set[str]) -> None:
    assert urls(run(ix, q)) == expected


@pytest.mark.parametrize("spelling", [KH, "Kataib Hezbollah", "kataib-hezbollah", "KH",
                                      "Hizballah Brigades", "  kataib hezbollah "])
def test_actor_filter_accepts_any_spelling(ix: SearchIndex, spelling: str) -> None:
    results = run(ix, actors=(spelling,))
    assert urls(results) == {H1, H2, H5}
    assert results.suggestion is None and results.message is None
    assert urls(run(ix, "strike", actors=(spelling,))) == {H1, H5}


def test_filters_combine(ix: SearchIndex) -> None:
    assert urls(run(ix, actors=(KH, "ISIS"))) == {H2}  # several actors: all of them
    assert urls(run(ix, locations=("Halab",))) == {H1, H4}
    assert urls(run(ix, locations=("Ḥalab",), actors=("Syrian Arab Army",))) == {H4}
    assert urls(run(ix, source="reuters")) == {H1, H3}
    assert urls(run(ix, source="Local Media")) == {H4}
    assert urls(run(ix, source="nobody")) == set()


def test_filters_do_not_change_scores(ix: SearchIndex) -> None:
    plain = {h.url: h.score for h in run(ix, "strike").hits}
    filtered = {h.url: h.score for h in run(ix, "strike", actors=("KH",)).hits}
    assert filtered == {u: plain[u] for u in (H1, H5)}


@pytest.mark.parametrize(("since", "until", "expected"), [
    (date(2021, 12, 31), date(2021, 12, 31), {H4}),  # the report's own local date
    (date(2022, 1, 1), None, {H5}),
    (None, date(2018, 1, 3), set(FILLERS[:3])),
    (date(2019, 1, 1), date(2021, 12, 31), {H1, H2, H3, H4}),
    (date(2023, 1, 1), None, set()),
])
def test_since_until(ix: SearchIndex, since: date | None, until: date | None,
                     expected: set[str]) -> None:
    results = run(ix, since=since, until=until)
    assert urls(results) == expected
    assert results.total == len(expected)


def test_since_after_until_is_swapped(ix: SearchIndex) -> None:
    results = run(ix, since=date(2021, 12, 31), until=date(2019, 1, 1))
    assert urls(results) == {H1, H2, H3, H4}
    assert results.message == "The start date was after the end date; they were swapped."


@pytest.mark.parametrize(("q", "expected"), [
    ("date:[2020 TO 2021]", {H1, H2, H4}),
    ("date:{2020 TO 2021}", {H1, H2, H4}),  # Whoosh treats exclusive bounds as inclusive
    ("date:2021", {H1, H4}),
    ("date:2021-12", {H4}),
    ("date:2021-12-31", {H4}),
    ("date:[2021-12-31 TO 2022-01-01]", {H4, H5}),
    ("date:[2022 TO]", {H5}),
    ("date:[TO 2018-01-02]", set(FILLERS[:2])),
    ("strike date:[2021 TO 2021]", {H1, H4}),
])
def test_date_syntax(ix: SearchIndex, q: str, expected: set[str]) -> None:
    results = run(ix, q)
    assert urls(results) == expected
    assert results.message is None


# --- facets, sorting, paging ------------------------------------------------------------


@pytest.mark.parametrize(("q", "kw", "matching"), [
    ("strike", {}, {H1, H4, H5}),
    ("", {}, set(BY_URL)),
    ("", {"actors": ("KH",)}, {H1, H2, H5}),
    ("ceasefire", {"page_size": 3}, set(FILLERS)),  # counts cover all pages
    ("evacuation OR drone", {}, {H1, H2, H5}),
])
def test_facets_count_every_matching_report(ix: SearchIndex, q: str, kw: dict[str, object],
                                            matching: set[str]) -> None:
    results = ix.search(SearchRequest(q=q, **kw))  # type: ignore[arg-type]
    assert results.total == len(matching)
    assert results.facets["actors"] == expected_facets(matching, "actor")
    assert results.facets["locations"] == expected_facets(matching, "location")


def test_facet_counts_are_what_kh_reports_say(ix: SearchIndex) -> None:
    facets = run(ix, "strike OR ambush").facets
    assert facets["actors"] == ((KH, "kataib-hezbollah", 3), ("Islamic State", "islamic-state", 1),
                                ("Syrian Arab Army", "syrian-arab-army", 1))
    assert facets["locations"] == ((HALAB, "halab", 2), ("Erbil", "erbil", 1),
                                   ("Mosul", "mosul", 1))


def test_facet_limit(ix: SearchIndex) -> None:
    results = run(ix, "", facet_limit=2)
    assert results.facets["actors"] == (("UN Monitors", "un-monitors", 25),
                                        (KH, "kataib-hezbollah", 3))
    assert run(ix, "", facet_limit=0).facets == {"actors": (), "locations": ()}


def test_sort_by_date_is_newest_first_across_offsets(ix: SearchIndex) -> None:
    results = run(ix, "strike", sort="date")
    assert [h.url for h in results.hits] == [H4, H5, H1]
    assert [h.score for h in results.hits] == [None, None, None]


def test_no_text_lists_newest_first(ix: SearchIndex) -> None:
    assert [h.url for h in run(ix).hits] == NEWEST_FIRST


def test_paging(ix: SearchIndex) -> None:
    pages = [ix.search(SearchRequest(actors=("UN Monitors",), page=p, page_size=10))
             for p in (1, 2, 3, 4)]
    assert [len(p.hits) for p in pages] == [10, 10, 5, 0]
    assert {p.total for p in pages} == {25}
    assert [p.pages for p in pages] == [3, 3, 3, 3]
    seen = [h.url for p in pages for h in p.hits]
    assert seen == sorted(FILLERS, reverse=True)


def test_paging_relevance_is_stable(ix: SearchIndex) -> None:
    whole = [h.url for h in run(ix, "ceasefire monitoring").hits]
    parts = [h.url for p in (1, 2, 3)
             for h in ix.search(SearchRequest(q="ceasefire monitoring", page=p,
                                              page_size=9)).hits]
    assert parts == whole
    assert len(whole) == 25


@pytest.mark.parametrize(("kw", "page", "size", "message"), [
    ({"page": 0}, 1, 10, "Page numbers go from 1 to 10000; showing page 1."),
    ({"page": -5}, 1, 10, "Page numbers go from 1 to 10000; showing page 1."),
    ({"page": 10**9}, 10_000, 10, "Page numbers go from 1 to 10000; showing page 10000."),
    ({"page_size": 1000}, 1, 100,
     "Results per page must be between 1 and 100; showing 100."),
    ({"page_size": 0}, 1, 1, "Results per page must be between 1 and 100; showing 1."),
    ({"sort": "random"}, 1, 10, "Unknown sort order 'random'; sorting by relevance."),
])
def test_limits(ix: SearchIndex, kw: dict[str, object], page: int, size: int,
                message: str) -> None:
    results = ix.search(SearchRequest(**kw))  # type: ignore[arg-type]
    assert (results.page, results.page_size, results.message) == (page, size, message)
    assert results.total == ALL
    assert len(results.hits) == max(0, min(size, ALL - (page - 1) * size))


# --- hits, excerpts, JSON ---------------------------------------------------------------


def test_hit_fields(ix: SearchIndex) -> None:
    (hit,) = run(ix, "ambush").hits
    assert hit.url == H2
    assert hit.title == "Convoy ambush near Mosul"
    assert hit.date == date(2020, 6, 1) and not isinstance(hit.date, datetime)
    assert hit.actors == (HitTerm("kataib-hezbollah", KH, "actors/kataib-hezbollah/"),
                          HitTerm("islamic-state", "Islamic State", "actors/islamic-state/"))
    assert hit.locations == (HitTerm("mosul", "Mosul", "locations/mosul/"),)
    assert hit.excerpt == Excerpt(
        "An <mark>ambush</mark> on a supply convoy. The evacuation of the wounded was ordered.",
        "An ambush on a supply convoy. The evacuation of the wounded was ordered.")
    (timed,) = run(ix, "artillery").hits
    assert timed.date == datetime(2021, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-5)))


def test_excerpt_is_safe_html(ix: SearchIndex) -> None:
    (hit,) = run(ix, "script").hits
    assert hit.excerpt.html == (
        "Protesters gathered in Tahrir Square. Security forces used tear gas against "
        "&lt;<mark>script</mark>&gt;alert(1)&lt;/<mark>script</mark>&gt; the "
        "crowd &amp; others.")
    assert re.sub(r"</?mark>", "", hit.excerpt.html).count("<") == 0
    assert "<script>" in hit.excerpt.text


def test_excerpt_marks_stemmed_and_folded_matches() -> None:
    body = "Before. " + "filler " * 60 + "The Évacuations started; evacuation went on. " + \
        "filler " * 60 + "End."
    ex = make_excerpt(body, "Summary.", frozenset(analyze("evacuation")))
    assert ex.html.count("<mark>") == 2
    assert "<mark>Évacuations</mark>" in ex.html and "<mark>evacuation</mark>" in ex.html
    assert ex.text.startswith("… ") and ex.text.endswith(" …")
    assert len(ex.text) <= 240 + 4
    assert make_excerpt("Body text.", "The summary.", frozenset()) == Excerpt(
        "The summary.", "The summary.")
    assert make_excerpt("", "", frozenset({"x"})) == Excerpt("", "")
    assert make_excerpt("a < b", "", frozenset()) == Excerpt("a &lt; b", "a < b")


def test_as_dict_shape(ix: SearchIndex) -> None:
    results = ix.search(SearchRequest(q="ambush"))
    (hit,) = results.hits
    assert results.as_dict() == {
        "query": "ambush",
        "total": 1,
        "hits": [{
            "url": H2, "title": "Convoy ambush near Mosul", "date": "2020-06-01",
            "summary": "", "actors": [KH, "Islamic State"], "locations": ["Mosul"],
            "score": hit.score, "excerpt": hit.excerpt.html,
        }],
        "facets": {"actors": {KH: 1, "Islamic State": 1}, "locations": {"Mosul": 1}},
        "suggestion": None,
    }
    assert json.loads(results.to_json()) == results.as_dict()
    timed = ix.search(SearchRequest(q="artillery")).as_dict()
    assert timed["hits"][0]["date"] == "2021-12-31T23:30:00-05:00"


# --- did you mean -----------------------------------------------------------------------


@pytest.mark.parametrize(("q", "suggestion"), [
    ("strkes", "strikes"),
    ("ambsh", "ambush"),
    ("convoy ambsh", "convoy ambush"),
    ("Evacuatoin", "evacuation"),
    ('"suply convoy"', '"supply convoy"'),
    ("hezbolah", "hezbollah"),
    ('actor:"Kataib Hezbolah"', f'actor:"{KH}"'),
    ("actor:hezbolah", None),  # too far from any actor name
    ("zzzzzz", None),
])
def test_suggestion_for_misspelled_words(ix: SearchIndex, q: str, suggestion: str | None
                                         ) -> None:
    results = run(ix, q)
    assert results.total == 0
    assert results.suggestion == suggestion
    if suggestion is not None:
        assert results.suggested_request is not None
        assert results.suggested_request.q == suggestion
        assert run(ix, suggestion).total > 0


def test_no_suggestion_when_there_are_hits(ix: SearchIndex) -> None:
    assert run(ix, "strike").suggestion is None


def test_suggestion_for_misspelled_actor_filter(ix: SearchIndex) -> None:
    results = run(ix, "strike", actors=("Kataib Hezbolah",))
    assert results.total == 0
    assert results.suggestion == KH
    assert results.message == f"No actor is called “Kataib Hezbolah”; did you mean “{KH}”?"
    assert results.suggested_request is not None
    assert results.suggested_request.actors == (KH,)
    assert results.suggested_request.q == "strike"
    assert urls(ix.search(results.suggested_request)) == {H1, H5}


def test_unknown_location_filter_without_suggestion(ix: SearchIndex) -> None:
    results = run(ix, locations=("Timbuktu",))
    assert (results.total, results.suggestion) == (0, None)
    assert results.message == "No location is called “Timbuktu”."


def test_unknown_names_in_the_query_text_are_said(ix: SearchIndex) -> None:
    """``actor:`` and ``location:`` in the query text name no known term: the message says
    so, as for the filters, with the closest known name when there is one."""
    results = run(ix, "actor:nobody")
    assert results.total == 0
    assert results.message == "No actor is called “nobody”."
    results = run(ix, 'strike location:"Halb"')
    assert results.total == 0
    assert results.message == f"No location is called “halb”; did you mean location:\"{HALAB}\"?"
    assert run(ix, f'strike location:"{HALAB}"').total > 0
    assert run(ix, "strike NOT actor:nobody").message is None  # hits: nothing to say


def test_misspelled_word_and_actor_together(ix: SearchIndex) -> None:
    results = run(ix, "strkes", locations=("Halb",))
    assert results.suggested_request is not None
    assert (results.suggested_request.q, results.suggested_request.locations) == (
        "strikes", (HALAB,))
    assert results.suggestion == "strikes"


# --- hostile input ----------------------------------------------------------------------

NO_WORDS = ("The query has no searchable words (very common words such as “the”, and words "
            "over 64 letters, are not indexed).")
RANGE_IGNORED = ("A range in the query could not be understood and was ignored (write dates "
                 "as date:2021, date:2021-03-04 or date:[2020 TO 2021]).")
VALUE_IGNORED = ("Part of the query could not be understood and was ignored (write dates as "
                 "date:2021, date:2021-03-04 or date:[2020 TO 2021]).")
CUT = "The query was cut to its first 500 characters."


@pytest.mark.parametrize(("q", "total", "message"), [
    ('"supply convoy', 1, None),  # unbalanced quote
    ('supply convoy"', 1, None),
    ("actor:", 0, None),  # a lone field name is a word
    ("title:", 0, None),
    ("date:", 0, None),
    (":", 0, NO_WORDS),
    ("a:b:c:d", 0, NO_WORDS),
    ("x" * 10_000, 0, f"{CUT} {NO_WORDS}"),
    ("strike " + "y" * 600, 3, CUT),  # the cut word is too long to be indexed anyway
    ("strike\x00\x01\x7f", 3, None),  # control characters and NUL
    ("\x00", ALL, None),
    ("\ud800strike\udfff", 3, None),  # lone surrogates
    ("*", ALL, None),
    ("* * *", ALL, None),
    ("*:*", ALL, None),
    ("AND OR NOT", 0, NO_WORDS),
    ("AND", 0, NO_WORDS),
    ("strike AND", 3, None),
    ("OR strike", 3, None),
    ("strike NOT", 3, None),
    ("NOT strike", ALL - 3, None),
    ("(strike", 3, None),
    ("strike)", 3, None),
    ("[strike", 3, None),
    ("strike]", 3, None),
    ("{strike}", 3, None),
    ("title:(", 0, None),
    ("((((((((((strike))))))))))", 3, None),
    ("(" * 300 + "strike", 3, None),
    ("strike^1000", 3, None),
    ("strike^", 3, None),
    ("^", 0, NO_WORDS),
    ("~", 0, NO_WORDS),
    ("strike~", 3, None),
    ("\\", 0, NO_WORDS),
    ("\\\\strike", 3, None),
    ('""', 0, NO_WORDS),
    ('actor:""', 0, NO_WORDS),
    ("'", 0, NO_WORDS),
    ("''", 0, NO_WORDS),
    ("\u202e", 0, NO_WORDS),  # right-to-left override
    ("\ufeff", 0, NO_WORDS),
    ("\u0301", 0, NO_WORDS),  # a lone combining accent
    ("🙂", 0, NO_WORDS),
    ("حلب", 0, None),
    ("ＳＴＲＩＫＥ", 3, None),  # full-width letters
    ("url:reports", 0, None),  # internal fields are not searchable by name
    ("spell:strikes", 0, None),
    ("a" * 65, 0, NO_WORDS),
    ("date:[", 0, VALUE_IGNORED),
    ("date:[TO]", ALL, None),
    ("date:[2020 TO", 0, VALUE_IGNORED),
    ("date:[2021 TO 2020]", 0, None),
    ("date:2021-13", 0, VALUE_IGNORED),
    ("date:2021-13 ambush", 1, VALUE_IGNORED),
    ("date:[2020-01-01T10 TO 2021]", 0, RANGE_IGNORED),  # a time part raises in Whoosh
    ("strike date:[2020-01-01T10 TO 2021]", 3, RANGE_IGNORED),
    ("date:[1 TO 9999999999]", 0, RANGE_IGNORED),
    ("date:[a TO b]", 0, RANGE_IGNORED),
    ("date:>2021", 0, VALUE_IGNORED),
    ("<script>alert(1)</script>", 1, None),
    ("&amp;", 0, None),
    ("actor:(kh)", 3, None),
    ("?", 0, None),
])
def test_hostile_queries(ix: SearchIndex, q: str, total: int, message: str | None) -> None:
    results = run(ix, q)
    assert (results.total, results.message) == (total, message)
    assert len(results.hits) == min(total, MAX_PAGE_SIZE)
    json.dumps(results.as_dict())


def test_huge_wildcards_are_bounded(ix: SearchIndex, monkeypatch: pytest.MonkeyPatch) -> None:
    full = run(ix, "a*")
    text_terms = {url: set(analyze(" ".join([
        r.title, r.summary, r.body.text, r.source_name or "", " ".join(r.tags),
        *(t.name for t in r.terms)]))) for url, r in BY_URL.items()}
    assert urls(full) == {u for u, ts in text_terms.items() if any(t.startswith("a") for t in ts)}
    assert full.message is None
    monkeypatch.setattr(query_module, "MAX_EXPANSIONS", 2)
    bounded = run(ix, "a*")
    assert bounded.message is not None
    assert bounded.message.endswith("only the 2 most frequent were searched.")
    assert urls(bounded) < urls(full)


@given(st.text(max_size=120))
@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_text_returns_cleanly(ix: SearchIndex, q: str) -> None:
    results = ix.search(SearchRequest(q=q))
    assert 0 <= len(results.hits) <= results.page_size
    assert results.total >= len(results.hits)
    assert len(results.query) <= 500
    assert not re.search(r"[\x00-\x1f]", results.query)
    for hit in results.hits:
        assert "<" not in re.sub(r"</?mark>", "", hit.excerpt.html)
    json.dumps(results.as_dict())


@given(st.lists(st.text(max_size=30), max_size=3), st.text(max_size=30))
@settings(max_examples=50, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_filters_return_cleanly(ix: SearchIndex, actors: list[str], source: str) -> None:
    results = ix.search(SearchRequest(actors=tuple(actors), locations=tuple(actors),
                                      source=source))
    assert results.total >= len(results.hits)


# --- the index handle -------------------------------------------------------------------


def test_missing_index(tmp_path: Path) -> None:
    results = search(tmp_path / "nothing", SearchRequest(q="strike"))
    assert (results.total, results.hits, results.message) == (
        0, (), "The search index is not available.")
    assert SearchIndex(tmp_path / "nothing").names("actor") == {}


def test_search_index_helpers(ix: SearchIndex) -> None:
    assert ix.doc_count() == ALL
    assert ix.names("location")["halab"] == HALAB
    entry = ix.resolve("actor", "Hizballah Brigades")
    assert entry is not None and entry.slug == "kataib-hezbollah"


def test_reopens_after_the_folder_is_swapped(tmp_path: Path) -> None:
    live = tmp_path / "output" / "_search"
    live.parent.mkdir()
    build_index(REPORTS[:2], TERMS, live)
    handle = SearchIndex(live)
    assert urls(run(handle, "strike")) == {H1}
    # A rebuild writes a new folder and renames it into place, as output.py does.
    staged = tmp_path / "staging" / "_search"
    staged.parent.mkdir()
    build_index(REPORTS, TERMS, staged)
    (tmp_path / "output").rename(tmp_path / "output.old")
    (tmp_path / "staging").rename(tmp_path / "output")
    assert urls(run(handle, "strike")) == {H1, H4, H5}
    assert handle.doc_count() == ALL


def test_corrupt_index_is_not_available(tmp_path: Path) -> None:
    build_index(REPORTS[:1], TERMS, tmp_path / "ix")
    (tmp_path / "ix" / "_MAIN_1.toc").write_bytes(b"\x00garbage")
    results = search(tmp_path / "ix", SearchRequest(q="strike"))
    assert (results.total, results.message) == (0, "The search index is not available.")


def test_words_close_together_rank_first(tmp_path: Path) -> None:
    far = make_report("r/far/", "Convoy attacked", "2021-01-01",
                      body="A convoy was attacked. " + "Nothing else happened. " * 20
                      + "Later the airport reopened.")
    near = make_report("r/near/", "Road report", "2021-01-02",
                       body="Traffic on the road: the convoy reached the airport at noon.")
    build_index([far, near], [], tmp_path / "ix")
    ranked = [h.url for h in search(tmp_path / "ix", SearchRequest(q="convoy airport")).hits]
    assert ranked == ["r/near/", "r/far/"]
    # Without the proximity clause the title match would win.
    assert [h.url for h in search(tmp_path / "ix", SearchRequest(q="convoy OR airport")).hits
            ] == ["r/far/", "r/near/"]


@settings(max_examples=300, deadline=None)
@given(word=st.text(alphabet="abck-é", max_size=9),
       candidates=st.lists(st.text(alphabet="abck-é", max_size=9), max_size=12),
       limit=st.integers(min_value=0, max_value=4))
def test_close_spellings_are_those_within_the_limit_by_whooshs_distance(
        word: str, candidates: list[str], limit: int) -> None:
    """rapidfuzz's cut-off distance finds exactly the candidates Whoosh's
    damerau_levenshtein (optimal string alignment) puts within ``limit``, at that distance."""
    from whoosh.support.levenshtein import damerau_levenshtein

    from sitegen.search.query import close_spellings

    found = sorted(close_spellings(word, candidates, limit))
    expected = sorted((c, damerau_levenshtein(word, c)) for c in candidates
                      if damerau_levenshtein(word, c) <= limit)
    assert found == expected


def test_an_unknown_name_among_thousands_is_suggested(tmp_path: Path) -> None:
    """The nearest known spelling wins among many (a swap of two letters counts one edit)."""
    from sitegen.search.index import TermEntry, TermMap
    from sitegen.search.query import closest_term

    actors = {f"militia-{i:05d}": TermEntry(f"militia-{i:05d}", f"Militia {i:05d}")
              for i in range(20_000)}
    actors["kataib-hezbollah"] = TermEntry("kataib-hezbollah", "Kataib Hezbollah")
    terms = TermMap(actor=actors, location={})
    assert closest_term(terms, "actor", "Katiab Hezbollah") == "Kataib Hezbollah"
    assert closest_term(terms, "actor", "Militia 12345x") == "Militia 12345"
    assert closest_term(terms, "actor", "Somebody Else Entirely") is None
