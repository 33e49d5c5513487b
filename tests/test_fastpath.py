"""The feed fast path and the freshness budget: answers equal to Flask's, fresh after each
check (one query for every held document), bounded in memory; dirty feeds rendered at the
scheduler's next poll."""

from __future__ import annotations

import dataclasses

import pytest
from flask import Flask
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import Client

from feedsvc import db, publishing
from feedsvc.app import create_app
from feedsvc.config import Settings
from feedsvc.jobs import Renderer
from feedsvc.types import FeedKey
from feedsvc.web.fastpath import FeedCache
from tests.conftest import Clock

pytestmark = pytest.mark.usefixtures("demo_loaded")


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def cached_app(settings: Settings, engine: Engine, **overrides: object) -> tuple[Flask, FeedCache]:
    app = create_app(dataclasses.replace(settings, **overrides), engine)
    cache = app.wsgi_app
    assert isinstance(cache, FeedCache)
    return app, cache


REQUESTS = [
    ("GET", "/feeds/all.rss", {}),
    ("GET", "/feeds/tags/yuyao.atom", {"Accept-Encoding": "gzip"}),
    ("GET", "/feeds/sections/lehuo-hot.json", {"Accept-Encoding": "gzip;q=0"}),
    ("HEAD", "/feeds/all.atom", {}),
    ("GET", "/feeds/all.atom?variant=zh-hans", {}),
    ("GET", "/feeds/all.rss", {"If-Modified-Since": "Sun, 01 Mar 2026 05:00:00 GMT"}),
    ("GET", "/feeds/all.rss", {"If-None-Match": "*"}),
    ("GET", "/feeds/all.rss", {"If-None-Match": '"stale"'}),
]


@pytest.mark.parametrize(("method", "url", "headers"), REQUESTS)
def test_answers_equal_the_flask_path(
    settings: Settings, engine: Engine, method: str, url: str, headers: dict[str, str]
) -> None:
    _, cache = cached_app(settings, engine)
    fast = Client(cache).open(url, method=method, headers=headers)
    slow = Client(cache.next).open(url, method=method, headers=headers)
    assert fast.status_code == slow.status_code
    assert fast.get_data() == slow.get_data()
    ignore = {"Date", "Server"}
    assert {(k, v) for k, v in fast.headers.items() if k not in ignore} == {
        (k, v) for k, v in slow.headers.items() if k not in ignore
    }


def test_revalidation_with_the_etag_of_either_encoding(settings: Settings, engine: Engine) -> None:
    _, cache = cached_app(settings, engine)
    client = Client(cache)
    zipped = client.get("/feeds/all.rss", headers={"Accept-Encoding": "gzip"})
    again = client.get("/feeds/all.rss", headers={"If-None-Match": zipped.headers["ETag"]})
    assert again.status_code == 304
    assert again.get_data() == b""


def test_never_older_than_the_store_after_the_next_check(
    settings: Settings,
    engine: Engine,
    sessions: sessionmaker[Session],
    clock: Clock,
    renderer: Renderer,
) -> None:
    _, cache = cached_app(settings, engine, feed_check_seconds=10)
    ticks = Ticks()
    cache.clock = ticks
    client = Client(cache)
    before = client.get("/feeds/all.rss")
    with db.transaction(sessions) as session:
        fields = {"title": "快取之後的新文章", "status": "published", "published_at": clock()}
        publishing.create_article(session, fields, clock(), settings)
    renderer.tick()
    ticks.now += 9  # within the interval: the bytes held in memory
    assert client.get("/feeds/all.rss").headers["ETag"] == before.headers["ETag"]
    ticks.now += 1  # the next check sees the new render
    after = client.get("/feeds/all.rss")
    assert after.headers["ETag"] != before.headers["ETag"]
    assert "快取之後的新文章".encode() in after.get_data()


def test_memory_stays_within_its_bound(settings: Settings, engine: Engine) -> None:
    _, cache = cached_app(settings, engine, feed_cache_bytes=20_000)
    client = Client(cache)
    for url in ("/feeds/all.rss", "/feeds/all.atom", "/feeds/tags/yuyao.rss", "/feeds/all.json"):
        assert client.get(url).status_code == 200
        assert cache.size <= 20_000 or len(cache.entries) == 1
    assert ("/feeds/all", "json") in cache.entries  # the most recent stays
    assert ("/feeds/all", "rss") not in cache.entries  # the least recent went first


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/feeds/tags/%E4%BD%99%E5%A7%9A.atom", 301),  # a Chinese name: Flask redirects
        ("/feeds/tags/nope.atom", 404),
        ("/feeds/all.rss?variant=klingon", 404),
        ("/feeds/all.rss?utm_source=x", 200),  # an unknown query: Flask answers it
    ],
)
def test_what_it_does_not_hold_goes_to_flask(
    settings: Settings, engine: Engine, url: str, status: int
) -> None:
    _, cache = cached_app(settings, engine)
    assert Client(cache).get(url).status_code == status


def test_one_query_checks_every_held_document(settings: Settings, engine: Engine) -> None:
    _, cache = cached_app(settings, engine, feed_check_seconds=10)
    ticks = Ticks()
    cache.clock = ticks
    client = Client(cache)
    urls = ["/feeds/all.rss", "/feeds/all.atom", "/feeds/tags/yuyao.rss", "/feeds/all.json"]
    for url in urls:
        assert client.get(url).status_code == 200
    assert len(cache.entries) == len(urls)
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        ticks.now += 10
        for url in urls:
            assert client.get(url).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 1  # the check; nothing changed, so no document was reloaded
    assert "rendered_feeds" in statements[0]


def test_the_scheduler_renders_a_dirty_feed_at_its_next_poll(
    sessions: sessionmaker[Session], settings: Settings, clock: Clock, renderer: Renderer
) -> None:
    assert renderer.poll() is not None  # the first poll is a full tick: it takes the lease
    assert renderer.poll() is None  # nothing dirty, no tick due: one indexed read, no work
    with db.transaction(sessions) as session:
        fields = {"title": "輪詢之間的新文章", "status": "published", "published_at": clock()}
        publishing.create_article(session, fields, clock(), settings)
    report = renderer.poll()
    assert report is not None
    assert FeedKey.site() in report.rendered


def test_a_standby_scheduler_does_not_poll_for_dirty_feeds(
    sessions: sessionmaker[Session], settings: Settings, clock: Clock, renderer: Renderer
) -> None:
    assert renderer.tick() is not None  # the leader
    standby = Renderer(sessions, settings, clock=clock, holder="standby")
    assert standby.poll() is None  # tried for the lease, lost
    with db.transaction(sessions) as session:
        fields = {"title": "備用排程", "status": "published", "published_at": clock()}
        publishing.create_article(session, fields, clock(), settings)
    assert standby.poll() is None  # a feed is dirty, but it is not the standby's to render
    assert standby.token is None
