"""Source reports: discovery, and ``parse_document`` (pure) from file text to ``SourceDoc``.

A report is a Markdown file that starts with YAML front matter between ``---`` lines. The
front matter is checked into a typed ``ReportMeta``; every problem becomes a ``Diagnostic``
with the file, line and column. ``load_sources`` is the only function here that reads files.
"""

from __future__ import annotations

import errno
import os
import re
import stat as stat_module
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, tzinfo
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from sitegen.diagnostics import Diagnostic, error, warning
from sitegen.yamlutil import Mark, Marks, parse_yaml, type_name

REPORT_SUFFIXES = (".md", ".markdown")
KNOWN_KEYS = ("title", "date", "updated", "actors", "locations", "tags", "summary", "source",
              "source_url", "author", "slug", "draft", "aliases")
_FENCE = re.compile(r"^(?:---|\.\.\.)[ \t]*$", re.MULTILINE)
# Defaults of the settings of the same names (config.py); a test keeps the two in step.
MAX_FRONT_MATTER_BYTES = 64 * 1024
MAX_REPORT_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ReportMeta:
    title: str
    date: datetime  # timezone-aware
    date_has_time: bool
    updated: datetime | None = None
    actors: tuple[str, ...] = ()
    locations: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    summary: str = ""
    source: str | None = None
    source_url: str | None = None
    author: str | None = None
    slug: str | None = None
    draft: bool = False
    aliases: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class SourceDoc:
    path: str  # relative to the content folder, posix
    meta: ReportMeta
    body: str
    body_line: int  # 1-based line of the body's first line in the file
    marks: Mapping[str, Mark]  # front-matter key -> line/col of its value


def is_report_path(relpath: Path) -> bool:
    """Files under ``_data/``, or whose name or folder starts with ``_`` or ``.``, are not
    reports."""
    return relpath.suffix.lower() in REPORT_SUFFIXES and not any(
        part.startswith(("_", ".")) for part in relpath.parts)


def discover(content_dir: Path) -> list[Path]:
    """Report files under ``content_dir``, as sorted relative paths."""
    return scan(content_dir)[0]


def scan(content_dir: Path) -> tuple[list[Path], list[Diagnostic]]:
    """Report files under ``content_dir`` (sorted relative paths), and the symbolic links that
    were refused: a report or folder that links outside the content folder would let a
    contributor publish any file the build can read (``content.symlink-escape``), and a
    dangling link is a report that cannot be read. Links that stay inside are followed for
    files; linked folders are not entered (their reports are already found at their real
    place)."""
    root = Path(os.path.realpath(content_dir))
    found: list[str] = []  # posix paths: strings, not Paths, for the 10,000s of entries
    diags: list[Diagnostic] = []
    base = os.fspath(content_dir)
    stack = [""]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(f"{base}/{folder}" if folder else base),
                             key=lambda e: e.name)
        except OSError as exc:
            diags.append(error("content.read", _shown(content_dir, Path(folder)),
                               f"cannot read folder: {exc.strerror}"))
            continue
        for entry in entries:
            name = entry.name
            if name.startswith(("_", ".")):  # so no folder of ``rel`` starts with one
                continue
            rel = f"{folder}/{name}" if folder else name
            link = entry.is_symlink()
            is_dir = entry.is_dir()  # follows links
            if not is_dir and name[name.rfind("."):].lower() not in REPORT_SUFFIXES:
                continue
            if link:
                target = Path(os.path.realpath(entry.path))
                if not target.is_relative_to(root):
                    diags.append(_escape(content_dir, Path(rel), target))
                    continue
                if not is_dir and not target.exists():
                    diags.append(error("content.read", _shown(content_dir, Path(rel)),
                                       f"is a broken symbolic link (to {target})"))
                    continue
            if is_dir:
                if not link:
                    stack.append(rel)
            elif entry.is_file():
                found.append(rel)
    return [Path(rel) for rel in sorted(found)], diags


def _shown(content_dir: Path, rel: Path) -> str:
    """How diagnostics name a path: the content folder's name, then the path inside it."""
    inside = rel.as_posix()
    if inside == ".":
        return content_dir.name or "."
    return f"{content_dir.name}/{inside}" if content_dir.name else inside


def _escape(content_dir: Path, rel: Path, target: Path) -> Diagnostic:
    return error("content.symlink-escape", _shown(content_dir, rel),
                 f"is a symbolic link to {target}, outside the content folder; sitegen reads "
                 "only files inside it (copy the file in instead)")


