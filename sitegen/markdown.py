"""The Markdown stage: one report body -> sanitised HTML, plain text and table of contents.

``render_markdown`` is a pure function of the body and one setting, with a fresh
Python-Markdown parser per call (parsers keep state between documents). The HTML is then
cleaned by nh3 (the Rust ``ammonia`` sanitiser) with an allow-list, so raw HTML, event
handler attributes and ``javascript:`` links in a report never reach a reader as live markup.

Python-Markdown recurses on nested structure and is quadratic on some pathological input (a
few thousand unclosed ``[`` take minutes). ``check_complexity`` refuses the known shapes in
linear time, with a line number; a time limit and a ``RecursionError`` guard catch the rest.
Either way the caller gets ``MarkdownTooComplex``, never a hang or a traceback.
"""

from __future__ import annotations

import ctypes
import html
import importlib
import os
import re
import threading
import time
import xml.etree.ElementTree as etree
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import markdown as md
import nh3
from markdown.extensions import Extension
from markdown.extensions.smarty import SmartyExtension
from markdown.extensions.toc import TocExtension, TocTreeprocessor
from markdown.treeprocessors import InlineProcessor, Treeprocessor
from markdown.util import AtomicString

from sitegen.model import Heading, RenderedBody
from sitegen.slugs import slugify_name

EXTENSIONS = ["extra", "toc", "smarty", "sane_lists"]  # smarty: FastSmartyExtension
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
_DL = re.compile(r"<(/?)dl>")
_ROOT_LINK = re.compile(r'\b(href|src)="/(?!/)')


MAX_NESTING = 32  # block quotes, list items and indentation (4 columns a level) on one line
MAX_BRACKET_SCAN = 1_000_000  # characters scanned for the "]" of each "[" and ")" of each "]("
MAX_FOOTNOTE_REFS = 200  # references to one footnote (each is checked against all before it)
TIME_LIMIT = 10.0  # seconds; the default of the markdown_time_limit setting
_PREFIX = re.compile(r"([ \t]*)(>|[-+*](?=[ \t]|$)|\d{1,9}[.)](?=[ \t]|$))?")
_BRACKETS = re.compile(r"\\.|[][()]|\n[ \t]*(?=\n|$)", re.S)
_FOOTNOTE_REF = re.compile(r"\[\^([^\]\s]+)\]")


class MarkdownTooComplex(Exception):
    """A body Python-Markdown cannot render within the limits. ``line`` is 1-based within the
    body, or None when the problem has no one place (time, stack)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class _Timeout(BaseException):
    """Raised inside the rendering thread when the time limit passes (a BaseException, so
    no ``except Exception`` on the way swallows it)."""


class _Typographer(Treeprocessor):  # type: ignore[misc]
    """What smarty's own inline pass does (its patterns, in its order, each match becoming an
    opaque piece later patterns cannot see into), in one loop per text with no per-pattern
    call overhead; texts without a quote, ``--`` or ``...`` are skipped. Smarty's pass ran
    every one of its 19 patterns through Python-Markdown's inline machinery on every text of
    the tree: half of the Markdown stage's time. A test compares the two on many bodies."""

    _PIECE = re.compile("\x02sgq:(\\d+)\x03")

    def __init__(self, parser: md.Markdown, patterns: list[tuple[re.Pattern[str], Any]]) -> None:
        super().__init__(parser)
        self.patterns = patterns
        self.needed = [required_literals(regex) for regex, _ in patterns]

    def run(self, root: Any) -> None:
        for element in root.iter():
            if element is not root and element.text and \
                    not isinstance(element.text, AtomicString):
                element.text = self.educate(element.text)
            if element is not root and element.tail and \
                    not isinstance(element.tail, AtomicString):
                element.tail = self.educate(element.tail)

    def educate(self, text: str) -> str:
        if "'" not in text and '"' not in text and "--" not in text and "..." not in text:
            return text
        pieces: list[str] = []
        store = self.md.htmlStash.store
        for (regex, replace), needed in zip(self.patterns, self.needed, strict=True):
            if not all(map(text.__contains__, needed)):
                continue  # it cannot match: most texts have an apostrophe and no "--"
            pos = 0
            while (match := regex.search(text, pos)) is not None:
                pieces.append("".join(match.group(part) if isinstance(part, int)
                                      else store(part) for part in replace))
                mark = f"\x02sgq:{len(pieces) - 1}\x03"
                text = text[:match.start()] + mark + text[match.end():]
                pos = match.start() + len(mark)
        if not pieces:
            return text
        return self._PIECE.sub(lambda m: pieces[int(m.group(1))], text)


