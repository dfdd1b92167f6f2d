"""The search server: a WSGI application serving the built site, ``/search`` (HTML, rendered
by the theme) and ``/api/search`` (JSON), both through ``search.query``.

It is read-only: it never writes into the output folder, serves no file outside it (``..``,
encoded traversal and symlinks that escape are refused), answers only GET and HEAD, and adds
security headers to every response. Because ``sitegen build`` swaps the output folder
atomically, a request is answered from either the old or the new site, and the query module
reopens the newest index. Run it with ``sitegen serve`` (loopback by default) or under any WSGI
server, e.g. ``waitress-serve --call sitegen.server:app_from_env``.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import os
import re
import socketserver
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qs, urlencode
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from jinja2 import Environment

from sitegen import __version__, render, slugs
from sitegen.config import SiteConfig
from sitegen.search.query import SearchIndex, SearchRequest, SearchResults
from sitegen.themes import theme_chain
from sitegen.watch import LiveState

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
MAX_QUERY_STRING = 4096
MAX_PATH = 2048
MAX_PARAMS = 40
SECURITY_HEADERS = [
    ("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; "
     "img-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; "
     "frame-ancestors 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("X-Frame-Options", "DENY"),
]
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_SWAP_RETRIES = 5  # rebuilds finishing during one search, in a row, before we give up
_T = TypeVar("_T")


class BadRequest(Exception):
    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class ActiveFilter:
    kind: str
    slug: str
    name: str
    remove_url: str


@dataclass(frozen=True, slots=True)
class FacetLink:
    name: str
    slug: str
    count: int
    url: str  # the current search narrowed to this term


@dataclass(frozen=True, slots=True)
class SearchPage(render.PageContext):
    query: str = field(metadata={"help": "The text query as typed."})
    results: SearchResults | None = field(metadata={"help": "Results (None: no query yet)."})
    filters: tuple[ActiveFilter, ...] = field(metadata={"help": "Active actor/location filters."})
    actor_facets: tuple[FacetLink, ...] = field(metadata={"help": "Actors over all matches."})
    location_facets: tuple[FacetLink, ...] = field(metadata={"help": "Locations over matches."})
    prev_url: str | None = field(metadata={"help": "Previous page of results."})
    next_url: str | None = field(metadata={"help": "Next page of results."})
    suggestion_url: str | None = field(metadata={"help": "The search for the suggestion."})
    sort: str = field(metadata={"help": "'relevance' or 'date'."})
    error: str | None = field(metadata={"help": "Why the request could not be answered."})


class SiteApp:
    """The WSGI application."""

    def __init__(self, config: SiteConfig, env: Environment | None = None,
                 live: LiveState | None = None) -> None:
        self.config = config
        self.live = live
        self.root = config.output_path
        self.index = SearchIndex(self.root / config.search_dir)
        if env is None:
            chain, _ = theme_chain(config)
            env = render.make_env(chain, config.base_path, config.language, config.base_url)
        self.env = env
        self.base = config.base_path

    def warm(self) -> threading.Thread:
        """Open the search index in a background thread, so the first search after the
        server starts (or after a rebuild replaced the index) does not wait for it: opening
        reads every report's actors and locations and the date order, about 0.6 s at
        10,000 reports. A search that comes meanwhile waits for the same opening."""
        thread = threading.Thread(target=lambda: self.index.available,
                                  name="sitegen-search-warm", daemon=True)
        thread.start()
        return thread

    # -- WSGI ---------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            if method not in ("GET", "HEAD"):
                raise BadRequest("405 Method Not Allowed", "only GET and HEAD are allowed")
            status, headers, body = self.route(environ)
        except BadRequest as exc:
            status, headers, body = self.error_page(exc.status, str(exc))
            if exc.status.startswith("405"):
                headers.append(("Allow", "GET, HEAD"))
        except Exception:
            log.exception("error answering %s", environ.get("PATH_INFO"))
            status, headers, body = self.error_page("500 Internal Server Error",
                                                    "the server could not answer this request")
        if self.live is not None and status.startswith(("200", "404")) and any(
                k == "Content-Type" and v.startswith("text/html") for k, v in headers):
            body = self.inject_live(body)
        headers = [*headers, *SECURITY_HEADERS]
        if not any(k == "Content-Length" for k, _ in headers):
            headers.append(("Content-Length", str(len(body))))
        start_response(status, headers)
        return [b""] if method == "HEAD" else [body]

    def route(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        path = environ.get("PATH_INFO", "/") or "/"
        if len(path) > MAX_PATH:
            raise BadRequest("414 URI Too Long", "the path is too long")
        if not path.startswith(self.base.rstrip("/") or "/"):
            return self.not_found()
        local = path[len(self.base) - 1:] if self.base != "/" else path
        if local == "/_sitegen/status" and self.live is not None:
            snap = self.live.snapshot()
            body = json.dumps({"generation": snap.generation, "errors": snap.errors}).encode()
            return "200 OK", [("Content-Type", "application/json"),
                              ("Cache-Control", "no-store")], body
        if local == "/_sitegen/livereload.js" and self.live is not None:
            script = (Path(__file__).parent / "livereload.js").read_bytes()
            return "200 OK", [("Content-Type", "text/javascript; charset=utf-8"),
                              ("Cache-Control", "no-store")], script
        if local in ("/api/search", "/api/search/"):
            params = self.params(environ)
            return self.api_search(params)
        if local in ("/search", "/search/") and environ.get("QUERY_STRING"):
            params = self.params(environ)
            return self.html_search(params)
        return self.static(local)

    # -- requests -----------------------------------------------------------------------
    def params(self, environ: dict[str, Any]) -> dict[str, list[str]]:
        raw = environ.get("QUERY_STRING", "")
        if len(raw) > MAX_QUERY_STRING:
            raise BadRequest("414 URI Too Long", "the query string is too long")
        if _BAD_PERCENT.search(raw):
            raise BadRequest("400 Bad Request", "invalid percent-encoding in the query string")
        try:
            return parse_qs(raw, keep_blank_values=False, max_num_fields=MAX_PARAMS,
                            errors="strict")
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadRequest("400 Bad Request", f"invalid query string: {exc}") from None

    def request(self, params: dict[str, list[str]]) -> SearchRequest:
        def one(name: str) -> str | None:
            values = params.get(name)
            return values[0] if values else None

        def day(name: str) -> date | None:
            value = one(name)
            if not value:
                return None
            try:
                return date.fromisoformat(value)
            except ValueError:
                raise BadRequest("400 Bad Request", f"{name}: expected YYYY-MM-DD") from None

        def number(name: str, default: int, high: int) -> int:
            value = one(name)
            if value is None:
                return default
            if not value.isdigit() or not 1 <= int(value) <= high:
                raise BadRequest("400 Bad Request", f"{name}: expected a number 1-{high}")
            return int(value)

        sort: Literal["relevance", "date"] = "relevance"
        if one("sort") == "date":
            sort = "date"
        elif one("sort") not in (None, "relevance"):
            raise BadRequest("400 Bad Request", "sort: expected relevance or date")
        return SearchRequest(
            q=one("q") or "", actors=tuple(params.get("actor", [])),
            locations=tuple(params.get("location", [])), since=day("since"),
            until=day("until"), source=one("source"), sort=sort,
            page=number("page", 1, 10_000), page_size=number("limit", 10, 100))

    def api_search(self, params: dict[str, list[str]]) -> tuple[str, list[tuple[str, str]],
                                                                bytes]:
        request = self.request(params)
        results = self.one_generation(lambda: self.index.search(request))
        body = json.dumps(results.as_dict(), ensure_ascii=False).encode("utf-8")
        return "200 OK", [("Content-Type", "application/json; charset=utf-8"),
                          ("Cache-Control", "no-store")], body

    def html_search(self, params: dict[str, list[str]]) -> tuple[str, list[tuple[str, str]],
                                                                 bytes]:
        request = self.request(params)

        def answer() -> bytes:
            results = self.index.search(request)
            return self.render("search_results.html", self.search_page(request, results))

        return "200 OK", [("Content-Type", "text/html; charset=utf-8"),
                          ("Cache-Control", "no-store")], self.one_generation(answer)

    def generation(self) -> tuple[int, int] | None:
        """Identifies the index folder in place: a build swaps in a new one (another inode)."""
        try:
            st = self.index.index_dir.stat()
        except OSError:
            return None
        return (st.st_dev, st.st_ino)

    def one_generation(self, answer: Callable[[], _T]) -> _T:
        """``answer()``, computed again if a build swapped the output while it ran. Whoosh
        reads index files by path, lazily, so a search that spans a swap can mix two
        generations' files (wrong totals, facets or excerpts) or fail; an answer during which
        the index folder stayed the same comes from one build."""
        for attempt in range(_SWAP_RETRIES):
            before = self.generation()
            try:
                result = answer()
            except Exception:
                if attempt + 1 < _SWAP_RETRIES and self.generation() != before:
                    continue
                raise
            if self.generation() == before:
                return result
        return result

    def search_page(self, request: SearchRequest, results: SearchResults) -> SearchPage:
        def link(base: SearchRequest = request, /, **changes: Any) -> str:
            state: dict[str, Any] = {"q": base.q, "actor": list(base.actors),
                                     "location": list(base.locations),
                                     "sort": base.sort if base.sort != "relevance" else "",
                                     "page": ""}
            state.update(changes)
            pairs = [(k, v) for k, vs in state.items()
                     for v in (vs if isinstance(vs, list) else [vs]) if v not in ("", None)]
            return "search/?" + urlencode(pairs)

        names = {kind: self.index.names(kind) for kind in ("actor", "location")}
        filters = []
        for kind, chosen in (("actor", request.actors), ("location", request.locations)):
            for value in chosen:
                slug = slugs.slugify_name(value)
                rest = [v for v in chosen if v != value]
                filters.append(ActiveFilter(kind, slug, names[kind].get(slug, value),
                                            link(**{kind: rest})))

        def facets(kind: str, key: str) -> tuple[FacetLink, ...]:
            chosen = request.actors if kind == "actor" else request.locations
            return tuple(FacetLink(name, slug, count, link(**{kind: [*chosen, slug]}))
                         for name, slug, count in results.facets.get(key, ())
                         if slug not in {slugs.slugify_name(c) for c in chosen})

        pages = max(1, -(-results.total // max(1, results.page_size)))
        return SearchPage(
            site=self.site_view(), page_url="search/", page_title=(
                f"Search: {request.q}" if request.q else "Search"),
            sitegen_version=__version__, query=request.q, results=results,
            filters=tuple(filters), actor_facets=facets("actor", "actors"),
            location_facets=facets("location", "locations"),
            prev_url=link(page=str(results.page - 1)) if results.page > 1 else None,
            next_url=link(page=str(results.page + 1)) if results.page < pages else None,
            suggestion_url=(link(results.suggested_request) if results.suggested_request
                            else link(q=results.suggestion) if results.suggestion else None),
            sort=request.sort, error=results.message)

    def site_view(self) -> render.SiteView:
        def summaries(kind: str) -> tuple[render.TermSummary, ...]:
            return tuple(sorted((render.TermSummary(slug, name, slugs.term_url(kind, slug), 0)
                                 for slug, name in self.index.names(kind).items()),
                                key=lambda t: t.name.casefold()))

        c = self.config
        return render.SiteView(
            title=c.title, description=c.description, base_url=c.base_url,
            base_path=c.base_path, language=c.language, nav=render.site_nav(),
            report_count=self.index.doc_count(), actors=summaries("actor"),
            locations=summaries("location"), extra=c.extra)

    def render(self, template: str, page: render.PageContext) -> bytes:
        text = self.env.get_template(template).render(render.context_dict(page) | {"page": page})
        return text.encode("utf-8")

    def inject_live(self, body: bytes) -> bytes:
        """Watch mode: add the reload script, and the error overlay while the build fails."""
        from html import escape

        assert self.live is not None
        snap = self.live.snapshot()
        parts = [f'<script src="{self.base}_sitegen/livereload.js" '
                 f'data-status="{self.base}_sitegen/status" defer></script>']
        if snap.errors:
            items = "".join(f"<li><code>{escape(e)}</code></li>" for e in snap.errors)
            parts.append('<div class="sitegen-overlay" role="alert" id="sitegen-build-error">'
                         "<h2>The last build failed</h2><p>Showing the last good site. Fix "
                         f"these and save again:</p><ul>{items}</ul></div>")
        marker = b"</body>"
        insert = "".join(parts).encode("utf-8")
        if marker in body:
            return body.replace(marker, insert + marker, 1)
        return body + insert

    # -- files --------------------------------------------------------------------------
    def static(self, local: str) -> tuple[str, list[tuple[str, str]], bytes]:
        target = resolve_inside(self.root, local)
        if target is None:
            return self.not_found()
        try:  # stat can fail with more than "not found": a name over 255 bytes, say
            if target.is_dir():
                if not local.endswith("/"):
                    return "301 Moved Permanently", [("Location", self.base + local.lstrip("/")
                                                      + "/")], b""
                target = target / "index.html"
            body = target.read_bytes() if target.is_file() else None
        except OSError:
            body = None
        if body is None:
            return self.not_found()
        ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype in ("application/javascript", "application/json"):
            ctype += "; charset=utf-8"
        return "200 OK", [("Content-Type", ctype)], body

    def not_found(self) -> tuple[str, list[tuple[str, str]], bytes]:
        page = self.root / "404.html"
        try:
            body = page.read_bytes()
        except OSError:
            body = b"<!doctype html><title>Not found</title><h1>Not found</h1>"
        return "404 Not Found", [("Content-Type", "text/html; charset=utf-8")], body

    def error_page(self, status: str, message: str) -> tuple[str, list[tuple[str, str]], bytes]:
        from html import escape

        body = (f"<!doctype html><html lang=en><meta charset=utf-8><title>{escape(status)}"
                f"</title><h1>{escape(status)}</h1><p>{escape(message)}</p></html>")
        return status, [("Content-Type", "text/html; charset=utf-8")], body.encode("utf-8")


def resolve_inside(root: Path, local: str) -> Path | None:
    """The file a URL path names inside ``root``, or None if it would leave it."""
    if "\x00" in local or "\\" in local:
        return None
    parts = [p for p in local.split("/") if p]
    if any(p in ("..", ".") or p.startswith("..") for p in parts):
        return None
    root_real = Path(os.path.realpath(root))
    candidate = Path(os.path.realpath(root_real.joinpath(*parts)))
    if candidate != root_real and not candidate.is_relative_to(root_real):
        return None
    return candidate


# -- running --------------------------------------------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    # The listen backlog. socketserver's default of 5 overflows as soon as a few dozen
    # clients connect at once (one connection per request: wsgiref speaks HTTP/1.0), and
    # the kernel then drops their SYNs: they retry after 1 s, 3 s... (latency, not errors).
    request_queue_size = 128


def make_wsgi_server(app: Callable[..., Iterable[bytes]], host: str = "127.0.0.1",
                     port: int = 8000) -> WSGIServer:
    return make_server(host, port, app, server_class=ThreadingWSGIServer,
                       handler_class=_QuietHandler)


def app_from_env() -> SiteApp:
    """Factory for WSGI servers: the site root is $SITEGEN_ROOT (default: the current folder)."""
    from sitegen.config import load_config

    root = Path(os.environ.get("SITEGEN_ROOT", "."))
    config, diags = load_config(None, root=root)
    if any(d.severity.value == "error" for d in diags):
        raise SystemExit("\n".join(d.format() for d in diags))
    app = SiteApp(config)
    app.warm()
    return app


