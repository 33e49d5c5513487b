"""Article writes and routing changes at once: the routing lock (db.lock_routing) makes them
take turns, so feed_entries ends as routing says and neither write fails.

Each race runs an article write in this thread and a routing change in a second thread,
started at a chosen point of the article write (after it read the section rules, or after
it synced the article's rows) and given the time to finish or to block before the article
write commits. With the lock the routing change waits for that commit; without it, it ran
in between: the article stayed routed by the old rules (both databases), or the feed's
refill collided with the article's new row (PostgreSQL: a unique-key violation).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, text
from sqlalchemy.orm import Session, sessionmaker

from feedsvc import db, publishing, queries, taxonomy
from feedsvc.config import Settings
from feedsvc.ingest.importer import import_document
from feedsvc.ingest.sources import SourceArticle, SourceDocument
from feedsvc.models import Article, FeedEntry
from tests.conftest import Clock
from tests.test_membership_order import assert_in_step

WENLV = "/feeds/sections/wenlv"
JINGQU = "/feeds/tags/jingqu"


def done_or_blocked(engine: Engine, done: Callable[[], bool]) -> None:
    """Wait until `done()` holds or a transaction of this database waits for a lock."""
    if engine.dialect.name == "sqlite":
        # SQLite shows no waiters; a second is ample for a write that nothing blocks.
        deadline = time.monotonic() + 1
        while not done() and time.monotonic() < deadline:
            time.sleep(0.01)
        return
    deadline = time.monotonic() + 30
    while not done() and not someone_waits(engine):
        assert time.monotonic() < deadline, "neither done nor blocked"
        time.sleep(0.01)


def someone_waits(engine: Engine) -> bool:
    with engine.connect() as connection:
        waiting = connection.scalar(
            text(
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND pid IN"
                " (SELECT pid FROM pg_stat_activity WHERE datname = current_database())"
            )
        )
    return bool(waiting)


class Meanwhile:
    """A second transaction in a thread of its own, started while this one is open."""

    def __init__(self, engine: Engine, work: Callable[[], object]) -> None:
        self.engine = engine
        self.errors: list[BaseException] = []
        self.started = False
        self.thread = threading.Thread(target=self._run, args=(work,))

    def _run(self, work: Callable[[], object]) -> None:
        try:
            work()
        except BaseException as exc:  # re-raised in this thread by finish()
            self.errors.append(exc)

    def start(self) -> None:
        """Start it; return once it has finished or is waiting for a lock."""
        self.started = True
        self.thread.start()
        done_or_blocked(self.engine, lambda: not self.thread.is_alive())

    def finish(self) -> None:
        self.thread.join(timeout=60)
        assert not self.thread.is_alive()
        if self.errors:
            raise self.errors[0]


def ids_in(sessions: sessionmaker[Session], path: str) -> list[int]:
    with sessions() as session:
        stmt = select(FeedEntry.article_id).where(FeedEntry.feed_key == path)
        return sorted(session.scalars(stmt))


def publish(session: Session, settings: Settings, clock: Clock, **fields: Any) -> int:
    fields = {"status": "published", "published_at": clock(), **fields}
    return publishing.create_article(session, fields, clock(), settings).id


# -- a rule changes while an article write routes by the rules it read -----------------------


@pytest.mark.parametrize("write", ["publish_due", "publish_draft", "save_unchanged"])
def test_a_rule_change_meanwhile_routes_the_article_by_the_new_rule(
    write: str,
    engine: Engine,
    sessions: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The article write reads the section rules; right then an admin makes 文旅's rule
    take 景區, the article's tag. The article must end in 文旅.

    Without the lock the rule change committed before the article write did, whose rows
    then followed the old rule: 文旅 missed the article (or lost it again) until its next
    edit. publish_due and an unchanged save read the rules before their first write, so
    this happened on SQLite too; publishing a draft writes the article first, which on
    SQLite took the database's write lock early enough.
    """
    with db.transaction(sessions) as session:
        taxonomy.create_section(session, {"name": "文旅"}, clock())
        fields: dict[str, Any] = {"title": "燈會", "tags": ["景區"]}
        if write == "publish_due":
            fields |= {"status": "scheduled", "published_at": clock() + timedelta(hours=1)}
        elif write == "publish_draft":
            fields |= {"status": "draft"}
        article = publish(session, settings, clock, **fields)
    clock.advance(hours=1)

    def change_rule() -> None:
        with db.transaction(sessions) as session:
            taxonomy.update_section(session, "wenlv", {"rule_any_tags": ["景區"]}, clock())

    meanwhile = Meanwhile(engine, change_rule)
    real_rules, writer = queries.section_rules, threading.get_ident()

    def rules_then_change(session: Session) -> list[Any]:
        rules = real_rules(session)
        if threading.get_ident() == writer and not meanwhile.started:
            meanwhile.start()
        return rules

    monkeypatch.setattr(queries, "section_rules", rules_then_change)
    with db.transaction(sessions) as session:
        if write == "publish_due":
            assert publishing.publish_due(session, clock()) == 1
        elif write == "publish_draft":
            publishing.update_article(session, article, {"status": "published"}, clock(), settings)
        else:
            publishing.update_article(session, article, {"title": "燈會"}, clock(), settings)
    meanwhile.finish()
    monkeypatch.undo()

    assert ids_in(sessions, WENLV) == [article]
    assert_in_step(sessions)


