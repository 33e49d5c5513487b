"""The full rebuild over worker processes, and its respect for the scheduler lease."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from feedsvc import db, publishing, store
from feedsvc.config import Settings
from feedsvc.jobs import Renderer, utcnow
from feedsvc.models import FeedState, RenderedFeed
from feedsvc.rebuild import rebuild
from feedsvc.regenerate import LeadershipLost
from feedsvc.types import FeedKey
from tests.conftest import Clock


def seed(sessions: sessionmaker[Session], settings: Settings, clock: Clock, n: int) -> None:
    with db.transaction(sessions) as session:
        for i in range(n):
            fields = {"title": f"第{i}篇", "status": "published", "tags": [f"標籤{i}"]}
            publishing.create_article(
                session, {**fields, "published_at": clock()}, clock(), settings
            )


@pytest.mark.parametrize("workers", [1, 2])
def test_rebuild_renders_every_feed_and_settles_the_marks(
    sessions: sessionmaker[Session], settings: Settings, clock: Clock, workers: int
) -> None:
    seed(sessions, settings, clock, 12)
    seen: list[str] = []
    counts = rebuild(settings, workers, lambda outcome, total: seen.append(outcome))
    assert counts == {"changed": 13, "unchanged": 0, "failed": 0, "removed": 0}
    assert len(seen) == 13
    with sessions() as session:
        assert session.scalar(select(func.count()).where(FeedState.dirty.is_(True))) == 0
        keys = set(session.scalars(select(RenderedFeed.key).distinct()))
        assert "/feeds/all" in keys
        assert {f"/feeds/tags/biaoqian-{i}" for i in range(12)} <= keys
    again = rebuild(settings, workers)
    assert again == {"changed": 0, "unchanged": 13, "failed": 0, "removed": 0}


def test_rebuild_refuses_while_a_scheduler_leads(
    sessions: sessionmaker[Session], settings: Settings, clock: Clock
) -> None:
    seed(sessions, settings, clock, 1)
    scheduler = Renderer(sessions, settings, clock=utcnow, holder="live-scheduler")
    assert scheduler.lead()
    with pytest.raises(LeadershipLost, match="scheduler holds the lease"):
        rebuild(settings, 1)
    with sessions() as session:
        assert store.load_rendered(session, FeedKey.site(), "atom") is None
