"""Sign-in, sign-out, CSRF, cookie flags and the Content-Security-Policy of the desk."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from tests.desk.conftest import PASSWORD, csrf_of, make_user, page_token, sign_in


def test_an_unauthenticated_visit_is_sent_to_sign_in(https_client: FlaskClient) -> None:
    reply = https_client.get("/desk/articles?status=draft")
    assert reply.status_code == 302
    assert reply.headers["Location"] == "/desk/login?next=/desk/articles?status%3Ddraft"


def test_unauthenticated_json_gets_401_not_a_page(https_client: FlaskClient) -> None:
    reply = https_client.get("/desk/api/appears-in?tags=x")
    assert reply.status_code == 401


def test_sign_in_sets_a_secure_httponly_cookie_and_follows_next(
    https_client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    make_user(sessions, "amy", "editor")
    token = csrf_of(https_client.get("/desk/login?next=/desk/health").text)
    reply = https_client.post(
        "/desk/login",
        data={"username": "amy", "password": PASSWORD, "csrf_token": token, "next": "/desk/health"},
    )
    assert reply.status_code == 302
    assert reply.headers["Location"] == "/desk/health"
    cookie = reply.headers["Set-Cookie"]
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert https_client.get("/desk/health").status_code == 200


def test_next_cannot_send_the_editor_to_another_site(
    https_client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    make_user(sessions, "amy", "editor")
    token = csrf_of(https_client.get("/desk/login").text)
    reply = https_client.post(
        "/desk/login",
        data={
            "username": "amy",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "//evil.example/desk",
        },
    )
    assert reply.headers["Location"] == "/desk/articles"


def test_a_wrong_password_is_refused_with_a_message(
    https_client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    make_user(sessions, "amy", "editor")
    token = csrf_of(https_client.get("/desk/login").text)
    reply = https_client.post(
        "/desk/login", data={"username": "amy", "password": "nope nope nope", "csrf_token": token}
    )
    assert reply.status_code == 401
    assert 'id="login-error"' in reply.text
    assert 'value="amy"' in reply.text  # what was typed stays
    assert https_client.get("/desk/articles").status_code == 302


def test_a_form_without_its_csrf_token_is_refused(editor: FlaskClient) -> None:
    reply = editor.post("/desk/articles/new", data={"title": "沒有令牌", "status": "draft"})
    assert reply.status_code == 400
    assert "表单缺少安全令牌" in reply.text
    listing = editor.get("/desk/articles?q=沒有令牌")
    assert "沒有令牌" not in listing.text.split('id="article-list"')[1]


def test_a_csrf_token_of_another_session_is_refused(
    editor: FlaskClient, app: Flask, sessions: sessionmaker[Session]
) -> None:
    other = app.test_client()
    other.environ_base["wsgi.url_scheme"] = "https"
    make_user(sessions, "bob", "editor")
    foreign = page_token(sign_in(other, "bob"))
    reply = editor.post("/desk/articles/new", data={"title": "x", "csrf_token": foreign})
    assert reply.status_code == 400


def test_sign_in_itself_needs_the_csrf_token(
    https_client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    make_user(sessions, "amy", "editor")
    reply = https_client.post("/desk/login", data={"username": "amy", "password": PASSWORD})
    assert reply.status_code == 400


def test_sign_out_ends_the_session(editor: FlaskClient) -> None:
    token = page_token(editor, "/desk/articles")
    assert editor.post("/desk/logout", data={"csrf_token": token}).status_code == 302
    assert editor.get("/desk/articles").status_code == 302


def test_every_desk_page_carries_a_strict_csp(editor: FlaskClient) -> None:
    for path in ("/desk/login", "/desk/articles", "/desk/articles/new", "/desk/health"):
        reply = editor.get(path)
        csp = reply.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert "<script>" not in reply.text  # no inline script the CSP would block
        assert reply.headers["X-Frame-Options"] == "DENY"


def test_public_feeds_are_left_without_the_desk_policy(client: FlaskClient) -> None:
    assert "Content-Security-Policy" not in client.get("/feeds/all.rss").headers
