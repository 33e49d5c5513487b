"""Rendered documents as files (feedsvc/export.py) and nginx serving them (deploy/nginx-files.conf).

The files must equal the store after renders, edits and forgets, be replaced atomically,
be repaired on start; and real nginx with the shipped configuration, in front of a real
`feedsvc serve`, must answer like the app does and fall back to it for everything else.
"""

from __future__ import annotations

import dataclasses
import gzip
import http.client
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from feedsvc import db, demo, publishing, taxonomy
from feedsvc.config import Settings
from feedsvc.export import Exporter, file_for, write_atomically
from feedsvc.jobs import Renderer
from feedsvc.models import RenderedFeed
from feedsvc.types import FeedKey
from tests.conftest import Clock
from tests.support.service import (
    HOST,
    Reply,
    Service,
    free_port,
    running_service,
    service_env,
    wait_for,
)

ROOT = Path(__file__).resolve().parent.parent

# nginx serving a file answers with its own ETag, "<mtime>-<size>" in hex; the app's are
# a SHA-256 prefix, so a proxied answer never looks like this.
STATIC_ETAG = re.compile(r'^"[0-9a-f]+-[0-9a-f]+"$')


@pytest.fixture
def export_dir(tmp_path: Path) -> Path:
    return tmp_path / "export"


@pytest.fixture
def exporting(
    sessions: sessionmaker[Session], settings: Settings, clock: Clock, export_dir: Path
) -> Renderer:
    """A scheduler that writes files, over the demo content."""
    settings = dataclasses.replace(settings, export_dir=str(export_dir))
    renderer = Renderer(sessions, settings, clock=clock, holder="test-exporter")
    with db.transaction(sessions) as session:
        demo.load(session, clock(), settings)
    renderer.sweep()
    return renderer


def assert_files_equal_store(sessions: sessionmaker[Session], root: Path) -> int:
    """Every exported document's file and .gz hold the stored bytes; no other file exists."""
    expected: set[Path] = set()
    with sessions() as session:
        for row in session.scalars(select(RenderedFeed)):
            target = file_for(root, row.key, row.format, row.sealed)
            assert target is not None, row.key
            zipped = target.with_name(target.name + ".gz")
            assert target.read_bytes() == row.body, target
            assert zipped.read_bytes() == row.body_gzip, zipped
            assert target.stat().st_mtime == pytest.approx(row.last_modified.timestamp())
            expected.update((target, zipped))
    found = {p for p in root.rglob("*") if p.is_file()}
    assert found == expected
    return len(expected)


def test_files_follow_renders_edits_and_forgets(
    exporting: Renderer, sessions: sessionmaker[Session], clock: Clock, export_dir: Path
) -> None:
    assert assert_files_equal_store(sessions, export_dir) > 0
    assert (export_dir / "_" / "live" / "feeds" / "tags" / "yuyao.rss").is_file()
    assert (export_dir / "zh-hans" / "live" / "feeds" / "all.atom.gz").is_file()

    settings = exporting.settings
    with db.transaction(sessions) as session:
        fields = {
            "title": "匯出檔案的新文章",
            "status": "published",
            "published_at": clock(),
            "tags": ["匯出測試"],
        }
        article_id = publishing.create_article(session, fields, clock(), settings).id
    clock.advance(seconds=1)
    exporting.tick()
    assert_files_equal_store(sessions, export_dir)
    tag_file = export_dir / "_" / "live" / "feeds" / "tags" / "huichuceshi.json"
    assert "匯出檔案的新文章" in tag_file.read_text("utf-8")

    with db.transaction(sessions) as session:
        publishing.update_article(session, article_id, {"status": "retracted"}, clock(), settings)
    clock.advance(seconds=1)
    exporting.tick()
    assert_files_equal_store(sessions, export_dir)
    all_rss = export_dir / "_" / "live" / "feeds" / "all.rss"
    assert "匯出檔案的新文章" not in all_rss.read_text("utf-8")

    with db.transaction(sessions) as session:
        taxonomy.delete_tag(session, "huichuceshi", clock())
    clock.advance(seconds=1)
    exporting.tick()
    assert not tag_file.exists()
    assert assert_files_equal_store(sessions, export_dir) > 0


