"""Text analysis shared by the Whoosh index, the query parser and the static search index.

One pipeline turns text into index terms::

    RegexTokenizer(TOKEN_PATTERN) -> LowercaseFilter -> FoldFilter -> StopFilter -> StemFilter

- Tokens are runs of word characters and combining marks, joined across inner apostrophes and
  dots: "Kata'ib" is one token, "U.S." is "u.s", "3.5" stays whole.
- ``FoldFilter`` folds accents *before* stemming ("Évacuations" and "evacuations", "Ḥalab" and
  "Halab" give the same term), drops apostrophes and the ʿayn/hamza letters (so "Kata'ib" and
  "Kataib" match, as their slugs do), strips Arabic and Hebrew vowel marks and the tatweel,
  and unifies the Arabic alef forms, teh marbuta and alef maksura.
- ``StopFilter`` drops a short list of English stop words and tokens shorter than 2 or longer
  than 64 characters. "us" and "may" are kept ("US strikes", "May 2021").
- ``StemFilter`` applies the Porter stemmer to ASCII tokens only; other scripts are kept as
  written. Stems are memoised.

``analyze(text)`` is the same pipeline as a plain function (no Whoosh tokens), for the static
search index and anything else that needs the exact terms the Whoosh index holds. A test keeps
the two in step.

``SlugListTokenizer`` analyses the exact actor/location fields: the value is a list of names
or slugs separated by ``SLUG_SEPARATOR``, each turned into one token with
``sitegen.slugs.slugify_name``, so ``actor:"Kata'ib Hezbollah"`` in a query and the slug
"kataib-hezbollah" in the index meet.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from array import array
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from itertools import accumulate, chain
from operator import sub
from typing import Any

from whoosh.analysis import STOP_WORDS as _WHOOSH_STOP_WORDS
from whoosh.analysis import (
    CharsetFilter,
    CompositeAnalyzer,
    LowercaseFilter,
    RegexTokenizer,
    StemFilter,
    StopFilter,
    Token,
    Tokenizer,
)
from whoosh.formats import Positions
from whoosh.lang.porter import stem as _porter_stem
from whoosh.support.charset import accent_map as _whoosh_accent_map
from whoosh.system import _INT_SIZE, pack_uint

from sitegen.slugs import slugify_name

__all__ = [
    "MAX_TOKEN_LENGTH",
    "MIN_TOKEN_LENGTH",
    "SLUG_SEPARATOR",
    "STOP_WORDS",
    "TOKEN_PATTERN",
    "FoldFilter",
    "PackedPositions",
    "SlugListTokenizer",
    "TextAnalyzer",
    "TextTokenizer",
    "analyze",
    "decode_positions",
    "fold",
    "iter_terms",
    "positions",
    "positions_value",
    "postings",
    "reference_analyzer",
    "slug_analyzer",
    "stem",
    "term_spans",
    "text_analyzer",
    "words",
]

MIN_TOKEN_LENGTH = 2
MAX_TOKEN_LENGTH = 64
SLUG_SEPARATOR = "\x1f"  # ASCII unit separator; query strings never contain it (controls are cut)

# Whoosh's English stop words, minus words that carry meaning in conflict reporting.
STOP_WORDS: frozenset[str] = frozenset(_WHOOSH_STOP_WORDS) - {"us", "may", "tbd"}

_APOSTROPHES = "'\u2019\u2018`\u00b4\u2032"  # apostrophes, quotes, accents, prime: joined, then dropped


def _mark_class() -> str:
    """A regex character-class body matching every combining mark (category M) in the BMP."""
    ranges: list[tuple[int, int]] = []
    for cp in range(0x300, 0x10000):
        if unicodedata.category(chr(cp))[0] == "M":
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    return "".join(f"\\u{a:04x}-\\u{b:04x}" if a != b else f"\\u{a:04x}" for a, b in ranges)


_WORD = rf"[\w{_mark_class()}]"
TOKEN_PATTERN = rf"{_WORD}+(?:[.{_APOSTROPHES}]{_WORD}+)*"
_TOKEN_RE = re.compile(TOKEN_PATTERN)
# The same tokens for ASCII text, where no combining mark or curly apostrophe can occur; a
# character class with hundreds of mark ranges costs every non-word character a long scan.
_ASCII_APOSTROPHES = re.escape("".join(c for c in _APOSTROPHES if c.isascii()))
_ASCII_TOKEN_RE = re.compile(rf"\w+(?:[.{_ASCII_APOSTROPHES}]\w+)*", re.ASCII)


def _token_re(text: str) -> re.Pattern[str]:
    return _ASCII_TOKEN_RE if text.isascii() else _TOKEN_RE

# Letters that do not decompose under NFKD but have a conventional ASCII spelling (the same
# ones python-slugify uses, so text terms and slugs agree).
_EXTRA_FOLDS = {
    "ß": "ss", "ẞ": "ss", "æ": "ae", "ǣ": "ae", "ǽ": "ae", "œ": "oe", "ø": "o", "ǿ": "o",
    "þ": "th", "ð": "d", "đ": "d", "ħ": "h", "ı": "i", "ĸ": "k", "ŀ": "l", "ł": "l",  # noqa: RUF001
    "ŋ": "ng", "ŧ": "t", "ƒ": "f", "ſ": "s",  # noqa: RUF001
    # Arabic: alef forms, teh marbuta, alef maksura (as Lucene's ArabicNormalizationFilter)
    "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ة": "ه", "ى": "ي",  # noqa: RUF001
}
# Dropped: apostrophes, ʿayn/hamza modifier letters, tatweel, and the diacritic marks of
# Latin (combining accents), Arabic (harakat) and Hebrew (niqqud).
_DELETED_RANGES = (
    (0x0300, 0x036F), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x20D0, 0x20FF), (0xFE20, 0xFE2F),
    (0x0591, 0x05C7), (0x0610, 0x061A), (0x064B, 0x065F), (0x0670, 0x0670), (0x06D6, 0x06ED),
)
_DELETED_CHARS = _APOSTROPHES + "ʼʻʽʾʿˈˊˋ" + "\u0640"


def _fold_table() -> dict[int, str | None]:
    table: dict[int, str | None] = {}
    # Whoosh's accent map first (it covers Latin letters with no decomposition) ...
    for cp, repl in _whoosh_accent_map.items():
        if cp > 0x7F and repl.isascii() and repl.isalnum():
            table[cp] = repl
    # ... then anything NFKD reduces to ASCII letters/digits (accented Latin, ligatures,
    # full-width forms, Vietnamese, transliteration letters such as ḥ ṣ ṭ ẓ) ...
    for start, end in ((0x80, 0x24F), (0x1E00, 0x1EFF), (0xFB00, 0xFB06), (0xFF10, 0xFF5A)):
        for cp in range(start, end + 1):
            ch = chr(cp)
            base = "".join(c for c in unicodedata.normalize("NFKD", ch)
                           if not unicodedata.combining(c)).lower()
            if base != ch and base.isascii() and base.isalnum():
                table[cp] = base
    # ... then the explicit folds and deletions.
    for ch, repl in _EXTRA_FOLDS.items():
        table[ord(ch)] = repl
    for start, end in _DELETED_RANGES:
        for cp in range(start, end + 1):
            table[cp] = None
    for ch in _DELETED_CHARS:
        table[ord(ch)] = None
    return table


FOLD_TABLE: Mapping[int, str | None] = _fold_table()


def fold(word: str) -> str:
    """Fold one lowercased word: accents to ASCII, apostrophes and vowel marks dropped."""
    if word.isascii() and word.isalnum():
        return word  # the common case: nothing to fold
    return word.translate(FOLD_TABLE)


@lru_cache(maxsize=1 << 16)
def stem(word: str) -> str:
    """Porter stem of an ASCII word (memoised); numbers, dotted tokens and other scripts are
    returned as they are."""
    return _porter_stem(word) if word.isascii() and word.isalpha() else word


@lru_cache(maxsize=1 << 17)
def _word(raw: str) -> str | None:
    """The folded word of one raw token, or None when the token is stopped."""
    word = fold(raw.lower())
    if not MIN_TOKEN_LENGTH <= len(word) <= MAX_TOKEN_LENGTH or word in STOP_WORDS:
        return None
    return word


_TOKENS: dict[str, tuple[str, str]] = {}  # raw token -> (its word, its term), or _STOPPED
_TOKENS_HELD = 1 << 17
_STOPPED = ("", "")


def _token(raw: str) -> tuple[str, str]:
    """``_word(raw)`` and its ``stem``, or ``_STOPPED``; memoised in a plain dict, which the
    loops below read inline: two ``lru_cache`` calls per token were a third of their time."""
    word = _word(raw)
    found = _STOPPED if word is None else (word, stem(word))
    if len(_TOKENS) < _TOKENS_HELD:
        _TOKENS[raw] = found
    return found


def analyze(text: str) -> list[str]:
    """The index terms of ``text``, in order, exactly as the Whoosh text fields hold them."""
    terms = []
    get, stopped = _TOKENS.get, _STOPPED
    for raw in _token_re(text).findall(text):
        hit = get(raw) or _token(raw)
        if hit is not stopped:
            terms.append(hit[1])
    return terms


def iter_terms(text: str) -> Iterator[tuple[int, int, str]]:
    """``(start, end, term)`` for each indexed token of ``text``: the spans ``analyze`` keeps."""
    for match in _token_re(text).finditer(text):
        word = _word(match.group())
        if word is not None:
            yield match.start(), match.end(), stem(word)


def term_of(raw: str) -> str | None:
    """The index term of one raw token (``_word`` then ``stem``), or None if stopped."""
    hit = _TOKENS.get(raw) or _token(raw)
    return None if hit is _STOPPED else hit[1]


def term_spans(text: str, terms: frozenset[str]) -> list[tuple[int, int]]:
    """The spans of the tokens of ``text`` whose term is in ``terms``: the spans of
    ``iter_terms`` that match, found by analysing each distinct token once, then finding
    those tokens' occurrences with one regex (no match object per token of the text)."""
    wanted = {raw for raw in set(_token_re(text).findall(text)) if term_of(raw) in terms}
    if not wanted:
        return []
    return [m.span() for m in _tokens_re(tuple(sorted(wanted)), text.isascii())
            .finditer(text)]


