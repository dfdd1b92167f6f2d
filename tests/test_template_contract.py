"""Templates use only what their page kind documents.

For every template of the default theme, the variables it reads (Jinja's own analysis of the
template source) must be fields of the context dataclass of its page kind (whose ``help`` the
README's template reference shows) or globals that sitegen registers.
"""

from __future__ import annotations

from dataclasses import fields

import pytest
from jinja2 import meta, nodes

from sitegen import render, server
from sitegen.themes import builtin_theme

THEME = builtin_theme() / "templates"
GLOBALS = {"url", "absolute_url", "feed_url", "news_article", "page"}
KINDS: dict[str, type[render.PageContext]] = {
    "index.html": render.IndexPage,
    "report.html": render.ReportPage,
    "terms.html": render.TermIndexPage,
    "term.html": render.TermPage,
    "archive.html": render.ArchiveIndexPage,
    "year.html": render.YearPage,
    "search.html": render.SimplePage,
    "404.html": render.SimplePage,
    "search_results.html": server.SearchPage,
    "base.html": render.PageContext,
}
# base.html adds a term feed link on term pages; it tests `term is defined` first.
OPTIONAL = {"base.html": {"term", "kind"}}


def test_every_template_is_covered() -> None:
    names = {p.name for p in THEME.glob("*.html") if not p.name.startswith("_")}
    assert names == set(KINDS)


@pytest.mark.parametrize("name", sorted(KINDS))
def test_template_reads_only_documented_fields(name: str) -> None:
    env = render.make_env([builtin_theme()])
    source = (THEME / name).read_text(encoding="utf-8")
    tree = env.parse(source)
    imported = {n if isinstance(n, str) else n[1] or n[0]
                for node in tree.find_all(nodes.FromImport) for n in node.names}
    used = meta.find_undeclared_variables(tree) - imported
    documented = {f.name for f in fields(KINDS[name])}
    assert used - documented - GLOBALS - OPTIONAL.get(name, set()) == set()


@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_documented_field_has_help(name: str) -> None:
    for f in fields(KINDS[name]):
        assert f.metadata.get("help"), (KINDS[name].__name__, f.name)


def test_globals_are_registered() -> None:
    env = render.make_env([builtin_theme()])
    assert GLOBALS - {"page"} <= set(env.globals)


