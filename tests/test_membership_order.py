"""feed_entries, the feed membership table ordered by publication, always says what routing
says: after any sequence of article, tag and section edits (a Hypothesis property), after
each kind of edit that moves articles between feeds, and after the migration's backfill.
Feeds read from it with a fixed number of queries, and arranging pages reads no article.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from feedsvc import archives, db, items, publishing, queries, taxonomy
from feedsvc.config import Settings
from feedsvc.errors import FeedsvcError
from feedsvc.models import Article, Base, FeedEntry, Tag
from feedsvc.routing import feeds_of
from feedsvc.types import FeedKey
from tests.conftest import Clock
from tests.support.databases import fresh_database

START = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)
TAGS = ["余姚", "景區", "博物館", "鄭州", "河南"]
SECTIONS = ["資訊播報", "樂活HOT", "文旅"]
STATUSES = ["draft", "scheduled", "published", "retracted"]

Row = tuple[str, datetime, int, int]


def expected_rows(session: Session) -> set[Row]:
    """What routing.feeds_of says feed_entries must hold, worked out in Python."""
    rules = queries.section_rules(session)
    rows: set[Row] = set()
    for article in session.scalars(select(Article)):
        when = article.published_at or article.created_at
        size = queries.size_estimate(article)
        for key in feeds_of(queries.placement(article), rules):
            rows.add((key.path, when, article.id, size))
    return rows


def actual_rows(session: Session) -> set[Row]:
    stmt = select(
        FeedEntry.feed_key, FeedEntry.published_at, FeedEntry.article_id, FeedEntry.size_estimate
    )
    return {(k, at, i, s) for k, at, i, s in session.execute(stmt)}


def assert_in_step(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        expected, actual = expected_rows(session), actual_rows(session)
    assert actual == expected, (
        f"missing {sorted(expected - actual)[:5]}, extra {sorted(actual - expected)[:5]}"
    )


# -- the property ---------------------------------------------------------------------------

minutes = st.integers(min_value=-600, max_value=600)
some_tags = st.lists(st.sampled_from(TAGS), max_size=3, unique=True)
some_sections = st.lists(st.sampled_from(SECTIONS), max_size=2, unique=True)
index = st.integers(min_value=0, max_value=30)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("create"), st.sampled_from(STATUSES), minutes, some_tags, some_sections),
        st.tuples(
            st.just("edit"), index, st.sampled_from(STATUSES), minutes, some_tags, some_sections
        ),
        st.tuples(st.just("retag"), index, some_tags),
        st.tuples(st.just("rewrite"), index, st.integers(min_value=1, max_value=400)),
        st.tuples(st.just("delete"), index),
        st.tuples(st.just("wait"), st.integers(min_value=1, max_value=900)),
        st.tuples(st.just("rule"), st.sampled_from(SECTIONS), some_tags),
        st.tuples(st.just("rename_tag"), index, st.sampled_from([*TAGS, "新聞", "旅遊"])),
        st.tuples(st.just("merge_tags"), index, index),
        st.tuples(st.just("delete_tag"), index),
        st.tuples(st.just("rename_section"), st.sampled_from(SECTIONS), index),
        st.tuples(st.just("delete_section"), st.sampled_from(SECTIONS)),
    ),
    min_size=1,
    max_size=16,
)


@contextmanager
def scratch_database() -> Iterator[sessionmaker[Session]]:
    """A new database per example (SQLite file or a fresh PostgreSQL database)."""
    with tempfile.TemporaryDirectory() as tmp, fresh_database(Path(tmp)) as url:
        engine = db.make_engine(url)
        Base.metadata.create_all(engine)
        try:
            yield db.session_factory(engine)
        finally:
            engine.dispose()


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(operations)
def test_entries_equal_routing_after_any_edits(ops: list[tuple[Any, ...]]) -> None:
    config = Settings.load(environ={}, overrides={"base_url": "http://feeds.test"})
    with scratch_database() as sessions:
        clock = Clock(START)
        with db.transaction(sessions) as session:
            taxonomy.create_section(session, {"name": SECTIONS[0]}, clock())
            taxonomy.create_section(
                session, {"name": SECTIONS[1], "rule_any_tags": ["景區"]}, clock()
            )
            taxonomy.create_section(session, {"name": SECTIONS[2]}, clock())
            # Articles to start from, so every rename, merge or rule change moves something.
            ids = [
                _article(
                    session,
                    config,
                    clock() - timedelta(days=n),
                    title=f"起{n}",
                    tags=TAGS[n % 5 : n % 5 + 2],
                    sections=SECTIONS[n % 3 : n % 3 + 1],
                )
                for n in range(6)
            ]
        assert_in_step(sessions)
        for op in ops:
            try:
                with db.transaction(sessions) as session:
                    apply(session, op, config, clock, ids)
            except FeedsvcError:
                pass  # refused (gone, taken, invalid): the transaction changed nothing
            assert_in_step(sessions)


def apply(
    session: Session, op: tuple[Any, ...], config: Settings, clock: Clock, ids: list[int]
) -> None:
    kind, now = op[0], clock()
    if kind == "create":
        _, status, offset, tags, sections = op
        fields = {
            "title": f"文章{len(ids)}",
            "status": status,
            "published_at": now + timedelta(minutes=offset),
            "tags": tags,
            "sections": [s for s in sections if _section_exists(session, s)],
        }
        ids.append(publishing.create_article(session, fields, now, config).id)
    elif kind == "wait":
        clock.advance(minutes=op[1])
        publishing.publish_due(session, clock())
    elif kind in ("edit", "retag", "rewrite", "delete") and ids:
        target = ids[op[1] % len(ids)]
        if kind == "delete":
            publishing.delete_article(session, target, now)
            return
        if kind == "edit":
            _, _, status, offset, tags, sections = op
            fields: dict[str, Any] = {
                "status": status,
                "published_at": now + timedelta(minutes=offset),
                "tags": tags,
                "sections": [s for s in sections if _section_exists(session, s)],
            }
        elif kind == "retag":
            fields = {"tags": op[2]}
        else:
            fields = {"content_html": "<p>" + "長" * op[2] + "</p>"}
        publishing.update_article(session, target, fields, now, config)
    elif kind == "rule" and _section_exists(session, op[1]):
        taxonomy.update_section(session, op[1], {"rule_any_tags": op[2]}, now)
    elif kind == "rename_section" and _section_exists(session, op[1]):
        taxonomy.update_section(session, op[1], {"slug": f"section-{op[2]}"}, now)
    elif kind == "delete_section" and _section_exists(session, op[1]):
        taxonomy.delete_section(session, op[1])
    elif kind in ("rename_tag", "merge_tags", "delete_tag"):
        tags = list(session.scalars(select(Tag).order_by(Tag.id)))
        if not tags:
            return
        tag = tags[op[1] % len(tags)]
        if kind == "rename_tag":
            taxonomy.rename_tag(session, tag.slug, op[2], now)
        elif kind == "merge_tags":
            taxonomy.merge_tags(session, tag.slug, tags[op[2] % len(tags)].slug, now)
        else:
            taxonomy.delete_tag(session, tag.slug, now)


def _section_exists(session: Session, ref: str) -> bool:
    try:
        taxonomy.get_section(session, ref)
    except FeedsvcError:
        return False
    return True


# -- focused cases ----------------------------------------------------------------------------


def _article(session: Session, config: Settings, now: datetime, **fields: Any) -> int:
    fields.setdefault("status", "published")
    fields.setdefault("published_at", now)
    return publishing.create_article(session, fields, now, config).id


def _ids(sessions: sessionmaker[Session], path: str) -> list[int]:
    with sessions() as session:
        return queries.newest_ids(session, FeedKey.from_path(path), 100)


def test_rule_change_moves_articles_of_any_age(
    sessions: sessionmaker[Session], settings: Settings, clock: Clock
) -> None:
    with db.transaction(sessions) as session:
        taxonomy.create_section(session, {"name": "文旅", "rule_any_tags": ["景區"]}, clock())
        old = _article(
            session, settings, clock() - timedelta(days=900), title="舊", tags=["博物館"]
        )
        new = _article(session, settings, clock(), title="新", tags=["景區"])
    assert _ids(sessions, "/feeds/sections/wenlv") == [new]
    with db.transaction(sessions) as session:
        taxonomy.update_section(session, "wenlv", {"rule_any_tags": ["博物館"]}, clock())
    assert _ids(sessions, "/feeds/sections/wenlv") == [old]
    with db.transaction(sessions) as session:
        taxonomy.update_section(session, "wenlv", {"rule_any_tags": ["博物館", "景區"]}, clock())
    assert _ids(sessions, "/feeds/sections/wenlv") == [new, old]
    assert_in_step(sessions)


def test_tag_merge_moves_entries_to_the_target_and_its_rule_sections(
    sessions: sessionmaker[Session], settings: Settings, clock: Clock
) -> None:
    with db.transaction(sessions) as session:
        taxonomy.create_section(session, {"name": "樂活HOT", "rule_any_tags": ["景區"]}, clock())
        taxonomy.create_section(session, {"name": "文旅", "rule_any_tags": ["景點"]}, clock())
        a = _article(session, settings, clock() - timedelta(hours=2), title="甲", tags=["景點"])
        b = _article(session, settings, clock(), title="乙", tags=["景區"])
        taxonomy.merge_tags(session, "景點", "景區", clock())
    assert _ids(sessions, "/feeds/tags/jingqu") == [b, a]
    assert _ids(sessions, "/feeds/tags/jingdian") == []
    assert _ids(sessions, "/feeds/sections/lehuo-hot") == [b, a]
    assert _ids(sessions, "/feeds/sections/wenlv") == [b, a]  # its rule now names 景區
    assert_in_step(sessions)


def test_tag_delete_drops_its_feed_and_its_rule_matches(
    sessions: sessionmaker[Session], settings: Settings, clock: Clock
) -> None:
    with db.transaction(sessions) as session:
        taxonomy.create_section(session, {"name": "文旅", "rule_any_tags": ["景區"]}, clock())
        taxonomy.create_section(session, {"name": "資訊播報"}, clock())
        a = _article(session, settings, clock(), title="甲", tags=["景區"], sections=["資訊播報"])
        taxonomy.delete_tag(session, "景區", clock())
    assert _ids(sessions, "/feeds/sections/wenlv") == []
    assert _ids(sessions, "/feeds/sections/zixunbobao") == [a]  # placement stays
    assert _ids(sessions, "/feeds/all") == [a]
    with sessions() as session:
        assert (
            session.scalar(select(FeedEntry).where(FeedEntry.feed_key.like("/feeds/tags/%")))
            is None
        )
    assert_in_step(sessions)


def test_renamed_tag_and_section_keep_their_entries_under_the_new_key(
    sessions: sessionmaker[Session], settings: Settings, clock: Clock
) -> None:
    with db.transaction(sessions) as session:
        taxonomy.create_section(session, {"name": "文旅", "rule_any_tags": ["景區"]}, clock())
        a = _article(session, settings, clock(), title="甲", tags=["景區"])
        taxonomy.rename_tag(session, "景區", "風景區", clock())
        taxonomy.update_section(session, "wenlv", {"slug": "culture"}, clock())
    assert _ids(sessions, "/feeds/tags/fengjingqu") == [a]
    assert _ids(sessions, "/feeds/tags/jingqu") == []
    assert _ids(sessions, "/feeds/sections/culture") == [a]
    assert _ids(sessions, "/feeds/sections/wenlv") == []
    assert_in_step(sessions)


def test_scheduled_article_enters_its_feeds_when_published(
    sessions: sessionmaker[Session], settings: Settings, clock: Clock
) -> None:
    with db.transaction(sessions) as session:
        a = _article(
            session,
            settings,
            clock(),
            title="預告",
            status="scheduled",
            published_at=clock() + timedelta(hours=1),
            tags=["元宵"],
        )
    assert _ids(sessions, "/feeds/all") == []
    clock.advance(minutes=59)
    with db.transaction(sessions) as session:
        assert publishing.publish_due(session, clock()) == 0
    assert _ids(sessions, "/feeds/tags/yuanxiao") == []
    clock.advance(minutes=1)
    with db.transaction(sessions) as session:
        assert publishing.publish_due(session, clock()) == 1
    assert _ids(sessions, "/feeds/all") == [a]
    assert _ids(sessions, "/feeds/tags/yuanxiao") == [a]
    assert_in_step(sessions)


def test_retraction_and_deletion_remove_every_entry(
    sessions: sessionmaker[Session], settings: Settings, clock: Clock
) -> None:
    with db.transaction(sessions) as session:
        taxonomy.create_section(session, {"name": "資訊播報"}, clock())
        a = _article(session, settings, clock(), title="甲", tags=["余姚"], sections=["資訊播報"])
        b = _article(session, settings, clock(), title="乙", tags=["余姚"])
    with db.transaction(sessions) as session:
        publishing.update_article(session, a, {"status": "retracted"}, clock(), settings)
        publishing.delete_article(session, b, clock())
    with sessions() as session:
        assert actual_rows(session) == set()
    with db.transaction(sessions) as session:
        publishing.update_article(session, a, {"status": "published"}, clock(), settings)
    assert _ids(sessions, "/feeds/sections/zixunbobao") == [a]
    assert_in_step(sessions)


def test_edits_move_an_entry_in_time_and_resize_it(
    sessions: sessionmaker[Session], settings: Settings, clock: Clock
) -> None:
    with db.transaction(sessions) as session:
        a = _article(session, settings, clock() - timedelta(days=1), title="甲")
        b = _article(session, settings, clock(), title="乙")
    assert _ids(sessions, "/feeds/all") == [b, a]
    with db.transaction(sessions) as session:
        fields = {
            "published_at": clock() + timedelta(seconds=-1),
            "content_html": "<p>長文</p>" * 50,
        }
        publishing.update_article(session, a, fields, clock(), settings)
    assert _ids(sessions, "/feeds/all") == [b, a]
    with db.transaction(sessions) as session:
        publishing.update_article(session, a, {"published_at": clock()}, clock(), settings)
    assert _ids(sessions, "/feeds/all") == [b, a]  # same instant: the larger id first
    with db.transaction(sessions) as session:
        publishing.update_article(
            session, b, {"published_at": clock() - timedelta(days=2)}, clock(), settings
        )
    assert _ids(sessions, "/feeds/all") == [a, b]
    assert_in_step(sessions)


def test_migration_backfills_articles_stored_before_it(
    engine: Engine, sessions: sessionmaker[Session], settings: Settings, clock: Clock
) -> None:
    with db.transaction(sessions) as session:
        taxonomy.create_section(session, {"name": "資訊播報"}, clock())
        taxonomy.create_section(session, {"name": "文旅", "rule_any_tags": ["景區"]}, clock())
        _article(
            session, settings, clock(), title="甲", tags=["景區", "余姚"], sections=["資訊播報"]
        )
        _article(session, settings, clock(), title="乙", tags=["景區"], sections=["資訊播報"])
        _article(session, settings, clock(), title="丙", status="draft", tags=["景區"])
        _article(session, settings, clock(), title="丁", status="retracted", tags=["余姚"])
    with sessions() as session:
        before = actual_rows(session)
    assert len(before) == 2 + 3 + 2 + 2  # site, tags, sections by placement and by rule
    config = db.alembic_config(engine)
    command.downgrade(config, "0005")
    command.upgrade(config, "head")
    with sessions() as session:
        assert actual_rows(session) == before
    assert_in_step(sessions)


# -- reading ----------------------------------------------------------------------------------


class Statements:
    """The SQL an engine runs while this is active."""

    def __init__(self, engine: Engine) -> None:
        self.engine, self.seen = engine, []  # type: list[str]

    def _record(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.seen.append(statement)

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)


def test_newest_items_with_tags_take_the_same_queries_for_5_or_50(
    engine: Engine, sessions: sessionmaker[Session], settings: Settings, clock: Clock
) -> None:
    with db.transaction(sessions) as session:
        for n in range(60):
            _article(
                session,
                settings,
                clock() + timedelta(minutes=n),
                title=f"第{n}篇",
                tags=[f"標{n % 7}", "全部"],
            )
    counts = []
    for limit in (5, 50):
        with sessions() as session, Statements(engine) as log:
            ids = queries.newest_ids(session, FeedKey.tag("quanbu"), limit)
            articles = queries.load_articles(session, ids)
            categories = [[t.slug for t in a.tags] for a in articles]
        assert len(articles) == limit
        assert all(len(c) == 2 for c in categories)
        assert [a.title for a in articles][:2] == ["第59篇", "第58篇"]
        counts.append(len(log.seen))
    assert counts[0] == counts[1] <= 4  # ids, articles, their tag ids, the tags


def test_arranging_pages_reads_no_article_text(
    engine: Engine, sessions: sessionmaker[Session], settings: Settings, clock: Clock
) -> None:
    with db.transaction(sessions) as session:
        for n in range(130):
            _article(session, settings, clock() + timedelta(minutes=n), title=f"第{n}篇")
    with db.transaction(sessions) as session, Statements(engine) as log:
        layout = archives.arrange(session, FeedKey.site(), settings, clock())
    assert layout is not None
    assert not [s for s in log.seen if "content_html" in s or "FROM articles" in s]
    assert len(layout.current_ids) == settings.feed_items
    with sessions() as session:
        ids = archives.page_ids(session, FeedKey.site(), layout, 1)
        page_one = items.load_items(session, ids, settings)
    assert [a.title for a in page_one][-1] == "第0篇"
    assert len(page_one) == settings.archive_page_items


def test_items_from_rows_equal_items_from_articles(
    sessions: sessionmaker[Session], settings: Settings, clock: Clock
) -> None:
    with db.transaction(sessions) as session:
        taxonomy.create_section(session, {"name": "資訊播報"}, clock())
        for n in range(8):
            _article(
                session,
                settings,
                clock() - timedelta(hours=n % 3),  # equal times: the id decides the order
                title=f"第{n}篇",
                tags=TAGS[n % 4 : n % 4 + n % 3],
                link=f"https://elsewhere.example/{n}" if n % 2 else None,
                content_html="<p>正文</p>" * n,
            )
    with sessions() as session:
        ids = queries.newest_ids(session, FeedKey.site(), 50)
        from_rows = items.load_items(session, ids, settings)
        from_articles = [items.to_item(a, settings) for a in queries.load_articles(session, ids)]
    assert len(from_rows) == 8
    assert from_rows == from_articles
    with sessions() as session:
        assert items.newest_items(session, FeedKey.site(), 50, settings) == from_rows
        assert items.newest_items(session, FeedKey.site(), 3, settings) == from_rows[:3]
    published = [i.published for i in from_rows]
    assert published == sorted(published, reverse=True)
