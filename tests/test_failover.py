"""Scheduler failover with real processes: the leader is killed mid-render (SIGKILL) and a
standby finishes the work, with no feed lost, doubled or half-written."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from feedsvc import db, publishing, queries
from feedsvc.config import Settings
from feedsvc.models import Article, FeedState, Lease, RenderedFeed
from feedsvc.types import FORMATS
from tests.support.service import feed_ids, service_env, start_scheduler, wait_for

pytestmark = pytest.mark.e2e

FEEDS = 240  # enough work that the leader is still busy when it is killed
LEASE_SECONDS = 4
WAIT = 120  # every wait below is bounded by this


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def test_a_standby_finishes_what_a_killed_leader_started(
    sessions: sessionmaker[Session],
    settings: Settings,
    tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
) -> None:
    now = datetime.now(UTC)
    with db.transaction(sessions) as session:
        for n in range(FEEDS):
            fields = {"title": f"第{n}篇", "status": "published", "tags": [f"標籤{n}"]}
            publishing.create_article(session, {**fields, "published_at": now}, now, settings)
    with sessions() as session:
        keys = queries.all_feed_keys(session)
        uids = set(session.scalars(select(Article.uid)))

    env = service_env(
        settings.database_url,
        FEEDSVC_BASE_URL=settings.base_url,
        FEEDSVC_LEASE_SECONDS=str(LEASE_SECONDS),
        FEEDSVC_SWEEP_INTERVAL_SECONDS="3600",
    )
    log = tmp_path / "schedulers.log"

    def wait(condition: Callable[[], bool], what: str) -> None:
        # A failure shows the end of the schedulers' log.
        wait_for(
            condition,
            what,
            WAIT,
            interval=0.05,
            detail=lambda: log.read_text(errors="replace")[-3000:],
        )

    def rendered() -> int:
        with sessions() as session:
            return session.scalar(select(func.count(func.distinct(RenderedFeed.key)))) or 0

    def dirty() -> int:
        with sessions() as session:
            return session.scalar(select(func.count()).where(FeedState.dirty.is_(True))) or 0

    def holder() -> str | None:
        with sessions() as session:
            lease = session.get(Lease, "scheduler")
            return lease.holder if lease else None

    leader = start_scheduler(env, log)
    processes.append(leader)
    wait(lambda: rendered() > 0, "the leader renders")
    standby = start_scheduler(env, log)
    processes.append(standby)
    assert f":{leader.pid}:" in (holder() or "")
    assert dirty() > 0, "the leader finished before it could be killed; raise FEEDS"

    os.kill(leader.pid, signal.SIGKILL)
    leader.wait(10)
    killed_at = time.monotonic()
    wait(lambda: f":{standby.pid}:" in (holder() or ""), "the standby holds the lease")
    takeover = time.monotonic() - killed_at
    wait(lambda: dirty() == 0, "the standby finished the work")
    assert takeover < LEASE_SECONDS + 3, f"takeover took {takeover:.1f}s"

    with sessions() as session:
        for key in keys:
            for fmt in FORMATS:
                for variant in (None, *settings.variant_names):
                    path = key.document_path(None, variant)
                    row = session.get(RenderedFeed, (path, fmt))
                    assert row is not None, f"{path}.{fmt} lost"
                    ids = feed_ids(row.body, fmt)
                    assert len(ids) == len(set(ids)), f"{path}.{fmt} has a doubled item"
                    if key.kind == "tag":
                        assert len(ids) == 1, f"{path}.{fmt} holds {len(ids)} items"
                    assert set(ids) <= uids
        site = session.get(RenderedFeed, ("/feeds/all", "atom"))
        assert site is not None
    assert len(feed_ids(site.body, "atom")) == settings.feed_items
