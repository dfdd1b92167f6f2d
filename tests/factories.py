"""Small model objects for the search tests: reports, term references and terms."""

from __future__ import annotations

from datetime import UTC, datetime

from sitegen.model import RenderedBody, Report, Term, TermRef
from sitegen.slugs import slugify_name


def ref(kind: str, name: str) -> TermRef:
    slug = slugify_name(name)
    return TermRef(kind, slug, name, f"{kind}s/{slug}/")  # type: ignore[arg-type]


def make_report(url: str, title: str, when: str = "2021-03-04", body: str = "",
                summary: str = "", actors: tuple[str, ...] = (),
                locations: tuple[str, ...] = (), source: str | None = None,
                tags: tuple[str, ...] = ()) -> Report:
    date = datetime.fromisoformat(when)
    if date.tzinfo is None:
        date = date.replace(tzinfo=UTC)
    slug = url.rstrip("/").rsplit("/", 1)[-1]
    return Report(
        source=f"{slug}.md", slug=slug, url=url, title=title, date=date,
        date_has_time="T" in when, updated=None, summary=summary, source_name=source,
        source_url=None, author=None, tags=tags,
        actors=tuple(ref("actor", a) for a in actors),
        locations=tuple(ref("location", loc) for loc in locations),
        body=RenderedBody(html="", text=body, toc=(), word_count=len(body.split())),
        draft=False)


def make_term(kind: str, name: str, *spellings: str) -> Term:
    slug = slugify_name(name)
    return Term(kind, slug, name, f"{kind}s/{slug}/",  # type: ignore[arg-type]
                tuple((s, 1) for s in (name, *spellings)), ())
