"""The scheduler's work: leases, dirty marks claimed without loss, stored bytes, failures."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from feedsvc import db, publishing, regenerate, store, taxonomy
from feedsvc.config import Settings
from feedsvc.jobs import Renderer
from feedsvc.models import FeedState, RenderedFeed
from feedsvc.types import FeedKey, Format
from tests.conftest import Clock

SITE = FeedKey.site()


def rendered(sessions: sessionmaker[Session], key: FeedKey, fmt: Format = "atom") -> RenderedFeed:
    with sessions() as session:
        row = store.load_rendered(session, key, fmt)
    assert row is not None, f"{key} was not rendered"
    return row


def dirty_keys(sessions: sessionmaker[Session]) -> set[str]:
    with sessions() as session:
        return set(session.scalars(select(FeedState.key).where(FeedState.dirty.is_(True))))


def add_article(
    sessions: sessionmaker[Session], settings: Settings, clock: Clock, **fields: object
) -> int:
    fields = {"title": "測試", "status": "published", "published_at": clock(), **fields}
    with db.transaction(sessions) as session:
        return publishing.create_article(session, fields, clock(), settings).id


def test_one_leader_among_schedulers(
    sessions: sessionmaker[Session], settings: Settings, clock: Clock
) -> None:
    first = Renderer(sessions, settings, clock=clock, holder="first")
    second = Renderer(sessions, settings, clock=clock, holder="second")
    assert first.lead()
    assert not second.lead()
    assert second.tick() is None  # a standby renders nothing
    assert first.lead()  # renewal keeps it
    clock.advance(seconds=settings.lease_seconds + 1)  # the leader stops renewing (dies)
    assert second.lead()
    assert not first.lead()


def test_lease_token_increases_on_every_takeover(
    sessions: sessionmaker[Session], settings: Settings, clock: Clock
) -> None:
    ttl = timedelta(seconds=settings.lease_seconds)
    tokens = []
    for holder in ("a", "b", "a"):
        with db.transaction(sessions) as session:
            tokens.append(store.acquire_lease(session, "scheduler", holder, clock(), ttl))
        clock.advance(seconds=settings.lease_seconds + 1)
    assert tokens == sorted(tokens)
    assert len(set(tokens)) == 3


def test_resigning_hands_over_at_once(
    sessions: sessionmaker[Session], settings: Settings, clock: Clock
) -> None:
    first = Renderer(sessions, settings, clock=clock, holder="first")
    second = Renderer(sessions, settings, clock=clock, holder="second")
    assert first.lead()
    first.resign()
    assert second.lead()


def test_tick_renders_dirty_feeds_then_settles(
    sessions: sessionmaker[Session], settings: Settings, clock: Clock, renderer: Renderer
) -> None:
    add_article(sessions, settings, clock, tags=["余姚"])
    assert dirty_keys(sessions) == {"/feeds/all", "/feeds/tags/yuyao"}
    report = renderer.tick()
    assert report is not None
    assert set(report.rendered) == {SITE, FeedKey.tag("yuyao")}
    assert dirty_keys(sessions) == set()
    again = renderer.tick()
    assert again is not None
    assert again.rendered == []


def test_a_mark_made_during_rendering_is_not_lost(
    sessions: sessionmaker[Session], settings: Settings, clock: Clock
) -> None:
    add_article(sessions, settings, clock)
    with sessions() as session:
        (claim,) = store.dirty_feeds(session)
    # An edit lands while the scheduler renders from the claim it took.
    with db.transaction(sessions) as session:
        store.mark_dirty(session, [SITE], clock())
    with db.transaction(sessions) as session:
        assert not store.settle(session, claim)
    assert dirty_keys(sessions) == {"/feeds/all"}


def test_two_edits_marking_one_feed_at_once_both_count(
    sessions: sessionmaker[Session], settings: Settings, clock: Clock
) -> None:
    """Two edits' marks interleave: both must bump the generation, or a scheduler that
    claimed the first could clear the second's mark and its edit would wait for a sweep.

    The second edit runs, in a thread of its own, right after the first edit's first
    statement; the first commits a moment later. On SQLite a read-then-write mark lost the
    second's bump: the first wrote a generation computed from a stale read.
    """
    add_article(sessions, settings, clock)
    with sessions() as session:
        (claim,) = [c for c in store.dirty_feeds(session) if c.key == SITE]
    executed = 0
    second = threading.Thread(target=lambda: mark(sessions, clock))

    def after_first_statement(*_: object) -> None:
        nonlocal executed
        executed += 1
        if executed == 1:
            second.start()
            second.join(timeout=1)  # blocks while the first holds its lock: that is fine

    with db.transaction(sessions) as session:
        connection = session.connection()
        event.listen(connection, "after_cursor_execute", after_first_statement)
        try:
            store.mark_dirty(session, [SITE], clock())
        finally:
            event.remove(connection, "after_cursor_execute", after_first_statement)
    second.join(timeout=60)
    assert not second.is_alive()
    with sessions() as session:
        state = session.get(FeedState, SITE.path)
        assert state is not None
        assert state.generation == claim.generation + 2
    with db.transaction(sessions) as session:
        assert not store.settle(session, claim)


def test_a_mark_keeps_the_newest_change_and_the_oldest_touched_item(
    sessions: sessionmaker[Session], clock: Clock
) -> None:
    now = clock()
    marks = [  # (when the edit happened, the oldest item it touched)
        (now, now - timedelta(days=2)),
        (now - timedelta(hours=1), now - timedelta(days=5)),  # a clock that went back
        (now - timedelta(hours=2), now - timedelta(days=1)),
        (now - timedelta(hours=3), None),
    ]
    for when, touched in marks:
        with db.transaction(sessions) as session:
            store.mark_dirty(session, [SITE], when, touched)
    with sessions() as session:
        state = session.get(FeedState, SITE.path)
        assert state is not None
        assert (state.dirty, state.generation) == (True, len(marks))
        assert state.changed_at == now
        assert state.touched_from == now - timedelta(days=5)


def test_a_session_holding_the_feed_state_sees_its_own_marks(
    sessions: sessionmaker[Session], clock: Clock
) -> None:
    with db.transaction(sessions) as session:
        store.mark_dirty(session, [SITE], clock())
        state = session.get(FeedState, SITE.path)
        assert state is not None
        assert state.generation == 1
        store.mark_dirty(session, [SITE], clock())
        assert state.generation == 2


def test_a_mark_of_more_feeds_than_one_statement_takes_reaches_them_all(
    sessions: sessionmaker[Session], clock: Clock
) -> None:
    keys = [FeedKey.tag(f"t{n}") for n in range(1201)]  # three statements' worth
    with db.transaction(sessions) as session:
        store.mark_dirty(session, keys[:700], clock())
        store.mark_dirty(session, keys, clock())
    with sessions() as session:
        states = {s.key: s.generation for s in session.scalars(select(FeedState))}
    assert states == {k.path: 2 if n < 700 else 1 for n, k in enumerate(keys)}


def mark(sessions: sessionmaker[Session], clock: Clock) -> None:
    with db.transaction(sessions) as session:
        store.mark_dirty(session, [SITE], clock())


def test_unchanged_bytes_are_not_rewritten(
    sessions: sessionmaker[Session], settings: Settings, clock: Clock, renderer: Renderer
) -> None:
    add_article(sessions, settings, clock, tags=["余姚"])
    renderer.tick()
    before = rendered(sessions, SITE)
    clock.advance(minutes=10)
    report = renderer.sweep()
    assert report is not None
    assert report.rendered == []
    after = rendered(sessions, SITE)
    assert (after.etag, after.rendered_at, after.body) == (
        before.etag,
        before.rendered_at,
        before.body,
    )


def test_scheduled_article_appears_at_its_time_not_before(
    sessions: sessionmaker[Session], settings: Settings, clock: Clock, renderer: Renderer
) -> None:
    due = clock() + timedelta(hours=1)
    add_article(sessions, settings, clock, title="預定", status="scheduled", published_at=due)
    renderer.sweep()
    assert "預定".encode() not in rendered(sessions, SITE).body
    clock.advance(minutes=59)
    renderer.tick()
    assert "預定".encode() not in rendered(sessions, SITE).body
    clock.advance(minutes=1)
    renderer.tick()
    assert "預定".encode() in rendered(sessions, SITE).body


def test_last_modified_never_goes_backwards(
    sessions: sessionmaker[Session], settings: Settings, clock: Clock, renderer: Renderer
) -> None:
    article = add_article(sessions, settings, clock, title="舊")
    renderer.tick()
    first = rendered(sessions, SITE).last_modified
    clock.advance(minutes=5)
    with db.transaction(sessions) as session:
        publishing.update_article(session, article, {"title": "新"}, clock(), settings)
    renderer.tick()
    second = rendered(sessions, SITE)
    assert second.last_modified > first
    assert "新".encode() in second.body


def test_a_failing_feed_keeps_its_bytes_and_the_others_render(
    sessions: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
    renderer: Renderer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add_article(sessions, settings, clock, title="第一", tags=["余姚"])
    renderer.tick()
    good = rendered(sessions, FeedKey.tag("yuyao"))

    real = regenerate.render_all

    def fail_for_yuyao(meta, items):  # type: ignore[no-untyped-def]
        if meta.key == FeedKey.tag("yuyao"):
            raise RuntimeError("injected fault")
        return real(meta, items)

    monkeypatch.setattr(regenerate, "render_all", fail_for_yuyao)
    add_article(sessions, settings, clock, title="第二", tags=["余姚"])
    report = renderer.tick()
    assert report is not None
    assert report.failed == [FeedKey.tag("yuyao")]
    assert SITE in report.rendered
    assert rendered(sessions, FeedKey.tag("yuyao")).body == good.body  # last good bytes
    assert "/feeds/tags/yuyao" in dirty_keys(sessions)  # retried next tick
    with sessions() as session:
        state = session.get(FeedState, "/feeds/tags/yuyao")
        assert state is not None
        assert state.last_error == "RuntimeError: injected fault"

    monkeypatch.setattr(regenerate, "render_all", real)
    renderer.tick()
    assert "第二".encode() in rendered(sessions, FeedKey.tag("yuyao")).body
    with sessions() as session:
        state = session.get(FeedState, "/feeds/tags/yuyao")
        assert state is not None
        assert state.last_error is None


def test_deleted_tag_feed_is_forgotten(
    sessions: sessionmaker[Session], settings: Settings, clock: Clock, renderer: Renderer
) -> None:
    add_article(sessions, settings, clock, tags=["余姚", "蝶變"])
    renderer.tick()
    with db.transaction(sessions) as session:
        taxonomy.delete_tag(session, "yuyao", clock())
    with sessions() as session:
        assert store.load_rendered(session, FeedKey.tag("yuyao"), "rss") is None
    renderer.tick()
    # the items that carried it lose the category everywhere they appear
    assert "余姚".encode() not in rendered(sessions, FeedKey.tag("diebian")).body
    assert "余姚".encode() not in rendered(sessions, SITE).body


def test_sweep_renders_feeds_that_were_never_marked(
    sessions: sessionmaker[Session], settings: Settings, clock: Clock, renderer: Renderer
) -> None:
    add_article(sessions, settings, clock, tags=["余姚"])
    with db.transaction(sessions) as session:
        session.execute(FeedState.__table__.delete())  # a lost mark
    assert renderer.tick() is not None
    with sessions() as session:
        assert store.load_rendered(session, SITE, "rss") is None
    renderer.sweep()
    assert "測試".encode() in rendered(sessions, FeedKey.tag("yuyao")).body
