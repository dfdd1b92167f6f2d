"""Incremental builds (issue #7): the build cache never changes the output.

Each step changes the sample archive the way an editor would, builds incrementally (with the
cache of the steps before), builds the same content cold in a fresh folder, and compares the
two outputs file by file, the Whoosh index by the answers it gives (``snapshot``).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, snapshot

from sitegen import publish
from sitegen.build import PAGE_REFS, BuildResult, build
from sitegen.cache import DB_NAME
from sitegen.config import load_config
from sitegen.diagnostics import warning
from sitegen.model import RenderedBody, StoredBody
from sitegen.search import index as search_index


def copy_sample(root: Path) -> Path:
    shutil.copytree(REPO / "content", root / "content")
    shutil.copy(REPO / "sitegen.yaml", root / "sitegen.yaml")
    return root


def run(root: Path, **options: object) -> BuildResult:
    config, diags = load_config(None, root=root)
    assert diags == []
    result = build(config, **{"jobs": 1, **options})  # type: ignore[arg-type]
    assert result.ok, [d.format() for d in result.diagnostics]
    return result


def cold(root: Path, tmp: Path) -> dict[str, str]:
    """The output of a cold build of ``root``'s content and settings, in a fresh folder."""
    fresh = tmp / "cold"
    shutil.rmtree(fresh, ignore_errors=True)
    shutil.copytree(root, fresh, ignore=shutil.ignore_patterns("output", ".sitegen-cache"))
    run(fresh, use_cache=False)
    return snapshot(fresh / "output")


def reports(root: Path) -> list[Path]:
    return sorted((root / "content").glob("20*/*.md"))


def edit_body(root: Path) -> None:
    path = reports(root)[3]
    path.write_text(path.read_text(encoding="utf-8") + "\nA zebrafinch was seen nearby.\n",
                    encoding="utf-8")


def retag(root: Path) -> None:
    path = reports(root)[5]
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("\nactors:", "\nactors: [Incremental Test Militia]\nold_actors:",
                                 1), encoding="utf-8")


def add_report(root: Path) -> None:
    (root / "content/2024/new-report.md").write_text(
        "---\ntitle: Drone strike near Karbala airport\ndate: 2024-03-02\n"
        "actors: [Kataib Hezbollah, CENTCOM]\nlocations: [Karbala]\n"
        "summary: A new report.\n---\n\nA drone struck a depot near Karbala airport.\n",
        encoding="utf-8")


def rename_report(root: Path) -> None:
    path = reports(root)[7]
    path.rename(path.with_name("renamed-" + path.name))


def delete_report(root: Path) -> None:
    reports(root)[1].unlink()


def edit_registry(root: Path) -> None:
    path = root / "content/_data/actors.yaml"
    text = path.read_text(encoding="utf-8")
    assert "Kataib Hezbollah" in text
    path.write_text(text.replace("Kataib Hezbollah", "Kata'ib Hizballah", 1), encoding="utf-8")


def edit_config(root: Path) -> None:
    path = root / "sitegen.yaml"
    lines = [line for line in path.read_text(encoding="utf-8").splitlines()
             if not line.startswith("page_size:")]
    path.write_text("\n".join([*lines, "page_size: 3", ""]), encoding="utf-8")


STEPS: list[tuple[str, Callable[[Path], None]]] = [
    ("edit a body", edit_body), ("retag a report", retag), ("add a report", add_report),
    ("rename a report", rename_report), ("delete a report", delete_report),
    ("edit the registry", edit_registry), ("change the config", edit_config),
]


def test_incremental_builds_equal_cold_builds_byte_for_byte(tmp_path: Path) -> None:
    root = copy_sample(tmp_path / "site")
    first = run(root)
    assert first.stats.parsed == first.stats.reports + 1  # the draft is parsed too
    assert snapshot(root / "output") == cold(root, tmp_path)
    for name, change in STEPS:
        change(root)
        result = run(root)
        assert snapshot(root / "output") == cold(root, tmp_path), name
        assert result.stats.parsed <= 1, name  # only the changed report is parsed again
        if name != "change the config":
            assert result.stats.reused > 0, name


