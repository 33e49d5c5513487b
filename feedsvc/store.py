"""Rendered-feed storage, dirty marks and leases: the state the scheduler and web share.

Callers own the transaction; nothing here commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from isal import igzip
from sqlalchemy import ColumnElement, case, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, load_only

from feedsvc.models import ArchivePage, FeedState, Lease, RenderedFeed, Tombstone
from feedsvc.types import FeedKey, Format, Rendered, parse_document_path
from feedsvc.variants import VARIANTS


def mark_dirty(
    session: Session,
    keys: Iterable[FeedKey],
    now: datetime,
    touched: datetime | None = None,
) -> None:
    """Mark feeds for rendering; part of the caller's (edit's) transaction.

    `touched` is the publication time of the oldest item the edit changed, if it may sit
    in an archive page: pages from there on are rendered again.

    One upsert, computed by the database (per 500 feeds): two edits marking a feed at once
    both bump its generation, whatever their isolation (SQLite reads outside the write lock).
    """
    paths = sorted({key.path for key in keys})
    upsert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    for start in range(0, len(paths), _IN_CHUNK):
        first = {"dirty": True, "generation": 1, "changed_at": now, "touched_from": touched}
        rows = [{"key": path, **first} for path in paths[start : start + _IN_CHUNK]]
        stmt = upsert(FeedState).values(rows)
        new = stmt.excluded
        changes: dict[str, Any] = {
            "dirty": True,
            "generation": FeedState.generation + 1,
            "changed_at": case(
                (FeedState.changed_at < new.changed_at, new.changed_at), else_=FeedState.changed_at
            ),
        }
        if touched is not None:
            older = FeedState.touched_from
            earlier = older.is_(None) | (new.touched_from < older)
            changes["touched_from"] = case((earlier, new.touched_from), else_=older)
        session.execute(stmt.on_conflict_do_update(index_elements=[FeedState.key], set_=changes))
    for path in paths:  # a row this session already holds is stale now
        held = session.identity_map.get(Session.identity_key(FeedState, path))
        if held is not None:
            session.expire(held)


@dataclass(frozen=True)
class Claim:
    key: FeedKey
    generation: int
    changed_at: datetime
    touched_from: datetime | None = None


def dirty_feeds(session: Session, limit: int | None = 500) -> list[Claim]:
    rows = session.scalars(
        select(FeedState).where(FeedState.dirty.is_(True)).order_by(FeedState.key).limit(limit)
    )
    return [
        Claim(FeedKey.from_path(r.key), r.generation, r.changed_at, r.touched_from) for r in rows
    ]


def claim_for(session: Session, key: FeedKey) -> Claim | None:
    """The feed's dirty mark as a claim, or None when it is clean."""
    state = session.get(FeedState, key.path)
    if state is None or not state.dirty:
        return None
    return Claim(key, state.generation, state.changed_at, state.touched_from)


def changed_at(session: Session, key: FeedKey) -> datetime | None:
    # By primary key: the row is then in the session for claim_for and the error record.
    state = session.get(FeedState, key.path)
    return state.changed_at if state is not None else None


