"""Site configuration: an optional ``sitegen.yaml`` at the site root, typed and validated.

Every key is a field of ``SiteConfig`` with a ``help`` text (the README's configuration table is
generated from it and a test keeps the two in sync). Unknown keys and wrong types are errors that
name the key and its line; command-line flags override the file; defaults make a bare
``content/`` folder buildable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError

from sitegen.diagnostics import Diagnostic, error
from sitegen.yamlutil import parse_yaml, type_name

CONFIG_NAME = "sitegen.yaml"
PERMALINK_FIELDS = ("year", "month", "day", "slug")


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass(frozen=True, slots=True)
class SiteConfig:
    root: Path = field(metadata=_help("Site root: the folder holding sitegen.yaml (not a key)."))
    title: str = field(default="Report archive", metadata=_help("Site title, shown in the header."))
    description: str = field(default="", metadata=_help("One-line description of the archive."))
    base_url: str = field(default="/", metadata=_help(
        "Where the site is published, e.g. https://example.org/archive/. Its path is the prefix "
        "of every link; the full URL makes canonical links and feeds absolute."))
    language: str = field(default="en", metadata=_help(
        "Language of the site (BCP 47, e.g. en, fr, ar): the lang attribute and date format."))
    timezone: str = field(default="UTC", metadata=_help(
        "Time zone for dates written without one (IANA name, e.g. Asia/Baghdad)."))
    content_dir: Path = field(default=Path("content"), metadata=_help(
        "Folder of Markdown reports, relative to the site root."))
    output_dir: Path = field(default=Path("output"), metadata=_help(
        "Folder the site is built into, relative to the site root. Replaced atomically."))
    cache_dir: Path = field(default=Path(".sitegen-cache"), metadata=_help(
        "Folder of the build cache, relative to the site root (never inside the output). "
        "Delete it, or build with --no-cache, for a cold build."))
    theme: str = field(default="default", metadata=_help(
        "Theme name (a folder under themes/) or path. Its templates override the built-in "
        "default theme one by one."))
    page_size: int = field(default=20, metadata=_help(
        "Reports per page on the home page and on actor and location pages."))
    permalink: str = field(default="reports/{year}/{slug}/", metadata=_help(
        "URL pattern of a report page; placeholders {year}, {month}, {day}, {slug}; ends in /."))
    allow_raw_html: bool = field(default=False, metadata=_help(
        "Let raw HTML in report bodies through unsanitised. Only for fully trusted content."))
    drafts: bool = field(default=False, metadata=_help(
        "Build reports marked draft: true (also --drafts)."))
    search_dir: str = field(default="_search", metadata=_help(
        "Folder inside the output for the Whoosh search index."))
    include_child_locations: bool = field(default=True, metadata=_help(
        "A location's page also lists the reports of the places below it in the location "
        "registry (content/_data/locations.yaml), marked as such: Iraq lists reports tagged "
        "only Karbala."))
    max_report_bytes: int = field(default=2 * 1024 * 1024, metadata=_help(
        "Largest report file sitegen reads, in bytes (default 2 MiB). A larger file is an error "
        "(content.too-large) and is never read into memory."))
    max_front_matter_bytes: int = field(default=64 * 1024, metadata=_help(
        "Largest front matter of a report, in bytes (default 64 KiB); over it is an error "
        "(content.too-large)."))
    markdown_time_limit: float = field(default=10.0, metadata=_help(
        "Longest one report body may take to turn into HTML, in seconds. Python-Markdown is "
        "very slow on some pathological input (thousands of nested brackets or list levels); "
        "such a report is an error (markdown.too-complex) instead of a hung build."))
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), metadata=_help(
        "Free-form values for your templates, available as site.extra."))

    @property
    def content_path(self) -> Path:
        return (self.root / self.content_dir).resolve()

    @property
    def output_path(self) -> Path:
        return (self.root / self.output_dir).absolute()

    @property
    def cache_path(self) -> Path:
        return (self.root / self.cache_dir).absolute()

    @property
    def base_path(self) -> str:
        """The path part of base_url, always starting and ending with '/'."""
        path = urlsplit(self.base_url).path or "/"
        return path if path.endswith("/") else path + "/"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


FILE_KEYS = tuple(f.name for f in fields(SiteConfig) if f.name != "root")


def default_config(root: Path, **overrides: Any) -> SiteConfig:
    return replace(SiteConfig(root=root), **overrides)


def _check_value(key: str, value: Any) -> tuple[Any, str | None]:
    """Validate one key's value; return (converted value, problem or None)."""
    text_keys = ("title", "description", "base_url", "language", "timezone", "theme",
                 "permalink", "search_dir")
    if key in text_keys and not isinstance(value, str):
        return value, f"expected a string, got {type_name(value)}"
    if key in ("content_dir", "output_dir", "cache_dir"):
        if not isinstance(value, str | Path) or not str(value).strip():
            return value, f"expected a folder path, got {type_name(value)}"
        return Path(value), None
    if key in ("allow_raw_html", "drafts", "include_child_locations") \
            and not isinstance(value, bool):
        return value, f"expected true or false, got {type_name(value)}"
    if key == "page_size":
        if isinstance(value, bool) or not isinstance(value, int):
            return value, f"expected a whole number, got {type_name(value)}"
        if not 1 <= value <= 10_000:
            return value, f"expected a number from 1 to 10000, got {value}"
    if key in ("max_report_bytes", "max_front_matter_bytes"):
        if isinstance(value, bool) or not isinstance(value, int):
            return value, f"expected a whole number of bytes, got {type_name(value)}"
        if not 1024 <= value <= 1 << 30:
            return value, f"expected a number of bytes from 1024 to {1 << 30}, got {value}"
    if key == "markdown_time_limit":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return value, f"expected a number of seconds, got {type_name(value)}"
        if not 0.1 <= value <= 3600:
            return value, f"expected a number of seconds from 0.1 to 3600, got {value}"
        return float(value), None
    if key == "extra":
        if not isinstance(value, dict):
            return value, f"expected a mapping, got {type_name(value)}"
        return MappingProxyType(dict(value)), None
    if key == "base_url":
        parts = urlsplit(value)
        if parts.scheme not in ("", "http", "https") or (parts.scheme and not parts.netloc):
            return value, f"expected an http(s) URL or a path such as /archive/, got {value!r}"
    if key == "timezone":
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            return value, f"unknown time zone {value!r} (use an IANA name such as Europe/Paris)"
    if key == "language":
        try:
            Locale.parse(value.replace("-", "_"))
        except (UnknownLocaleError, ValueError):
            return value, f"unknown language {value!r} (use a code such as en, fr or ar)"
    if key == "permalink":
        names = set(re.findall(r"{(\w*)}", value))
        unknown = sorted(names - set(PERMALINK_FIELDS))
        if unknown:
            return value, (f"unknown placeholder {{{unknown[0]}}}; "
                           f"use {', '.join('{' + n + '}' for n in PERMALINK_FIELDS)}")
        if "slug" not in names:
            return value, "must contain {slug}"
        parts = value.split("/")[:-1]
        if (not value.endswith("/") or value.startswith("/")
                or any(p in ("", ".", "..") for p in parts)
                or re.search(r"[\\?#%\x00-\x1f\x7f]", value)):
            # also no '..', '.', '//', '\\', '?', '#', '%' or control characters
            return value, "must be a relative path ending in '/', e.g. reports/{year}/{slug}/"
    if key == "search_dir" and (not re.fullmatch(r"[\w.-]+", value) or value in (".", "..")):
        return value, "expected a plain folder name such as _search"
    return value, None


