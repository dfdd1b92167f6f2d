from __future__ import annotations

from sitegen.cli import run

run()
