"""The code stays clean: ruff (the rules in pyproject.toml) and mypy --strict on sitegen/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=600, check=False)


def test_ruff() -> None:
    result = run("ruff", "check", "sitegen", "tests", "scripts", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict() -> None:
    result = run("mypy", "sitegen")
    assert result.returncode == 0, result.stdout + result.stderr
