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

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from feedsvc import paging, queries
from feedsvc.config import Settings
from feedsvc.models import ArchivePage, RenderedFeed
from feedsvc.types import FeedKey, parse_document_path


@dataclass(frozen=True)
class Sealed:
    """A sealed page's bound: its newest item."""

    page: int
    last_published_at: datetime
    last_article_id: int


@dataclass(frozen=True)
class Layout:
    """Where a feed's documents stand after sealing whatever became full."""

    sealed: tuple[Sealed, ...]  # every sealed page, page 1 first
    new_pages: tuple[int, ...]  # sealed by this call
    open_ids: tuple[int, ...]  # the open page's articles, oldest first
    current_ids: tuple[int, ...]  # the current document's articles, oldest first

    @property
    def pages(self) -> int:
        return len(self.sealed) + (1 if self.open_ids else 0)

    @property
    def open_page(self) -> int | None:
        return len(self.sealed) + 1 if self.open_ids else None


def _bound(page: Sealed) -> queries.Bound:
    return (page.last_published_at, page.last_article_id)


def sealed_pages(session: Session, key: FeedKey) -> list[Sealed]:
    # Plain rows, not ORM objects: the site-wide feed has a page per 50 articles, and
    # building 20,000 objects per render of it cost more than rendering it.
    rows = session.execute(
        select(ArchivePage.page, ArchivePage.last_published_at, ArchivePage.last_article_id)
        .where(ArchivePage.key == key.path)
        .order_by(ArchivePage.page)
    )
    return [Sealed(page, at, article_id) for page, at, article_id in rows]


def arrange(session: Session, key: FeedKey, settings: Settings, now: datetime) -> Layout:
    """Seal the pages that became full and say which articles each live document holds.

    For a feed that exists (queries.feed_meta says so); another has no entries, so no pages.
    """
    pages = sealed_pages(session, key)
    rows = queries.entries_after(session, key, _bound(pages[-1]) if pages else None)
    entries = [paging.Entry(row[0], row[2]) for row in rows]
    split = paging.split(
        entries, settings.feed_items, settings.archive_page_items, settings.feed_max_bytes
    )
    new_pages = []
    for end in split.sealed_ends:
        last_id, last_published_at = rows[end - 1][0], rows[end - 1][1]
        page = Sealed(len(pages) + 1, last_published_at, last_id)
        pages.append(page)
        new_pages.append(page.page)
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
                for p in pages[-len(new_pages) :]
            ],
        )
    return Layout(
        sealed=tuple(pages),
        new_pages=tuple(new_pages),
        open_ids=tuple(entries[i].article_id for i in split.open_page),
        current_ids=tuple(entries[i].article_id for i in split.current),
    )


def page_ids(session: Session, key: FeedKey, layout: Layout, page: int) -> Sequence[int]:
    """The article ids of archive page `page` (sealed or open); empty if there is none."""
    if page == layout.open_page:
        return layout.open_ids
    if not 1 <= page <= len(layout.sealed):
        return ()
    after = _bound(layout.sealed[page - 2]) if page > 1 else None
    return queries.ids_between(session, key, after, _bound(layout.sealed[page - 1]))


def pages_from(layout: Layout, since: datetime) -> set[int]:
    """Sealed pages that may hold an item published at or after `since`."""
    return {p.page for p in layout.sealed if p.last_published_at >= since}


def stored_pages(session: Session, key: FeedKey) -> set[int]:
    prefix = f"{key.path}/archive/"
    under = RenderedFeed.key.startswith(prefix, autoescape=True)
    if session.get_bind().dialect.name == "sqlite":
        # SQLite's LIKE is case-insensitive, so it cannot use the primary key's index and
        # scanned every stored document once per feed rendered. Its default collation is
        # binary, where this range ("0" follows "/") is exactly the paths under the prefix.
        under = under & (RenderedFeed.key >= prefix) & (RenderedFeed.key < prefix[:-1] + "0")
    paths = session.scalars(select(RenderedFeed.key).where(under).distinct())
    return {page for path in paths if (page := parse_document_path(path)[1]) is not None}