def required_literals(regex: re.Pattern[str]) -> tuple[str, ...]:
    """Strings every match of ``regex`` contains: the runs of consecutive literals of its
    top-level sequence (not those inside groups, branches or lookarounds, which end a run),
    a top-level repeat of one literal at least ``n`` times counting as ``n`` of it (one
    that may repeat more ends the run, and the next starts with its last ``n``). () when it
    cannot tell (then the pattern is always tried)."""
    if regex.flags & re.IGNORECASE:
        return ()
    try:
        parser: Any = importlib.import_module("re._parser")  # CPython's own regex parser
        parsed = parser.parse(regex.pattern, regex.flags)
        needed: list[str] = []
        run = ""
        for op, av in parsed:
            if op is parser.LITERAL:
                run += chr(av)
                continue
            if op in (parser.MAX_REPEAT, parser.MIN_REPEAT):
                low, high, item = av
                if low >= 1 and len(item) == 1 and item[0][0] is parser.LITERAL:
                    run += chr(item[0][1]) * low
                    if high != low:
                        needed.append(run)
                        run = chr(item[0][1]) * low
                    continue
            if run:
                needed.append(run)
            run = ""
        if run:
            needed.append(run)
    except Exception:  # noqa: BLE001 - another Python's parser: no prefilter, same output
        return ()
    return tuple(dict.fromkeys(needed))


class FastSmartyExtension(SmartyExtension):  # type: ignore[misc]
    """Python-Markdown's smarty extension (same settings, same patterns) with its inline pass
    replaced by ``_Typographer``."""

    def extendMarkdown(self, parser: md.Markdown) -> None:
        super().extendMarkdown(parser)
        patterns = [(p.compiled_re, p.replace) for p in self.inlinePatterns]
        parser.treeprocessors.register(_Typographer(parser, patterns), "smarty", 6)


class _TocWithoutUnusedDiv(TocTreeprocessor):  # type: ignore[misc]
    """The stock TOC pass (heading ids, ``toc_tokens``), except that the table-of-contents
    ``<div>`` is built, and the tree searched for the ``[TOC]`` marker it replaces, only in a
    document whose source lines have the marker: sitegen reads ``toc_tokens``, never
    ``md.toc``, which is an empty ``<div>`` otherwise. Building, prettifying and serialising
    the unused list, and walking every element for the marker, were a tenth of the Markdown
    time. A paragraph whose text is the marker comes from a source line holding it (raw HTML
    and code are stashed before the tree is built), so no replacement is missed."""

    _marked = True

    def run(self, doc: Any) -> None:
        self._marked = bool(self.marker) and any(self.marker in line for line in self.md.lines)
        super().run(doc)

    def build_toc_div(self, toc_list: list[Any]) -> Any:
        if self._marked:
            return super().build_toc_div(toc_list)
        div = etree.Element("div")
        div.attrib["class"] = self.toc_class
        return div

    def replace_marker(self, root: Any, elem: Any) -> None:
        if self._marked:
            super().replace_marker(root, elem)


class FastTocExtension(TocExtension):  # type: ignore[misc]
    """Python-Markdown's toc extension with ``_TocWithoutUnusedDiv`` as its pass."""

    TreeProcessorClass = _TocWithoutUnusedDiv


# A character each of Python-Markdown's inline patterns needs somewhere in a text to match
# there (read off their regular expressions: Python-Markdown 3.x, extra's footnotes).
# Patterns not named here are tried on every text.
_TRIGGERS = {
    "backtick": "`", "escape": "\\", "footnote": "[", "reference": "[", "link": "[",
    "image_link": "!", "image_reference": "!", "short_reference": "[", "short_image_ref": "!",
    "autolink": "<", "automail": "<", "linebreak": "\n", "html": "<", "entity": "&",
}


