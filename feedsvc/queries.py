"""Read queries: which feeds exist, what each shows, and the bridge from rows to pure values.

What each feed shows is read from `feed_entries` (one row per published article per feed,
ordered by publication): `newest_ids`, `entries_after` and `ids_between` read only that
index. `sync_entries` and `refill_entries` keep it equal to routing.feeds_of; publishing.py
and taxonomy.py call them in the same transaction as every write that moves an article.
`computed_membership` is the same set worked out from the articles, tags and sections.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Tuple,
    bindparam,
    delete,
    func,
    insert,
    inspect,
    literal,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import Session, lazyload
from sqlalchemy.orm.attributes import set_committed_value

from feedsvc.config import Settings
from feedsvc.models import (
    Article,
    FeedEntry,
    Section,
    Tag,
    Tombstone,
    article_sections,
    article_tags,
    section_rule_tags,
)
from feedsvc.routing import Placement, SectionRule, feeds_of
from feedsvc.types import FORMATS, DeletedEntry, FeedKey, FeedMeta, ItemData

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


def feed_exists(session: Session, key: FeedKey) -> bool:
    if key.kind == "all":
        return True
    model = Tag if key.kind == "tag" else Section
    return session.scalar(select(model.id).where(model.slug == key.slug)) is not None


def membership(session: Session, key: FeedKey) -> ColumnElement[bool] | None:
    """The articles of one feed, as a condition on Article; None if the feed does not exist."""
    if not feed_exists(session, key):
        return None
    return Article.id.in_(select(FeedEntry.article_id).where(FeedEntry.feed_key == key.path))


def computed_membership(session: Session, key: FeedKey) -> ColumnElement[bool] | None:
    """The SQL form of routing.feeds_of for one feed, from articles, tags and sections."""
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


# Characters become up to three UTF-8 bytes and markup grows when escaped; this errs large.
BYTES_PER_CHAR = 3
ITEM_OVERHEAD = 800
Bound = tuple[datetime, int]  # (published_at, article_id) of an item, the order feeds use


def size_estimate(article: Article) -> int:
    chars = len(article.title) + len(article.summary or "") + len(article.content_html or "")
    return chars * BYTES_PER_CHAR + ITEM_OVERHEAD


def _entry_time(article: Article) -> datetime:
    return article.published_at or article.created_at


def sync_entries(
    session: Session, article: Article, rules: Sequence[SectionRule] | None = None
) -> None:
    """Make the article's feed_entries rows say what routing says now (call after flush)."""
    if rules is None:
        rules = section_rules(session)
    wanted = {k.path for k in feeds_of(placement(article), rules)}
    when, size = _entry_time(article), size_estimate(article)
    rows = session.execute(
        select(FeedEntry.feed_key, FeedEntry.published_at, FeedEntry.size_estimate).where(
            FeedEntry.article_id == article.id
        )
    ).all()
    have = {key: (at, sz) for key, at, sz in rows}
    stale = [key for key, (at, _) in have.items() if key not in wanted or at != when]
    if stale:
        session.execute(
            delete(FeedEntry).where(
                FeedEntry.article_id == article.id, FeedEntry.feed_key.in_(stale)
            )
        )
    resized = [key for key, (at, sz) in have.items() if key in wanted and at == when and sz != size]
    if resized:
        session.execute(
            update(FeedEntry)
            .where(FeedEntry.article_id == article.id, FeedEntry.feed_key.in_(resized))
            .values(size_estimate=size)
        )
    missing = sorted(wanted - (have.keys() - set(stale)))
    if missing:
        session.execute(
            insert(FeedEntry),
            [
                {
                    "feed_key": k,
                    "published_at": when,
                    "article_id": article.id,
                    "size_estimate": size,
                }
                for k in missing
            ],
        )


def drop_entries(session: Session, key: FeedKey) -> None:
    session.execute(delete(FeedEntry).where(FeedEntry.feed_key == key.path))


def rename_entries(session: Session, old: FeedKey, new: FeedKey) -> None:
    session.execute(
        update(FeedEntry).where(FeedEntry.feed_key == old.path).values(feed_key=new.path)
    )


def refill_entries(session: Session, key: FeedKey) -> None:
    """Rebuild one feed's rows from the articles (after a rule change, merge or delete)."""
    drop_entries(session, key)
    condition = computed_membership(session, key)
    if condition is None:
        return
    size = (
        func.length(Article.title)
        + func.length(Article.summary)
        + func.length(Article.content_html)
    ) * BYTES_PER_CHAR + ITEM_OVERHEAD
    rows = select(
        literal(key.path),
        func.coalesce(Article.published_at, Article.created_at),
        Article.id,
        size,
    ).where(condition)
    session.execute(
        insert(FeedEntry).from_select(
            ["feed_key", "published_at", "article_id", "size_estimate"], rows
        )
    )


