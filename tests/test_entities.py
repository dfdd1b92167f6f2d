"""The actor/location registry (``sitegen.entities``): loading, validation with exact
positions, resolution, the location tree, mentions in text and the front-matter fix."""

from __future__ import annotations

import difflib
import pickle
import random
from datetime import UTC
from pathlib import Path

import pytest

from sitegen.content import parse_document
from sitegen.entities import (
    Entity,
    Link,
    MentionFinder,
    Registry,
    add_to_front_matter,
    fold,
    is_acronym,
    load_registry,
    mask_markdown,
    missing_mentions,
    parse_registry,
    yaml_name,
)
from sitegen.slugs import slugify_name

REPO = Path(__file__).resolve().parent.parent
CONTENT = REPO / "content"
LOCS = "content/_data/locations.yaml"
ACTORS = "content/_data/actors.yaml"


def entity(name: str, *aliases: str, kind: str = "location", parent: str | None = None,
           slug: str | None = None) -> Entity:
    return Entity(kind=kind, name=name, slug=slug or slugify_name(name),  # type: ignore[arg-type]
                  aliases=aliases, category=None, description="", links=(), parent=parent,
                  country=None, coordinates=None, path="test.yaml", line=1)


def problems(text: str, kind: str = "location", path: str = LOCS) -> list[str]:
    _, diags = parse_registry(text, path, kind)  # type: ignore[arg-type]
    return [d.format() for d in diags]


def parse_ok(text: str, kind: str = "location") -> list[Entity]:
    entities, diags = parse_registry(text, LOCS, kind)  # type: ignore[arg-type]
    assert [d.format() for d in diags] == []
    return entities


def line_of(path: Path, text: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return lines.index(text) + 1


@pytest.fixture(scope="module")
def sample() -> Registry:
    registry, diags = load_registry(CONTENT)
    assert [d.format() for d in diags] == []
    return registry


# --- The sample registry --------------------------------------------------------------------

def test_sample_registry_loads_without_errors(sample: Registry) -> None:
    assert not sample.is_empty("actor") and not sample.is_empty("location")
    assert {e.kind for e in sample.actors} == {"actor"}
    assert {e.kind for e in sample.locations} == {"location"}
    kh = sample.get("actor", "kataib-hezbollah")
    assert kh is not None
    assert kh.name == "Kataib Hezbollah"
    assert kh.category == "armed group"
    assert kh.path == ACTORS
    assert kh.line == line_of(CONTENT / "_data/actors.yaml", "- name: Kataib Hezbollah")
    assert kh.aliases == ("Kata'ib Hezbollah", "Kata'ib Hizballah", "Kata'ib Hizbollah",
                          "Kataeb Hezbollah", "Hezbollah Brigades", "KH", "كتائب حزب الله")
    assert kh.description.startswith("Iran-aligned Iraqi Shia armed group founded by "
                                      "**Abu Mahdi al-Muhandis**.")
    assert kh.parent is None and kh.country is None and kh.coordinates is None


def test_sample_location_fields(sample: Registry) -> None:
    baghdad = sample.get("location", "baghdad")
    assert baghdad is not None
    assert (baghdad.name, baghdad.category, baghdad.parent, baghdad.country) == (
        "Baghdad", "city", "baghdad-governorate", "IQ")
    assert baghdad.coordinates == (33.31, 44.37)
    assert baghdad.aliases == ("Bagdad",)
    assert baghdad.line == line_of(CONTENT / "_data/locations.yaml", "- name: Baghdad")
    iraq = sample.get("location", "iraq")
    assert iraq is not None
    assert iraq.links == (Link("Wikidata", "https://www.wikidata.org/wiki/Q796"),)
    assert iraq.coordinates is None and iraq.parent is None


@pytest.mark.parametrize(("kind", "spelling", "canonical"), [
    ("actor", "Kata'ib Hizballah", "Kataib Hezbollah"),
    ("actor", "Kata\u2019ib Hizballah", "Kataib Hezbollah"),  # curly apostrophe
    ("actor", "KH", "Kataib Hezbollah"),
    ("actor", "kh", "Kataib Hezbollah"),
    ("actor", "kataib hezbollah", "Kataib Hezbollah"),
    ("actor", "  KATAIB   HEZBOLLAH ", "Kataib Hezbollah"),
    ("actor", "kataib-hezbollah", "Kataib Hezbollah"),  # the slug
    ("actor", "كتائب حزب الله", "Kataib Hezbollah"),
    ("actor", "Ministere des Armees", "Ministère des Armées"),
    ("location", "Anbar", "Anbar Governorate"),
    ("location", "al anbar", "Anbar Governorate"),
    ("location", "Kerbala", "Karbala"),
    ("location", "Menaka", "Ménaka"),
    ("location", "MÉNAKA", "Ménaka"),
    ("location", "Hewler", "Erbil"),
    ("location", "Sana'a", "Sanaa"),
])
def test_resolve_any_spelling(sample: Registry, kind: str, spelling: str,
                              canonical: str) -> None:
    found = sample.resolve(kind, spelling)  # type: ignore[arg-type]
    assert found is not None and found.name == canonical


def test_resolve_unknown_or_other_kind(sample: Registry) -> None:
    assert sample.resolve("actor", "Kataib Hezbolah") is None
    assert sample.resolve("location", "KH") is None
    assert sample.resolve("actor", "Karbala") is None
    assert sample.get("actor", "karbala") is None


def test_location_tree(sample: Registry) -> None:
    def names(found: tuple[Entity, ...]) -> list[str]:
        return [e.name for e in found]

    assert names(sample.ancestors("karbala")) == ["Karbala Governorate", "Iraq"]
    assert names(sample.ancestors("green-zone")) == ["Baghdad", "Baghdad Governorate", "Iraq"]
    assert names(sample.ancestors("iraq")) == []
    assert names(sample.ancestors("no-such-place")) == []
    assert names(sample.children("baghdad-governorate")) == ["Baghdad", "Camp Taji"]
    assert names(sample.children("karbala")) == []
    assert names(sample.descendants("baghdad-governorate")) == [
        "Baghdad", "Baghdad International Airport", "Green Zone", "Camp Taji"]
    assert "Karbala" in names(sample.descendants("iraq"))
    assert "Abu Kamal" not in names(sample.descendants("iraq"))


def test_suggest_closest_canonical_names(sample: Registry) -> None:
    assert sample.suggest("actor", "Kataib Hezbolah") == ["Kataib Hezbollah"]
    assert sample.suggest("actor", "Kata'ib Hizbalah")[0] == "Kataib Hezbollah"
    assert sample.suggest("location", "Bagdhad") == ["Baghdad"]
    assert sample.suggest("location", "Karbla") == ["Karbala", "Erbil"]  # Erbil via "Arbil"
    assert sample.suggest("location", "Karbla", n=1) == ["Karbala"]
    assert sample.suggest("location", "Xyzzy") == []


def test_registry_and_finder_pickle_for_worker_processes(sample: Registry) -> None:
    copy = pickle.loads(pickle.dumps(sample))
    assert copy == sample
    assert copy.resolve("actor", "KH") == sample.resolve("actor", "KH")
    finder = pickle.loads(pickle.dumps(MentionFinder(sample)))
    assert [m.entity.name for m in finder.find("KH hit Camp Taji")] == [
        "Kataib Hezbollah", "Camp Taji"]


def test_missing_registry_files_mean_an_empty_registry(tmp_path: Path) -> None:
    registry, diags = load_registry(tmp_path / "content")
    assert diags == []
    assert registry.is_empty("actor") and registry.is_empty("location")
    assert registry.resolve("actor", "KH") is None
    assert registry.suggest("actor", "KH") == []
    assert MentionFinder(registry).find("KH fired at Baghdad") == []


def test_only_one_registry_file(tmp_path: Path) -> None:
    (tmp_path / "content/_data").mkdir(parents=True)
    (tmp_path / "content/_data/locations.yaml").write_text("- name: Iraq\n", encoding="utf-8")
    registry, diags = load_registry(tmp_path / "content")
    assert diags == []
    assert registry.is_empty("actor")
    assert [e.name for e in registry.locations] == ["Iraq"]
    assert registry.locations[0].path == LOCS


def test_registry_file_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "content/_data").mkdir(parents=True)
    (tmp_path / "content/_data/actors.yaml").write_bytes(b"- name: ok\n- name: caf\xe9\n")
    registry, diags = load_registry(tmp_path / "content")
    assert [d.format() for d in diags] == [
        f"{ACTORS}:2:12: error[registry.encoding]: not valid UTF-8 (byte 0xe9); save the "
        "file as UTF-8"]
    assert registry.is_empty("actor")


