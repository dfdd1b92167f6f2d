#!/usr/bin/env python3
"""Issue #4 item 5: sitegen's sharded static search index against Pagefind's Python API.

    .venv/bin/python bench/static_search_compare.py [--reports 1000 10000] [--seed 1]

For each corpus size (bench/corpus.py, sitegen format) it measures:

1. ``sitegen build`` (the CLI, in a subprocess): wall and CPU seconds, peak RSS, output size;
   then, in another subprocess that builds the site model with ``build(config, write=False)``,
   ``build_static_index`` alone: seconds and the RSS it adds; the index's size, files, gzip size.
2. Pagefind through its Python API (``pagefind`` + ``pagefind-bin``), records built from the
   same reports (title, summary, body text, actor/location names, tags, source; filters
   ``actor`` and ``location``): seconds to add the records and to write the bundle, peak RSS
   of the pagefind process, bundle size and files. The stock API reads one response per
   100 ms (``asyncio.sleep(0.1)`` in ``PagefindService._wait_for_responses``), so adding
   records costs >= 0.1 s each; we time the stock API on a sample and extrapolate, and time
   the full corpus with that one sleep removed (same binary, same messages), which is what
   Pagefind itself costs.
3. A fixed mix of 32 queries (common, rare, stemmed and two-word queries, accents,
   apostrophes, Arabic script, a slash, actor and location filters), each in a fresh headless
   Chromium context (cold cache) against a local static file server that gzips text files as
   a static host would: our ``search/`` page (query typed into the form) and a minimal page
   that runs ``pagefind.search`` and loads the first 10 results' data. It sums the bytes the
   page fetched (transferred and uncompressed), split into loader (script/wasm), index
   metadata and query-specific files. For ours it also lists the files ``search.js`` fetches
   under node, which must agree with the browser.
4. Consistency with the Whoosh index: the full set of report URLs each static engine returns
   against the full set from ``SearchIndex.search`` (what ``sitegen search --json`` calls),
   as Jaccard overlap per query.

It writes the "Static search: sitegen shards vs Pagefind" section of bench/RESULTS.md and
prints it. Needs: ``pip install pagefind pagefind-bin playwright`` in the venv, Debian's
``chromium`` at /usr/bin/chromium, and ``node``. It installs nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime as dt
import gzip
import json
import mimetypes
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PYTHON = sys.executable
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SECTION = "## Static search: sitegen shards vs Pagefind"
SHOW = 10  # results whose data a page loads, both engines
GZIP_LEVEL = 6  # what nginx and most static hosts use
COMPRESSIBLE = {".html", ".js", ".mjs", ".json", ".css", ".svg", ".xml", ".txt"}
PAGEFIND_UI = re.compile(r"^pagefind-(component-ui|modular-ui|ui|highlight)\.(js|css)$")


# --------------------------------------------------------------------------- query mix


@dataclass(frozen=True)
class Query:
    label: str  # what it exercises
    q: str = ""
    actor: str = ""  # canonical name
    location: str = ""


QUERIES = [
    Query("common word", "government"),
    Query("common word", "convoy"),
    Query("word", "attack"),
    Query("rare word", "quadcopter"),
    Query("rare word", "thermobaric"),
    Query("rare word", "haboob"),
    Query("stemming", "strikes"),
    Query("stemming", "striking"),
    Query("stemming", "evacuations"),
    Query("stemming", "killings"),
    Query("two words", "rocket attack"),
    Query("two words", "drone strike"),
    Query("two words", "aid agencies"),
    Query("two words", "Kataib Hezbollah"),
    Query("apostrophe", "Kata'ib Hezbollah"),
    Query("accent folding", "Menaka"),
    Query("accent folding", "Ménaka"),
    Query("accent folding", "Halab"),
    Query("accent folding", "Ḥalab"),
    Query("apostrophe", "N'Djamena"),
    Query("apostrophe", "Ndjamena"),
    Query("hyphen + accent", "Saint-Etienne"),
    Query("Arabic script", "حلب"),
    Query("slash", "US/UK"),
    Query("actor filter", actor="Kata'ib Hezbollah"),
    Query("actor filter (Arabic)", actor="هيئة تحرير الشام"),
    Query("location filter", location="Ménaka"),
    Query("word + location", "convoy", location="Gao"),
    Query("word + location", "ambush", location="N'Djamena"),
    Query("word + location", "strikes", location="Kidal"),
    Query("word + actor", "rocket", actor="Asa'ib Ahl al-Haq"),
    Query("accented word", "armées"),
]


def describe(query: Query) -> str:
    parts = [f"`{query.q}`"] if query.q else []
    if query.actor:
        parts.append(f"actor={query.actor}")
    if query.location:
        parts.append(f"location={query.location}")
    return " + ".join(parts)


# --------------------------------------------------------------------------- processes


@dataclass
class Run:
    wall: float
    cpu: float
    maxrss_kb: int
    returncode: int
    stdout: str
    stderr: str


def run_measured(cmd: list[str], cwd: Path | None = None, timeout: float = 3600) -> Run:
    """Run ``cmd``; wall time, CPU (user+sys) and peak RSS of it and its reaped children.

    ``os.wait4`` gives the rusage of this one child (ru_maxrss: the largest of the process
    and its waited-for descendants, not their sum)."""
    out_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-{os.getpid()}-{time.monotonic_ns()}"
    with Path(f"{out_path}.out").open("w+b") as out, Path(f"{out_path}.err").open("w+b") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=err)
        deadline = start + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
            time.sleep(0.02)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    for suffix in (".out", ".err"):
        Path(f"{out_path}{suffix}").unlink()
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, proc.returncode,
               stdout, stderr)


def retry(what: str, fn, attempts: int = 4, wait: float = 60.0):
    """Other engineers edit sitegen/ concurrently: a build may fail mid-edit. Retry."""
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except RuntimeError as exc:
            if attempt == attempts:
                raise
            print(f"  {what} failed ({str(exc).strip().splitlines()[-1][:200]}); "
                  f"retrying in {wait:.0f} s", file=sys.stderr)
            time.sleep(wait)
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------- sizes


@dataclass
class Size:
    files: int = 0
    raw: int = 0
    gz: int = 0


def tree_size(root: Path, keep=lambda p: True, with_gzip: bool = False) -> Size:
    s = Size()
    for p in sorted(root.rglob("*")):
        if p.is_file() and keep(p):
            data = p.read_bytes()
            s.files += 1
            s.raw += len(data)
            if with_gzip:
                s.gz += len(gzip.compress(data, GZIP_LEVEL, mtime=0))
    return s


def gz_size(path: Path, cache: dict[Path, int]) -> int:
    if path not in cache:
        data = path.read_bytes()
        cache[path] = len(gzip.compress(data, GZIP_LEVEL, mtime=0)) if path.suffix in COMPRESSIBLE else len(data)
    return cache[path]


# --------------------------------------------------------------------------- helpers run in subprocesses


def _vm(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return 0


def helper_static(config_file: str, records_out: str) -> None:
    """Subprocess: build the site model, time build_static_index alone, dump Pagefind records."""
    from sitegen.build import build
    from sitegen.config import load_config
    from sitegen.search.analysis import analyze
    from sitegen.search.static import build_static_index

    config, diags = load_config(Path(config_file))
    errors = [d for d in diags if getattr(d, "severity", "") == "error"]
    if errors:
        raise SystemExit(f"config: {errors}")
    t0 = time.perf_counter()
    result = build(config, write=False)
    model_s = time.perf_counter() - t0
    if result.site is None or not result.ok:
        raise SystemExit("build failed: " + "; ".join(str(d) for d in result.diagnostics[:5]))
    site = result.site
    rss_before = _vm("VmRSS")
    try:  # reset the peak-RSS counter so VmHWM covers the index step only
        Path("/proc/self/clear_refs").write_text("5")
        hwm_reset = True
    except OSError:
        hwm_reset = False
    t0, c0 = time.perf_counter(), time.process_time()
    files = list(build_static_index(site.reports, site.actors, site.locations, analyze))
    index_s, index_cpu = time.perf_counter() - t0, time.process_time() - c0
    hwm = _vm("VmHWM")
    with Path(records_out).open("w", encoding="utf-8") as out:
        for r in site.reports:
            actors = [a.name for a in r.actors]
            locations = [loc.name for loc in r.locations]
            # The same text our index and Whoosh search: title, summary, body, the linked
            # names, tags and source.
            content = "\n".join([r.title, r.summary, r.body.text, "; ".join(actors),
                                 "; ".join(locations), ", ".join(r.tags), r.source_name or ""])
            out.write(json.dumps({
                "url": "/" + r.url.lstrip("/"), "content": content,
                "meta": {"title": r.title, "date": r.date.date().isoformat(),
                         "summary": r.summary},
                "filters": {"actor": actors, "location": locations},
            }, ensure_ascii=False) + "\n")
    print(json.dumps({
        "reports": len(site.reports), "model_s": model_s, "timings": list(result.timings),
        "index_s": index_s, "index_cpu_s": index_cpu, "index_files": len(files),
        "index_bytes": sum(len(f.data) for f in files),
        "rss_before_kb": rss_before, "hwm_kb": hwm, "hwm_reset": hwm_reset,
    }))


async def _fast_wait_for_responses(self) -> None:  # type: ignore[no-untyped-def]
    """``PagefindService._wait_for_responses`` without its ``await asyncio.sleep(0.1)`` per
    message: the same decoding and dispatch, one response per read."""
    while True:
        output = await self._backend.stdout.readuntil(b",")
        resp = json.loads(base64.b64decode(output[:-1]))
        if resp is None:
            continue
        message_id = resp.get("message_id")
        if message_id is None:
            original = resp.get("payload", {}).get("original_message")
            if original:
                message_id = json.loads(original).get("message_id")
        future = self._responses.get(message_id)
        if future is None or future.done():
            continue
        payload = resp["payload"]
        if payload["type"] == "Error":
            future.set_exception(Exception(payload["message"], payload.get("original_message")))
        else:
            future.set_result(payload)


def helper_pagefind(records: str, out_dir: str, mode: str, limit: int) -> None:
    """Subprocess: index the records with Pagefind's Python API and write the bundle."""
    from pagefind.service import PagefindService

    if mode == "fast":
        PagefindService._wait_for_responses = _fast_wait_for_responses  # type: ignore[method-assign]
    with Path(records).open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    if limit:
        rows = rows[:limit]

    async def main() -> dict[str, object]:
        t0 = time.perf_counter()
        async with PagefindService() as service:
            index = await service.create_index({"force_language": "en"})
            t1 = time.perf_counter()
            for row in rows:
                await index.add_custom_record(url=row["url"], content=row["content"],
                                              language="en", meta=row["meta"],
                                              filters=row["filters"])
            t2 = time.perf_counter()
            await index.write_files(output_path=out_dir)
            t3 = time.perf_counter()
            status = Path(f"/proc/{service._backend.pid}/status").read_text()
            hwm = next(int(line.split()[1]) for line in status.splitlines()
                       if line.startswith("VmHWM:"))
        return {"records": len(rows), "start_s": t1 - t0, "add_s": t2 - t1, "write_s": t3 - t2,
                "total_s": time.perf_counter() - t0, "pagefind_hwm_kb": hwm,
                "python_hwm_kb": _vm("VmHWM")}

    print(json.dumps(asyncio.run(main())))


