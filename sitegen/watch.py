"""Watch mode for ``sitegen serve --watch``: rebuild when sources change, tell browsers.

A background thread waits on file changes under the content folder, the themes and the config
file (``watchfiles``, debounced), runs ``build.build`` and records the outcome in ``LiveState``.
The server reads that state: open pages poll it and reload on a new generation, and while the
last build failed every HTML page carries an overlay naming file and line. The output folder
keeps the last good site, because a failed build never swaps it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sitegen.build import BuildResult, build
from sitegen.config import CONFIG_NAME, SiteConfig
from sitegen.diagnostics import Severity

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LiveSnapshot:
    generation: int  # bumps after every successful build
    errors: tuple[str, ...]  # formatted diagnostics of the last failed build, if it failed


class LiveState:
    """Thread-safe record of the latest build, shared by the watcher and the server."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshot = LiveSnapshot(0, ())

    def snapshot(self) -> LiveSnapshot:
        with self._lock:
            return self._snapshot

    def record(self, result: BuildResult) -> LiveSnapshot:
        with self._lock:
            if result.ok:
                self._snapshot = LiveSnapshot(self._snapshot.generation + 1, ())
            else:
                errors = tuple(d.format() for d in result.diagnostics
                               if d.severity is Severity.ERROR) or ("the build failed",)
                self._snapshot = LiveSnapshot(self._snapshot.generation, errors)
            return self._snapshot


def watched_paths(config: SiteConfig) -> list[Path]:
    paths = [config.content_path, config.root / "themes", config.root / CONFIG_NAME]
    if "/" in config.theme:
        paths.append((config.root / config.theme).resolve())
    return [p for p in paths if p.exists()]


def _ignored(config: SiteConfig) -> Callable[[object, str], bool]:
    output = str(config.output_path)
    parent = str(config.output_path.parent)
    name = config.output_path.name

    def keep(change: object, path: str) -> bool:
        if path.startswith(output) or path.startswith(f"{parent}/.{name}."):
            return False
        last = Path(path).name
        return not (last.startswith(".") or last.endswith(("~", ".swp", ".tmp")))

    return keep


def start_watcher(config: SiteConfig, state: LiveState, stop: threading.Event,
                  on_build: Callable[[BuildResult], None] | None = None,
                  debounce_ms: int = 200) -> threading.Thread:
    """Start the rebuild loop in a daemon thread; set ``stop`` to end it."""
    from watchfiles import watch

    def loop() -> None:
        for _changes in watch(*watched_paths(config), watch_filter=_ignored(config),
                              debounce=debounce_ms, step=50, stop_event=stop,
                              raise_interrupt=False):
            result = build(config)
            state.record(result)
            if on_build is not None:
                on_build(result)

    thread = threading.Thread(target=loop, name="sitegen-watch", daemon=True)
    thread.start()
    return thread
