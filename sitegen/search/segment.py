"""A Whoosh segment writer that keeps its postings in memory, per term, instead of Whoosh's
sorting pool, and writes each posting list in whole blocks.

Whoosh's ``SegmentWriter`` puts every posting through a tuple in an external sort (pickled
to temporary run files, read back and merged with ``heapq``), then through the codec's
``add_posting`` one at a time: at 10,000 reports about three million postings, most of the
indexing time. Here each field's postings wait in arrays keyed by term (document numbers
arrive in order, so no sort is needed but the terms'), the free-text fields analysed by
``TextAnalyzer`` are analysed in one pass without Whoosh's token objects (``postings``), and
a posting list is written whole, block by block, as the codec would (``_write_term``), its
term-table row at an offset counted rather than asked of the file (``_add_term``).

Both writers leave a block uncompressed when its pickle is under ``COMPRESS_MIN`` bytes
(``PostingsWriter``): Whoosh's own writer means to skip small blocks (its comment says so)
but overwrites the decision a line later. Each block's header records whether it is
compressed, so every Whoosh reader reads either kind. Both pickle a block's data with
protocol 5 (``BLOCK_PROTOCOL``), which Whoosh's reader loads as it loads its own protocol 2.

The index reads back, through Whoosh, exactly as Whoosh's own writer's for the same
documents (a test compares every posting and every term's statistics); every file but the
postings and the term table is byte for byte Whoosh's, whose code writes them (stored
fields, lengths, columns, the TOC). The postings and term table differ only where a block
refers back to a value it repeats (``SINGLE_VALUES``) and in the offsets that follow from it.
"""

from __future__ import annotations

import zlib
from array import array
from collections.abc import Iterable, Sequence
from itertools import chain
from operator import sub
from pickle import dumps
from typing import Any

from whoosh.codec.whoosh3 import WHOOSH3_HEADER_MAGIC, W3PostingsWriter, W3TermInfo
from whoosh.filedb.filetables import _lengths as _ROW_LENGTHS
from whoosh.system import _INT_SIZE, pack_int, pack_ushort
from whoosh.util.numeric import length_to_byte
from whoosh.writing import SegmentWriter

from sitegen.search.analysis import (
    SINGLE_VALUES,
    PackedPositions,
    TextAnalyzer,
    positions_value,
    postings,
)

__all__ = ["BLOCK_PROTOCOL", "COMPRESS_MIN", "BulkSegmentWriter", "PostingsWriter"]

# Posting blocks whose pickle is shorter stay uncompressed: zlib makes a short block larger,
# not smaller, and each call costs 15-50 us whatever the size. Measured on the postings files
# of 2,000 generated reports (protocol 5, ``PackedPositions``): compressing every block 5.93
# MB, from 60 bytes up 5.92 MB (the smallest), from 100 5.98 MB, from 250 6.17 MB, none 12.9 MB.
COMPRESS_MIN = 60

# The pickle protocol of a block's data (its header stays at Whoosh's 2). Whoosh pickles with
# protocol 2, which writes each bytes value (a posting's encoded positions) as a call to
# ``_codecs.encode`` on a latin-1 string: on a block of 60 such values 31 us to pickle, 35 us
# to load and 2,216 bytes (927 compressed), against 2.7 us, 3 us and 1,252 bytes (446) with
# protocol 5. Whoosh's reader unpickles a block with ``pickle.loads``, which reads any
# protocol.
BLOCK_PROTOCOL = 5


def _block_compression(level: int, size: int) -> int:
    """The zlib level a block of ``size`` pickled bytes is written with (0: none)."""
    return level if size >= COMPRESS_MIN else 0