# --------------------------------------------------------------------------- static file server


class _Handler(SimpleHTTPRequestHandler):
    """Serves files under ``server.root``, gzipping text files when the client accepts it
    (as a static host would), with no caching; logs (path, raw bytes, bytes sent)."""

    def log_message(self, format: str, *args: object) -> None:
        return None

    def do_GET(self) -> None:
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        target = (self.server.root / path.lstrip("/")).resolve()  # type: ignore[attr-defined]
        root = self.server.root  # type: ignore[attr-defined]
        if target.is_dir():
            target = target / "index.html"
        if root not in target.parents or not target.is_file():
            self.send_error(404)
            return
        raw = target.read_bytes()
        ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if target.suffix == ".js":
            ctype = "text/javascript"
        body = raw
        gz = target.suffix in COMPRESSIBLE and "gzip" in self.headers.get("Accept-Encoding", "")
        if gz:
            body = gzip.compress(raw, GZIP_LEVEL, mtime=0)
        self.send_response(200)
        self.send_header("Content-Type", ctype + ("; charset=utf-8" if ctype.startswith("text") or ctype.endswith("json") else ""))
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if gz:
            self.send_header("Content-Encoding", "gzip")
        self.end_headers()
        self.wfile.write(body)
        with self.server.lock:  # type: ignore[attr-defined]
            self.server.log.append((path, len(raw), len(body)))  # type: ignore[attr-defined]