class _PrefilteredInline(InlineProcessor):  # type: ignore[misc]
    """Python-Markdown's inline pass, skipping a pattern on a text that lacks the character
    it needs to match (``_TRIGGERS``): a report's plain sentences go through a few of the
    patterns instead of all of them. A skipped pattern is one that would not have matched,
    so the result is the stock pass's (a test compares them on generated Markdown)."""

    def _InlineProcessor__handleInline(self, data: str, patternIndex: int = 0) -> str:
        if isinstance(data, AtomicString):
            atomic: str = data  # returned as it is, as the stock pass does
            return atomic
        patterns = self.inlinePatterns
        triggers = self._triggers()
        apply = self._InlineProcessor__applyPattern
        start = 0
        index = patternIndex
        count = len(patterns)
        while index < count:
            needed = triggers[index]
            if needed is not None and needed not in data:
                index += 1
                start = 0
                continue
            data, matched, start = apply(patterns[index], data, index, start)
            if not matched:
                index += 1
        return data

    def _triggers(self) -> list[str | None]:
        """Each pattern's character, in the registry's order (looked up once per parser:
        the registry is fixed once the extensions are loaded)."""
        held: list[str | None] | None = getattr(self, "_held_triggers", None)
        registry = self.inlinePatterns
        if held is None or len(held) != len(registry):
            names = {id(pattern): name for name, pattern in registry._data.items()}
            held = [_TRIGGERS.get(names[id(registry[i])]) for i in range(len(registry))]
            self._held_triggers = held
        return held


class PrefilteredInlineExtension(Extension):  # type: ignore[misc]
    """Registers ``_PrefilteredInline`` in place of the stock inline pass."""

    def extendMarkdown(self, parser: md.Markdown) -> None:
        parser.treeprocessors.register(_PrefilteredInline(parser), "inline", 20)


# What each of Python-Markdown's block processors needs in a block to act on it (read off
# their regular expressions: Python-Markdown 3.x, extra's tables, definition lists,
# abbreviations and footnotes), any one of the strings. A "test" processor's test searches
# the whole block with a regex (``(^|\n)[ ]{0,3}>`` is tried at every position of a
# paragraph); a "run" processor says yes to every block and searches it in ``run``, putting
# it back when nothing matched.
_BLOCK_TEST_TRIGGERS = {
    "table": ("|",), "hashheader": ("#",), "setextheader": ("=", "-"),
    "hr": ("-", "_", "*"), "quote": (">",), "deflist": (":",),
}
_BLOCK_RUN_TRIGGERS = {"abbr": ("*[",), "footnote": ("[^",), "reference": ("]:",)}


class PrefilteredBlocksExtension(Extension):  # type: ignore[misc]
    """Each block processor named in ``_BLOCK_TEST_TRIGGERS`` or ``_BLOCK_RUN_TRIGGERS``
    declines a block that has none of its strings, without its regex: what it would have
    done there (a test answering no; a run putting the block back and returning False).
    Registered after the other extensions, so their processors are there to wrap; a test
    compares the output with the stock parser's on generated Markdown."""

    def extendMarkdown(self, parser: md.Markdown) -> None:
        processors = parser.parser.blockprocessors
        for name, needed in _BLOCK_TEST_TRIGGERS.items():
            if name in processors:
                processor = processors[name]
                processor.test = _gated_test(processor.test, needed)
        for name, needed in _BLOCK_RUN_TRIGGERS.items():
            if name in processors:
                processor = processors[name]
                processor.run = _gated_run(processor.run, needed)


def _holds_any(needed: tuple[str, ...]) -> Callable[[str], bool]:
    """Whether a block holds any of ``needed``: asked of every block by each gated
    processor, so without a generator for the usual one or two strings."""
    if len(needed) == 1:
        (only,) = needed
        return lambda block: only in block
    if len(needed) == 2:
        first, second = needed
        return lambda block: first in block or second in block
    return lambda block: any(map(block.__contains__, needed))