def test_bom_and_comments_only() -> None:
    assert parse_ok("\ufeff- name: Iraq\n")[0].name == "Iraq"
    assert parse_ok("# nothing yet\n") == []
    assert parse_ok("") == []


# --- Validation: exact positions and codes --------------------------------------------------

def test_yaml_syntax_error() -> None:
    assert problems("- name: Iraq\n  aliases: [a, b\n- name: Syria\n") == [
        f"{LOCS}:3:7: error[registry.yaml]: invalid YAML: while parsing a flow sequence; "
        "expected ',' or ']', but got ':'"]


def test_top_level_must_be_a_list() -> None:
    assert problems("name: Iraq\n") == [
        f"{LOCS}:1:1: error[registry.type]: a registry file must be a list of entries "
        "('- name: ...'), got a mapping"]


def test_entry_must_be_a_mapping_and_have_a_name() -> None:
    assert problems("- Iraq\n- aliases: [x]\n- name:\n- name: '  '\n- name: 1917\n") == [
        f"{LOCS}:1:3: error[registry.type]: each entry must be a mapping such as "
        "'- name: ...', got a string",
        f"{LOCS}:2:3: error[registry.missing-key]: entry has no 'name'",
        f"{LOCS}:3:8: error[registry.empty]: name: must not be empty",
        f"{LOCS}:4:9: error[registry.empty]: name: must not be empty",
        f"{LOCS}:5:9: error[registry.type]: name: expected text, got a number (put it in "
        "quotes)",
    ]