def test_start_repairs_changed_missing_and_stray_files(
    exporting: Renderer, sessions: sessionmaker[Session], export_dir: Path
) -> None:
    live = export_dir / "_" / "live" / "feeds"
    (live / "all.rss").write_bytes(b"<rss>tampered</rss>")
    (live / "tags" / "yuyao.atom.gz").unlink()
    stray = live / "tags" / "gone-long-ago.rss"
    stray.write_bytes(b"old")
    report = Exporter(sessions, export_dir).resync()
    assert report.written == 2
    assert report.deleted == 1
    assert assert_files_equal_store(sessions, export_dir) > 0


def test_a_new_scheduler_resyncs_on_its_first_tick(
    exporting: Renderer, sessions: sessionmaker[Session], clock: Clock, export_dir: Path
) -> None:
    shutil.rmtree(export_dir)
    successor = Renderer(sessions, exporting.settings, clock=clock, holder="test-exporter")
    successor.tick()
    assert assert_files_equal_store(sessions, export_dir) > 0


def test_replacing_a_file_never_shows_a_partial_one(tmp_path: Path) -> None:
    target = tmp_path / "feeds" / "all.rss"
    old, new = b"a" * 3_000_000, b"b" * 5_000_000
    write_atomically(target, old, 1_000_000)
    seen: set[bytes] = set()
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            data = target.read_bytes()
            seen.add(data[:1] * len(data))  # only whole documents compare equal below

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(20):
            write_atomically(target, new if i % 2 else old, 1_000_000 + i)
    finally:
        done.set()
        reader.join()
    assert seen <= {old, new}
    assert target.read_bytes() == new
    assert os.stat(target).st_mtime == 1_000_019


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "feeds" / "all.rss"
    write_atomically(target, b"old bytes", 1_000_000)
    with pytest.raises(OverflowError):
        write_atomically(target, b"new bytes", 1e300)  # utime refuses: after the write
    assert target.read_bytes() == b"old bytes"
    assert [p.name for p in target.parent.iterdir()] == ["all.rss"]


# --- real nginx in front of a real `feedsvc serve` ---------------------------------------


def nginx_conf(work: Path, port: int, upstream: int, export_dir: Path) -> Path:
    """deploy/nginx-files.conf as shipped, only the lines marked `bench:` rewritten."""
    text = (ROOT / "deploy" / "nginx-files.conf").read_text()
    user = "user root;" if os.geteuid() == 0 else ""  # the test's files are private to it
    for old, new in [
        ("user www-data;", user),
        ("worker_processes auto;", "worker_processes 1;"),
        ("/run/nginx-feedsvc-files.pid", f"{work}/nginx.pid"),
        ("/var/log/nginx/feedsvc-error.log", f"{work}/nginx-error.log"),
        ("/var/log/nginx/feedsvc-access.log", f"{work}/nginx-access.log"),
        ("/var/lib/feedsvc/export", str(export_dir)),
        ("listen 80 reuseport;", f"listen {HOST}:{port};"),
        ("server 127.0.0.1:8000;", f"server {HOST}:{upstream};"),
    ]:
        assert old in text, f"deploy/nginx-files.conf lost {old!r}"
        text = text.replace(old, new)
    conf = work / "nginx.conf"
    conf.write_text(text)
    return conf


@dataclasses.dataclass(frozen=True)
class Front:
    port: int

    def get(self, path: str, headers: dict[str, str] | None = None) -> Reply:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
        try:
            conn.request("GET", path, headers=headers or {})
            response = conn.getresponse()
            return Reply(response.status, response.headers, response.read())
        finally:
            conn.close()


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Front, Service]]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        pytest.skip("nginx is not installed (scripts/debian-packages.sh installs it)")
    work = tmp_path_factory.mktemp("front")
    export_dir = work / "export"
    env = service_env(work / "feedsvc.db", FEEDSVC_EXPORT_DIR=str(export_dir))
    with running_service(work, env) as service:
        wait_for(
            lambda: (export_dir / "_" / "live" / "feeds" / "all.rss").exists(),
            "the scheduler exported the site-wide feed",
        )
        port = free_port()
        conf = nginx_conf(work, port, service.port, export_dir)
        with (work / "nginx.out").open("wb") as out:
            process = subprocess.Popen(
                [nginx, "-c", str(conf), "-g", "daemon off;"],
                stdout=subprocess.DEVNULL,
                stderr=out,
            )
        try:
            result = Front(port)

            def answers() -> bool:
                try:
                    return result.get("/healthz").status == 200
                except OSError:
                    return False

            wait_for(answers, "nginx answers", detail=lambda: (work / "nginx.out").read_text())
            yield result, service
        finally:
            process.terminate()
            process.wait(timeout=10)


