"""Actors and places as entities on the built site (issue #5).

Most tests build the real sample archive (``content/`` and ``sitegen.yaml``) into a temporary
folder once and read its pages with BeautifulSoup selectors. Expected values (which reports
an entity lists, co-occurrence counts, reports per year, the parent chain) are computed
independently, from the reports' front matter and the registry YAML, with plain ``yaml``.
The rest: the model on its own (pure), the CLI on small fixture sites (registry errors,
unknown names, ``check --fix``), the search index with aliases, and the SVG helpers.
"""

from __future__ import annotations

import difflib
import json
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import pytest
import yaml
from bs4 import BeautifulSoup, Tag
from conftest import build_ok, crawl, make_site, page, report

from sitegen.config import SiteConfig
from sitegen.content import SourceDoc, parse_document
from sitegen.entities import Registry, parse_registry
from sitegen.model import RenderedBody, Site, Term, build_site
from sitegen.search.index import build_term_map
from sitegen.search.query import SearchIndex, SearchRequest
from sitegen.svg import CHART_HEIGHT, MapPlace, locator_map, map_places, year_bars

REPO = Path(__file__).resolve().parent.parent
Run = Callable[..., tuple[int, str, str]]


# --- the sample archive, read independently ------------------------------------------------


@dataclass(frozen=True)
class SampleReport:
    path: str  # "content/2020/x.md"
    title: str
    year: int
    actors: tuple[str, ...]  # canonical names (resolved through the registry YAML)
    locations: tuple[str, ...]


def _fold(name: str) -> str:
    return name.replace("'", "").replace("\u2019", "").casefold()


@cache
def registry_yaml(kind: str) -> list[dict[str, Any]]:
    data = yaml.safe_load((REPO / "content/_data" / f"{kind}s.yaml").read_text("utf-8"))
    assert isinstance(data, list)
    return data


@cache
def canonical_names(kind: str) -> dict[str, str]:
    """folded spelling -> canonical name, for every name and alias in the registry."""
    found: dict[str, str] = {}
    for entry in registry_yaml(kind):
        for spelling in [entry["name"], *(entry.get("aliases") or [])]:
            found[_fold(spelling)] = entry["name"]
    return found


@cache
def parent_of() -> dict[str, str]:
    """location canonical name -> canonical name of its parent."""
    names = canonical_names("location")
    return {e["name"]: names[_fold(e["parent"])] for e in registry_yaml("location")
            if e.get("parent")}


def ancestors(name: str) -> list[str]:
    found = []
    while name in parent_of():
        name = parent_of()[name]
        found.append(name)
    return found


def _as_list(value: Any) -> list[str]:
    return [] if value is None else [value] if isinstance(value, str) else list(value)


@cache
def sample_reports() -> tuple[SampleReport, ...]:
    found = []
    for path in sorted((REPO / "content").rglob("*.md")):
        text = path.read_text("utf-8")
        meta = yaml.safe_load(text.split("---\n")[1])
        if meta.get("draft"):
            continue
        resolved = {}
        for kind in ("actor", "location"):
            names = canonical_names(kind)
            resolved[kind] = tuple(dict.fromkeys(
                names.get(_fold(n), n) for n in _as_list(meta.get(f"{kind}s"))))
        found.append(SampleReport(path.relative_to(REPO).as_posix(), meta["title"],
                                  int(str(meta["date"])[:4]), resolved["actor"],
                                  resolved["location"]))
    return tuple(found)


def named(kind: str, name: str) -> list[SampleReport]:
    return [r for r in sample_reports()
            if name in (r.actors if kind == "actor" else r.locations)]


# --- the built sample ------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample archive built into a temporary folder; returns the output folder."""
    root = tmp_path_factory.mktemp("sample")
    shutil.copytree(REPO / "content", root / "content")
    shutil.copy(REPO / "sitegen.yaml", root / "sitegen.yaml")
    return build_ok(root)


def entity_url(output: Path, kind: str, name: str) -> str:
    """The page of ``name``, found through the A-Z index (site-relative)."""
    index = page(output, f"{kind}s/")
    [link] = [a for a in index.select(".term-list li > a") if a.get_text() == name]
    return unquote(link["href"]).lstrip("/")


def all_pages(output: Path, url: str) -> list[BeautifulSoup]:
    """A term page and the pages after it (following rel=next)."""
    pages = [page(output, url)]
    while (nxt := pages[-1].select_one(".pager a[rel=next]")) is not None:
        pages.append(page(output, unquote(nxt["href"]).lstrip("/")))
    return pages