def test_unknown_and_duplicate_keys() -> None:
    text = "- name: Iraq\n  alias: [Irak]\n  name: Iraq\n  1: x\n"
    assert problems(text) == [
        f"{LOCS}:2:3: error[registry.unknown-key]: unknown key 'alias' (did you mean "
        "'aliases'?); allowed: name, aliases, slug, kind, description, links, parent, "
        "country, coordinates",
        f"{LOCS}:3:3: error[registry.duplicate-key]: duplicate key 'name' (first set on "
        "line 1)",
        f"{LOCS}:4:3: error[registry.unknown-key]: keys must be plain names such as 'name' "
        "or 'aliases'",
    ]


def test_location_keys_on_an_actor() -> None:
    text = "- name: KH\n  parent: Iraq\n  coordinates: [1, 2]\n  countries: IQ\n"
    assert problems(text, "actor", ACTORS) == [
        f"{ACTORS}:2:3: error[registry.location-only]: 'parent' is only for locations (in "
        "locations.yaml), not actors",
        f"{ACTORS}:3:3: error[registry.location-only]: 'coordinates' is only for locations "
        "(in locations.yaml), not actors",
        f"{ACTORS}:4:3: error[registry.unknown-key]: unknown key 'countries'; allowed: name, "
        "aliases, slug, kind, description, links",
    ]


def test_wrong_types() -> None:
    text = ("- name: Iraq\n"
            "  aliases: {a: b}\n"
            "  kind: 3\n"
            "  description: [a]\n"
            "- name: Syria\n"
            "  aliases: [ok, 12, '', null]\n")
    assert problems(text) == [
        f"{LOCS}:2:12: error[registry.type]: aliases: expected a list of names, got a mapping",
        f"{LOCS}:3:9: error[registry.type]: kind: expected text, got a number (put it in "
        "quotes)",
        f"{LOCS}:4:16: error[registry.type]: description: expected text, got a list",
        f"{LOCS}:6:17: error[registry.type]: aliases: each alias must be text, got a number",
        f"{LOCS}:6:21: error[registry.empty]: aliases: empty alias",
        f"{LOCS}:6:25: error[registry.type]: aliases: each alias must be text, got nothing "
        "(null)",
    ]


def test_single_alias_as_text_and_null_fields() -> None:
    [iraq] = parse_ok("- name: Iraq\n  aliases: Irak\n  kind:\n  description:\n  country:\n")
    assert iraq.aliases == ("Irak",)
    assert (iraq.category, iraq.description, iraq.country) == (None, "", None)


def test_alias_claimed_by_two_entries() -> None:
    text = ("- name: Kataib Hezbollah\n"
            "  aliases: [KH, \"Kata'ib Hizballah\"]\n"
            "- name: Kataib Hizballah Brigades\n"
            "  aliases: [\"kh\", Kataib Hizballah]\n")
    entities, diags = parse_registry(text, ACTORS, "actor")
    assert [d.format() for d in diags] == [
        f"{ACTORS}:4:13: error[registry.alias-conflict]: alias 'kh' is already used by "
        f"'Kataib Hezbollah' ({ACTORS}:1)",
        f"{ACTORS}:4:19: error[registry.alias-conflict]: alias 'Kataib Hizballah' is already "
        f"used by 'Kataib Hezbollah' ({ACTORS}:1)",
    ]
    assert [e.aliases for e in entities] == [("KH", "Kata'ib Hizballah"), ()]


def test_name_claimed_as_another_entry_alias() -> None:
    text = "- name: Anbar Governorate\n  aliases: [Anbar]\n- name: Anbar\n"
    assert problems(text) == [
        f"{LOCS}:3:9: error[registry.alias-conflict]: name 'Anbar' is already used by "
        f"'Anbar Governorate' ({LOCS}:1)"]


def test_same_slug_twice() -> None:
    text = ("- name: Erbil\n"
            "- name: ERBIL\n"
            "- name: Arbil\n"
            "  slug: erbil\n"
            "- name: Hewler\n"
            "  slug: Hewler City\n")
    entities, diags = parse_registry(text, LOCS, "location")
    assert [d.format() for d in diags] == [
        f"{LOCS}:2:9: error[registry.duplicate-slug]: slug 'erbil' of 'ERBIL' is already used "
        f"by 'Erbil' ({LOCS}:1)",
        f"{LOCS}:4:9: error[registry.duplicate-slug]: slug 'erbil' of 'Arbil' is already used "
        f"by 'Erbil' ({LOCS}:1)",
        f"{LOCS}:6:9: error[registry.slug]: slug: 'Hewler City' is not a valid slug; use "
        "lowercase letters, digits and hyphens, such as 'hewler-city'",
    ]
    assert [(e.name, e.slug) for e in entities] == [("Erbil", "erbil"), ("Hewler", "hewler")]


def test_slug_override_is_used_and_resolves() -> None:
    [kh] = parse_ok("- name: Kataib Hezbollah\n  slug: kh-brigades\n", "actor")
    assert kh.slug == "kh-brigades"
    registry = Registry(actors=(kh,))
    assert registry.resolve("actor", "KH Brigades") is kh
    assert registry.get("actor", "kh-brigades") is kh
    assert registry.get("actor", "kataib-hezbollah") is None


