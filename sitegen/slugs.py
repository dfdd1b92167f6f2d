"""Slugs and the one URL scheme of the site.

``slugify_name`` turns an actor, location or title into a URL slug: transliterated to ASCII
(python-slugify with Unidecode-style tables), lowercased, words joined by ``-``, apostrophes
dropped, so spellings that differ only in accents, case or apostrophes share one slug. A name
written only in a non-Latin script (Arabic, Cyrillic, CJK...) keeps its own script, lowercased
and hyphenated, which stays readable for its readers; a name with no letters or digits at all
gets a stable hash-based slug.

URLs here are *site-relative paths* ("actors/kataib-hezbollah/"); ``href`` adds the base path
and percent-encodes, ``output_relpath`` maps them to files.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from datetime import datetime
from typing import Literal
from urllib.parse import quote

from slugify import slugify
from text_unidecode import unidecode

_APOSTROPHES = dict.fromkeys(map(ord, "'’‘ʼʻ`´ʹ′"), None)  # noqa: RUF001
_NOT_WORD = re.compile(r"[^\w]+|_+")
TERM_DIRS = {"actor": "actors", "location": "locations"}
FeedKind = Literal["site", "actor", "location"]


def _has_latin(text: str) -> bool:
    return any(ch.isalpha() and unicodedata.name(ch, "").startswith("LATIN") for ch in text)


# A name that is already a slug (ASCII letters and digits in hyphen-joined runs, a letter
# among them, at most 80 characters) is its own slug: most reports' slugs are, and
# transliterating 10,000 of them took a fifth of a second on every build.
_ALREADY_SLUG = re.compile(r"(?=[0-9-]*[a-z])[a-z0-9]+(?:-[a-z0-9]+)*")


@functools.lru_cache(maxsize=1 << 16)
def slugify_name(name: str) -> str:
    """The slug of a name or title. Never empty, never contains '/' or '..'."""
    if len(name) <= 80 and name.isascii() and _ALREADY_SLUG.fullmatch(name):
        return name
    return _slugify(name)


def _slugify(name: str) -> str:
    cleaned = unicodedata.normalize("NFKC", name).translate(_APOSTROPHES)
    if _has_latin(cleaned) or not any(ch.isalnum() for ch in cleaned):
        # Transliterate here with text-unidecode (python-slugify's own dependency): slugify
        # would switch to the Unidecode package whenever that happens to be installed, and
        # URLs must not depend on what else is in the environment.
        ascii_text = unidecode(cleaned).translate(_APOSTROPHES)
        slug = slugify(ascii_text, max_length=80, word_boundary=True, save_order=True)
    else:
        # Non-Latin script: keep letters and marks (Arabic harakat, Devanagari signs).
        kept = "".join(ch if (ch.isalnum() or unicodedata.category(ch).startswith("M"))
                       else " " for ch in cleaned.casefold())
        slug = "-".join(kept.split())[:80]
        while len(slug.encode("utf-8")) > 200:  # file names are limited to 255 bytes
            slug = slug[:-1]
        slug = slug.strip("-")
    if not slug:
        digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:10]
        slug = f"n-{digest}"
    return slug


def term_index_url(kind: str) -> str:
    return f"{TERM_DIRS[kind]}/"


def term_url(kind: str, slug: str) -> str:
    return f"{TERM_DIRS[kind]}/{slug}/"


def report_url(permalink: str, when: datetime, slug: str) -> str:
    return permalink.format(year=f"{when.year:04d}", month=f"{when.month:02d}",
                            day=f"{when.day:02d}", slug=slug)


def archive_url(year: int | None = None) -> str:
    return "archive/" if year is None else f"archive/{year:04d}/"


def paged_url(url: str, page: int) -> str:
    """The URL of page ``page`` (1-based) of a paginated list living at ``url``."""
    return url if page <= 1 else f"{url}page/{page}/"


def output_relpath(url: str) -> str:
    """The file a site-relative URL is written to ("a/b/" -> "a/b/index.html")."""
    if url == "" or url.endswith("/"):
        return url + "index.html"
    return url


@functools.lru_cache(maxsize=1 << 16)
def href(base_path: str, url: str) -> str:
    """The link to a site-relative URL, with the base path, percent-encoded (memoised: a
    build links the same pages thousands of times)."""
    if "://" in url or url.startswith(("#", "mailto:")):
        return url
    return base_path + quote(url, safe="/#?=&%")


def feed_url(kind: FeedKind = "site", slug: str = "") -> str:
    """Site-relative URL of a feed: ``feed.xml`` or ``actors/<slug>/feed.xml``.

    Templates link it with the ``url`` filter, e.g. ``{{ feed_url("actor", term.slug)|url }}``.
    """
    if kind == "site":
        return "feed.xml"
    if not slug:
        raise ValueError(f"a {kind} feed needs a slug")
    return term_url(kind, slug) + "feed.xml"
