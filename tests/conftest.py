"""Fixture ladder: database -> settings -> engine -> sessions -> app -> client.

Each test gets its own real database: an SQLite file by default, or a fresh database on
the PostgreSQL server named by FEEDSVC_TEST_DATABASE_URL (created and dropped per test).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from feedsvc import db, demo, tokens
from feedsvc.app import create_app
from feedsvc.config import Settings
from feedsvc.jobs import Renderer
from tests.support.databases import fresh_database
from tests.support.service import UNTHROTTLED

BASE_URL = "http://feeds.test"


class Clock:
    """A clock the test moves by hand, so scheduled publishing can be tested without waiting."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    with fresh_database(tmp_path) as url:
        yield url


@pytest.fixture
def settings(database_url: str) -> Settings:
    # The feed cache asks the store on every request here, so a test sees a new render at
    # once; tests/test_fastpath.py covers the interval.
    overrides = {
        "database_url": database_url,
        "base_url": BASE_URL,
        "feed_check_seconds": 0,
        **UNTHROTTLED,
    }
    return Settings.load(environ={}, overrides=overrides)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = db.make_engine(settings.database_url)
    db.migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return db.session_factory(engine)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 3, 1, 4, 0, tzinfo=UTC))


@pytest.fixture
def renderer(sessions: sessionmaker[Session], settings: Settings, clock: Clock) -> Renderer:
    return Renderer(sessions, settings, clock=clock, holder="test-scheduler")


@pytest.fixture
def demo_loaded(sessions: sessionmaker[Session], settings: Settings, renderer: Renderer) -> None:
    with db.transaction(sessions) as session:
        demo.load(session, renderer.clock(), settings)
    renderer.sweep()


@pytest.fixture
def app(settings: Settings, engine: Engine) -> Flask:
    app = create_app(settings, engine)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def make_token(sessions: sessionmaker[Session], role: str) -> str:
    with db.transaction(sessions) as session:
        return tokens.create_token(session, role, datetime.now(UTC), label="test")


@pytest.fixture
def editor_token(sessions: sessionmaker[Session]) -> str:
    return make_token(sessions, "editor")


@pytest.fixture
def auth(editor_token: str) -> dict[str, str]:
    """Headers of an editor's API call."""
    return {"Authorization": f"Bearer {editor_token}"}


@pytest.fixture
def admin_auth(sessions: sessionmaker[Session]) -> dict[str, str]:
    """Headers of an admin's API call."""
    return {"Authorization": f"Bearer {make_token(sessions, 'admin')}"}
