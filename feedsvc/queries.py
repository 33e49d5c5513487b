"""Read queries: which feeds exist, what each shows, and the bridge from rows to pure values."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from feedsvc.config import Settings
from feedsvc.models import (
    Article,
    Section,
    Tag,
    Tombstone,
    article_sections,
    article_tags,
    section_rule_tags,
)
from feedsvc.routing import Placement, SectionRule
from feedsvc.types import FORMATS, Category, DeletedEntry, FeedKey, FeedMeta, ItemData

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def placement(article: Article) -> Placement:
    return Placement(
        visible=article.status == "published",
        tags=frozenset(t.slug for t in article.tags),
        sections=frozenset(s.slug for s in article.sections),
    )


def section_rules(session: Session) -> list[SectionRule]:
    return [rule_of(s) for s in session.scalars(select(Section))]


def rule_of(section: Section) -> SectionRule:
    return SectionRule(section.slug, frozenset(t.slug for t in section.rule_tags))


def all_feed_keys(session: Session) -> set[FeedKey]:
    keys = {FeedKey.site()}
    keys.update(FeedKey.tag(s) for s in session.scalars(select(Tag.slug)))
    keys.update(FeedKey.section(s) for s in session.scalars(select(Section.slug)))
    return keys


def membership(session: Session, key: FeedKey) -> ColumnElement[bool] | None:
    """The SQL form of routing.feeds_of for one feed; None if the feed does not exist."""
    if key.kind == "all":
        return Article.status == "published"
    if key.kind == "tag":
        tag_id = session.scalar(select(Tag.id).where(Tag.slug == key.slug))
        if tag_id is None:
            return None
        tagged = select(article_tags.c.article_id).where(article_tags.c.tag_id == tag_id)
        return (Article.status == "published") & Article.id.in_(tagged)
    section_id = session.scalar(select(Section.id).where(Section.slug == key.slug))
    if section_id is None:
        return None
    placed = select(article_sections.c.article_id).where(
        article_sections.c.section_id == section_id
    )
    by_rule = (
        select(article_tags.c.article_id)
        .join(section_rule_tags, section_rule_tags.c.tag_id == article_tags.c.tag_id)
        .where(section_rule_tags.c.section_id == section_id)
    )
    return (Article.status == "published") & or_(Article.id.in_(placed), Article.id.in_(by_rule))


def deleted_entries(session: Session, key: FeedKey, since: datetime) -> tuple[DeletedEntry, ...]:
    """Tombstones of the items that left this feed by retraction or deletion since `since`."""
    rows = session.execute(
        select(Tombstone.uid, Tombstone.deleted_at)
        .where(Tombstone.key == key.path, Tombstone.deleted_at >= since)
        .order_by(Tombstone.deleted_at.desc(), Tombstone.uid)
    )
    return tuple(DeletedEntry(uid, when) for uid, when in rows)


def to_item(article: Article, settings: Settings) -> ItemData:
    published = article.published_at or article.created_at
    content = article.content_html
    if len(content.encode()) > settings.item_content_max_bytes:
        # One huge body would push a whole document past what readers accept; the item
        # keeps its summary and its link to the full article.
        content = ""
    return ItemData(
        id=article.uid,
        title=article.title,
        link=article.link or settings.article_url.format(slug=article.slug),
        summary=article.summary,
        content_html=content,
        published=published,
        updated=max(article.updated_at, published),
        author=article.author,
        source=article.source,
        language=article.language,
        categories=tuple(Category(t.slug, t.name) for t in article.tags),
    )


def feed_meta(
    session: Session,
    key: FeedKey,
    settings: Settings,
    items: Sequence[ItemData],
    changed_at: datetime | None,
) -> FeedMeta | None:
    base = settings.public_base
    if key.kind == "all":
        title, description, ident = settings.site_title, settings.site_description, "all"
    elif key.kind == "tag":
        tag = session.scalar(select(Tag).where(Tag.slug == key.slug))
        if tag is None:
            return None
        title = f"{settings.site_title}：{tag.name}"
        description = f"{settings.site_description}（標籤：{tag.name}）"
        ident = f"tag/{tag.id}"  # the row id, so a renamed tag keeps its feed id
    else:
        section = session.scalar(select(Section).where(Section.slug == key.slug))
        if section is None:
            return None
        title = f"{settings.site_title}：{section.name}"
        description = section.description or f"{settings.site_description}（{section.name}）"
        ident = f"section/{section.id}"
    instants = [i.updated for i in items] + ([changed_at] if changed_at else [])
    return FeedMeta(
        key=key,
        id=f"tag:{settings.id_authority}:feed/{ident}",
        title=title,
        description=description,
        language=settings.language,
        home_url=settings.site_url,
        self_urls={fmt: f"{base}{key.path}.{fmt}" for fmt in FORMATS},
        updated=max(instants, default=EPOCH),
        tz=settings.timezone,
    )
