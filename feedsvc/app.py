"""The Flask application factory. It wires settings, the database and the blueprints."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, Response, current_app
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
    from feedsvc.traffic import TrafficCounter
    from feedsvc.web import (
        api,
        desk,
        discovery,
        feeds,
        limits,
        nul,
        openapi,
        partner_feeds,
        problems,
    )
    from feedsvc.web.fastpath import FeedCache

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
    app.register_blueprint(discovery.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(partner_feeds.bp)
    app.after_request(security_headers)
    app.extensions["feedsvc_traffic"] = TrafficCounter(
        app.extensions["feedsvc"].sessions, settings.traffic_flush_seconds
    )
    desk.register(app)
    limits.register(app, settings)  # after the API and desk blueprints it limits
    nul.register(app)  # after every blueprint: the last step before each view
    app.wsgi_app = FeedCache(app)  # type: ignore[method-assign]
    return app


def security_headers(response: Response) -> Response:
    """Headers every response carries; a view (the desk, the API docs) may set stricter ones."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    if response.mimetype == "text/html":
        # No page of ours is meant to be framed (clickjacking); CSP for browsers, XFO for old ones.
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Content-Security-Policy", "frame-ancestors 'none'")
    return response


def services() -> Services:
    found: Services = current_app.extensions["feedsvc"]
    return found
