"""Engines, sessions and migrations. The only place that knows SQLite from PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = "feedsvc:migrations"


def make_engine(url: str, durable: bool = True) -> Engine:
    """An engine with the project's connection settings.

    `durable=False` lets a commit return before it reaches the disk: a crash may then lose
    the last commits, never consistency. Only for work that is redone when lost: a
    rebuild's renders (a feed's dirty mark is cleared in the commit that stores its bytes,
    and a rebuild cut short by a crash is run again).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        options = {} if durable else {"options": "-c synchronous_commit=off"}
        return create_engine(url, pool_pre_ping=True, connect_args=options)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
        # WAL lets web workers read while the scheduler writes; foreign keys are off by
        # default in SQLite and the cascades depend on them.
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        if not durable:
            cur.execute("PRAGMA synchronous=NORMAL")  # in WAL mode: no fsync per commit
        cur.close()

    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back everything on any error."""
    with factory() as session, session.begin():
        yield session


# pg_advisory_xact_lock's key for the routing lock: a constant nothing else uses ("feed").
ROUTING_LOCK_KEY = 0x66656564


def lock_routing(session: Session, exclusive: bool) -> None:
    """Take the routing lock for the rest of the session's transaction; call it first.

    Article writes read the section rules and keep the article's feed_entries rows in step;
    routing changes (rules, tag merges, renames, deletes) rebuild whole feeds' rows from the
    articles. Article writes take this lock shared, routing changes exclusive, before they
    read anything: an article write never routes by rules a concurrent change is replacing,
    and a feed's rebuild never interleaves with an article's own rows (on PostgreSQL, READ
    COMMITTED, that raised unique-key violations or left an article in a feed twice).
    A transaction that does both takes it exclusive first: a shared holder that then asks
    for it exclusive waits for every other shared holder.

    PostgreSQL: an advisory lock, released at commit or rollback.
    SQLite: the database's write lock, which is exclusive anyway. pysqlite opens the
    transaction (a deferred BEGIN) only at the first INSERT/UPDATE/DELETE and runs the
    reads before it outside any transaction, so reads before the first write see whatever
    was last committed and nothing stops another writer from committing right after them.
    A write that changes no row still takes the lock (waiting for it, busy_timeout) and
    opens the transaction; once the connection holds the lock, it is a no-op.
    """
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        connection.execute(text("UPDATE sections SET id = id WHERE 0"))
    else:
        mode = "" if exclusive else "_shared"
        connection.execute(text(f"SELECT pg_advisory_xact_lock{mode}({ROUTING_LOCK_KEY})"))


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", MIGRATIONS)
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent)."""
    command.upgrade(alembic_config(engine), "head")


def is_migrated(engine: Engine) -> bool:
    return inspect(engine).has_table("alembic_version")
