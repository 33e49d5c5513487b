"""The editor API (/api) end to end: Flask test client, real SQLite file, no mocks of feedsvc.

Covers authentication, article CRUD, RFC 9457 problem bodies, all-or-nothing writes, input
hygiene, tags, sections with routing rules, dirty marks, scheduled publishing, previews and
listing. API writes use the real time; the renderer uses the `clock` fixture, so every time
below is chosen relative to both.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import feedparser
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from feedsvc import db, publishing, tokens
from feedsvc.app import create_app
from feedsvc.config import Settings
from feedsvc.jobs import Renderer
from feedsvc.models import ApiToken, Article, FeedState, RenderedFeed, Tag
from feedsvc.types import FeedKey

PROBLEM = "application/problem+json"
SITE = "/feeds/all"
Headers = dict[str, str]
Json = dict[str, Any]


class Clock(Protocol):
    """The `clock` fixture of conftest.py (conftest is not importable as a module here)."""

    now: datetime

    def advance(self, **delta: float) -> datetime: ...


# --- helpers -------------------------------------------------------------------------------


def create(client: FlaskClient, auth: Headers, **fields: Any) -> Json:
    response = client.post("/api/articles", headers=auth, json=fields)
    assert response.status_code == 201, response.get_data(as_text=True)
    body: Json = response.get_json()
    return body


def patch(client: FlaskClient, auth: Headers, article_id: int, **fields: Any) -> Json:
    response = client.patch(f"/api/articles/{article_id}", headers=auth, json=fields)
    assert response.status_code == 200, response.get_data(as_text=True)
    body: Json = response.get_json()
    return body


def read(client: FlaskClient, auth: Headers, article_id: int) -> Json:
    response = client.get(f"/api/articles/{article_id}", headers=auth)
    assert response.status_code == 200, response.get_data(as_text=True)
    body: Json = response.get_json()
    return body


def post_raw(client: FlaskClient, auth: Headers, raw: bytes | str) -> TestResponse:
    """POST a body exactly as given, so malformed JSON and raw escapes reach the server."""
    return client.post("/api/articles", headers=auth, data=raw, content_type="application/json")


def assert_problem(response: TestResponse, status: int, field: str | None = None) -> Json:
    """An RFC 9457 body whose status matches the response; for 422, `field` must be named."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body: Json = json.loads(response.get_data(as_text=True))
    assert body["status"] == status
    assert body["type"]
    assert body["title"]
    if field is not None:
        assert field in [e["field"] for e in body["errors"]], body
    return body


def token_headers(sessions: sessionmaker[Session], role: str) -> Headers:
    """Like conftest's make_token, for a role the `auth` fixture does not cover."""
    with db.transaction(sessions) as session:
        token = tokens.create_token(session, role, datetime.now(UTC), label="test")
    return {"Authorization": f"Bearer {token}"}


def ago(**delta: float) -> str:
    """A real-time instant in the past, as an aware ISO string the API accepts."""
    return (datetime.now(UTC) - timedelta(**delta)).isoformat()


def when(value: str | None) -> datetime:
    assert value is not None
    return datetime.fromisoformat(value)


def feed_states(sessions: sessionmaker[Session]) -> dict[str, tuple[bool, int, datetime]]:
    with sessions() as session:
        rows = session.scalars(select(FeedState))
        return {r.key: (r.dirty, r.generation, r.changed_at) for r in rows}


def dirty_keys(sessions: sessionmaker[Session]) -> set[str]:
    return {key for key, (dirty, _, _) in feed_states(sessions).items() if dirty}


def tag_names(sessions: sessionmaker[Session]) -> set[str]:
    with sessions() as session:
        return set(session.scalars(select(Tag.name)))


def article_count(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(Article)) or 0


def etag_of(sessions: sessionmaker[Session], key: str, fmt: str = "atom") -> tuple[str, datetime]:
    with sessions() as session:
        row = session.get(RenderedFeed, (key, fmt))
        assert row is not None, f"{key}.{fmt} was never rendered"
        return row.etag, row.rendered_at


def feed_paths(client: FlaskClient, auth: Headers, article_id: int) -> set[str]:
    response = client.get(f"/api/articles/{article_id}/feeds", headers=auth)
    assert response.status_code == 200
    return {f["key"] for f in response.get_json()["feeds"]}


def entry_ids(body: bytes) -> list[str]:
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return [e.id for e in parsed.entries]


def preview_ids(client: FlaskClient, auth: Headers, path: str) -> list[str]:
    response = client.get(f"/api/preview{path}", headers=auth)
    assert response.status_code == 200, response.get_data(as_text=True)
    return entry_ids(response.data)


# --- 1. authentication ---------------------------------------------------------------------

API_CALLS = [
    ("get", "/api/articles"),
    ("post", "/api/articles"),
    ("get", "/api/tags"),
    ("post", "/api/sections"),
    ("get", "/api/preview/feeds/all.rss"),
]


