"""Faults, each made real and each with a test (issue 5, item 4).

Each fault, then the tests covering it:

- the database unavailable while the scheduler renders (SQLite: the file is moved away;
  PostgreSQL: a loopback TCP proxy between the app and the server is cut):
  test_a_database_outage_serves_last_good_bytes_and_rendering_resumes
- the scheduler killed mid-render and restarted:
  test_a_restarted_scheduler_finishes_what_its_killed_self_started; a standby taking over
  instead: tests/test_failover.py
- a render raising for one feed (the others render, its last good bytes stay, the error is
  in feed_states.last_error):
  tests/test_scheduler.py::test_a_failing_feed_keeps_its_bytes_and_the_others_render;
  shown to editors: test_a_failed_render_is_shown_on_the_feed_health_page
- the clock jumping forwards and backwards: test_scheduled_articles_survive_clock_jumps,
  test_a_backward_clock_jump_never_moves_last_modified_back
- a duplicate POST with the same Idempotency-Key: test_a_duplicated_post_creates_one_article;
  concurrent duplicates against a real server: tests/test_idempotency.py
"""

from __future__ import annotations

import contextlib
import logging
import os
import select as select_module
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import pytest
from sqlalchemy import Engine, create_engine, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from feedsvc import db, demo, publishing, queries, tokens
from feedsvc.app import create_app
from feedsvc.config import Settings
from feedsvc.jobs import Renderer
from feedsvc.models import Article, FeedState, RenderedFeed
from feedsvc.types import FORMATS, FeedKey
from tests.conftest import Clock
from tests.desk.conftest import make_user, sign_in
from tests.support.service import feed_ids, free_port, service_env, start_scheduler, wait_for

BASE_URL = "http://feeds.test"
PROBLEM = "application/problem+json"
SITE = FeedKey.site()


# --- a database that can really go away ---------------------------------------------------


