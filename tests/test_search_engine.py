"""The array engine (sitegen.search.engine) answers exactly as Whoosh's own collector.

Every query below is run twice on the same multi-segment index: through the engine, and with
``USE_ENGINE`` off, through Whoosh's collector (the path every query took before the
engine). The full results must be equal: totals, hits in order, scores, excerpts, facets,
suggestions and messages.
"""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path

import pytest
from factories import make_report, make_term
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sitegen.search import engine as engine_module
from sitegen.search import index as search_index
from sitegen.search import query as query_module
from sitegen.search.index import doc_keys, update_index
from sitegen.search.query import SearchIndex, SearchRequest

WORDS = ["strike", "strikes", "convoy", "ambush", "airport", "drone", "civilians", "market",
         "shelling", "ceasefire", "protest", "militia", "rocket", "attack", "base", "border",
         "évacuation", "evacuations", "réfugiés", "Kata'ib", "al-Qa'im", "the", "of", "on",
         "north", "near", "killed", "wounded", "fighters", "government"]
ACTORS = ["Kata'ib Hezbollah", "CENTCOM", "Islamic State", "Syrian Arab Army", "UN Monitors",
          "Ḥayʼat Taḥrīr al-Shām", "Peshmerga"]
PLACES = ["Karbala", "Camp Taji", "Anbar", "Ḥalab", "Mosul", "Erbil", "Baghdad", "Deir ez-Zor"]
SOURCES = ["Reuters", "AFP", "UN", None]


def corpus(seed: int = 7, n: int = 90) -> list:
    rng = random.Random(seed)
    reports = []
    for i in range(n):
        def text(k: int) -> str:
            return " ".join(rng.choice(WORDS) for _ in range(k))
        # Few distinct dates and lengths: many equal scores, so the tie order is exercised.
        when = date(2019 + i % 4, 1 + i % 12, 1 + (i * 7) % 28).isoformat()
        reports.append(make_report(
            f"reports/{i:03d}/", text(rng.randint(1, 4)).capitalize() or "Report", when,
            body=text(rng.choice([5, 5, 12, 40])) + ".", summary=text(rng.randint(0, 8)),
            actors=tuple(rng.sample(ACTORS, rng.randint(0, 3))),
            locations=tuple(rng.sample(PLACES, rng.randint(0, 2))),
            source=rng.choice(SOURCES), tags=tuple(rng.sample(["Airstrike", "Drone"],
                                                              rng.randint(0, 1)))))
    return reports