def test_unchanged_rebuild_rewrites_no_page(tmp_path: Path) -> None:
    root = copy_sample(tmp_path / "site")
    run(root)
    page = next((root / "output/reports").rglob("index.html"))
    inode = page.stat().st_ino
    again = run(root)
    assert again.stats.parsed == 0
    assert again.stats.bytes < 200_000  # only the theme's static files are copied again
    assert again.stats.reused >= again.stats.pages
    assert page.stat().st_ino == inode  # the same file, linked into the new output


def test_an_edit_rerenders_its_page_not_the_others(tmp_path: Path) -> None:
    root = copy_sample(tmp_path / "site")
    run(root)
    before = {p: p.stat().st_ino for p in (root / "output/reports").rglob("index.html")}
    edit_body(root)
    result = run(root)
    changed = {p for p, ino in before.items() if p.stat().st_ino != ino}
    [edited] = [p for p in changed if "zebrafinch" in p.read_text(encoding="utf-8")]
    link = "/" + edited.parent.relative_to(root / "output").as_posix() + "/"
    # Re-rendered: the edited page alone. Its neighbours in time and the pages listing it
    # as related link to it, but show its title and date, not its body (see BodyAccess).
    linking = {p for p in before if p != edited and
               f'href="{link}"' in p.read_text(encoding="utf-8")}
    assert linking and changed == {edited}
    assert result.stats.parsed == 1
    assert snapshot(root / "output") == cold(root, tmp_path)


def test_theme_change_rerenders_pages_but_reuses_bodies(tmp_path: Path) -> None:
    root = copy_sample(tmp_path / "site")
    theme = root / "themes/mine/templates"
    theme.mkdir(parents=True)
    (root / "sitegen.yaml").write_text((root / "sitegen.yaml").read_text(encoding="utf-8")
                                       + "\ntheme: mine\n", encoding="utf-8")
    run(root)
    builtin = (REPO / "themes/default/templates/report.html").read_text(encoding="utf-8")
    (theme / "report.html").write_text(builtin.replace("</article>", "<p>NEW</p></article>", 1),
                                       encoding="utf-8")
    result = run(root)
    assert result.stats.parsed == 0
    assert all("<p>NEW</p>" in p.read_text(encoding="utf-8")
               for p in (root / "output/reports").rglob("index.html"))
    assert snapshot(root / "output") == cold(root, tmp_path)


def test_cached_reports_keep_their_bodies_in_the_cache(tmp_path: Path) -> None:
    """With a cache, the model holds each body's toc and word count; its HTML and text are
    read back from the cache when asked for, equal to a fresh render's."""
    root = copy_sample(tmp_path / "site")
    fresh = run(root, use_cache=False).site
    for first in (run(root).site, run(root).site):  # just rendered, then from the cache
        assert fresh is not None and first is not None
        assert [type(r.body) for r in fresh.reports] == [RenderedBody] * len(fresh.reports)
        assert [type(r.body) for r in first.reports] == [StoredBody] * len(first.reports)
        assert [(r.body.html, r.body.text, r.body.toc, r.body.word_count)
                for r in first.reports] == [
            (r.body.html, r.body.text, r.body.toc, r.body.word_count) for r in fresh.reports]


def test_a_page_changed_by_hand_in_the_output_is_rebuilt(tmp_path: Path) -> None:
    root = copy_sample(tmp_path / "site")
    run(root)
    page = next((root / "output/reports").rglob("index.html"))
    page.write_text("tampered", encoding="utf-8")
    run(root)
    assert page.read_text(encoding="utf-8") != "tampered"
    assert snapshot(root / "output") == cold(root, tmp_path)


def corrupt_file(cache: Path) -> None:
    (cache / DB_NAME).write_bytes(b"this is not a database" * 100)
    for extra in cache.glob(f"{DB_NAME}-*"):
        extra.unlink()