@pytest.mark.parametrize(("method", "path"), API_CALLS)
def test_every_api_call_without_a_token_is_401_problem(
    client: FlaskClient, sessions: sessionmaker[Session], method: str, path: str
) -> None:
    response = client.open(path, method=method.upper(), json={"title": "x", "name": "x"})
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert article_count(sessions) == 0


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("Basic dXNlcjpwYXNz", id="basic-scheme"),
        pytest.param("Token {token}", id="token-scheme"),
        pytest.param("{token}", id="no-scheme"),
        pytest.param("Bearer", id="bearer-without-token"),
        pytest.param("Bearer    ", id="bearer-blank-token"),
    ],
)
def test_a_header_of_the_wrong_shape_is_401(
    client: FlaskClient, editor_token: str, header: str
) -> None:
    response = client.get(
        "/api/articles", headers={"Authorization": header.format(token=editor_token)}
    )
    assert_problem(response, 401)
    assert "WWW-Authenticate" in response.headers


def test_an_unknown_token_is_401_invalid_token(client: FlaskClient) -> None:
    response = client.get("/api/articles", headers={"Authorization": "Bearer fs_not-a-real-token"})
    assert_problem(response, 401)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_revoked_token_is_refused(
    client: FlaskClient, sessions: sessionmaker[Session], auth: Headers
) -> None:
    assert client.get("/api/articles", headers=auth).status_code == 200
    with db.transaction(sessions) as session:
        for token in session.scalars(select(ApiToken)):
            token.revoked_at = datetime.now(UTC)
    assert_problem(client.get("/api/articles", headers=auth), 401)


@pytest.mark.parametrize("role", ["editor", "admin"])
@pytest.mark.parametrize("scheme", ["Bearer", "bearer"])
def test_editor_and_admin_tokens_can_write(
    client: FlaskClient, sessions: sessionmaker[Session], role: str, scheme: str
) -> None:
    token = token_headers(sessions, role)["Authorization"].removeprefix("Bearer ")
    headers = {"Authorization": f"{scheme} {token}"}
    created = create(client, headers, title="令牌測試")
    assert read(client, headers, created["id"])["title"] == "令牌測試"


def test_feeds_and_healthz_need_no_token(
    client: FlaskClient, auth: Headers, renderer: Renderer
) -> None:
    article = create(client, auth, title="公開", status="published", tags=["余姚"])
    renderer.tick()
    health = client.get("/healthz")
    assert health.status_code == 200
    for path in (f"{SITE}.atom", "/feeds/tags/yuyao.rss", f"{SITE}.json"):
        response = client.get(path)
        assert response.status_code == 200, path
    assert entry_ids(client.get(f"{SITE}.atom").data) == [article["uid"]]


# --- 2. article CRUD -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("余姚新聞", "yuyaoxinwen"),
        ("長沙銀行", "changshayinhang"),  # Traditional polyphones keep their phrase reading
        ("娛樂LOVE", "yule-love"),
    ],
)
def test_post_creates_an_article(client: FlaskClient, auth: Headers, title: str, slug: str) -> None:
    before = datetime.now(UTC)
    response = client.post("/api/articles", headers=auth, json={"title": title})
    after = datetime.now(UTC)

    assert response.status_code == 201
    body = response.get_json()
    assert isinstance(body["id"], int)
    assert response.headers["Location"].endswith(f"/api/articles/{body['id']}")
    assert body["uid"].startswith("tag:")
    assert body["slug"] == slug
    assert body["title"] == title
    assert body["status"] == "draft"
    assert body["published_at"] is None
    for name in ("created_at", "updated_at"):
        assert body[name].endswith("+08:00")
        assert before <= when(body[name]) <= after
    # The Location header leads to the same article.
    assert client.get(response.headers["Location"], headers=auth).get_json() == body


def test_equal_titles_get_distinct_slugs_and_uids(client: FlaskClient, auth: Headers) -> None:
    first = create(client, auth, title="余姚")
    second = create(client, auth, title="余姚")
    assert (first["slug"], second["slug"]) == ("yuyao", "yuyao-2")
    assert first["uid"] != second["uid"]


def test_published_at_is_rendered_in_the_site_zone(client: FlaskClient, auth: Headers) -> None:
    body = create(
        client, auth, title="時區", status="published", published_at="2022-02-18T10:02:25Z"
    )
    assert body["published_at"] == "2022-02-18T18:02:25+08:00"
    assert body["status"] == "published"


def test_patch_changes_only_the_fields_it_names(client: FlaskClient, auth: Headers) -> None:
    article = create(client, auth, title="原標題", summary="原摘要", author="記者甲", tags=["余姚"])
    patched = patch(client, auth, article["id"], summary="新摘要")
    assert patched["summary"] == "新摘要"
    unchanged = ("title", "author", "slug", "uid", "tags", "status", "created_at")
    assert {k: patched[k] for k in unchanged} == {k: article[k] for k in unchanged}
    assert read(client, auth, article["id"]) == patched


def test_delete_then_get_is_404(client: FlaskClient, auth: Headers) -> None:
    article = create(client, auth, title="刪除我")
    response = client.delete(f"/api/articles/{article['id']}", headers=auth)
    assert response.status_code == 204
    assert response.data == b""
    assert_problem(client.get(f"/api/articles/{article['id']}", headers=auth), 404)
    assert_problem(client.delete(f"/api/articles/{article['id']}", headers=auth), 404)


