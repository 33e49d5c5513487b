"""an index for prefix reads of rendered_feeds.key under any PostgreSQL collation

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 13:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_rendered_feeds_key_prefix",
        "rendered_feeds",
        ["key"],
        postgresql_ops={"key": "varchar_pattern_ops"},
    )


def downgrade() -> None:
    op.drop_index("ix_rendered_feeds_key_prefix", table_name="rendered_feeds")
