"""Turning database rows into stored feed bytes: one feed at a time, one transaction each.

A feed that fails to render keeps its last good bytes and stays dirty; the others go on.
Loading (`plan_feed`, `documents`: queries and OpenCC) is kept apart from rendering
(`render_document`: pure), so bench/rebuild.py can time the rendering alone. A feed with
many sealed archive pages to render gets them in transactions of CHUNK_PAGES first.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy.orm import Session, sessionmaker

from feedsvc import archives, paging, queries, store
from feedsvc.config import Settings
from feedsvc.db import transaction
from feedsvc.items import load_items
from feedsvc.models import FeedState
from feedsvc.render import render_all
from feedsvc.types import FORMATS, FeedKey, FeedMeta, Format, ItemData, Paging, Rendered
from feedsvc.variants import VARIANTS, Variant, convert_item, convert_meta

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


@dataclass(frozen=True)
class DocumentPlan:
    """What one document is rendered from: per variant, the linked meta and the items.

    Everything the database and OpenCC contribute is done by then; rendering it is pure.
    """

    page: int | None
    updated: datetime
    sealed: bool
    inputs: dict[str | None, tuple[FeedMeta, list[ItemData]]]  # by variant; None: original


@dataclass(frozen=True)
class FeedPlan:
    """Which documents of a feed a render produces; archive pages are loaded one at a time
    (`documents`), so a feed with thousands of pages never sits in memory whole."""

    key: FeedKey
    layout: archives.Layout
    meta: FeedMeta  # what every document of the feed shares
    current: DocumentPlan
    pages: tuple[int, ...]  # archive pages to render, oldest first
    stale_pages: frozenset[int] = frozenset()  # stored pages that no longer exist


def render_feed(
    session: Session,
    key: FeedKey,
    settings: Settings,
    now: datetime,
    touched_from: datetime | None = None,
    archives_too: bool = True,
    every_page: bool = False,
) -> FeedRendering | None:
    """Render a feed from the database as it is now (None if it does not exist).

    See `plan_feed` for which documents it renders; all of them are held in memory, so the
    scheduler's paths store page by page instead (`refresh`).
    """
    plan = plan_feed(session, key, settings, now, touched_from, archives_too, every_page)
    if plan is None:
        return None
    rendered = tuple(render_document(d) for d in documents(session, plan, settings, now))
    return FeedRendering(rendered, plan.stale_pages)


def render_document(plan: DocumentPlan) -> Document:
    renders = {variant: render_all(meta, items) for variant, (meta, items) in plan.inputs.items()}
    return Document(plan.page, plan.updated, plan.sealed, renders)


def plan_feed(
    session: Session,
    key: FeedKey,
    settings: Settings,
    now: datetime,
    touched_from: datetime | None = None,
    archives_too: bool = True,
    every_page: bool = False,
) -> FeedPlan | None:
    """Load the current document's inputs and pick the archive pages to render (None if the
    feed does not exist).

    Seals archive pages that became full (in the caller's transaction). Besides the current
    document, picks the pages that can have changed: newly sealed, open, the one before a
    page that was just added, pages holding items edited since `touched_from`, and pages
    missing from the store; with `every_page`, every archive page.
    """
    meta = queries.feed_meta(session, key, settings)
    if meta is None:
        return None
    layout = archives.arrange(session, key, settings, now)
    changed_at = store.changed_at(session, key)
    current = _plan_document(session, key, settings, layout, meta, None, changed_at, now)
    if archives.all_pages_stored(session, key, layout.pages, settings.variant_names):
        stored = set(range(1, layout.pages + 1))
    else:
        stored = archives.stored_pages(session, key)
    wanted: set[int] = set()
    if every_page:
        wanted = set(range(1, layout.pages + 1))
    elif archives_too:
        missing = set(range(1, layout.pages + 1)) - stored
        wanted = set(layout.new_pages) | missing
        if layout.open_page is not None:
            wanted.add(layout.open_page)  # the page still filling
        if layout.pages in missing:
            wanted.add(layout.pages - 1)  # a page was added: its neighbour links to it
        if touched_from is not None:
            wanted |= archives.pages_from(session, key, touched_from)
    pages = tuple(sorted(p for p in wanted if 1 <= p <= layout.pages))
    stale = frozenset(p for p in stored if p > layout.pages)
    return FeedPlan(key, layout, meta, current, pages, stale)


def documents(
    session: Session, plan: FeedPlan, settings: Settings, now: datetime
) -> Iterator[DocumentPlan]:
    """The plan's documents, the current one first, each page loaded when it is reached."""
    yield plan.current
    for page in plan.pages:
        yield _plan_document(session, plan.key, settings, plan.layout, plan.meta, page, None, now)


def _plan_document(
    session: Session,
    key: FeedKey,
    settings: Settings,
    layout: archives.Layout,
    feed: FeedMeta,
    page: int | None,
    changed_at: datetime | None,
    now: datetime,
) -> DocumentPlan:
    ids = layout.current_ids if page is None else archives.page_ids(session, key, layout, page)
    items = load_items(session, ids, settings)
    meta = queries.dated(feed, items, changed_at)
    if page is None:
        since = now - timedelta(days=settings.tombstone_days)
        meta = replace(meta, deleted=queries.deleted_entries(session, key, since))
    inputs: dict[str | None, tuple[FeedMeta, list[ItemData]]] = {
        None: (_linked(meta, key, settings, layout, page, None), items)
    }
    for name in settings.variant_names:
        variant = VARIANTS[name]
        converted = convert_meta(meta, variant)
        converted_items = [_converted(item, variant) for item in items]
        inputs[name] = (_linked(converted, key, settings, layout, page, name), converted_items)
    sealed = page is not None and page <= layout.sealed_count
    return DocumentPlan(page, meta.updated, sealed, inputs)


@lru_cache(maxsize=4096)
def _converted(item: ItemData, variant: Variant) -> ItemData:
    # An article sits in several feeds (site-wide, its tags, its sections), and a rebuild
    # converts it for each; the conversion is pure, so equal items share one result.
    return convert_item(item, variant)


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


def save_rendering(
    session: Session,
    key: FeedKey,
    rendered: Iterable[Document],
    now: datetime,
    render_ms: float,
    settings: Settings,
    stale_pages: frozenset[int] = frozenset(),
) -> bool:
    """Store a feed's rendered documents and drop its stale pages; True if anything changed."""
    stored = [
        store.Document(key.document_path(doc.page, variant), fmt, r, doc.updated, doc.sealed)
        for doc in rendered
        for variant, formats in doc.renders.items()
        for fmt, r in formats.items()
    ]
    written = store.save_documents(session, stored, now, render_ms, settings.gzip_level)
    store.drop_pages(session, key, stale_pages)
    return bool(written) or bool(stale_pages)


# Sealed archive pages rendered in one transaction at most: a feed with more to render
# (its first render, or `rebuild --archives`) gets them in chunks of their own first, so
# no transaction holds the write lock or the documents in memory for long.
CHUNK_PAGES = 20


class _ManyPages(Exception):
    def __init__(self, pages: tuple[int, ...]) -> None:
        super().__init__(f"{len(pages)} sealed pages to render")
        self.pages = pages


def refresh(
    session: Session,
    key: FeedKey,
    settings: Settings,
    now: datetime,
    touched_from: datetime | None = None,
    every_page: bool = False,
    done_pages: frozenset[int] = frozenset(),
    chunked: bool = False,
) -> bool | None:
    """Render one feed and store what changed; None if the feed no longer exists.

    Pages in `done_pages` were rendered already. With `chunked`, raises _ManyPages instead
    when more than CHUNK_PAGES sealed pages are due (render_one then renders those first).
    """
    started = time.perf_counter()
    plan = plan_feed(session, key, settings, now, touched_from, every_page=every_page)
    if plan is None:
        return None
    pages = tuple(p for p in plan.pages if p not in done_pages)
    sealed = tuple(p for p in pages if p <= plan.layout.sealed_count)
    if chunked and len(sealed) > CHUNK_PAGES:
        raise _ManyPages(sealed)
    plan = replace(plan, pages=pages)
    # Render everything, then write: the write lock (SQLite) is held only for the writes.
    rendered = [render_document(d) for d in documents(session, plan, settings, now)]
    elapsed_ms = (time.perf_counter() - started) * 1000
    return save_rendering(session, key, rendered, now, elapsed_ms, settings, plan.stale_pages)


def _render_pages(
    factory: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
    key: FeedKey,
    pages: tuple[int, ...],
    guard: Guard | None,
) -> None:
    """Render and store sealed archive pages, CHUNK_PAGES per transaction.

    Sealed pages never change, so each chunk stands on its own: a crash between chunks
    leaves the rest missing, and missing pages are rendered by the next render.
    """
    for i in range(0, len(pages), CHUNK_PAGES):
        with transaction(factory) as session:
            now = clock()
            started = time.perf_counter()
            meta = queries.feed_meta(session, key, settings)
            if meta is None:
                return
            layout = archives.arrange(session, key, settings, now)  # seals what is due
            chunk = [p for p in pages[i : i + CHUNK_PAGES] if p <= layout.sealed_count]
            rendered = [
                render_document(_plan_document(session, key, settings, layout, meta, p, None, now))
                for p in chunk
            ]
            elapsed_ms = (time.perf_counter() - started) * 1000
            save_rendering(session, key, rendered, now, elapsed_ms, settings)
            if guard is not None and not guard(session):
                raise LeadershipLost(f"lease lost while rendering {key}")


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
    every_page: bool = False,
) -> None:
    touched = claim.touched_from if claim is not None else None
    done: frozenset[int] = frozenset()
    try:
        while True:
            try:
                with transaction(factory) as session:
                    changed = refresh(
                        session, key, settings, clock(), touched, every_page, done, chunked=True
                    )
                    settle(session, key, claim, changed)
                    if guard is not None and not guard(session):
                        raise LeadershipLost(f"lease lost while rendering {key}")
                break
            except _ManyPages as many:
                _render_pages(factory, settings, clock, key, many.pages, guard)
                done |= frozenset(many.pages)
        note(report, key, changed)
    except LeadershipLost:
        raise
    except Exception as exc:
        # One broken feed must not stop the others; its last good bytes stay served.
        log.exception("rendering %s failed", key)
        report.failed.append(key)
        with transaction(factory) as session:
            _record_error(session, key, f"{type(exc).__name__}: {exc}"[:2000])


def settle(session: Session, key: FeedKey, claim: store.Claim | None, changed: bool | None) -> None:
    """After a feed's render (changed None: it no longer exists): clear its mark and error."""
    if changed is None:
        store.forget(session, [key])
    else:
        if claim is not None:
            store.settle(session, claim)
        _record_error(session, key, None)


def note(report: Report, key: FeedKey, changed: bool | None) -> None:
    """Count a committed render in the report."""
    if changed is None:
        report.removed.append(key)
    else:
        (report.rendered if changed else report.unchanged).append(key)


def _record_error(session: Session, key: FeedKey, error: str | None) -> None:
    state = session.get(FeedState, key.path)
    if state is not None and state.last_error != error:
        state.last_error = error
