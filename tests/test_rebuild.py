"""The full rebuild over worker processes, and its respect for the scheduler lease."""

from __future__ import annotations

import gzip
from dataclasses import replace

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from feedsvc import archives, db, items, publishing, queries, regenerate, store
from feedsvc.config import ConfigError, Settings
from feedsvc.jobs import Renderer, utcnow
from feedsvc.models import Article, FeedState, RenderedFeed
from feedsvc.rebuild import rebuild
from feedsvc.regenerate import LeadershipLost
from feedsvc.types import FeedKey, Rendered
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


def test_items_by_id_equals_to_item_of_the_orm_articles(
    sessions: sessionmaker[Session], settings: Settings, clock: Clock
) -> None:
    small = replace(settings, item_content_max_bytes=40)
    with db.transaction(sessions) as session:
        for i, tags in enumerate([["余姚", "蝶變"], [], ["蝶變"]]):
            fields = {
                "title": f"第{i}篇",
                "summary": "摘要" * i,
                "content_html": "<p>正文</p>" * (i + 1) * 3,  # the last one is over budget
                "status": "published",
                "tags": tags,
                "author": "記者" if i else None,
                "link": "https://elsewhere.example/x" if i == 1 else None,
                "published_at": clock(),
            }
            publishing.create_article(session, fields, clock(), small)
            clock.advance(minutes=1)
    with sessions() as session:
        ids = list(session.scalars(select(Article.id)))
        expected = [items.to_item(a, small) for a in queries.load_articles(session, ids)]
        assert items.load_items(session, ids, small) == expected
        assert [len(i.categories) for i in expected] == [1, 0, 2]
        assert expected[0].content_html == ""


def test_a_feed_with_many_pages_to_render_commits_them_in_chunks(
    sessions: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tiny = replace(settings, feed_items=2, archive_page_items=2, variants="")
    with db.transaction(sessions) as session:
        for i in range(12):
            fields = {"title": f"第{i}篇", "status": "published", "tags": ["余姚"]}
            publishing.create_article(session, {**fields, "published_at": clock()}, clock(), tiny)
            clock.advance(minutes=1)
    monkeypatch.setattr(regenerate, "CHUNK_PAGES", 2)
    commits: list[int] = []

    def guard(session: Session) -> bool:
        commits.append(len(archives.stored_pages(session, FeedKey.tag("yuyao"))))
        return True

    report = regenerate.Report()
    key = FeedKey.tag("yuyao")
    regenerate.render_one(sessions, tiny, clock, key, None, report, guard)
    assert report.rendered == [key]
    # Five sealed pages: two, two and one per transaction, then the current document.
    assert commits == [2, 4, 5, 5]
    with sessions() as session:
        counts = {
            page: store.load_rendered(session, key, "atom", page).item_count  # type: ignore[union-attr]
            for page in [None, 1, 2, 3, 4, 5]
        }
    assert counts == {None: 2, 1: 2, 2: 2, 3: 2, 4: 2, 5: 2}


def test_a_refused_rebuild_forgets_nothing(
    sessions: sessionmaker[Session], settings: Settings, clock: Clock
) -> None:
    ghost = FeedKey.tag("ghost")  # stored, but no such tag: a rebuild would forget it
    rendered = Rendered(body=b"{}", etag='"x"', media_type="application/feed+json", item_count=0)
    with db.transaction(sessions) as session:
        document = store.Document(ghost.document_path(None), "json", rendered, clock())
        store.save_documents(session, [document], clock(), 1.0, settings.gzip_level)
    scheduler = Renderer(sessions, settings, clock=utcnow, holder="live-scheduler")
    assert scheduler.lead()
    with pytest.raises(LeadershipLost):
        rebuild(settings, 1)
    with sessions() as session:
        assert store.load_rendered(session, ghost, "json") is not None


def test_the_gzip_level_setting_is_the_stored_compression(
    sessions: sessionmaker[Session], settings: Settings, clock: Clock
) -> None:
    seed(sessions, settings, clock, 3)
    stored: dict[int, bytes] = {}
    for level in (0, 3):
        # Titles of one length: both bodies are the same size, and every document changes.
        rebuild(replace(settings, gzip_level=level, site_title=f"level {level}"), 1)
        with sessions() as session:
            row = store.load_rendered(session, FeedKey.site(), "rss")
            assert row is not None
            assert gzip.decompress(row.body_gzip) == row.body
            stored[level] = row.body_gzip
    assert len(stored[3]) < 0.9 * len(stored[0])
    for bad in ("-1", "4", "6"):
        with pytest.raises(ConfigError, match="gzip_level"):
            Settings.load(environ={"FEEDSVC_GZIP_LEVEL": bad})