def test_unknown_parent_suggests_names() -> None:
    text = ("- name: Iraq\n"
            "- name: Karbala Governorate\n"
            "  parent: Irak\n"
            "- name: Karbala\n"
            "  parent: Karbala Governate\n"
            "- name: Atlantis\n"
            "  parent: Mu\n")
    entities, diags = parse_registry(text, LOCS, "location")
    assert [d.format() for d in diags] == [
        f"{LOCS}:3:11: error[registry.unknown-parent]: parent: 'Irak' is not a location in "
        "this registry (did you mean 'Iraq'?)",
        f"{LOCS}:5:11: error[registry.unknown-parent]: parent: 'Karbala Governate' is not a "
        "location in this registry (did you mean 'Karbala Governorate'?)",
        f"{LOCS}:7:11: error[registry.unknown-parent]: parent: 'Mu' is not a location in "
        "this registry",
    ]
    assert [e.parent for e in entities] == [None, None, None, None]


def test_parent_by_name_alias_or_slug() -> None:
    entities = parse_ok("- name: Iraq\n  aliases: [Republic of Iraq]\n"
                        "- name: Anbar Governorate\n  parent: republic of iraq\n"
                        "- name: al-Qaim\n  parent: anbar-governorate\n"
                        "- name: Akashat\n  parent: ANBAR GOVERNORATE\n")
    assert [e.parent for e in entities] == [None, "iraq", "anbar-governorate",
                                            "anbar-governorate"]


def test_parent_cycles_reported_once_each() -> None:
    text = ("- name: Karbala\n"                 # 1
            "  parent: Karbala Governorate\n"   # 2
            "- name: Karbala Governorate\n"     # 3
            "  parent: Karbala\n"               # 4
            "- name: Shrine\n"                  # 5  leads into the cycle, not part of it
            "  parent: Karbala\n"               # 6
            "- name: Narnia\n"                  # 7
            "  parent: narnia\n"                # 8  its own parent
            "- name: A\n"                       # 9
            "  parent: C\n"                     # 10
            "- name: B\n"                       # 11
            "  parent: A\n"                     # 12
            "- name: C\n"                       # 13
            "  parent: B\n")                    # 14
    entities, diags = parse_registry(text, LOCS, "location")
    assert [d.format() for d in diags] == [
        f"{LOCS}:2:11: error[registry.cycle]: parent cycle: Karbala \u203a Karbala "
        "Governorate \u203a Karbala (a location cannot be inside itself)",
        f"{LOCS}:8:11: error[registry.cycle]: parent cycle: Narnia \u203a Narnia (a "
        "location cannot be inside itself)",
        f"{LOCS}:10:11: error[registry.cycle]: parent cycle: A \u203a C \u203a B \u203a A "
        "(a location cannot be inside itself)",
    ]
    # The cycle is broken at the entry reported, so the tree functions terminate.
    registry = Registry(locations=tuple(entities))
    assert [e.name for e in registry.ancestors("shrine")] == ["Karbala"]
    assert [e.name for e in registry.ancestors("karbala-governorate")] == ["Karbala"]
    assert [e.name for e in registry.descendants("a")] == ["B", "C"]


def test_tree_functions_survive_a_hand_built_cycle() -> None:
    registry = Registry(locations=(entity("A", parent="b"), entity("B", parent="a")))
    assert [e.name for e in registry.ancestors("a")] == ["B"]
    assert [e.name for e in registry.descendants("a")] == ["B"]


def test_coordinates() -> None:
    text = ("- name: A\n  coordinates: 33.3\n"
            "- name: B\n  coordinates: [33.3]\n"
            "- name: C\n  coordinates: ['33', '44']\n"
            "- name: D\n  coordinates: [95, 44.1]\n"
            "- name: E\n  coordinates: [-33, 200]\n"
            "- name: F\n  coordinates: [true, 1]\n"
            "- name: G\n  coordinates: [.nan, 1]\n"
            "- name: H\n  coordinates: [-90, 180]\n")
    entities, diags = parse_registry(text, LOCS, "location")
    expected = "coordinates: expected [latitude, longitude] in decimal degrees such as " \
               "[33.31, 44.37], got "
    assert [d.format() for d in diags] == [
        f"{LOCS}:2:16: error[registry.coordinates]: {expected}33.3",
        f"{LOCS}:4:16: error[registry.coordinates]: {expected}[33.3]",
        f"{LOCS}:6:16: error[registry.coordinates]: {expected}['33', '44']",
        f"{LOCS}:8:17: error[registry.coordinates]: coordinates: latitude 95 is outside "
        "-90..90 (is it [lat, lon] in that order?)",
        f"{LOCS}:10:22: error[registry.coordinates]: coordinates: longitude 200 is outside "
        "-180..180",
        f"{LOCS}:12:16: error[registry.coordinates]: {expected}[True, 1]",
        f"{LOCS}:14:16: error[registry.coordinates]: {expected}[nan, 1]",
    ]
    assert [e.coordinates for e in entities] == [None] * 7 + [(-90.0, 180.0)]


def test_country_codes() -> None:
    text = ("- name: A\n  country: iq\n- name: B\n  country: IRQ\n- name: C\n  country: 1\n"
            "- name: D\n  country: FR\n")
    entities, diags = parse_registry(text, LOCS, "location")
    assert [d.format() for d in diags] == [
        f"{LOCS}:2:12: error[registry.country]: country: expected a two-letter ISO 3166-1 "
        "code such as 'IQ', got 'iq' (write 'IQ')",
        f"{LOCS}:4:12: error[registry.country]: country: expected a two-letter ISO 3166-1 "
        "code such as 'IQ', got 'IRQ'",
        f"{LOCS}:6:12: error[registry.country]: country: expected a two-letter ISO 3166-1 "
        "code such as 'IQ', got 1",
    ]
    assert [e.country for e in entities] == [None, None, None, "FR"]


