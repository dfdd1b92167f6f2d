"""Smoke test of the issue #7 benchmark machinery (``bench/``), without peers or timings.

CI has neither Hugo nor Pelican, and its timings mean nothing, so this checks only that the
corpus generator is deterministic and that ``bench/run.py --no-peers`` runs every sitegen
build, writes its table into the results file without touching the other sections, and
undoes its edits to the corpus. About 15 s on a 2-core machine.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"


def corpus(out: Path, reports: int, fmt: str = "all", seed: int = 3) -> None:
    subprocess.run([sys.executable, str(BENCH / "corpus.py"), "--reports", str(reports),
                    "--seed", str(seed), "--out", str(out), "--format", fmt],
                   check=True, capture_output=True, timeout=60)


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def load_run(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """bench/run.py as a module (bench/ is not a package); registered in sys.modules only for
    the test, as its dataclasses need it while the module runs."""
    spec = importlib.util.spec_from_file_location("bench_run", BENCH / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_run", module)
    spec.loader.exec_module(module)
    return module


def table_row(markdown: str, first_cell: str) -> list[str]:
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == first_cell:
            return cells
    raise AssertionError(f"no table row {first_cell!r}")


def test_corpus_is_deterministic_in_every_format(tmp_path: Path) -> None:
    corpus(tmp_path / "a", 200)
    corpus(tmp_path / "b", 200)
    a, b = tree(tmp_path / "a"), tree(tmp_path / "b")
    assert a == b
    for fmt in ("sitegen", "hugo", "pelican"):
        reports = [p for p in a if p.startswith(f"{fmt}/content/") and p.endswith(".md")
                   and not p.endswith("_index.md")]
        assert len(reports) == 200, fmt
    # report i depends only on the seed and i: a smaller corpus is a prefix of a larger one
    corpus(tmp_path / "small", 50, "sitegen")
    small = tree(tmp_path / "small")
    assert small.items() <= {k: v for k, v in a.items() if k.startswith("sitegen/")}.items()


def test_run_quick_without_peers_writes_the_table(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n\n## Static search: kept\n\nkeep me\n",
                       encoding="utf-8")
    work, raw = tmp_path / "work", tmp_path / "raw.json"
    # 150 reports: enough for sitegen to start its worker processes, small enough for CI
    proc = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "--quick", "--reports", "150", "--no-peers",
         "--repeat", "1", "--queries", "40", "--search-passes", "1", "--out", str(results),
         "--work", str(work), "--json", str(raw)],
        capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]

    text = results.read_text(encoding="utf-8")
    assert text.startswith("# Benchmark results\n\n## Static search: kept\n\nkeep me\n")
    section = text[text.index("## Build performance (issue #7)"):]
    assert "\n### 150 reports\n" in section
    cold = table_row(section, "**sitegen cold**: `sitegen build`, no output, no cache")
    wall, cpu, pages = float(cold[1]), float(cold[2]), int(cold[5].replace(",", ""))
    assert wall > 0 and cpu > 0 and pages > 150  # reports plus term, year and list pages
    for label in ("sitegen warm: nothing changed",
                  "sitegen rebuild after the theme change, nothing else changed",
                  "sitegen one report edited: one word of its body (after the build above)"):
        assert int(table_row(section, label)[5].replace(",", "")) == pages
    assert "peers not run" in table_row(section, "build ratios")[1]

    data = json.loads(raw.read_text(encoding="utf-8"))
    assert {k: len(v) for k, v in data["runs"].items()} == {
        "cold": 1, "warm": 1, "theme": 1, "settle": 1, "edit": 1}
    assert {int(k) for k in data["search"]} == {150}
    assert data["search"]["150"]["queries"] == 40
    static = data["static"]
    if "error" not in static:  # node is optional here
        assert static["rows"][0]["q"] == "government" and static["rows"][0]["total"] > 0

    assert not (work / "discarded").exists()  # the replaced trees were deleted at the end

    # the theme and report edits were undone: the content is the generator's own
    corpus(tmp_path / "fresh", 150, "sitegen", seed=1)  # run.py's default seed
    site = work / "corpus" / "sitegen"
    assert tree(site / "content") == tree(tmp_path / "fresh" / "sitegen" / "content")
    assert (site / "themes/default/templates/base.html").read_bytes() == (
        REPO / "themes/default/templates/base.html").read_bytes()
    assert (site / "themes/default/static/style.css").read_bytes() == (
        REPO / "themes/default/static/style.css").read_bytes()


def test_write_results_replaces_only_its_own_size(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    run = load_run(monkeypatch)
    path = tmp_path / "RESULTS.md"
    path.write_text("# Benchmark results\n\n## Other\n\ntext\n", encoding="utf-8")
    run.write_results(path, 1000, "### 1,000 reports\n\nfirst\n")
    run.write_results(path, 10000, "### 10,000 reports\n\nbig\n")
    run.write_results(path, 1000, "### 1,000 reports\n\nsecond\n")
    text = path.read_text(encoding="utf-8")
    assert text == (
        "# Benchmark results\n\n## Other\n\ntext\n\n## Build performance (issue #7)\n\n"
        + run.SECTION_INTRO
        + "\n### 10,000 reports\n\nbig\n\n### 1,000 reports\n\nsecond\n")


def test_trash_moves_trees_away_until_emptied(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    run = load_run(monkeypatch)
    trash = run.Trash(tmp_path / "work" / "discarded")
    out = tmp_path / "site" / "output"
    (out / "reports" / "a").mkdir(parents=True)
    (out / "reports" / "a" / "index.html").write_text("a", encoding="utf-8")
    lock = tmp_path / "site" / ".lock"
    lock.write_text("", encoding="utf-8")
    trash.remove(out)
    trash.remove(lock)  # a file: deleted at once
    trash.remove(tmp_path / "site" / "absent")  # nothing there: nothing to do
    assert not out.exists() and not lock.exists()
    kept = list((tmp_path / "work" / "discarded").iterdir())
    assert [p.name for p in kept] == ["1-output"]
    assert (kept[0] / "reports" / "a" / "index.html").read_text(encoding="utf-8") == "a"
    out.mkdir()  # the next run's tree, by the same name, moved away beside the first
    trash.remove(out)
    assert sorted(p.name for p in (tmp_path / "work" / "discarded").iterdir()) == [
        "1-output", "2-output"]
    trash.empty()
    assert not (tmp_path / "work" / "discarded").exists()

    monkeypatch.setattr(run.Trash, "MIN_FREE", 1 << 62)  # a disk short of space
    out.mkdir()
    trash.remove(out)
    assert not out.exists() and not (tmp_path / "work" / "discarded").exists()