# -- a feed is refilled while an article write has moved the article's rows -----------------


@pytest.mark.parametrize("change", ["merge_tags", "update_section"])
def test_a_refill_meanwhile_neither_fails_nor_doubles_the_article(
    change: str,
    engine: Engine,
    sessions: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
) -> None:
    """An edit moves an article in time (its rows in 景區's and 文旅's feeds move with it);
    before it commits, an admin merges 景點 into 景區, or widens 文旅's rule, refilling the
    feed the article is in.

    Without the lock, on PostgreSQL (READ COMMITTED), the refill's DELETE waited for the
    edit's deleted row, missed the edit's new row, and its INSERT ... SELECT then wrote
    that row again: a unique-key violation, a 500 for the admin.
    """
    with db.transaction(sessions) as session:
        taxonomy.create_section(session, {"name": "文旅", "rule_any_tags": ["景區"]}, clock())
        moved = publish(session, settings, clock, title="燈會", tags=["景區"], published_at=clock())
        other = publish(session, settings, clock, title="廟會", tags=["景點"])
    assert ids_in(sessions, JINGQU) == ids_in(sessions, WENLV) == [moved]

    def refill() -> None:
        with db.transaction(sessions) as session:
            if change == "merge_tags":
                taxonomy.merge_tags(session, "景點", "景區", clock())
            else:
                rule = {"rule_any_tags": ["景區", "景點"]}
                taxonomy.update_section(session, "wenlv", rule, clock())

    meanwhile = Meanwhile(engine, refill)
    earlier = {"published_at": clock() - timedelta(hours=2)}
    with db.transaction(sessions) as session:
        publishing.update_article(session, moved, earlier, clock(), settings)
        meanwhile.start()
    meanwhile.finish()

    feed = JINGQU if change == "merge_tags" else WENLV
    assert ids_in(sessions, feed) == sorted([moved, other])  # each once, at one time
    assert_in_step(sessions)


