"""Turning database rows into stored feed bytes: one feed at a time, one transaction each.

A feed that fails to render keeps its last good bytes and stays dirty; the others go on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from feedsvc import archives, paging, queries, store
from feedsvc.config import Settings
from feedsvc.db import transaction
from feedsvc.models import FeedState
from feedsvc.render import render_all
from feedsvc.types import FORMATS, FeedKey, FeedMeta, Format, Paging, Rendered
from feedsvc.variants import VARIANTS, convert

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
# Checked inside each feed's transaction before it commits: False means another scheduler
# took over, and this one's work must not land.
Guard = Callable[[Session], bool]


class LeadershipLost(Exception):
    """The lease passed to another scheduler while this one was rendering."""


@dataclass(frozen=True)
class Document:
    """One rendered document of a feed: the current one (page None) or an archive page."""

    page: int | None
    updated: datetime  # its own newest change: Atom updated and Last-Modified
    sealed: bool
    renders: dict[str | None, dict[Format, Rendered]]  # by variant; None is the original

    @property
    def formats(self) -> dict[Format, Rendered]:
        return self.renders[None]


@dataclass(frozen=True)
class FeedRendering:
    documents: tuple[Document, ...]  # the current document first
    stale_pages: frozenset[int] = frozenset()  # stored pages that no longer exist

    @property
    def current(self) -> Document:
        return self.documents[0]

    @property
    def formats(self) -> dict[Format, Rendered]:
        """The current document in every format (what a feed URL serves)."""
        return self.current.formats


def render_feed(
    session: Session,
    key: FeedKey,
    settings: Settings,
    now: datetime,
    touched_from: datetime | None = None,
    archives_too: bool = True,
) -> FeedRendering | None:
    """Render a feed from the database as it is now (None if it does not exist).

    Seals archive pages that became full (in the caller's transaction). Besides the current
    document, renders the pages that can have changed: newly sealed, open, the one before a
    page that was just added, pages holding items edited since `touched_from`, and pages
    missing from the store.
    """
    layout = archives.arrange(session, key, settings, now)
    if layout is None:
        return None
    changed_at = store.changed_at(session, key)
    current = _document(session, key, settings, layout, None, changed_at, now)
    if current is None:
        return None
    documents = [current]
    stored = archives.stored_pages(session, key)
    if archives_too:
        missing = set(range(1, layout.pages + 1)) - stored
        wanted = set(layout.new_pages) | missing
        if layout.open_page is not None:
            wanted.add(layout.open_page)  # the page still filling
        if layout.pages in missing:
            wanted.add(layout.pages - 1)  # a page was added: its neighbour links to it
        if touched_from is not None:
            wanted |= archives.pages_from(layout, touched_from)
        for page in sorted(p for p in wanted if 1 <= p <= layout.pages):
            document = _document(session, key, settings, layout, page, None, now)
            if document is not None:
                documents.append(document)
    stale = frozenset(p for p in stored if p > layout.pages)
    return FeedRendering(tuple(documents), stale)


def _document(
    session: Session,
    key: FeedKey,
    settings: Settings,
    layout: archives.Layout,
    page: int | None,
    changed_at: datetime | None,
    now: datetime,
) -> Document | None:
    if page is None:
        articles = archives.articles_by_id(session, layout.current_ids)
    else:
        articles = archives.page_articles(session, key, layout, page)
    items = [queries.to_item(a, settings) for a in articles]
    meta = queries.feed_meta(session, key, settings, items, changed_at)
    if meta is None:
        return None
    if page is None:
        since = now - timedelta(days=settings.tombstone_days)
        meta = replace(meta, deleted=queries.deleted_entries(session, key, since))
    renders: dict[str | None, dict[Format, Rendered]] = {
        None: render_all(_linked(meta, key, settings, layout, page, None), items)
    }
    for name in settings.variant_names:
        variant = VARIANTS[name]
        converted, converted_items = convert(meta, items, variant)
        linked = _linked(converted, key, settings, layout, page, name)
        renders[name] = render_all(linked, converted_items)
    sealed = page is not None and page <= len(layout.sealed)
    return Document(page, meta.updated, sealed, renders)


def _linked(
    meta: FeedMeta,
    key: FeedKey,
    settings: Settings,
    layout: archives.Layout,
    page: int | None,
    variant: str | None,
) -> FeedMeta:
    """The document's own URL and its RFC 5005 neighbours, in its variant."""
    base = settings.public_base
    query = f"?variant={variant}" if variant else ""

    def urls(target: int | None) -> dict[Format, str]:
        return {fmt: f"{base}{key.document_path(target)}.{fmt}{query}" for fmt in FORMATS}

    neighbours = paging.links(page, layout.pages)
    return replace(
        meta,
        self_urls=urls(page),
        stylesheet=f"{base}/feeds/style.xsl",
        paging=Paging(
            current=urls(None),
            prev_archive=urls(neighbours.prev_archive) if neighbours.prev_archive else None,
            next_archive=urls(neighbours.next_archive) if neighbours.next_archive else None,
            archive=page is not None,
        )
        if layout.pages
        else None,
    )


@dataclass
class Report:
    rendered: list[FeedKey] = field(default_factory=list)  # feeds whose bytes changed
    unchanged: list[FeedKey] = field(default_factory=list)
    failed: list[FeedKey] = field(default_factory=list)
    removed: list[FeedKey] = field(default_factory=list)


def refresh(
    session: Session,
    key: FeedKey,
    settings: Settings,
    now: datetime,
    touched_from: datetime | None = None,
) -> bool | None:
    """Render one feed and store what changed; None if the feed no longer exists."""
    started = time.perf_counter()
    result = render_feed(session, key, settings, now, touched_from)
    if result is None:
        return None
    elapsed_ms = (time.perf_counter() - started) * 1000
    changed = False
    for doc in result.documents:
        for variant, formats in doc.renders.items():
            for fmt, rendered in formats.items():
                changed |= store.save_rendered(
                    session,
                    key,
                    fmt,
                    rendered,
                    doc.updated,
                    now,
                    elapsed_ms,
                    doc.page,
                    doc.sealed,
                    variant,
                )
    store.drop_pages(session, key, result.stale_pages)
    return changed or bool(result.stale_pages)


def render_dirty(
    factory: sessionmaker[Session], settings: Settings, clock: Clock, guard: Guard | None = None
) -> Report:
    report = Report()
    with transaction(factory) as session:
        claims = store.dirty_feeds(session)
    for claim in claims:
        render_one(factory, settings, clock, claim.key, claim, report, guard)
    return report


def sweep(
    factory: sessionmaker[Session], settings: Settings, clock: Clock, guard: Guard | None = None
) -> Report:
    """Render every feed that exists and drop stored feeds that no longer do."""
    report = Report()
    with transaction(factory) as session:
        existing = queries.all_feed_keys(session)
        gone = store.stored_keys(session) - existing
        store.forget(session, gone)
        claims = {c.key: c for c in store.dirty_feeds(session, limit=None)}
    report.removed = sorted(gone)
    for key in sorted(existing):
        render_one(factory, settings, clock, key, claims.get(key), report, guard)
    return report


def render_one(
    factory: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
    key: FeedKey,
    claim: store.Claim | None,
    report: Report,
    guard: Guard | None = None,
) -> None:
    try:
        with transaction(factory) as session:
            touched = claim.touched_from if claim is not None else None
            changed = refresh(session, key, settings, clock(), touched)
            if changed is None:
                store.forget(session, [key])
            elif claim is not None:
                store.settle(session, claim)
            if changed is not None:
                _record_error(session, key, None)
            if guard is not None and not guard(session):
                raise LeadershipLost(f"lease lost while rendering {key}")
        if changed is None:
            report.removed.append(key)
        else:
            (report.rendered if changed else report.unchanged).append(key)
    except LeadershipLost:
        raise
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