def listed(output: Path, url: str) -> dict[str, list[str]]:
    """title -> the 'via' places of each report a term page lists (empty list: direct)."""
    found: dict[str, list[str]] = {}
    for soup in all_pages(output, url):
        for item in soup.select(".report-list > li.report-item"):
            title = item.select_one(".report-item-title a").get_text()
            found[title] = [a.get_text() for a in item.select(".via a")]
            assert ("report-item-via" in item["class"]) == bool(found[title])
    return found


def co_terms(soup: BeautifulSoup, which: str) -> list[tuple[str, int]]:
    return [(li.a.get_text(), int(li.select_one(".count").get_text()))
            for li in soup.select(f".co-terms .{which} .co-list > li")]


# --- resolution and entity pages ---------------------------------------------------------


def test_spellings_and_aliases_of_an_actor_land_on_one_page(sample: Path) -> None:
    url = entity_url(sample, "actor", "Kataib Hezbollah")
    assert url == "actors/kataib-hezbollah/"
    soup = page(sample, url)
    assert soup.select_one("main h1").get_text() == "Kataib Hezbollah"
    aliases = [b.get_text() for b in soup.select(".aka .alias")]
    for spelling in ("Kata'ib Hizballah", "Kata'ib Hezbollah", "KH", "كتائب حزب الله"):
        assert spelling in aliases
    assert "Kataib Hezbollah" not in aliases
    expected = {r.title for r in named("actor", "Kataib Hezbollah")}
    assert set(listed(sample, url)) == expected
    # The reports written with the other spellings are among them.
    raw = {p: (REPO / p).read_text("utf-8") for p in (
        "content/2019/baghdad-us-embassy-compound-stormed.md",
        "content/2019/us-strikes-kataib-hezbollah-iraq-syria.md")}
    assert "\"Kata'ib Hizballah\"" in raw["content/2019/baghdad-us-embassy-compound-stormed.md"]
    assert "كتائب حزب الله" in raw["content/2019/us-strikes-kataib-hezbollah-iraq-syria.md"]
    titles = {r.path: r.title for r in sample_reports()}
    assert {titles[p] for p in raw} <= set(listed(sample, url))
    # No separate pages for the other spellings.
    actor_dirs = {p.name for p in (sample / "actors").iterdir() if p.is_dir()}
    assert not actor_dirs & {"kataib-hizballah", "كتائب-حزب-الله", "kh", "houthis"}
    # Houthis and Ansar Allah are one actor, named canonically on every report.
    houthis = entity_url(sample, "actor", "Ansar Allah")
    assert set(listed(sample, houthis)) == {r.title for r in named("actor", "Ansar Allah")}
    assert len(listed(sample, houthis)) == 2
    for soup in all_pages(sample, houthis):
        for item in soup.select(".report-list > li.report-item"):
            chips = [a.get_text().removeprefix("Actor: ") for a in item.select(".chip-actor")]
            assert "Ansar Allah" in chips and "Houthis" not in chips


def test_entity_profile_kind_description_and_links(sample: Path) -> None:
    soup = page(sample, "actors/kataib-hezbollah/")
    assert soup.select_one(".entity-kind").get_text(strip=True) == "Armed group"
    # The description is the registry's Markdown, rendered.
    assert soup.select_one(".description strong").get_text() == "Abu Mahdi al-Muhandis"
    iraq = page(sample, "locations/iraq/")
    assert iraq.select_one(".entity-kind").get_text(" ", strip=True) == "Country · IQ"
    [link] = iraq.select(".entity-links a")
    assert (link.get_text(), link["href"]) == ("Wikidata", "https://www.wikidata.org/wiki/Q796")
    assert set(link["rel"]) == {"noopener", "noreferrer", "external"}
    children = [a.get_text() for a in iraq.select(".children a")]
    assert "Karbala Governorate" in children and "Karbala" not in children


def test_iraq_lists_reports_of_places_within_it_marked_via(sample: Path) -> None:
    items = listed(sample, "locations/iraq/")
    direct = {r.title for r in named("location", "Iraq")}
    within = {r.title: [n for n in r.locations if "Iraq" in ancestors(n)]
              for r in sample_reports() if "Iraq" not in r.locations}
    within = {t: names for t, names in within.items() if names}
    assert within, "the sample needs a report tagged with a place in Iraq but not Iraq"
    assert {t for t, via in items.items() if not via} == direct
    assert {t: via for t, via in items.items() if via} == within
    # The report tagged Karbala (and not Iraq) is marked as coming through Karbala.
    [karbala_only] = [t for t, via in within.items() if "Karbala" in via]
    assert "Karbala" in items[karbala_only]
    # The lede counts both.
    lede = page(sample, "locations/iraq/").select_one(".lede").get_text()
    assert lede.startswith(f"{len(direct)} reports name Iraq, and {len(within)} more")
    # The index counts what the page lists.
    index = page(sample, "locations/")
    [count] = [li.select_one(".count").get_text() for li in index.select(".term-list li")
               if li.a.get_text() == "Iraq"]
    assert int(count) == len(direct) + len(within)