def split_front_matter(text: str, path: str) -> tuple[str, str, int] | Diagnostic:
    """Return (front matter, body, 1-based line of the body) or a diagnostic."""
    if not re.match(r"---[ \t]*\n", text):
        return error("frontmatter.missing", path,
                     "no front matter: a report starts with a '---' line, then YAML with at "
                     "least title and date, then another '---' line", 1, 1)
    start = text.index("\n") + 1
    end = _FENCE.search(text, start)
    if end is None:
        return error("frontmatter.unclosed", path,
                     "front matter is not closed: add a '---' line after the YAML", 1, 1)
    front = text[start:end.start()]
    newline = text.find("\n", end.end())
    body = "" if newline == -1 else text[newline + 1:]
    body_line = text.count("\n", 0, end.end()) + 2
    return front, body, body_line


def parse_document(text: str, path: str, tz: tzinfo, *,
                   max_front_matter_bytes: int = MAX_FRONT_MATTER_BYTES,
                   ) -> tuple[SourceDoc | None, list[Diagnostic]]:
    """Parse one report's text (pure). ``tz`` applies to dates written without a time zone.
    Front matter over ``max_front_matter_bytes`` is an error, and so are YAML aliases in it
    (see ``parse_yaml``)."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    split = split_front_matter(text, path)
    if isinstance(split, Diagnostic):
        return None, [split]
    front, body, body_line = split
    size = len(front.encode("utf-8", "surrogatepass"))
    if size > max_front_matter_bytes:
        return None, [error("content.too-large", path, f"the front matter is {size:,} bytes; "
                            f"the limit is {max_front_matter_bytes:,} (max_front_matter_bytes in "
                            "sitegen.yaml)", 2, 1)]
    doc, diags = parse_yaml(front, path, line_offset=1, code="frontmatter.yaml",
                            allow_aliases=False)
    if doc is None:
        return None, diags
    data = {} if doc.data is None else doc.data
    if not isinstance(data, dict):
        return None, [error("frontmatter.type", path, "front matter must be a mapping of keys "
                            f"such as 'title: ...', got {type_name(data)}", 2, 1)]
    marks = {k: v for k, (_, v) in doc.key_marks().items()}
    checker = _Checker(path, marks, tz)
    meta = checker.meta(data)
    diags.extend(checker.diags)
    if meta is None:
        return None, diags
    return SourceDoc(path, meta, body, body_line, Marks(marks)), diags


class _Checker:
    """Turns the raw front-matter mapping into ``ReportMeta``, collecting every problem."""

    def __init__(self, path: str, marks: Mapping[str, Mark], tz: tzinfo) -> None:
        self.path = path
        self.marks = marks
        self.tz = tz
        self.diags: list[Diagnostic] = []

    def _at(self, key: str) -> tuple[int, int]:
        mark = self.marks.get(key)
        return (mark.line, mark.col) if mark else (2, 1)

    def err(self, key: str, code: str, message: str) -> None:
        self.diags.append(error(code, self.path, message, *self._at(key)))

    def warn(self, key: str, code: str, message: str) -> None:
        self.diags.append(warning(code, self.path, message, *self._at(key)))

    def meta(self, data: dict[Any, Any]) -> ReportMeta | None:
        title = self.text(data, "title", required=True)
        when = self.when(data, "date", required=True)
        updated = self.when(data, "updated")
        values: dict[str, Any] = {
            "actors": self.names(data, "actors"),
            "locations": self.names(data, "locations"),
            "tags": self.names(data, "tags"),
            "aliases": self.names(data, "aliases"),
            "summary": self.text(data, "summary") or "",
            "source": self.text(data, "source"),
            "source_url": self.url(data, "source_url"),
            "author": self.text(data, "author"),
            "slug": self.slug(data, "slug"),
            "draft": self.flag(data, "draft"),
        }
        extra = {str(k): v for k, v in data.items() if str(k) not in KNOWN_KEYS}
        if title is None or when is None or any(d.severity.value == "error" for d in self.diags):
            return None
        return ReportMeta(title=title, date=when[0], date_has_time=when[1],
                          updated=updated[0] if updated else None,
                          extra=MappingProxyType(extra), **values)

    def text(self, data: dict[Any, Any], key: str, required: bool = False) -> str | None:
        if key not in data or data[key] is None:
            if required:
                self.diags.append(error("frontmatter.missing-key", self.path,
                                        f"missing required key '{key}'", 2, 1))
            return None
        value = data[key]
        if isinstance(value, bool | list | dict):
            self.err(key, "frontmatter.type", f"{key}: expected text, got {type_name(value)}")
            return None
        text = str(value).strip()
        if required and not text:
            self.err(key, "frontmatter.empty", f"{key}: must not be empty")
            return None
        return text or None

    def when(self, data: dict[Any, Any], key: str,
             required: bool = False) -> tuple[datetime, bool] | None:
        value = self.text(data, key, required)
        if value is None:
            return None
        parsed = parse_when(value, self.tz)
        if parsed is None:
            self.err(key, "frontmatter.date",
                     f"{key}: {value!r} is not a valid date; use YYYY-MM-DD, optionally with a "
                     "time and offset such as 2020-03-11T22:30:00+03:00")
        return parsed

    def names(self, data: dict[Any, Any], key: str) -> tuple[str, ...]:
        value = data.get(key)
        if value is None:
            return ()
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, list):
            self.err(key, "frontmatter.type",
                     f"{key}: expected a list of names or a single name, got {type_name(value)}")
            return ()
        names: list[str] = []
        for item in value:
            if item is None or (isinstance(item, str) and not item.strip()):
                self.warn(key, "frontmatter.empty-name", f"{key}: empty name ignored")
                continue
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                self.err(key, "frontmatter.type",
                         f"{key}: each name must be text, got {type_name(item)}")
                continue
            name = " ".join(str(item).split())
            if name not in names:
                names.append(name)
        return tuple(names)

    def url(self, data: dict[Any, Any], key: str) -> str | None:
        value = self.text(data, key)
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            self.err(key, "frontmatter.url", f"{key}: expected an http(s) URL, got {value!r}")
            return None
        return value

    def slug(self, data: dict[Any, Any], key: str) -> str | None:
        value = self.text(data, key)
        if value is None:
            return None
        if "/" in value or "\\" in value or value.strip(".") == "":
            self.err(key, "frontmatter.slug",
                     f"{key}: {value!r} is not a valid slug (no slashes or dots-only names)")
            return None
        return value

    def flag(self, data: dict[Any, Any], key: str) -> bool:
        value = data.get(key, False)
        if value is None:
            return False
        if not isinstance(value, bool):
            self.err(key, "frontmatter.type", f"{key}: expected true or false, got "
                     f"{type_name(value)}")
            return False
        return value


def parse_when(value: str, tz: tzinfo) -> tuple[datetime, bool] | None:
    """Parse a date or datetime string; returns (aware datetime, has a time part)."""
    text = value.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return datetime.combine(date.fromisoformat(text), time(), tz), False
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed, True


def load_sources(content_dir: Path, tz: tzinfo, *, max_report_bytes: int = MAX_REPORT_BYTES,
                 max_front_matter_bytes: int = MAX_FRONT_MATTER_BYTES,
                 ) -> tuple[list[SourceDoc], list[Diagnostic]]:
    """Read and parse every report under ``content_dir``."""
    docs: list[SourceDoc] = []
    if not content_dir.is_dir():
        return docs, [error("content.missing", str(content_dir), "content folder not found")]
    found_paths, diags = scan(content_dir)
    for rel in found_paths:
        doc, found = load_source(content_dir, rel, tz, max_report_bytes=max_report_bytes,
                                 max_front_matter_bytes=max_front_matter_bytes)
        diags.extend(found)
        if doc is not None:
            docs.append(doc)
    return docs, diags


def load_source(content_dir: Path, rel: Path, tz: tzinfo, *,
                max_report_bytes: int = MAX_REPORT_BYTES,
                max_front_matter_bytes: int = MAX_FRONT_MATTER_BYTES,
                ) -> tuple[SourceDoc | None, list[Diagnostic]]:
    """Read one report (``rel`` inside ``content_dir``) and parse it (``read_source`` then
    ``parse_source``)."""
    raw, diags = read_source(content_dir, rel, max_report_bytes=max_report_bytes)
    if raw is None:
        return None, diags
    return parse_source(raw, shown_path(content_dir, rel), tz,
                        max_front_matter_bytes=max_front_matter_bytes)


def _open_report(content_dir: Path, rel: Path, path: str) -> int | Diagnostic:
    """A read-only descriptor of a report that is, or links to, a file inside the content
    folder. ``scan`` enters no linked folder, so only the file itself may be a link: it is
    opened with O_NOFOLLOW (so it cannot have become a link meanwhile), and only when that
    fails because it is a link is the link resolved, checked and followed."""
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    try:
        if nofollow or not Path(path).is_symlink():  # without O_NOFOLLOW: asked first
            return os.open(path, os.O_RDONLY | nofollow)
    except OSError as exc:
        if exc.errno != errno.ELOOP or not nofollow:
            return error("content.read", _shown(content_dir, rel),
                         f"cannot read file: {exc.strerror}")
    target = Path(os.path.realpath(path))
    if not target.is_relative_to(Path(os.path.realpath(content_dir))):
        return _escape(content_dir, rel, target)
    try:
        return os.open(target, os.O_RDONLY)
    except OSError as exc:
        return error("content.read", _shown(content_dir, rel),
                     f"cannot read file: {exc.strerror}")


def _read_up_to(fd: int, limit: int) -> bytes:
    """Up to ``limit`` bytes from ``fd``: read on after a short read, until the end."""
    parts = []
    while limit > 0 and (part := os.read(fd, limit)):
        parts.append(part)
        limit -= len(part)
    return parts[0] if len(parts) == 1 else b"".join(parts)


RACY_NS = 2_000_000_000  # a file changed this recently may change again unseen: read it


def source_stat(content_dir: Path, rel: Path, salt: str, now_ns: int) -> str | None:
    """What identifies a report file's bytes without reading them (for the build cache):
    ``salt`` (the parse settings) and the file's device, inode, size, mtime and ctime (ctime
    changes with any write, even if a tool puts the mtime back). None for a link, and for a
    file changed in the last ``RACY_NS``: its next change might keep the same times, as
    timestamps are coarse on some filesystems."""
    try:
        st = os.lstat(f"{content_dir}/{rel}")  # a string: asked of every report
    except OSError:
        return None
    if not stat_module.S_ISREG(st.st_mode) or max(st.st_mtime_ns, st.st_ctime_ns) > \
            now_ns - RACY_NS:
        return None
    return f"{salt}:{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


def shown_path(content_dir: Path, rel: Path) -> str:
    """How diagnostics name the report ``rel``."""
    return _shown(content_dir, rel)


def read_source(content_dir: Path, rel: Path, *, max_report_bytes: int = MAX_REPORT_BYTES,
                ) -> tuple[bytes | None, list[Diagnostic]]:
    """The bytes of one report. A file that is, or links to, something outside the content
    folder is refused; so is a file over ``max_report_bytes``, before it is read."""
    shown = _shown(content_dir, rel)
    opened = _open_report(content_dir, rel, f"{content_dir}/{rel}")
    if isinstance(opened, Diagnostic):
        return None, [opened]
    fd = opened
    try:
        size = os.fstat(fd).st_size
        raw = b""
        if size <= max_report_bytes:
            # its size and one byte more, not the limit: a read allocates what it asks for
            # (2 MiB for each 6 kB report, 20 us); a file that grew is read on. Straight
            # from the descriptor: a buffered file object cost more than the read.
            raw = _read_up_to(fd, size + 1)
            if len(raw) > size:
                raw += _read_up_to(fd, max_report_bytes + 1 - len(raw))
    except OSError as exc:
        return None, [error("content.read", shown, f"cannot read file: {exc.strerror}")]
    finally:
        os.close(fd)
    if size > max_report_bytes or len(raw) > max_report_bytes:
        size = max(size, len(raw))
        return None, [error("content.too-large", shown, f"the file is {size:,} bytes; the "
                            f"limit is {max_report_bytes:,} (max_report_bytes in sitegen.yaml)",
                            1)]
    return raw, []


def parse_source(raw: bytes, shown: str, tz: tzinfo, *,
                 max_front_matter_bytes: int = MAX_FRONT_MATTER_BYTES,
                 ) -> tuple[SourceDoc | None, list[Diagnostic]]:
    """Decode and parse one report's bytes (pure)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, [error("content.encoding", shown,
                            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x}); save the file as "
                            "UTF-8", line, col)]
    return parse_document(text, shown, tz, max_front_matter_bytes=max_front_matter_bytes)