def settle(session: Session, claim: Claim) -> bool:
    """Clear the dirty mark unless an edit marked the feed again while it rendered."""
    result = session.execute(
        update(FeedState)
        .where(FeedState.key == claim.key.path, FeedState.generation == claim.generation)
        .values(dirty=False, touched_from=None)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


_IN_CHUNK = 500  # paths per IN (...) list, well under every driver's parameter limit


@dataclass(frozen=True)
class Document:
    """One rendered document to store: `path` as FeedKey.document_path gives it."""

    path: str
    fmt: Format
    rendered: Rendered
    last_modified: datetime
    sealed: bool = False


def save_documents(
    session: Session,
    documents: Sequence[Document],
    now: datetime,
    render_ms: float,
    gzip_level: int,
) -> int:
    """Store renderings; returns how many were written. Unchanged bytes (same ETag) are
    left alone, so a rebuild that changes nothing writes nothing.

    One query reads the stored validators of every document, then one executemany inserts
    and one updates: the bodies are never read back.
    """
    stored: dict[tuple[str, str], tuple[str, datetime]] = {}
    paths = sorted({d.path for d in documents})
    for i in range(0, len(paths), _IN_CHUNK):
        rows = session.execute(
            select(
                RenderedFeed.key, RenderedFeed.format, RenderedFeed.etag, RenderedFeed.last_modified
            ).where(RenderedFeed.key.in_(paths[i : i + _IN_CHUNK]))
        )
        stored.update({(k, f): (etag, at) for k, f, etag, at in rows})
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for doc in documents:
        old = stored.get((doc.path, doc.fmt))
        if old is not None and old[0] == doc.rendered.etag:
            continue
        last_modified = doc.last_modified
        if old is not None and last_modified <= old[1]:
            # New bytes must look newer than the old ones to If-Modified-Since, whose
            # dates have whole seconds, even when a clock went back.
            last_modified = max(now, old[1] + timedelta(seconds=1))
        row = {
            "key": doc.path,
            "format": doc.fmt,
            "body": doc.rendered.body,
            "body_gzip": gzip_body(doc.rendered.body, gzip_level),
            "etag": doc.rendered.etag,
            "last_modified": last_modified,
            "item_count": doc.rendered.item_count,
            "rendered_at": now,
            "render_ms": render_ms,
            "sealed": doc.sealed,
        }
        (inserts if old is None else updates).append(row)
    if inserts:
        session.execute(insert(RenderedFeed), inserts)
    if updates:
        session.execute(update(RenderedFeed), updates)  # by primary key, one executemany
    return len(inserts) + len(updates)


def load_rendered(
    session: Session,
    key: FeedKey,
    fmt: Format,
    page: int | None = None,
    variant: str | None = None,
) -> RenderedFeed | None:
    return session.get(RenderedFeed, (key.document_path(page, variant), fmt))


def load_validators(
    session: Session,
    key: FeedKey,
    fmt: Format,
    page: int | None = None,
    variant: str | None = None,
) -> RenderedFeed | None:
    """The row without its bodies: enough to answer a conditional GET with 304."""
    validators = (
        RenderedFeed.etag,
        RenderedFeed.last_modified,
        RenderedFeed.item_count,
        RenderedFeed.sealed,
    )
    return session.scalar(
        select(RenderedFeed)
        .options(load_only(*validators))
        .where(RenderedFeed.key == key.document_path(page, variant), RenderedFeed.format == fmt)
    )


def drop_pages(session: Session, key: FeedKey, pages: Iterable[int]) -> None:
    paths = [path for page in sorted(set(pages)) for path in _with_variants(key, page)]
    for i in range(0, len(paths), _IN_CHUNK):
        session.execute(delete(RenderedFeed).where(RenderedFeed.key.in_(paths[i : i + _IN_CHUNK])))


def stored_keys(session: Session) -> set[FeedKey]:
    paths = set(session.scalars(select(FeedState.key)))
    paths.update(session.scalars(select(RenderedFeed.key).distinct()))
    return {parse_document_path(p)[0] for p in paths}


def forget(session: Session, keys: Iterable[FeedKey]) -> None:
    """Remove feeds that no longer exist (a deleted tag or section, a renamed slug)."""
    for key in keys:
        current = RenderedFeed.key.in_(_with_variants(key, None))
        session.execute(delete(RenderedFeed).where(current | archive_paths(session, key)))
        session.execute(delete(FeedState).where(FeedState.key == key.path))
        session.execute(delete(ArchivePage).where(ArchivePage.key == key.path))
        session.execute(delete(Tombstone).where(Tombstone.key == key.path))


def _with_variants(key: FeedKey, page: int | None) -> list[str]:
    """The storage paths of one document: the original and every variant there can be.

    Exact keys rather than a LIKE pattern: on the primary key's index, and a slug's
    characters never act as wildcards.
    """
    return [key.document_path(page), *(key.document_path(page, v) for v in VARIANTS)]


def archive_paths(session: Session, key: FeedKey) -> ColumnElement[bool]:
    """Every archive page of the feed, in every variant: the paths under `<path>/archive/`."""
    prefix = f"{key.path}/archive/"
    if session.get_bind().dialect.name == "sqlite":
        # SQLite compares text as bytes (BINARY), and "0" follows "/": this range is exactly
        # the paths with the prefix, read from the primary key's index.
        return (RenderedFeed.key >= prefix) & (RenderedFeed.key < prefix[:-1] + "0")
    # PostgreSQL orders text by the database's collation: under a linguistic one (en_US:
    # "/" and "-" weigh less than letters and digits) a range is no prefix test. An escaped
    # LIKE is exact under any collation, and ix_rendered_feeds_key_prefix (varchar_pattern_ops,
    # migration 0008) turns it into an index range under any collation.
    return RenderedFeed.key.startswith(prefix, autoescape=True)


def acquire_lease(
    session: Session, name: str, holder: str, now: datetime, ttl: timedelta
) -> int | None:
    """Take or renew the lease `name`; returns its fencing token, or None if another holds it.

    One conditional UPDATE decides, so two processes cannot both win, on SQLite or
    PostgreSQL alike.
    """
    expires = now + ttl
    renewed = session.execute(
        update(Lease)
        .where(Lease.name == name, Lease.holder == holder, Lease.expires_at > now)
        .values(expires_at=expires)
    )
    if renewed.rowcount:  # type: ignore[attr-defined]
        return session.scalar(select(Lease.token).where(Lease.name == name))
    taken = session.execute(
        update(Lease)
        .where(Lease.name == name, Lease.expires_at <= now)
        .values(holder=holder, token=Lease.token + 1, expires_at=expires)
    )
    if taken.rowcount:  # type: ignore[attr-defined]
        return session.scalar(select(Lease.token).where(Lease.name == name))
    if session.get(Lease, name) is None:
        session.add(Lease(name=name, holder=holder, token=1, expires_at=expires))
        session.flush()
        return 1
    return None


def hold_lease(
    session: Session, name: str, holder: str, token: int, now: datetime, ttl: timedelta
) -> bool:
    """Renew the lease if `holder` still has it under `token` (the fencing check).

    Run inside the transaction whose work depends on leadership: on PostgreSQL the renewed
    row stays locked until that transaction ends, so no one can take over in between.
    """
    renewed = session.execute(
        update(Lease)
        .where(
            Lease.name == name,
            Lease.holder == holder,
            Lease.token == token,
            Lease.expires_at > now,
        )
        .values(expires_at=now + ttl)
    )
    return bool(renewed.rowcount)  # type: ignore[attr-defined]


def release_lease(session: Session, name: str, holder: str, now: datetime) -> None:
    # Expire rather than delete, so the fencing token keeps counting up.
    session.execute(
        update(Lease).where(Lease.name == name, Lease.holder == holder).values(expires_at=now)
    )


def gzip_body(body: bytes, level: int) -> bytes:
    """The gzip bytes stored beside a body, with ISA-L at `level` (0-3, settings.gzip_level).

    Compressing every document once per render is a large part of a rebuild: ISA-L's level 2
    writes the same format 3.5-12 times as fast as zlib's level 6 for 5-6% more bytes
    (bench/gzip_levels.py). mtime=0 makes the bytes a function of the body alone.
    """
    packed: bytes = igzip.compress(body, compresslevel=level, mtime=0)
    return packed
