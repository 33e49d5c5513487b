"""Rendered-feed storage, dirty marks and leases: the state the scheduler and web share.

Callers own the transaction; nothing here commits.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, load_only

from feedsvc.models import ArchivePage, FeedState, Lease, RenderedFeed, Tombstone
from feedsvc.types import FeedKey, Format, Rendered, parse_document_path


def mark_dirty(
    session: Session,
    keys: Iterable[FeedKey],
    now: datetime,
    touched: datetime | None = None,
) -> None:
    """Mark feeds for rendering; part of the caller's (edit's) transaction.

    `touched` is the publication time of the oldest item the edit changed, if it may sit
    in an archive page: pages from there on are rendered again.
    """
    for key in sorted(set(keys)):
        state = session.get(FeedState, key.path, with_for_update=True)
        if state is None:
            state = FeedState(key=key.path, dirty=True, generation=1, changed_at=now)
            session.add(state)
        else:
            state.dirty = True
            state.generation += 1
            state.changed_at = max(state.changed_at, now)
        if touched is not None:
            state.touched_from = min(state.touched_from or touched, touched)
    session.flush()


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
    return session.scalar(select(FeedState.changed_at).where(FeedState.key == key.path))


def settle(session: Session, claim: Claim) -> bool:
    """Clear the dirty mark unless an edit marked the feed again while it rendered."""
    result = session.execute(
        update(FeedState)
        .where(FeedState.key == claim.key.path, FeedState.generation == claim.generation)
        .values(dirty=False, touched_from=None)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def save_rendered(
    session: Session,
    key: FeedKey,
    fmt: Format,
    rendered: Rendered,
    last_modified: datetime,
    now: datetime,
    render_ms: float,
    page: int | None = None,
    sealed: bool = False,
    variant: str | None = None,
) -> bool:
    """Store a rendering; returns False (and writes nothing) when the bytes are unchanged."""
    path = key.document_path(page, variant)
    row = session.get(RenderedFeed, (path, fmt))
    if row is not None and row.etag == rendered.etag:
        return False
    if row is not None and last_modified <= row.last_modified:
        # New bytes must never look older than the old ones to If-Modified-Since.
        last_modified = max(now, row.last_modified)
    # mtime=0 makes the gzip bytes a function of the body alone.
    body_gzip = gzip.compress(rendered.body, compresslevel=9, mtime=0)
    if row is None:
        row = RenderedFeed(key=path, format=fmt)
        session.add(row)
    row.body = rendered.body
    row.body_gzip = body_gzip
    row.etag = rendered.etag
    row.last_modified = last_modified
    row.item_count = rendered.item_count
    row.rendered_at = now
    row.render_ms = render_ms
    row.sealed = sealed
    session.flush()
    return True


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
    for page in pages:
        path = key.document_path(page)
        session.execute(
            delete(RenderedFeed).where(
                (RenderedFeed.key == path) | RenderedFeed.key.like(f"{path}@%")
            )
        )


def stored_keys(session: Session) -> set[FeedKey]:
    paths = set(session.scalars(select(FeedState.key)))
    paths.update(session.scalars(select(RenderedFeed.key).distinct()))
    return {parse_document_path(p)[0] for p in paths}


def forget(session: Session, keys: Iterable[FeedKey]) -> None:
    """Remove feeds that no longer exist (a deleted tag or section, a renamed slug)."""
    for key in keys:
        others = RenderedFeed.key.like(f"{key.path}/archive/%") | RenderedFeed.key.like(
            f"{key.path}@%"
        )
        session.execute(delete(RenderedFeed).where((RenderedFeed.key == key.path) | others))
        session.execute(delete(FeedState).where(FeedState.key == key.path))
        session.execute(delete(ArchivePage).where(ArchivePage.key == key.path))
        session.execute(delete(Tombstone).where(Tombstone.key == key.path))


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
