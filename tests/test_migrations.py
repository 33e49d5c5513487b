"""Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from feedsvc import db
from feedsvc.models import Base


def test_migrations_match_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_migrating_twice_is_harmless(engine: Engine) -> None:
    db.migrate(engine)
    assert db.is_migrated(engine)
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