def newest_ids(session: Session, key: FeedKey, limit: int) -> list[int]:
    """The ids of the feed's `limit` newest items, newest first (reads only the index)."""
    stmt = (
        select(FeedEntry.article_id)
        .where(FeedEntry.feed_key == key.path)
        .order_by(FeedEntry.published_at.desc(), FeedEntry.article_id.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


def _after(bound: Bound) -> ColumnElement[bool]:
    # A row-value comparison, not "a > x OR (a = x AND b > y)": with ORDER BY, SQLite
    # planned the OR form as a walk over all of the feed's entries (80 ms for the site-wide
    # feed at 1M articles, against 0.05 ms for the range).
    return _position() > tuple_(*_typed(bound))


def _up_to(bound: Bound) -> ColumnElement[bool]:
    return _position() <= tuple_(*_typed(bound))


def _position() -> Tuple:
    return tuple_(FeedEntry.published_at, FeedEntry.article_id)


def _typed(bound: Bound) -> tuple[BindParameter[datetime], BindParameter[int]]:
    at, article_id = bound
    return (
        bindparam(None, at, type_=FeedEntry.published_at.type),
        bindparam(None, article_id, type_=FeedEntry.article_id.type),
    )


def entries_after(
    session: Session, key: FeedKey, bound: Bound | None
) -> list[tuple[int, datetime, int]]:
    """(article id, published_at, size estimate) of the feed's items after `bound`, oldest
    first; all of them when `bound` is None. Reads only feed_entries."""
    stmt = select(FeedEntry.article_id, FeedEntry.published_at, FeedEntry.size_estimate).where(
        FeedEntry.feed_key == key.path
    )
    if bound is not None:
        stmt = stmt.where(_after(bound))
    stmt = stmt.order_by(FeedEntry.published_at, FeedEntry.article_id)
    return [(int(i), at, int(sz)) for i, at, sz in session.execute(stmt)]


def ids_between(session: Session, key: FeedKey, after: Bound | None, up_to: Bound) -> list[int]:
    """The ids of the feed's items in (after, up_to], newest first."""
    stmt = select(FeedEntry.article_id).where(FeedEntry.feed_key == key.path, _up_to(up_to))
    if after is not None:
        stmt = stmt.where(_after(after))
    stmt = stmt.order_by(FeedEntry.published_at.desc(), FeedEntry.article_id.desc())
    return list(session.scalars(stmt))


def _tagged(session: Session, ids: Sequence[int]) -> dict[int, list[int]]:
    """Tag id -> ids of these articles carrying it, from article_tags' primary key alone.

    The tags are then fetched by id in a query of their own: joined in one query,
    PostgreSQL hashes the whole tags table (5,000 rows, a millisecond) for a few dozen.
    """
    stmt = select(article_tags.c.tag_id, article_tags.c.article_id).where(
        article_tags.c.article_id.in_(ids)
    )
    found: dict[int, list[int]] = {}
    for tag_id, article_id in session.execute(stmt):
        found.setdefault(tag_id, []).append(article_id)
    return found


def load_articles(session: Session, ids: Sequence[int]) -> list[Article]:
    """The articles with their tags, newest first: three queries, however many articles."""
    if not ids:
        return []
    stmt = (
        select(Article)
        .where(Article.id.in_(ids))
        # Items need their tags (categories), never their sections: load those only if asked.
        .options(lazyload(Article.tags), lazyload(Article.sections))
        .order_by(Article.published_at.desc(), Article.id.desc())
    )
    articles = list(session.scalars(stmt))
    tagged = _tagged(session, ids)
    by_article: dict[int, list[Tag]] = {}
    # In the database's order of names, as the Article.tags relationship lists them.
    for tag in session.scalars(select(Tag).where(Tag.id.in_(tagged)).order_by(Tag.name)):
        for article_id in tagged[tag.id]:
            by_article.setdefault(article_id, []).append(tag)
    for article in articles:
        # An article this session already holds keeps the tags it has (maybe unflushed).
        if "tags" in inspect(article).unloaded:
            set_committed_value(article, "tags", by_article.get(article.id, []))
    return articles


def deleted_entries(session: Session, key: FeedKey, since: datetime) -> tuple[DeletedEntry, ...]:
    """Tombstones of the items that left this feed by retraction or deletion since `since`."""
    rows = session.execute(
        select(Tombstone.uid, Tombstone.deleted_at)
        .where(Tombstone.key == key.path, Tombstone.deleted_at >= since)
        .order_by(Tombstone.deleted_at.desc(), Tombstone.uid)
    )
    return tuple(DeletedEntry(uid, when) for uid, when in rows)


def feed_meta(session: Session, key: FeedKey, settings: Settings) -> FeedMeta | None:
    """What a feed's documents share, `updated` aside (see `dated`); None if the feed does
    not exist."""
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
    return FeedMeta(
        key=key,
        id=f"tag:{settings.id_authority}:feed/{ident}",
        title=title,
        description=description,
        language=settings.language,
        home_url=settings.site_url,
        self_urls={fmt: f"{base}{key.path}.{fmt}" for fmt in FORMATS},
        updated=EPOCH,
        tz=settings.timezone,
    )


def dated(meta: FeedMeta, items: Sequence[ItemData], changed_at: datetime | None) -> FeedMeta:
    """The meta of one document: updated at its newest item, or the feed's own last change."""
    instants = [i.updated for i in items] + ([changed_at] if changed_at else [])
    return replace(meta, updated=max(instants, default=EPOCH))
