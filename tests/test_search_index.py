"""The search analyzer (sitegen.search.analysis) and index writer (sitegen.search.index)."""


from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from factories import make_report, make_term
from hypothesis import example, given, settings
from hypothesis import strategies as st
from whoosh import index as whoosh_index

from sitegen.diagnostics import Severity
from sitegen.search.analysis import (
    SLUG_SEPARATOR,
    analyze,
    fold,
    iter_terms,
    positions,
    reference_analyzer,
    slug_analyzer,
    stem,
    term_spans,
    text_analyzer,
    words,
)
from sitegen.search.index import (
    INDEX_NAME,
    TERMS_FILE,
    IndexStats,
    TermEntry,
    build_index,
    build_term_map,
    load_spelling,
    load_term_map,
    make_schema,
)

# --- factories --------------------------------------------------------------------------


# --- analysis ---------------------------------------------------------------------------


@pytest.mark.parametrize(("a", "b"), [
    ("Halab", "Ḥalab"),
    ("strikes", "strike"),
    ("Évacuations", "evacuations"),
    ("E\u0301vacuations", "Évacuations"),  # decomposed accent
    ("Kata'ib", "Kataib"),
    ("Kata’ib", "Kataib"),
    ("ʿAyn", "Ayn"),
    ("STRASSE", "Straße"),
    ("Łódź", "Lodz"),
    ("İstanbul", "istanbul"),
    ("حَلَب", "حلب"),  # Arabic vowel marks
    ("أحمد", "احمد"),  # alef with hamza
    ("ＡＢＣ", "abc"),  # full width
])
def test_spellings_meet_on_one_term(a: str, b: str) -> None:
    assert analyze(a) == analyze(b)
    assert len(analyze(a)) == 1


def test_analyze_exact_terms() -> None:
    assert analyze("Évacuations of civilians after the strikes near Ḥalab") == [
        "evacu", "civilian", "after", "strike", "near", "halab"]
    assert analyze("US forces, U.S. troops, May 2021") == [
        "us", "forc", "u.s", "troop", "mai", "2021"]  # Porter: may -> mai
    assert analyze("Kata'ib Hezbollah") == ["kataib", "hezbollah"]
    assert analyze("a I the of to x") == []  # stop words and 1-letter tokens
    assert analyze("b" * 64 + " " + "c" * 65) == ["b" * 64]  # over 64 letters is dropped
    assert analyze("") == []


def test_fold_stem_and_words() -> None:
    assert fold("ḥalab") == "halab"
    assert fold("kata'ib") == "kataib"
    assert fold("plain") == "plain"
    assert stem("strikes") == "strike"
    assert stem("2021") == "2021"
    assert stem("u.s") == "u.s"
    assert stem("حلب") == "حلب"
    assert words("The Évacuations began") == ["evacuations", "began"]


def test_iter_terms_spans() -> None:
    text = "Strikes hit Ḥalab, the city."
    assert [(text[a:b], t) for a, b, t in iter_terms(text)] == [
        ("Strikes", "strike"), ("hit", "hit"), ("Ḥalab", "halab"), ("city", "citi")]


def whoosh_terms(text: str) -> list[str]:
    return [t.text for t in text_analyzer()(text)]


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_analyze_matches_the_whoosh_analyzer(text: str) -> None:
    assert analyze(text) == whoosh_terms(text)
    assert [t for _, _, t in iter_terms(text)] == analyze(text)


@given(st.text(st.characters(max_codepoint=127), max_size=300) | st.text(max_size=300),
       st.lists(st.sampled_from(["strike", "the", "halab", "kataib", "u.s", "citi", "a"]),
                max_size=3))
@settings(max_examples=300, deadline=None)
def test_term_spans_are_the_matching_spans_of_iter_terms(text: str, wanted: list[str]) -> None:
    terms = frozenset(wanted + analyze(text)[:2])
    assert term_spans(text, terms) == [(a, b) for a, b, t in iter_terms(text) if t in terms]


@given(st.text(st.sampled_from(list("ab e\u0301\u00e9.'\u2019`-_1\u0627\u064e")), max_size=60),
       st.sets(st.integers(0, 20), max_size=4))