def test_links() -> None:
    text = ("- name: A\n"
            "  links:\n"
            "    - {title: Wikidata, url: 'https://www.wikidata.org/wiki/Q796'}\n"
            "    - {title: Archive, url: 'ftp://example.org/x'}\n"
            "    - {url: 'https://example.org/'}\n"
            "    - {title: Site, url: 'https://example.org/', lang: en}\n"
            "    - https://example.org/\n"
            "    - {title: [x], url: 'http://example.org/'}\n"
            "- name: B\n"
            "  links: https://example.org/\n")
    entities, diags = parse_registry(text, LOCS, "location")
    assert [d.format() for d in diags] == [
        f"{LOCS}:4:29: error[registry.link]: links: url: expected an http(s) URL, got "
        "'ftp://example.org/x'",
        f"{LOCS}:5:7: error[registry.missing-key]: links: link has no 'title'",
        f"{LOCS}:6:50: error[registry.unknown-key]: links: unknown key 'lang'; allowed: "
        "title, url",
        f"{LOCS}:7:7: error[registry.type]: links: each link must be a mapping {{title: ..., "
        "url: ...}, got a string",
        f"{LOCS}:8:15: error[registry.type]: links: title: expected text, got a list",
        f"{LOCS}:10:10: error[registry.type]: links: expected a list of {{title: ..., "
        "url: ...} mappings, got a string",
    ]
    assert entities[0].links == (Link("Wikidata", "https://www.wikidata.org/wiki/Q796"),)
    assert entities[1].links == ()


def test_all_errors_reported_and_good_entries_kept() -> None:
    text = ("- name: Iraq\n"
            "  country: Iraq\n"
            "  coordinates: [33, 444]\n"
            "- name: Baghdad\n"
            "  parent: Irak\n"
            "  aliases: [Bagdad]\n"
            "- name: Bagdad\n"
            "- name: Basra\n"
            "  parent: Iraq\n"
            "  colour: red\n")
    entities, diags = parse_registry(text, LOCS, "location")
    assert [(d.code, d.line, d.col) for d in diags] == [
        ("registry.country", 2, 12), ("registry.coordinates", 3, 21),
        ("registry.unknown-parent", 5, 11), ("registry.alias-conflict", 7, 9),
        ("registry.unknown-key", 10, 3)]
    assert [(e.name, e.parent) for e in entities] == [
        ("Iraq", None), ("Baghdad", None), ("Bagdad", None), ("Basra", "iraq")]


# --- Mentions -------------------------------------------------------------------------------

def found(finder: MentionFinder, text: str) -> list[tuple[str, str]]:
    mentions = finder.find(text)
    for m in mentions:
        assert text[m.start:m.end] == m.matched_text
    return [(m.entity.name, m.matched_text) for m in mentions]


@pytest.fixture(scope="module")
def finder(sample: Registry) -> MentionFinder:
    return MentionFinder(sample)


def test_mentions_whole_words_only(finder: MentionFinder) -> None:
    assert found(finder, "Iraqi forces and Iraq's army; Iraq-Syria border.") == [
        ("Iraq", "Iraq"), ("Iraq", "Iraq"), ("Syria", "Syria")]
    assert found(finder, "Baghdad's airport, Baghdad-based, (Baghdad), 'Baghdad'.") == [
        ("Baghdad", "Baghdad"), ("Baghdad", "Baghdad"), ("Baghdad", "Baghdad"),
        ("Baghdad", "Baghdad")]
    assert found(finder, "Baghdadi, Ibaghdad, Baghdad_2") == []
    assert found(finder, "Sanaa\u2019s port") == [("Sanaa", "Sanaa")]


def test_mentions_fold_case_accents_apostrophes(finder: MentionFinder) -> None:
    assert found(finder, "kata'ib hizballah and KATAIB HEZBOLLAH and Kataib Hizballah") == [
        ("Kataib Hezbollah", "kata'ib hizballah"), ("Kataib Hezbollah", "KATAIB HEZBOLLAH"),
        ("Kataib Hezbollah", "Kataib Hizballah")]
    assert found(finder, "Menaka, Ménaka, Me\u0301naka.") == [
        ("Ménaka", "Menaka"), ("Ménaka", "Ménaka"), ("Ménaka", "Me\u0301naka")]
    assert found(finder, "rockets hit Camp\n   Taji again") == [
        ("Camp Taji", "Camp\n   Taji")]
    assert found(finder, "بيان كتائب حزب الله اليوم") == [
        ("Kataib Hezbollah", "كتائب حزب الله")]


def test_mentions_acronyms_only_as_written(finder: MentionFinder) -> None:
    assert found(finder, "KH said; kh said; Kh said; KHz; the PMF and the pmf; IZ; MoD; mod") \
        == [("Kataib Hezbollah", "KH"), ("Popular Mobilization Forces", "PMF"),
            ("Green Zone", "IZ"), ("UK Ministry of Defence", "MoD")]
    assert found(finder, "the K-1 base and K1, but not k1") == [
        ("K-1 Air Base", "K-1 base"), ("K-1 Air Base", "K1")]


