"""an index on feed_states.dirty for the scheduler's frequent dirty poll

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 09:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_feed_states_dirty", "feed_states", ["dirty"])


def downgrade() -> None:
    op.drop_index("ix_feed_states_dirty", table_name="feed_states")