@lru_cache(maxsize=1 << 10)
def _tokens_re(tokens: tuple[str, ...], ascii: bool) -> re.Pattern[str]:
    """A regex matching exactly the occurrences of ``tokens`` that ``TOKEN_PATTERN`` makes
    whole tokens of: a token starts where no word character, nor a word character and a
    joiner, comes before it, and ends where no word character, nor a joiner and a word
    character, comes after it (the pattern's runs are greedy), so a match inside a longer
    token is refused by the lookarounds."""
    word, joiner = (r"\w", f"[.{_ASCII_APOSTROPHES}]") if ascii else (_WORD, f"[.{_APOSTROPHES}]")
    alternatives = "|".join(map(re.escape, sorted(tokens, key=len, reverse=True)))
    return re.compile(rf"(?<!{word})(?<!{word}{joiner})(?:{alternatives})"
                      rf"(?!{word})(?!{joiner}{word})", re.ASCII if ascii else 0)


def positions(text: str, words: set[str] | None = None) -> dict[str, list[int]]:
    """term -> its positions in ``text``, numbered as ``TextAnalyzer`` numbers them when
    indexing (stop words removed; the first kept token keeps its place and later ones count
    on from it), without Whoosh's token objects: ``postings`` with every term's positions
    as a list. A test keeps it in step with TextAnalyzer. With ``words``, each kept token's
    unstemmed word is added to it."""
    found = postings(text, set() if words is None else words)
    return {term: [p] if isinstance(p, int) else p for term, p in found.items()}