def test_karbala_breadcrumb_and_the_governorate_page(sample: Path) -> None:
    soup = page(sample, "locations/karbala/")
    nav = soup.select_one('nav[aria-label="Breadcrumb"]')
    crumbs = nav.select("ol > li")
    assert [li.get_text(strip=True) for li in crumbs] == ["Iraq", "Karbala Governorate",
                                                         "Karbala"]
    assert ["Karbala", *ancestors("Karbala")] == ["Karbala", "Karbala Governorate", "Iraq"]
    assert [li.a["href"] for li in crumbs] == ["/locations/iraq/",
                                               "/locations/karbala-governorate/",
                                               "/locations/karbala/"]
    assert crumbs[-1].a["aria-current"] == "page"
    # No report names Karbala Governorate, yet it has a page listing Karbala's reports.
    assert named("location", "Karbala Governorate") == []
    governorate = listed(sample, "locations/karbala-governorate/")
    assert governorate == {r.title: ["Karbala"] for r in named("location", "Karbala")}


@pytest.mark.parametrize(("kind", "name"), [
    ("actor", "Kataib Hezbollah"), ("actor", "US Department of Defense"),
    ("location", "Iraq"), ("location", "Karbala"), ("location", "Camp Taji")])
def test_co_occurrence_counts_are_the_number_of_shared_reports(
        sample: Path, kind: str, name: str) -> None:
    soup = page(sample, entity_url(sample, kind, name))
    mine = named(kind, name)
    for other_kind, which in (("actor", "co-actors"), ("location", "co-locations")):
        expected = Counter(n for r in mine for n in (
            r.actors if other_kind == "actor" else r.locations)
            if not (other_kind == kind and n == name))
        shown = co_terms(soup, which)
        assert shown, (name, which)
        assert len(shown) == min(10, len(expected))
        for other, count in shown:
            assert count == expected[other], (name, other)
        counts = [c for _, c in shown]
        assert counts == sorted(counts, reverse=True)
        hidden = set(expected) - {n for n, _ in shown}
        assert all(expected[n] <= counts[-1] for n in hidden)
        for li in soup.select(f".co-terms .{which} .co-list > li"):
            target = unquote(li.a["href"]).lstrip("/")
            assert (sample / target / "index.html").is_file()


@pytest.mark.parametrize(("kind", "name"), [
    ("actor", "Kataib Hezbollah"), ("location", "Iraq"), ("location", "Karbala Governorate")])
def test_timeline_bars_match_the_reports_per_year(sample: Path, kind: str, name: str) -> None:
    url = entity_url(sample, kind, name)
    soup = page(sample, url)
    per_year = Counter(r.year for r in sample_reports()
                       if name in (r.actors if kind == "actor" else r.locations)
                       or (kind == "location" and any(name in ancestors(n) for n in r.locations)))
    assert sum(per_year.values()) == len(listed(sample, url))
    years = range(min(per_year), max(per_year) + 1)
    svg = soup.select_one("figure.timeline svg.chart-years")
    assert svg["role"] == "img"
    assert svg.select_one("title").get_text()
    bars = svg.select("g.bar")
    assert [(int(g["data-year"]), int(g["data-count"])) for g in bars] == [
        (y, per_year[y]) for y in years]
    heights = [float(g.rect["height"]) for g in bars]
    peak = max(per_year.values())
    for (year, count), height in zip([(y, per_year[y]) for y in years], heights, strict=True):
        assert height == pytest.approx(CHART_HEIGHT * count / peak, abs=0.1), year
    # The same numbers as text, for screen readers and text browsers.
    rows = [(tr.th.get_text(), tr.td.get_text()) for tr in soup.select("figure.timeline tbody tr")]
    assert rows == [(str(y), str(per_year[y])) for y in years]


