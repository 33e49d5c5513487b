"""store.forget and store.drop_pages delete exactly the documents of the feed or pages named.

A feed's documents are stored under its path, `<path>/archive/<n>` and either with
`@<variant>`. Slugs are lowercase ASCII words joined by "-" (text.is_valid_slug), so a key
that differs from a feed's only after the slug ("tags/x-y", "tags/x-archive-1") belongs to
another feed. "_" is no slug character, but it is a LIKE wildcard: a key holding one (a row
written before slugs were checked, or by hand) must not reach its neighbours either.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from feedsvc import db, store
from feedsvc.models import RenderedFeed
from feedsvc.text import is_valid_slug
from feedsvc.types import FeedKey, Rendered

NOW = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)


def family(path: str, pages: tuple[int, ...] = (1, 2, 12)) -> set[str]:
    """A feed's document paths: current and archive pages, each in both variants too."""
    stems = [path, *(f"{path}/archive/{n}" for n in pages)]
    return {f"{stem}{suffix}" for stem in stems for suffix in ("", "@zh-hans", "@zh-hant")}


def stored(sessions: sessionmaker[Session]) -> set[str]:
    with sessions() as session:
        return set(session.scalars(select(RenderedFeed.key).distinct()))


def fill(sessions: sessionmaker[Session], paths: set[str]) -> None:
    documents = [
        store.Document(
            path, fmt, Rendered(b"<feed/>", f'"{path}:{fmt}"', "application/atom+xml", 0), NOW
        )
        for path in sorted(paths)
        for fmt in ("atom", "json")
    ]
    with db.transaction(sessions) as session:
        assert store.save_documents(session, documents, NOW, 1.0, 1) == len(documents)


# Other feeds whose keys start like /feeds/tags/x's, or differ from them in one character.
NEIGHBOURS = (
    family("/feeds/tags/x-y")
    | family("/feeds/tags/xy")
    | family("/feeds/tags/x-archive-1")
    | family("/feeds/tags/a-b")
    | family("/feeds/sections/x")
    | family("/feeds/all")
)


def test_forget_removes_every_document_of_the_feed_and_nothing_else(
    sessions: sessionmaker[Session],
) -> None:
    assert is_valid_slug("x-archive-1")
    fill(sessions, family("/feeds/tags/x") | NEIGHBOURS)
    with db.transaction(sessions) as session:
        store.forget(session, [FeedKey.tag("x")])
    assert stored(sessions) == NEIGHBOURS


@pytest.mark.parametrize("slug", ["a_b", "a%b"])
def test_forget_treats_like_wildcards_as_plain_characters(
    sessions: sessionmaker[Session], slug: str
) -> None:
    assert not is_valid_slug(slug)
    own = family(f"/feeds/tags/{slug}")
    fill(sessions, own | NEIGHBOURS)
    with db.transaction(sessions) as session:
        store.forget(session, [FeedKey.tag(slug)])
    assert stored(sessions) == NEIGHBOURS


def test_drop_pages_removes_those_pages_in_every_variant_and_nothing_else(
    sessions: sessionmaker[Session],
) -> None:
    fill(sessions, family("/feeds/tags/x") | family("/feeds/tags/a_b") | NEIGHBOURS)
    with db.transaction(sessions) as session:
        store.drop_pages(session, FeedKey.tag("x"), [2, 12])
        store.drop_pages(session, FeedKey.tag("a_b"), [1])
    dropped = {
        f"{stem}{suffix}"
        for stem in (
            "/feeds/tags/x/archive/2",
            "/feeds/tags/x/archive/12",
            "/feeds/tags/a_b/archive/1",
        )
        for suffix in ("", "@zh-hans", "@zh-hant")
    }
    assert (
        stored(sessions)
        == (family("/feeds/tags/x") | family("/feeds/tags/a_b") | NEIGHBOURS) - dropped
    )


def test_a_feeds_archive_pages_are_found_through_an_index(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    """Every render counts its feed's stored archive pages by path prefix. On PostgreSQL
    the primary key serves a prefix only under the "C" collation, so without the
    varchar_pattern_ops index (migration 0008) each render read the whole table."""
    fill(sessions, family("/feeds/tags/x") | family("/feeds/tags/y"))
    with sessions() as session:
        under = store.archive_paths(session, FeedKey.tag("x"))
        sql = (
            select(RenderedFeed.key)
            .where(under)
            .compile(engine, compile_kwargs={"literal_binds": True})
        )
        if engine.dialect.name == "sqlite":
            plan = " ".join(r[-1] for r in session.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
            assert "USING COVERING INDEX" in plan or "USING PRIMARY KEY" in plan, plan
            assert "(key>? AND key<?)" in plan, plan
        else:
            # A handful of rows: make the planner show whether an index can serve at all.
            session.execute(text("SET LOCAL enable_seqscan = off"))
            plan = " ".join(r[0] for r in session.execute(text(f"EXPLAIN {sql}")))
            assert "ix_rendered_feeds_key_prefix" in plan, plan
        assert len(session.scalars(select(RenderedFeed.key).where(under)).all()) == 18


def test_rendered_bodies_are_not_stored_through_pglz(engine: Engine) -> None:
    """pglz cost the PostgreSQL server about 3 ms a stored document (migration 0009)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite stores blobs as they are")
    with engine.connect() as conn:
        columns = dict(
            conn.execute(
                text(
                    "SELECT attname, attstorage::text || ':' || attcompression::text"
                    " FROM pg_attribute WHERE attrelid = 'rendered_feeds'::regclass"
                    " AND attname IN ('body', 'body_gzip')"
                )
            ).all()
        )
        lz4 = "lz4" in conn.scalar(
            text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
        )
    assert columns["body_gzip"].startswith("e:")  # EXTERNAL: out of line, never compressed
    assert columns["body"] == ("x:l" if lz4 else "x:")