def _gated_test(test: Any, needed: tuple[str, ...]) -> Any:
    holds = _holds_any(needed)

    def gated(parent: Any, block: str) -> bool:
        return holds(block) and bool(test(parent, block))
    return gated


def _gated_run(run: Any, needed: tuple[str, ...]) -> Any:
    holds = _holds_any(needed)

    def gated(parent: Any, blocks: list[str]) -> Any:
        if not holds(blocks[0]):
            return False  # as the processor does when its regex finds nothing
        return run(parent, blocks)
    return gated


def _toc_slug(value: str, separator: str) -> str:
    return slugify_name(value)


TOC_CONFIG = {"slugify": _toc_slug, "toc_depth": "1-4"}
# the stock extensions of EXTENSIONS sitegen replaces by faster ones with the same output
_FAST: dict[str, Any] = {"smarty": FastSmartyExtension,
                         "toc": lambda: FastTocExtension(**TOC_CONFIG)}

_PARSERS = threading.local()  # one parser per thread, reset before each document


def _parser() -> md.Markdown:
    parser: md.Markdown | None = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = md.Markdown(
            extensions=[*(_FAST[name]() if name in _FAST else name for name in EXTENSIONS),
                        PrefilteredInlineExtension(), PrefilteredBlocksExtension()],
            extension_configs={"footnotes": {"BACKLINK_TEXT": "↩"}},
            output_format="html",
        )
        _PARSERS.parser = parser
    return parser.reset()


def render_markdown(body: str, allow_raw_html: bool = False, base_path: str = "/",
                    time_limit: float = TIME_LIMIT) -> RenderedBody:
    """Render one report body. Root-relative links (``/reports/...``) get the site's base
    path, so they keep working when the site is published under a sub-path. Raises
    ``MarkdownTooComplex`` for a body over the limits (see ``check_complexity``) or one that
    takes longer than ``time_limit`` seconds."""
    problem = check_complexity(body)
    if problem is not None:
        raise problem
    try:
        with _time_limit(time_limit):
            parser = _parser()
            converted = parser.convert(body)
    except _Timeout:
        _PARSERS.parser = None  # interrupted anywhere: do not reuse its state
        raise MarkdownTooComplex(
            f"the Markdown took more than {time_limit:g} s to turn into HTML "
            "(markdown_time_limit in sitegen.yaml); split very long tables, lists or "
            "paragraphs") from None
    except RecursionError:
        _PARSERS.parser = None
        raise MarkdownTooComplex(
            "the Markdown is nested too deeply for the parser (it ran out of stack); flatten "
            "the deepest lists, quotes or definition lists") from None
    # Python-Markdown 3.11 nests a run of terms and definitions without running out of
    # stack: "a\n: b\n" 3,000 times became 1,500 levels of <dl> (earlier releases raised
    # RecursionError above). Deeper than the limit is the same error either way.
    if converted.count("<dl>") > MAX_NESTING:
        depth = _dl_depth(converted)
        if depth > MAX_NESTING:
            raise MarkdownTooComplex(
                f"the definition lists are nested {depth} levels deep; the limit is "
                f"{MAX_NESTING}; flatten the deepest lists, quotes or definition lists")
    # The page title is the only h1: a body's "# Heading" becomes an h2.
    raw = _H1.sub(r"<\1h2", converted)
    clean = raw if allow_raw_html else sanitize_html(raw)
    if base_path != "/":
        clean = _ROOT_LINK.sub(lambda m: f'{m.group(1)}="{base_path}', clean)
    toc = tuple(_flatten(getattr(parser, "toc_tokens", [])))
    text = html_to_text(clean)
    return RenderedBody(html=clean, text=text, toc=toc, word_count=len(text.split()))


def _dl_depth(html: str) -> int:
    depth = deepest = 0
    for match in _DL.finditer(html):
        depth += -1 if match.group(1) else 1
        deepest = max(deepest, depth)
    return deepest


# Built once: ``nh3.clean`` turns its arguments into the sanitizer's allow-lists on every
# call, half of its time on a typical report body.
_CLEANER = nh3.Cleaner(tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES,
                       url_schemes=URL_SCHEMES, link_rel="noopener noreferrer",
                       strip_comments=True)


