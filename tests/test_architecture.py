"""The architecture of STYLE.md, checked on the source with ``ast``.

- Imports point one way: every ``sitegen`` module may import only the modules listed for it
  in ``ALLOWED`` (sitegen modules) and ``THIRD_PARTY`` (installed packages); a new module or a
  new edge must be added here on purpose. ``TYPE_CHECKING`` and function-local imports count.
- Only ``cli.py`` prints; only ``output.py`` creates, swaps or deletes folders (the search
  index writes only inside the staging folder it is handed, and ``cli new`` writes one new
  report); only ``config.py``/``content.py`` read the source tree.
- No process-global side effects: ``os.chdir``, ``locale.setlocale``, ``sys.path`` edits,
  ``global`` statements.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "sitegen"

# module -> sitegen modules it may import ("sitegen" is the package __init__: __version__).
ALLOWED: dict[str, set[str]] = {
    "sitegen": set(),
    "sitegen.__main__": {"sitegen.cli"},
    "sitegen.diagnostics": set(),
    "sitegen.files": set(),
    "sitegen.yamlutil": {"sitegen.diagnostics"},
    "sitegen.config": {"sitegen.diagnostics", "sitegen.yamlutil"},
    "sitegen.content": {"sitegen.diagnostics", "sitegen.yamlutil"},
    "sitegen.slugs": set(),
    # markdown produces the model's RenderedBody/Heading values; the model never sees Markdown.
    "sitegen.markdown": {"sitegen.model", "sitegen.slugs"},
    # The model resolves front-matter names through the registry (sitegen.entities).
    "sitegen.model": {"sitegen.access", "sitegen.config", "sitegen.content",
                      "sitegen.diagnostics", "sitegen.entities", "sitegen.slugs"},
    # Which stored bodies a page reads (StoredBody notes them, the renderer's caches replay
    # them, the build records them): a leaf.
    "sitegen.access": set(),
    "sitegen.themes": {"sitegen.config", "sitegen.diagnostics"},
    "sitegen.render": {"sitegen", "sitegen.access", "sitegen.diagnostics", "sitegen.files",
                       "sitegen.model",
                       "sitegen.parallel", "sitegen.related", "sitegen.slugs", "sitegen.svg", "sitegen.themes"},
    # Ordered map over forked workers: a leaf.
    "sitegen.parallel": set(),
    # Related reports and reading time: pure functions of the model.
    "sitegen.related": {"sitegen.model", "sitegen.parallel"},  # spreads reports over workers
    "sitegen.output": {"sitegen.diagnostics", "sitegen.files"},
    # Inline SVG charts (year bars, locator map): pure, from numbers to markup.
    "sitegen.svg": set(),
    "sitegen.search": set(),
    "sitegen.search.analysis": {"sitegen.slugs"},
    # the index writes its new segments side by side in forked processes (sitegen.parallel);
    # its writers weigh the reports for the static search as they analyse them
    "sitegen.search.index": {"sitegen.diagnostics", "sitegen.model", "sitegen.parallel",
                             "sitegen.search.analysis", "sitegen.search.segment",
                             "sitegen.search.static", "sitegen.slugs"},
    # Whoosh's segment writer with its postings held per term: analysis, and nothing else
    "sitegen.search.segment": {"sitegen.search.analysis"},
    "sitegen.search.static": {"sitegen.files", "sitegen.model", "sitegen.search.analysis"},
    "sitegen.search.engine": set(),
    "sitegen.search.query": {"sitegen.search.analysis", "sitegen.search.engine",
                             "sitegen.search.index",
                             "sitegen.slugs"},
    # The build cache: a leaf that stores values, with its own folder (never the output).
    "sitegen.cache": {"sitegen", "sitegen.diagnostics"},
    # Fingerprints of pages' inputs: reads the model and the theme's template bytes.
    "sitegen.fingerprint": {"sitegen", "sitegen.config", "sitegen.model"},
    "sitegen.build": {"sitegen", "sitegen.access", "sitegen.cache", "sitegen.fingerprint",
                      "sitegen.slugs",
                      "sitegen.related",
                      "sitegen.config", "sitegen.content", "sitegen.diagnostics",
                      "sitegen.files", "sitegen.markdown", "sitegen.model", "sitegen.output",
                      "sitegen.render", "sitegen.themes", "sitegen.search.analysis",
                      "sitegen.search.index", "sitegen.search.static", "sitegen.publish",
                      "sitegen.parallel",
                      "sitegen.entities"},
    # The registry of actors and locations: a leaf beside content (it reads content/_data/).
    "sitegen.entities": {"sitegen.diagnostics", "sitegen.slugs", "sitegen.yamlutil"},
    # Feeds, sitemap, redirects, exports: pure functions from the Site to OutputFiles.
    "sitegen.publish": {"sitegen", "sitegen.config", "sitegen.diagnostics", "sitegen.files",
                        "sitegen.model", "sitegen.slugs"},
    # Watch mode: rebuilds through build.py and records the outcome for the server.
    "sitegen.watch": {"sitegen.build", "sitegen.config", "sitegen.diagnostics"},
    # The server renders its search page with the theme and may call build.py to rebuild.
    "sitegen.server": {"sitegen", "sitegen.build", "sitegen.config", "sitegen.render", "sitegen.slugs",
                       "sitegen.search.query", "sitegen.themes", "sitegen.watch"},
    # cli check --fix edits front matter with sitegen.entities.add_to_front_matter.
    # cli -> output: only ignore_lease_breaks (a signal disposition); it writes nothing
    "sitegen.cli": {"sitegen", "sitegen.build", "sitegen.config", "sitegen.diagnostics",
                    "sitegen.entities", "sitegen.slugs", "sitegen.search.query", "sitegen.server",
                    "sitegen.watch", "sitegen.parallel", "sitegen.output"},
}

# module -> installed (non-stdlib) top-level packages it may import.
THIRD_PARTY: dict[str, set[str]] = {
    "sitegen.yamlutil": {"yaml"},
    "sitegen.config": {"babel"},
    "sitegen.slugs": {"slugify", "text_unidecode"},
    "sitegen.markdown": {"markdown", "nh3"},
    "sitegen.render": {"jinja2", "markupsafe", "babel"},
    "sitegen.search.analysis": {"whoosh"},
    "sitegen.search.index": {"whoosh"},
    "sitegen.search.segment": {"whoosh"},
    "sitegen.build": {"whoosh"},  # only LockError: another build holds the cached index
    "sitegen.search.engine": {"numpy", "whoosh"},
    "sitegen.related": {"numpy"},  # candidates scored a posting list at a time
    "sitegen.search.query": {"rapidfuzz", "whoosh"},
    "sitegen.server": {"jinja2"},
    "sitegen.entities": {"ahocorasick", "yaml"},
    "sitegen.watch": {"watchfiles"},
    "sitegen.cli": {"rich"},
}

# What STYLE.md says each stage must not know about, spelled out for clearer failures.
FORBIDDEN: dict[str, set[str]] = {
    "sitegen.diagnostics": {"sitegen.*"},
    "sitegen.config": {"sitegen.content", "sitegen.model", "sitegen.render", "sitegen.output",
                       "jinja2"},
    "sitegen.content": {"sitegen.slugs", "sitegen.markdown", "sitegen.render",
                        "sitegen.output", "sitegen.model", "jinja2", "markdown"},
    "sitegen.slugs": {"jinja2", "pathlib", "os", "shutil"},
    "sitegen.markdown": {"jinja2", "sitegen.render", "sitegen.output", "sitegen.content"},
    "sitegen.model": {"sitegen.markdown", "sitegen.render", "sitegen.output", "jinja2",
                      "markdown", "nh3", "yaml", "os", "shutil"},
    "sitegen.render": {"sitegen.output", "sitegen.markdown", "sitegen.content", "yaml",
                       "markdown", "shutil"},
    "sitegen.output": {"yaml", "jinja2", "markdown", "sitegen.render", "sitegen.model",
                       "sitegen.markdown"},
    "sitegen.build": {"sitegen.cli", "argparse", "rich"},
    "sitegen.search.index": {"jinja2", "sitegen.render", "sitegen.output", "wsgiref", "http"},
    "sitegen.search.static": {"jinja2", "sitegen.render", "sitegen.output", "wsgiref", "http"},
    "sitegen.search.query": {"jinja2", "sitegen.build", "sitegen.output", "sitegen.render"},
}

PRINTERS = {"sitegen.cli"}
# Deleting, moving or swapping folders and files.
# cache.py deletes its own folder when it is damaged or foreign.
DELETERS = {"sitegen.output", "sitegen.cache"}
DELETE_CALLS = {"shutil.rmtree", "shutil.move", "os.replace", "os.rename", "os.renames",
                "os.remove", "os.unlink", "os.rmdir", "os.removedirs"}
# Path methods that delete; the search index removes its own lock file inside its folder.
DELETE_METHODS = {"unlink", "rmdir"}
METHOD_DELETERS = {"sitegen.output", "sitegen.search.index"}
WRITE_METHODS = {"write_text", "write_bytes", "mkdir", "touch", "symlink_to", "hardlink_to"}
WRITERS = {"sitegen.output", "sitegen.search.index", "sitegen.cli", "sitegen.cache"}
READ_METHODS = {"read_text", "read_bytes"}
# cli.py reads a report only for `check --fix`, to rewrite its front matter in place;
# cache.py reads sitegen's own source files, to hash them (code_digest).
READERS = {"sitegen.config", "sitegen.content", "sitegen.entities", "sitegen.search.index",
           "sitegen.fingerprint", "sitegen.cache",
           "sitegen.search.query", "sitegen.server", "sitegen.cli"}
BANNED_CALLS = {"os.chdir", "locale.setlocale", "sys.path.append", "sys.path.insert",
                "sys.path.extend", "os.system", "eval", "exec"}


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    tree: ast.Module


@cache
def modules() -> tuple[Module, ...]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found.append(Module(name, path, ast.parse(path.read_text(encoding="utf-8"))))
    return tuple(found)


def module_names() -> list[str]:
    return [m.name for m in modules()]


def resolve(module: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.name.split(".")
    if module.path.name != "__init__.py":
        package = package[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def imports(module: Module) -> set[str]:
    """Every module name imported anywhere in the file (``from a import b`` counts as
    ``a.b`` when that is a sitegen module, else as ``a``)."""
    known = set(module_names())
    found: set[str] = set()
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = resolve(module, node)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in known else base)
    found.discard("__future__")
    return found


def internal(names: set[str]) -> set[str]:
    return {n for n in names if n == "sitegen" or n.startswith("sitegen.")}


def external(names: set[str]) -> set[str]:
    return {n.split(".")[0] for n in names if not (n == "sitegen" or n.startswith("sitegen."))}


def dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = dotted(node.value)
        return f"{inner}.{node.attr}" if inner else ""
    return ""


def calls(module: Module) -> Iterator[tuple[str, ast.Call]]:
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Call):
            yield dotted(node.func), node


def where(module: Module, node: ast.AST) -> str:
    return f"{module.path.relative_to(PACKAGE.parent)}:{getattr(node, 'lineno', '?')}"


# --- imports -------------------------------------------------------------------------------


def test_every_module_is_in_the_table() -> None:
    assert sorted(module_names()) == sorted(ALLOWED), (
        "a module was added or removed: give it a row in ALLOWED (and THIRD_PARTY)")


@pytest.mark.parametrize("module", modules(), ids=lambda m: m.name)
def test_sitegen_imports_follow_the_allowed_edges(module: Module) -> None:
    extra = internal(imports(module)) - ALLOWED[module.name] - {module.name}
    assert extra == set(), f"{module.name} may not import {sorted(extra)}"


@pytest.mark.parametrize("module", modules(), ids=lambda m: m.name)
def test_third_party_imports_are_the_allowed_ones(module: Module) -> None:
    stdlib = set(sys.stdlib_module_names)
    found = {n for n in external(imports(module)) if n not in stdlib}
    extra = found - THIRD_PARTY.get(module.name, set())
    assert extra == set(), f"{module.name} may not import {sorted(extra)}"


@pytest.mark.parametrize("name", sorted(FORBIDDEN))
def test_stages_do_not_know_what_style_md_keeps_from_them(name: str) -> None:
    [module] = [m for m in modules() if m.name == name]
    found = imports(module)
    heads = found | {n.split(".")[0] for n in found}
    for banned in FORBIDDEN[name]:
        if banned == "sitegen.*":
            assert internal(found) == set(), f"{name} must be a leaf"
        else:
            assert banned not in heads, f"{name} must not import {banned}"


def test_table_has_no_cycles() -> None:
    graph = {name: {d for d in deps if d != "sitegen"} for name, deps in ALLOWED.items()}
    done: set[str] = set()

    def visit(node: str, stack: tuple[str, ...]) -> None:
        assert node not in stack, f"import cycle: {' -> '.join((*stack, node))}"
        if node in done:
            return
        for dep in graph.get(node, ()):
            visit(dep, (*stack, node))
        done.add(node)

    for name in graph:
        visit(name, ())


def test_config_is_read_before_content_and_model_is_left_of_render() -> None:
    # Spot checks of the one-way flow: no stage imports one to its right.
    order = ["sitegen.diagnostics", "sitegen.yamlutil", "sitegen.config", "sitegen.content",
             "sitegen.slugs", "sitegen.model", "sitegen.markdown", "sitegen.render",
             "sitegen.output", "sitegen.build", "sitegen.cli"]
    by_name = {m.name: m for m in modules()}
    for i, name in enumerate(order):
        right = set(order[i + 1:])
        assert internal(imports(by_name[name])) & right == set(), name


# --- side effects --------------------------------------------------------------------------


@pytest.mark.parametrize("module", modules(), ids=lambda m: m.name)
def test_only_cli_prints(module: Module) -> None:
    if module.name in PRINTERS:
        return
    found = [where(module, node) for name, node in calls(module)
             if name in ("print", "pprint.pprint", "sys.stdout.write", "sys.stderr.write")]
    assert found == [], "only cli.py prints; return diagnostics instead"


@pytest.mark.parametrize("module", modules(), ids=lambda m: m.name)
def test_only_output_deletes_or_swaps(module: Module) -> None:
    found = []
    for name, node in calls(module):
        if name in DELETE_CALLS and module.name not in DELETERS:
            found.append(f"{where(module, node)} {name}")
        method = name.rsplit(".", 1)[-1] if "." in name else ""
        if method in DELETE_METHODS and module.name not in METHOD_DELETERS:
            found.append(f"{where(module, node)} .{method}()")
    assert found == []


@pytest.mark.parametrize("module", modules(), ids=lambda m: m.name)
def test_only_output_writes(module: Module) -> None:
    found = []
    for name, node in calls(module):
        method = name.rsplit(".", 1)[-1] if "." in name else ""
        if method in WRITE_METHODS and module.name not in WRITERS:
            found.append(f"{where(module, node)} .{method}()")
        if name in ("open", "io.open", "os.open", "os.makedirs", "os.mkdir", "shutil.copyfile",
                    "shutil.copy", "shutil.copy2", "shutil.copytree") \
                and module.name not in WRITERS | READERS:
            found.append(f"{where(module, node)} {name}()")
    assert found == []


@pytest.mark.parametrize("module", modules(), ids=lambda m: m.name)
def test_only_config_and_content_read_the_source_tree(module: Module) -> None:
    found = [f"{where(module, node)} {name}" for name, node in calls(module)
             if (name.rsplit(".", 1)[-1] in READ_METHODS or name == "open")
             and module.name not in READERS]
    assert found == []


@pytest.mark.parametrize("module", modules(), ids=lambda m: m.name)
def test_no_process_global_side_effects(module: Module) -> None:
    found = [f"{where(module, node)} {name}" for name, node in calls(module)
             if name in BANNED_CALLS]
    # parallel.py is the one exception: it parks the task of the pool it is about to fork in
    # a module variable, so workers inherit the site model instead of unpickling it; it is
    # set and cleared around the pool (tests/test_parallel.py).
    found += [f"{where(module, node)} global" for node in ast.walk(module.tree)
              if isinstance(node, ast.Global) and module.name != "sitegen.parallel"]
    found += [f"{where(module, node)} sys.path assignment" for node in ast.walk(module.tree)
              if isinstance(node, ast.Assign | ast.AugAssign)
              and any(dotted(t).startswith("sys.path")
                      for t in (node.targets if isinstance(node, ast.Assign) else [node.target]))]
    assert found == []


def test_only_render_creates_a_jinja_environment() -> None:
    found = [where(m, node) for m in modules() for name, node in calls(m)
             if name.rsplit(".", 1)[-1] == "Environment" and m.name != "sitegen.render"]
    assert found == []


def test_frozen_dataclasses_in_the_model() -> None:
    [model] = [m for m in modules() if m.name == "sitegen.model"]
    for node in model.tree.body:
        if isinstance(node, ast.ClassDef):
            decorators = [d for d in node.decorator_list if isinstance(d, ast.Call)
                          and dotted(d.func) == "dataclass"]
            assert decorators, f"model.{node.name} is not a dataclass"
            keywords = {k.arg: k.value for k in decorators[0].keywords}
            assert isinstance(keywords.get("frozen"), ast.Constant) \
                and keywords["frozen"].value is True, f"model.{node.name} is not frozen"