def test_mentions_longest_match_wins(finder: MentionFinder) -> None:
    assert found(finder, "at Baghdad International Airport near Baghdad Governorate") == [
        ("Baghdad International Airport", "Baghdad International Airport"),
        ("Baghdad Governorate", "Baghdad Governorate")]
    assert found(finder, "the Islamic Resistance in Iraq claimed it") == [
        ("Islamic Resistance in Iraq", "Islamic Resistance in Iraq")]
    assert found(finder, "the Iraqi government in Baghdad") == [
        ("Government of Iraq", "Iraqi government"), ("Baghdad", "Baghdad")]


def test_mentions_apostrophe_inside_a_word_is_not_a_boundary() -> None:
    finder = MentionFinder(Registry(locations=(entity("Sana"),)))
    assert found(finder, "Sana'a is not Sana, but Sana's port is.") == [
        ("Sana", "Sana"), ("Sana", "Sana")]
    assert [m.start for m in finder.find("Sana'a is not Sana, but Sana's port is.")] == [14, 24]


def test_short_names_that_are_not_acronyms_are_not_searched() -> None:
    finder = MentionFinder(Registry(locations=(entity("Ur", "UR"), entity("Gao"))))
    assert found(finder, "Ur and ur and UR and Gao and gao") == [
        ("Ur", "UR"), ("Gao", "Gao"), ("Gao", "gao")]


def test_a_name_shared_by_an_actor_and_a_location() -> None:
    registry = Registry(actors=(entity("Jordan", kind="actor"),),
                        locations=(entity("Jordan"),))
    mentions = MentionFinder(registry).find("in Jordan today")
    assert [(m.entity.kind, m.start, m.end) for m in mentions] == [
        ("actor", 3, 9), ("location", 3, 9)]


@pytest.mark.parametrize(("spelling", "acronym"), [
    ("KH", True), ("PMF", True), ("IRGC-QF", True), ("K-1", True), ("K1", True),
    ("MoD", True), ("FAMa", True), ("U.S.", True), ("Gao", False), ("Taji", False),
    ("al-Qaim", False), ("Pentagon", False), ("Iraq", False), ("kh", False),
    ("Camp Taji", False), ("BIAP", True),
])
def test_is_acronym(spelling: str, acronym: bool) -> None:
    assert is_acronym(spelling) is acronym


def test_fold_keeps_offsets() -> None:
    folded, origin = fold("Kata\u2019ib  Ménaka\nX")
    assert folded == "kataib menaka x"
    assert origin == (0, 1, 2, 3, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16)


def test_mentions_scale_to_thousands_of_names() -> None:
    rng = random.Random(5)
    syllables = ["zor", "vak", "tel", "min", "qua", "rix", "bel", "dun", "kor", "xan",
                 "pel", "mur", "gav", "sil", "tor", "wex"]

    def word() -> str:
        return "".join(rng.choice(syllables) for _ in range(3)).capitalize()

    names: set[str] = set()
    while len(names) < 5000:
        names.add(f"{word()} {word()}")
    ordered = sorted(names)
    entities = tuple(entity(n, f"ZQ{i}") if i % 10 == 0 else entity(n)
                     for i, n in enumerate(ordered))
    registry = Registry(locations=entities)
    finder = MentionFinder(registry)

    filler = ["the", "forces", "said", "on", "a", "rocket", "attack", "near", "base", "and",
              "officials", "reported", "that", "two", "were", "wounded", "in", "strike"]
    words: list[str] = []
    expected: list[tuple[str, str]] = []
    for i in range(2000):
        if i % 20 == 7:
            target = entities[rng.randrange(len(entities))]
            if target.aliases and i % 40 == 7:
                spelling = target.aliases[0]  # the acronym, as written
            else:
                spelling = target.name if i % 3 else target.name.upper()
            words.append(spelling + (rng.choice(["", ",", "'s", "."])))
            expected.append((target.name, spelling))
        elif i % 20 == 13:
            words.append(f"zq{i}")  # an acronym in the wrong case: not a mention
        else:
            words.append(rng.choice(filler))
    text = " ".join(words)
    assert len(text.split()) >= 2000
    assert found(finder, text) == expected
    assert len(expected) == 100


# --- Missing mentions -----------------------------------------------------------------------

REPORT = """\
---
title: Rockets hit Camp Taji
date: 2020-03-11
actors: ["Kata'ib Hizballah"]
locations: [Republic of Iraq, Bagdad]
---
Kataib Hezbollah (KH) fired rockets at Camp Taji, north of Baghdad, Iraq.

```
Karbala in a code block
```

Inline `Erbil` code, a [link](https://example.org/karbala-erbil) and <a href="/erbil">x</a>.
Later, the coalition left Camp Taji; the Pentagon
confirmed it.
"""