class TcpProxy:
    """A loopback TCP relay to the database server that the test can cut and restore.

    Cutting closes the listening socket and every relayed connection, exactly what an app
    sees when the network path or the server goes: refused connects, broken sessions.
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.sockets: set[socket.socket] = set()
        self.lock = threading.Lock()
        self.listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        assert self.listener is not None
        # shutdown() first: close() alone would not wake the thread blocked in accept().
        self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self.listener = None
        with self.lock:
            for sock in self.sockets:
                with contextlib.suppress(OSError):  # already closed by its peer
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self.sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets |= {client, server}
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                readable, _, _ = select_module.select([a, b], [], [])
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (b if sock is a else a).sendall(data)
        except (OSError, ValueError):
            return
        finally:
            with self.lock:
                self.sockets -= {a, b}
            a.close()
            b.close()


class Outage:
    """The app's and scheduler's database, plus `cut()` and `restore()` of it."""

    def __init__(self, url: str, cut: Callable[[], None], restore: Callable[[], None]) -> None:
        self.url = url
        self.cut = cut
        self.restore = restore


@pytest.fixture
def outage(database_url: str) -> Iterator[Outage]:
    parsed = make_url(database_url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]

        def cut() -> None:
            # The file disappears (a volume detached, a bad deploy): mode=rw below makes
            # SQLite refuse to open it instead of creating an empty one in its place.
            for f in files:
                if f.exists():
                    f.rename(f.with_name(f.name + ".away"))

        def restore() -> None:
            for f in files:
                away = f.with_name(f.name + ".away")
                if away.exists():
                    away.rename(f)

        # Create the file before handing out the read-write-only URL.
        creator = db.make_engine(database_url)
        with creator.connect():
            pass
        creator.dispose()
        yield Outage(f"sqlite:///file:{path}?mode=rw&uri=true", cut, restore)
        restore()
        return
    host, port = parsed.host or "127.0.0.1", parsed.port or 5432
    proxy = TcpProxy((host, port))
    proxied = parsed.set(host="127.0.0.1", port=proxy.port)
    yield Outage(proxied.render_as_string(hide_password=False), proxy.cut, proxy.restore)
    if proxy.listener is not None:
        proxy.cut()


def engine_for(url: str) -> Engine:
    """The production engine for PostgreSQL; for SQLite the same pragmas without a pool.

    A pooled SQLite connection keeps the moved file open and never notices it went, so
    each SQLite checkout opens the file afresh: the outage is what a new connection sees.
    """
    if make_url(url).get_backend_name() != "sqlite":
        return db.make_engine(url)
    engine = create_engine(url, poolclass=NullPool, connect_args={"timeout": 5})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return engine


def test_a_database_outage_serves_last_good_bytes_and_rendering_resumes(
    outage: Outage, caplog: pytest.LogCaptureFixture, request: pytest.FixtureRequest
) -> None:
    settings = Settings.load(
        environ={},
        overrides={"database_url": outage.url, "base_url": BASE_URL, "feed_check_seconds": 0},
    )
    engine = engine_for(outage.url)
    request.addfinalizer(engine.dispose)
    db.migrate(engine)
    sessions = db.session_factory(engine)
    renderer = Renderer(sessions, settings, holder="outage-test")
    with db.transaction(sessions) as session:
        demo.load(session, datetime.now(UTC), settings)
        token = tokens.create_token(session, "editor", datetime.now(UTC))
    renderer.sweep()
    auth = {"Authorization": f"Bearer {token}"}
    client = create_app(settings, engine).test_client()

    good = client.get("/feeds/all.rss")
    assert good.status_code == 200
    assert "stale-if-error=" in good.headers["Cache-Control"]
    written = client.post(
        "/api/articles", headers=auth, json={"title": "停電前寫下的稿", "status": "published"}
    )
    assert written.status_code == 201

    outage.cut()
    try:
        # Readers get the last good bytes, marked as usable by caches while we fail.
        during = client.get("/feeds/all.rss")
        assert during.status_code == 200
        assert during.data == good.data
        assert "stale-if-error=" in during.headers["Cache-Control"]
        revalidated = client.get("/feeds/all.rss", headers={"If-None-Match": good.headers["ETag"]})
        assert revalidated.status_code == 304
        # The scheduler's jobs return instead of dying, and say why once.
        with caplog.at_level(logging.WARNING, logger="feedsvc.jobs"):
            assert renderer.tick() is None
            assert renderer.sweep() is None
            assert renderer.tick() is None
            renderer.resign()  # a shutdown meanwhile: the lease will just expire
        downs = [r for r in caplog.records if "database unavailable" in r.getMessage()]
        assert len(downs) == 1
        # What the process does not hold, and every write, is a clear 503, never a 500.
        for response in (
            client.get("/feeds/all.json"),
            client.post("/api/articles", headers=auth, json={"title": "停電時寫的稿"}),
            client.get("/healthz"),
        ):
            assert response.status_code == 503, response.data
            assert response.mimetype == PROBLEM
        assert client.post("/api/articles", headers=auth, json={"title": "x"}).headers[
            "Retry-After"
        ]
    finally:
        outage.restore()

    report = renderer.tick()
    assert report is not None
    assert SITE in report.rendered
    after = client.get("/feeds/all.rss")
    assert after.status_code == 200
    assert "停電前寫下的稿" in after.get_data(as_text=True)
    assert not feedparser.parse(after.data).bozo
    with sessions() as session:
        titles = list(session.scalars(select(Article.title).where(Article.title.like("停電%"))))
    assert titles == ["停電前寫下的稿"]  # the refused write left nothing behind


# --- the scheduler killed mid-render and restarted ----------------------------------------

RESTART_FEEDS = 240
RESTART_LEASE = 3


@pytest.mark.e2e
def test_a_restarted_scheduler_finishes_what_its_killed_self_started(
    sessions: sessionmaker[Session], settings: Settings, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    with db.transaction(sessions) as session:
        for n in range(RESTART_FEEDS):
            fields = {"title": f"重啟{n}", "status": "published", "tags": [f"重啟標籤{n}"]}
            publishing.create_article(session, {**fields, "published_at": now}, now, settings)
    with sessions() as session:
        keys = queries.all_feed_keys(session)

    env = service_env(
        settings.database_url,
        FEEDSVC_BASE_URL=settings.base_url,
        FEEDSVC_LEASE_SECONDS=str(RESTART_LEASE),
        FEEDSVC_SWEEP_INTERVAL_SECONDS="3600",
    )
    log = tmp_path / "scheduler.log"

    def count(stmt: Any) -> int:
        with sessions() as session:
            return session.scalar(stmt) or 0

    rendered = select(func.count(func.distinct(RenderedFeed.key)))
    dirty = select(func.count()).where(FeedState.dirty.is_(True))
    tail: Callable[[], str] = lambda: log.read_text(errors="replace")[-3000:]  # noqa: E731

    first = start_scheduler(env, log)
    try:
        wait_for(lambda: count(rendered) > 0, "the scheduler renders", 120, detail=tail)
        assert count(dirty) > 0, "it finished before it could be killed; raise RESTART_FEEDS"
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(10)
    left = count(dirty)
    assert left > 0

    again = start_scheduler(env, log)  # the same command, as a supervisor would restart it
    try:
        wait_for(lambda: count(dirty) == 0, "the restarted scheduler finishes", 180, detail=tail)
    finally:
        again.terminate()
        again.wait(10)

    with sessions() as session:
        for key in keys:
            for fmt in FORMATS:
                row = session.get(RenderedFeed, (key.document_path(None, None), fmt))
                assert row is not None, f"{key.path}.{fmt} never rendered"
                ids = feed_ids(row.body, fmt)  # parses: nothing half-written
                assert len(ids) == len(set(ids))
                if key.kind == "tag":
                    assert len(ids) == 1


# --- a failing render, visible to editors -------------------------------------------------


def test_a_failed_render_is_shown_on_the_feed_health_page(
    app: Any,
    sessions: sessionmaker[Session],
    settings: Settings,
    renderer: Renderer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from feedsvc import regenerate

    now = renderer.clock()
    with db.transaction(sessions) as session:
        fields = {"title": "壞掉的標籤", "status": "published", "tags": ["余姚"]}
        publishing.create_article(session, {**fields, "published_at": now}, now, settings)
    real = regenerate.render_all

    def fail_for_yuyao(meta: Any, items: Any) -> Any:
        if meta.key == FeedKey.tag("yuyao"):
            raise RuntimeError("injected fault")
        return real(meta, items)

    monkeypatch.setattr(regenerate, "render_all", fail_for_yuyao)
    report = renderer.poll()  # the first poll is a full tick
    assert report is not None
    assert report.failed == [FeedKey.tag("yuyao")]
    # Still dirty, but not retried at every poll: it waits for the next full tick.
    assert renderer.poll() is None

    client = app.test_client()
    client.environ_base["wsgi.url_scheme"] = "https"
    make_user(sessions, "值班編輯", "editor")
    page = sign_in(client, "值班編輯").get("/desk/health")
    assert page.status_code == 200
    row = next(line for line in page.text.splitlines() if "injected fault" in line)
    assert 'class="bad"' in row
    assert "RuntimeError" in row


# --- the clock jumping --------------------------------------------------------------------


def in_site_feed(sessions: sessionmaker[Session], title: str) -> bool:
    with sessions() as session:
        row = session.get(RenderedFeed, (SITE.path, "atom"))
        return row is not None and title.encode() in row.body


def test_scheduled_articles_survive_clock_jumps(
    sessions: sessionmaker[Session], settings: Settings, renderer: Renderer, clock: Clock
) -> None:
    start = clock.now
    due = start + timedelta(hours=1)
    with db.transaction(sessions) as session:
        fields = {"title": "定時稿", "status": "scheduled", "published_at": due}
        publishing.create_article(session, fields, start, settings)
    renderer.sweep()
    assert not in_site_feed(sessions, "定時稿")

    clock.now = start - timedelta(days=2)  # backwards: nothing becomes due
    renderer.tick()
    renderer.sweep()
    assert not in_site_feed(sessions, "定時稿")
    clock.now = due - timedelta(seconds=1)  # forwards, to just before its time
    renderer.tick()
    assert not in_site_feed(sessions, "定時稿")
    clock.now = due + timedelta(days=3)  # a big jump past it: it appears, dated as scheduled
    renderer.tick()
    assert in_site_feed(sessions, "定時稿")
    with sessions() as session:
        row = session.get(RenderedFeed, (SITE.path, "atom"))
        assert row is not None
        entry = feedparser.parse(row.body).entries[0]
    assert datetime.fromisoformat(entry.published) == due

    clock.now = start - timedelta(days=1)  # backwards again: published stays published
    renderer.tick()
    renderer.sweep()
    assert in_site_feed(sessions, "定時稿")


def test_a_backward_clock_jump_never_moves_last_modified_back(
    sessions: sessionmaker[Session], settings: Settings, app: Any, renderer: Renderer, clock: Clock
) -> None:
    start = clock.now
    with db.transaction(sessions) as session:
        fields = {"title": "原題", "status": "published", "published_at": start}
        article = publishing.create_article(session, fields, start, settings)
    renderer.tick()
    client = app.test_client()
    first = client.get("/feeds/all.atom")
    assert first.status_code == 200

    clock.now = start - timedelta(hours=1)
    with db.transaction(sessions) as session:
        publishing.update_article(session, article.id, {"title": "新題"}, clock(), settings)
    renderer.tick()
    # A reader polling with If-Modified-Since must see the edit, not a 304.
    since = {"If-Modified-Since": first.headers["Last-Modified"]}
    second = client.get("/feeds/all.atom", headers=since)
    assert second.status_code == 200
    assert "新題" in second.get_data(as_text=True)


# --- a duplicated POST ------------------------------------------------------------------


def test_a_duplicated_post_creates_one_article(
    client: Any, auth: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    headers = {**auth, "Idempotency-Key": "dup-1"}
    body = {"title": "只發一次", "status": "published"}
    first = client.post("/api/articles", headers=headers, json=body)
    second = client.post("/api/articles", headers=headers, json=body)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert second.get_json()["id"] == first.get_json()["id"]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Article)) == 1
