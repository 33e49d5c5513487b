"""Feed items (ItemData) read straight from rows: one query per document, tags included.

Rendering is most of a render's cost; the rest was reading. Building ORM objects only to
copy them into ItemData, and two more round trips for each document's tags, cost as much as
the query itself, so the tags come in the same statement, as one string per article (a
correlated subquery on article_tags' primary key and the tags' primary key).
`to_item` is the same mapping for an ORM Article; tests keep the two equal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, func, literal, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from feedsvc.config import Settings
from feedsvc.models import Article, FeedEntry, Tag, article_tags
from feedsvc.types import Category, FeedKey, ItemData

UNIT, RECORD = "\x1f", "\x1e"  # ASCII's unit and record separators
# What an item needs of an article.
ITEM_COLUMNS = (
    Article.id,
    Article.uid,
    Article.slug,
    Article.title,
    Article.summary,
    Article.content_html,
    Article.author,
    Article.source,
    Article.link,
    Article.language,
    Article.published_at,
    Article.updated_at,
    Article.created_at,
)


def to_item(article: Article, settings: Settings) -> ItemData:
    return item_of(article, tuple(Category(t.slug, t.name) for t in article.tags), settings)


def item_of(article: Any, categories: tuple[Category, ...], settings: Settings) -> ItemData:
    """An item from an Article or a row of ITEM_COLUMNS."""
    published = article.published_at or article.created_at
    content = article.content_html
    # UTF-8 takes at most 4 bytes a character: most bodies pass without being encoded.
    limit = settings.item_content_max_bytes
    if len(content) * 4 > limit and len(content.encode()) > limit:
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
        categories=categories,
    )


def load_items(session: Session, ids: Sequence[int], settings: Settings) -> list[ItemData]:
    """The items of these articles, newest first, in one query."""
    if not ids:
        return []
    return _items(session, _by_ids(session), settings, {"ids": list(ids)})


def newest_items(session: Session, key: FeedKey, limit: int, settings: Settings) -> list[ItemData]:
    """The feed's `limit` newest items, newest first: its feed_entries range joined to the
    articles, in one query."""
    params = {"feed_key": key.path, "limit": limit}
    return _items(session, _newest(session.get_bind().dialect.name), settings, params)


# Statements are built once per dialect: building one costs a fifth of running it.
_STATEMENTS: dict[tuple[str, str], Select[*tuple[Any, ...]]] = {}


def _by_ids(session: Session) -> Select[*tuple[Any, ...]]:
    dialect = session.get_bind().dialect.name
    found = _STATEMENTS.get(("by_ids", dialect))
    if found is None:
        found = (
            select(*ITEM_COLUMNS, _tags_text(dialect).label("tags"))
            .where(Article.id.in_(bindparam("ids", expanding=True)))
            .order_by(Article.published_at.desc(), Article.id.desc())
        )
        _STATEMENTS["by_ids", dialect] = found
    return found


def _newest(dialect: str) -> Select[*tuple[Any, ...]]:
    found = _STATEMENTS.get(("newest", dialect))
    if found is None:
        found = (
            select(*ITEM_COLUMNS, _tags_text(dialect).label("tags"))
            .join(FeedEntry, FeedEntry.article_id == Article.id)
            .where(FeedEntry.feed_key == bindparam("feed_key"))
            .order_by(FeedEntry.published_at.desc(), FeedEntry.article_id.desc())
            .limit(bindparam("limit"))
        )
        _STATEMENTS["newest", dialect] = found
    return found


def _tags_text(dialect: str) -> ColumnElement[Any]:
    # slug US name RS slug US name...: names are cleaned of C0 controls (text.clean_text)
    # and slugs are [a-z0-9-], so neither separator can occur inside one. Splitting text
    # costs a fifth of parsing the same pairs as JSON.
    pair = Tag.slug + literal(UNIT) + Tag.name
    if dialect == "postgresql":
        # In the database's order of names, as the Article.tags relationship lists them.
        aggregate = func.string_agg(pair, aggregate_order_by(literal(RECORD), Tag.name))
    else:
        aggregate = func.group_concat(pair, RECORD)  # ordered below: SQLite's BINARY collation
    return (
        select(aggregate)
        .select_from(article_tags.join(Tag, Tag.id == article_tags.c.tag_id))
        .where(article_tags.c.article_id == Article.id)
        .scalar_subquery()
    )


def _items(
    session: Session,
    stmt: Select[*tuple[Any, ...]],
    settings: Settings,
    params: dict[str, Any] | None = None,
) -> list[ItemData]:
    sqlite = session.get_bind().dialect.name == "sqlite"
    items = []
    for row in session.execute(stmt, params):
        pairs = [p.split(UNIT, 1) for p in row.tags.split(RECORD)] if row.tags else []
        if sqlite:
            # BINARY collation compares UTF-8 bytes, which order as code points do.
            pairs.sort(key=lambda pair: pair[1])
        categories = tuple(Category(slug, name) for slug, name in pairs)
        items.append(item_of(row, categories, settings))
    return items