@example("ab ab.ab ab'ab ab\u2019ab ab", {0})
@example("ab.ab ab ab'", {1})
@example("\u00e9\u0301a ea.\u00e9\u0301a", {0})
@settings(max_examples=500, deadline=None)
def test_term_spans_with_joiners_and_marks_inside_tokens(text: str, picks: set[int]) -> None:
    """Joiners (dots, apostrophes) and combining marks next to the wanted tokens: a token's
    spelling inside a longer token (``ab`` in ``ab.ab`` or ``ab'ab``) is not a match."""
    terms = analyze(text)
    wanted = frozenset(terms[i] for i in picks if i < len(terms))
    assert term_spans(text, wanted) == [(a, b) for a, b, t in iter_terms(text) if t in wanted]


def _tokens(analyzer: Any, text: str, options: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(t.text, getattr(t, "pos", None), getattr(t, "startchar", None),
             getattr(t, "endchar", None), t.stopped, getattr(t, "original", None))
            for t in analyzer(text, **options)]


ANALYZER_OPTIONS = [
    {}, {"positions": True, "chars": True}, {"positions": True, "removestops": False},
    {"tokenize": False}, {"tokenize": False, "removestops": False},
    {"positions": True, "chars": True, "start_pos": 3, "start_char": 5, "keeporiginal": True},
    {"mode": "query", "removestops": False, "positions": True, "chars": True},
]


@given(st.text(max_size=200) | st.lists(st.sampled_from(
    ["the", "a", "Strikes", "Ḥalab", "Kata'ib", "U.S.", "3.5", "x" * 70, "حلب", "of", " ",
     ",", "ÉVACUATIONS", "it's"])).map(" ".join)
       | st.text(st.characters(max_codepoint=127), max_size=200))  # the ASCII fast path
@settings(max_examples=200, deadline=None)
def test_fused_analyzer_matches_the_filter_chain(text: str) -> None:
    """TextAnalyzer is an optimisation of the stock filter chain: same tokens, positions,
    offsets and stop flags under every option Whoosh passes."""
    fused, chain = text_analyzer(), reference_analyzer()
    for options in ANALYZER_OPTIONS:
        assert _tokens(fused, text, options) == _tokens(chain, text, options), options


@given(st.text(max_size=300) | st.lists(st.sampled_from(
    ["the", "a", "Strikes", "Ḥalab", "Kata'ib", "U.S.", "3.5", "x" * 70, "حلب", "of", ",",
     "strike", "it's"])).map(" ".join))
@settings(max_examples=300, deadline=None)
def test_positions_are_the_whoosh_analyzers(text: str) -> None:
    """``positions`` (the bulk segment writer's analysis) groups exactly the terms and
    positions TextAnalyzer gives Whoosh's Positions format when indexing."""
    expected: dict[str, list[int]] = {}
    for t in text_analyzer()(text, positions=True, boosts=True, mode="index"):
        expected.setdefault(t.text, []).append(t.pos)
    assert positions(text) == expected


@given(st.text(max_size=300) | st.lists(st.sampled_from(
    ["the", "a", "Strikes", "Ḥalab", "Kata'ib", "U.S.", "3.5", "x" * 70, "حلب", "of", ",",
     "strike", "it's", "strikes"])).map(" ".join))
@settings(max_examples=300, deadline=None)
def test_postings_are_positions_in_short_form(text: str) -> None:
    """``postings`` (what the bulk writer reads) is ``positions`` with a term found once
    given as its position, and it collects the same words."""
    from sitegen.search.analysis import postings

    found: set[str] = set()
    short = postings(text, found)
    expected_words: set[str] = set()
    assert {term: [p] if isinstance(p, int) else p for term, p in short.items()} == \
        positions(text, expected_words)
    assert found == expected_words
    assert all(isinstance(p, int) or len(p) > 1 for p in short.values())


def test_whoosh_analyzer_positions_and_chars() -> None:
    tokens = [(t.text, t.pos, t.startchar, t.endchar)
              for t in text_analyzer()("The strikes on Ḥalab", positions=True, chars=True)]
    # Stop words are dropped and the following positions closed up ("strikes on Ḥalab" is
    # the phrase "strike halab").
    assert tokens == [("strike", 1, 4, 11), ("halab", 2, 15, 20)]


def test_slug_analyzer() -> None:
    ana = slug_analyzer()
    query = [t.text for t in ana("Kata'ib Hezbollah")]
    assert query == ["kataib-hezbollah"]
    indexed = [t.text for t in ana(SLUG_SEPARATOR.join(["kataib-hezbollah", " ", "halab"]),
                                   mode="index")]
    assert indexed == ["kataib-hezbollah", "halab"]
    assert [t.text for t in ana("")] == []


