#!/usr/bin/env python3
"""Issue #8 item 4: the search server under load and attack, while rebuilds swap the site.

    .venv/bin/python bench/load_server.py [--clients 50] [--seconds 60] [--server both]
                                          [--site DIR] [--results bench/RESULTS.md | --no-results]

For each server (``sitegen serve``, and the same WSGI app under waitress), on 127.0.0.1 and a
free port, over a copy of the sample archive (or ``--site``: a site root with ``content/``
and ``sitegen.yaml``):

1. Three generations of the site are prepared first, each built in its own folder: the site
   as given, then with a report edited (a new sentence with a rare word), then with a new
   report added. The served copy starts as generation 0.
2. N client threads (``http.client``, one keep-alive connection each) send a fixed mix of
   requests for T seconds: words, phrases, actor and location filters (any spelling), date
   ranges and ``date:`` syntax, sort and paging, the HTML results page, hostile queries
   (unbalanced quotes, lone ``actor:``, ``*``, control characters, 1,000 characters, markup),
   the static pages, 404s and traversal attempts, and requests that must be refused (4xx:
   a huge query string, too many parameters, invalid percent-encoding, POST/PUT/DELETE).
3. Meanwhile the served site is rebuilt twice with ``sitegen build`` (generation 1, then 2),
   each swapping the whole output folder.
4. Every answer is checked against an oracle: the same app run in-process (``SiteApp``, the
   query module on each generation's own index), so the expected status and body bytes are
   known for every request and every generation. An answer is **wrong** unless its status
   and body equal the oracle's for a generation that was live at some moment between the
   request being sent and its answer arriving (generation k is live from the start of the
   k-th rebuild until the end of the next one). An **error** is a failed connection, a
   timeout, or a status the oracle does not give (a 5xx, say).
5. It reports requests, errors, wrong answers, p50/p99/max latency, and the server's RSS
   after warm-up, at the end and at its highest (sampled every 0.5 s).

It prints a Markdown summary and writes the "Search server under load" section of
bench/RESULTS.md (other sections are kept). ``--json`` prints the figures as JSON instead;
tests/test_load.py runs a short mode (``--seconds 10 --clients 20 --no-results --json``).
Needs ``waitress`` (in the test extras) for ``--server waitress|both``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import http.client
import json
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parent.parent
SECTION = "## Search server under load"
RARE = "zebrafinch"  # the word generations 1 and 2 add
EDIT = f"\n\nA later note: the {RARE} convoy was seen near the base.\n"
NEW_REPORT = f"""---
title: "Late report on the {RARE} convoy"
date: 2024-03-02
actors: ["Kataib Hezbollah"]
locations: [Iraq]
summary: "Added during the load benchmark."
---