def sanitize_html(fragment: str) -> str:
    cleaned: str = _CLEANER.clean(fragment)
    return cleaned


def html_to_text(fragment: str) -> str:
    """The text of an HTML fragment, whitespace collapsed: each tag becomes a space, so a
    block's end separates words too."""
    return " ".join(html.unescape(_TAG.sub(" ", fragment)).split())


def _flatten(tokens: list[dict[str, Any]]) -> list[Heading]:
    out: list[Heading] = []
    for token in tokens:
        out.append(Heading(level=max(2, int(token["level"])), id=str(token["id"]),
                           title=html.unescape(_TAG.sub("", str(token["name"])))))
        out.extend(_flatten(token.get("children", [])))
    return out


def check_complexity(body: str) -> MarkdownTooComplex | None:
    """The first shape in ``body`` that Python-Markdown cannot render in reasonable time or
    stack, found in linear time: a line nested more than ``MAX_NESTING`` levels (each ``>``,
    list marker and 4 columns of indentation is a level; deep nesting exhausts the stack),
    or a paragraph whose unclosed ``[`` make the link parser scan more than
    ``MAX_BRACKET_SCAN`` characters (each ``[`` is scanned to its ``]`` or the paragraph's
    end, so thousands of them take minutes), or a footnote referenced more than
    ``MAX_FOOTNOTE_REFS`` times (quadratic in the footnotes extension). Code is not exempt:
    it is a cheap, conservative check, far above what any report needs."""
    for number, line in enumerate(body.split("\n"), start=1):
        if line[:1] not in (" ", "\t", ">", "-", "+", "*", "0", "1", "2", "3", "4", "5", "6",
                            "7", "8", "9"):
            continue
        depth = columns = pos = 0
        while True:
            match = _PREFIX.match(line, pos)
            assert match is not None  # every group is optional
            columns += len(match.group(1).expandtabs(4))
            if not match.group(2):
                break
            depth += 1
            pos = match.end()
        depth += columns // 4
        if depth > MAX_NESTING:
            return MarkdownTooComplex(
                f"nested {depth} levels deep (block quotes, list items and indentation count); "
                f"the limit is {MAX_NESTING}", number)
    return _check_brackets(body) or _check_footnotes(body)


def _check_brackets(body: str) -> MarkdownTooComplex | None:
    if "[" not in body and "](" not in body:  # nothing opens a scan (most reports)
        return None
    # Python-Markdown scans from each "[" to its "]" (or the paragraph's end when there is
    # none), and from the "(" of each "](" to its ")": sum those distances per paragraph.
    brackets: list[int] = []
    parens: list[tuple[int, bool]] = []  # (position, opens a link target)
    scanned = 0
    for match in _BRACKETS.finditer(body + "\n\n"):
        token, at = match.group(0), match.start()
        if token == "[":
            brackets.append(at)
        elif token == "]":
            if brackets:
                scanned += at - brackets.pop()
        elif token == "(":
            parens.append((at, at > 0 and body[at - 1] == "]"))
        elif token == ")":
            if parens:
                start, link = parens.pop()
                scanned += at - start if link else 0
        elif token[0] == "\n":  # a paragraph ends: every open one was scanned to here
            scanned += sum(at - start for start in brackets)
            scanned += sum(at - start for start, link in parens if link)
            if scanned > MAX_BRACKET_SCAN:
                first = min([*brackets, *(start for start, _ in parens), at])
                return MarkdownTooComplex(
                    "the brackets of the paragraph starting here are nested or left open too "
                    f"much for the Markdown parser (it would scan {scanned:,} characters; the "
                    f"limit is {MAX_BRACKET_SCAN:,}): close each '[' and '(', or write \\[ "
                    "for a literal bracket", body.count("\n", 0, first) + 1)
            brackets.clear()
            parens.clear()
            scanned = 0
    return None


def _check_footnotes(body: str) -> MarkdownTooComplex | None:
    counts: dict[str, int] = {}
    for match in _FOOTNOTE_REF.finditer(body):
        label = match.group(1)
        counts[label] = counts.get(label, 0) + 1
        if counts[label] > MAX_FOOTNOTE_REFS + 1:  # + 1: the footnote's own definition
            return MarkdownTooComplex(
                f"footnote [^{label}] is referenced more than {MAX_FOOTNOTE_REFS} times",
                body.count("\n", 0, match.start()) + 1)
    return None


