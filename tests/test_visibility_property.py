"""Property: over any sequence of edits, no public document ever shows an article that is
a draft, retracted, deleted or scheduled for later, and every visible article is listed.
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from feedsvc import db, publishing
from feedsvc.config import Settings
from feedsvc.errors import FeedsvcError
from feedsvc.jobs import Renderer
from feedsvc.models import Article, Base, RenderedFeed

START = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)
TAGS = ["余姚", "景區", "博物館", "鄭州"]
STATUSES = ["draft", "scheduled", "published", "retracted"]

minutes = st.integers(min_value=-180, max_value=180)
create = st.tuples(
    st.just("create"),
    st.sampled_from(STATUSES),
    minutes,
    st.lists(st.sampled_from(TAGS), max_size=3, unique=True),
)
edit = st.tuples(
    st.just("edit"),
    st.integers(min_value=0, max_value=20),
    st.sampled_from(STATUSES),
    minutes,
    st.lists(st.sampled_from(TAGS), max_size=3, unique=True),
)
delete = st.tuples(st.just("delete"), st.integers(min_value=0, max_value=20))
wait = st.tuples(st.just("wait"), st.integers(min_value=1, max_value=240))
render = st.just(("render",))
operations = st.lists(st.one_of(create, edit, delete, wait, render), min_size=1, max_size=14)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(operations)
def test_public_documents_only_ever_show_visible_articles(ops: list[tuple]) -> None:  # type: ignore[type-arg]
    with tempfile.TemporaryDirectory() as tmp:
        config = Settings.load(
            environ={},
            overrides={
                "database_url": f"sqlite:///{Path(tmp) / 'p.db'}",
                "base_url": "http://feeds.test",
                "feed_items": 3,
                "archive_page_items": 2,
                "variants": "zh-hans",
            },
        )
        engine = db.make_engine(config.database_url)
        Base.metadata.create_all(engine)
        sessions = db.session_factory(engine)
        clock = Clock()
        renderer = Renderer(sessions, config, clock=clock, holder="property")
        ids: list[int] = []
        try:
            for op in ops:
                apply(op, sessions, config, clock, renderer, ids)
            renderer.tick()
            check(sessions, clock())
        finally:
            engine.dispose()


def apply(op, sessions, config, clock, renderer, ids) -> None:  # type: ignore[no-untyped-def]
    kind = op[0]
    if kind == "wait":
        clock.now += timedelta(minutes=op[1])
    elif kind == "render":
        renderer.tick()
        check(sessions, clock())
    elif kind == "create":
        _, status, offset, tags = op
        fields = {
            "title": f"文章{len(ids)}",
            "status": status,
            "published_at": clock() + timedelta(minutes=offset),
            "tags": tags,
        }
        with db.transaction(sessions) as session:
            ids.append(publishing.create_article(session, fields, clock(), config).id)
    elif ids:
        target = ids[op[1] % len(ids)]
        try:
            with db.transaction(sessions) as session:
                if kind == "delete":
                    publishing.delete_article(session, target, clock())
                else:
                    _, _, status, offset, tags = op
                    fields = {
                        "status": status,
                        "published_at": clock() + timedelta(minutes=offset),
                        "tags": tags,
                    }
                    publishing.update_article(session, target, fields, clock(), config)
        except FeedsvcError:
            pass  # deleted earlier: the edit is refused and changes nothing


def check(sessions, now: datetime) -> None:  # type: ignore[no-untyped-def]
    with sessions() as session:
        articles = session.scalars(select(Article)).all()
        visible = {
            a.uid
            for a in articles
            if a.status == "published" and a.published_at is not None and a.published_at <= now
        }
        listed: set[str] = set()
        for row in session.scalars(select(RenderedFeed).where(RenderedFeed.format == "json")):
            items = {item["id"] for item in json.loads(row.body)["items"]}
            assert items <= visible, f"{row.key} shows {sorted(items - visible)}"
            if row.key.startswith("/feeds/all") and "@" not in row.key:
                listed |= items
        # The site feed and its archive pages, together, list every visible article.
        assert listed == visible
