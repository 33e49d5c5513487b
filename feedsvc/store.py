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

from feedsvc.models import FeedState, Lease, RenderedFeed
from feedsvc.types import FeedKey, Format, Rendered


def mark_dirty(session: Session, keys: Iterable[FeedKey], now: datetime) -> None:
    """Mark feeds for rendering; part of the caller's (edit's) transaction."""
    for key in sorted(set(keys)):
        state = session.get(FeedState, key.path, with_for_update=True)
        if state is None:
            session.add(FeedState(key=key.path, dirty=True, generation=1, changed_at=now))
        else:
            state.dirty = True
            state.generation += 1
            state.changed_at = max(state.changed_at, now)
    session.flush()


@dataclass(frozen=True)
class Claim:
    key: FeedKey
    generation: int
    changed_at: datetime


def dirty_feeds(session: Session, limit: int | None = 500) -> list[Claim]:
    rows = session.scalars(
        select(FeedState).where(FeedState.dirty.is_(True)).order_by(FeedState.key).limit(limit)
    )
    return [Claim(FeedKey.from_path(r.key), r.generation, r.changed_at) for r in rows]


def changed_at(session: Session, key: FeedKey) -> datetime | None:
    return session.scalar(select(FeedState.changed_at).where(FeedState.key == key.path))


def settle(session: Session, claim: Claim) -> bool:
    """Clear the dirty mark unless an edit marked the feed again while it rendered."""
    result = session.execute(
        update(FeedState)
        .where(FeedState.key == claim.key.path, FeedState.generation == claim.generation)
        .values(dirty=False)
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
) -> bool:
    """Store a rendering; returns False (and writes nothing) when the bytes are unchanged."""
    row = session.get(RenderedFeed, (key.path, fmt))
    if row is not None and row.etag == rendered.etag:
        return False
    if row is not None and last_modified <= row.last_modified:
        # New bytes must never look older than the old ones to If-Modified-Since.
        last_modified = max(now, row.last_modified)
    # mtime=0 makes the gzip bytes a function of the body alone.
    body_gzip = gzip.compress(rendered.body, compresslevel=9, mtime=0)
    if row is None:
        row = RenderedFeed(key=key.path, format=fmt)
        session.add(row)
    row.body = rendered.body
    row.body_gzip = body_gzip
    row.etag = rendered.etag
    row.last_modified = last_modified
    row.item_count = rendered.item_count
    row.rendered_at = now
    row.render_ms = render_ms
    session.flush()
    return True


def load_rendered(session: Session, key: FeedKey, fmt: Format) -> RenderedFeed | None:
    return session.get(RenderedFeed, (key.path, fmt))


def load_validators(session: Session, key: FeedKey, fmt: Format) -> RenderedFeed | None:
    """The row without its bodies: enough to answer a conditional GET with 304."""
    return session.scalar(
        select(RenderedFeed)
        .options(load_only(RenderedFeed.etag, RenderedFeed.last_modified, RenderedFeed.item_count))
        .where(RenderedFeed.key == key.path, RenderedFeed.format == fmt)
    )


def stored_keys(session: Session) -> set[FeedKey]:
    paths = set(session.scalars(select(FeedState.key)))
    paths.update(session.scalars(select(RenderedFeed.key).distinct()))
    return {FeedKey.from_path(p) for p in paths}


def forget(session: Session, keys: Iterable[FeedKey]) -> None:
    """Remove feeds that no longer exist (a deleted tag or section, a renamed slug)."""
    paths = [k.path for k in keys]
    if paths:
        session.execute(delete(RenderedFeed).where(RenderedFeed.key.in_(paths)))
        session.execute(delete(FeedState).where(FeedState.key.in_(paths)))


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


def release_lease(session: Session, name: str, holder: str, now: datetime) -> None:
    # Expire rather than delete, so the fencing token keeps counting up.
    session.execute(
        update(Lease).where(Lease.name == name, Lease.holder == holder).values(expires_at=now)
    )