def test_locator_map_only_for_places_with_coordinates(sample: Path) -> None:
    coordinates = {e["name"]: e.get("coordinates") for e in registry_yaml("location")}
    assert coordinates["Karbala"] and not coordinates["Iraq"]
    soup = page(sample, "locations/karbala/")
    svg = soup.select_one("figure.locator svg.locator-map")
    assert svg["role"] == "img"
    labelled = svg["aria-labelledby"].split()
    assert [svg.find(id=i).name for i in labelled] == ["title", "desc"]
    assert svg.select_one("desc").get_text().startswith("Karbala (32.62° N, 44.02° E)")
    [me] = svg.select("g.place-self")
    assert me["data-name"] == "Karbala"
    others = [g["data-name"] for g in svg.select("g.place:not(.place-self)")]
    assert others and all(coordinates[n] for n in others)
    # Related places: co-occurring places that have coordinates (Karbala has no children).
    shared = {n for r in named("location", "Karbala") for n in r.locations} - {"Karbala"}
    assert set(others) <= shared
    assert soup.select_one("figure.locator figcaption").get_text() == \
        "Karbala: 32.62° N, 44.02° E"
    for unlocated in ("locations/iraq/", "locations/karbala-governorate/",
                      "actors/kataib-hezbollah/"):
        assert page(sample, unlocated).select("svg.locator-map") == []


def test_the_sample_site_links_resolve(sample: Path) -> None:
    checked, problems = crawl(sample)
    assert checked > 1000 and problems == []


# --- the model (pure) ---------------------------------------------------------------------

LOCATIONS_YAML = """\
- name: Iraq
- name: Karbala Governorate
  parent: Iraq
- name: Karbala
  aliases: [Kerbala]
  parent: Karbala Governorate
  coordinates: [32.62, 44.02]
"""
ACTORS_YAML = """\
- name: Kataib Hezbollah
  aliases: ["Kata'ib Hizballah", KH]
  slug: kh
  kind: armed group
"""


def registry() -> Registry:
    actors, diags = parse_registry(ACTORS_YAML, "content/_data/actors.yaml", "actor")
    locations, more = parse_registry(LOCATIONS_YAML, "content/_data/locations.yaml",
                                     "location")
    assert diags + more == []
    return Registry(actors=tuple(actors), locations=tuple(locations))


def doc(path: str, title: str, date: str, actors: list[str],
        locations: list[str]) -> SourceDoc:
    text = (f"---\ntitle: {title}\ndate: {date}\nactors: {json.dumps(actors)}\n"
            f"locations: {json.dumps(locations)}\n---\nBody\n")
    parsed, diags = parse_document(text, path, ZoneInfo("UTC"))
    assert parsed is not None, diags
    return parsed


BODY = RenderedBody(html="<p>x</p>", text="x", toc=(), word_count=1)
DOCS = (
    doc("content/a.md", "A", "2019-05-01", ["kata'ib hizballah", "Donald Trump"], ["Iraq"]),
    doc("content/b.md", "B", "2021-01-01", ["KH", "Donald Trump"], ["Kerbala"]),
    doc("content/c.md", "C", "2021-06-01", ["Kataib Hezbollah"], ["Karbala", "Iraq"]),
    doc("content/d.md", "D", "2022-01-01", ["Donald trump"], ["Karbala Governorate"]),
)


def site_of(**config: Any) -> tuple[Site, list[str]]:
    site, diags = build_site(SiteConfig(root=Path("/srv"), **config),
                             [(d, BODY) for d in DOCS], registry(),
                             {("actor", "kh"): "<p>Armed group.</p>"})
    return site, [d.format() for d in diags]


def term(site: Site, kind: str, slug: str) -> Term:
    [found] = [t for t in site.terms(kind) if t.slug == slug]  # type: ignore[arg-type]
    return found


def test_model_resolves_names_to_entities() -> None:
    site, diags = site_of()
    # Donald Trump is not registered: a warning per report and spelling, and his own term.
    assert [d.split(": warning")[0] for d in diags] == ["content/a.md:4:9", "content/b.md:4:9",
                                                       "content/d.md:4:9"]
    assert all("[entities.unknown-name]: actor 'Donald " in d for d in diags)
    kh = term(site, "actor", "kh")
    assert (kh.name, kh.url, kh.category) == ("Kataib Hezbollah", "actors/kh/", "armed group")
    assert [r.title for r in kh.reports] == ["C", "B", "A"]
    assert kh.aliases == ("Kata'ib Hizballah", "KH", "kata'ib hizballah")
    assert kh.description_html == "<p>Armed group.</p>"
    assert kh.entity is not None and kh.entity.slug == "kh"
    # Unregistered names group by slug, as before; no registry entry, no profile.
    trump = term(site, "actor", "donald-trump")
    assert (trump.name, trump.entity, trump.aliases) == ("Donald Trump", None, ("Donald trump",))
    b = next(r for r in site.reports if r.title == "B")
    assert [(t.slug, t.name) for t in b.actors] == [("kh", "Kataib Hezbollah"),
                                                   ("donald-trump", "Donald Trump")]
    assert [(t.slug, t.name) for t in b.locations] == [("karbala", "Karbala")]


