"""The Flask application factory. It wires settings, the database and the blueprints."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from feedsvc.config import Settings
from feedsvc.db import make_engine, session_factory


@dataclass(frozen=True)
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> Flask:
    from feedsvc.web import api, feeds, problems

    settings = settings or Settings.load()
    engine = engine or make_engine(settings.database_url)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["feedsvc"] = Services(settings, engine, session_factory(engine))
    problems.register(app)
    app.register_blueprint(feeds.bp)
    app.register_blueprint(api.bp)
    return app


def services() -> Services:
    found: Services = current_app.extensions["feedsvc"]
    return found