The {RARE} convoy was reported again, this time near Baghdad.
"""


@dataclass(frozen=True, slots=True)
class Case:
    method: str
    path: str
    kind: str


@dataclass(slots=True)
class Outcome:
    case: Case
    sent: float
    done: float
    status: int | None  # None: the request failed
    digest: str = ""
    error: str = ""


@dataclass(slots=True)
class Run:
    server: str
    clients: int
    seconds: float
    outcomes: list[Outcome] = field(default_factory=list)
    rebuilds: list[tuple[float, float, int]] = field(default_factory=list)  # start, end, exit
    rss: list[tuple[float, int]] = field(default_factory=list)  # (time, KiB)
    started: float = 0.0


# --- the request mix --------------------------------------------------------------------


def request_mix(edited_path: str) -> list[Case]:
    def api(**params: Any) -> Case:
        return Case("GET", "/api/search?" + urlencode(params, doseq=True), "api")

    hostile = ['"unbalanced', "actor:", "*", "(((", "AND OR NOT", "\x01\x02 strike",
               "a" * 1000, "date:[2020 TO", 'location:"', "<script>alert(1)</script>",
               "Ḥalab", "كتائب", "x" * 490 + " drone", "strike^1000", "date:[2021 TO 2020]",
               "\\", "%", "'; DROP TABLE reports; --", "../../etc/passwd"]
    cases = [
        api(q="rockets"), api(q="strike"), api(q="drone"), api(q="Karbala airport"),
        api(q='"Camp Taji"'), api(q='"rocket attack"'), api(q=RARE), api(q=f"{RARE} convoy"),
        api(actor="Kata'ib Hezbollah"), api(actor="kataib-hezbollah", limit=100),
        api(location="Iraq", sort="date"), api(location="Karbala", actor="KH"),
        api(q="strike", since="2020-01-01", until="2020-12-31"),
        api(q="date:[2020 TO 2021]"), api(q="date:2024-01"), api(q="attack", page=2, limit=5),
        api(q="hezbolah"), api(actor="Kataib Hezbolah"), api(q="strikes", sort="date"),
        api(q="actor:\"Kata'ib Hezbollah\" rockets"), api(q="NOT drone"),
        *(api(q=q) for q in hostile),
        Case("GET", "/search/?" + urlencode({"q": "rockets"}), "html"),
        Case("GET", "/search/?" + urlencode({"q": RARE}), "html"),
        Case("GET", "/search/?" + urlencode({"q": "strike", "actor": "kataib-hezbollah",
                                             "page": "2"}), "html"),
        Case("GET", "/search/?" + urlencode({"q": "<img src=x onerror=alert(1)>"}), "html"),
        Case("GET", "/", "static"), Case("GET", "/" + edited_path, "static"),
        Case("GET", "/static/style.css", "static"), Case("GET", "/feed.xml", "static"),
        Case("GET", "/actors/kataib-hezbollah/", "static"), Case("GET", "/search/", "static"),
        Case("HEAD", "/", "static"), Case("GET", "/no/such/page/", "static"),
        Case("GET", "/actors", "static"),
        Case("GET", "/../sitegen.yaml", "attack"), Case("GET", "/%2e%2e/sitegen.yaml", "attack"),
        Case("GET", "/static/..%2f..%2fsitegen.yaml", "attack"),
        Case("GET", "/api/search?q=" + "a" * 5000, "attack"),
        Case("GET", "/api/search?" + "&".join(f"p{i}=1" for i in range(60)), "attack"),
        Case("GET", "/api/search?q=%zz", "attack"), Case("GET", "/api/search?q=%ff%fe", "attack"),
        Case("GET", "/api/search?page=0", "attack"), Case("GET", "/api/search?since=x", "attack"),
        Case("POST", "/api/search?q=x", "attack"), Case("PUT", "/", "attack"),
        Case("DELETE", "/index.html", "attack"),
    ]
    return cases


# --- the oracle -------------------------------------------------------------------------


def oracle(site_root: Path, cases: list[Case]) -> dict[Case, tuple[int, str]]:
    """(status, sha256 of the body) of every case, from the app run in-process on a built
    site."""
    sys.path.insert(0, str(REPO))
    from sitegen.config import load_config
    from sitegen.server import SiteApp

    config, diags = load_config(site_root / "sitegen.yaml")
    if any(d.severity.value == "error" for d in diags):
        raise SystemExit("\n".join(d.format() for d in diags))
    app = SiteApp(config)
    expected = {}
    for case in cases:
        path, _, query = case.path.partition("?")
        captured: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]],
                           captured: dict[str, Any] = captured) -> None:
            captured["status"] = int(status.split()[0])

        from urllib.parse import unquote
        environ = {"REQUEST_METHOD": case.method, "PATH_INFO": unquote(path, "latin-1"),
                   "QUERY_STRING": query}
        body = b"".join(app(environ, start_response))
        expected[case] = (captured["status"], hashlib.sha256(body).hexdigest())
    return expected


# --- sites ------------------------------------------------------------------------------


def build(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sitegen", "build", "--quiet"], cwd=root,
                          capture_output=True, text=True, timeout=600)


def prepare(source: Path, work: Path) -> tuple[list[Path], Path, str]:
    """Three built generations, a served copy of generation 0, and the edited report's
    URL path."""
    gens = [work / f"gen{k}" for k in range(3)]
    for gen in gens:
        shutil.copytree(source / "content", gen / "content")
        shutil.copy(source / "sitegen.yaml", gen / "sitegen.yaml")
    reports = sorted(p for p in (gens[0] / "content").rglob("*.md")
                     if not any(part.startswith(("_", ".")) for part in
                                p.relative_to(gens[0] / "content").parts))
    target = reports[len(reports) // 2].relative_to(gens[0] / "content")
    for gen in gens[1:]:
        with (gen / "content" / target).open("a", encoding="utf-8") as f:
            f.write(EDIT)
    (gens[2] / "content" / "zz-load-benchmark.md").write_text(NEW_REPORT, encoding="utf-8")
    procs = [subprocess.Popen([sys.executable, "-m", "sitegen", "build", "--quiet", "-j", "1"],
                              cwd=gen, stderr=subprocess.PIPE, text=True) for gen in gens]
    for gen, proc in zip(gens, procs, strict=True):
        _, err = proc.communicate(timeout=600)
        if proc.returncode != 0:
            raise SystemExit(f"building {gen} failed:\n{err}")
    served = work / "served"
    shutil.copytree(gens[0], served, symlinks=True)
    edited = _report_url(gens[0], gens[1])
    return gens, served, edited


def _report_url(before: Path, after: Path) -> str:
    """The report page that differs between two generations (the edited one)."""
    for path in sorted((before / "output/reports").rglob("index.html")):
        other = after / path.relative_to(before)
        if other.is_file() and other.read_bytes() != path.read_bytes():
            return path.relative_to(before / "output").as_posix().removesuffix("index.html")
    raise SystemExit("no report page changed between generations 0 and 1")


# --- servers ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(kind: str, root: Path, threads: int) -> Iterator[tuple[int, int]]:
    """Start a server over ``root``; yields (pid, port)."""
    port = free_port()
    env = {**os.environ, "SITEGEN_ROOT": str(root)}
    if kind == "sitegen":
        cmd = [sys.executable, "-m", "sitegen", "serve", "--config", str(root / "sitegen.yaml"),
               "--port", str(port)]
    else:
        cmd = [sys.executable, "-m", "waitress", "--listen", f"127.0.0.1:{port}",
               f"--threads={threads}", "--call", "sitegen.server:app_from_env"]
    # The server's log goes to a file: a pipe nobody reads fills up (waitress warns about
    # its task queue under load) and then blocks every thread that logs.
    with tempfile.TemporaryFile(mode="w+") as log:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=log)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        log.seek(0)
                        raise SystemExit(f"{kind} did not start:\n{log.read()}") from None
                    time.sleep(0.1)
            yield proc.pid, port
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


# --- the run ----------------------------------------------------------------------------


def client(port: int, cases: list[Case], stop: threading.Event, seed: int,
           out: list[Outcome]) -> None:
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while not stop.is_set():
        case = rng.choice(cases)
        sent = time.monotonic()
        try:
            conn.putrequest(case.method, case.path, skip_accept_encoding=True)
            conn.endheaders()
            resp = conn.getresponse()
            body = resp.read()
            done = time.monotonic()
            out.append(Outcome(case, sent, done, resp.status, hashlib.sha256(body).hexdigest()))
            if resp.getheader("Connection", "").lower() == "close" or resp.version == 10:
                conn.close()
        except (OSError, http.client.HTTPException) as exc:
            out.append(Outcome(case, sent, time.monotonic(), None, error=repr(exc)))
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.close()


def run_once(kind: str, gens: list[Path], served: Path, cases: list[Case], clients: int,
             seconds: float, threads: int, log: Callable[[str], None]) -> Run:
    run = Run(kind, clients, seconds)
    with serve(kind, served, threads) as (pid, port):
        per_client: list[list[Outcome]] = [[] for _ in range(clients)]
        stop = threading.Event()
        # warm up: one request of each kind, so the start RSS has the index open
        warm: list[Outcome] = []
        for case in cases:
            client_once(port, case, warm)
        run.started = time.monotonic()
        run.rss.append((0.0, rss_kib(pid)))
        workers = [threading.Thread(target=client, args=(port, cases, stop, 1000 + i,
                                                         per_client[i]), daemon=True)
                   for i in range(clients)]
        for w in workers:
            w.start()

        def rebuild(k: int) -> None:
            gen = gens[k]
            for src in (gen / "content").rglob("*"):
                dst = served / "content" / src.relative_to(gen / "content")
                if src.is_file() and (not dst.is_file() or dst.read_bytes() != src.read_bytes()):
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(src, dst)
            start = time.monotonic()
            proc = build(served)
            run.rebuilds.append((start, time.monotonic(), proc.returncode))
            log(f"  rebuild {k}: {time.monotonic() - start:.1f} s, exit {proc.returncode}")

        plan = [seconds / 3, 2 * seconds / 3]
        k = 1
        while True:
            now = time.monotonic() - run.started
            if k <= 2 and now >= plan[k - 1]:
                rebuild(k)
                k += 1
                continue
            if k > 2 and now >= seconds:
                break
            time.sleep(0.05)
            if int(now * 2) != int((now - 0.05) * 2):
                run.rss.append((now, rss_kib(pid)))
        stop.set()
        for w in workers:
            w.join(timeout=60)
        run.rss.append((time.monotonic() - run.started, rss_kib(pid)))
        for outcomes in per_client:
            run.outcomes.extend(outcomes)
    return run


def client_once(port: int, case: Case, out: list[Outcome]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest(case.method, case.path, skip_accept_encoding=True)
        conn.endheaders()
        conn.getresponse().read()
    except (OSError, http.client.HTTPException) as exc:
        out.append(Outcome(case, 0, 0, None, error=repr(exc)))
    finally:
        conn.close()


def live_generations(run: Run, sent: float, done: float) -> list[int]:
    """Generations that may have been in place at some moment in [sent, done]."""
    starts = [float("-inf")] + [s for s, _, _ in run.rebuilds]
    ends = [e for _, e, _ in run.rebuilds] + [float("inf")]
    return [k for k in range(len(starts)) if starts[k] <= done and ends[k] >= sent]


def judge(run: Run, expected: list[dict[Case, tuple[int, str]]]) -> dict[str, Any]:
    errors: Counter[str] = Counter()
    wrong: Counter[str] = Counter()
    by_kind: Counter[str] = Counter()
    latencies = []
    for o in run.outcomes:
        by_kind[o.case.kind] += 1
        if o.status is None:
            errors[f"{o.case.method} {o.case.path[:60]}: {o.error[:80]}"] += 1
            continue
        latencies.append(o.done - o.sent)
        gens = live_generations(run, o.sent, o.done)
        answers = {expected[k][o.case] for k in gens}
        if (o.status, o.digest) in answers:
            continue
        if o.status not in {status for status, _ in answers}:
            errors[f"{o.case.method} {o.case.path[:60]}: status {o.status}, expected "
                   f"{sorted({s for s, _ in answers})}"] += 1
        else:
            wrong[f"{o.case.method} {o.case.path[:60]} (generations {gens})"] += 1
    latencies.sort()
    rss = [kib for _, kib in run.rss if kib]
    span = max((o.done for o in run.outcomes), default=run.started) - run.started
    q = statistics.quantiles(latencies, n=100) if len(latencies) >= 2 else [0.0] * 99
    return {
        "server": run.server, "clients": run.clients, "seconds": round(span, 1),
        "requests": len(run.outcomes), "per_second": round(len(run.outcomes) / max(span, 1e-9)),
        "by_kind": dict(by_kind), "errors": sum(errors.values()), "wrong": sum(wrong.values()),
        "error_examples": dict(errors.most_common(5)), "wrong_examples": dict(wrong.most_common(5)),
        "p50_ms": round(1000 * q[49], 1), "p99_ms": round(1000 * q[98], 1),
        "max_ms": round(1000 * (latencies[-1] if latencies else 0), 1),
        "rss_start_mib": round(rss[0] / 1024, 1) if rss else None,
        "rss_end_mib": round(rss[-1] / 1024, 1) if rss else None,
        "rss_max_mib": round(max(rss) / 1024, 1) if rss else None,
        "rebuilds": [{"seconds": round(e - s, 1), "exit": c, "at": round(s - run.started, 1)}
                     for s, e, c in run.rebuilds],
    }


# --- report -----------------------------------------------------------------------------


def markdown(results: list[dict[str, Any]], argv: list[str], cases: int) -> str:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                             capture_output=True, text=True).stdout.strip()
    except OSError:
        rev = "?"
    lines = [
        SECTION, "",
        f"Run {when} with `python bench/load_server.py{''.join(' ' + a for a in argv)}` "
        f"(git {rev}). "
        f"Machine: {os.cpu_count()} cores, {platform.platform()}, Python "
        f"{platform.python_version()}.", "",
        f"Each client thread sends requests back to back, picked at random from a mix of "
        f"{cases} (JSON API, HTML results, static pages, hostile queries, and requests that "
        "must get a 4xx), while the site is rebuilt twice (`sitegen build` swapping the output "
        "folder). An answer is *wrong* unless its status and body bytes equal those of the same "
        "app run in-process on a generation of the site that was live while the request was "
        "in flight; an *error* is a failed connection or an unexpected status.", "",
        "| server | clients | seconds | requests (per s) | errors | wrong | p50 | p99 | max | "
        "RSS after warm-up / end / max | rebuilds during the run | load average after |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for r in results:
        rebuilds = ", ".join(f"{b['seconds']} s at {b['at']} s (exit {b['exit']})"
                             for b in r["rebuilds"])
        lines.append(
            f"| {r['server']} | {r['clients']} | {r['seconds']} | {r['requests']:,} "
            f"({r['per_second']}) | {r['errors']} | {r['wrong']} | {r['p50_ms']} ms | "
            f"{r['p99_ms']} ms | {r['max_ms']} ms | {r['rss_start_mib']} / {r['rss_end_mib']} / "
            f"{r['rss_max_mib']} MiB | {rebuilds} | "
            f"{' / '.join(str(x) for x in r.get('load_average', []))} |")
    for r in results:
        for label in ("error_examples", "wrong_examples"):
            if r[label]:
                lines += ["", f"{r['server']}, {label.replace('_', ' ')}:", ""]
                lines += [f"- {k}: {v}" for k, v in r[label].items()]
    lines += ["", "`sitegen serve` is wsgiref with a thread per connection; waitress ran with "
              f"`--threads={results[0].get('threads', 8) if results else 8}`. The load "
              "generator runs on the same machine and shares its cores.", ""]
    return "\n".join(lines)


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
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--server", choices=("sitegen", "waitress", "both"), default="both")
    p.add_argument("--threads", type=int, default=8, help="waitress worker threads")
    p.add_argument("--site", type=Path, default=REPO,
                   help="site root with content/ and sitegen.yaml (default: the sample)")
    p.add_argument("--results", type=Path, default=REPO / "bench" / "RESULTS.md")
    p.add_argument("--no-results", action="store_true", help="do not write RESULTS.md")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = p.parse_args(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    kinds = ["sitegen", "waitress"] if args.server == "both" else [args.server]
    results = []
    with tempfile.TemporaryDirectory(prefix="sitegen-load-") as tmp:
        work = Path(tmp)
        log("building three generations of the site...")
        gens, served, edited = prepare(args.site, work)
        cases = request_mix(edited)
        expected = [oracle(gen, cases) for gen in gens]
        for kind in kinds:
            shutil.rmtree(served)
            shutil.copytree(gens[0], served, symlinks=True)
            log(f"{kind}: {args.clients} clients for {args.seconds:g} s")
            run = run_once(kind, gens, served, cases, args.clients, args.seconds,
                           args.threads, log)
            result = judge(run, expected)
            result["threads"] = args.threads
            result["load_average"] = [round(x, 1) for x in os.getloadavg()]
            results.append(result)
            log(f"  {result['requests']} requests, {result['errors']} errors, "
                f"{result['wrong']} wrong, p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms")
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        section = markdown(results, argv, len(cases))
        print(section)
        if not args.no_results:
            write_section(args.results, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
