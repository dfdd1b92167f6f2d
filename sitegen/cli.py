"""The command line: argument parsing, printing diagnostics and summaries, exit codes.

Exit codes: 0 success, 1 content or build errors, 2 usage errors (argparse).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sitegen import __version__
from sitegen.build import BuildResult, Progress, build
from sitegen.config import SiteConfig, load_config
from sitegen.diagnostics import Diagnostic, Severity, has_errors
from sitegen.entities import MentionFix, add_to_front_matter
from sitegen.output import ignore_lease_breaks
from sitegen.parallel import default_jobs
from sitegen.slugs import slugify_name


def run() -> None:
    """The ``sitegen`` command: ``main``, then the process ends without tearing the
    interpreter down. A build leaves hundreds of thousands of objects (the model, the
    cache's entries) that the interpreter would free one by one at exit, about 0.1 s at
    10,000 reports, for nothing: by then everything ``main`` opened is closed (the build
    closes its cache and worker processes) and its output is flushed here.

    A reader that stops reading (``sitegen search ... | head``) ends the command quietly,
    as with other Unix tools: exit status 141 (128 + SIGPIPE), no traceback."""
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # what was still buffered cannot be written: point stdout at /dev/null so that
        # nothing tries again on the way out
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 141
    with contextlib.suppress(BrokenPipeError):
        sys.stderr.flush()
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    ignore_lease_breaks()  # sitegen uses no SIGIO of its own; see sitegen.output
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        print("interrupted; the previous output is unchanged", file=sys.stderr)
        return 130
    return code


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sitegen",
        description="Build a static archive of reports: a page per report, actor, location and "
                    "year, and a search index.")
    parser.add_argument("--version", action="version", version=f"sitegen {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    def site_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", type=Path, metavar="FILE",
                       help="site configuration (default: ./sitegen.yaml if present)")
        p.add_argument("--content", type=Path, metavar="DIR", help="folder of reports")
        p.add_argument("--output", type=Path, metavar="DIR", help="folder to build into")
        p.add_argument("--theme", metavar="DIR", help="theme folder or name")
        p.add_argument("--drafts", action="store_true", default=None,
                       help="include reports marked draft: true")
        p.add_argument("--strict", action="store_true", help="treat warnings as errors")
        p.add_argument("--quiet", "-q", action="store_true",
                       help="print only problems, no summary or progress bar")
        p.add_argument("--jobs", "-j", type=_positive, default=default_jobs(), metavar="N",
                       help="worker processes for Markdown and pages (default: all cores, "
                            f"{default_jobs()} here); the output is the same for any N")

    p = sub.add_parser("build", help="build the site into the output folder",
                       description="Build the site into a staging folder and swap it into the "
                                   "output folder when everything succeeded. Reports, pages "
                                   "and search entries whose inputs did not change since the "
                                   "last build are reused from the build cache (cache_dir); "
                                   "the output is the same as without it.")
    site_options(p)
    p.add_argument("--no-cache", action="store_true",
                   help="ignore the build cache (a cold build); the cache is not updated")
    p.add_argument("--timings", action="store_true",
                   help="print the seconds each stage took, after the summary (with --jobs "
                        "above 1 the search index is written beside the later stages: its "
                        "line is the time the build waited for it)")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser(
        "check", help="validate content and templates; write nothing (unless --fix)",
        description="Run every build stage without writing anything; report all problems. "
                    "Besides what 'build' reports, check runs the editor's check: a registered "
                    "actor or location (content/_data/*.yaml, any alias) named in a report's "
                    "text but not listed in its front matter is a warning "
                    "(entities.unlisted-mention). 'build' skips it, as it is noisy on an "
                    "archive that tags only the main actors and places.")
    site_options(p)
    p.add_argument("reports", nargs="*", type=Path, metavar="REPORT",
                   help="limit the editor's check (and --fix) to these report files; the "
                        "rest of the check still covers the whole site")
    p.add_argument("--fix", action="store_true",
                   help="add the names the editor's check finds to each report's actors or "
                        "locations list, rewriting only that line of the file (comments, "
                        "order and quoting are kept); prints every change")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("new", help="create a new report with front matter",
                       description="Write a new Markdown report under the content folder.")
    p.add_argument("title", help="the report's title")
    p.add_argument("--actor", action="append", default=[], metavar="NAME",
                   help="an actor (repeatable)")
    p.add_argument("--location", action="append", default=[], metavar="NAME",
                   help="a location (repeatable)")
    p.add_argument("--date", metavar="YYYY-MM-DD", help="report date (default: today)")
    p.add_argument("--config", type=Path, metavar="FILE")
    p.add_argument("--content", type=Path, metavar="DIR")
    p.set_defaults(func=cmd_new)

    p = sub.add_parser("search", help="search the built site's index",
                       description="Query the Whoosh index of a built site. QUERY uses Whoosh "
                                   "syntax: words, \"phrases\", AND/OR/NOT, actor:NAME, "
                                   "location:NAME, date:[2020 TO 2021].")
    p.add_argument("query", nargs="?", default="", help="text query (may be empty with filters)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--output", type=Path, metavar="DIR",
                       help="built site folder (default: the configured output)")
    where.add_argument("--index", type=Path, metavar="DIR", help="the index folder itself")
    p.add_argument("--config", type=Path, metavar="FILE")
    p.add_argument("--actor", action="append", default=[], metavar="NAME",
                   help="only reports naming this actor (any spelling; repeatable)")
    p.add_argument("--location", action="append", default=[], metavar="NAME",
                   help="only reports naming this location (any spelling; repeatable)")
    p.add_argument("--since", type=_iso_date, metavar="YYYY-MM-DD")
    p.add_argument("--until", type=_iso_date, metavar="YYYY-MM-DD")
    p.add_argument("--source", metavar="NAME", help="only reports from this source")
    p.add_argument("--sort", choices=("relevance", "date"), default="relevance")
    p.add_argument("--limit", type=int, default=10, metavar="N", help="hits per page (max 100)")
    p.add_argument("--page", type=int, default=1, metavar="N")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("serve", help="serve the built site with server-side search",
                       description="Serve the output folder, /search (HTML) and /api/search "
                                   "(JSON). Binds to 127.0.0.1 unless --host says otherwise.")
    p.add_argument("--config", type=Path, metavar="FILE")
    p.add_argument("--output", type=Path, metavar="DIR", help="built site folder")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks one)")
    p.add_argument("--watch", action="store_true",
                   help="build first, rebuild when content, themes or config change, and "
                        "reload open pages (a failed build shows its errors over the last good "
                        "site)")
    p.set_defaults(func=cmd_serve)
    return parser


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {value!r}")
    return int(value)


def _iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {value!r}") from None


def _config(args: argparse.Namespace) -> tuple[SiteConfig, list[Diagnostic]]:
    overrides: dict[str, Any] = {
        "content_dir": getattr(args, "content", None),
        "output_dir": getattr(args, "output", None),
        "theme": getattr(args, "theme", None),
        "drafts": getattr(args, "drafts", None),
    }
    if overrides["content_dir"] is not None:
        overrides["content_dir"] = overrides["content_dir"].absolute()
    if overrides["output_dir"] is not None:
        overrides["output_dir"] = overrides["output_dir"].absolute()
    if overrides["theme"] is not None and Path(overrides["theme"]).is_dir():
        overrides["theme"] = str(Path(overrides["theme"]).absolute())
    return load_config(args.config, overrides=overrides)


def print_diagnostics(diags: Sequence[Diagnostic], strict: bool = False) -> None:
    for d in diags:
        print(d.format(), file=sys.stderr)
    errors = sum(1 for d in diags if d.severity is Severity.ERROR)
    warnings = len(diags) - errors
    if errors or (strict and warnings):
        parts = []
        if errors:
            parts.append(f"{errors} error{'s' if errors != 1 else ''}")
        if warnings:
            parts.append(f"{warnings} warning{'s' if warnings != 1 else ''}"
                         + (" (--strict)" if strict else ""))
        print(f"sitegen: {', '.join(parts)}; nothing was written", file=sys.stderr)


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Progress | None]:
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn("{task.description:>9}"), BarColumn(), MofNCompleteColumn(),
                  transient=True, console=None) as bar:
        tasks: dict[str, Any] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


def _run(args: argparse.Namespace, write: bool) -> tuple[int, BuildResult | None]:
    config, diags = _config(args)
    if has_errors(diags):
        print_diagnostics(diags)
        return 1, None
    show_bar = not args.quiet and sys.stderr.isatty()
    with progress_bar(show_bar) as progress:
        result = build(config, strict=args.strict, write=write, progress=progress,
                       jobs=args.jobs, use_cache=not getattr(args, "no_cache", False))
    all_diags = [*diags, *result.diagnostics]
    print_diagnostics(all_diags, args.strict)
    return (0 if result.ok else 1), result


def cmd_build(args: argparse.Namespace) -> int:
    code, result = _run(args, write=True)
    if result is not None and result.ok and not args.quiet:
        s = result.stats
        seconds = sum(t for _, t in result.timings)
        print(f"Built {s.reports} reports ({s.drafts_skipped} drafts skipped), {s.actors} actors, "
              f"{s.locations} locations: {s.pages} pages, {s.files} files in {seconds:.2f} s "
              f"({s.reused} unchanged, reused from the build cache)")
    if result is not None and args.timings:
        print(format_timings(result.timings))
    return code


def format_timings(timings: Sequence[tuple[str, float]]) -> str:
    """The stages' wall seconds as a small table, with each one's share of the total."""
    total = sum(t for _, t in timings)
    width = max([len("stage"), *(len(name) for name, _ in timings)])
    lines = [f"{'stage':<{width}}  seconds  share"]
    lines += [f"{name:<{width}}  {t:7.2f}  {t / total if total else 0:5.0%}"
              for name, t in timings]
    lines.append(f"{'total':<{width}}  {total:7.2f}")
    return "\n".join(lines)


def cmd_check(args: argparse.Namespace) -> int:
    config, diags = _config(args)
    if has_errors(diags):
        print_diagnostics(diags)
        return 1
    show_bar = not args.quiet and sys.stderr.isatty()
    with progress_bar(show_bar) as progress:
        # --strict is applied below, to what is left after REPORT filtering and --fix, so
        # warnings that are filtered out or fixed never stop the later stages.
        result = build(config, write=False, progress=progress, jobs=args.jobs)
    wanted = {p.resolve() for p in args.reports}

    def chosen(shown: str) -> bool:  # diagnostics show "<content folder>/<path inside it>"
        return not wanted or (
            config.content_path.joinpath(*Path(shown).parts[1:]).resolve() in wanted)

    fixes = [f for f in result.fixes if chosen(f.path)] if args.fix else []
    fixed, failed = apply_fixes(config, fixes)
    remaining = [d for d in (*diags, *result.diagnostics)
                 if d.code != "entities.unlisted-mention"
                 or (chosen(d.path) and d.path not in fixed)]
    print_diagnostics(remaining, args.strict)
    for path, changes in fixed.items():
        for key, names in changes:
            print(f"{path}: added {', '.join(names)} to {key}")
    for message in failed:
        print(f"sitegen check --fix: {message}", file=sys.stderr)
    ok = not has_errors(remaining, args.strict) and not failed
    if ok and not args.quiet:
        _print_checked(result, remaining)
        if fixed:
            print(f"Fixed {len(fixed)} report{'s' if len(fixed) != 1 else ''}")
    return 0 if ok else 1


def _print_checked(result: BuildResult, diags: Sequence[Diagnostic]) -> None:
    s = result.stats
    warnings = sum(1 for d in diags if d.severity is Severity.WARNING)
    print(f"Checked {s.reports} reports, {s.actors} actors, {s.locations} locations, "
          f"{s.pages} pages: no errors, {warnings} warning{'s' if warnings != 1 else ''}")


def apply_fixes(config: SiteConfig, fixes: Sequence[MentionFix]
                ) -> tuple[dict[str, list[tuple[str, tuple[str, ...]]]], list[str]]:
    """``check --fix``: add the missing names to each report's front matter, in place.

    This is the one place sitegen rewrites a content file, and only when asked: the file is
    re-read, each list gets one edited line (``entities.add_to_front_matter``; every other
    byte is kept) and it is written back only if it changed. Returns the changes per file
    (as shown in diagnostics) and messages for files that could not be fixed.
    """
    by_path: dict[str, list[MentionFix]] = {}
    for fix in fixes:
        by_path.setdefault(fix.path, []).append(fix)
    fixed: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    failed: list[str] = []
    for shown, changes in by_path.items():
        # Diagnostics show "<content folder name>/<path inside it>".
        target = config.content_path.joinpath(*Path(shown).parts[1:])  # as in cmd_check
        try:
            raw = target.read_bytes()
            text = raw.decode("utf-8")
            for fix in changes:
                text = add_to_front_matter(text, fix.key, fix.names)
            if text.encode("utf-8") != raw:
                target.write_bytes(text.encode("utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else str(exc)
            failed.append(f"{shown}: not changed: {reason}")
            continue
        fixed[shown] = [(fix.key, fix.names) for fix in changes]
    return fixed, failed


def _yaml_str(value: str) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


def cmd_new(args: argparse.Namespace) -> int:
    config, diags = _config(args)
    if has_errors(diags):
        print_diagnostics(diags)
        return 1
    when = args.date or datetime.now().astimezone().date().isoformat()
    try:
        date.fromisoformat(when)
    except ValueError:
        print(f"sitegen new: --date {when!r}: expected YYYY-MM-DD",
              file=sys.stderr)
        return 2
    slug = slugify_name(args.title)
    target = config.content_path / when[:4] / f"{slug}.md"
    if target.exists():
        print(f"sitegen new: {target} already exists", file=sys.stderr)
        return 1
    lines = ["---", f"title: {_yaml_str(args.title)}", f"date: {when}",
             f"actors: [{', '.join(_yaml_str(a) for a in args.actor)}]",
             f"locations: [{', '.join(_yaml_str(loc) for loc in args.location)}]",
             "tags: []", 'summary: ""', 'source: ""', "draft: true", "---", "",
             "Write the report here.", ""]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(lines), encoding="utf-8")
    print(f"Created {target} (draft: true; remove that line to publish)")
    return 0




def cmd_search(args: argparse.Namespace) -> int:
    from sitegen.search.query import SearchIndex, SearchRequest

    if args.index is not None:
        index_dir = args.index
    else:
        config, diags = load_config(args.config, overrides={"output_dir": args.output})
        if has_errors(diags):
            print_diagnostics(diags)
            return 1
        index_dir = config.output_path / config.search_dir
    if not index_dir.is_dir():
        print(f"sitegen search: no search index in {index_dir}; run 'sitegen build' first",
              file=sys.stderr)
        return 1
    request = SearchRequest(q=args.query, actors=tuple(args.actor),
                            locations=tuple(args.location), since=args.since, until=args.until,
                            source=args.source, sort=args.sort, page=args.page,
                            page_size=args.limit)
    results = SearchIndex(index_dir).search(request)
    if args.json:
        print(results.to_json())
        return 0
    if results.message:
        print(f"note: {results.message}", file=sys.stderr)
    first = (results.page - 1) * results.page_size
    shown = f"{first + 1}-{first + len(results.hits)} of " if results.hits else ""
    print(f"{shown}{results.total} report{'s' if results.total != 1 else ''}"
          + (f" for {results.query!r}" if results.query else ""))
    for i, hit in enumerate(results.hits, start=first + 1):
        print(f"\n{i:>3}. {hit.date.isoformat()[:10]}  {hit.title}")
        print(f"     /{hit.url}")
        if hit.excerpt.text:
            print(f"     {hit.excerpt.text}")
    if results.suggestion and not results.hits:
        print(f"\nDid you mean: {results.suggestion}?")
    for kind in ("actors", "locations"):
        counts = results.facets.get(kind, ())
        if counts:
            print(f"\n{kind.capitalize()}: " + ", ".join(f"{n} ({c})" for n, _, c in counts))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from sitegen.server import SiteApp, make_wsgi_server

    config, diags = load_config(args.config, overrides={"output_dir": args.output})
    if has_errors(diags):
        print_diagnostics(diags)
        return 1
    live = None
    served: list[SiteApp] = []  # the app, once made: a rebuild warms its new index
    if args.watch:
        import threading

        from sitegen.watch import LiveState, start_watcher

        live = LiveState()
        result = build(config)
        live.record(result)
        print_diagnostics(result.diagnostics)

        def report(result: BuildResult) -> None:
            stamp = datetime.now().astimezone().strftime("%H:%M:%S")
            if result.ok:
                print(f"{stamp} rebuilt: {result.stats.reports} reports, "
                      f"{sum(t for _, t in result.timings):.2f} s", flush=True)
                for app in served:
                    app.warm()
            else:
                print(f"{stamp} build failed; still serving the last good site", flush=True)
                print_diagnostics(result.diagnostics)

        start_watcher(config, live, threading.Event(), on_build=report)
    if not (config.output_path / "index.html").is_file():
        print(f"sitegen serve: {config.output_path} holds no built site; run 'sitegen build' "
              "first", file=sys.stderr)
        return 1
    app = SiteApp(config, live=live)
    served.append(app)
    app.warm()
    server = make_wsgi_server(app, args.host, args.port)
    host, port = str(server.server_address[0]), int(server.server_address[1])
    print(f"Serving {config.output_path} at http://{host}:{port}{config.base_path} "
          "(Ctrl-C to stop)", flush=True)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print("warning: listening beyond this machine", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