def test_missing_mentions(sample: Registry, finder: MentionFinder) -> None:
    doc, diags = parse_document(REPORT, "content/2020/x.md", UTC)
    assert diags == [] and doc is not None
    missing = missing_mentions(doc.body, doc.body_line, doc.meta.actors, doc.meta.locations,
                               finder, sample)
    assert [(m.entity.kind, m.entity.name, m.line, m.col, m.matched_text) for m in missing] == [
        ("location", "Camp Taji", 7, 40, "Camp Taji"),
        ("actor", "US Department of Defense", 14, 42, "Pentagon"),
    ]
    lines = REPORT.splitlines()
    for m in missing:
        assert lines[m.line - 1][m.col - 1:].startswith(m.matched_text)


def test_missing_mentions_with_nothing_listed(sample: Registry, finder: MentionFinder) -> None:
    missing = missing_mentions("Karbala and Kerbala, then Karbala Governorate.\n", 10, (), (),
                               finder, sample)
    assert [(m.entity.name, m.line, m.col) for m in missing] == [
        ("Karbala", 10, 1), ("Karbala Governorate", 10, 27)]


def test_mask_markdown_keeps_offsets() -> None:
    body = "a `Iraq` b\n```\nIraq\n```\n[Iraq](http://iraq.example) <b>Iraq</b> http://x/iraq\n"
    masked = mask_markdown(body)
    assert len(masked) == len(body)
    assert masked.count("\n") == body.count("\n")
    assert masked.split("\n") == ["a        b", "   ", "    ", "   ",
                                  "[Iraq" + " " * 26 + "Iraq" + " " * 18, ""]


# --- Adding names to front matter -----------------------------------------------------------