def flip_a_byte(cache: Path, table: str) -> None:
    """Flip the middle byte of one entry of ``table``."""
    with sqlite3.connect(cache / DB_NAME) as db:
        key, value = db.execute(f"SELECT key, value FROM {table} LIMIT 1").fetchone()
        damaged = bytearray(value)
        damaged[len(damaged) // 2] ^= 0xFF
        db.execute(f"UPDATE {table} SET value = ? WHERE key = ?", (bytes(damaged), key))


def corrupt_entry(cache: Path) -> None:
    flip_a_byte(cache, "docs")


def forge_entry(cache: Path) -> None:
    """A well-formed entry (right checksum) that would run code if it were unpickled."""
    import hashlib
    import pickle

    payload = pickle.dumps(os.system)
    blob = hashlib.blake2b(payload, digest_size=16).digest() + payload
    with sqlite3.connect(cache / DB_NAME) as db:
        db.execute("UPDATE docs SET value = ?", (blob,))


def corrupt_body(cache: Path) -> None:
    flip_a_byte(cache, "bodies")


def drop_body(cache: Path) -> None:
    with sqlite3.connect(cache / DB_NAME) as db:
        db.execute("DELETE FROM bodies WHERE key IN (SELECT key FROM bodies LIMIT 1)")


def forge_body(cache: Path) -> None:
    """A well-formed body (right checksum) that is not (html, text)."""
    from sitegen.cache import dumps

    with sqlite3.connect(cache / DB_NAME) as db:
        db.execute("UPDATE bodies SET value = ?", (dumps(("only html",)),))


def foreign(cache: Path) -> None:
    with sqlite3.connect(cache / DB_NAME) as db:
        db.execute("UPDATE meta SET value = '0.0.1' WHERE key = 'sitegen'")


def other_code(cache: Path) -> None:
    """Made by other sitegen code under the same version (a commit between releases)."""
    with sqlite3.connect(cache / DB_NAME) as db:
        assert db.execute("UPDATE meta SET value = 'x' WHERE key = 'code'").rowcount == 1


@pytest.mark.parametrize(("damage", "jobs"), [
    (corrupt_file, 1), (corrupt_entry, 1), (forge_entry, 1), (foreign, 1), (other_code, 1),
    (corrupt_body, 1),
    (drop_body, 1), (forge_body, 1), (corrupt_body, 2), (drop_body, 2)])
def test_a_damaged_or_foreign_cache_is_discarded_with_a_warning(
        tmp_path: Path, damage: Callable[[Path], None], jobs: int) -> None:
    """Report bodies are read from the cache by whichever stage needs them (the search
    index rebuilds the sample's one segment here), in worker processes with ``jobs=2``."""
    root = copy_sample(tmp_path / "site")
    run(root)
    edit_body(root)
    damage(root / ".sitegen-cache")
    result = run(root, jobs=jobs)
    codes = [d.code for d in result.diagnostics]
    assert "cache.discarded" in codes
    assert result.stats.parsed >= result.stats.reports  # nothing trusted: all parsed again
    assert snapshot(root / "output") == cold(root, tmp_path)
    again = run(root)  # and the rebuilt cache works
    assert again.stats.parsed == 0 and "cache.discarded" not in [
        d.code for d in again.diagnostics]


def test_no_cache_builds_cold_and_leaves_the_cache_alone(tmp_path: Path) -> None:
    root = copy_sample(tmp_path / "site")
    run(root, use_cache=False)
    assert not (root / ".sitegen-cache").exists()
    first = run(root)
    assert first.stats.parsed == first.stats.reports + 1


def test_a_cache_folder_inside_the_output_is_refused(tmp_path: Path) -> None:
    root = copy_sample(tmp_path / "site")
    config, _ = load_config(None, root=root, overrides={"cache_dir": "output/cache"})
    result = build(config)
    assert not result.ok
    assert [d.code for d in result.diagnostics] == ["config.cache-dir"]


def segment_files(index: Path) -> set[str]:
    return {p.name.split(".")[0] for p in index.glob("MAIN_*.*")}


@pytest.mark.parametrize("jobs", [1, 2])
def test_index_updated_segment_by_segment_answers_as_a_fresh_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: int) -> None:
    """With segments of 4 reports, each change re-indexes only the segments it touches and
    the answers (scores, order, facets, suggestions) still equal a fresh index's. With
    ``jobs=2`` the new segments are written side by side in two processes."""
    monkeypatch.setattr(search_index, "MIN_CHUNK", 4)
    root = copy_sample(tmp_path / "site")
    run(root, jobs=jobs)
    index = root / ".sitegen-cache/whoosh"
    assert len(segment_files(index)) == 5  # 19 reports in segments of 4
    for name, change in STEPS[:5]:
        before = segment_files(index)
        change(root)
        run(root, jobs=jobs)
        after = segment_files(index)
        assert snapshot(root / "output") == cold(root, tmp_path), name
        assert len(before & after) >= 2, name  # most segments kept as they were
    assert len(segment_files(index)) <= 5 + search_index.SMALL_SEGMENTS