def parse_config(text: str, path: str, root: Path) -> tuple[SiteConfig, list[Diagnostic]]:
    """Parse the text of a ``sitegen.yaml`` (pure)."""
    doc, diags = parse_yaml(text, path, code="config.yaml")
    config = SiteConfig(root=root)
    if doc is None or doc.data is None:
        return config, diags
    if not isinstance(doc.data, dict):
        return config, [error("config.type", path, "expected a mapping of settings at the top "
                              f"level, got {type_name(doc.data)}", 1, 1)]
    marks = doc.key_marks()
    values: dict[str, Any] = {}
    for key, value in doc.data.items():
        key_mark, value_mark = marks.get(str(key), (None, None))
        if key not in FILE_KEYS:
            hint = _closest(str(key))
            diags.append(error("config.unknown-key", path,
                               f"unknown setting {key!r}" + (f"; did you mean {hint!r}?" if hint
                                                             else ""),
                               key_mark.line if key_mark else None,
                               key_mark.col if key_mark else None))
            continue
        converted, problem = _check_value(key, value)
        if problem:
            diags.append(error("config.type", path, f"{key}: {problem}",
                               value_mark.line if value_mark else None,
                               value_mark.col if value_mark else None))
            continue
        values[key] = converted
    return replace(config, **values), diags


def _closest(key: str) -> str | None:
    import difflib

    matches = difflib.get_close_matches(key, FILE_KEYS, n=1)
    return matches[0] if matches else None


def load_config(config_file: Path | None, root: Path | None = None,
                overrides: Mapping[str, Any] | None = None) -> tuple[SiteConfig, list[Diagnostic]]:
    """Read the config file (if any) and apply command-line overrides.

    Without ``config_file``, ``root/sitegen.yaml`` is used when it exists.
    """
    root = (root or (config_file.parent if config_file else Path.cwd())).absolute()
    if config_file is None and (root / CONFIG_NAME).is_file():
        config_file = root / CONFIG_NAME
    diags: list[Diagnostic] = []
    config = SiteConfig(root=root)
    if config_file is not None:
        shown = _display(config_file)
        try:
            text = config_file.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            return config, [error("config.missing", shown, "config file not found")]
        except (OSError, UnicodeDecodeError) as exc:
            return config, [error("config.read", shown, f"cannot read config file: {exc}")]
        config, diags = parse_config(text, shown, root)
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        converted, problem = _check_value(key, value)
        if problem:
            diags.append(error("config.type", "<command line>", f"{key}: {problem}"))
        else:
            config = replace(config, **{key: converted})
    return config, diags


def _display(path: Path) -> str:
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def config_reference() -> str:
    """The Markdown table of settings for the README (a test keeps it in sync)."""
    rows = ["| key | default | meaning |", "|---|---|---|"]
    defaults = SiteConfig(root=Path())
    for f in fields(SiteConfig):
        if f.name == "root":
            continue
        value = getattr(defaults, f.name)
        shown = "{}" if f.name == "extra" else (value.as_posix() if isinstance(value, Path)
                                                 else value)
        if isinstance(shown, bool):
            shown = str(shown).lower()
        shown = f"`{shown}`" if shown != "" else "(empty)"
        rows.append(f"| `{f.name}` | {shown} | {f.metadata['help']} |")
    return "\n".join(rows)
