"""Diagnostics: one problem found in the input, with where it is and how bad it is.

Every stage returns a list of these instead of raising, so a build reports all problems
at once. Only ``cli.py`` prints them, in the ``path:line:col: severity[code]: message`` form
that editors and CI log parsers understand.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    severity: Severity
    code: str
    path: str
    line: int | None
    col: int | None
    message: str

    def format(self) -> str:
        where = self.path
        if self.line is not None:
            where += f":{self.line}"
            if self.col is not None:
                where += f":{self.col}"
        return f"{where}: {self.severity.value}[{self.code}]: {self.message}"


def error(code: str, path: str, message: str, line: int | None = None,
          col: int | None = None) -> Diagnostic:
    return Diagnostic(Severity.ERROR, code, path, line, col, message)


def warning(code: str, path: str, message: str, line: int | None = None,
            col: int | None = None) -> Diagnostic:
    return Diagnostic(Severity.WARNING, code, path, line, col, message)


def has_errors(diags: Iterable[Diagnostic], strict: bool = False) -> bool:
    """True when the diagnostics should fail a build (``strict`` promotes warnings)."""
    return any(d.severity is Severity.ERROR or strict for d in diags)


def sort_key(d: Diagnostic) -> tuple[str, int, int, str]:
    return (d.path, d.line or 0, d.col or 0, d.code)
