"""Which stored report bodies a page reads while it is rendered (issue #7's incremental
builds): a leaf, shared by the model's ``StoredBody``, the renderer's fragment caches and the
build."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager


class BodyAccess:
    """Which stored bodies a page read while it was rendered (``recording``), so that an edit
    to a report's body re-renders only the pages that read it: its own page, and lists that
    show an excerpt of it, but not every list it is on. A ``StoredBody`` notes its key here
    whenever its HTML, text, table of contents or word count is asked for. Recordings nest:
    a cache of rendered fragments records what a fragment read once and ``replay``s it each
    time the fragment is reused."""

    def __init__(self) -> None:
        self._open: list[set[bytes]] = []

    def note(self, key: bytes) -> None:
        if self._open:
            self._open[-1].add(key)

    def replay(self, keys: Iterable[bytes]) -> None:
        if self._open:
            self._open[-1].update(keys)

    @contextmanager
    def recording(self) -> Iterator[set[bytes]]:
        """The keys of the bodies read inside the block (also noted in an enclosing one)."""
        seen: set[bytes] = set()
        self._open.append(seen)
        try:
            yield seen
        finally:
            self._open.pop()
            self.replay(seen)