@pytest.mark.parametrize("path", ["/feeds/all.rss", "/feeds/tags/yuyao.atom", "/feeds/all.json"])
def test_front_serves_the_app_bytes_with_its_headers(
    front: tuple[Front, Service], path: str
) -> None:
    nginx, service = front
    app = service.get(path)
    served = nginx.get(path)
    assert served.status == 200
    assert served.body == app.body
    assert served.header("Content-Type") == app.header("Content-Type")
    assert served.header("Last-Modified") == app.header("Last-Modified")
    assert served.header("Cache-Control") == app.header("Cache-Control")
    assert served.header("Vary") == "Accept-Encoding"
    assert served.header("Server") == "nginx"
    # From the file, not proxied: nginx's own static ETag (mtime-size), not the app's.
    assert STATIC_ETAG.match(served.header("ETag") or "")
    assert served.header("ETag") != app.header("ETag")

    etag = served.header("ETag")
    assert etag
    assert nginx.get(path, {"If-None-Match": etag}).status == 304
    since = {"If-Modified-Since": app.header("Last-Modified") or ""}
    assert nginx.get(path, since).status == 304

    zipped = nginx.get(path, {"Accept-Encoding": "gzip"})
    assert zipped.header("Content-Encoding") == "gzip"
    assert gzip.decompress(zipped.body) == app.body
    assert zipped.body == service.get(path, {"Accept-Encoding": "gzip"}).body


def test_front_serves_variants_from_their_own_tree(front: tuple[Front, Service]) -> None:
    nginx, service = front
    path = "/feeds/all.atom?variant=zh-hans"
    served = nginx.get(path)
    assert served.status == 200
    assert served.body == service.get(path).body
    assert served.body != nginx.get("/feeds/all.atom").body


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/feeds/tags/%E4%BD%99%E5%A7%9A.atom", 301),  # a Chinese name: the app redirects
        ("/feeds/tags/nope.atom", 404),  # no file: the app's problem answer
        ("/feeds/all.rss?variant=klingon", 404),
        ("/feeds/all.rss?utm_source=x", 200),
        ("/feeds", 200),
        ("/healthz", 200),
    ],
)
def test_front_falls_back_to_the_app(front: tuple[Front, Service], path: str, status: int) -> None:
    nginx, service = front
    served = nginx.get(path)
    assert served.status == status
    assert served.body == service.get(path).body
    if status == 404:
        assert served.header("Content-Type") == "application/problem+json"


def test_front_serves_a_new_render(front: tuple[Front, Service]) -> None:
    nginx, service = front
    token = service.token()
    status, _ = service.api(
        token,
        "POST",
        "/api/articles",
        {"title": "經由前端的新文章", "status": "published", "tags": ["前端測試"]},
    )
    assert status == 201
    path = "/feeds/tags/qianduanceshi.rss"
    reply = wait_for(
        lambda: (
            (r := nginx.get(path)).status == 200
            and r.header("Server") == "nginx"
            and STATIC_ETAG.match(r.header("ETag") or "")
            and r
        ),
        "the new tag feed is served from its file",
    )
    assert "經由前端的新文章".encode() in reply.body
    assert parsedate_to_datetime(reply.header("Last-Modified") or "").timestamp() <= time.time()


def test_what_a_tick_stored_is_found_through_an_index(
    engine: Engine,
    sessions: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
    tmp_path: Path,
) -> None:
    """The export reads the documents a tick stored after every tick that rendered; without
    an index on rendered_at (migration 0010) that read scanned every stored document."""
    with db.transaction(sessions) as session:
        demo.load(session, clock(), settings)
    Renderer(sessions, settings, clock=clock, holder="test").sweep()
    statements: list[tuple[str, object]] = []

    def capture(_conn: object, _cursor: object, sql: str, params: object, *_: object) -> None:
        if "rendered_at" in sql and "FROM rendered_feeds" in sql:
            statements.append((sql, params))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        assert Exporter(sessions, tmp_path).export([FeedKey.site()], clock()) > 0
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    ((sql, params),) = statements
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)
            plan = " ".join(r[-1] for r in rows)
        else:
            # A demo's few rows: make the planner show whether an index can serve at all.
            conn.exec_driver_sql("SET enable_seqscan = off")
            plan = " ".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {sql}", params))
    assert "ix_rendered_feeds_rendered_at" in plan, plan