# --- the term map -----------------------------------------------------------------------


def test_term_map_maps_every_spelling_to_its_term() -> None:
    kh = make_term("actor", "Kata'ib Hezbollah", "Kataib Hezbollah", "Hizballah Brigades", "KH")
    halab = make_term("location", "Ḥalab", "Halab", "Aleppo")
    term_map, diags = build_term_map([], [kh, halab])
    assert diags == []
    entry = TermEntry("kataib-hezbollah", "Kata'ib Hezbollah")
    assert dict(term_map.actor) == {"kataib-hezbollah": entry, "hizballah-brigades": entry,
                                    "kh": entry}
    assert term_map.resolve("actor", "KATAIB HEZBOLLAH") == entry
    assert term_map.resolve("actor", "Hizballah Brigades") == entry
    assert term_map.resolve("actor", "Hezbollah") is None
    assert term_map.resolve("actor", "  ") is None
    assert term_map.resolve("location", "aleppo") == TermEntry("halab", "Ḥalab")
    assert term_map.names("location") == {"halab": "Ḥalab"}


def test_term_map_conflict_keeps_the_owner_and_warns() -> None:
    a = make_term("actor", "Alpha", "Beta")  # claims the spelling "beta"
    b = make_term("actor", "Beta")  # whose own slug is "beta"
    term_map, diags = build_term_map([], [a, b])
    assert term_map.actor["beta"] == TermEntry("beta", "Beta")
    assert [(d.severity, d.code) for d in diags] == [(Severity.WARNING,
                                                      "search.spelling-conflict")]
    assert diags[0].message == ("actor spelling 'beta' belongs to both 'Beta' and 'Alpha'; "
                                "filters use 'Beta'")


def test_term_map_falls_back_to_report_references() -> None:
    report = make_report("r/a/", "A", actors=("Islamic State",), locations=("Mosul",))
    term_map, _ = build_term_map([report], [])
    assert term_map.names("actor") == {"islamic-state": "Islamic State"}
    assert term_map.names("location") == {"mosul": "Mosul"}


# --- building ---------------------------------------------------------------------------


REPORTS = (
    make_report("reports/2021/halab/", "Strikes on Ḥalab", "2021-03-04T10:00:00+03:00",
                body="Évacuations of civilians after the strikes.", summary="Air strikes.",
                actors=("Kata'ib Hezbollah",), locations=("Ḥalab",), source="Reuters",
                tags=("Air strike", "Syria")),
    make_report("reports/2020/mosul/", "Convoy ambush", "2020-06-01",
                body="An ambush on a convoy.", actors=("Kata'ib Hezbollah", "Islamic State"),
                locations=("Mosul",)),
)
TERMS = (make_term("actor", "Kata'ib Hezbollah", "Kataib Hezbollah", "KH"),
         make_term("actor", "Islamic State"), make_term("location", "Ḥalab", "Halab"),
         make_term("location", "Mosul"))


def test_build_index_writes_only_into_dest(tmp_path: Path) -> None:
    dest = tmp_path / "stage" / "_search"
    (tmp_path / "stage").mkdir()
    stats = build_index(REPORTS, TERMS, dest)
    assert stats.diagnostics == ()
    files = sorted(p.name for p in dest.iterdir())
    assert stats == IndexStats(documents=2, actors=2, locations=2,
                               size_bytes=sum((dest / f).stat().st_size for f in files))
    assert sorted(p.name for p in tmp_path.rglob("*")) == sorted(["stage", "_search", *files])
    assert TERMS_FILE in files
    assert f"_{INDEX_NAME}_1.toc" in files
    assert not [f for f in files if "LOCK" in f or f.endswith(".tmp")]


def test_build_index_is_deterministic(tmp_path: Path) -> None:
    build_index(REPORTS, TERMS, tmp_path / "a")
    build_index(reversed(REPORTS), reversed(TERMS), tmp_path / "b")
    a = {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir()}
    b = {p.name: p.read_bytes() for p in (tmp_path / "b").iterdir()}
    assert a == b