@contextlib.contextmanager
def serve(root: Path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.root = root.resolve()  # type: ignore[attr-defined]
    server.log = []  # type: ignore[attr-defined]
    server.lock = threading.Lock()  # type: ignore[attr-defined]
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


PAGEFIND_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pagefind bench</title></head>
<body><p id="status">loading</p>
<script type="module">
const params = new URLSearchParams(location.search);
const filters = JSON.parse(params.get('filters') || '{}');
const q = params.get('q');
const pagefind = await import('/pagefind/pagefind.js');
const search = await pagefind.search(q ? q : null, { filters });
const shown = await Promise.all(search.results.slice(0, __SHOW__).map((r) => r.data()));
window.__result = { count: search.results.length, ids: search.results.map((r) => r.id),
                    shown: shown.map((d) => d.url) };
document.getElementById('status').textContent = 'done';
</script></body></html>
""".replace("__SHOW__", str(SHOW))


# --------------------------------------------------------------------------- measuring one corpus


@dataclass
class Fetch:
    loader: int = 0  # transferred bytes of scripts / wasm
    meta: int = 0  # index metadata every query needs
    query: int = 0  # query-specific index files
    page: int = 0  # the page's own HTML and CSS
    raw: int = 0  # uncompressed bytes of loader + meta + query
    requests: int = 0  # index + loader requests
    files: list[str] = field(default_factory=list)

    @property
    def search(self) -> int:
        return self.loader + self.meta + self.query


def classify_ours(path: str) -> str:
    if path.startswith("/_static_search/"):
        return "meta" if path.endswith("/meta.json") else "query"
    if path.endswith("/search.js"):
        return "loader"
    return "page"


def classify_pagefind(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    if not path.startswith("/pagefind/"):
        return "page"
    if name.endswith((".js", ".pagefind")):
        return "loader"
    if name == "pagefind-entry.json" or name.endswith(".pf_meta"):
        return "meta"
    return "query"


def tally(log: list[tuple[str, int, int]], classify) -> Fetch:
    f = Fetch()
    for path, raw, sent in log:
        kind = classify(path)
        setattr(f, kind, getattr(f, kind) + sent)
        if kind != "page":
            f.raw += raw
            f.requests += 1
            f.files.append(path)
    return f


def browser_queries(site: Path, pf_site: Path, ours_slugs: dict[str, dict[str, str]]):
    """Run every query in a fresh browser context on both pages; returns per-query
    (ours Fetch, ours shown count text, pagefind Fetch, pagefind result dict)."""
    from playwright.sync_api import sync_playwright

    out = []
    with serve(site) as ours_srv, serve(pf_site) as pf_srv, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        ours_base = f"http://127.0.0.1:{ours_srv.server_address[1]}"
        pf_base = f"http://127.0.0.1:{pf_srv.server_address[1]}"
        try:
            for query in QUERIES:
                # -- ours: type the query into the search form
                ctx = browser.new_context()
                page = ctx.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
                ours_srv.log.clear()
                page.goto(f"{ours_base}/search/", wait_until="load")
                page.fill("#search-q", query.q)
                if query.actor:
                    page.select_option("#search-actor", ours_slugs["actors"][query.actor])
                if query.location:
                    page.select_option("#search-location", ours_slugs["locations"][query.location])
                page.press("#search-q", "Enter")
                page.wait_for_function(
                    "() => { const t = document.getElementById('search-status').textContent;"
                    " return t && !t.startsWith('Searching'); }", timeout=60_000)
                page.wait_for_load_state("networkidle")
                status = page.text_content("#search-status") or ""
                shown = page.eval_on_selector_all("#search-results .report-item-title a",
                                                  "els => els.map(e => e.getAttribute('href'))")
                ours_fetch = tally(list(ours_srv.log), classify_ours)
                ctx.close()
                # -- pagefind: pagefind.search + the first results' data
                ctx = browser.new_context()
                page = ctx.new_page()
                page.on("pageerror",
                        lambda e, errors=errors: errors.append("pagefind: " + str(e)))
                pf_srv.log.clear()
                filters = {}
                if query.actor:
                    filters["actor"] = query.actor
                if query.location:
                    filters["location"] = query.location
                qs = urllib.parse.urlencode({"q": query.q, "filters": json.dumps(filters)})
                page.goto(f"{pf_base}/bench.html?{qs}", wait_until="load")
                page.wait_for_function("() => window.__result !== undefined", timeout=120_000)
                page.wait_for_load_state("networkidle")
                pf_result = page.evaluate("() => window.__result")
                pf_fetch = tally(list(pf_srv.log), classify_pagefind)
                ctx.close()
                out.append((ours_fetch, status, shown, pf_fetch, pf_result, errors))
        finally:
            browser.close()
    return out


def node_queries(index_root: Path, slugs: dict[str, dict[str, str]]) -> list[dict]:
    req = {"root": str(index_root), "show": SHOW, "queries": [
        {"q": q.q, "actor": slugs["actors"].get(q.actor, q.actor) if q.actor else "",
         "location": slugs["locations"].get(q.location, q.location) if q.location else ""}
        for q in QUERIES]}
    proc = subprocess.run(["node", str(BENCH / "static_query.js")], input=json.dumps(req),
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def helper_whoosh(index_dir: str, out_json: str) -> None:
    """Subprocess: every matching report URL per query from the Whoosh index, and the first
    ``SHOW`` in rank order, paging through results with ``SearchIndex.search``, the call
    ``sitegen search QUERY --json --limit 100 --page N`` makes."""
    from sitegen.search.query import SearchIndex, SearchRequest

    ix = SearchIndex(Path(index_dir))
    out = []
    for q in QUERIES:
        urls: list[str] = []
        page, message = 1, None
        while True:
            res = ix.search(SearchRequest(q=q.q, actors=(q.actor,) if q.actor else (),
                                          locations=(q.location,) if q.location else (),
                                          page=page, page_size=100, facet_limit=0))
            message = res.message
            urls.extend(h.url.lstrip("/") for h in res.hits)
            if page * 100 >= res.total or not res.hits:
                break
            page += 1
        out.append({"urls": urls, "total": res.total, "message": message})
    Path(out_json).write_text(json.dumps(out), encoding="utf-8")


def jaccard(a: set[str], b: set[str]) -> float:
    return 1.0 if not a and not b else len(a & b) / len(a | b)


def overlap(top: list[str], reference: set[str]) -> float:
    """Share of the reference's first results that ``top`` also shows first."""
    return 1.0 if not reference and not top else len(set(top) & reference) / max(
        len(reference), len(top))


def pagefind_fragment_urls(bundle: Path) -> dict[str, str]:
    """Result id (``en_<hash>``, the fragment file's name) -> URL, read from the bundle."""
    out = {}
    for p in (bundle / "fragment").glob("*.pf_fragment"):
        data = gzip.decompress(p.read_bytes())
        if data.startswith(b"pagefind_dcd"):
            data = data[len(b"pagefind_dcd"):]
        out[p.stem] = json.loads(data)["url"].lstrip("/")
    return out


def measure(n: int, seed: int, work: Path, stock_sample: int, log) -> dict:
    root = work / f"n{n}"
    corpus_dir = root / "corpus"
    load_before = os.getloadavg()[0]
    log(f"[{n}] corpus")
    t0 = time.perf_counter()
    subprocess.run([PYTHON, str(BENCH / "corpus.py"), "--reports", str(n), "--seed", str(seed),
                    "--out", str(corpus_dir), "--format", "sitegen"], check=True)
    corpus_s = time.perf_counter() - t0
    sg = corpus_dir / "sitegen"
    out = root / "site"
    sitegen_bin = str(Path(PYTHON).parent / "sitegen")

    # -- (a) sitegen build, then build_static_index alone
    def cli_build() -> Run:
        if out.exists():
            shutil.rmtree(out)
        r = run_measured([sitegen_bin, "build", "--config", str(sg / "sitegen.yaml"),
                          "--content", str(sg / "content"), "--output", str(out), "--quiet"],
                         cwd=sg)
        if r.returncode != 0:
            raise RuntimeError(r.stderr or r.stdout)
        return r

    log(f"[{n}] sitegen build")
    build_run = retry("sitegen build", cli_build)
    records = root / "records.jsonl"

    def static_alone() -> tuple[Run, dict]:
        r = run_measured([PYTHON, str(Path(__file__).resolve()), "--_helper-static",
                          str(sg / "sitegen.yaml"), str(records)], cwd=sg)
        if r.returncode != 0:
            raise RuntimeError(r.stderr or r.stdout)
        return r, json.loads(r.stdout.strip().splitlines()[-1])

    log(f"[{n}] build_static_index alone")
    _, static = retry("build_static_index", static_alone)
    site_size = tree_size(out)
    static_size = tree_size(out / "_static_search", with_gzip=True)
    whoosh_size = tree_size(out / "_search")

    # -- (b) Pagefind
    pf_site = root / "pagefind-site"
    if pf_site.exists():
        shutil.rmtree(pf_site)
    pf_site.mkdir(parents=True)
    log(f"[{n}] pagefind (poll sleep removed)")
    pf_run = run_measured([PYTHON, str(Path(__file__).resolve()), "--_helper-pagefind",
                           str(records), str(pf_site / "pagefind"), "fast", "0"])
    if pf_run.returncode != 0:
        raise RuntimeError("pagefind: " + pf_run.stderr)
    pf = json.loads(pf_run.stdout.strip().splitlines()[-1])
    (pf_site / "bench.html").write_text(PAGEFIND_PAGE, encoding="utf-8")
    sample = min(n, stock_sample)
    log(f"[{n}] pagefind stock API on {sample} records")
    stock_dir = root / "pagefind-stock"
    if stock_dir.exists():
        shutil.rmtree(stock_dir)
    stock_run = run_measured([PYTHON, str(Path(__file__).resolve()), "--_helper-pagefind",
                              str(records), str(stock_dir / "pagefind"), "stock", str(sample)])
    if stock_run.returncode != 0:
        raise RuntimeError("pagefind stock: " + stock_run.stderr)
    stock = json.loads(stock_run.stdout.strip().splitlines()[-1])
    stock["per_record_s"] = stock["add_s"] / max(1, stock["records"])
    stock["extrapolated_s"] = stock["start_s"] + stock["per_record_s"] * n + pf["write_s"]
    shutil.rmtree(stock_dir)
    bundle = pf_site / "pagefind"
    pf_size = tree_size(bundle)
    pf_data = tree_size(bundle, keep=lambda p: not PAGEFIND_UI.match(p.name)
                        and p.name != "wasm.unknown.pagefind")

    # -- queries
    meta = json.loads((out / "_static_search" / "meta.json").read_text(encoding="utf-8"))
    slugs = {kind: {row[1]: row[0] for row in meta[kind]} for kind in ("actors", "locations")}
    log(f"[{n}] queries: node")
    node = node_queries(out / "_static_search", slugs)
    docs: list[str] = []
    for c in range(meta["docs"]["chunks"]):
        chunk = json.loads((out / "_static_search" / "docs" / f"{c}.json").read_text("utf-8"))
        docs.extend(row[0].lstrip("/") for row in chunk)
    # Whoosh in another process while the browser runs: only bytes are measured there.
    log(f"[{n}] queries: browser, and Whoosh result sets alongside")
    whoosh_json = root / "whoosh.json"
    whoosh_proc = subprocess.Popen([PYTHON, str(Path(__file__).resolve()), "--_helper-whoosh",
                                    str(out / "_search"), str(whoosh_json)],
                                   stderr=subprocess.PIPE, text=True)
    try:
        browser = browser_queries(out, pf_site, slugs)
    finally:
        _, whoosh_err = whoosh_proc.communicate()
    if whoosh_proc.returncode != 0:
        raise RuntimeError("Whoosh queries: " + whoosh_err)
    whoosh = json.loads(whoosh_json.read_text(encoding="utf-8"))
    frag_urls = pagefind_fragment_urls(bundle)
    gz_cache: dict[Path, int] = {}
    rows = []
    for q, nd, wh_res, (of, status, shown, pff, pfr, errors) in zip(
            QUERIES, node, whoosh, browser, strict=True):
        wh, wh_msg = set(wh_res["urls"]), wh_res["message"]
        ours_ranked = [docs[i] for i in nd["ids"]]
        pf_ranked = [frag_urls.get(i, i) for i in pfr["ids"]]
        ours_set, pf_set = set(ours_ranked), set(pf_ranked)
        wh_top = set(wh_res["urls"][:SHOW])
        node_files = ["/_static_search/" + f for f in nd["fetched"]]
        node_gz = sum(gz_size(out / f.lstrip("/"), gz_cache) for f in node_files)
        browser_index = sorted(f for f in of.files if f.startswith("/_static_search/"))
        m = re.match(r"(\d+) results?", status)
        rows.append({
            "query": describe(q), "label": q.label, "whoosh": len(wh), "whoosh_message": wh_msg,
            "ours": len(ours_set), "ours_status": nd["status"], "ours_j": jaccard(ours_set, wh),
            "pf": len(pf_set), "pf_j": jaccard(pf_set, wh),
            "ours_fetch": of.__dict__ | {"search": of.search},
            "pf_fetch": pff.__dict__ | {"search": pff.search},
            "node_files": len(node_files), "node_gz": node_gz,
            "ours_top": overlap(ours_ranked[:SHOW], wh_top),
            "pf_top": overlap(pf_ranked[:SHOW], wh_top),
            "browser_matches_node": browser_index == sorted(node_files),
            "browser_shows_node_top": [h.lstrip("/") for h in shown] == ours_ranked[:SHOW],
            "browser_count": int(m.group(1)) if m else (0 if status.startswith("No") else None),
            "status": status, "errors": errors,
        })
    return {
        "n": n, "corpus_s": corpus_s, "load": [load_before, os.getloadavg()[0]],
        "build": {"wall": build_run.wall, "cpu": build_run.cpu, "maxrss_kb": build_run.maxrss_kb},
        "static": static, "site_size": site_size.__dict__, "static_size": static_size.__dict__,
        "whoosh_size": whoosh_size.__dict__,
        "pagefind": pf | {"wall": pf_run.wall, "cpu": pf_run.cpu, "maxrss_kb": pf_run.maxrss_kb},
        "stock": stock, "pf_size": pf_size.__dict__, "pf_data": pf_data.__dict__,
        "queries": rows,
    }


# --------------------------------------------------------------------------- report


def _kb(b: float) -> str:
    return f"{b / 1000:,.1f} KB"


def _mb(b: float) -> str:
    return f"{b / 1e6:,.1f} MB"


def _mib_kb(kb: float) -> str:
    return f"{kb / 1024:,.0f} MiB"


def _cmd(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("sitegen", "whoosh-reloaded", "pagefind", "pagefind-bin", "playwright"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    rev = _cmd(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    dirty = _cmd(["git", "-C", str(REPO), "status", "--porcelain", "--", "sitegen", "themes"])
    out["sitegen"] += f" (git {rev}{', uncommitted changes in sitegen/ or themes/' if dirty else ''})"
    out["chromium"] = _cmd([CHROMIUM, "--version"]) or "?"
    out["node"] = _cmd(["node", "--version"])
    return out


def machine() -> str:
    free = _cmd(["free", "-h"]).splitlines()
    mem = free[1].split()[1] if len(free) > 1 else "?"
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{_cmd(['nproc'])} cores ({cpu}), {mem} memory (`free -h`), {platform.platform()}"


def _med(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def report(results: list[dict], args: argparse.Namespace) -> str:
    v = versions()
    lines = [SECTION, ""]
    lines.append(f"Run {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')} with "
                 f"`python bench/static_search_compare.py --reports "
                 f"{' '.join(str(r['n']) for r in results)} --seed {args.seed}`.")
    lines.append(f"Machine: {machine()}.")
    lines.append("Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".")
    lines.append("")
    head = "| | " + " | ".join(f"{r['n']:,} reports" for r in results) + " |"
    lines += [head, "|---" * (len(results) + 1) + "|"]

    def row(label: str, fn) -> None:
        lines.append(f"| {label} | " + " | ".join(fn(r) for r in results) + " |")

    row("**sitegen** `sitegen build` (whole site): wall / CPU / peak RSS",
        lambda r: f"{r['build']['wall']:.1f} s / {r['build']['cpu']:.1f} s / "
                  f"{_mib_kb(r['build']['maxrss_kb'])}")
    row("`build_static_index` alone: wall / CPU / RSS it adds",
        lambda r: f"{r['static']['index_s']:.1f} s / {r['static']['index_cpu_s']:.1f} s / "
                  f"+{_mib_kb(max(0, r['static']['hwm_kb'] - r['static']['rss_before_kb']))}")
    row("static index: size / files / gzip size",
        lambda r: f"{_mb(r['static_size']['raw'])} / {r['static_size']['files']:,} / "
                  f"{_mb(r['static_size']['gz'])}")
    row("(Whoosh index, for scale: size)", lambda r: _mb(r["whoosh_size"]["raw"]))
    row("**Pagefind** Python API, stock: time (extrapolated from "
        f"{min(args.stock_sample, results[0]['n'])} records)",
        lambda r: f"{r['stock']['extrapolated_s']:.0f} s ({r['stock']['per_record_s'] * 1000:.0f} ms "
                  "per record)")
    row("Pagefind Python API, poll sleep removed: add / write / process wall",
        lambda r: f"{r['pagefind']['add_s']:.1f} s / {r['pagefind']['write_s']:.1f} s / "
                  f"{r['pagefind']['wall']:.1f} s")
    row("Pagefind: peak RSS of the pagefind process / of the Python driver",
        lambda r: f"{_mib_kb(r['pagefind']['pagefind_hwm_kb'])} / "
                  f"{_mib_kb(r['pagefind']['python_hwm_kb'])}")
    row("Pagefind bundle: size / files (without the UI files: size / files)",
        lambda r: f"{_mb(r['pf_size']['raw'])} / {r['pf_size']['files']:,} "
                  f"({_mb(r['pf_data']['raw'])} / {r['pf_data']['files']:,})")

    def fetch_stats(r: dict, key: str, part: str, agg) -> float:
        return agg([q[key][part] for q in r["queries"]])

    for part, label in (("search", "all search bytes (loader + metadata + query files)"),
                        ("query", "query-specific files only"),
                        ("loader", "loader (script, wasm)"),
                        ("meta", "index metadata")):
        row(f"bytes per query, {label}: median (max), **ours** vs Pagefind",
            lambda r, part=part: f"**{_kb(fetch_stats(r, 'ours_fetch', part, _med))}** "
                                 f"({_kb(fetch_stats(r, 'ours_fetch', part, max))}) vs "
                                 f"{_kb(fetch_stats(r, 'pf_fetch', part, _med))} "
                                 f"({_kb(fetch_stats(r, 'pf_fetch', part, max))})")
    row("requests per query: median (max), ours vs Pagefind",
        lambda r: f"{_med([q['ours_fetch']['requests'] for q in r['queries']]):.0f} "
                  f"({max(q['ours_fetch']['requests'] for q in r['queries'])}) vs "
                  f"{_med([q['pf_fetch']['requests'] for q in r['queries']]):.0f} "
                  f"({max(q['pf_fetch']['requests'] for q in r['queries'])})")
    row("one common word (`government`): all search bytes, ours vs Pagefind",
        lambda r: f"{_kb(r['queries'][0]['ours_fetch']['search'])} vs "
                  f"{_kb(r['queries'][0]['pf_fetch']['search'])}")
    row("our search page's own HTML (its actor/location menus), gzip",
        lambda r: _kb(_med([q['ours_fetch']['page'] for q in r['queries']])))
    row(f"first {SHOW} results shared with Whoosh's first {SHOW}: mean, ours vs Pagefind",
        lambda r: f"{statistics.mean(q['ours_top'] for q in r['queries']):.2f} vs "
                  f"{statistics.mean(q['pf_top'] for q in r['queries']):.2f}")
    row("load average (1 min) before / after this corpus size",
        lambda r: f"{r['load'][0]:.1f} / {r['load'][1]:.1f}")
    row("Jaccard with the Whoosh results: mean (queries equal), **ours** vs Pagefind",
        lambda r: f"**{statistics.mean(q['ours_j'] for q in r['queries']):.3f}** "
                  f"({sum(q['ours_j'] == 1.0 for q in r['queries'])}/{len(r['queries'])}) vs "
                  f"{statistics.mean(q['pf_j'] for q in r['queries']):.3f} "
                  f"({sum(q['pf_j'] == 1.0 for q in r['queries'])}/{len(r['queries'])})")
    lines.append("")
    lines.append("Bytes are as transferred from a local static server that gzips text files "
                 "(level 6) and sends Pagefind's own pre-compressed files as they are; every "
                 "query runs in a fresh browser context (cold cache) and loads the data of its "
                 f"first {SHOW} results. 'Loader' is `search.js` for ours and `pagefind.js`, "
                 "its worker and wasm for Pagefind; 'metadata' is `meta.json` for ours and "
                 "`pagefind-entry.json` + `.pf_meta` for Pagefind.")
    for r in results:
        lines += ["", f"### Per query, {r['n']:,} reports", "",
                  "| query | Whoosh hits | ours hits (Jaccard) | Pagefind hits (Jaccard) | "
                  f"top {SHOW} shared with Whoosh: ours / Pagefind | "
                  "ours bytes (requests) | Pagefind bytes (requests) |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for q in r["queries"]:
            lines.append(
                f"| {q['label']}: {q['query']} | {q['whoosh']:,} | {q['ours']:,} ({q['ours_j']:.2f}) | "
                f"{q['pf']:,} ({q['pf_j']:.2f}) | {q['ours_top']:.1f} / {q['pf_top']:.1f} | "
                f"{_kb(q['ours_fetch']['search'])} "
                f"({q['ours_fetch']['requests']}) | {_kb(q['pf_fetch']['search'])} "
                f"({q['pf_fetch']['requests']}) |")
        problems = [q for q in r["queries"] if not q["browser_matches_node"] or q["errors"]
                    or not q["browser_shows_node_top"]
                    or (q["browser_count"] is not None and q["browser_count"] != q["ours"])]
        if problems:
            lines.append("")
            lines.append("Checks that failed (browser vs node run of search.js, page errors): "
                         + "; ".join(f"{q['query']}: browser {q['browser_count']} vs node "
                                     f"{q['ours']}, same files {q['browser_matches_node']}, "
                                     f"same first results {q['browser_shows_node_top']}, "
                                     f"errors {q['errors']}" for q in problems))
        else:
            lines.append("")
            lines.append("Check: for every query the browser fetched exactly the index files that "
                         "search.js fetches under node, showed the same hit count and the same "
                         "first results in the same order.")
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n\n"
    start = text.find(SECTION)
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        nxt = text.find("\n## ", start + len(SECTION))
        text = text[:start] + section + ("" if nxt == -1 else "\n" + text[nxt + 1:])
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--_helper-static":
        helper_static(argv[1], argv[2])
        return 0
    if argv and argv[0] == "--_helper-whoosh":
        helper_whoosh(argv[1], argv[2])
        return 0
    if argv and argv[0] == "--_helper-pagefind":
        helper_pagefind(argv[1], argv[2], argv[3], int(argv[4]))
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reports", type=int, nargs="+", default=[1000, 10000], metavar="N",
                   help="corpus sizes to run (default: 1000 10000)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--work", type=Path, default=Path("/tmp/sitegen-bench-static"),
                   help="scratch folder for corpora, sites and bundles")
    p.add_argument("--stock-sample", type=int, default=200, metavar="N",
                   help="records to time the stock Pagefind API on (it takes >= 0.1 s each)")
    p.add_argument("--results", type=Path, default=BENCH / "RESULTS.md")
    p.add_argument("--json", type=Path, default=None, help="also save the raw figures here")
    args = p.parse_args(argv)
    if not Path(CHROMIUM).exists():
        p.error(f"{CHROMIUM} not found: apt-get install chromium")
    if shutil.which("node") is None:
        p.error("node not found: apt-get install nodejs")
    args.work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    def log(msg: str) -> None:
        print(f"{time.perf_counter() - started:7.1f}s {msg}", file=sys.stderr, flush=True)

    results = [measure(n, args.seed, args.work, args.stock_sample, log) for n in args.reports]
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False), encoding="utf-8")
    section = report(results, args)
    write_section(args.results, section)
    print(section)
    log(f"done; wrote {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
