"""Feed traffic is counted in memory on the feed path and lands in daily rows on flush."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from feedsvc import traffic
from feedsvc.models import FeedSubscribers, FeedTraffic
from feedsvc.traffic import TrafficCounter

FEEDLY = "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 123 subscribers)"
INOREADER = "Mozilla/5.0 (compatible; Inoreader/1.0; 45 subscribers; +http://www.inoreader.com)"


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        (FEEDLY, ("Feedly", 123)),
        (INOREADER, ("Mozilla", 45)),
        ("NewsBlur Feed Fetcher - 7 subscribers - http://www.newsblur.com", ("NewsBlur", 7)),
        ("curl/8.0", None),
        (None, None),
    ],
)
def test_subscribers_are_read_from_the_user_agent(
    agent: str | None, expected: tuple[str, int] | None
) -> None:
    assert traffic.subscribers_of(agent) == expected


def counter(app: Flask) -> TrafficCounter:
    found: TrafficCounter = app.extensions["feedsvc_traffic"]
    return found


@pytest.mark.usefixtures("demo_loaded")
def test_requests_304s_bytes_and_subscribers_land_on_flush(
    app: Flask, client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    first = client.get("/feeds/tags/yuyao.rss", headers={"User-Agent": FEEDLY})
    assert first.status_code == 200
    etag = first.headers["ETag"]
    again = client.get(
        "/feeds/tags/yuyao.atom", headers={"User-Agent": "Feedly/1.0 (100 subscribers)"}
    )
    assert again.status_code == 200
    cached = client.get("/feeds/tags/yuyao.rss", headers={"If-None-Match": etag})
    assert cached.status_code == 304
    assert client.get("/feeds/tags/no-such.rss").status_code == 404  # not a feed: not counted

    with sessions() as session:
        assert session.scalars(select(FeedTraffic)).all() == []  # nothing written yet
    assert counter(app).flush() == 2  # one traffic row, one aggregator row
    with sessions() as session:
        row = session.scalars(select(FeedTraffic)).one()
        assert row.key == "/feeds/tags/yuyao"
        assert row.day == datetime.now(UTC).date()
        assert (row.requests, row.not_modified) == (3, 1)
        assert row.bytes_sent == len(first.data) + len(again.data)
        subs = session.scalars(select(FeedSubscribers)).one()
        assert (subs.aggregator, subs.subscribers) == ("Feedly", 123)  # the day's largest

    client.get("/feeds/tags/yuyao.rss", headers={"If-None-Match": etag})
    counter(app).flush()
    with sessions() as session:
        row = session.scalars(select(FeedTraffic)).one()
        assert (row.requests, row.not_modified) == (4, 2)  # added to, not replaced


def test_daily_fills_missing_days_and_subscribers_sum_aggregators(
    sessions: sessionmaker[Session],
) -> None:
    days = iter([datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC)])
    now = [datetime(2026, 3, 1, tzinfo=UTC)]
    tc = TrafficCounter(sessions, 3600, clock=lambda: now[0])
    tc.count("/feeds/all", 200, 10, FEEDLY)
    tc.count("/feeds/all", 200, 10, INOREADER)
    now[0] = next(days) and next(days)
    tc.count("/feeds/all", 304, 0, "Feedly/1.0 (150 subscribers)")
    tc.flush()
    with sessions() as session:
        series = traffic.daily(session, date(2026, 3, 1), date(2026, 3, 3))["/feeds/all"]
        assert [(d.day.day, d.requests, d.not_modified) for d in series] == [
            (1, 2, 0),
            (2, 0, 0),
            (3, 1, 1),
        ]
        # Feedly's latest figure (150) plus Inoreader's (as "Mozilla", 45)
        assert traffic.subscribers(session, date(2026, 3, 1)) == {"/feeds/all": 195}


def test_a_failed_flush_keeps_its_counts(sessions: sessionmaker[Session]) -> None:
    tc = TrafficCounter(sessions, 3600)
    tc.count("/feeds/all", 200, 5, None)
    broken = TrafficCounter.__new__(TrafficCounter)
    broken.__dict__.update(tc.__dict__)

    def fail(*_args: object) -> None:
        raise RuntimeError("database away")

    broken._sessions = fail  # type: ignore[assignment]
    with pytest.raises(RuntimeError):
        broken.flush()
    broken._sessions = sessions
    assert broken.flush() == 1
    with sessions() as session:
        assert session.scalars(select(FeedTraffic.requests)).one() == 1


def test_a_request_after_the_interval_writes_the_batch_off_the_request_path(
    sessions: sessionmaker[Session],
) -> None:
    import threading

    tc = TrafficCounter(sessions, 0)  # every request is "after the interval"
    tc.count("/feeds/all", 200, 7, None)
    for thread in threading.enumerate():
        if thread.name == "traffic-flush":
            thread.join()
    with sessions() as session:
        row = session.scalars(select(FeedTraffic)).one()
        assert (row.key, row.requests, row.bytes_sent) == ("/feeds/all", 1, 7)