def test_uid_never_changes(client: FlaskClient, auth: Headers) -> None:
    article = create(client, auth, title="第一版", status="published")
    edits: list[Json] = [
        {"title": "第二版"},
        {"slug": "renamed-article"},
        {"content_html": "<p>新內容</p>", "summary": "新摘要"},
        {"tags": ["余姚", "蝶變"]},
        {"tags": []},
        {"status": "draft"},
    ]
    for edit in edits:
        assert patch(client, auth, article["id"], **edit)["uid"] == article["uid"], edit
    final = read(client, auth, article["id"])
    assert (final["slug"], final["title"]) == ("renamed-article", "第二版")


@pytest.mark.parametrize(
    ("edit", "moves"),
    [
        ({"title": "改過的標題"}, True),
        ({"summary": "改過的摘要"}, True),
        ({"content_html": "<p>改過的內容</p>"}, True),
        ({"tags": ["蝶變"]}, False),
        ({"tags": ["余姚", "能級"]}, False),
        ({"title": "原標題"}, False),  # the same value is no change
    ],
)
def test_updated_at_moves_only_when_reader_visible_text_changes(
    client: FlaskClient, auth: Headers, edit: Json, moves: bool
) -> None:
    article = create(
        client,
        auth,
        title="原標題",
        summary="原摘要",
        content_html="<p>原內容</p>",
        tags=["余姚"],
        status="published",
        published_at=ago(hours=1),
    )
    patched = patch(client, auth, article["id"], **edit)
    assert (when(patched["updated_at"]) > when(article["updated_at"])) is moves
    assert read(client, auth, article["id"])["updated_at"] == patched["updated_at"]


# --- 3. problem bodies ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'{"title": ', id="truncated"),
        pytest.param(b"{'title': 'x'}", id="single-quotes"),
        pytest.param(b"", id="empty"),
        pytest.param(b"[]", id="array"),
        pytest.param(b'[{"title": "x"}]', id="array-of-object"),
        pytest.param(b'"title"', id="string"),
        pytest.param(b"null", id="null"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_400(
    client: FlaskClient, auth: Headers, sessions: sessionmaker[Session], raw: bytes
) -> None:
    assert_problem(post_raw(client, auth, raw), 400)
    assert article_count(sessions) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({}, "title", id="missing-title"),
        pytest.param({"summary": "無標題"}, "title", id="missing-title-with-others"),
        pytest.param({"title": ""}, "title", id="empty-title"),
        pytest.param({"title": "\x00\x01 "}, "title", id="title-empty-after-cleaning"),
        pytest.param({"title": 5}, "title", id="title-number"),
        pytest.param({"title": "x", "tags": "x"}, "tags", id="tags-string"),
        pytest.param({"title": "x", "tags": [1]}, "tags.0", id="tags-number"),
        pytest.param({"title": "x", "sections": "x"}, "sections", id="sections-string"),
        pytest.param({"title": "x", "published_at": True}, "published_at", id="published-bool"),
        pytest.param({"title": "x", "published_at": "明天"}, "published_at", id="published-text"),
        pytest.param(
            {"title": "x", "published_at": 5},
            "published_at",
            id="published-number",
        ),
        pytest.param(
            {"title": "x", "published_at": "1700000000"},
            "published_at",
            id="published-numeric-string",
        ),
        pytest.param(
            {"title": "x", "published_at": "2022-02-18T18:02:25"},
            "published_at",
            id="naive-published-at",
        ),
        pytest.param({"title": "x", "status": "live"}, "status", id="unknown-status"),
        pytest.param({"title": "x", "status": "scheduled"}, "published_at", id="scheduled-no-time"),
        pytest.param({"title": "x", "colour": "red"}, "colour", id="unknown-field"),
        pytest.param({"title": "x", "uid": "tag:x"}, "uid", id="uid-is-not-editable"),
        pytest.param({"title": "x", "slug": "Bad Slug"}, "slug", id="slug-space-capitals"),
        pytest.param({"title": "x", "slug": "a--b"}, "slug", id="slug-double-hyphen"),
        pytest.param({"title": "x", "slug": "余姚"}, "slug", id="slug-not-ascii"),
        pytest.param({"title": "x", "link": "/relative"}, "link", id="relative-link"),
        pytest.param({"title": "x", "language": "中文"}, "language", id="bad-language"),
        pytest.param({"title": "x", "sections": ["不存在"]}, "sections", id="unknown-section"),
    ],
)
def test_invalid_article_fields_are_422_naming_the_field(
    client: FlaskClient, auth: Headers, sessions: sessionmaker[Session], body: Json, field: str
) -> None:
    problem = assert_problem(client.post("/api/articles", headers=auth, json=body), 422, field)
    assert problem["detail"]
    assert article_count(sessions) == 0


