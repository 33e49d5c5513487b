"""Idempotency-Key on creating POSTs: a retried or duplicated request writes once.

Behaviour follows draft-ietf-httpapi-idempotency-key-header: the same key and request get
the first answer again (`Idempotent-Replayed: true`); the same key with another request is
422; keys are per token and expire after `idempotency_key_seconds`. The last test sends
duplicates concurrently to a real `feedsvc serve` (on PostgreSQL too, when the suite runs
there).
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from feedsvc import db, tokens
from feedsvc.models import Article, IdempotencyKey, Section, Tag
from tests.support.service import Reply, running_service, service_env

PROBLEM = "application/problem+json"
ARTICLE = {"title": "冪等測試", "summary": "只寫一次", "tags": ["余姚"]}


def post(
    client: FlaskClient, auth: dict[str, str], key: str | None, body: Any, path: str = ""
) -> TestResponse:
    headers = dict(auth)
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post(f"/api/articles{path}", headers=headers, json=body)


def count(sessions: sessionmaker[Session], model: type[Any] = Article) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_retry_gets_the_first_answer_and_writes_nothing(
    client: FlaskClient, auth: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    first = post(client, auth, "retry-1", ARTICLE)
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    again = post(client, auth, "retry-1", ARTICLE)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_data() == first.get_data()
    assert again.headers["Location"] == first.headers["Location"]
    assert count(sessions) == 1


def test_the_same_json_spelled_differently_is_the_same_request(
    client: FlaskClient, auth: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    headers = {**auth, "Idempotency-Key": '"quoted-key"', "Content-Type": "application/json"}
    compact = json.dumps(ARTICLE, ensure_ascii=False, separators=(",", ":"))
    spaced = json.dumps(dict(reversed(ARTICLE.items())), ensure_ascii=True, indent=2)
    assert client.post("/api/articles", headers=headers, data=compact).status_code == 201
    again = client.post("/api/articles", headers=headers, data=spaced)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert count(sessions) == 1


def test_the_same_key_with_another_body_is_422_and_writes_nothing(
    client: FlaskClient, auth: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    assert post(client, auth, "reused", ARTICLE).status_code == 201
    other = post(client, auth, "reused", {**ARTICLE, "title": "另一篇"})
    assert other.status_code == 422
    assert other.mimetype == PROBLEM
    assert [e["field"] for e in other.get_json()["errors"]] == ["Idempotency-Key"]
    # Another endpoint with the same key is another request too.
    assert post(client, auth, "reused", ARTICLE, path="?clean=source").status_code == 422
    assert count(sessions) == 1


def test_keys_belong_to_one_token(
    client: FlaskClient, auth: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    with db.transaction(sessions) as session:
        other = tokens.create_token(session, "editor", datetime.now(UTC), label="other")
    assert post(client, auth, "shared-key", ARTICLE).status_code == 201
    theirs = post(client, {"Authorization": f"Bearer {other}"}, "shared-key", ARTICLE)
    assert theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs.headers
    assert count(sessions) == 2


def test_a_failed_write_leaves_no_key_so_a_corrected_retry_works(
    client: FlaskClient, auth: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    bad = post(client, auth, "fix-me", {**ARTICLE, "sections": ["不存在"]})
    assert bad.status_code == 422
    assert count(sessions, IdempotencyKey) == 0
    good = post(client, auth, "fix-me", ARTICLE)
    assert good.status_code == 201
    assert "Idempotent-Replayed" not in good.headers
    assert count(sessions) == 1


def test_an_expired_key_is_forgotten(
    client: FlaskClient, auth: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    assert post(client, auth, "old", ARTICLE).status_code == 201
    day_ago = datetime.now(UTC) - timedelta(days=1, seconds=1)
    with db.transaction(sessions) as session:
        session.execute(update(IdempotencyKey).values(created_at=day_ago))
    fresh = post(client, auth, "old", ARTICLE)
    assert fresh.status_code == 201
    assert "Idempotent-Replayed" not in fresh.headers
    assert count(sessions) == 2
    assert count(sessions, IdempotencyKey) == 1  # the expired row was purged


def test_source_cleaning_posts_replay_too(
    client: FlaskClient, auth: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    body = {"title": "小鎮規(guī)?;\ue1e5l(fā)展", "status": "published"}
    first = post(client, auth, "clean-1", body, path="?clean=source")
    again = post(client, auth, "clean-1", body, path="?clean=source")
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert first.get_json()["warnings"]
    assert count(sessions) == 1


@pytest.mark.parametrize(
    ("path", "body", "model"),
    [("/api/tags", {"name": "冪等標籤"}, Tag), ("/api/sections", {"name": "冪等欄目"}, Section)],
)
def test_tags_and_sections_are_created_once_too(
    client: FlaskClient,
    admin_auth: dict[str, str],
    sessions: sessionmaker[Session],
    path: str,
    body: dict[str, str],
    model: type[Any],
) -> None:
    headers = {**admin_auth, "Idempotency-Key": "taxonomy-1"}
    first = client.post(path, headers=headers, json=body)
    again = client.post(path, headers=headers, json=body)
    assert (first.status_code, again.status_code) == (201, 201)  # not 409 "name taken"
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert count(sessions, model) == 1


@pytest.mark.parametrize("key", ["", " ", "键", "a\tb", "x" * 256, '""'])
def test_a_malformed_key_is_400_and_writes_nothing(
    client: FlaskClient, auth: dict[str, str], sessions: sessionmaker[Session], key: str
) -> None:
    response = post(client, auth, key.encode("utf-8").decode("latin-1"), ARTICLE)
    assert response.status_code == 400
    assert response.mimetype == PROBLEM
    assert response.get_json()["errors"][0]["field"] == "Idempotency-Key"
    assert count(sessions) == 0


def test_without_a_key_every_post_writes(
    client: FlaskClient, auth: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    assert post(client, auth, None, ARTICLE).status_code == 201
    assert post(client, auth, None, ARTICLE).status_code == 201
    assert count(sessions) == 2
    assert count(sessions, IdempotencyKey) == 0


@pytest.mark.e2e
def test_concurrent_duplicates_against_a_real_server_create_one_article(
    tmp_path: Path, database_url: str
) -> None:
    duplicates = 8
    env = service_env(database_url, FEEDSVC_LOAD_DEMO_ON_EMPTY="false")
    with running_service(tmp_path, env) as service:
        token = service.token()
        start = threading.Barrier(duplicates)
        replies: list[Reply] = []

        def send() -> None:
            start.wait()
            headers = {
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Idempotency-Key": "burst-1",
            }
            raw = json.dumps(ARTICLE, ensure_ascii=False).encode()
            replies.append(service.request("POST", "/api/articles", headers, raw))

        threads = [threading.Thread(target=send) for _ in range(duplicates)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert len(replies) == duplicates
        assert [r.status for r in replies] == [201] * duplicates, [r.body for r in replies]
        assert len({r.body for r in replies}) == 1
        fresh = [r for r in replies if r.header("Idempotent-Replayed") is None]
        assert len(fresh) == 1
        status, listed = service.api(token, "GET", "/api/articles")
        assert status == 200
        assert [a["title"] for a in listed["items"]] == [ARTICLE["title"]]
