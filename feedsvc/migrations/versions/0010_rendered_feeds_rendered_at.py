"""an index on rendered_feeds.rendered_at for the file export's reads after each tick

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 14:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_rendered_feeds_rendered_at", "rendered_feeds", ["rendered_at"])


def downgrade() -> None:
    op.drop_index("ix_rendered_feeds_rendered_at", table_name="rendered_feeds")