@pytest.mark.parametrize("jobs", [1, 2])
def test_an_edit_shares_its_segment_out_over_the_index_writers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: int) -> None:
    """An edit re-indexes the one segment that held the report: with two index writers,
    each writes half of it (a new segment each), and the answers still equal a fresh
    index's."""
    monkeypatch.setattr(search_index, "MIN_CHUNK", 8)
    monkeypatch.setattr(search_index, "MIN_SPLIT", 2)
    root = copy_sample(tmp_path / "site")
    run(root, jobs=jobs)
    index = root / ".sitegen-cache/whoosh"
    before = segment_files(index)
    assert len(before) == 3  # 19 reports in segments of 8
    edit_body(root)
    run(root, jobs=jobs)
    after = segment_files(index)
    assert len(before - after) == 1 and len(after - before) == jobs
    assert snapshot(root / "output") == cold(root, tmp_path)


def test_a_reused_stage_reports_its_warnings_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Feeds and exports are reused whole when nothing they show changed; the warnings that
    stage gave are given again, though it did not run."""
    calls = []
    real = publish.publish_files

    def publish_files(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        files, found = real(*args, **kwargs)
        return files, [*found, warning("publish.test", "feed.xml", "a stage warning")]

    monkeypatch.setattr(publish, "publish_files", publish_files)
    root = copy_sample(tmp_path / "site")
    first = run(root)
    again = run(root)
    assert len(calls) == 1  # the second build reused the stage
    assert "publish.test" in [d.code for d in first.diagnostics]
    assert again.diagnostics == first.diagnostics


def test_an_edit_rewrites_only_the_feeds_that_list_the_report(tmp_path: Path) -> None:
    root = copy_sample(tmp_path / "site")
    run(root)
    feeds = sorted((root / "output").glob("*/*/feed.xml"))
    before = {p: p.stat().st_ino for p in feeds}
    edit_body(root)
    run(root)
    changed = {p.parent.name for p, ino in before.items() if p.stat().st_ino != ino}
    [page] = [p for p in (root / "output/reports").rglob("index.html")
              if "zebrafinch" in p.read_text(encoding="utf-8")]
    url = page.parent.relative_to(root / "output").as_posix() + "/"
    listing = {p.parent.name for p in feeds if url in p.read_text(encoding="utf-8")}
    assert changed == listing and 0 < len(changed) < len(feeds)


def test_the_previous_site_is_recycled_and_never_changed_in_place(tmp_path: Path) -> None:
    """After a swap the old site becomes ``.output.spare``, the next build's staging folder.
    Its files share inodes with the live site: a re-rendered page must be a new file, so a
    reader holding the live page open still reads the old one."""
    root = copy_sample(tmp_path / "site")
    run(root)
    run(root)
    spare = root / ".output.spare"
    assert spare.is_dir()
    pages = sorted((root / "output/reports").rglob("index.html"))
    handles = [p.open("rb") for p in pages]
    try:
        before = [h.read() for h in handles]
        edit_body(root)
        result = run(root)
        assert result.stats.reused > len(pages) / 2
        for h, old in zip(handles, before, strict=True):
            h.seek(0)
            assert h.read() == old  # the open (old) file kept its bytes
    finally:
        for h in handles:
            h.close()
    assert any("zebrafinch" in p.read_text(encoding="utf-8") for p in pages)
    assert snapshot(root / "output") == cold(root, tmp_path)
    assert not list(root.glob(".output.staging-*"))


def test_a_tampered_spare_folder_is_not_trusted(tmp_path: Path) -> None:
    root = copy_sample(tmp_path / "site")
    run(root)
    run(root)
    spare = root / ".output.spare"
    (spare / "junk.html").write_text("junk", encoding="utf-8")
    shutil.rmtree(spare / "archive")
    (spare / "archive").write_text("a file where a folder was", encoding="utf-8")
    page = next((spare / "reports").rglob("index.html"))
    page.unlink()
    page.write_text("a different file at a page's path", encoding="utf-8")
    (spare / "feed.xml").unlink()
    outside = tmp_path / "outside.txt"
    outside.write_text("outside", encoding="utf-8")
    (spare / "feed.xml").symlink_to(outside)
    (spare / "_search").mkdir(exist_ok=True)
    (spare / "_search" / "stray").write_text("x", encoding="utf-8")
    (spare / "junk/deeper/still").mkdir(parents=True)  # a stray tree, and an empty folder
    (spare / "junk/deeper/still/page.html").write_text("junk", encoding="utf-8")
    (spare / "empty").mkdir()
    other = next(p for p in (spare / "actors").rglob("index.html"))
    other.unlink()
    (other / "inside").mkdir(parents=True)  # a folder where a page's file was
    (other / "inside" / "x.html").write_text("x", encoding="utf-8")
    edit_body(root)
    run(root)
    assert snapshot(root / "output") == cold(root, tmp_path)
    assert not (root / "output/junk").exists() and not (root / "output/empty").exists()
    assert not (root / "output/junk.html").exists()
    assert not (root / "output/feed.xml").is_symlink()
    assert outside.read_text(encoding="utf-8") == "outside"


def test_a_spare_that_is_a_symlink_is_not_followed(tmp_path: Path) -> None:
    root = copy_sample(tmp_path / "site")
    run(root)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("keep", encoding="utf-8")
    (root / ".output.spare").symlink_to(elsewhere)
    edit_body(root)
    run(root)
    assert (elsewhere / "keep.txt").read_text(encoding="utf-8") == "keep"
    assert sorted(p.name for p in elsewhere.iterdir()) == ["keep.txt"]
    assert snapshot(root / "output") == cold(root, tmp_path)


def test_per_report_static_weights_survive_a_build_that_reused_the_stage(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A build with nothing changed reuses the static search whole; the next edit must still
    find every other report's weights in the cache (and compute one)."""
    from sitegen import build as build_module

    root = copy_sample(tmp_path / "site")
    run(root)
    run(root)
    computed: list[str] = []
    real = build_module.report_weights

    def counting(report: Any, *args: Any) -> Any:
        computed.append(report.url)
        return real(report, *args)

    monkeypatch.setattr(build_module, "report_weights", counting)
    edit_body(root)
    run(root)
    assert len(computed) == 1


