"""Rate limits and request size limits, with the real defaults and with small configured ones.

conftest.py raises the rate limits for the rest of the suite; here apps are built with the
shipped defaults (`Settings` without overrides) or with a small `api_rate_limit`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from feedsvc import db, users
from feedsvc.app import create_app
from feedsvc.config import Settings
from feedsvc.models import Article, Section, Tag
from tests.desk.conftest import PASSWORD, csrf_of

PROBLEM = "application/problem+json"


def app_with(settings: Settings, engine: Engine, **overrides: Any) -> FlaskClient:
    """An app on the test database with the shipped rate limits, unless overridden."""
    shipped = Settings()
    chosen = {
        "database_url": settings.database_url,
        "base_url": settings.base_url,
        "feed_check_seconds": 0,
        "api_rate_limit": shipped.api_rate_limit,
        "signin_rate_limit": shipped.signin_rate_limit,
        **overrides,
    }
    app: Flask = create_app(Settings.load(environ={}, overrides=chosen), engine)
    app.config["TESTING"] = True
    client = app.test_client()
    client.environ_base["wsgi.url_scheme"] = "https"  # the desk cookie is Secure
    return client


def articles(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(Article)) or 0


def test_the_shipped_limits_are_the_documented_ones() -> None:
    assert Settings().api_rate_limit == "600 per minute"
    assert Settings().signin_rate_limit == "10 per minute"
    assert Settings().rate_limit_storage_uri == "memory://"


def test_the_default_api_limit_bites_after_600_requests_per_token(
    settings: Settings, engine: Engine, auth: dict[str, str], editor_token: str
) -> None:
    client = app_with(settings, engine)
    statuses = [client.get("/api/tags", headers=auth).status_code for _ in range(600)]
    assert statuses == [200] * 600
    refused = client.get("/api/tags", headers=auth)
    assert refused.status_code == 429
    assert refused.mimetype == PROBLEM
    assert refused.get_json()["status"] == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60


def test_a_small_api_limit_counts_each_token_apart_and_spares_docs_and_feeds(
    settings: Settings,
    engine: Engine,
    sessions: sessionmaker[Session],
    auth: dict[str, str],
) -> None:
    client = app_with(settings, engine, api_rate_limit="3 per minute")
    body = {"title": "限流"}
    for _ in range(3):
        assert client.post("/api/articles", headers=auth, json=body).status_code == 201
    refused = client.post("/api/articles", headers=auth, json=body)
    assert refused.status_code == 429
    assert refused.mimetype == PROBLEM
    assert int(refused.headers["Retry-After"]) >= 1
    assert articles(sessions) == 3  # the refused write saved nothing

    with db.transaction(sessions) as session:
        from feedsvc import tokens

        other = tokens.create_token(session, "editor", datetime.now(UTC))
    assert client.get("/api/tags", headers={"Authorization": f"Bearer {other}"}).status_code == 200
    # Not limited: the API's contract and the public feeds (the front's job, not Flask's).
    for _ in range(5):
        assert client.get("/api/openapi.json").status_code == 200
        assert client.get("/feeds/all.rss").status_code in (200, 503)
        assert client.get("/healthz").status_code == 200


def test_requests_without_a_token_are_limited_by_address(
    settings: Settings, engine: Engine
) -> None:
    client = app_with(settings, engine, api_rate_limit="2 per minute")
    assert [client.get("/api/articles").status_code for _ in range(2)] == [401, 401]
    assert client.get("/api/articles").status_code == 429


def sign_in_attempt(client: FlaskClient, username: str, password: str) -> Any:
    token = csrf_of(client.get("/desk/login").text)
    data = {"username": username, "password": password, "csrf_token": token}
    return client.post("/desk/login", data=data)


def test_the_default_sign_in_limit_stops_guessing_with_a_readable_page(
    settings: Settings, engine: Engine, sessions: sessionmaker[Session]
) -> None:
    with db.transaction(sessions) as session:
        users.create_user(session, "王編輯", PASSWORD, "editor", datetime.now(UTC))
    client = app_with(settings, engine)
    for attempt in range(10):
        assert sign_in_attempt(client, "王編輯", f"guess {attempt}").status_code == 401
    refused = sign_in_attempt(client, "王編輯", PASSWORD)  # even the right password now waits
    assert refused.status_code == 429
    assert refused.mimetype == "text/html"
    assert 'id="login-error"' in refused.text
    assert "429" not in refused.text  # a sentence for a person, not a code
    assert "登录尝试过于频繁" in refused.text  # in the desk's language
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["Content-Security-Policy"].startswith("default-src 'self'")
    # Another user name from the same address, and reading the page, are not held up.
    assert sign_in_attempt(client, "someone-else", "x").status_code == 401
    assert client.get("/desk/login").status_code == 200


def test_a_desk_form_over_the_size_limit_is_a_readable_413_and_saves_nothing(
    settings: Settings, engine: Engine, sessions: sessionmaker[Session]
) -> None:
    with db.transaction(sessions) as session:
        users.create_user(session, "editor1", PASSWORD, "editor", datetime.now(UTC))
    client = app_with(settings, engine, max_request_bytes=4096)
    assert sign_in_attempt(client, "editor1", PASSWORD).status_code == 302
    token = csrf_of(client.get("/desk/articles/new").text)
    reply = client.post(
        "/desk/articles/new",
        data={"csrf_token": token, "title": "太長", "content_html": "長" * 4096, "status": "draft"},
    )
    assert reply.status_code == 413
    assert reply.mimetype == "text/html"
    assert 'class="error-message"' in reply.text
    assert articles(sessions) == 0


@pytest.mark.parametrize(
    ("path", "model"), [("/api/articles", Article), ("/api/tags", Tag), ("/api/sections", Section)]
)
def test_an_api_body_over_the_size_limit_is_a_413_problem(
    settings: Settings,
    engine: Engine,
    sessions: sessionmaker[Session],
    admin_auth: dict[str, str],
    path: str,
    model: type[Article | Tag | Section],
) -> None:
    client = app_with(settings, engine, max_request_bytes=1024)
    reply = client.post(path, headers=admin_auth, json={"title": "x" * 2048, "name": "y"})
    assert reply.status_code == 413
    assert reply.mimetype == PROBLEM
    assert articles(sessions) == 0
    with sessions() as session:  # nothing of what the path creates was saved either
        assert session.scalar(select(func.count()).select_from(model)) == 0
