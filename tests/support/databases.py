"""Throwaway databases for tests: an SQLite file, or a fresh database on a server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


@contextmanager
def fresh_database(directory: Path) -> Iterator[str]:
    """A new empty database's URL: an SQLite file in `directory`, or, when
    FEEDSVC_TEST_DATABASE_URL names a PostgreSQL server, a database created there and
    dropped afterwards."""
    server = os.environ.get("FEEDSVC_TEST_DATABASE_URL")
    if not server:
        yield f"sqlite:///{directory / 'feedsvc.db'}"
        return
    name = f"feedsvc_test_{uuid.uuid4().hex[:16]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