def test_terms_file(tmp_path: Path) -> None:
    build_index(REPORTS, TERMS, tmp_path / "ix")
    data = json.loads((tmp_path / "ix" / TERMS_FILE).read_text(encoding="utf-8"))
    kh = {"slug": "kataib-hezbollah", "name": "Kata'ib Hezbollah"}
    assert data == {
        "version": 1,
        "actor": {"islamic-state": {"slug": "islamic-state", "name": "Islamic State"},
                  "kataib-hezbollah": kh, "kh": kh},
        "location": {"halab": {"slug": "halab", "name": "Ḥalab"},
                     "mosul": {"slug": "mosul", "name": "Mosul"}},
    }
    assert load_term_map(tmp_path / "ix").resolve("actor", "KH") == TermEntry(
        "kataib-hezbollah", "Kata'ib Hezbollah")
    assert load_term_map(tmp_path / "missing").actor == {}


def test_indexed_documents(tmp_path: Path) -> None:
    build_index(REPORTS, TERMS, tmp_path / "ix")
    ix = whoosh_index.open_dir(str(tmp_path / "ix"), indexname=INDEX_NAME)
    with ix.searcher() as s:
        stored = [s.stored_fields(n) for n in range(s.doc_count_all())]
        reader = s.reader()
        assert [d["url"] for d in stored] == ["reports/2021/halab/", "reports/2020/mosul/"]
        first = stored[0]
        assert first["date_iso"] == "2021-03-04T10:00:00+03:00"
        assert stored[1]["date_iso"] == "2020-06-01"
        assert first["actor_refs"] == (("kataib-hezbollah", "Kata'ib Hezbollah",
                                        "actors/kataib-hezbollah/"),)
        assert first["title"] == "Strikes on Ḥalab"
        assert first["source"] == "Reuters"
        assert first["body"] == "Évacuations of civilians after the strikes."
        assert list(reader.lexicon("actor")) == [b"islamic-state", b"kataib-hezbollah"]
        assert list(reader.lexicon("tags")) == [b"air-strike", b"syria"]
        assert list(reader.lexicon("source_id")) == [b"reuters"]
        # names and every spelling are searchable words
        assert sorted(reader.lexicon("actors_text")) == [
            b"hezbollah", b"islam", b"kataib", b"kh", b"state"]
        assert sorted(reader.lexicon("locations_text")) == [b"halab", b"mosul"]
        segment = reader.segment().segment_id()
        # unstemmed, for suggestions: beside the segment, not a Whoosh field
        assert load_spelling(tmp_path / "ix", [segment])["evacuations"] == 1
        assert b"evacu" in set(reader.lexicon("body"))


def test_refuses_a_non_empty_dest(tmp_path: Path) -> None:
    (tmp_path / "ix").mkdir()
    (tmp_path / "ix" / "keep.txt").write_text("x", encoding="utf-8")
    stats = build_index(REPORTS, TERMS, tmp_path / "ix")
    assert stats.documents == 0
    assert [(d.code, d.message) for d in stats.diagnostics] == [
        ("search.dest-not-empty", "the search index folder must be empty; refusing to write")]
    assert sorted(p.name for p in (tmp_path / "ix").iterdir()) == ["keep.txt"]


def test_duplicate_url_is_reported_and_skipped(tmp_path: Path) -> None:
    dup = make_report("reports/2021/halab/", "Other", "2019-01-01")
    stats = build_index([*REPORTS, dup], TERMS, tmp_path / "ix")
    assert stats.documents == 2
    assert [(d.severity, d.code, d.path) for d in stats.diagnostics] == [
        (Severity.ERROR, "search.duplicate-url", "halab.md")]