def count_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The report files read from now on (``content.read_source``), as content paths."""
    from sitegen import content

    reads: list[str] = []
    real = content.read_source

    def counting(folder: Path, rel: Path, **kw: Any) -> Any:
        reads.append(rel.as_posix())
        return real(folder, rel, **kw)

    monkeypatch.setattr(content, "read_source", counting)
    return reads


def test_unchanged_reports_are_not_read_again(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A report whose size, inode, mtime and ctime are those recorded is not read again;
    any change, even one that puts the mtime back, is."""
    from sitegen import content

    monkeypatch.setattr(content, "RACY_NS", 0)  # the files were just written
    root = copy_sample(tmp_path / "site")
    run(root)
    reads = count_reads(monkeypatch)
    run(root)
    assert reads == []
    path = reports(root)[3]
    before = path.stat()
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("the", "teh", 1), encoding="utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # the old mtime, same size
    run(root)
    # read to hash it, then again by the worker that parses it (bytes are not held between)
    assert reads == [path.relative_to(root / "content").as_posix()] * 2
    assert snapshot(root / "output") == cold(root, tmp_path)
    for name, change in STEPS:
        change(root)
        run(root)
        assert snapshot(root / "output") == cold(root, tmp_path), name


def test_a_cold_build_reads_each_report_once(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """With a cache that holds no report, a file's key cannot find anything: it is read
    once, by the worker that parses it (which gives its key), not hashed first; the next
    build still knows each file by its stat. A cache that holds reports hashes a changed
    file first (see above), since its bytes may be stored already."""
    from sitegen import content

    monkeypatch.setattr(content, "RACY_NS", 0)
    root = copy_sample(tmp_path / "site")
    reads = count_reads(monkeypatch)
    run(root)
    names = sorted(p.relative_to(root / "content").as_posix()
                   for p in (root / "content").rglob("*.md"))
    assert sorted(reads) == names
    reads.clear()
    run(root)
    assert reads == []
    assert snapshot(root / "output") == cold(root, tmp_path)


def test_a_report_changed_just_now_is_read_even_if_its_times_match(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sitegen import content

    root = copy_sample(tmp_path / "site")
    run(root)
    reads: list[str] = []
    real = content.read_source
    monkeypatch.setattr(content, "read_source",
                        lambda folder, rel, **kw: reads.append(rel) or real(folder, rel, **kw))
    run(root)
    assert len(reads) == len(list((root / "content").rglob("*.md")))  # all too recent


def test_an_edit_updates_the_static_postings_of_its_terms_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sitegen import build as build_module
    from sitegen.cache import BuildCache

    # the postings are cached in parts: make it many parts
    monkeypatch.setattr(build_module, "_TEXTS_PART", 2_000)
    parts: list[int] = []  # the parts each build stored
    real_put = BuildCache.put_memo

    def put_memo(self: BuildCache, key: bytes, value: Any) -> None:
        if isinstance(value, dict) and value and all(
                isinstance(k, str) and isinstance(v, str) and v.startswith("[[")
                for k, v in value.items()):
            parts[-1] += 1
        real_put(self, key, value)

    monkeypatch.setattr(BuildCache, "put_memo", put_memo)
    root = copy_sample(tmp_path / "site")
    parts.append(0)
    run(root)
    assert parts[0] > 10
    full: list[int] = []
    real = build_module.posting_texts
    monkeypatch.setattr(build_module, "posting_texts",
                        lambda weights: full.append(1) or real(weights))
    for name, change in (("edit a body", edit_body), ("retag a report", retag)):
        change(root)
        parts.append(0)
        run(root)
        assert full == [], name  # updated from the last build's postings
        # only the parts holding a changed posting are stored again
        assert 0 < parts[-1] < parts[0], name
        assert snapshot(root / "output") == cold(root, tmp_path), name
        full.clear()  # the cold build made them afresh
        parts.append(0)
    add_report(root)
    run(root)
    assert len(full) == 1  # new doc ids: made afresh
    assert snapshot(root / "output") == cold(root, tmp_path)


def test_an_edit_fingerprints_only_the_pages_that_show_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the site's structure unchanged (a body edit), a page whose references (the
    bodies it read) all kept their keys is linked without being fingerprinted; a change of
    structure (a title) fingerprints every page again. Either way the output is a cold
    build's."""
    from sitegen.fingerprint import Fingerprints

    seen: list[str] = []
    original = Fingerprints.page

    def counting(self: Fingerprints, templates: Any, context: Any) -> bytes:
        seen.append(context.page_url)
        return original(self, templates, context)

    monkeypatch.setattr(Fingerprints, "page", counting)
    root = copy_sample(tmp_path / "site")
    first = run(root)
    assert len(seen) == first.stats.pages
    seen.clear()
    edit_body(root)
    edited = run(root)
    fingerprinted = list(seen)
    assert 0 < len(fingerprinted) < edited.stats.pages / 3
    assert snapshot(root / "output") == cold(root, tmp_path)
    # the edited report's own page is among them
    assert [u for u in fingerprinted if u.startswith("reports/") and "zebrafinch" in (
        root / "output" / u / "index.html").read_text(encoding="utf-8")]
    seen.clear()
    path = reports(root)[4]
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("\ntitle: ", "\ntitle: Retitled ", 1), encoding="utf-8")
    retitled = run(root)
    assert len(seen) == retitled.stats.pages
    assert snapshot(root / "output") == cold(root, tmp_path)


