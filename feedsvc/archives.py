"""RFC 5005 archives in the database: sealing pages and finding each document's items.

`paging.split` decides; this module feeds it the items after the last sealed bound, stores
the bounds of newly sealed pages, and finds the article ids of any document. Items are
ordered by (published_at, id), the same order the bounds are written in. Arranging reads only
the feed_entries index (queries.entries_after); article rows are loaded for one document at a
time (items.load_items, straight into ItemData for the renderers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, func, insert, select
from sqlalchemy.orm import Session

from feedsvc import paging, queries, store
from feedsvc.config import Settings
from feedsvc.models import ArchivePage, RenderedFeed
from feedsvc.types import FORMATS, FeedKey, parse_document_path


@dataclass(frozen=True)
class Sealed:
    """A sealed page's bound: its newest item."""

    page: int
    last_published_at: datetime
    last_article_id: int


@dataclass(frozen=True)
class Layout:
    """Where a feed's documents stand after sealing whatever became full.

    Only the count of sealed pages is held, not their bounds: the site-wide feed has a
    page per 50 articles, and reading every bound on every render of it cost more than
    rendering it. A page's bounds are read when that page is (`page_ids`).
    """

    sealed_count: int  # pages 1..sealed_count are sealed
    new_pages: tuple[int, ...]  # sealed by this call
    open_ids: tuple[int, ...]  # the open page's articles, oldest first
    current_ids: tuple[int, ...]  # the current document's articles, oldest first

    @property
    def pages(self) -> int:
        return self.sealed_count + (1 if self.open_ids else 0)

    @property
    def open_page(self) -> int | None:
        return self.sealed_count + 1 if self.open_ids else None


def _bound(page: Sealed) -> queries.Bound:
    return (page.last_published_at, page.last_article_id)


def _bounds(key: FeedKey, *where: ColumnElement[bool]) -> Select[int, datetime, int]:
    return select(
        ArchivePage.page, ArchivePage.last_published_at, ArchivePage.last_article_id
    ).where(ArchivePage.key == key.path, *where)


def _sealed(session: Session, key: FeedKey, *where: ColumnElement[bool]) -> list[Sealed]:
    rows = session.execute(_bounds(key, *where).order_by(ArchivePage.page))
    return [Sealed(page, at, article_id) for page, at, article_id in rows]


def last_sealed(session: Session, key: FeedKey) -> Sealed | None:
    """The newest sealed page. Pages are numbered 1..n without gaps (sealing appends,
    `store.forget` removes them all), so its number is also how many there are."""
    row = session.execute(_bounds(key).order_by(ArchivePage.page.desc()).limit(1)).first()
    return Sealed(*row) if row is not None else None


def arrange(session: Session, key: FeedKey, settings: Settings, now: datetime) -> Layout:
    """Seal the pages that became full and say which articles each live document holds.

    For a feed that exists (queries.feed_meta says so); another has no entries, so no pages.
    """
    last = last_sealed(session, key)
    rows = queries.entries_after(session, key, _bound(last) if last is not None else None)
    entries = [paging.Entry(row[0], row[2]) for row in rows]
    split = paging.split(
        entries, settings.feed_items, settings.archive_page_items, settings.feed_max_bytes
    )
    count = last.page if last is not None else 0
    new_pages = []
    for end in split.sealed_ends:
        last_id, last_published_at = rows[end - 1][0], rows[end - 1][1]
        count += 1
        new_pages.append(Sealed(count, last_published_at, last_id))
    if new_pages:
        session.execute(
            insert(ArchivePage),
            [
                {
                    "key": key.path,
                    "page": p.page,
                    "last_published_at": p.last_published_at,
                    "last_article_id": p.last_article_id,
                    "sealed_at": now,
                }
                for p in new_pages
            ],
        )
    return Layout(
        sealed_count=count,
        new_pages=tuple(p.page for p in new_pages),
        open_ids=tuple(entries[i].article_id for i in split.open_page),
        current_ids=tuple(entries[i].article_id for i in split.current),
    )


def page_ids(session: Session, key: FeedKey, layout: Layout, page: int) -> Sequence[int]:
    """The article ids of archive page `page` (sealed or open); empty if there is none."""
    if page == layout.open_page:
        return layout.open_ids
    if not 1 <= page <= layout.sealed_count:
        return ()
    bounds = {p.page: p for p in _sealed(session, key, ArchivePage.page.in_((page - 1, page)))}
    after = _bound(bounds[page - 1]) if page > 1 else None
    return queries.ids_between(session, key, after, _bound(bounds[page]))


def pages_from(session: Session, key: FeedKey, since: datetime) -> set[int]:
    """Sealed pages that may hold an item published at or after `since`."""
    return {p.page for p in _sealed(session, key, ArchivePage.last_published_at >= since)}


def all_pages_stored(session: Session, key: FeedKey, pages: int, variants: Sequence[str]) -> bool:
    """Whether pages 1..`pages` are stored in every format and variant, and no page after.

    One count over an index (`store.archive_paths`), where `stored_pages` reads and parses
    every stored path: yes is the usual answer after a feed's first render, so the exact
    read is left for when it is not. Each page is stored whole, in one transaction.
    """
    expected = pages * len(FORMATS) * (1 + len(variants))
    stored = session.scalar(select(func.count()).where(store.archive_paths(session, key)))
    if stored != expected:
        return False
    beyond = [key.document_path(pages + 1, v) for v in (None, *variants)]
    # Pages go away only from the end (an open page whose items moved up), so a stale page
    # shows as the page after the last; its rows could make up for a missing page's.
    return session.scalar(select(RenderedFeed.key).where(RenderedFeed.key.in_(beyond))) is None


def stored_pages(session: Session, key: FeedKey) -> set[int]:
    """The archive pages stored in at least one format."""
    under = store.archive_paths(session, key)
    paths = session.scalars(select(RenderedFeed.key).where(under).distinct())
    return {page for path in paths if (page := parse_document_path(path)[1]) is not None}
