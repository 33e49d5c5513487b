"""feed membership ordered by publication time

Creates feed_entries (one row per published article per feed it appears in, keyed by
feed, publication time and article) and fills it from the articles already stored, by the
same rules as routing.feeds_of. The SQL is written out here rather than imported, so this
migration keeps doing what it did when the application code moves on.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Mirrors queries.size_estimate: characters of title, summary and body, 3 bytes each, plus
# the markup of one item.
_SIZE = "(length(a.title) + length(a.summary) + length(a.content_html)) * 3 + 800"
_WHEN = "coalesce(a.published_at, a.created_at)"
_BACKFILL = f"""
INSERT INTO feed_entries (feed_key, published_at, article_id, size_estimate)
SELECT '/feeds/all', {_WHEN}, a.id, {_SIZE}
  FROM articles a WHERE a.status = 'published'
UNION
SELECT '/feeds/tags/' || t.slug, {_WHEN}, a.id, {_SIZE}
  FROM articles a
  JOIN article_tags atg ON atg.article_id = a.id
  JOIN tags t ON t.id = atg.tag_id
 WHERE a.status = 'published'
UNION
SELECT '/feeds/sections/' || s.slug, {_WHEN}, a.id, {_SIZE}
  FROM articles a
  JOIN article_sections asec ON asec.article_id = a.id
  JOIN sections s ON s.id = asec.section_id
 WHERE a.status = 'published'
UNION
SELECT '/feeds/sections/' || s.slug, {_WHEN}, a.id, {_SIZE}
  FROM articles a
  JOIN article_tags atg ON atg.article_id = a.id
  JOIN section_rule_tags r ON r.tag_id = atg.tag_id
  JOIN sections s ON s.id = r.section_id
 WHERE a.status = 'published'
"""


def upgrade() -> None:
    op.create_table(
        "feed_entries",
        sa.Column("feed_key", sa.String(length=200), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("size_estimate", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name=op.f("fk_feed_entries_article_id_articles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "feed_key", "published_at", "article_id", name=op.f("pk_feed_entries")
        ),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("feed_entries", schema=None) as batch_op:
        batch_op.create_index("ix_feed_entries_article_id", ["article_id"], unique=False)
    op.execute(_BACKFILL)


def downgrade() -> None:
    with op.batch_alter_table("feed_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_feed_entries_article_id")
    op.drop_table("feed_entries")