def test_model_location_tree_listing_and_counts() -> None:
    site, _ = site_of()
    iraq = term(site, "location", "iraq")
    assert [r.title for r in iraq.reports] == ["C", "A"]
    assert [(i.report.title, [v.name for v in i.via]) for i in iraq.listing] == [
        ("D", ["Karbala Governorate"]), ("C", []), ("B", ["Karbala"]), ("A", [])]
    assert [(y.year, y.count) for y in iraq.timeline] == [(2019, 1), (2020, 0), (2021, 2),
                                                          (2022, 1)]
    karbala = term(site, "location", "karbala")
    assert [(p.name, p.url) for p in karbala.parents] == [
        ("Iraq", "locations/iraq/"), ("Karbala Governorate", "locations/karbala-governorate/")]
    assert karbala.parent_slug == "karbala-governorate"
    assert karbala.coordinates == (32.62, 44.02)
    assert [(c.ref.name, c.count) for c in karbala.co_actors] == [("Kataib Hezbollah", 2),
                                                                  ("Donald Trump", 1)]
    assert [(c.ref.name, c.count) for c in karbala.co_locations] == [("Iraq", 1)]
    assert [c.name for c in term(site, "location", "karbala-governorate").children] == [
        "Karbala"]
    # Off: no listing from child places, and a place no report names has no page.
    site, _ = site_of(include_child_locations=False)
    assert [i.report.title for i in term(site, "location", "iraq").listing] == ["C", "A"]
    assert [t.slug for t in site.locations] == ["iraq", "karbala", "karbala-governorate"]
    site, _ = build_site(SiteConfig(root=Path("/srv"), include_child_locations=False),
                         [(DOCS[1], BODY)], registry())
    [karbala] = site.locations
    assert [(p.name, p.url) for p in karbala.parents] == [("Iraq", None),
                                                          ("Karbala Governorate", None)]


def test_model_warns_about_names_missing_from_a_non_empty_registry() -> None:
    typo = doc("content/e.md", "E", "2022-02-02", ["Kataib Hezbolah", "Nobody"], ["Irak"])
    _, diags = build_site(SiteConfig(root=Path("/srv")), [(typo, BODY)], registry())
    assert [d.format() for d in diags] == [
        "content/e.md:4:9: warning[entities.unknown-name]: actor 'Kataib Hezbolah' is not in "
        "the registry (actors.yaml); did you mean 'Kataib Hezbollah'?",
        "content/e.md:4:9: warning[entities.unknown-name]: actor 'Nobody' is not in the "
        "registry (actors.yaml); add it there as a name or an alias if it is one",
        "content/e.md:5:12: warning[entities.unknown-name]: location 'Irak' is not in the "
        "registry (locations.yaml); did you mean 'Iraq'?"]
    # An empty registry (the default) warns about nothing.
    _, diags = build_site(SiteConfig(root=Path("/srv")), [(typo, BODY)])
    assert diags == []


def test_term_map_and_search_fields_include_registry_aliases() -> None:
    site, _ = site_of()
    term_map, diags = build_term_map(site.reports, site.actors + site.locations)
    assert diags == []
    for spelling in ("KH", "Kata'ib Hizballah", "kataib hezbollah", "kh"):
        entry = term_map.resolve("actor", spelling)
        assert entry is not None and (entry.slug, entry.name) == ("kh", "Kataib Hezbollah")
    kerbala = term_map.resolve("location", "Kerbala")
    assert kerbala is not None and kerbala.slug == "karbala"


# --- search on the built sample ------------------------------------------------------------


@pytest.mark.parametrize("request_", [
    SearchRequest(q="actor:KH", page_size=50),
    SearchRequest(q='actor:"Kata\'ib Hizballah"', page_size=50),
    SearchRequest(actors=("Kata'ib Hizballah",), page_size=50),
    SearchRequest(actors=("كتائب حزب الله",), page_size=50),
    SearchRequest(q="Hizballah", page_size=50),
], ids=["actor:KH", "actor:phrase", "--actor alias", "--actor arabic", "free text alias"])
def test_search_finds_an_entity_by_any_alias(sample: Path, request_: SearchRequest) -> None:
    results = SearchIndex(sample / "_search").search(request_)
    expected = {r.title for r in named("actor", "Kataib Hezbollah")}
    assert {h.title for h in results.hits} >= expected
    if request_.actors or request_.q.startswith("actor:"):
        assert {h.title for h in results.hits} == expected


