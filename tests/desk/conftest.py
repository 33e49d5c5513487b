"""Desk fixtures: users, and a test client signed in through the real sign-in form."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from feedsvc import db, users

PASSWORD = "長城 correct horse 42"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_user(sessions: sessionmaker[Session], name: str, role: str) -> None:
    with db.transaction(sessions) as session:
        users.create_user(session, name, PASSWORD, role, datetime.now(UTC))


def csrf_of(page: str) -> str:
    found = CSRF.search(page)
    assert found, "the page has no CSRF field"
    return found.group(1)


def sign_in(client: FlaskClient, username: str, password: str = PASSWORD) -> FlaskClient:
    token = csrf_of(client.get("/desk/login").text)
    reply = client.post(
        "/desk/login", data={"username": username, "password": password, "csrf_token": token}
    )
    assert reply.status_code == 302, reply.text
    return client


@pytest.fixture
def https_client(app: Flask) -> FlaskClient:
    # The session cookie is Secure: the test client only sends it back over https.
    client = app.test_client()
    client.environ_base["wsgi.url_scheme"] = "https"
    return client


@pytest.fixture
def admin(https_client: FlaskClient, sessions: sessionmaker[Session]) -> FlaskClient:
    make_user(sessions, "總編輯", "admin")
    return sign_in(https_client, "總編輯")


@pytest.fixture
def editor(https_client: FlaskClient, sessions: sessionmaker[Session]) -> FlaskClient:
    make_user(sessions, "editor1", "editor")
    return sign_in(https_client, "editor1")


def page_token(client: FlaskClient, path: str = "/desk/articles/new") -> str:
    return csrf_of(client.get(path).text)