def postings(text: str, words: set[str]) -> dict[str, int | list[int]]:
    """Each term of ``text`` and its positions (see ``positions``), in the bulk segment
    writer's form: a term found once maps to its one position (an int; most terms of a
    report), a term found more often to the list of its positions. Each kept token's unstemmed word is added to ``words``, looked up once
    per distinct token rather than once per occurrence."""
    raws = _token_re(text).findall(text)
    found: dict[str, int | list[int]] = {}
    get, stopped = _TOKENS.get, _STOPPED
    tokens = iter(raws)
    kept = -1
    for raw in tokens:  # up to the first kept token, whose position the others count on from
        kept += 1
        hit = get(raw) or _token(raw)
        if hit is not stopped:
            found[hit[1]] = kept
            break
    else:
        return found
    held_get = found.get
    for raw in tokens:
        hit = get(raw) or _token(raw)
        if hit is stopped:
            continue
        term = hit[1]
        kept += 1
        held = held_get(term)
        if held is None:
            found[term] = kept
        elif isinstance(held, int):
            found[term] = [held, kept]
        else:
            held.append(kept)
    for raw in set(raws):
        hit = get(raw) or _token(raw)
        if hit is not stopped:
            words.add(hit[0])
    return found


def words(text: str) -> list[str]:
    """``analyze`` without the stemming: the folded words, for spelling suggestions."""
    return [w for w in map(_word, _token_re(text).findall(text)) if w is not None]