def test_invalid_patch_fields_are_422_too(client: FlaskClient, auth: Headers) -> None:
    article = create(client, auth, title="可修改")
    url = f"/api/articles/{article['id']}"
    cases = [
        ({"title": None}, "title"),
        ({"tags": "x"}, "tags"),
        ({"colour": "red"}, "colour"),
        ({"published_at": "2022-02-18T18:02:25"}, "published_at"),
        ({"status": "scheduled"}, "published_at"),
        ({"slug": "Bad Slug"}, "slug"),
    ]
    for body, field in cases:
        assert_problem(client.patch(url, headers=auth, json=body), 422, field)
    assert read(client, auth, article["id"]) == article


def test_a_taken_slug_is_409(client: FlaskClient, auth: Headers) -> None:
    first = create(client, auth, title="甲", slug="taken")
    assert_problem(
        client.post("/api/articles", headers=auth, json={"title": "乙", "slug": "taken"}), 409
    )
    second = create(client, auth, title="乙")
    url = f"/api/articles/{second['id']}"
    assert_problem(client.patch(url, headers=auth, json={"slug": "taken"}), 409)
    # Re-sending an article's own slug is no conflict.
    assert patch(client, auth, first["id"], slug="taken")["slug"] == "taken"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/articles/999", None),
        ("PATCH", "/api/articles/999", {"title": "x"}),
        ("DELETE", "/api/articles/999", None),
        ("GET", "/api/articles/999/feeds", None),
        ("POST", "/api/articles/999/tags", {"tags": ["余姚"]}),
        ("DELETE", "/api/articles/999/tags/yuyao", None),
        ("GET", "/api/tags/nope", None),
        ("PATCH", "/api/tags/nope", {"name": "x"}),
        ("DELETE", "/api/tags/nope", None),
        ("GET", "/api/sections/nope", None),
        ("DELETE", "/api/sections/nope", None),
        ("GET", "/api/articles?tag=nope", None),
    ],
)
def test_missing_things_are_404_problems(
    client: FlaskClient, admin_auth: Headers, method: str, path: str, body: Json | None
) -> None:
    assert_problem(client.open(path, method=method, headers=admin_auth, json=body), 404)


class TestRequestSizeLimit:
    LIMIT = 2048

    @pytest.fixture
    def small_client(self, settings: Settings, engine: Engine) -> FlaskClient:
        small = Settings.load(
            environ={},
            overrides={
                "database_url": settings.database_url,
                "base_url": settings.base_url,
                "max_request_bytes": self.LIMIT,
            },
        )
        app: Flask = create_app(small, engine)
        app.config["TESTING"] = True
        return app.test_client()

    @staticmethod
    def body_of(size: int) -> bytes:
        skeleton = b'{"title": "t", "content_html": ""}'
        return skeleton.replace(b'""', b'"' + b"x" * (size - len(skeleton)) + b'"')

    def test_a_body_over_the_limit_is_413_and_saves_nothing(
        self, small_client: FlaskClient, auth: Headers, sessions: sessionmaker[Session]
    ) -> None:
        raw = self.body_of(self.LIMIT + 1)
        assert len(raw) == self.LIMIT + 1
        assert_problem(post_raw(small_client, auth, raw), 413)
        assert article_count(sessions) == 0

    def test_a_body_at_the_limit_is_accepted(
        self, small_client: FlaskClient, auth: Headers
    ) -> None:
        raw = self.body_of(self.LIMIT)
        assert len(raw) == self.LIMIT
        assert post_raw(small_client, auth, raw).status_code == 201


# --- 4. nothing half-saved -----------------------------------------------------------------


@pytest.fixture
def published(client: FlaskClient, auth: Headers) -> Json:
    """A published article in a tag feed, so FeedState rows exist before the failing write."""
    return create(
        client, auth, title="已發布", tags=["余姚"], status="published", published_at=ago(hours=2)
    )


def test_a_failed_post_leaves_no_article_no_tag_and_no_mark(
    client: FlaskClient, auth: Headers, sessions: sessionmaker[Session], published: Json
) -> None:
    states, tags, count = feed_states(sessions), tag_names(sessions), article_count(sessions)
    assert states  # the published fixture marked feeds

    body = {
        "title": "失敗",
        "status": "published",
        "tags": ["全新標籤甲", "全新標籤乙", "余姚"],
        "sections": ["不存在的欄目"],
    }
    assert_problem(client.post("/api/articles", headers=auth, json=body), 422, "sections")

    assert article_count(sessions) == count
    assert tag_names(sessions) == tags == {"余姚"}
    listed = client.get("/api/tags", headers=auth).get_json()["items"]
    assert [t["name"] for t in listed] == ["余姚"]
    assert feed_states(sessions) == states


@pytest.mark.parametrize(
    ("edit", "status"),
    [
        ({"title": "新標題", "tags": ["全新標籤"], "sections": ["不存在的欄目"]}, 422),
        ({"title": "新標題", "tags": ["全新標籤"], "slug": "Bad Slug"}, 422),
        ({"title": "新標題", "status": "draft", "slug": "taken-slug"}, 409),
    ],
)
def test_a_failed_patch_changes_nothing(
    client: FlaskClient,
    auth: Headers,
    sessions: sessionmaker[Session],
    published: Json,
    edit: Json,
    status: int,
) -> None:
    create(client, auth, title="佔用", slug="taken-slug")
    before = read(client, auth, published["id"])
    states, tags = feed_states(sessions), tag_names(sessions)

    response = client.patch(f"/api/articles/{published['id']}", headers=auth, json=edit)
    assert_problem(response, status)

    assert read(client, auth, published["id"]) == before
    assert tag_names(sessions) == tags
    assert feed_states(sessions) == states


