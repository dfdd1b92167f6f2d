"""The Markdown stage: one report body -> sanitised HTML, plain text and table of contents.

``render_markdown`` is a pure function of the body and one setting, with a fresh
Python-Markdown parser per call (parsers keep state between documents). The HTML is then
cleaned by nh3 (the Rust ``ammonia`` sanitiser) with an allow-list, so raw HTML, event
handler attributes and ``javascript:`` links in a report never reach a reader as live markup.
"""

from __future__ import annotations

import html
import re
import threading
from typing import Any

import markdown as md
import nh3

from sitegen.model import Heading, RenderedBody
from sitegen.slugs import slugify_name

EXTENSIONS = ["extra", "toc", "smarty", "sane_lists"]
ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "col", "colgroup", "dd",
    "del", "details", "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3",
    "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s",
    "samp", "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot",
    "th", "thead", "time", "tr", "u", "ul", "var",
}
ALLOWED_ATTRIBUTES = {
    "*": {"id", "title", "lang", "dir", "class"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "abbr": {"title"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align", "scope"},
    "ol": {"start"},
    "time": {"datetime"},
}
URL_SCHEMES = {"http", "https", "mailto"}
_TAG = re.compile(r"<[^>]+>")
_H1 = re.compile(r"<(/?)h1\b")
_ROOT_LINK = re.compile(r'\b(href|src)="/(?!/)')
_BLOCK_END = re.compile(r"</(?:p|h[1-6]|li|td|th|pre|blockquote|dd|dt|figcaption)>|<br\s*/?>")


def _toc_slug(value: str, separator: str) -> str:
    return slugify_name(value)


_PARSERS = threading.local()  # one parser per thread, reset before each document


def _parser() -> md.Markdown:
    parser: md.Markdown | None = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = md.Markdown(
            extensions=EXTENSIONS,
            extension_configs={"toc": {"slugify": _toc_slug, "toc_depth": "1-4"},
                               "footnotes": {"BACKLINK_TEXT": "↩"}},
            output_format="html",
        )
        _PARSERS.parser = parser
    return parser.reset()


def render_markdown(body: str, allow_raw_html: bool = False,
                    base_path: str = "/") -> RenderedBody:
    """Render one report body. Root-relative links (``/reports/...``) get the site's base
    path, so they keep working when the site is published under a sub-path."""
    parser = _parser()
    # The page title is the only h1: a body's "# Heading" becomes an h2.
    raw = _H1.sub(r"<\1h2", parser.convert(body))
    clean = raw if allow_raw_html else sanitize_html(raw)
    if base_path != "/":
        clean = _ROOT_LINK.sub(lambda m: f'{m.group(1)}="{base_path}', clean)
    toc = tuple(_flatten(getattr(parser, "toc_tokens", [])))
    text = html_to_text(clean)
    return RenderedBody(html=clean, text=text, toc=toc, word_count=len(text.split()))


def sanitize_html(fragment: str) -> str:
    cleaned: str = nh3.clean(
        fragment,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )
    return cleaned


def html_to_text(fragment: str) -> str:
    spaced = _BLOCK_END.sub(lambda m: m.group(0) + "\n", fragment)
    return " ".join(html.unescape(_TAG.sub(" ", spaced)).split())


def _flatten(tokens: list[dict[str, Any]]) -> list[Heading]:
    out: list[Heading] = []
    for token in tokens:
        out.append(Heading(level=max(2, int(token["level"])), id=str(token["id"]),
                           title=html.unescape(_TAG.sub("", str(token["name"])))))
        out.extend(_flatten(token.get("children", [])))
    return out