def test_search_location_alias_and_houthis(sample: Path) -> None:
    index = SearchIndex(sample / "_search")
    kerbala = index.search(SearchRequest(q="location:Kerbala"))
    assert {h.title for h in kerbala.hits} == {r.title for r in named("location", "Karbala")}
    houthis = index.search(SearchRequest(actors=("Houthis",)))
    assert {h.title for h in houthis.hits} == {r.title for r in named("actor", "Ansar Allah")}
    assert [f[0] for f in houthis.facets["actors"]].count("Ansar Allah") == 1


# --- the editor's check and --fix -----------------------------------------------------------


def copy_sample(root: Path) -> Path:
    shutil.copytree(REPO / "content", root / "content")
    shutil.copy(REPO / "sitegen.yaml", root / "sitegen.yaml")
    return root


def test_check_finds_camp_taji_and_fix_changes_only_the_list_lines(
        tmp_path: Path, run_cli: Run) -> None:
    root = copy_sample(tmp_path)
    rel = "content/2021/erbil-rocket-attack.md"
    target = root / rel
    before = target.read_bytes()
    meta = yaml.safe_load(before.decode().split("---\n")[1])
    assert "Camp Taji" not in meta["locations"]
    lines = before.decode().splitlines()
    body_start = [i for i, line in enumerate(lines) if line == "---"][1] + 1
    line = next(i for i in range(body_start, len(lines)) if "Camp Taji" in lines[i])
    col = lines[line].index("Camp Taji") + 1
    expected = (f"{rel}:{line + 1}:{col}: warning[entities.unlisted-mention]: mentions "
                "'Camp Taji' but does not list it in locations")

    code, out, err = run_cli(root, "check")
    assert code == 0
    assert expected in err.splitlines()
    assert target.read_bytes() == before  # check alone writes nothing
    # build does not run the editor's check.
    code, _, err = run_cli(root, "build", "--quiet")
    assert code == 0 and "entities.unlisted-mention" not in err

    code, out, err = run_cli(root, "check", "--fix", rel)
    assert code == 0, err
    assert f"{rel}: added Kirkuk Governorate, Camp Taji, Baghdad, Syria to locations" in \
        out.splitlines()
    assert "entities.unlisted-mention" not in err
    after = target.read_bytes()
    old, new = before.decode().splitlines(True), after.decode().splitlines(True)
    changed = [(tag, old[i1:i2], new[j1:j2]) for tag, i1, i2, j1, j2 in
               difflib.SequenceMatcher(a=old, b=new).get_opcodes() if tag != "equal"]
    assert [tag for tag, _, _ in changed] == ["replace"]
    [(_, removed, added)] = changed
    assert [r.split(":")[0] for r in removed] == ["actors", "locations"]
    assert [a.split(":")[0] for a in added] == ["actors", "locations"]
    assert added[1] == removed[1].rstrip("]\n") + ", Kirkuk Governorate, Camp Taji, Baghdad, " \
        "Syria]\n"
    new_meta = yaml.safe_load(after.decode().split("---\n")[1])
    assert new_meta["locations"][-4:] == ["Kirkuk Governorate", "Camp Taji", "Baghdad", "Syria"]
    # Every other report is untouched, and the check is now clean for this one.
    for path in (REPO / "content").rglob("*.md"):
        here = root / path.relative_to(REPO)
        if here != target:
            assert here.read_bytes() == path.read_bytes()
    code, _, err = run_cli(root, "check", rel)
    assert code == 0 and "entities.unlisted-mention" not in err


def test_fix_keeps_every_other_byte(tmp_path: Path, run_cli: Run) -> None:
    text = ("---\r\n# a comment\r\ntitle: 'Rockets hit Camp Taji'\r\ndate: 2020-03-11\r\n"
            "locations:\r\n  - Iraq   # the country\r\ntags: [x]\r\n---\r\n"
            "Rockets hit Camp Taji, north of Baghdad, on Wednesday.\r\n")
    root = make_site(tmp_path, {
        "content/_data/locations.yaml": "- name: Iraq\n- name: Camp Taji\n  parent: Iraq\n"
                                        "- name: Baghdad\n  parent: Iraq\n",
        "content/taji.md": text.encode()})
    code, out, err = run_cli(root, "check", "--fix")
    assert code == 0, err
    assert out.splitlines()[0] == "content/taji.md: added Camp Taji, Baghdad to locations"
    assert (root / "content/taji.md").read_bytes() == text.replace(
        "  - Iraq   # the country\r\n",
        "  - Iraq   # the country\r\n  - Camp Taji\r\n  - Baghdad\r\n").encode()