def test_a_failed_tag_add_changes_nothing(
    client: FlaskClient, auth: Headers, sessions: sessionmaker[Session], published: Json
) -> None:
    states, tags = feed_states(sessions), tag_names(sessions)
    url = f"/api/articles/{published['id']}/tags"
    assert_problem(client.post(url, headers=auth, json={"tags": ["新", "\x00"]}), 422, "tags")
    assert_problem(client.post(url, headers=auth, json={"tags": []}), 422, "tags")
    assert read(client, auth, published["id"])["tags"] == published["tags"]
    assert (tag_names(sessions), feed_states(sessions)) == (tags, states)


# --- 5. boundary hygiene -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw_title", "expected"),
    [
        pytest.param("A\x00B", "AB", id="nul"),
        pytest.param("A\x01\x1fB", "AB", id="c0-controls"),
        pytest.param("A\x0bB", "A B", id="vertical-tab-is-a-word-break"),
        pytest.param("A\ufffeB\uffffC", "ABC", id="non-characters"),
        pytest.param("caf" + "e\u0301", "café", id="nfc"),
        pytest.param("  余姚   新聞 \t", "余姚 新聞", id="ascii-whitespace"),
        pytest.param("余姚\u3000新聞", "余姚\u3000新聞", id="ideographic-space-kept"),
    ],
)
def test_titles_are_cleaned_at_the_boundary(
    client: FlaskClient, auth: Headers, raw_title: str, expected: str
) -> None:
    article = create(client, auth, title=raw_title, status="published")
    assert article["title"] == expected
    assert read(client, auth, article["id"])["title"] == expected
    # What was stored renders into well-formed XML with the same title.
    parsed = feedparser.parse(client.get("/api/preview/feeds/all.atom", headers=auth).data)
    assert not parsed.bozo
    assert [e.title for e in parsed.entries] == [expected]


def test_a_lone_surrogate_escape_is_removed_from_the_title(
    client: FlaskClient, auth: Headers
) -> None:
    response = post_raw(client, auth, b'{"title": "A\\ud800B", "summary": "C\\udfffD"}')
    assert response.status_code == 201, response.get_data(as_text=True)
    assert (response.get_json()["title"], response.get_json()["summary"]) == ("AB", "CD")


def test_a_lone_surrogate_escape_does_not_crash_the_service(
    client: FlaskClient, auth: Headers, sessions: sessionmaker[Session]
) -> None:
    # Whatever the fate of the character, the answer is a client error, never a 500.
    for raw in (b'{"title": "A\\ud800B"}', b'{"title": "x", "\\ud800": 1}'):
        response = post_raw(client, auth, raw)
        assert response.status_code in (201, 422), response.get_data(as_text=True)
        response.get_data().decode("utf-8")  # the body itself is valid UTF-8


def test_content_html_is_sanitised(client: FlaskClient, auth: Headers) -> None:
    html = (
        '<p onclick="steal()">余姚<script>alert(1)</script>新聞</p>'
        '<style>p{}</style><a href="javascript:alert(1)">鏈接</a>'
        '<iframe src="https://evil.example"></iframe><p>e\u0301\x00</p>'
    )
    stored = create(client, auth, title="淨化", content_html=html)["content_html"]
    assert "<p>" in stored
    assert "余姚" in stored
    assert "新聞" in stored
    for bad in ("<script", "alert(1)", "onclick", "steal", "<style", "javascript:", "<iframe"):
        assert bad not in stored, bad
    assert "<p>é</p>" in stored


def test_summary_keeps_paragraphs_but_not_controls(client: FlaskClient, auth: Headers) -> None:
    article = create(client, auth, title="摘要", summary="第一段\x00\r\n\r\n\r\n\r\n\u3000第二段")
    assert article["summary"] == "第一段\n\n\u3000第二段"


# --- 6. tags -------------------------------------------------------------------------------


def test_tags_are_added_to_and_removed_from_an_article(client: FlaskClient, auth: Headers) -> None:
    article = create(client, auth, title="標籤", tags=["蝶變"])
    url = f"/api/articles/{article['id']}/tags"

    added = client.post(url, headers=auth, json={"tags": ["余姚", "蝶變"]})
    assert added.status_code == 200
    assert {(t["name"], t["slug"]) for t in added.get_json()["tags"]} == {
        ("余姚", "yuyao"),
        ("蝶變", "diebian"),
    }

    removed = client.delete(f"{url}/yuyao", headers=auth)
    assert removed.status_code == 200
    assert [t["slug"] for t in removed.get_json()["tags"]] == ["diebian"]
    assert [t["slug"] for t in read(client, auth, article["id"])["tags"]] == ["diebian"]

    assert_problem(client.delete(f"{url}/yuyao", headers=auth), 404)
    assert [t["slug"] for t in read(client, auth, article["id"])["tags"]] == ["diebian"]


