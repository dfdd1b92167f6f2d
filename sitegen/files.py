"""``OutputFile``: one file a stage wants written, as a site-relative path and its bytes.

Stages that produce files (render, publish, search) yield these; only ``output.py`` decides
where the bytes end up.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OutputFile:
    relpath: str  # posix path relative to the output root, e.g. "actors/kh/index.html"
    data: bytes
    origin: str = ""  # what produced it (a source file or page kind), for collision messages