FRONT_MATTER_HELP: tuple[tuple[str, str, str], ...] = (
    ("title", "text, required", "Headline of the report."),
    ("date", "date or datetime, required", "`2020-03-11`, or `2020-03-11T22:30:00+03:00`; the "
     "date in the report's own time zone decides its year and month. Without an offset the "
     "site's `timezone` applies."),
    ("actors", "list of names, or one name", "People, armed groups, states, agencies. Each gets "
     "a page. Any spelling or alias in the registry (content/_data/actors.yaml) resolves to its "
     "entity; other names that share a slug share one page."),
    ("locations", "list of names, or one name", "Cities, provinces, bases, countries; resolved "
     "through content/_data/locations.yaml like actors."),
    ("tags", "list", "Free keywords."),
    ("summary", "text", "One or two sentences for lists, search results and meta tags "
     "(plain text: markup is shown as typed)."),
    ("source", "text", "What the account rests on (outlet, statement, dataset)."),
    ("source_url", "http(s) URL", "Link for the source."),
    ("author", "text", "Who wrote the report."),
    ("slug", "text", "URL slug; defaults to the slug of the title."),
    ("updated", "date or datetime", "Last substantive update."),
    ("draft", "true/false", "Drafts are skipped unless `--drafts`."),
    ("aliases", "list of paths", "Old URLs of this report (kept for redirects)."),
    ("any other key", "any YAML", "Kept as `report.extra.<key>` for templates."),
)


def frontmatter_reference() -> str:
    rows = ["| key | type | meaning |", "|---|---|---|"]
    rows += [f"| `{k}` | {t} | {m} |" if k != "any other key" else f"| {k} | {t} | {m} |"
             for k, t, m in FRONT_MATTER_HELP]
    return "\n".join(rows)