def test_tag_crud(client: FlaskClient, admin_auth: Headers) -> None:
    response = client.post("/api/tags", headers=admin_auth, json={"name": "余姚"})
    assert response.status_code == 201
    tag = response.get_json()
    assert (tag["name"], tag["slug"]) == ("余姚", "yuyao")
    assert tag["feed"]["atom"].endswith("/feeds/tags/yuyao.atom")
    assert client.get(response.headers["Location"], headers=admin_auth).get_json() == tag

    assert_problem(client.post("/api/tags", headers=admin_auth, json={"name": "余姚"}), 409)
    assert_problem(
        client.post("/api/tags", headers=admin_auth, json={"name": "餘杭", "slug": "yuyao"}), 409
    )
    assert_problem(client.post("/api/tags", headers=admin_auth, json={"name": ""}), 422, "name")
    assert_problem(
        client.post("/api/tags", headers=admin_auth, json={"name": "x", "slug": "A B"}), 422, "slug"
    )

    renamed = client.patch("/api/tags/yuyao", headers=admin_auth, json={"name": "餘姚"})
    assert renamed.status_code == 200
    assert (renamed.get_json()["name"], renamed.get_json()["slug"]) == ("餘姚", "yuyao")
    assert client.get("/api/tags/餘姚", headers=admin_auth).get_json()["slug"] == "yuyao"

    create(client, admin_auth, title="其他", tags=["其他"])
    assert_problem(client.patch("/api/tags/yuyao", headers=admin_auth, json={"name": "其他"}), 409)

    assert client.delete("/api/tags/yuyao", headers=admin_auth).status_code == 204
    assert_problem(client.get("/api/tags/yuyao", headers=admin_auth), 404)
    names = [t["name"] for t in client.get("/api/tags", headers=admin_auth).get_json()["items"]]
    assert names == ["其他"]


def test_a_renamed_tag_shows_its_new_name_on_articles(
    client: FlaskClient, admin_auth: Headers
) -> None:
    article = create(client, admin_auth, title="改名", tags=["余姚"])
    client.patch("/api/tags/yuyao", headers=admin_auth, json={"name": "餘姚", "slug": "yu-yao"})
    assert read(client, admin_auth, article["id"])["tags"] == [{"name": "餘姚", "slug": "yu-yao"}]


def test_deleting_a_tag_removes_it_from_its_articles(
    client: FlaskClient, admin_auth: Headers
) -> None:
    article = create(client, admin_auth, title="刪標籤", tags=["余姚", "蝶變"])
    assert client.delete("/api/tags/余姚", headers=admin_auth).status_code == 204
    assert [t["slug"] for t in read(client, admin_auth, article["id"])["tags"]] == ["diebian"]


# --- 7. sections with rules ----------------------------------------------------------------