def test_a_refill_meanwhile_leaves_the_article_once_at_its_new_time(
    engine: Engine,
    sessions: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The other order: the edit has moved the article in time but not yet its rows when
    文旅's rule changes, and the rule change holds its refill uncommitted while the edit
    syncs the rows.

    Without the lock, on PostgreSQL, the edit's DELETE of the old row waited for the
    refill, which had deleted it and written it again at the old time; the edit's snapshot
    missed that new row, so the article stayed in 文旅 twice, at both times.
    """
    with db.transaction(sessions) as session:
        taxonomy.create_section(session, {"name": "文旅", "rule_any_tags": ["景區"]}, clock())
        moved = publish(session, settings, clock, title="燈會", tags=["景區"])
    edit_paused, edit_go = threading.Event(), threading.Event()
    rule_paused, rule_go = threading.Event(), threading.Event()
    real_sync = queries.sync_entries

    def pause_then_sync(session: Session, article: Article, rules: Any = None) -> None:
        edit_paused.set()
        edit_go.wait(timeout=60)
        real_sync(session, article, rules)

    def edit() -> None:
        with db.transaction(sessions) as session:
            fields = {"published_at": clock() - timedelta(hours=2)}
            publishing.update_article(session, moved, fields, clock(), settings)

    def change_rule() -> None:
        with db.transaction(sessions) as session:
            rule = {"rule_any_tags": ["景區", "博物館"]}
            taxonomy.update_section(session, "wenlv", rule, clock())
            rule_paused.set()
            rule_go.wait(timeout=60)

    monkeypatch.setattr(queries, "sync_entries", pause_then_sync)
    editing, changing = Meanwhile(engine, edit), Meanwhile(engine, change_rule)
    editing.thread.start()
    assert edit_paused.wait(timeout=60)  # the article row is moved, its feed rows not yet
    changing.thread.start()
    done_or_blocked(engine, rule_paused.is_set)  # refilled, not committed; or blocked
    edit_go.set()
    done_or_blocked(engine, lambda: not editing.thread.is_alive())
    rule_go.set()
    editing.finish()
    changing.finish()
    monkeypatch.undo()

    assert ids_in(sessions, WENLV) == [moved]
    assert_in_step(sessions)


# -- two edits of one article ----------------------------------------------------------------


def test_two_edits_of_one_article_take_turns(
    engine: Engine,
    sessions: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One edit moves the article in time; meanwhile another changes its tags.

    Both take the routing lock shared, so it does not order them. Without the article's row
    lock, on PostgreSQL, the second edit read the article as it was before the first
    committed and wrote its new tag's row at the old time: 景點's feed held the article at
    a time it no longer had.
    """
    with db.transaction(sessions) as session:
        article = publish(session, settings, clock, title="燈會", tags=["景區"])
    real_sync, mover = queries.sync_entries, threading.get_ident()

    def retag() -> None:
        with db.transaction(sessions) as session:
            fields = {"tags": ["景區", "景點"]}
            publishing.update_article(session, article, fields, clock(), settings)

    meanwhile = Meanwhile(engine, retag)

    def sync_then_retag(session: Session, synced: Article, rules: Any = None) -> None:
        real_sync(session, synced, rules)
        if threading.get_ident() == mover and not meanwhile.started:
            meanwhile.start()  # the move is synced, not committed

    monkeypatch.setattr(queries, "sync_entries", sync_then_retag)
    with db.transaction(sessions) as session:
        fields = {"published_at": clock() - timedelta(hours=2)}
        publishing.update_article(session, article, fields, clock(), settings)
    meanwhile.finish()
    monkeypatch.undo()

    assert ids_in(sessions, "/feeds/tags/jingdian") == [article]
    assert_in_step(sessions)


# -- every use case takes the lock before it reads anything ----------------------------------


Work = Callable[[Session, Settings, Clock], object]
DOCUMENT = SourceDocument(
    articles=(SourceArticle(title="燈會", content_html="<p>燈</p>", sections=("樂活",)),)
)
USE_CASES: dict[str, tuple[bool, Work]] = {
    "create_article": (False, lambda s, c, k: publish(s, c, k, title="新", tags=["景區"])),
    "update_article": (
        False,
        lambda s, c, k: publishing.update_article(s, 1, {"title": "改"}, k(), c),
    ),
    "add_tags": (False, lambda s, c, k: publishing.add_tags(s, 1, ["鄭州"], k(), c)),
    "remove_tag": (False, lambda s, c, k: publishing.remove_tag(s, 1, "jingdian", k(), c)),
    "delete_article": (False, lambda s, c, k: publishing.delete_article(s, 1, k())),
    "publish_due": (False, lambda s, c, k: publishing.publish_due(s, k())),
    "create_tag": (False, lambda s, c, k: taxonomy.create_tag(s, "鄭州", None, k())),
    "update_tag": (True, lambda s, c, k: taxonomy.update_tag(s, "jingqu", {"slug": "jq"}, k())),
    "rename_tag": (True, lambda s, c, k: taxonomy.rename_tag(s, "jingqu", "風景區", k())),
    "merge_tags": (True, lambda s, c, k: taxonomy.merge_tags(s, "jingqu", "jingdian", k())),
    "delete_tag": (True, lambda s, c, k: taxonomy.delete_tag(s, "jingqu", k())),
    "create_section": (True, lambda s, c, k: taxonomy.create_section(s, {"name": "河南"}, k())),
    "update_section": (
        True,
        lambda s, c, k: taxonomy.update_section(s, "wenlv", {"rule_any_tags": ["景點"]}, k()),
    ),
    "delete_section": (True, lambda s, c, k: taxonomy.delete_section(s, "wenlv")),
    "import_document": (True, lambda s, c, k: import_document(s, DOCUMENT, k(), c, publish=True)),
}


@pytest.fixture
def statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements the engine runs while the test holds this list."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


@pytest.mark.parametrize("name", USE_CASES)
def test_every_use_case_locks_routing_before_it_reads(
    name: str,
    statements: list[str],
    sessions: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
) -> None:
    exclusive, work = USE_CASES[name]
    with db.transaction(sessions) as session:
        taxonomy.create_section(session, {"name": "文旅", "rule_any_tags": ["景區"]}, clock())
        assert publish(session, settings, clock, title="燈會", tags=["景區", "景點"]) == 1
    statements.clear()
    with db.transaction(sessions) as session:
        db.lock_routing(session, exclusive)
        (lock,) = statements
    statements.clear()
    with db.transaction(sessions) as session:
        work(session, settings, clock)
    assert statements[0] == lock
    assert_in_step(sessions)