_PACK_CODES = {code: code.encode() for code in "BHI"}
assert array("H").itemsize == 2 and array("I").itemsize == 4
_BIG_ENDIAN = sys.byteorder == "big"
_HEADS_HELD = 1 << 10
_BYTE_HEADS = tuple(pack_uint(n) + b"B" for n in range(_HEADS_HELD))


def positions_value(poses: list[int]) -> bytes:
    """``PackedPositions``' value of a term found at the ascending positions ``poses``: the
    count (as Whoosh's ``Positions``), then the type code of the deltas' array, then the
    deltas, one byte each while the last position is under 256, else two or four bytes
    (little-endian). Whoosh's own format pickles the deltas: 2.1 us a value, against well
    under a microsecond."""
    n = len(poses)
    last = poses[-1]
    deltas = map(sub, poses, chain((0,), poses))
    if last < 256:
        head: bytes = _BYTE_HEADS[n] if n < _HEADS_HELD else pack_uint(n) + b"B"
        return head + bytes(deltas)
    code = "H" if last < 1 << 16 else "I"
    packed = array(code, deltas)
    if _BIG_ENDIAN:
        packed.byteswap()
    value: bytes = pack_uint(n) + _PACK_CODES[code] + packed.tobytes()
    return value


def decode_positions(value: bytes) -> list[int]:
    """The positions ``positions_value`` packed into ``value``."""
    deltas = array(chr(value[_INT_SIZE]), value[_INT_SIZE + 1:])
    if _BIG_ENDIAN and deltas.itemsize > 1:
        deltas.byteswap()
    return list(accumulate(deltas))


# The value of a term found once at position i, for the first positions: one shared bytes
# object each (a posting block's pickle then refers back to it where it repeats, as pickle
# does for any object it has written before: the same object gives the same bytes).
SINGLE_VALUES: tuple[bytes, ...] = tuple(positions_value([i]) for i in range(1 << 12))


class PackedPositions(Positions):  # type: ignore[misc]
    """Whoosh's ``Positions`` format (the count first, so frequency and weight read as
    Whoosh reads them) with the positions packed by ``positions_value`` instead of pickled:
    a tenth of the time to write, and a phrase query unpacks them without ``pickle.loads``
    on every posting. Whoosh's readers and phrase matchers get positions through the
    format's ``decode_positions``, which reads this packing."""

    def encode(self, poslist: Iterable[int]) -> bytes:
        return positions_value(sorted(poslist))

    def decode_positions(self, valuestring: bytes) -> list[int]:
        return decode_positions(valuestring)


class TextTokenizer(RegexTokenizer):  # type: ignore[misc]
    """``RegexTokenizer(TOKEN_PATTERN)``, pickled without its (large) pattern.

    Whoosh pickles the schema, analyzers included, into the index's TOC file and unpickles it
    on every open; this keeps that small and always uses this module's pattern.
    """

    def __init__(self) -> None:
        super().__init__(TOKEN_PATTERN)

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__()  # type: ignore[misc]


class FoldFilter(CharsetFilter):  # type: ignore[misc]
    """``CharsetFilter(FOLD_TABLE)`` with a fast path for plain ASCII words; pickled empty."""

    def __init__(self) -> None:
        super().__init__(FOLD_TABLE)

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__()  # type: ignore[misc]

    def __call__(self, tokens: Iterator[Token]) -> Iterator[Token]:
        for t in tokens:
            t.text = fold(t.text)
            yield t


class SortedStopFilter(StopFilter):  # type: ignore[misc]
    """A StopFilter that pickles its stop words sorted: Whoosh stores the analyzer in the
    index's TOC file, and a pickled frozenset's order follows the process's hash seed, which
    would make two builds of the same content differ."""

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["stops"] = sorted(self.stops)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.stops = frozenset(state["stops"])