class PostingsWriter(W3PostingsWriter):  # type: ignore[misc]
    """Whoosh's ``W3PostingsWriter`` with one change in ``_write_block``: a block whose
    pickle is under ``COMPRESS_MIN`` bytes is not compressed (see the module doc). The rest
    of the method is Whoosh's (whoosh-reloaded 2.7), line for line."""

    def _write_block(self, last: bool = False) -> None:
        if not self._blockcount:
            self._postfile.write(WHOOSH3_HEADER_MAGIC)
        self._terminfo.add_block(self)
        data = (self._mini_ids(), self._mini_weights(), self._mini_values())
        databytes = dumps(data, BLOCK_PROTOCOL)
        comp = _block_compression(self._compression, len(databytes))
        if comp:
            databytes = zlib.compress(databytes, comp)
        ids = self._ids
        infobytes = dumps((len(ids), ids[-1], self._maxweight, comp,
                           length_to_byte(self._minlength), length_to_byte(self._maxlength)),
                          2)
        postfile = self._postfile
        blocklength = len(infobytes) + len(databytes)
        if last:
            blocklength *= -1
        postfile.write_int(blocklength)
        postfile.write(infobytes)
        postfile.write(databytes)
        self._blockcount += 1
        self._new_block()


class _Term:
    """One term's postings in a segment: document numbers, weights and encoded values. The
    numbers are kept in arrays (C ints and doubles, which hold a float exactly): in lists
    they took a third of a segment writer's memory."""

    __slots__ = ("docs", "values", "weights")

    def __init__(self) -> None:
        self.docs = array("l")
        self.weights = array("d")
        self.values: list[bytes] = []


def _write_term(fieldwriter: Any, start: int, term_at: int, btext: bytes,
                docs: Sequence[int], weights: Sequence[float], values: Sequence[bytes],
                lengths: Sequence[int | None]) -> tuple[int, int]:
    """One term's whole posting list, written at offset ``start`` of the postings file as
    ``W3FieldWriter.start_term``, one ``add`` per posting and ``finish_term`` would write
    it: the same blocks of ``blocklimit`` postings (each pickled, compressed and headed by
    its statistics), the same term info in the term table. Done in one function: at 10,000
    reports in 20 segments there are 200,000 posting lists, most of them a single small
    block, and Whoosh's per-posting and per-block calls were a third of the indexing time.
    Returns the offsets after it in the postings file and in the term table (``term_at``
    before), where the next term starts."""
    postings = fieldwriter._postwriter
    limit = postings._blocklimit
    comp = postings._compression
    fixed = fieldwriter._format.fixed_value_size()
    info = W3TermInfo()
    out = [WHOOSH3_HEADER_MAGIC]  # written before a term's first block; then the blocks
    written = len(WHOOSH3_HEADER_MAGIC)
    n = len(docs)
    for at in range(0, n, limit):
        end = min(at + limit, n)
        ids = docs[at:end] if n > limit else docs
        exact = weights[at:end] if n > limit else weights
        ws = array("f", exact)  # the block's weights as Whoosh keeps them
        present = [x for x in (lengths[at:end] if n > limit else lengths) if x]
        minlength = min(present) if present else None
        maxlength = max(present) if present else 0
        maxweight = max(0, max(exact))  # compared at full precision, from 0
        count = len(ids)
        # W3TermInfo.add_block
        info._weight += sum(ws)
        info._df += count
        if info._minlength is None:
            info._minlength = minlength
        else:
            info._minlength = min(info._minlength, minlength)
        info._maxlength = max(info._maxlength, maxlength)
        info._maxweight = max(info._maxweight, maxweight)
        if info._minid is None:
            info._minid = ids[0]
        info._maxid = ids[-1]
        # W3PostingsWriter._write_block and its _mini_* methods
        if ws.count(1.0) == count:
            mini_weights: Any = None
        elif ws.count(ws[0]) == count:
            mini_weights = ws[0]
        else:
            mini_weights = tuple(ws)
        kept = [v for v in (values[at:end] if n > limit else values) if v]
        if fixed is None or fixed < 0:
            mini_values: Any = tuple(kept)
        elif fixed == 0:
            mini_values = None
        else:
            mini_values = b"".join(kept)
        deltas = tuple(map(sub, ids, chain((0,), ids)))  # whoosh.util.numlists.delta_encode
        data = dumps((deltas, mini_weights, mini_values), BLOCK_PROTOCOL)
        level = _block_compression(comp, len(data))
        if level:
            data = zlib.compress(data, level)
        head = dumps((count, ids[-1], maxweight, level, length_to_byte(minlength),
                      length_to_byte(maxlength)), 2)
        size = len(head) + len(data)
        out += (pack_int(-size if end == n else size), head, data)
        written += _INT_SIZE + size
    fieldwriter._postwriter._postfile.write(b"".join(out))
    info.set_extent(start, written)
    # W3FieldWriter.finish_term
    return start + written, _add_term(fieldwriter._tindex, term_at,
                                      pack_ushort(fieldwriter._fieldid) + btext,
                                      info.to_bytes())


