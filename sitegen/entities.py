"""The actor and location registry: parse, validate, resolve, and find mentions in report text.

The registry is optional. ``content/_data/actors.yaml`` and ``content/_data/locations.yaml``
are YAML lists of entries::

    - name: Kataib Hezbollah            # canonical spelling (required)
      aliases: ["Kata'ib Hizballah", KH] # other spellings, abbreviations, other scripts
      slug: kataib-hezbollah            # optional override of slugify_name(name)
      kind: armed group                 # free text: person, state, city, province, base...
      description: Markdown, short.
      links: [{title: Wikidata, url: "https://www.wikidata.org/wiki/Q..."}]
      parent: Iraq                      # locations only: a name, alias or slug of a location
      country: IQ                       # locations only: ISO 3166-1 alpha-2
      coordinates: [33.31, 44.37]       # locations only: [lat, lon] in decimal degrees

Public API (all pure except ``load_registry``):

- ``parse_registry(text, path, kind) -> (entities, diagnostics)`` and
  ``load_registry(content_dir) -> (Registry, diagnostics)``.
- ``Registry``: ``resolve(kind, name)`` (any spelling: canonical name, alias or slug,
  compared by ``slugify_name`` so case, accents and apostrophes do not matter), ``get(kind,
  slug)``, ``ancestors``/``children``/``descendants`` of a location, ``suggest`` for typos.
- ``MentionFinder(registry).find(text)``: whole-word mentions of any name or alias, with one
  Aho-Corasick pass over the text.
- ``missing_mentions(...)``: the editor's check "mentions X but does not list it".
- ``add_to_front_matter(text, key, names)``: the ``--fix`` edit, one line, byte-for-byte
  elsewhere.

Diagnostic codes: ``registry.yaml``, ``registry.encoding``, ``registry.read``,
``registry.type``, ``registry.missing-key``, ``registry.empty``, ``registry.unknown-key``,
``registry.duplicate-key`` (from ``parse_yaml``), ``registry.location-only``, ``registry.slug``,
``registry.alias-conflict``, ``registry.duplicate-slug``, ``registry.unknown-parent``,
``registry.cycle``, ``registry.coordinates``, ``registry.country``, ``registry.link``.
Every one is an error, positioned at the offending YAML node; parsing goes on after each so
all problems are reported at once. An entry with errors is kept without the bad field (an
entry without a name, or whose slug is taken, is dropped), so one mistake does not cascade.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import ahocorasick  # type: ignore[import-not-found, unused-ignore]  # ships no type stubs
import yaml

from sitegen.diagnostics import Diagnostic, error, warning
from sitegen.slugs import slugify_name
from sitegen.yamlutil import YamlDoc, parse_yaml, type_name

EntityKind = Literal["actor", "location"]
KINDS: tuple[EntityKind, EntityKind] = ("actor", "location")
REGISTRY_FILES: Mapping[EntityKind, str] = MappingProxyType(
    {"actor": "actors.yaml", "location": "locations.yaml"})
COMMON_KEYS = ("name", "aliases", "slug", "kind", "description", "links")
LOCATION_KEYS = ("parent", "country", "coordinates")
LINK_KEYS = ("title", "url")
MIN_NAME_CHARS = 3  # shorter names and aliases are matched in text only as acronyms
# The apostrophes slugify_name drops (straight, curly, modifier letters, acute, primes)
_APOSTROPHES = frozenset("'\u2019\u2018\u02bc\u02bb`\u00b4\u02b9\u2032")
_COUNTRY = re.compile(r"[A-Z]{2}")
_ACRONYM = re.compile(r"[A-Z][A-Za-z0-9.&-]*")
_LOWER_RUN = re.compile(r"[a-z]{3}")
_STR_TAG = "tag:yaml.org,2002:str"


# --- Data -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Link:
    title: str
    url: str  # http or https


@dataclass(frozen=True, slots=True)
class Entity:
    """One registered actor or location."""

    kind: EntityKind
    name: str  # canonical spelling
    slug: str  # the override, or slugify_name(name)
    aliases: tuple[str, ...]
    category: str | None  # the YAML `kind` field: "armed group", "city"...
    description: str  # Markdown source
    links: tuple[Link, ...]
    parent: str | None  # slug of the parent location (locations only), resolved
    country: str | None  # ISO 3166-1 alpha-2, uppercase
    coordinates: tuple[float, float] | None  # (lat, lon)
    path: str  # registry file, as shown in diagnostics ("content/_data/actors.yaml")
    line: int  # 1-based line of the entry

    @property
    def names(self) -> tuple[str, ...]:
        """The canonical name followed by the aliases."""
        return (self.name, *self.aliases)


@dataclass(frozen=True, slots=True)
class Registry:
    """All registered entities, with lookup tables built once at construction.

    Construct it as ``Registry(actors=..., locations=...)``. Entities are expected to be
    consistent (as ``parse_registry`` returns them: unique slugs and spellings per kind, no
    parent cycles); if two share a spelling anyway, the first one wins.
    """

    actors: tuple[Entity, ...] = ()
    locations: tuple[Entity, ...] = ()
    _by_key: Mapping[tuple[str, str], Entity] = field(init=False, repr=False, compare=False)
    _by_slug: Mapping[tuple[str, str], Entity] = field(init=False, repr=False, compare=False)
    _children: Mapping[str, tuple[Entity, ...]] = field(init=False, repr=False, compare=False)
    _choices: Mapping[str, tuple[tuple[str, str], ...]] = field(
        init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_key: dict[tuple[str, str], Entity] = {}
        by_slug: dict[tuple[str, str], Entity] = {}
        choices: dict[str, list[tuple[str, str]]] = {kind: [] for kind in KINDS}
        for entity in (*self.actors, *self.locations):
            by_slug.setdefault((entity.kind, entity.slug), entity)
            for spelling in entity.names:
                key = _key(spelling)
                by_key.setdefault((entity.kind, key), entity)
                choices[entity.kind].append((key.replace("-", " "), entity.name))
            by_key.setdefault((entity.kind, entity.slug), entity)
        children: dict[str, list[Entity]] = {}
        for entity in self.locations:
            if entity.parent is not None:
                children.setdefault(entity.parent, []).append(entity)
        # Plain dicts (private, never handed out) keep the registry picklable for workers.
        object.__setattr__(self, "_by_key", by_key)
        object.__setattr__(self, "_by_slug", by_slug)
        object.__setattr__(self, "_children", {
            slug: tuple(sorted(kids, key=lambda e: (e.name.casefold(), e.slug)))
            for slug, kids in children.items()})
        object.__setattr__(self, "_choices", {kind: tuple(found)
                                              for kind, found in choices.items()})

    def entities(self, kind: EntityKind) -> tuple[Entity, ...]:
        return self.actors if kind == "actor" else self.locations

    def is_empty(self, kind: EntityKind) -> bool:
        return not self.entities(kind)

    def resolve(self, kind: EntityKind, name: str) -> Entity | None:
        """The entity a spelling stands for: its canonical name, an alias or its slug, compared
        by ``slugify_name`` (case, accents, apostrophes and punctuation fold away)."""
        return self._by_key.get((kind, _key(name)))

    def get(self, kind: EntityKind, slug: str) -> Entity | None:
        return self._by_slug.get((kind, slug))

    def ancestors(self, slug: str) -> tuple[Entity, ...]:
        """The parents of a location, nearest first, up to the root."""
        found: list[Entity] = []
        seen = {slug}
        current = self.get("location", slug)
        while current is not None and current.parent is not None and current.parent not in seen:
            seen.add(current.parent)
            current = self.get("location", current.parent)
            if current is not None:
                found.append(current)
        return tuple(found)

    def children(self, slug: str) -> tuple[Entity, ...]:
        """The locations whose parent is ``slug``, A-Z by name."""
        return self._children.get(slug, ())

    def descendants(self, slug: str) -> tuple[Entity, ...]:
        """Every location below ``slug``, depth first (each child followed by its subtree)."""
        found: list[Entity] = []
        seen = {slug}
        stack = list(reversed(self.children(slug)))
        while stack:
            entity = stack.pop()
            if entity.slug in seen:
                continue
            seen.add(entity.slug)
            found.append(entity)
            stack.extend(reversed(self.children(entity.slug)))
        return tuple(found)

    def suggest(self, kind: EntityKind, name: str, n: int = 3) -> list[str]:
        """Up to ``n`` canonical names closest to a misspelled ``name`` (best first)."""
        return _closest(name, self._choices.get(kind, ()), n)


def _key(spelling: str) -> str:
    """The comparison key of a spelling: its slug."""
    return slugify_name(" ".join(spelling.split()))


def _closest(name: str, choices: Sequence[tuple[str, str]], n: int) -> list[str]:
    canonical: dict[str, str] = {}
    for folded, target in choices:
        canonical.setdefault(folded, target)
    query = _key(name).replace("-", " ")
    found: list[str] = []
    for match in difflib.get_close_matches(query, list(canonical), n=max(n, 1) * 4, cutoff=0.6):
        target = canonical[match]
        if target not in found:
            found.append(target)
    return found[:n]


# --- Parsing and validation -----------------------------------------------------------------

@dataclass(slots=True)
class _Draft:
    """An entry being checked (mutable, internal)."""

    name: str
    slug: str
    line: int
    name_node: yaml.Node
    slug_node: yaml.Node | None
    aliases: list[tuple[str, yaml.Node]]
    category: str | None = None
    description: str = ""
    links: tuple[Link, ...] = ()
    parent_raw: tuple[str, yaml.Node] | None = None
    parent: str | None = None
    country: str | None = None
    coordinates: tuple[float, float] | None = None


class _Parser:
    def __init__(self, doc: YamlDoc, path: str, kind: EntityKind) -> None:
        self.doc = doc
        self.path = path
        self.kind = kind
        self.diags: list[Diagnostic] = []

    def err(self, code: str, node: yaml.Node, message: str) -> None:
        mark = self.doc.mark(node)
        self.diags.append(error(code, self.path, message, mark.line, mark.col))

    # One entry ----------------------------------------------------------------------------

    def entry(self, node: yaml.Node, data: Any) -> _Draft | None:
        if not isinstance(node, yaml.MappingNode) or not isinstance(data, dict):
            self.err("registry.type", node, "each entry must be a mapping such as "
                     f"'- name: ...', got {type_name(data)}")
            return None
        allowed = COMMON_KEYS + LOCATION_KEYS
        nodes: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR_TAG:
                self.err("registry.unknown-key", key_node, "keys must be plain names such as "
                         "'name' or 'aliases'")
                continue
            key = str(key_node.value)
            if key in nodes:  # parse_yaml reports it; the last value wins, as in the data
                nodes[key] = value_node
                continue
            if key not in allowed:
                self.err("registry.unknown-key", key_node,
                         f"unknown key '{key}'{_did_you_mean(key, self.allowed_keys())}; "
                         f"allowed: {', '.join(self.allowed_keys())}")
                continue
            if key in LOCATION_KEYS and self.kind == "actor":
                self.err("registry.location-only", key_node,
                         f"'{key}' is only for locations (in locations.yaml), not actors")
                continue
            nodes[key] = value_node
        if "name" not in nodes:
            self.err("registry.missing-key", node, "entry has no 'name'")
            return None
        name = self.text(data, nodes, "name", required=True)
        if name is None:
            return None
        slug = slugify_name(name)
        if "slug" in nodes:
            slug = self.slug(data["slug"], nodes["slug"]) or slug
        draft = _Draft(name=name, slug=slug, line=self.doc.mark(node).line,
                       name_node=nodes["name"], slug_node=nodes.get("slug"),
                       aliases=self.aliases(data, nodes))
        draft.category = self.text(data, nodes, "kind")
        draft.description = (self.text(data, nodes, "description", collapse=False) or "")
        if "links" in nodes:
            draft.links = self.links(data["links"], nodes["links"])
        if "parent" in nodes:
            parent = self.text(data, nodes, "parent")
            draft.parent_raw = (parent, nodes["parent"]) if parent else None
        if "country" in nodes:
            draft.country = self.country(data["country"], nodes["country"])
        if "coordinates" in nodes:
            draft.coordinates = self.coordinates(data["coordinates"], nodes["coordinates"])
        return draft

    def allowed_keys(self) -> tuple[str, ...]:
        return COMMON_KEYS + (LOCATION_KEYS if self.kind == "location" else ())

    def text(self, data: dict[Any, Any], nodes: Mapping[str, yaml.Node], key: str,
             required: bool = False, collapse: bool = True) -> str | None:
        if key not in nodes:
            return None
        value = data[key]
        if value is None:
            if required:
                self.err("registry.empty", nodes[key], f"{key}: must not be empty")
            return None
        if not isinstance(value, str):
            self.err("registry.type", nodes[key],
                     f"{key}: expected text, got {type_name(value)}" + (
                         " (put it in quotes)" if isinstance(value, int | float) else ""))
            return None
        text = " ".join(value.split()) if collapse else value.strip()
        if not text and required:
            self.err("registry.empty", nodes[key], f"{key}: must not be empty")
            return None
        return text or None

    def slug(self, value: Any, node: yaml.Node) -> str | None:
        if not isinstance(value, str) or not value.strip():
            self.err("registry.slug", node, f"slug: expected a slug such as 'kataib-hezbollah', "
                     f"got {type_name(value) if not isinstance(value, str) else 'empty text'}")
            return None
        if slugify_name(value) != value:
            self.err("registry.slug", node, f"slug: {value!r} is not a valid slug; use "
                     f"lowercase letters, digits and hyphens, such as '{slugify_name(value)}'")
            return None
        return value

    def aliases(self, data: dict[Any, Any], nodes: Mapping[str, yaml.Node]
                ) -> list[tuple[str, yaml.Node]]:
        if "aliases" not in nodes or data["aliases"] is None:
            return []
        value, node = data["aliases"], nodes["aliases"]
        if isinstance(value, str):
            value, items = [value], [node]
        elif isinstance(value, list) and isinstance(node, yaml.SequenceNode):
            items = list(node.value)
        else:
            self.err("registry.type", node,
                     f"aliases: expected a list of names, got {type_name(value)}")
            return []
        found: list[tuple[str, yaml.Node]] = []
        for item, item_node in zip(value, items, strict=True):
            if not isinstance(item, str):
                self.err("registry.type", item_node,
                         f"aliases: each alias must be text, got {type_name(item)}")
            elif not item.strip():
                self.err("registry.empty", item_node, "aliases: empty alias")
            else:
                found.append((" ".join(item.split()), item_node))
        return found

    def links(self, value: Any, node: yaml.Node) -> tuple[Link, ...]:
        if not isinstance(value, list) or not isinstance(node, yaml.SequenceNode):
            self.err("registry.type", node, "links: expected a list of "
                     f"{{title: ..., url: ...}} mappings, got {type_name(value)}")
            return ()
        found: list[Link] = []
        for item, item_node in zip(value, node.value, strict=True):
            if not isinstance(item, dict) or not isinstance(item_node, yaml.MappingNode):
                self.err("registry.type", item_node, "links: each link must be a mapping "
                         f"{{title: ..., url: ...}}, got {type_name(item)}")
                continue
            marks = {k.value: (k, v) for k, v in item_node.value
                     if isinstance(k, yaml.ScalarNode)}
            ok = True
            for key, (key_node, _) in marks.items():
                if key not in LINK_KEYS:
                    self.err("registry.unknown-key", key_node, f"links: unknown key '{key}'"
                             f"{_did_you_mean(str(key), LINK_KEYS)}; allowed: title, url")
                    ok = False
            for key in LINK_KEYS:
                if key not in marks:
                    self.err("registry.missing-key", item_node, f"links: link has no '{key}'")
                    ok = False
                elif not isinstance(item[key], str) or not item[key].strip():
                    self.err("registry.type", marks[key][1],
                             f"links: {key}: expected text, got {type_name(item[key])}")
                    ok = False
            if not ok:
                continue
            url = item["url"].strip()
            if not re.fullmatch(r"https?://[^\s/?#]+\S*", url, re.IGNORECASE):
                self.err("registry.link", marks["url"][1],
                         f"links: url: expected an http(s) URL, got {url!r}")
                continue
            found.append(Link(" ".join(item["title"].split()), url))
        return tuple(found)

    def country(self, value: Any, node: yaml.Node) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not _COUNTRY.fullmatch(value):
            hint = (f" (write '{value.upper()}')" if isinstance(value, str)
                    and _COUNTRY.fullmatch(value.upper()) else "")
            self.err("registry.country", node, "country: expected a two-letter ISO 3166-1 "
                     f"code such as 'IQ', got {value!r}{hint}")
            return None
        return value

    def coordinates(self, value: Any, node: yaml.Node) -> tuple[float, float] | None:
        if value is None:
            return None
        if (not isinstance(value, list) or len(value) != 2
                or not isinstance(node, yaml.SequenceNode)
                or not all(_is_number(v) for v in value)):
            self.err("registry.coordinates", node, "coordinates: expected [latitude, "
                     f"longitude] in decimal degrees such as [33.31, 44.37], got {value!r}")
            return None
        lat, lon = float(value[0]), float(value[1])
        ok = True
        if not -90 <= lat <= 90:
            self.err("registry.coordinates", node.value[0],
                     f"coordinates: latitude {value[0]!r} is outside -90..90 "
                     "(is it [lat, lon] in that order?)")
            ok = False
        if not -180 <= lon <= 180:
            self.err("registry.coordinates", node.value[1],
                     f"coordinates: longitude {value[1]!r} is outside -180..180")
            ok = False
        return (lat, lon) if ok else None

    # The whole file -----------------------------------------------------------------------

    def entries(self) -> list[_Draft]:
        node, data = self.doc.node, self.doc.data
        if node is None or data is None:
            return []  # empty file, or only comments
        if not isinstance(node, yaml.SequenceNode) or not isinstance(data, list):
            self.err("registry.type", node, "a registry file must be a list of entries "
                     f"('- name: ...'), got {type_name(data)}")
            return []
        drafts = [self.entry(item_node, item) for item_node, item in
                  zip(node.value, data, strict=True)]
        return self.claim([d for d in drafts if d is not None])

    def claim(self, drafts: list[_Draft]) -> list[_Draft]:
        """Drop entries whose slug is taken and spellings claimed by an earlier entry."""
        kept: list[_Draft] = []
        slugs: dict[str, _Draft] = {}
        keys: dict[str, _Draft] = {}
        for draft in drafts:
            if draft.slug in slugs:
                other = slugs[draft.slug]
                self.err("registry.duplicate-slug", draft.slug_node or draft.name_node,
                         f"slug '{draft.slug}' of '{draft.name}' is already used by "
                         f"'{other.name}' ({self.path}:{other.line})")
                continue
            slugs[draft.slug] = draft
            claims = [(draft.name, draft.name_node, "name"), *(
                (alias, node, "alias") for alias, node in draft.aliases)]
            if draft.slug_node is not None:
                claims.append((draft.slug, draft.slug_node, "slug"))
            aliases: list[tuple[str, yaml.Node]] = []
            for spelling, node, what in claims:
                key = _key(spelling)
                owner = keys.get(key)
                if owner is not None and owner is not draft:
                    self.err("registry.alias-conflict", node,
                             f"{what} '{spelling}' is already used by '{owner.name}' "
                             f"({self.path}:{owner.line})")
                    continue
                keys[key] = draft
                if what == "alias" and spelling not in (draft.name, *(a for a, _ in aliases)):
                    aliases.append((spelling, node))
            draft.aliases = aliases
            kept.append(draft)
        if self.kind == "location":
            self.resolve_parents(kept, keys)
        return kept

    def resolve_parents(self, drafts: list[_Draft], keys: Mapping[str, _Draft]) -> None:
        choices = [(_key(s).replace("-", " "), d.name)
                   for d in drafts for s in (d.name, *(a for a, _ in d.aliases))]
        for draft in drafts:
            if draft.parent_raw is None:
                continue
            raw, node = draft.parent_raw
            target = keys.get(_key(raw))
            if target is None:
                close = _closest(raw, choices, 3)
                hint = f" (did you mean {_quoted_list(close)}?)" if close else ""
                self.err("registry.unknown-parent", node,
                         f"parent: '{raw}' is not a location in this registry{hint}")
            else:
                draft.parent = target.slug
        by_slug = {d.slug: d for d in drafts}
        done: set[str] = set()
        for draft in drafts:
            path: list[_Draft] = []
            on_path: dict[str, int] = {}
            current: _Draft | None = draft
            while current is not None and current.slug not in done:
                if current.slug in on_path:
                    self.cycle(path[on_path[current.slug]:])
                    break
                on_path[current.slug] = len(path)
                path.append(current)
                current = by_slug.get(current.parent) if current.parent else None
            done.update(on_path)

    def cycle(self, members: list[_Draft]) -> None:
        """Report a parent cycle once, at the first entry of the file in it, and break it."""
        first = min(range(len(members)), key=lambda i: members[i].line)
        chain = members[first:] + members[:first]
        names = " \u203a ".join(d.name for d in (*chain, chain[0]))
        assert chain[0].parent_raw is not None
        self.err("registry.cycle", chain[0].parent_raw[1],
                 f"parent cycle: {names} (a location cannot be inside itself)")
        chain[0].parent = None


def _is_number(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _quoted_list(names: Sequence[str]) -> str:
    quoted = [f"'{n}'" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def parse_registry(text: str, path: str,
                   kind: EntityKind) -> tuple[list[Entity], list[Diagnostic]]:
    """Parse and check one registry file's text (pure). ``path`` is used in diagnostics and
    stored in each ``Entity``; ``kind`` says which file it is."""
    doc, diags = parse_yaml(text.removeprefix("\ufeff"), path, code="registry.yaml")
    if doc is None:
        return [], diags
    parser = _Parser(doc, path, kind)
    drafts = parser.entries()
    entities = [
        Entity(kind=kind, name=d.name, slug=d.slug, aliases=tuple(a for a, _ in d.aliases),
               category=d.category, description=d.description, links=d.links,
               parent=d.parent, country=d.country, coordinates=d.coordinates, path=path,
               line=d.line)
        for d in drafts
    ]
    return entities, sorted(diags + parser.diags, key=lambda d: (d.line or 0, d.col or 0))


def load_registry(content_dir: Path) -> tuple[Registry, list[Diagnostic]]:
    """Read ``_data/actors.yaml`` and ``_data/locations.yaml`` under ``content_dir``. Missing
    files mean an empty registry for that kind, which is not an error."""
    found: dict[EntityKind, list[Entity]] = {kind: [] for kind in KINDS}
    diags: list[Diagnostic] = []
    for kind in KINDS:
        file = content_dir / "_data" / REGISTRY_FILES[kind]
        shown = (Path(content_dir.name) / "_data" / REGISTRY_FILES[kind]).as_posix()
        if not file.is_file():
            continue
        real = file.resolve()
        if not real.is_relative_to(content_dir.resolve()):
            diags.append(error("registry.symlink-escape", shown,
                               f"is a symbolic link to {real}, outside the content folder; "
                               "sitegen reads only files inside it (copy the file in instead)"))
            continue
        try:
            raw = file.read_bytes()
        except OSError as exc:
            diags.append(error("registry.read", shown, f"cannot read file: {exc.strerror}"))
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
            diags.append(error("registry.encoding", shown, f"not valid UTF-8 (byte "
                               f"0x{raw[exc.start]:02x}); save the file as UTF-8", line, col))
            continue
        entities, found_diags = parse_registry(text, shown, kind)
        found[kind] = entities
        diags.extend(found_diags)
    return Registry(actors=tuple(found["actor"]), locations=tuple(found["location"])), diags


# --- Mentions in text -----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Mention:
    entity: Entity
    start: int  # offsets into the searched text: text[start:end] == matched_text
    end: int
    matched_text: str


@dataclass(frozen=True, slots=True)
class _Pattern:
    entity: Entity
    spelling: str
    exact_case: bool  # acronyms: must appear exactly as written


def fold(text: str) -> tuple[str, tuple[int, ...]]:
    """Fold text for matching: lowercase (casefold), accents and other combining marks removed
    (NFKD), apostrophes removed, runs of whitespace made one space. Returns the folded text
    and, for each of its characters, the index of the original character it came from."""
    out: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        if ch in _APOSTROPHES:
            continue
        if ch.isspace():
            if not out or out[-1] != " ":
                out.append(" ")
                origin.append(i)
            continue
        if ch.isascii():
            out.append(ch.lower())
            origin.append(i)
            continue
        for part in unicodedata.normalize("NFKD", ch):
            if unicodedata.combining(part):
                continue
            for folded in part.casefold():
                out.append(folded)
                origin.append(i)
    return "".join(out), tuple(origin)


def is_acronym(spelling: str) -> bool:
    """Abbreviations such as KH, PMF, IRGC-QF, K-1, MoD: a single word that starts with a
    capital, has at least two capitals or a digit, and no run of three lowercase letters."""
    return (_ACRONYM.fullmatch(spelling) is not None
            and _LOWER_RUN.search(spelling) is None
            and (sum(ch.isupper() for ch in spelling) >= 2
                 or any(ch.isdigit() for ch in spelling)))


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_" or bool(unicodedata.combining(ch))


class MentionFinder:
    """Finds registered names and aliases in text, in one pass, however many there are.

    Matching is on folded text (see ``fold``): case, accents and apostrophes do not matter,
    so "kataib hizballah" finds the alias "Kata'ib Hizballah". Acronyms (see ``is_acronym``)
    match only as written ("KH", not "kh"); other names and aliases shorter than three
    characters are not searched for. Matches are whole words in the original text: "Iraqi"
    does not mention Iraq, "Baghdad's" and "Baghdad-based" mention Baghdad. Build it once per
    registry and reuse it.
    """

    __slots__ = ("_automaton",)

    def __init__(self, registry: Registry) -> None:
        patterns: dict[str, list[_Pattern]] = {}
        for entity in (*registry.actors, *registry.locations):
            for spelling in entity.names:
                folded = fold(spelling.strip())[0].strip()
                exact = is_acronym(spelling)
                if not folded or (not exact and len(folded.replace(" ", "")) < MIN_NAME_CHARS):
                    continue
                found = patterns.setdefault(folded, [])
                if not any(p.entity is entity and p.exact_case == exact
                           and (not exact or p.spelling == spelling) for p in found):
                    found.append(_Pattern(entity, spelling, exact))
        automaton: Any = None
        if patterns:
            automaton = ahocorasick.Automaton()
            for folded, found in patterns.items():
                automaton.add_word(folded, (len(folded), tuple(found)))
            automaton.make_automaton()
        self._automaton = automaton

    def find(self, text: str) -> list[Mention]:
        """Mentions in ``text``, in text order. Spans never overlap: where candidates
        overlap, the longest wins ("Baghdad International Airport", not "Baghdad"). One span
        can name both an actor and a location that share a spelling."""
        if self._automaton is None or not text:
            return []
        folded, origin = fold(text)
        spans: dict[tuple[int, int], list[Entity]] = {}
        for last, (length, patterns) in self._automaton.iter(folded):
            first = last - length + 1
            span = self._span(text, origin, first, last + 1)
            if span is None:
                continue
            matched = text[span[0]:span[1]]
            for pattern in patterns:
                if pattern.exact_case and " ".join(matched.split()) != pattern.spelling:
                    continue
                found = spans.setdefault(span, [])
                if pattern.entity not in found:
                    found.append(pattern.entity)
        taken = bytearray(len(text))
        mentions: list[Mention] = []
        for (start, end), entities in sorted(spans.items(),
                                             key=lambda s: (s[0][0] - s[0][1], s[0][0])):
            if any(taken[start:end]):
                continue
            taken[start:end] = b"\x01" * (end - start)
            mentions.extend(Mention(e, start, end, text[start:end]) for e in entities)
        mentions.sort(key=lambda m: (m.start, KINDS.index(m.entity.kind)))
        return mentions

    @staticmethod
    def _span(text: str, origin: Sequence[int], first: int,
              stop: int) -> tuple[int, int] | None:
        """The original span of folded[first:stop], or None if it is not a whole word."""
        # Not inside one original character that folded to several ("ß" -> "ss").
        if first > 0 and origin[first - 1] == origin[first]:
            return None
        if stop < len(origin) and origin[stop] == origin[stop - 1]:
            return None
        start, end = origin[first], origin[stop - 1] + 1
        while end < len(text) and unicodedata.combining(text[end]):
            end += 1
        if start > 0:
            before = text[start - 1]
            if _is_word(before) or (before in _APOSTROPHES and start > 1
                                    and _is_word(text[start - 2])):
                return None
        if end < len(text):
            after = text[end]
            if _is_word(after):
                return None
            if after in _APOSTROPHES and end + 1 < len(text) and _is_word(text[end + 1]):
                # Only a possessive 's may follow an apostrophe: "Baghdad's", not "Kata'ib".
                possessive = text[end + 1] in "sS" and (end + 2 == len(text)
                                                         or not _is_word(text[end + 2]))
                if not possessive:
                    return None
        return start, end


@dataclass(frozen=True, slots=True)
class MissingMention:
    entity: Entity
    line: int  # 1-based, in the whole file
    col: int  # 1-based
    matched_text: str


_MASKS = (
    re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})[^\n]*\n.*?(?:^[ \t]{0,3}\1[^\n]*$|\Z)",
               re.MULTILINE | re.DOTALL),  # fenced code
    re.compile(r"(`+)(?!`)[^\n]+?(?<!`)\1(?!`)"),  # inline code
    re.compile(r"<!--.*?-->", re.DOTALL),  # HTML comments
    re.compile(r"</?[A-Za-z][^<>\n]*>"),  # HTML tags and autolinks
    re.compile(r"\]\([^)\n]*\)"),  # link and image destinations
    re.compile(r"^[ \t]{0,3}\[[^\]\n]+\]:[^\n]*$", re.MULTILINE),  # link reference definitions
    re.compile(r"\bhttps?://[^\s<>()\[\]]+", re.IGNORECASE),  # bare URLs
)


def mask_markdown(body: str) -> str:
    """``body`` with code, URLs, HTML tags and link destinations blanked out (newlines kept),
    so offsets still point into the original text but only prose can match a name."""
    for pattern in _MASKS:
        body = pattern.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), body)
    return body


def missing_mentions(doc_body: str, body_line: int, listed_actors: Iterable[str],
                     listed_locations: Iterable[str], finder: MentionFinder,
                     registry: Registry) -> list[MissingMention]:
    """Registered entities a report's body mentions but its front matter does not list.

    ``doc_body`` is ``SourceDoc.body`` (newlines normalised) and ``body_line`` its
    ``body_line``; positions in the result are in the whole file. A listed name counts for
    the entity it resolves to, whatever its spelling; a listed location also covers the
    places above it (a report listing Karbala may name Iraq: it is on Iraq's page through
    Karbala). Code, URLs and HTML tags are ignored (``mask_markdown``). One result per
    entity, at its first mention, in text order.
    """
    listed: set[tuple[str, str]] = set()
    groups: tuple[tuple[EntityKind, Iterable[str]], ...] = (
        ("actor", listed_actors), ("location", listed_locations))
    for kind, names in groups:
        for name in names:
            entity = registry.resolve(kind, name)
            if entity is not None:
                listed.add((entity.kind, entity.slug))
                listed.update(("location", above.slug) for above in (
                    registry.ancestors(entity.slug) if kind == "location" else ()))
    found: list[MissingMention] = []
    for mention in finder.find(mask_markdown(doc_body)):
        key = (mention.entity.kind, mention.entity.slug)
        if key in listed:
            continue
        listed.add(key)
        line = body_line + doc_body.count("\n", 0, mention.start)
        col = mention.start - (doc_body.rfind("\n", 0, mention.start) + 1) + 1
        found.append(MissingMention(mention.entity, line, col,
                                    doc_body[mention.start:mention.end]))
    return found


FRONT_MATTER_KEYS: Mapping[EntityKind, str] = MappingProxyType(
    {"actor": "actors", "location": "locations"})


@dataclass(frozen=True, slots=True)
class MentionFix:
    """What ``sitegen check --fix`` adds to one report: canonical ``names`` to the list
    ``key`` of the file shown as ``path`` in diagnostics."""

    path: str
    key: str  # "actors" or "locations"
    names: tuple[str, ...]


def check_mentions(path: str, doc_body: str, body_line: int, listed_actors: Iterable[str],
                   listed_locations: Iterable[str], finder: MentionFinder,
                   registry: Registry) -> tuple[list[Diagnostic], list[MentionFix]]:
    """The editor's check for one report (pure): an ``entities.unlisted-mention`` warning at
    the first mention of each registered entity the body names but the front matter does
    not list, and the fixes that would list them (canonical names, one per entity)."""
    diags: list[Diagnostic] = []
    names: dict[EntityKind, list[str]] = {kind: [] for kind in KINDS}
    for found in missing_mentions(doc_body, body_line, listed_actors, listed_locations,
                                  finder, registry):
        entity = found.entity
        key = FRONT_MATTER_KEYS[entity.kind]
        said = (f"'{entity.name}'" if _key(found.matched_text) == _key(entity.name)
                else f"'{found.matched_text}' ({entity.name})")
        diags.append(warning("entities.unlisted-mention", path,
                             f"mentions {said} but does not list it in {key}",
                             found.line, found.col))
        names[entity.kind].append(entity.name)
    fixes = [MentionFix(path, FRONT_MATTER_KEYS[kind], tuple(found))
             for kind, found in names.items() if found]
    return diags, fixes


# --- Editing front matter -------------------------------------------------------------------

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n|$)")
_FENCE_LINE = re.compile(r"(?:---|\.\.\.)[ \t]*")
_BLOCK_ITEM = re.compile(r"( *)-(?:[ \t]+|$)")
_NEWLINE = re.compile(r"\r\n|\r|\n")
_NULLS = frozenset(("", "~", "null", "Null", "NULL", '""', "''"))


def _lines(text: str, start: int) -> list[tuple[int, int, int]]:
    """(start, end of content, end including the newline) of each line from ``start``."""
    found = []
    pos = start
    while pos < len(text):
        match = _LINE.match(text, pos)
        assert match is not None
        content = match.group(0).rstrip("\r\n")
        found.append((pos, pos + len(content), match.end()))
        pos = match.end()
    return found


def yaml_name(name: str) -> str:
    """``name`` as a YAML flow-list item: plain if YAML reads it back as the same text,
    otherwise double-quoted."""
    plain = (name == name.strip() and name != ""
             and not re.search(r"[:#'\",\[\]{}\\\x00-\x1f\x7f]", name)
             and name[0] not in "-?!&*|>%@`")
    if plain:
        try:
            plain = yaml.safe_load(f"[{name}]") == [name]
        except yaml.YAMLError:
            plain = False
    return name if plain else json.dumps(name, ensure_ascii=False)


def add_to_front_matter(text: str, key: str, names: Sequence[str]) -> str:
    """Return ``text`` (a whole report file) with ``names`` appended to the front-matter list
    ``key``, changing only the one line that must change; comments, order, quoting, BOM and
    line endings elsewhere are kept byte-for-byte.

    - ``key: [a, "b"]`` (one or several lines) -> ``key: [a, "b", c]``; ``key: []`` -> ``[c]``
    - a block list (``key:`` then ``  - a`` lines) gets ``  - c`` after its last item
    - ``key: X`` -> ``key: [X, c]`` with X spelled as before; ``key:`` or ``key: null`` ->
      ``key: [c]``
    - no ``key`` -> a ``key: [c]`` line just before the closing ``---``

    New names are written plain when YAML allows it, else double-quoted (``yaml_name``).
    Names are appended as given (deduplicated among themselves); the caller passes the
    missing ones. Raises ``ValueError`` if the text has no front matter or the value has a
    form this cannot edit safely (a mapping, block scalar, tag, anchor or multi-line scalar).
    """
    added = [yaml_name(n) for n in dict.fromkeys(names)]
    if not added:
        return text
    begin = 1 if text.startswith("\ufeff") else 0
    lines = _lines(text, begin)
    if not lines or text[lines[0][0]:lines[0][1]].rstrip(" \t") != "---" or \
            lines[0][2] == lines[0][1]:
        raise ValueError("no front matter: the file does not start with a '---' line")
    close = next((i for i, (s, e, _) in enumerate(lines) if i > 0
                  and _FENCE_LINE.fullmatch(text, s, e)), None)
    if close is None:
        raise ValueError("front matter is not closed by a '---' line")
    key_re = re.compile(rf"(?:{re.escape(key)}|\"{re.escape(key)}\"|'{re.escape(key)}')"
                        r"[ \t]*:(?=[ \t]|$)")
    at = None
    for i in range(1, close):
        match = key_re.match(text, lines[i][0], lines[i][1])
        if match:
            at, value_start = i, match.end()
    if at is None:
        newline = text[lines[close - 1][1]:lines[close - 1][2]]
        insert = f"{key}: [{', '.join(added)}]{newline}"
        return text[:lines[close][0]] + insert + text[lines[close][0]:]
    line_end = lines[at][1]
    rest = text[value_start:line_end]
    offset = value_start + len(rest) - len(rest.lstrip(" \t"))
    head = text[offset:line_end]
    if head.startswith("["):
        return _add_to_flow(text, offset, lines[close][0], added)
    if head == "" or head.startswith("#"):
        return _add_to_block(text, lines, at, close, value_start, added)
    if head[0] in "{|>&*!":
        raise ValueError(f"cannot add to '{key}': its value is not a list or a single name")
    end = _scalar_end(text, offset, line_end)
    following = next((text[s:e] for s, e, _ in lines[at + 1:close]
                      if text[s:e].strip() and not text[s:e].lstrip().startswith("#")), "")
    if following[:1] in (" ", "\t"):
        raise ValueError(f"cannot add to '{key}': its value continues on the next line")
    scalar = text[offset:end]
    items = added if scalar in _NULLS else [scalar, *added]
    return text[:offset] + f"[{', '.join(items)}]" + text[end:]


def _scalar_end(text: str, start: int, line_end: int) -> int:
    """End of the one-line scalar at ``start`` (quoted, or plain up to a comment)."""
    quote = text[start]
    if quote in "\"'":
        pos = start + 1
        while pos < line_end:
            ch = text[pos]
            if quote == '"' and ch == "\\":
                pos += 2
                continue
            if ch == quote:
                if quote == "'" and text[pos + 1:pos + 2] == "'":
                    pos += 2
                    continue
                return pos + 1
            pos += 1
        raise ValueError("cannot add to a quoted value that continues on the next line")
    comment = re.search(r"[ \t]#", text[start:line_end])
    value = text[start:start + comment.start()] if comment else text[start:line_end]
    return start + len(value.rstrip(" \t"))


def _add_to_flow(text: str, open_at: int, limit: int, added: list[str]) -> str:
    """Insert into the flow list whose '[' is at ``open_at`` (it may span several lines)."""
    depth = 0
    last = None  # last significant character inside the list
    pos = open_at
    while pos < limit:
        ch = text[pos]
        if ch in "\"'":
            newline = _NEWLINE.search(text, pos, limit)
            pos = _scalar_end(text, pos, newline.start() if newline else limit)
            last = pos - 1
            continue
        if ch == "#" and text[pos - 1] in " \t\r\n":
            newline = _NEWLINE.search(text, pos, limit)
            pos = newline.start() if newline else limit
            continue
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
            if depth == 0:
                break
        if pos > open_at and not ch.isspace():
            last = pos
        pos += 1
    else:
        raise ValueError("the list's closing ']' is missing from the front matter")
    sep = "," if re.search(r",[^ \t\r\n]", text[open_at:pos]) else ", "
    joined = sep.join(added)
    if last is None:  # empty list: `[]`, `[ ]`
        inner = text[open_at + 1:pos]
        after = pos if not inner.strip(" \t") else open_at + 1
        return text[:open_at + 1] + joined + text[after:]
    if text[last] == ",":  # trailing comma: `[a, ]` -> `[a, c]`
        after = pos if not text[last + 1:pos].strip(" \t") else last + 1
        return text[:last + 1] + sep[1:] + joined + text[after:]
    return text[:last + 1] + sep + joined + text[last + 1:]


def _add_to_block(text: str, lines: list[tuple[int, int, int]], at: int, close: int,
                  value_start: int, added: list[str]) -> str:
    """``key:`` with nothing after it on its line: a block list below, or null."""
    last_item = None  # index of the line of the last item
    last_content = None  # last non-blank, non-comment line of the list
    indent = None
    for i in range(at + 1, close):
        s, e, _ = lines[i]
        line = text[s:e]
        stripped = line.lstrip(" ")
        if not stripped.strip() or stripped.startswith("#"):
            continue
        item = _BLOCK_ITEM.match(line)
        width = len(line) - len(stripped)
        if indent is None:
            if item is None:
                if width > 0:
                    raise ValueError("cannot add to this value: it is not a list")
                break
            indent = len(item.group(1))
        if item is not None and len(item.group(1)) == indent:
            last_item = last_content = i
        elif width > indent:
            last_content = i
        else:
            break
    if last_item is None or last_content is None:  # `key:` alone is null
        return text[:value_start] + f" [{', '.join(added)}]" + text[value_start:]
    s, e, _ = lines[last_item]
    match = _BLOCK_ITEM.match(text, s, e)
    assert match is not None
    prefix = match.group(0) if match.end() < e else match.group(0).rstrip() + " "
    newline = text[lines[last_content][1]:lines[last_content][2]]
    insert = "".join(f"{prefix}{name}{newline}" for name in added)
    return text[:lines[last_content][2]] + insert + text[lines[last_content][2]:]