def reference_analyzer() -> CompositeAnalyzer:
    """The analysis as a chain of stock Whoosh filters: the definition ``TextAnalyzer`` must
    match token for token (a test compares them)."""
    return (TextTokenizer()
            | LowercaseFilter()
            | FoldFilter()
            | SortedStopFilter(STOP_WORDS, minsize=MIN_TOKEN_LENGTH, maxsize=MAX_TOKEN_LENGTH)
            | StemFilter(stemfn=stem, cachesize=None))


class TextAnalyzer(Tokenizer):  # type: ignore[misc]
    """``reference_analyzer()`` fused into one generator: tokenize, lowercase, fold, stop and
    stem each token in one step, with the fold and the stem memoised per distinct word
    (``_word``, ``stem``). Whoosh's five chained generators cost about twice as much per
    token. Positions follow StopFilter's renumbering: kept tokens count on from the first kept
    token's place, so a phrase matches across a stop word. Pickled empty."""

    is_morph = True  # it stems, like the StemFilter it replaces

    def __eq__(self, other: object) -> bool:
        return other.__class__ is self.__class__

    def __hash__(self) -> int:
        return hash(self.__class__)

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        return None

    def __call__(self, value: str, positions: bool = False, chars: bool = False,
                 keeporiginal: bool = False, removestops: bool = True, start_pos: int = 0,
                 start_char: int = 0, tokenize: bool = True, mode: str = "",
                 **kwargs: Any) -> Iterator[Token]:
        t = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        if not tokenize:
            t.original = value  # as RegexTokenizer does
            spans: Iterator[tuple[str, int, int]] = iter(((value, 0, len(value)),))
        elif chars:
            spans = ((m.group(), m.start(), m.end()) for m in _token_re(value).finditer(value))
        else:  # the indexing case: no match objects needed
            spans = ((raw, 0, 0) for raw in _token_re(value).findall(value))
        to_word, to_stem = _word, stem
        kept = -1  # position of the last kept token
        for pos, (raw, start, end) in enumerate(spans, start_pos):
            word = to_word(raw)
            if word is None:
                if removestops:
                    continue
                t.text = fold(raw.lower())
                t.stopped = True
                if positions:
                    t.pos = pos
            else:
                t.text = to_stem(word)
                t.stopped = False
                if positions:
                    kept = pos if kept < 0 else kept + 1
                    t.pos = kept
            t.boost = 1.0
            if keeporiginal:
                t.original = raw
            if chars:
                t.startchar = start_char + start
                t.endchar = start_char + end
            yield t


def text_analyzer() -> TextAnalyzer:
    """The analyzer of every free-text field (title, summary, body, names, source)."""
    return TextAnalyzer()


class SlugListTokenizer(Tokenizer):  # type: ignore[misc]
    """Splits a value on ``SLUG_SEPARATOR`` and yields the slug of each part as one token.

    Used for the exact ``actor``/``location`` fields: indexing gets the slugs joined by the
    separator; a query gets what the user typed (a name, a spelling or a slug), which becomes
    the same slug. Parts with nothing to slugify are skipped.
    """

    def __eq__(self, other: object) -> bool:
        return other.__class__ is self.__class__

    def __hash__(self) -> int:
        return hash(self.__class__)

    def __call__(self, value: str, positions: bool = False, chars: bool = False,
                 keeporiginal: bool = False, removestops: bool = True, start_pos: int = 0,
                 start_char: int = 0, tokenize: bool = True, mode: str = "",
                 **kwargs: Any) -> Iterator[Token]:
        t = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        pos = start_pos
        offset = 0
        parts = value.split(SLUG_SEPARATOR) if tokenize else [value]
        for part in parts:
            start = offset
            offset += len(part) + 1
            if not part.strip():
                continue
            # Indexed values are slugs already; query values are names or spellings.
            t.text = part.strip() if mode == "index" else slugify_name(part.strip())
            t.boost = 1.0
            t.stopped = False
            if keeporiginal:
                t.original = part
            if positions:
                t.pos = pos
                pos += 1
            if chars:
                t.startchar = start_char + start
                t.endchar = start_char + start + len(part)
            yield t


def slug_analyzer() -> SlugListTokenizer:
    """The analyzer of the exact ``actor`` and ``location`` fields."""
    return SlugListTokenizer()
