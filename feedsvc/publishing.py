"""Use cases for articles: create, edit, delete, publish what is due.

Each use case cleans its input, changes rows, keeps the article's feed_entries rows in step
(queries.sync_entries) and marks dirty every feed the change touches, all in the caller's
transaction: an edit, its feed rows and its dirty marks commit together or not at all.

Each use case that writes takes the routing lock shared (db.lock_routing) before it reads
anything. Rule changes, tag merges, renames and deletes take it exclusive, so until the
write commits the rules it routes by stay as read and no feed is rebuilt under its rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from feedsvc import db, items, queries, store, text
from feedsvc.config import Settings
from feedsvc.errors import Conflict, Invalid, NotFound
from feedsvc.models import STATUSES, Article, FeedEntry, Section, Tombstone
from feedsvc.routing import HIDDEN, Placement, SectionRule, affected, feeds_of
from feedsvc.taxonomy import tags_by_names
from feedsvc.types import FeedKey, ItemData

PLAIN_FIELDS = ("title", "author", "source", "original_source")
# Fields a reader sees; changing one of them moves the item's `updated`.
CONTENT_FIELDS = ("title", "summary", "content_html", "author", "source", "link", "language")
EDITABLE = (
    *CONTENT_FIELDS,
    "original_source",
    "slug",
    "status",
    "published_at",
    "tags",
    "sections",
)


def mint_uid(settings: Settings) -> str:
    return f"tag:{settings.id_authority}:article/{uuid.uuid4().hex}"


MAX_ID = 2**31 - 1  # PostgreSQL's integer: a larger id cannot exist, nor be queried


def get_article(session: Session, article_id: int, for_update: bool = False) -> Article:
    """The article, read again and row-locked with `for_update` (PostgreSQL; SQLite's
    write lock, taken by db.lock_routing, already covers the whole database)."""
    if not 0 < article_id <= MAX_ID:
        raise NotFound(f"no article with id {article_id}")
    article = session.get(Article, article_id, with_for_update=True if for_update else None)
    if article is None:
        raise NotFound(f"no article with id {article_id}")
    return article


def create_article(
    session: Session, fields: Mapping[str, Any], now: datetime, settings: Settings
) -> Article:
    if not fields.get("title"):
        raise Invalid.field("title", "is required")
    db.lock_routing(session, exclusive=False)  # before the first read: see the docstring
    article = Article(
        uid=mint_uid(settings),
        slug="",
        title="",
        summary="",
        content_html="",
        language=settings.language,
        status="draft",
        created_at=now,
        updated_at=now,
    )
    session.add(article)
    _apply(session, article, {"status": "draft", **fields}, now, settings, HIDDEN, None)
    return article


def update_article(
    session: Session,
    article_id: int,
    fields: Mapping[str, Any],
    now: datetime,
    settings: Settings,
) -> Article:
    return _edit(session, article_id, lambda _article: fields, now, settings)


def add_tags(
    session: Session, article_id: int, names: Sequence[str], now: datetime, settings: Settings
) -> Article:
    """Add tags to the article's own (by name; a new name makes a new tag)."""

    def tags(article: Article) -> Mapping[str, Any]:
        return {"tags": [t.name for t in article.tags] + list(names)}

    return _edit(session, article_id, tags, now, settings)


def remove_tag(
    session: Session, article_id: int, ref: str, now: datetime, settings: Settings
) -> Article:
    """Take one tag (by slug or name) off the article; NotFound if it does not carry it."""

    def tags(article: Article) -> Mapping[str, Any]:
        kept = [t.name for t in article.tags if ref not in (t.slug, t.name)]
        if len(kept) == len(article.tags):
            raise NotFound(f"article {article_id} has no tag {ref!r}")
        return {"tags": kept}

    return _edit(session, article_id, tags, now, settings)


def _edit(
    session: Session,
    article_id: int,
    change: Callable[[Article], Mapping[str, Any]],
    now: datetime,
    settings: Settings,
) -> Article:
    """Apply what `change` makes of the article as read under the locks: a change computed
    from its current values before them could undo a concurrent edit or tag merge."""
    db.lock_routing(session, exclusive=False)
    # Two edits of one article take turns: each syncs its rows from what it read.
    article = get_article(session, article_id, for_update=True)
    before = queries.placement(article)
    item_before = items.to_item(article, settings)
    _apply(session, article, change(article), now, settings, before, item_before)
    return article


def delete_article(session: Session, article_id: int, now: datetime) -> None:
    db.lock_routing(session, exclusive=False)
    article = get_article(session, article_id, for_update=True)
    rules = queries.section_rules(session)
    _changed(session, article, rules, queries.placement(article), HIDDEN, article.published_at, now)
    # The foreign key cascades too; deleting here keeps SQLite without the pragma right.
    session.execute(delete(FeedEntry).where(FeedEntry.article_id == article.id))
    session.delete(article)
    session.flush()


def publish_due(session: Session, now: datetime) -> int:
    """Publish scheduled articles whose time has come; returns how many."""
    db.lock_routing(session, exclusive=False)
    due = session.scalars(
        select(Article)
        .where(Article.status == "scheduled", Article.published_at <= now)
        .with_for_update()
    ).all()
    rules = queries.section_rules(session) if due else []
    for article in due:
        before = queries.placement(article)
        article.status = "published"
        queries.sync_entries(session, article, rules)
        _changed(session, article, rules, before, queries.placement(article), None, now)
    session.flush()
    return len(due)


