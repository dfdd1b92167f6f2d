"""The README's reference tables are generated from the code and must stay in sync."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_readme_tables_match_the_code() -> None:
    spec = importlib.util.spec_from_file_location("update_readme",
                                                  REPO / "scripts" / "update_readme.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert module.regenerate(text) == text, "run: python scripts/update_readme.py"


def test_every_setting_and_front_matter_key_is_documented() -> None:
    from sitegen.config import FILE_KEYS
    from sitegen.content import KNOWN_KEYS

    text = (REPO / "README.md").read_text(encoding="utf-8")
    for key in (*FILE_KEYS, *KNOWN_KEYS):
        assert f"| `{key}` |" in text, key