def test_a_page_refs_entry_that_disagrees_with_the_file_record_is_not_trusted(
        tmp_path: Path) -> None:
    """The page references are stored with each page's fingerprint; an entry whose
    fingerprint is not the page's file record (left by a build that stopped before its
    swap, say) makes the page go through the workers, never a blind link."""
    root = copy_sample(tmp_path / "site")
    run(root)
    db = sqlite3.connect(root / ".sitegen-cache" / DB_NAME)
    from sitegen.cache import dumps, loads
    [(key, value)] = [(k, v) for k, v in db.execute("SELECT key, value FROM memo")
                      if k == PAGE_REFS]
    structure, refs = loads(value)
    assert any(str(u).endswith("index.html") for u in refs)
    # no references at all (so every page would pass) under fingerprints of no page
    forged = (structure, dict.fromkeys(refs, (b"\0" * 16, b"")))
    db.execute("UPDATE memo SET value = ? WHERE key = ?", (dumps(forged), key))
    db.commit()
    db.close()
    edit_body(root)
    result = run(root)
    assert snapshot(root / "output") == cold(root, tmp_path)
    assert result.stats.reused > 0


def test_cached_reports_load_through_their_init_and_round_trip() -> None:
    """A parsed report is stored as its class and field values (rebuilt by ``__init__``,
    not dataclasses' ``__setstate__``, which took most of the time of loading the cache):
    what comes back equals what went in, front-matter marks, extra fields and diagnostics
    included."""
    import pickletools

    from sitegen import content
    from sitegen.cache import dumps, loads

    raw = (b"---\ntitle: \"Strikes near Karbala\"\ndate: 2024-02-03T10:00:00+03:00\n"
           b"actors: [Kata'ib Hezbollah, CENTCOM]\nlocations: [Karbala]\n"
           b"custom: {a: 1}\nsummary: x\n---\n\nBody *text*.\n")
    doc, found = content.parse_source(raw, "2024/x.md", "UTC")
    assert doc is not None and doc.marks
    value = (doc, (*found, warning("test.kind", "2024/x.md", "a note", 3, 4)), None)
    blob = dumps(value)
    assert loads(blob) == value
    ops = {op.name for op, _, _ in pickletools.genops(blob[16:])}
    assert "BUILD" not in ops  # no object filled in by __setstate__
    # the marks travel as one string, made into Mark objects only when a diagnostic asks
    names = {arg for op, arg, _ in pickletools.genops(blob[16:]) if op.name.endswith("UNICODE")}
    assert "Marks" in names and "Mark" not in names
    assert dict(loads(blob)[0].marks) == dict(doc.marks)