def _set_async_exc(thread: int, exc: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread),
                                               None if exc is None else ctypes.py_object(exc))


RETRY = 0.25  # seconds between two _Timeout raised in a thread that is still rendering


class _Watchdog:
    """One thread per process that raises ``_Timeout`` in threads past their deadline (see
    ``_time_limit``), and again every ``RETRY`` seconds until they leave the block. It sleeps
    until the earliest deadline it knows of and is woken only when a new deadline comes
    before that, so a render that ends in time costs a lock and a dict entry, not a thread.

    The rendering threads take only C-level locks, used in ``with`` statements: a ``_Timeout``
    can land in any Python-level code, and one landing in ``threading.Condition.__enter__``
    after its lock was taken left the lock held for good and the watchdog asleep on it,
    so no later render in the process was ever cut short. ``BEFORE_WITH`` on a C lock has no
    point where an asynchronous exception is delivered, so the release cannot be skipped."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # guards deadlines, fired and wake_at
        self.wakeup = threading.Lock()  # held while nobody needs the watchdog awake earlier
        self.wakeup.acquire()
        self.deadlines: dict[int, float] = {}  # thread ident -> time.monotonic() deadline
        self.fired: set[int] = set()  # threads whose exception may still be pending
        self.wake_at = float("inf")
        threading.Thread(target=self._watch, name="sitegen-markdown-watchdog",
                         daemon=True).start()

    def _watch(self) -> None:
        while True:
            with self.lock:
                now = time.monotonic()
                for ident, deadline in list(self.deadlines.items()):
                    if deadline <= now:
                        # Raised again every RETRY seconds until the thread leaves the
                        # block: an exception delivered inside a __del__, a weakref or a gc
                        # callback is only reported as unraisable, and the render goes on.
                        self.deadlines[ident] = now + RETRY
                        self.fired.add(ident)
                        _set_async_exc(ident, _Timeout)
                self.wake_at = min(self.deadlines.values(), default=float("inf"))
                wait = -1 if self.wake_at == float("inf") else self.wake_at - now
            self.wakeup.acquire(timeout=wait)  # returns early when start releases it

    def start(self, ident: int, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        with self.lock:
            self.deadlines[ident] = deadline
            if deadline < self.wake_at:
                self.wake_at = deadline
                with suppress(RuntimeError):  # already released: the watchdog is waking
                    self.wakeup.release()

    def stop(self, ident: int) -> None:
        with self.lock:
            self.deadlines.pop(ident, None)
            if ident in self.fired:
                self.fired.discard(ident)
                _set_async_exc(ident, None)  # not yet delivered: withdraw it


_WATCHDOGS: dict[int, _Watchdog] = {}  # process id -> its watchdog (a forked child makes its own)
_WATCHDOG_LOCK = threading.Lock()


def _watchdog() -> _Watchdog:
    dog = _WATCHDOGS.get(os.getpid())
    if dog is None:
        with _WATCHDOG_LOCK:
            dog = _WATCHDOGS.get(os.getpid())
            if dog is None:
                dog = _WATCHDOGS[os.getpid()] = _Watchdog()
    return dog


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise ``_Timeout`` in this thread once ``seconds`` have passed (the watchdog thread
    sets it as the thread's pending exception, delivered between two bytecodes).
    Python-Markdown is pure Python, so it cannot hold it off; one that lands where Python
    cannot raise it (a ``__del__``, a gc callback) is raised again ``RETRY`` seconds later.
    Leaving the block withdraws an exception that is still pending. Works in any thread and
    in worker processes, unlike SIGALRM."""
    ident = threading.get_ident()
    dog = _watchdog()
    try:  # start inside the try: a short limit can pass before start returns
        dog.start(ident, seconds)
        yield
    finally:
        while True:  # a _Timeout raised again on the way out is withdrawn by stop
            try:
                dog.stop(ident)
                break
            except _Timeout:
                continue