def test_unwritable_dest_is_a_diagnostic(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    stats = build_index(REPORTS, TERMS, blocker / "ix")
    assert stats.documents == 0
    assert [d.code for d in stats.diagnostics] == ["search.write"]


def test_schema_fields() -> None:
    schema = make_schema()
    assert sorted(schema.stored_names()) == sorted([
        "url", "title", "summary", "body", "actor_refs", "location_refs", "date_iso",
        "source"])
    assert schema["title"].format.field_boost == 3.0
    assert schema["date"].column_type is not None  # sortable
    assert schema["ts"].column_type is not None


def _generated_reports(n: int) -> list[Any]:
    """Reports with enough shared words that posting lists span several Whoosh blocks (128
    postings), repeated words, stop words, accents, other scripts and empty fields."""
    import random
    rng = random.Random(5)
    vocab = ["strike", "strikes", "convoy", "the", "of", "Ḥalab", "Kata'ib", "حلب", "U.S.",
             "3.5", "ambush", "rocket", "attack", "Évacuations", "drone", "x" * 70, "it's"]
    reports = []
    for i in range(n):
        body = " ".join(rng.choice(vocab) for _ in range(rng.randint(0, 60)))
        reports.append(make_report(
            f"reports/{i:04d}/", f"Report {i} {rng.choice(vocab)}",
            f"20{10 + i % 15}-0{1 + i % 9}-1{i % 10}", body=body,
            summary=rng.choice(["", "Air strikes near Ḥalab.", "A convoy"]),
            actors=tuple(rng.sample(["Kata'ib Hezbollah", "Islamic State", "KH"],
                                    rng.randint(0, 2))),
            locations=tuple(rng.sample(["Ḥalab", "Mosul"], rng.randint(0, 2))),
            source=rng.choice([None, "Reuters", "AFP"]),
            tags=tuple(rng.sample(["Air strike", "Syria", "Iraq"], rng.randint(0, 2)))))
    return reports


def test_bulk_segment_writer_reads_back_as_whooshs(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The bulk segment writer is an optimisation of Whoosh's own SegmentWriter: the same
    reports give the same index, read back through Whoosh (every posting's document, weight
    and value; every term's statistics) and byte for byte in every file but the postings
    and the term table, whose blocks refer back to a repeated value where Whoosh's repeat
    it (``SINGLE_VALUES``)."""
    from whoosh.writing import SegmentWriter

    from sitegen.search import index as index_module

    reports = _generated_reports(400)
    build_index(reports, TERMS, tmp_path / "bulk", {r.url: r.url for r in reports})
    monkeypatch.setattr(index_module, "BulkSegmentWriter", SegmentWriter)
    build_index(reports, TERMS, tmp_path / "stock", {r.url: r.url for r in reports})
    bulk = {p.name: p.read_bytes() for p in (tmp_path / "bulk").iterdir()}
    stock = {p.name: p.read_bytes() for p in (tmp_path / "stock").iterdir()}
    assert bulk.keys() == stock.keys()
    assert [name for name in bulk if bulk[name] != stock[name]
            and not name.endswith((".pst", ".trm"))] == []
    assert _all_postings(tmp_path / "bulk") == _all_postings(tmp_path / "stock")
    assert _term_stats(tmp_path / "bulk") == _term_stats(tmp_path / "stock")
    ix = whoosh_index.open_dir(str(tmp_path / "bulk"), indexname=INDEX_NAME)
    with ix.searcher() as searcher:
        assert searcher.doc_count() == 400
        # a posting list longer than one block reads back whole
        assert len(list(searcher.postings("body", "strike").all_ids())) > 128


def _term_stats(index_dir: Path) -> dict[tuple[str, bytes], tuple[Any, ...]]:
    ix = whoosh_index.open_dir(str(index_dir), indexname=INDEX_NAME)
    with ix.reader() as reader:
        return {(f, t): (i.weight(), i.doc_frequency(), i.min_length(), i.max_length(),
                         i.max_weight(), i.min_id(), i.max_id())
                for (f, t), i in ((key, reader.term_info(*key)) for key in reader.all_terms())}


def _all_postings(index_dir: Path) -> dict[tuple[str, bytes], list[tuple[int, float, bytes]]]:
    ix = whoosh_index.open_dir(str(index_dir), indexname=INDEX_NAME)
    found = {}
    with ix.reader() as reader:
        for fieldname, btext in reader.all_terms():
            matcher = reader.postings(fieldname, btext)
            rows = []
            while matcher.is_active():
                rows.append((matcher.id(), matcher.weight(), matcher.value()))
                matcher.next()
            found[(fieldname, btext)] = rows
    return found


def test_small_posting_blocks_are_left_uncompressed(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks whose pickle is under COMPRESS_MIN bytes are written without zlib (their header
    says so); every posting reads back as from an index that compresses every block, and the
    postings file is smaller."""
    import pickle
    import struct
    import zlib

    from sitegen.search import segment

    reports = _generated_reports(300)
    build_index(reports, TERMS, tmp_path / "mixed", {r.url: r.url for r in reports})
    monkeypatch.setattr(segment, "COMPRESS_MIN", 0)
    build_index(reports, TERMS, tmp_path / "all", {r.url: r.url for r in reports})
    mixed, every = _all_postings(tmp_path / "mixed"), _all_postings(tmp_path / "all")
    assert mixed == every
    assert len(mixed) > 500

    def levels(index_dir: Path) -> list[int]:
        """The zlib level in each block header of the postings file (a term's blocks follow
        the codec's magic: a length, the pickled header, the data)."""
        data = next(index_dir.glob("*.pst")).read_bytes()
        magic = segment.WHOOSH3_HEADER_MAGIC
        out, at = [], 0
        while at < len(data):
            if data[at:at + len(magic)] == magic:
                at += len(magic)
                continue
            (size,) = struct.unpack("!i", data[at:at + 4])
            block = data[at + 4:at + 4 + abs(size)]
            head = pickle.loads(block)
            out.append(head[3])
            if head[3]:
                zlib.decompress(block[len(pickle.dumps(head, 2)):])  # a zlib stream
            at += 4 + abs(size)
        return out

    mixed_levels = levels(tmp_path / "mixed")
    assert 0 in mixed_levels and any(level > 0 for level in mixed_levels)
    assert 0 not in levels(tmp_path / "all")
    mixed_size = next((tmp_path / "mixed").glob("*.pst")).stat().st_size
    all_size = next((tmp_path / "all").glob("*.pst")).stat().st_size
    assert mixed_size < all_size


@given(st.sets(st.integers(0, 1 << 20) | st.integers(0, 300), min_size=1, max_size=1500))
@settings(max_examples=300, deadline=None)
@example({0}).via("the first position")
@example({255, 256}).via("a byte, then two")
@example(set(range(0, 1 << 17, 1 << 16))).via("two bytes, then four")
@example(set(range(1030))).via("a count past the precomputed heads")
def test_packed_positions_round_trip(poses: set[int]) -> None:
    """``PackedPositions`` gives back the positions it packed, and the frequency and weight
    Whoosh reads from the count; a term found once shares its value from SINGLE_VALUES."""
    from sitegen.search.analysis import SINGLE_VALUES, PackedPositions, positions_value

    ordered = sorted(poses)
    fmt = PackedPositions(field_boost=3.0)
    value = fmt.encode(ordered)
    assert value == positions_value(ordered)
    assert fmt.decode_positions(value) == ordered
    assert fmt.decode_frequency(value) == len(ordered)
    assert fmt.decode_weight(value) == 3.0 * len(ordered)
    if len(ordered) == 1 and ordered[0] < len(SINGLE_VALUES):
        assert SINGLE_VALUES[ordered[0]] == value


def test_whooshs_own_phrase_search_reads_packed_positions(tmp_path: Path) -> None:
    """Whoosh's searcher (not only sitegen's engine) matches phrases through the format's
    positions, across a stop word, and only where the words are next to each other."""
    from whoosh import query as wq

    reports = [
        make_report("reports/a/", "A", "2021-01-01",
                    body="The convoy of trucks was hit by a rocket near the base."),
        make_report("reports/b/", "B", "2021-01-02",
                    body="A rocket hit the base; the convoy had left."),
        make_report("reports/c/", "C", "2021-01-03", body=" ".join(["filler"] * 300)
                    + " convoy trucks"),
        # "rocket" at 2 and 5, "hit" at 4: no phrase (a decoder that took the deltas 2, 3
        # for positions would find "rocket hit" at 3, 4)
        make_report("reports/d/", "D", "2021-01-04", body="one two rocket four hit rocket"),
    ]
    build_index(reports, TERMS, tmp_path / "ix", {r.url: r.url for r in reports})
    ix = whoosh_index.open_dir(str(tmp_path / "ix"), indexname=INDEX_NAME)
    with ix.searcher() as searcher:
        def urls(q: Any) -> set[str]:  # terms as analysed: "convoy" is "convoi"
            return {hit["url"] for hit in searcher.search(q, limit=None)}
        assert urls(wq.Phrase("body", ["convoi", "truck"])) == {"reports/a/", "reports/c/"}
        assert urls(wq.Phrase("body", ["rocket", "hit"])) == {"reports/b/"}
        assert urls(wq.Phrase("body", ["hit", "rocket"])) == {"reports/a/", "reports/d/"}