def changed_line(before: str, after: str) -> str:
    """Assert that exactly one line was changed or added; return it as it is now."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    ops = [op for op in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes()
           if op[0] != "equal"]
    assert len(ops) == 1, ops
    tag, i1, i2, j1, j2 = ops[0]
    assert (tag, i2 - i1, j2 - j1) in (("replace", 1, 1), ("insert", 0, 1)), ops
    return new[j1]


def locations_after(text: str) -> tuple[str, ...]:
    doc, diags = parse_document(text, "content/x.md", UTC)
    assert diags == [] and doc is not None
    return doc.meta.locations


def front(*lines: str, body: str = "Body.\n", nl: str = "\n") -> str:
    return nl.join(["---", "title: T", "date: 2020-01-01", *lines, "---", body])


@pytest.mark.parametrize(("lines", "new_line", "result"), [
    (["locations: [Iraq, \"Baghdad\"]  # where"],
     "locations: [Iraq, \"Baghdad\", Camp Taji]  # where\n", ("Iraq", "Baghdad", "Camp Taji")),
    (["locations: [Iraq,Baghdad]"], "locations: [Iraq,Baghdad,Camp Taji]\n",
     ("Iraq", "Baghdad", "Camp Taji")),
    (["locations: ['Iraq', Baghdad, ]"], "locations: ['Iraq', Baghdad, Camp Taji]\n",
     ("Iraq", "Baghdad", "Camp Taji")),
    (["locations: [\"a, ]\", 'it''s']"], "locations: [\"a, ]\", 'it''s', Camp Taji]\n",
     ("a, ]", "it's", "Camp Taji")),
    (["locations: []"], "locations: [Camp Taji]\n", ("Camp Taji",)),
    (["locations: [ ]"], "locations: [Camp Taji]\n", ("Camp Taji",)),
    (["locations: Iraq  # one"], "locations: [Iraq, Camp Taji]  # one\n",
     ("Iraq", "Camp Taji")),
    (["locations: 'Karbala Governorate'"], "locations: ['Karbala Governorate', Camp Taji]\n",
     ("Karbala Governorate", "Camp Taji")),
    (["locations: \"Kata'ib #1\" # c"], "locations: [\"Kata'ib #1\", Camp Taji] # c\n",
     ("Kata'ib #1", "Camp Taji")),
    (["locations:"], "locations: [Camp Taji]\n", ("Camp Taji",)),
    (["locations:   # none yet"], "locations: [Camp Taji]   # none yet\n", ("Camp Taji",)),
    (["locations: null"], "locations: [Camp Taji]\n", ("Camp Taji",)),
    (["locations: ~"], "locations: [Camp Taji]\n", ("Camp Taji",)),
    ([], "locations: [Camp Taji]\n", ("Camp Taji",)),
    (["tags: [a]  # locations: [x]"], "locations: [Camp Taji]\n", ("Camp Taji",)),
    (["\"locations\": [Iraq]"], "\"locations\": [Iraq, Camp Taji]\n", ("Iraq", "Camp Taji")),
    (["locations_old: [Iraq]"], "locations: [Camp Taji]\n", ("Camp Taji",)),
])
def test_add_to_one_line_values(lines: list[str], new_line: str,
                                result: tuple[str, ...]) -> None:
    before = front(*lines)
    after = add_to_front_matter(before, "locations", ["Camp Taji"])
    assert changed_line(before, after) == new_line
    assert locations_after(after) == result


def test_add_to_a_key_missing_goes_before_the_closing_fence() -> None:
    before = front("actors: [KH]  # who")
    after = add_to_front_matter(before, "locations", ["Camp Taji"])
    assert after == front("actors: [KH]  # who", "locations: [Camp Taji]")


def test_add_to_flow_list_over_several_lines() -> None:
    before = front("locations: [", "  Iraq,  # the country", "  \"Baghdad\"", "]",
                   "tags: [x]")
    after = add_to_front_matter(before, "locations", ["Camp Taji"])
    assert changed_line(before, after) == "  \"Baghdad\", Camp Taji\n"
    assert locations_after(after) == ("Iraq", "Baghdad", "Camp Taji")
    before = front("locations: [", "  Iraq,", "  Baghdad,", "]")
    after = add_to_front_matter(before, "locations", ["Camp Taji"])
    assert changed_line(before, after) == "  Baghdad, Camp Taji\n"
    assert locations_after(after) == ("Iraq", "Baghdad", "Camp Taji")


@pytest.mark.parametrize(("lines", "new_line"), [
    (["locations:", "  - Iraq", "  - \"Baghdad\"  # the city", "tags: [x]"], "  - Camp Taji\n"),
    (["locations:", "- Iraq", "- Baghdad", "tags: [x]"], "- Camp Taji\n"),
    (["locations:  # places", "    -   Iraq", "    # comment", "    -   Baghdad", "",
      "# trailing comment", "tags: [x]"], "    -   Camp Taji\n"),
    (["locations:", "  - Iraq", "  - Baghdad", "    Governorate", "tags: [x]"],
     "  - Camp Taji\n"),
    (["tags: [x]", "locations:", "  - Iraq", "  - Baghdad"], "  - Camp Taji\n"),
])
def test_add_to_block_list(lines: list[str], new_line: str) -> None:
    before = front(*lines)
    after = add_to_front_matter(before, "locations", ["Camp Taji"])
    assert changed_line(before, after) == new_line
    assert locations_after(after)[-1] == "Camp Taji"
    assert len(locations_after(after)) == 3


def test_block_list_new_item_follows_the_last_item() -> None:
    before = front("locations:", "  - Iraq", "  - Baghdad", "  # trailing", "tags: [x]")
    after = add_to_front_matter(before, "locations", ["Camp Taji"])
    assert after == front("locations:", "  - Iraq", "  - Baghdad", "  - Camp Taji",
                          "  # trailing", "tags: [x]")


def test_crlf_bom_and_comments_are_kept_byte_for_byte() -> None:
    for lines in (["# editor: check", "locations: [Iraq]  # keep"],
                  ["locations:  # keep", "  - Iraq", "# end"], ["# only a comment"]):
        before = "\ufeff" + front(*lines, body="Line 1.\r\nLine 2.\r\n", nl="\r\n")
        after = add_to_front_matter(before, "locations", ["Ménaka"])
        assert after.startswith("\ufeff---\r\n")
        new = changed_line(before, after)
        assert new.endswith("\r\n") and "\n" not in new[:-1]
        assert after.count("\r\n") == after.count("\n")
        assert locations_after(after)[-1] == "Ménaka"
        assert after.encode("utf-8").count(b"\r\n") >= before.encode("utf-8").count(b"\r\n")


def test_several_names_are_quoted_when_yaml_needs_it() -> None:
    names = ["Camp Taji", "Kata'ib Hizballah", "K-1: base", "#1 target", "- dash", "yes",
             "2020", "null", "[x]", "a, b", "كتائب حزب الله", "Camp Taji", 'say "hi"',
             "back\\slash", "Al-Qa'im"]
    before = front("locations: [Iraq]")
    after = add_to_front_matter(before, "locations", names)
    assert changed_line(before, after) == (
        "locations: [Iraq, Camp Taji, \"Kata'ib Hizballah\", \"K-1: base\", \"#1 target\", "
        "\"- dash\", \"yes\", \"2020\", \"null\", \"[x]\", \"a, b\", كتائب حزب الله, "
        "\"say \\\"hi\\\"\", \"back\\\\slash\", \"Al-Qa'im\"]\n")
    assert locations_after(after) == ("Iraq", *dict.fromkeys(names))
    block = front("locations:", "  - Iraq")
    after = add_to_front_matter(block, "locations", names)
    assert locations_after(after) == ("Iraq", *dict.fromkeys(names))


@pytest.mark.parametrize(("name", "written"), [
    ("Camp Taji", "Camp Taji"), ("al-Qaim", "al-Qaim"), ("K-1 Air Base", "K-1 Air Base"),
    ("Kata'ib", "\"Kata'ib\""), ("a: b", "\"a: b\""), ("true", "\"true\""),
    (" padded", "\" padded\""), ("?x", "\"?x\""), ("", "\"\""),
])
def test_yaml_name(name: str, written: str) -> None:
    assert yaml_name(name) == written


def test_nothing_to_add_returns_the_text() -> None:
    before = front("locations: [Iraq]")
    assert add_to_front_matter(before, "locations", []) is before


@pytest.mark.parametrize(("text", "message"), [
    ("no front matter\n", "no front matter"),
    ("---\ntitle: T\n", "front matter is not closed"),
    (front("locations: {a: b}"), "its value is not a list or a single name"),
    (front("locations: >", "  Iraq"), "its value is not a list or a single name"),
    (front("locations: Iraq and", "  Syria"), "its value continues on the next line"),
    (front("locations:", "  a: b"), "it is not a list"),
    (front("locations: [Iraq,"), "closing ']' is missing"),
])
def test_values_that_cannot_be_edited(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        add_to_front_matter(text, "locations", ["Camp Taji"])