def _add_term(table: Any, at: int, key: bytes, value: bytes) -> int:
    """``OrderedHashWriter.add(key, value)`` (and the ``HashWriter.add`` it calls) for the
    term table, with the row written at offset ``at`` of its file, counted by the caller
    rather than asked of the file twice a term (``tell()``, a system call each); returns
    the offset after the row."""
    if key <= table.lastkey:
        raise ValueError(f"Keys must increase: {table.lastkey!r}..{key!r}")
    table.index.append(at)
    table.dbfile.write(_ROW_LENGTHS.pack(len(key), len(value)) + key + value)
    h = table.hashfn(key)
    table.buckets[h & 255].append((h, at))
    table.lastkey = key
    end: int = at + _ROW_LENGTHS.size + len(key) + len(value)
    return end


class BulkSegmentWriter(SegmentWriter):  # type: ignore[misc]
    """``SegmentWriter`` with the postings held per term (see the module doc). Its codec must
    be a ``W3Codec`` whose per-document reader has ``field_lengths``. Fields with term
    vectors or separate spelling words are not supported (the schema has none)."""

    def __init__(self, ix: Any, **kwargs: Any) -> None:
        super().__init__(ix, **kwargs)
        # field -> term -> postings; a term is a str for the fields analysed here, else
        # the bytes Whoosh's field gave (a field never mixes the two)
        self._terms: dict[str, dict[Any, _Term]] = {}
        self._fast: dict[str, bool] = {}
        # of the document added last: the unstemmed words of its analysed fields, and each
        # such field's ``postings`` (term -> its position or positions), which the index
        # reads to weigh the report for the static search without analysing it again
        self.last_words: set[str] = set()
        self.last_postings: dict[str, dict[str, int | list[int]]] = {}

    def _is_fast(self, fieldname: str, field: Any) -> bool:
        fast = self._fast.get(fieldname)
        if fast is None:
            if field.vector or field.separate_spelling():
                raise ValueError(f"field {fieldname!r}: vectors and spelling fields are not "
                                 "supported by BulkSegmentWriter")
            fast = self._fast[fieldname] = (isinstance(field.analyzer, TextAnalyzer)
                                            and type(field.format) is PackedPositions)
        return fast

    def add_document(self, **fields: Any) -> None:
        """As ``SegmentWriter.add_document`` (stored values, lengths and columns through the
        per-document writer), with the postings kept here."""
        self._check_state()
        perdocwriter = self.perdocwriter
        schema = self.schema
        docnum = self.docnum
        docboost = self._doc_boost(fields)
        fieldnames = sorted(name for name in fields if not name.startswith("_"))
        self._check_fields(schema, fieldnames)
        perdocwriter.start_doc(docnum)
        words: set[str] = set()
        found: dict[str, dict[str, int | list[int]]] = {}
        try:
            for fieldname in fieldnames:
                value = fields.get(fieldname)
                if value is None:
                    continue
                field = schema[fieldname]
                length = 0
                if field.indexed:
                    boost = self._field_boost(fields, fieldname, docboost)
                    terms = self._terms.setdefault(fieldname, {})
                    if self._is_fast(fieldname, field) and isinstance(value, str):
                        found[fieldname] = postings(value, words)
                        length = self._add_positions(terms, docnum, found[fieldname],
                                                     field.format.field_boost, boost)
                    else:
                        length = self._add_items(terms, docnum, field.index(value), boost)
                    if not field.scorable:
                        length = 0
                stored = fields.get(f"_stored_{fieldname}", value)
                perdocwriter.add_field(fieldname, field, stored if field.stored else None,
                                       length)
                column = field.column_type
                if column and stored is not None:
                    perdocwriter.add_column_value(fieldname, column,
                                                  field.to_column_value(stored))
        except Exception:
            perdocwriter.cancel_doc()
            raise
        perdocwriter.finish_doc()
        self.last_words = words
        self.last_postings = found
        self._added = True
        self.docnum += 1

    @staticmethod
    def _add_positions(terms: dict[str, _Term], docnum: int,
                       found: dict[str, int | list[int]], field_boost: float,
                       boost: float) -> int:
        """Add one field's postings (``postings`` of its text) for ``docnum``; its length."""
        length = 0
        get = terms.get
        # Positions.word_values sums a boost of 1.0 per token and multiplies by the field's
        # boost; add_document then by the document's (in that order)
        once = 1.0 * field_boost * boost
        singles, first_unshared = SINGLE_VALUES, len(SINGLE_VALUES)
        for term, poses in found.items():
            held = get(term)
            if held is None:
                held = terms[term] = _Term()
            held.docs.append(docnum)
            if isinstance(poses, int):  # found once
                length += 1
                held.weights.append(once)
                held.values.append(singles[poses] if poses < first_unshared
                                   else positions_value([poses]))
            else:
                n = len(poses)
                length += n
                held.weights.append(float(n) * field_boost * boost)
                held.values.append(positions_value(poses))
        return length

    @staticmethod
    def _add_items(terms: dict[str | bytes, _Term], docnum: int,
                   items: Iterable[tuple[bytes, int, float, bytes | None]],
                   boost: float) -> int:
        length = 0
        for tbytes, freq, weight, vbytes in items:
            held = terms.get(tbytes)
            if held is None:
                held = terms[tbytes] = _Term()
            length += freq
            held.docs.append(docnum)
            held.weights.append(weight * boost)
            held.values.append(vbytes or b"")
        return length

    def _flush_segment(self) -> None:
        if self.pool.current or self.pool.runs:  # a merge put other segments' postings here
            raise ValueError("BulkSegmentWriter cannot merge segments")
        self.perdocwriter.close()
        lengths = self.per_document_reader()
        writer = self.fieldwriter
        # where the next term's postings start: only _write_term writes the postings file,
        # so its offsets are counted here, not asked of the file (tell() is a syscall)
        at = writer._postfile.tell()
        term_at = writer._tindex.dbfile.tell()  # likewise the term table: see _add_term
        for fieldname in sorted(self._terms):
            terms = self._terms[fieldname]
            if not terms:
                continue
            field = self.schema[fieldname]
            field_lengths = lengths.field_lengths(fieldname)
            writer.start_field(fieldname, field)
            keys = {(k.encode("utf-8") if isinstance(k, str) else k): k for k in terms}
            for key in sorted(keys):
                held = terms.pop(keys[key])  # its memory goes as it is written
                docs = held.docs
                lens = ([field_lengths[d] for d in docs] if field_lengths
                        else [0] * len(docs))
                at, term_at = _write_term(writer, at, term_at, key, docs, held.weights,
                                          held.values, lens)
            writer.finish_field()
        self._terms.clear()
        writer.close()
        lengths.close()