TERMS = [make_term("actor", "Kata'ib Hezbollah", "Kataib Hezbollah", "KH"),
         *(make_term("actor", a) for a in ACTORS[1:]),
         make_term("location", "Ḥalab", "Aleppo"), *(make_term("location", p) for p in PLACES[1:])]


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The corpus in several segments (as an incremental build leaves it), two commits."""
    root = tmp_path_factory.mktemp("engine")
    reports = corpus()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(search_index, "MIN_CHUNK", 16)
        first = reports[:70]
        update_index(first, TERMS, doc_keys(first, TERMS, {r.url: r.url.encode() for r in first}),
                     root / "cache", root / "out1")
        update_index(reports, TERMS, doc_keys(reports, TERMS, {r.url: r.url.encode() for r in reports}),
                     root / "cache", root / "out")
    assert len(list((root / "out").glob("*.seg"))) + len(
        list((root / "out").glob("_MAIN_*.toc"))) >= 1
    return root / "out"


def both(index_dir: Path, request: SearchRequest,
         monkeypatch: pytest.MonkeyPatch) -> tuple[dict, dict, bool]:
    """(engine answer, Whoosh answer, whether the engine answered) for one request."""
    used: list[bool] = []
    run = engine_module.Engine.run

    def spy(self, *args, **kwargs):
        answer = run(self, *args, **kwargs)
        used.append(answer is not None)
        return answer

    monkeypatch.setattr(engine_module.Engine, "run", spy)
    fast = SearchIndex(index_dir).search(request).as_dict()
    monkeypatch.setattr(query_module, "USE_ENGINE", False)
    slow = SearchIndex(index_dir).search(request).as_dict()
    monkeypatch.setattr(query_module, "USE_ENGINE", True)
    return fast, slow, bool(used) and all(used)


QUERIES = [
    "strike", "strikes", "convoy ambush", "airport drone attack", '"rocket attack"',
    '"near the border"', "evacuation", "évacuations", "refugies", "kataib", "Kata'ib",
    "al-Qa'im", "strike OR convoy", "strike AND NOT convoy", "strike -convoy",
    "title:strike", "summary:market", "body:shelling killed", "actor:KH", 'actor:"CENTCOM"',
    "location:Aleppo", "location:halab strike", "tags:airstrike", "source:reuters",
    "(strike OR drone) AND market", "the", "of the", "north near", '"killed wounded"',
    "government fighters militia base", "strike^3 convoy", "attack rocket attack",
    "nothingmatches", "strke", "militai", "date:2020", "date:[2019 TO 2020]", "dro*",
    "*", "", "strike near", '"strike strike"', "kill* wound*",
]
FILTERS = [
    {}, {"actors": ("Kata'ib Hezbollah",)}, {"locations": ("Aleppo",)},
    {"actors": ("CENTCOM", "UN Monitors")}, {"since": date(2020, 1, 1)},
    {"until": date(2020, 6, 30)}, {"since": date(2019, 5, 1), "until": date(2021, 2, 1)},
    {"source": "Reuters"}, {"actors": ("Nobody Known",)},
    {"locations": ("Mosul",), "since": date(2021, 1, 1)},
]


@pytest.mark.parametrize("q", QUERIES)
def test_engine_equals_whoosh_for_each_query(index_dir: Path, q: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    for i, flt in enumerate(FILTERS):
        for sort in ("relevance", "date"):
            request = SearchRequest(q=q, sort=sort, page=1 + i % 3, page_size=7,
                                    facet_limit=50, **flt)
            fast, slow, _ = both(index_dir, request, monkeypatch)
            assert fast == slow, (q, flt, sort)


def test_engine_answers_the_usual_queries(index_dir: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Words, phrases, fields, OR/AND, filters and dates go through the engine (the
    comparison above would pass vacuously if everything fell back to Whoosh)."""
    usual = ["strike", "convoy ambush", '"rocket attack"', "strike OR convoy", "title:strike",
             "actor:KH", "(strike OR drone) AND market", "strike^3 convoy", "", "*"]
    for q in usual:
        for flt in FILTERS:
            _, _, engine_answered = both(index_dir, SearchRequest(q=q, **flt), monkeypatch)
            assert engine_answered, (q, flt)


def test_some_queries_are_left_to_whoosh(index_dir: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A NOT in the text or a date in the query is not evaluated by the engine; the answer
    is still Whoosh's (compared above)."""
    for q in ("strike AND NOT convoy", "date:2020"):
        fast, slow, engine_answered = both(index_dir, SearchRequest(q=q), monkeypatch)
        assert not engine_answered
        assert fast == slow and fast["total"] > 0


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=4),
       quoted=st.booleans(), page=st.integers(1, 4), size=st.integers(1, 30),
       actors=st.lists(st.sampled_from(ACTORS), max_size=2, unique=True),
       sort=st.sampled_from(["relevance", "date"]))
def test_engine_equals_whoosh_on_random_queries(
        index_dir: Path, monkeypatch: pytest.MonkeyPatch, words: list[str], quoted: bool,
        page: int, size: int, actors: list[str], sort: str) -> None:
    q = " ".join(words)
    request = SearchRequest(q=f'"{q}"' if quoted else q, actors=tuple(actors), sort=sort,
                            page=page, page_size=size, facet_limit=100)
    fast, slow, _ = both(index_dir, request, monkeypatch)
    assert fast == slow


def test_the_cache_stays_within_its_budget() -> None:
    cache = engine_module._Cache(100)
    for i in range(50):
        assert cache.get(i, lambda i=i: (i, 30)) == i
    assert cache._bytes <= 100 and len(cache._items) == 3
    assert cache.get(49, lambda: ("recomputed", 30)) == 49  # still cached
    assert cache.get(0, lambda: ("recomputed", 30)) == "recomputed"  # evicted long ago