def _swap_a_word(path: Path, old: str, new: str) -> None:
    """Replace the body's first ``old`` word with ``new``: same word count."""
    head, sep, body = path.read_text(encoding="utf-8").partition("\n---\n")
    assert f" {old} " in body
    path.write_text(head + sep + body.replace(f" {old} ", f" {new} ", 1), encoding="utf-8")


def test_a_body_edit_reuses_the_exports_unless_the_body_stands_in_for_the_summary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Feeds, sitemap and exports show a report's fields, its word count, and its body
    only where it has no summary (the feed's and exports' summary is then cut from the
    body): a same-length body edit of a report with a summary reuses them; the same edit
    of a report without one makes them again. Both equal cold builds."""
    root = copy_sample(tmp_path / "site")
    bare = reports(root)[6]
    text = bare.read_text(encoding="utf-8")
    bare.write_text("\n".join(line for line in text.split("\n")
                              if not line.startswith("summary:")), encoding="utf-8")
    calls = []
    real = publish.publish_files

    def publish_files(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(publish, "publish_files", publish_files)
    run(root)
    _swap_a_word(reports(root)[3], "the", "a")
    run(root)
    assert len(calls) == 1  # the stage was reused whole
    assert snapshot(root / "output") == cold(root, tmp_path)
    records = (root / "output" / publish.REPORTS_JSON_URL).read_text(encoding="utf-8")
    calls.clear()
    _swap_a_word(bare, "the", "zebrafinch")
    run(root)
    assert len(calls) == 1
    assert (root / "output" / publish.REPORTS_JSON_URL).read_text(encoding="utf-8") != records
    assert snapshot(root / "output") == cold(root, tmp_path)


@pytest.mark.parametrize("jobs", [1, 2])
def test_lists_that_show_bodies_follow_a_body_edit(tmp_path: Path, jobs: int) -> None:
    """A page is linked unrendered only while the bodies it read are unchanged
    (``BodyAccess``). In a theme whose list entries show each report's word count and
    opening words, through the ``cached`` fragments, a body edit re-renders every list the
    report is on (the home page, its year, its actors' and places' pages, the reports
    listing it as related), as a cold build has them; in the default theme, whose entries
    show no body, it re-renders the report's own page alone."""
    root = copy_sample(tmp_path / "site")
    theme = root / "themes/mine/templates"
    theme.mkdir(parents=True)
    macros = (REPO / "themes/default/templates/_macros.html").read_text(encoding="utf-8")
    summary = '{% if report.summary %}<p class="summary">{{ report.summary }}</p>{% endif %}'
    assert summary in macros
    (theme / "_macros.html").write_text(macros.replace(summary, (
        '<p class="opening">{{ report.body.text[:40] }} '
        '({{ report.body.word_count }} words)</p>')), encoding="utf-8")
    (root / "sitegen.yaml").write_text((root / "sitegen.yaml").read_text(encoding="utf-8")
                                       + "\ntheme: mine\n", encoding="utf-8")
    run(root, jobs=jobs)
    pages = {p: p.stat().st_ino for p in (root / "output").rglob("*.html")}
    path = reports(root)[3]
    text = path.read_text(encoding="utf-8")
    head = text.index("\n---\n", 4) + 5
    path.write_text(text[:head] + "\nZebrafinches first. " + text[head:] + "\nMore words.\n",
                    encoding="utf-8")
    run(root, jobs=jobs)
    assert snapshot(root / "output") == cold(root, tmp_path)
    changed = {p for p, ino in pages.items() if p.stat().st_ino != ino}
    showing = {p for p in pages if "Zebrafinches first" in p.read_text(encoding="utf-8")}
    assert len(showing) > 3 and showing <= changed


