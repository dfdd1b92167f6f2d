"""Regenerate the reference tables in README.md from the code (run after changing a setting,
a front-matter key or a template context): python scripts/update_readme.py"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sitegen.config import config_reference  # noqa: E402
from sitegen.content import frontmatter_reference  # noqa: E402
from sitegen.render import context_reference  # noqa: E402

SECTIONS = {
    "config-table": config_reference,
    "frontmatter-table": frontmatter_reference,
    "template-reference": context_reference,
}


def regenerate(text: str) -> str:
    for name, make in SECTIONS.items():
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"README.md has no <!-- {name}:start/end --> markers")
        text = pattern.sub(lambda m, make=make: m.group(1) + make() + "\n" + m.group(2), text)
    return text


if __name__ == "__main__":
    readme = ROOT / "README.md"
    readme.write_text(regenerate(readme.read_text(encoding="utf-8")), encoding="utf-8")
