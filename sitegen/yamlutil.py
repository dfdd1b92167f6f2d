"""Safe YAML parsing that keeps line and column numbers.

Used by ``config.py``, ``content.py`` and the entity registry. Timestamps are *not* resolved
by YAML here (``2022-13-45`` would otherwise raise a bare ``ValueError`` with no position):
they stay strings and the caller parses them, knowing the key's line. Only the safe subset of
YAML is accepted, so tags such as ``!!python/object`` are errors.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from sitegen.diagnostics import Diagnostic, error


class _Loader(yaml.SafeLoader):
    """SafeLoader without the implicit timestamp resolver. Its error messages are the precise
    ones, so it also re-parses any text the fast loader rejects."""


# libyaml's C parser when PyYAML was built with it: about 8x faster, with the same marks.
_FastBase: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _FastLoader(_FastBase):  # type: ignore[valid-type, misc]
    """The C safe loader without the implicit timestamp resolver."""


_RESOLVERS = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.yaml_implicit_resolvers = _RESOLVERS
_FastLoader.yaml_implicit_resolvers = _RESOLVERS


_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Mark:
    line: int  # 1-based, in the whole file
    col: int  # 1-based


class Marks(Mapping[str, Mark]):
    """A read-only mapping of front-matter keys to their ``Mark``, kept as one JSON string
    until it is first read. A build loads every cached report's front matter (10,000s of
    them) and only a diagnostic ever reads a mark: eight ``Mark`` objects a report were
    most of the time spent unpickling the cache."""

    __slots__ = ("_held", "_packed")

    def __init__(self, marks: Mapping[str, Mark] | str) -> None:
        self._held: dict[str, Mark] | None
        if isinstance(marks, str):
            self._packed, self._held = marks, None
        else:
            self._held = dict(marks)
            self._packed = json.dumps([[k, m.line, m.col] for k, m in self._held.items()],
                                      ensure_ascii=False)

    def _marks(self) -> dict[str, Mark]:
        if self._held is None:
            self._held = {str(k): Mark(int(line), int(col))
                          for k, line, col in json.loads(self._packed)}
        return self._held

    def __getitem__(self, key: str) -> Mark:
        return self._marks()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._marks())

    def __len__(self) -> int:
        return len(self._marks())

    def __repr__(self) -> str:
        return f"Marks({self._marks()!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return Marks, (self._packed,)


@dataclass(frozen=True, slots=True)
class YamlDoc:
    data: Any
    node: yaml.Node | None
    line_offset: int

    def mark(self, node: yaml.Node) -> Mark:
        return Mark(node.start_mark.line + 1 + self.line_offset, node.start_mark.column + 1)

    def key_marks(self, node: yaml.Node | None = None) -> dict[str, tuple[Mark, Mark]]:
        """For a mapping node: key -> (mark of the key, mark of its value)."""
        node = self.node if node is None else node
        marks: dict[str, tuple[Mark, Mark]] = {}
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    marks[str(key_node.value)] = (self.mark(key_node), self.mark(value_node))
        return marks


def parse_yaml(text: str, path: str, line_offset: int = 0, code: str = "yaml.syntax",
               allow_aliases: bool = True) -> tuple[YamlDoc | None, list[Diagnostic]]:
    """Parse one YAML document. ``line_offset`` is the number of lines before ``text`` in the
    file, so positions point into the whole file. With ``allow_aliases=False`` an alias
    (``*name``, including ``<<: *name``) is an error: front matter has no use for them, and
    a few lines of aliases stand for billions of values to anything that walks the data."""
    # libyaml takes UTF-8: a lone surrogate (only possible in text not read from a file)
    # would raise a bare UnicodeEncodeError, so such text goes to the Python reader, which
    # names the character.
    if _FastLoader is not _Loader and not _SURROGATE.search(text):
        fast = _FastLoader(text)
        try:
            node = fast.get_single_node()
            data = fast.construct_document(node) if node is not None else None
        except yaml.YAMLError:
            pass  # re-parse below for a precise message
        except RecursionError:  # the Python parser would only take longer to say the same
            return None, [_too_deep(text, path, code, line_offset)]
        else:
            doc = YamlDoc(data, node, line_offset)
            diags, shared = _check_nodes(doc, path, code)
            if allow_aliases or not shared:
                return doc, diags
            # an alias: re-parse below, where _StrictLoader stops at it with its position
        finally:
            fast.dispose()
    try:
        # the reader rejects control characters here, before parsing
        loader = _Loader(text) if allow_aliases else _StrictLoader(text)
    except yaml.reader.ReaderError as exc:
        pos = exc.position
        return None, [error(code, path, f"invalid YAML: control character U+{ord(text[pos]):04X} "
                            "is not allowed", text.count("\n", 0, pos) + 1 + line_offset,
                            pos - (text.rfind("\n", 0, pos) + 1) + 1)]
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        parts = [p for p in (exc.context, exc.problem) if p]
        message = "; ".join(parts) or "invalid YAML"
        if "could not determine a constructor" in message:
            message = f"{message} (only plain YAML is allowed: no tags such as !!python/object)"
        line = mark.line + 1 + line_offset if mark else None
        col = mark.column + 1 if mark else None
        return None, [error(code, path, f"invalid YAML: {message}", line, col)]
    except yaml.YAMLError as exc:
        return None, [error(code, path, f"invalid YAML: {exc}", line_offset + 1, 1)]
    except RecursionError:
        return None, [_too_deep(text, path, code, line_offset)]
    finally:
        loader.dispose()
    doc = YamlDoc(data, node, line_offset)
    return doc, _check_nodes(doc, path, code)[0]


def _too_deep(text: str, path: str, code: str, line_offset: int) -> Diagnostic:
    line, col = _deepest(text)
    return error(code, path, "invalid YAML: nested too deeply", line + line_offset, col)


_LOCATE_DEPTH = 100  # Python's recursion limit is the real bound; this only places the error


def _deepest(text: str) -> tuple[int, int]:
    """Where flow collections (``[`` and ``{``) first nest over 100 deep, as (line, col)
    within ``text``; (1, 1) when they never do (deep block nesting)."""
    depth = 0
    for pos, ch in enumerate(text):
        if ch in "[{":
            depth += 1
            if depth > _LOCATE_DEPTH:
                return text.count("\n", 0, pos) + 1, pos - (text.rfind("\n", 0, pos) + 1) + 1
        elif ch in "]}":
            depth = max(0, depth - 1)
    return 1, 1


class _StrictLoader(_Loader):
    """The precise loader, refusing aliases at the alias."""

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, f"found an alias (*{event.anchor}); aliases are not allowed here, "
                "write the value out in full", event.start_mark)
        node: yaml.Node | None = super().compose_node(parent, index)
        return node


def _check_nodes(doc: YamlDoc, path: str, code: str) -> tuple[list[Diagnostic], bool]:
    """Visit every node once: report duplicate keys (YAML lets a later key silently replace
    an earlier one), and tell whether any node is shared (reached through an alias)."""
    diags: list[Diagnostic] = []
    seen_nodes: set[int] = set()
    shared = False
    stack = [doc.node] if doc.node is not None else []
    while stack:
        node = stack.pop()
        if id(node) in seen_nodes:  # aliases share nodes: visit each once
            shared = True
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            keys: dict[str, Mark] = {}
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    mark = doc.mark(key_node)
                    if key_node.value in keys:
                        first = keys[key_node.value]
                        diags.append(error(code.replace(".yaml", "") + ".duplicate-key", path,
                                           f"duplicate key {key_node.value!r} (first set on "
                                           f"line {first.line})", mark.line, mark.col))
                    keys[key_node.value] = mark
                stack.append(value_node)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return diags, shared


def type_name(value: Any) -> str:
    """A YAML-flavoured name for a Python value's type, for error messages."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