def test_the_cache_records_exactly_the_live_files_after_each_change(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache writes only the rows that changed; after every kind of change its file
    records are still exactly the live output's files (same size, time and inode) and its
    sources exactly the content's reports."""
    from sitegen import content

    monkeypatch.setattr(content, "RACY_NS", 0)  # files just written are recorded too
    root = copy_sample(tmp_path / "site")
    run(root)
    for name, change in STEPS:
        change(root)
        run(root)
        db = sqlite3.connect(root / ".sitegen-cache" / DB_NAME)
        files = {rel: (size, mtime, ino) for rel, size, mtime, ino in db.execute(
            "SELECT relpath, size, mtime_ns, inode FROM files")}
        sources = {path for (path,) in db.execute("SELECT path FROM sources")}
        db.close()
        output = root / "output"
        live = {p.relative_to(output).as_posix(): p.stat() for p in output.rglob("*")
                if p.is_file() and not p.relative_to(output).as_posix().startswith(
                    ("_search/", "static/"))}
        assert files.keys() == live.keys(), name
        assert all(files[rel] == (st.st_size, st.st_mtime_ns, st.st_ino)
                   for rel, st in live.items()), name
        assert sources == {p.relative_to(root).as_posix()
                           for p in (root / "content").rglob("*.md")}, name


def test_a_cached_report_places_its_warnings_where_the_first_build_did(
        tmp_path: Path) -> None:
    """A report read from the cache keeps its front matter's line and column marks (held
    packed until a diagnostic asks), so the registry's warnings point at the same place."""
    root = copy_sample(tmp_path / "site")
    (root / "content/2024/typo.md").write_text(
        "---\ntitle: A typo\ndate: 2024-03-02\nsummary: x\n"
        "actors:   [CENTCOM, Kataib Hezbolah]\nlocations: [Karbala]\n---\n\nBody.\n",
        encoding="utf-8")
    first = [d.format() for d in run(root).diagnostics]
    second = run(root)
    assert second.stats.parsed == 0  # every report from the cache
    assert [d.format() for d in second.diagnostics] == first
    assert any(d.startswith("content/2024/typo.md:5:") and "Kataib Hezbolah" in d
               for d in first)
