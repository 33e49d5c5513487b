"""Turning database rows into stored feed bytes: one feed at a time, one transaction each.

A feed that fails to render keeps its last good bytes and stays dirty; the others go on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from feedsvc import queries, store
from feedsvc.config import Settings
from feedsvc.db import transaction
from feedsvc.models import FeedState
from feedsvc.render import render_all
from feedsvc.types import FeedKey, Format, Rendered

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class FeedRendering:
    updated: datetime  # the feed's own newest change: its Atom updated and Last-Modified
    formats: dict[Format, Rendered]


def render_feed(session: Session, key: FeedKey, settings: Settings) -> FeedRendering | None:
    """Render a feed from the database as it is now, without storing it (also the preview)."""
    articles = queries.feed_articles(session, key, settings.feed_items)
    if articles is None:
        return None
    items = [queries.to_item(a, settings) for a in articles]
    meta = queries.feed_meta(session, key, settings, items, store.changed_at(session, key))
    if meta is None:
        return None
    return FeedRendering(meta.updated, render_all(meta, items))


@dataclass
class Report:
    rendered: list[FeedKey] = field(default_factory=list)  # feeds whose bytes changed
    unchanged: list[FeedKey] = field(default_factory=list)
    failed: list[FeedKey] = field(default_factory=list)
    removed: list[FeedKey] = field(default_factory=list)


def refresh(session: Session, key: FeedKey, settings: Settings, now: datetime) -> bool | None:
    """Render one feed and store what changed; None if the feed no longer exists."""
    started = time.perf_counter()
    result = render_feed(session, key, settings)
    if result is None:
        return None
    elapsed_ms = (time.perf_counter() - started) * 1000
    changed = False
    for fmt, rendered in result.formats.items():
        changed |= store.save_rendered(session, key, fmt, rendered, result.updated, now, elapsed_ms)
    return changed


def render_dirty(factory: sessionmaker[Session], settings: Settings, clock: Clock) -> Report:
    report = Report()
    with transaction(factory) as session:
        claims = store.dirty_feeds(session)
    for claim in claims:
        _render_one(factory, settings, clock, claim.key, claim, report)
    return report


def sweep(factory: sessionmaker[Session], settings: Settings, clock: Clock) -> Report:
    """Render every feed that exists and drop stored feeds that no longer do."""
    report = Report()
    with transaction(factory) as session:
        existing = queries.all_feed_keys(session)
        gone = store.stored_keys(session) - existing
        store.forget(session, gone)
        claims = {c.key: c for c in store.dirty_feeds(session, limit=None)}
    report.removed = sorted(gone)
    for key in sorted(existing):
        _render_one(factory, settings, clock, key, claims.get(key), report)
    return report


def _render_one(
    factory: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
    key: FeedKey,
    claim: store.Claim | None,
    report: Report,
) -> None:
    try:
        with transaction(factory) as session:
            changed = refresh(session, key, settings, clock())
            if changed is None:
                store.forget(session, [key])
                report.removed.append(key)
                return
            if claim is not None:
                store.settle(session, claim)
            _record_error(session, key, None)
        (report.rendered if changed else report.unchanged).append(key)
    except Exception as exc:
        # One broken feed must not stop the others; its last good bytes stay served.
        log.exception("rendering %s failed", key)
        report.failed.append(key)
        with transaction(factory) as session:
            _record_error(session, key, f"{type(exc).__name__}: {exc}"[:2000])


def _record_error(session: Session, key: FeedKey, error: str | None) -> None:
    state = session.get(FeedState, key.path)
    if state is not None and state.last_error != error:
        state.last_error = error