@pytest.fixture
def scenic(client: FlaskClient, admin_auth: Headers) -> Json:
    response = client.post(
        "/api/sections", headers=admin_auth, json={"name": "景點", "rule_any_tags": ["景區"]}
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    section: Json = response.get_json()
    assert section["rule_any_tags"] == ["景區"]
    return section


def test_a_section_rule_routes_a_tagged_article(
    client: FlaskClient, auth: Headers, scenic: Json
) -> None:
    article = create(
        client, auth, title="河南景區免門票", tags=["景區", "河南"], status="published"
    )
    assert article["sections"] == []  # routed by the rule, not placed
    section_key = f"/feeds/sections/{scenic['slug']}"
    expected = {SITE, section_key, "/feeds/tags/jingqu", "/feeds/tags/henan"}
    assert feed_paths(client, auth, article["id"]) == expected
    # The SQL that selects feed items agrees with the routing the API reports.
    for key in expected:
        assert preview_ids(client, auth, f"{key}.atom") == [article["uid"]], key


def test_an_article_without_the_rule_tag_stays_out_of_the_section(
    client: FlaskClient, auth: Headers, scenic: Json
) -> None:
    article = create(client, auth, title="交通", tags=["交通"], status="published")
    assert feed_paths(client, auth, article["id"]) == {SITE, "/feeds/tags/jiaotong"}
    assert preview_ids(client, auth, f"/feeds/sections/{scenic['slug']}.rss") == []


def test_placing_an_article_in_a_section_routes_it(
    client: FlaskClient, auth: Headers, scenic: Json
) -> None:
    article = create(client, auth, title="放入", sections=["景點"], status="published")
    assert article["sections"] == [{"name": "景點", "slug": scenic["slug"]}]
    assert f"/feeds/sections/{scenic['slug']}" in feed_paths(client, auth, article["id"])


@pytest.mark.parametrize("status", ["draft", "retracted"])
def test_an_unpublished_article_is_in_no_feed(
    client: FlaskClient, auth: Headers, scenic: Json, status: str
) -> None:
    article = create(client, auth, title="未發布", tags=["景區"], sections=["景點"], status=status)
    assert feed_paths(client, auth, article["id"]) == set()
    for key in (SITE, f"/feeds/sections/{scenic['slug']}", "/feeds/tags/jingqu"):
        assert preview_ids(client, auth, f"{key}.atom") == [], key


def test_unpublishing_takes_an_article_out_of_its_feeds(
    client: FlaskClient, auth: Headers, scenic: Json
) -> None:
    article = create(client, auth, title="撤回", tags=["景區"], status="published")
    patch(client, auth, article["id"], status="retracted")
    assert feed_paths(client, auth, article["id"]) == set()
    assert preview_ids(client, auth, f"{SITE}.rss") == []


# --- 8. routing marks ----------------------------------------------------------------------


def test_retagging_marks_the_old_and_new_tag_feeds_and_no_other(
    client: FlaskClient,
    auth: Headers,
    sessions: sessionmaker[Session],
    renderer: Renderer,
    clock: Clock,
) -> None:
    bystander = create(client, auth, title="旁觀者", tags=["能級"], status="published")
    article = create(client, auth, title="改標籤", tags=["余姚"], status="published")
    old, new, other = "/feeds/tags/yuyao", "/feeds/tags/diebian", "/feeds/tags/nengji"
    renderer.tick()
    assert dirty_keys(sessions) == set()
    other_before = etag_of(sessions, other)
    old_before = etag_of(sessions, old)
    site_before = etag_of(sessions, SITE)

    patch(client, auth, article["id"], tags=["蝶變"])

    assert dirty_keys(sessions) == {old, new, SITE}  # both sides of the move, nothing else
    clock.advance(minutes=5)  # so a re-render would show in rendered_at
    report = renderer.tick()
    assert report is not None
    assert FeedKey.tag("nengji") not in report.rendered + report.unchanged
    assert dirty_keys(sessions) == set()
    assert etag_of(sessions, other) == other_before
    assert etag_of(sessions, old)[0] != old_before[0]
    assert etag_of(sessions, SITE)[0] != site_before[0]
    assert entry_ids(client.get(f"{old}.atom").data) == []
    assert entry_ids(client.get(f"{new}.atom").data) == [article["uid"]]
    assert entry_ids(client.get(f"{other}.atom").data) == [bystander["uid"]]


def test_an_edit_no_reader_sees_marks_nothing(
    client: FlaskClient, auth: Headers, sessions: sessionmaker[Session], renderer: Renderer
) -> None:
    article = create(client, auth, title="不變", tags=["余姚"], status="published")
    renderer.tick()
    states = feed_states(sessions)
    patch(client, auth, article["id"], title="不變", tags=["余姚"], original_source="內部")
    assert feed_states(sessions) == states


def test_a_tag_created_by_a_draft_gets_its_feed_rendered(
    client: FlaskClient, auth: Headers, renderer: Renderer
) -> None:
    create(client, auth, title="草稿", tags=["余姚"])
    renderer.tick()
    response = client.get("/feeds/tags/yuyao.atom")
    assert response.status_code == 200
    assert entry_ids(response.data) == []


def test_a_tag_created_through_the_tag_api_gets_its_feed_rendered(
    client: FlaskClient, auth: Headers, renderer: Renderer
) -> None:
    assert client.post("/api/tags", headers=auth, json={"name": "余姚"}).status_code == 201
    renderer.tick()
    response = client.get("/feeds/tags/yuyao.atom")
    assert response.status_code == 200
    assert entry_ids(response.data) == []


def test_deleting_a_published_article_marks_its_feeds(
    client: FlaskClient, auth: Headers, sessions: sessionmaker[Session], renderer: Renderer
) -> None:
    article = create(client, auth, title="將刪除", tags=["余姚"], status="published")
    renderer.tick()
    assert client.delete(f"/api/articles/{article['id']}", headers=auth).status_code == 204
    assert {SITE, "/feeds/tags/yuyao"} <= dirty_keys(sessions)
    renderer.tick()
    assert entry_ids(client.get(f"{SITE}.atom").data) == []


# --- 9. scheduling -------------------------------------------------------------------------


def test_a_future_article_is_scheduled_then_published_by_the_renderer(
    client: FlaskClient, auth: Headers, clock: Clock, renderer: Renderer
) -> None:
    # Later than both the real clock (API writes) and the fake one (renderer).
    due = max(datetime.now(UTC), clock.now) + timedelta(days=1)
    article = create(
        client,
        auth,
        title="定時發布",
        tags=["余姚"],
        status="published",
        published_at=due.isoformat(),
    )
    assert article["status"] == "scheduled"
    assert when(article["published_at"]) == due
    assert feed_paths(client, auth, article["id"]) == set()
    assert preview_ids(client, auth, f"{SITE}.atom") == []

    renderer.sweep()  # stores every existing feed, empty so far
    renderer.tick()  # not due yet on the renderer's clock
    assert read(client, auth, article["id"])["status"] == "scheduled"
    assert entry_ids(client.get(f"{SITE}.atom").data) == []

    clock.advance(seconds=(due - clock.now).total_seconds() + 86400)
    renderer.tick()

    stored = read(client, auth, article["id"])
    assert stored["status"] == "published"
    assert when(stored["published_at"]) == due
    response = client.get(f"{SITE}.atom")
    assert response.status_code == 200
    assert entry_ids(response.data) == [article["uid"]]
    assert entry_ids(client.get("/feeds/tags/yuyao.atom").data) == [article["uid"]]


def test_scheduled_with_a_past_time_is_published_at_once(
    client: FlaskClient, auth: Headers
) -> None:
    article = create(client, auth, title="過去", status="scheduled", published_at=ago(minutes=5))
    assert article["status"] == "published"
    assert feed_paths(client, auth, article["id"]) == {SITE}


def test_moving_a_published_article_into_the_future_unpublishes_it(
    client: FlaskClient, auth: Headers
) -> None:
    article = create(client, auth, title="延後", status="published")
    later = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    assert patch(client, auth, article["id"], published_at=later)["status"] == "scheduled"
    assert feed_paths(client, auth, article["id"]) == set()


# --- 10. preview ---------------------------------------------------------------------------


def test_preview_renders_unrendered_changes(client: FlaskClient, auth: Headers) -> None:
    article = create(client, auth, title="預覽", status="published", summary="還沒渲染")
    assert client.get(f"{SITE}.rss").status_code == 503  # the scheduler has not run

    response = client.get(f"/api/preview{SITE}.rss", headers=auth)
    assert response.status_code == 200
    assert response.mimetype == "application/rss+xml"
    assert response.headers["Cache-Control"] == "no-store"
    parsed = feedparser.parse(response.data)
    assert not parsed.bozo
    assert [(e.id, e.title) for e in parsed.entries] == [(article["uid"], "預覽")]


@pytest.mark.parametrize("fmt", ["atom", "json"])
def test_preview_serves_every_format(client: FlaskClient, auth: Headers, fmt: str) -> None:
    article = create(client, auth, title="格式", status="published")
    response = client.get(f"/api/preview{SITE}.{fmt}", headers=auth)
    assert response.status_code == 200
    if fmt == "json":
        assert [i["id"] for i in response.get_json(force=True)["items"]] == [article["uid"]]
    else:
        assert entry_ids(response.data) == [article["uid"]]


@pytest.mark.parametrize(
    "path",
    [
        "/api/preview/feeds/tags/nope.rss",
        "/api/preview/feeds/sections/nope.atom",
        "/api/preview/feeds/all.xml",
        "/api/preview/feeds/all",
        "/api/preview/feeds/everything.rss",
        "/api/preview/bogus.rss",
    ],
)
def test_preview_of_an_unknown_feed_or_format_is_404(
    client: FlaskClient, auth: Headers, path: str
) -> None:
    assert_problem(client.get(path, headers=auth), 404)


# --- 11. listing ---------------------------------------------------------------------------


def test_listing_filters_by_tag_and_status_newest_first(client: FlaskClient, auth: Headers) -> None:
    # Created out of chronological order, so id order and time order differ.
    middle = create(
        client, auth, title="中", tags=["余姚"], status="published", published_at=ago(hours=2)
    )
    newest = create(
        client, auth, title="新", tags=["余姚"], status="published", published_at=ago(hours=1)
    )
    oldest = create(
        client, auth, title="舊", tags=["余姚"], status="published", published_at=ago(hours=3)
    )
    create(client, auth, title="草稿", tags=["余姚"])
    create(
        client,
        auth,
        title="別的標籤",
        tags=["蝶變"],
        status="published",
        published_at=ago(minutes=1),
    )

    response = client.get("/api/articles?tag=yuyao&status=published", headers=auth)
    assert response.status_code == 200
    ids = [a["id"] for a in response.get_json()["items"]]
    assert ids == [newest["id"], middle["id"], oldest["id"]]

    by_name = client.get("/api/articles?tag=余姚&status=draft", headers=auth).get_json()["items"]
    assert [a["title"] for a in by_name] == ["草稿"]
    everything = client.get("/api/articles", headers=auth).get_json()["items"]
    assert len(everything) == 5


def test_listing_pages_with_limit_and_offset(client: FlaskClient, auth: Headers) -> None:
    made = [
        create(client, auth, title=f"第{i}篇", status="published", published_at=ago(hours=i))
        for i in range(1, 6)
    ]
    page = client.get("/api/articles?limit=2&offset=1", headers=auth).get_json()
    assert [a["id"] for a in page["items"]] == [made[1]["id"], made[2]["id"]]


@pytest.fixture
def many_articles(sessions: sessionmaker[Session], settings: Settings) -> int:
    """More articles than one page may hold, written in one transaction for speed."""
    count = 205
    now = datetime.now(UTC)
    with db.transaction(sessions) as session:
        for i in range(count):
            publishing.create_article(session, {"title": f"批量{i}"}, now, settings)
    return count


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", 50),
        ("?limit=10", 10),
        ("?limit=200", 200),
        ("?limit=201", 200),
        ("?limit=100000", 200),
        ("?limit=abc", 50),
        pytest.param(
            "?limit=-1",
            None,
        ),
    ],
)
def test_listing_limit_is_capped_at_200(
    client: FlaskClient, auth: Headers, many_articles: int, query: str, expected: int | None
) -> None:
    assert many_articles > 200
    items = client.get(f"/api/articles{query}", headers=auth).get_json()["items"]
    assert 1 <= len(items) <= 200
    if expected is not None:
        assert len(items) == expected
