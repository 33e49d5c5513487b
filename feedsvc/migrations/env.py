"""Alembic environment: runs against the engine the caller hands over (see db.migrate)."""

from alembic import context
from sqlalchemy import Engine

from feedsvc.models import Base

config = context.config
engine = config.attributes.get("engine")
if not isinstance(engine, Engine):
    raise RuntimeError("run migrations through feedsvc (feedsvc migrate), not the alembic CLI")

with engine.connect() as connection:
    # Batch mode lets later migrations alter tables on SQLite, which lacks ALTER COLUMN.
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