def test_strict_check_fails_on_unlisted_mentions_unless_fixed(tmp_path: Path,
                                                              run_cli: Run) -> None:
    root = make_site(tmp_path, {
        "content/_data/locations.yaml": "- name: Iraq\n- name: Camp Taji\n",
        "content/a.md": report("A", "2020-01-01", "Near Camp Taji.\n", locations=["Iraq"]),
    })
    code, _, err = run_cli(root, "check", "--strict")
    assert code == 1
    assert err.splitlines()[0] == ("content/a.md:6:6: warning[entities.unlisted-mention]: "
                                   "mentions 'Camp Taji' but does not list it in locations")
    code, _, err = run_cli(root, "check", "--strict", "--fix")
    assert code == 0, err
    assert yaml.safe_load((root / "content/a.md").read_text().split("---\n")[1])[
        "locations"] == ["Iraq", "Camp Taji"]


# --- registry errors through the CLI --------------------------------------------------------

GOOD = report("A", "2020-01-01", actors=["Kataib Hezbollah"], locations=["Karbala"])


@pytest.mark.parametrize(("files", "expected"), [
    ({"content/_data/actors.yaml": "- name: Kataib Hezbollah\n  aliases: [KH]\n"
                                   "- name: Khorasan Group\n  aliases: [KH]\n"},
     ["content/_data/actors.yaml:4:13: error[registry.alias-conflict]: alias 'KH' is already "
      "used by 'Kataib Hezbollah' (content/_data/actors.yaml:1)"]),
    ({"content/_data/locations.yaml": "- name: Karbala\n  parent: Karbala Governorat\n"
                                      "- name: Karbala Governorate\n"},
     ["content/_data/locations.yaml:2:11: error[registry.unknown-parent]: parent: 'Karbala "
      "Governorat' is not a location in this registry (did you mean 'Karbala Governorate'?)"]),
    ({"content/_data/locations.yaml": "- name: Karbala\n  parent: Iraq\n- name: Iraq\n"
                                      "  parent: Karbala\n"},
     ["content/_data/locations.yaml:2:11: error[registry.cycle]: parent cycle: Karbala \u203a "
      "Iraq \u203a Karbala (a location cannot be inside itself)"]),
], ids=["alias-claimed-twice", "unknown-parent", "cycle"])
def test_registry_errors_fail_build_and_check(tmp_path: Path, run_cli: Run,
                                              files: dict[str, str],
                                              expected: list[str]) -> None:
    root = make_site(tmp_path, {"content/a.md": GOOD, **files})
    for command in ("build", "check"):
        code, out, err = run_cli(root, command)
        assert code == 1, command
        assert out == ""
        assert err.splitlines()[:-1] == expected
        assert err.splitlines()[-1].startswith("sitegen: 1 error")
    assert not (root / "output").exists()


def test_unknown_name_warns_with_a_suggestion(tmp_path: Path, run_cli: Run) -> None:
    root = make_site(tmp_path, {
        "content/_data/actors.yaml": "- name: Kataib Hezbollah\n",
        "content/a.md": report("A", "2020-01-01", actors=["Kataib Hezbolah"]),
    })
    code, _, err = run_cli(root, "build", "--quiet")
    assert code == 0
    assert err.splitlines() == [
        "content/a.md:4:9: warning[entities.unknown-name]: actor 'Kataib Hezbolah' is not in "
        "the registry (actors.yaml); did you mean 'Kataib Hezbollah'?"]
    assert run_cli(root, "build", "--quiet", "--strict")[0] == 1


def test_child_locations_option_off(tmp_path: Path) -> None:
    root = make_site(tmp_path, {
        "content/_data/locations.yaml": LOCATIONS_YAML,
        "content/a.md": report("A", "2020-01-01", locations=["Karbala"]),
        "content/b.md": report("B", "2020-01-02", locations=["Iraq"]),
    }, {"include_child_locations": False})
    out = build_ok(root)
    assert listed(out, "locations/iraq/") == {"B": []}
    assert not (out / "locations/karbala-governorate").exists()
    crumbs = page(out, "locations/karbala/").select('nav[aria-label="Breadcrumb"] li')
    assert [(li.get_text(strip=True), li.a is not None) for li in crumbs] == [
        ("Iraq", True), ("Karbala Governorate", False), ("Karbala", True)]
    make_site(root, config={})
    out = build_ok(root)
    assert listed(out, "locations/iraq/") == {"B": [], "A": ["Karbala"]}