def _changed(
    session: Session,
    article: Article,
    rules: Sequence[SectionRule],
    before: Placement,
    after: Placement,
    published_before: datetime | None,
    now: datetime,
) -> None:
    """Mark every feed the change touches, and leave tombstones where the article left."""
    keys = affected(before, after, rules)
    times = [t for t in (published_before, article.published_at) if t is not None]
    store.mark_dirty(session, keys, now, touched=min(times, default=None))
    if before.visible and not after.visible:
        # Retracted or deleted: partners that republished it must learn to take it down.
        for key in feeds_of(before, rules):
            session.merge(Tombstone(uid=article.uid, key=key.path, deleted_at=now))
    elif after.visible:
        session.execute(delete(Tombstone).where(Tombstone.uid == article.uid))


def feeds_of_article(session: Session, article: Article) -> list[FeedKey]:
    return sorted(feeds_of(queries.placement(article), queries.section_rules(session)))


def _apply(
    session: Session,
    article: Article,
    fields: Mapping[str, Any],
    now: datetime,
    settings: Settings,
    before: Placement,
    item_before: ItemData | None,
) -> None:
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        name = sorted(unknown)[0]
        raise Invalid.field(name, "is not a field of an article")
    values = dict(fields)
    for name in PLAIN_FIELDS:
        if values.get(name) is not None:
            values[name] = text.clean_text(values[name])
    if "title" in values and not values["title"]:
        raise Invalid.field("title", "must not be empty")
    if values.get("summary") is not None:
        values["summary"] = text.clean_multiline(values["summary"])
    if values.get("content_html") is not None:
        # Relative links in a body would point nowhere once the item is in a feed reader.
        base = values.get("link") or article.link or settings.site_url
        values["content_html"] = text.sanitize_html(values["content_html"], base_url=base)
    for name in ("author", "source", "original_source", "link"):
        if name in values and not values[name]:
            values[name] = None
    for name in ("summary", "content_html"):
        if name in values and values[name] is None:
            values[name] = ""
    if values.get("language") is None and "language" in values:
        values["language"] = settings.language

    content_changed = any(
        name in values and values[name] != getattr(article, name) for name in CONTENT_FIELDS
    )
    for name in (*CONTENT_FIELDS, "original_source"):
        if name in values:
            setattr(article, name, values[name])
    _apply_slug(session, article, values.get("slug"), settings)
    _apply_status(article, values, now)
    if "tags" in values:
        article.tags = tags_by_names(session, values["tags"] or [], now)
    if "sections" in values:
        article.sections = _sections_by_ref(session, values["sections"] or [])
    if content_changed and item_before is not None:
        article.updated_at = now
    session.flush()
    rules = queries.section_rules(session)
    queries.sync_entries(session, article, rules)

    after = queries.placement(article)
    if before == after and item_before == items.to_item(article, settings):
        return  # nothing a reader sees changed: leave every feed's bytes alone
    published_before = item_before.published if item_before is not None else None
    _changed(session, article, rules, before, after, published_before, now)


def _apply_slug(session: Session, article: Article, slug: str | None, settings: Settings) -> None:
    if slug is not None:
        if not text.is_valid_slug(slug):
            raise Invalid.field(
                "slug", "must be lowercase ASCII letters and digits joined by single hyphens"
            )
        if slug == article.slug:
            return
        if _slug_taken(session, slug, article):
            raise Conflict(f"slug {slug!r} is taken by another article")
        article.slug = slug
    elif not article.slug:
        article.slug = text.unique_slug(
            text.slugify(article.title), lambda s: _slug_taken(session, s, article), "article"
        )


def _slug_taken(session: Session, slug: str, article: Article) -> bool:
    owner = session.scalar(select(Article.id).where(Article.slug == slug))
    return owner is not None and owner != article.id


def _apply_status(article: Article, values: Mapping[str, Any], now: datetime) -> None:
    # An edit that leaves status and time alone keeps a published article published, even
    # if this clock (gone back, or slow on this host) puts its time in the future.
    settled = article.status == "published" and "published_at" not in values
    status = values.get("status", article.status)
    if status not in STATUSES:
        raise Invalid.field("status", f"must be one of {', '.join(STATUSES)}")
    if "published_at" in values:
        when = values["published_at"]
        if when is not None and when.tzinfo is None:
            raise Invalid.field("published_at", "needs a time zone offset, e.g. +08:00")
        article.published_at = when
    if status == "scheduled" and article.published_at is None:
        raise Invalid.field("published_at", "is required to schedule an article")
    if status == "published" and article.published_at is None:
        article.published_at = now
    # Never publish early, never keep a due article waiting.
    early = article.published_at is not None and article.published_at > now
    if status == "published" and early and not settled:
        status = "scheduled"
    if status == "scheduled" and article.published_at is not None and article.published_at <= now:
        status = "published"
    article.status = status


def _sections_by_ref(session: Session, refs: Sequence[str]) -> list[Section]:
    found: list[Section] = []
    for ref in dict.fromkeys(refs):
        section = session.scalar(
            select(Section).where((Section.slug == ref) | (Section.name == ref))
        )
        if section is None:
            raise Invalid.field("sections", f"unknown section {ref!r}")
        found.append(section)
    return found
