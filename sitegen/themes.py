"""Where themes live: the site's own theme folder first, then the built-in default theme."""

from __future__ import annotations

from pathlib import Path

from sitegen.config import SiteConfig
from sitegen.diagnostics import Diagnostic, error

_PACKAGE_THEME = Path(__file__).parent / "_theme" / "default"  # inside an installed wheel
_REPO_THEME = Path(__file__).parent.parent / "themes" / "default"  # editable install / checkout


def builtin_theme() -> Path:
    return _PACKAGE_THEME if _PACKAGE_THEME.is_dir() else _REPO_THEME


def theme_chain(config: SiteConfig) -> tuple[list[Path], list[Diagnostic]]:
    """Theme folders, most specific first; each holds ``templates/`` and ``static/``."""
    builtin = builtin_theme().resolve()
    if "/" in config.theme or config.theme.startswith("."):
        own = (config.root / config.theme).resolve()
    else:
        own = (config.root / "themes" / config.theme).resolve()
    chain: list[Path] = []
    if own.is_dir():
        chain.append(own)
    elif config.theme != "default":
        return [builtin], [error("config.theme", "sitegen.yaml",
                                 f"theme: folder {own} not found")]
    if builtin not in chain:
        chain.append(builtin)
    return chain, []