# --- the SVG helpers ---------------------------------------------------------------------


def svg_of(markup: str) -> Tag:
    svg = BeautifulSoup(markup, "html.parser").svg
    assert svg is not None
    return svg


def test_year_bars_escape_and_scale() -> None:
    svg = svg_of(year_bars([(2019, 4), (2020, 0), (2021, 2)], "Reports <for> “X”"))
    assert svg.title.get_text() == "Reports <for> “X”"
    bars = svg.select("g.bar")
    assert [float(g.rect["height"]) for g in bars] == [CHART_HEIGHT, 0, CHART_HEIGHT / 2]
    assert [g.title.get_text() for g in bars] == ["2019: 4 reports", "2020: 0 reports",
                                                  "2021: 2 reports"]
    assert year_bars([(2020, 1)], "x") == year_bars([(2020, 1)], "x")  # deterministic


def test_locator_map_keeps_near_places_and_escapes_names() -> None:
    here = MapPlace("Karbala", 32.62, 44.02)
    near = [MapPlace("Baghdad", 33.31, 44.37), MapPlace("<Camp> & Taji", 33.53, 44.26),
            MapPlace("Abqaiq", 25.94, 49.68), here]
    assert [p.name for p in map_places(here, near)] == ["Baghdad", "<Camp> & Taji"]
    svg = svg_of(locator_map(here, near))
    assert [g["data-name"] for g in svg.select("g.place")] == ["Baghdad", "<Camp> & Taji",
                                                              "Karbala"]
    assert svg.select_one("desc").get_text() == (
        "Karbala (32.62° N, 44.02° E); Baghdad, 80 km north-east; <Camp> & Taji, 100 km "
        "north.")
    for circle in svg.select("circle"):
        assert 0 <= float(circle["cx"]) <= 360 and 0 <= float(circle["cy"]) <= 240
    alone = svg_of(locator_map(here, []))
    assert alone.title.get_text() == "Map of Karbala"


def test_static_search_index_knows_the_aliases(sample: Path) -> None:
    from sitegen.search.analysis import analyze

    root = sample / "_static_search"
    postings: dict[str, list[list[int]]] = {}
    for shard in sorted((root / "terms").glob("*.json")):
        postings.update(json.loads(shard.read_text("utf-8")))
    meta = json.loads((root / "meta.json").read_text("utf-8"))
    rows = [row for i in range(meta["docs"]["chunks"])
            for row in json.loads((root / "docs" / f"{i}.json").read_text("utf-8"))]
    [word] = analyze("Hizballah")
    found = {rows[doc_id][1] for doc_id, _ in postings[word]}
    assert found >= {r.title for r in named("actor", "Kataib Hezbollah")}


def test_open_data_exports_entities_and_geojson(tmp_path: Path) -> None:
    from browser_support import build_sample

    out = build_sample(tmp_path) / "output"
    entities = json.loads((out / "data/entities.json").read_text())["entities"]
    keys = [(e["kind"], e["slug"]) for e in entities]
    assert len(keys) == len(set(keys))
    kh = next(e for e in entities if e["slug"] == "kataib-hezbollah")
    assert kh["name"] == "Kataib Hezbollah" and "KH" in kh["aliases"]
    assert kh["url"] == "actors/kataib-hezbollah/" and kh["kind"] == "actor"
    # the report count is the number of report pages naming it, counted independently
    page = BeautifulSoup((out / "actors/kataib-hezbollah/index.html").read_text(), "html.parser")
    assert kh["report_count"] == int(page.select_one(".lede").get_text().split()[0])
    karbala = next(e for e in entities if e["slug"] == "karbala")
    assert karbala["parent"] == "karbala-governorate" and karbala["country"] == "IQ"
    geo = json.loads((out / "data/locations.geojson").read_text())
    assert geo["type"] == "FeatureCollection" and geo["features"]
    located = {e["slug"]: e for e in entities if e["kind"] == "location" and e["coordinates"]}
    assert {f["properties"]["slug"] for f in geo["features"]} == set(located)
    for feature in geo["features"]:
        lon, lat = feature["geometry"]["coordinates"]
        assert feature["type"] == "Feature" and feature["geometry"]["type"] == "Point"
        assert [lat, lon] == located[feature["properties"]["slug"]]["coordinates"]
        assert -90 <= lat <= 90 and -180 <= lon <= 180
