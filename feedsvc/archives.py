"""RFC 5005 archives in the database: sealing pages and finding each document's items.

`paging.split` decides; this module feeds it the items after the last sealed bound, stores
the bounds of newly sealed pages, and loads the articles of any document. Items are ordered
by (published_at, id), the same order the bounds are written in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from feedsvc import paging
from feedsvc.config import Settings
from feedsvc.models import ArchivePage, Article, RenderedFeed
from feedsvc.queries import membership
from feedsvc.types import FeedKey, parse_document_path

# Characters become up to three UTF-8 bytes and markup grows when escaped; this errs large.
BYTES_PER_CHAR = 3
ITEM_OVERHEAD = 800


@dataclass(frozen=True)
class Layout:
    """Where a feed's documents stand after sealing whatever became full."""

    sealed: tuple[ArchivePage, ...]  # every sealed page, page 1 first
    new_pages: tuple[int, ...]  # sealed by this call
    open_ids: tuple[int, ...]  # the open page's articles, oldest first
    current_ids: tuple[int, ...]  # the current document's articles, oldest first

    @property
    def pages(self) -> int:
        return len(self.sealed) + (1 if self.open_ids else 0)

    @property
    def open_page(self) -> int | None:
        return len(self.sealed) + 1 if self.open_ids else None


def _after(page: ArchivePage) -> ColumnElement[bool]:
    return or_(
        Article.published_at > page.last_published_at,
        and_(Article.published_at == page.last_published_at, Article.id > page.last_article_id),
    )


def _up_to(page: ArchivePage) -> ColumnElement[bool]:
    return or_(
        Article.published_at < page.last_published_at,
        and_(Article.published_at == page.last_published_at, Article.id <= page.last_article_id),
    )


def sealed_pages(session: Session, key: FeedKey) -> list[ArchivePage]:
    return list(
        session.scalars(
            select(ArchivePage).where(ArchivePage.key == key.path).order_by(ArchivePage.page)
        )
    )


def arrange(session: Session, key: FeedKey, settings: Settings, now: datetime) -> Layout | None:
    """Seal the pages that became full and say which articles each live document holds."""
    condition = membership(session, key)
    if condition is None:
        return None
    pages = sealed_pages(session, key)
    if pages:
        condition = condition & _after(pages[-1])
    size = (
        func.length(Article.title)
        + func.length(Article.summary)
        + func.length(Article.content_html)
    ) * BYTES_PER_CHAR + ITEM_OVERHEAD
    rows = session.execute(
        select(Article.id, Article.published_at, size)
        .where(condition)
        .order_by(Article.published_at, Article.id)
    ).all()
    entries = [paging.Entry(row[0], int(row[2])) for row in rows]
    split = paging.split(
        entries, settings.feed_items, settings.archive_page_items, settings.feed_max_bytes
    )
    new_pages = []
    for end in split.sealed_ends:
        last_id, last_published_at = rows[end - 1][0], rows[end - 1][1]
        page = ArchivePage(
            key=key.path,
            page=len(pages) + 1,
            last_published_at=last_published_at,
            last_article_id=last_id,
            sealed_at=now,
        )
        session.add(page)
        pages.append(page)
        new_pages.append(page.page)
    session.flush()
    return Layout(
        sealed=tuple(pages),
        new_pages=tuple(new_pages),
        open_ids=tuple(entries[i].article_id for i in split.open_page),
        current_ids=tuple(entries[i].article_id for i in split.current),
    )


def articles_by_id(session: Session, ids: Sequence[int]) -> list[Article]:
    """The articles, newest first (the order every document lists them in)."""
    if not ids:
        return []
    stmt = (
        select(Article)
        .where(Article.id.in_(ids))
        .order_by(Article.published_at.desc(), Article.id.desc())
    )
    return list(session.scalars(stmt))


def page_articles(session: Session, key: FeedKey, layout: Layout, page: int) -> list[Article]:
    """The articles of archive page `page` (sealed or open), newest first."""
    if page == layout.open_page:
        return articles_by_id(session, layout.open_ids)
    condition = membership(session, key)
    if condition is None or not 1 <= page <= len(layout.sealed):
        return []
    condition = condition & _up_to(layout.sealed[page - 1])
    if page > 1:
        condition = condition & _after(layout.sealed[page - 2])
    stmt = select(Article).where(condition).order_by(Article.published_at.desc(), Article.id.desc())
    return list(session.scalars(stmt))


def pages_from(layout: Layout, since: datetime) -> set[int]:
    """Sealed pages that may hold an item published at or after `since`."""
    return {p.page for p in layout.sealed if p.last_published_at >= since}


def stored_pages(session: Session, key: FeedKey) -> set[int]:
    paths = session.scalars(
        select(RenderedFeed.key).where(RenderedFeed.key.like(f"{key.path}/archive/%")).distinct()
    )
    return {page for path in paths if (page := parse_document_path(path)[1]) is not None}
