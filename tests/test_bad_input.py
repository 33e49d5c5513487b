"""The catalogue of bad input (issue 5, item 5): each entry, and the test that covers it.

Every 4xx below is an RFC 9457 problem (`application/problem+json`, its `status` equal to
the response's) and leaves the database as it was: each test compares row counts.

Each entry, then the tests covering it (`api::` is tests/test_api.py, `ingest::` is
tests/test_ingest.py, unprefixed names are in this file):

- malformed JSON, 400:
  api::test_a_body_that_is_not_a_json_object_is_400
- wrong types and missing fields, 422 naming the field:
  api::test_invalid_article_fields_are_422_naming_the_field,
  api::test_invalid_patch_fields_are_422_too,
  api::test_a_failed_post_leaves_no_article_no_tag_and_no_mark
- unknown fields, 422 naming the field (pydantic `extra="forbid"`): for articles the
  `unknown-field` and `uid-is-not-editable` cases in api::; every other request body:
  test_unknown_fields_are_422_naming_the_field
- oversized bodies, 413: api::TestRequestSizeLimit; tags, sections and the desk form:
  tests/test_limits.py
- any Unicode in any text field (Hypothesis):
  test_any_unicode_in_any_text_field_is_refused_or_renders_valid_feeds
- HTML with scripts and event handlers, sanitised: api::test_content_html_is_sanitised;
  markup in plain-text fields: test_markup_in_plain_text_fields_is_escaped_in_every_feed
- path traversal and over-long slugs: test_traversal_and_over_long_feed_paths_are_404_problems,
  test_traversal_and_over_long_api_refs_are_404_problems,
  test_over_long_slugs_and_names_in_bodies_are_422
- SQL metacharacters in filters: test_sql_metacharacters_in_list_filters_are_plain_text,
  test_a_tag_named_like_sql_filters_only_its_own_articles
- invalid dates and naive datetimes: test_invalid_and_naive_datetimes_are_422, and the zone
  policy below
- XML with entity expansion: ingest::test_entity_tricks_are_refused,
  ingest::test_the_import_command_refuses_bad_input_and_stores_nothing; more tricks, and
  proof that nothing is fetched: test_xml_tricks_are_refused_and_nothing_is_fetched

Zone policy: the API takes only RFC 3339 date-times with an offset (a naive time is a 422
naming the field: guessing a zone would silently shift news by hours). The desk's
`datetime-local` inputs carry no zone, so the desk reads them in the portal's zone
(`FEEDSVC_TIMEZONE`) and says so beside the field (tests/desk/test_articles.py). Imported
RSS dates with "-0000" are read as UTC (tests/test_ingest.py).
"""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path
from typing import Any

import feedparser
import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from feedsvc.ingest import IngestError, read_document
from feedsvc.jobs import Renderer
from feedsvc.models import Article, FeedState, IdempotencyKey, Section, Tag
from tests.test_ingest import article_total, run_import

PROBLEM = "application/problem+json"
Headers = dict[str, str]
TABLES = (Article, Tag, Section, FeedState, IdempotencyKey)


def counts(sessions: sessionmaker[Session]) -> tuple[int, ...]:
    with sessions() as session:
        return tuple(
            session.scalar(select(func.count()).select_from(model)) or 0 for model in TABLES
        )


def assert_problem(response: TestResponse, status: int, field: str | None = None) -> Any:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["status"] == status
    assert body["title"]
    if field is not None:
        named = [e["field"] for e in body["errors"]]
        assert any(f == field or f.startswith(f"{field}.") for f in named), body
    return body


@pytest.fixture
def seeded(client: FlaskClient, auth: Headers, admin_auth: Headers) -> None:
    """One tag, one section and one published article, so filters have something to find."""
    made = client.post("/api/sections", headers=admin_auth, json={"name": "資訊播報"})
    assert made.status_code == 201
    article = {"title": "種子", "tags": ["余姚"], "sections": ["資訊播報"], "status": "published"}
    assert client.post("/api/articles", headers=auth, json=article).status_code == 201


# --- unknown fields ---------------------------------------------------------------------

UNKNOWN_FIELD_CASES = [
    ("POST", "/api/tags", {"name": "新標籤", "colour": "red"}),
    ("PATCH", "/api/tags/yuyao", {"name": "餘姚", "colour": "red"}),
    ("POST", "/api/sections", {"name": "新欄目", "colour": "red"}),
    ("PATCH", "/api/sections/zixunbobao", {"description": "x", "colour": "red"}),
    ("POST", "/api/articles/1/tags", {"tags": ["甲"], "colour": "red"}),
    ("PATCH", "/api/articles/1", {"title": "新", "colour": "red"}),
    ("POST", "/api/articles?clean=source", {"title": "新", "colour": "red"}),
]


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize(("method", "path", "body"), UNKNOWN_FIELD_CASES)
def test_unknown_fields_are_422_naming_the_field(
    client: FlaskClient,
    admin_auth: Headers,
    sessions: sessionmaker[Session],
    method: str,
    path: str,
    body: dict[str, Any],
) -> None:
    before = counts(sessions)
    article = client.get("/api/articles/1", headers=admin_auth).get_json()
    assert_problem(client.open(path, method=method, headers=admin_auth, json=body), 422, "colour")
    assert counts(sessions) == before
    assert client.get("/api/articles/1", headers=admin_auth).get_json() == article


# --- any Unicode --------------------------------------------------------------------------

# Every code point, lone surrogates included (JSON can carry them escaped).
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=40)
TEXT_FIELDS = ["title", "summary", "content_html", "author", "source", "original_source", "tags"]


@pytest.mark.parametrize("field", TEXT_FIELDS)
def test_any_unicode_in_any_text_field_is_refused_or_renders_valid_feeds(
    client: FlaskClient,
    auth: Headers,
    sessions: sessionmaker[Session],
    renderer: Renderer,
    field: str,
) -> None:
    @settings(
        max_examples=25,
        derandomize=True,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(value=ANY_TEXT)
    def check(value: str) -> None:
        body: dict[str, Any] = {"title": "萬國碼", "status": "published"}
        body[field] = [value] if field == "tags" else value
        before = counts(sessions)
        # ensure_ascii: lone surrogates travel as \\udXXX escapes, as a JSON client sends them
        raw = json.dumps(body, ensure_ascii=True)
        response = client.post(
            "/api/articles", headers=auth, data=raw, content_type="application/json"
        )
        if response.status_code == 422:
            assert_problem(response, 422, field)
            assert counts(sessions) == before
            return
        assert response.status_code == 201, response.get_data(as_text=True)
        stored = response.get_json()
        renderer.tick()
        paths = ["/feeds/all"] + [f"/feeds/tags/{t['slug']}" for t in stored["tags"]]
        for path in paths:
            for fmt in ("rss", "atom"):
                got = client.get(f"{path}.{fmt}")
                assert got.status_code == 200, (path, fmt)
                parsed = feedparser.parse(got.data)
                assert not parsed.bozo, (value, parsed.get("bozo_exception"))
                assert stored["uid"] in [e.id for e in parsed.entries]
            feed = json.loads(client.get(f"{path}.json").data)
            assert stored["uid"] in [item["id"] for item in feed["items"]]

    check()


def test_markup_in_plain_text_fields_is_escaped_in_every_feed(
    client: FlaskClient, auth: Headers, renderer: Renderer
) -> None:
    attack = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    body = {"title": attack, "summary": attack, "author": attack, "status": "published"}
    assert client.post("/api/articles", headers=auth, json=body).status_code == 201
    renderer.tick()
    for fmt in ("rss", "atom"):
        document = client.get(f"/feeds/all.{fmt}").data
        assert b"<script" not in document
        assert b"<img" not in document
        parsed = feedparser.parse(document)
        assert not parsed.bozo
    feed = json.loads(client.get("/feeds/all.json").data)
    assert feed["items"][0]["title"] == attack  # JSON Feed titles are plain text, kept as typed


# --- paths ----------------------------------------------------------------------------------

LONG = "a" * 5000
FEED_PATHS = [
    "/feeds/tags/../../etc/passwd.rss",
    "/feeds/tags/..%2F..%2Fetc%2Fpasswd.rss",
    "/feeds/tags/%2e%2e%2f%2e%2e%2fetc%2fpasswd.atom",
    "/feeds/..%5c..%5cwindows%5cwin.ini",
    "/feeds/sections/....//....//etc/passwd.json",
    f"/feeds/tags/{LONG}.rss",
    f"/feeds/sections/{LONG}.atom",
    f"/feeds/tags/{LONG}/archive/1.atom",
    "/feeds/all/archive/99999999999999999999999.atom",
    "/feeds/tags/yuyao/archive/-1.atom",
    "/feeds/tags/%00.rss",
    "/feeds/all.rss%00.json",
]


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("path", FEED_PATHS)
def test_traversal_and_over_long_feed_paths_are_404_problems(
    client: FlaskClient, sessions: sessionmaker[Session], path: str
) -> None:
    before = counts(sessions)
    response = client.get(path)
    assert_problem(response, 404)
    assert b"root:" not in response.data
    assert counts(sessions) == before


API_REFS = [
    ("GET", "/api/tags/..%2F..%2Fetc%2Fpasswd"),
    ("GET", f"/api/tags/{LONG}"),
    ("PATCH", f"/api/tags/{LONG}"),
    ("DELETE", f"/api/sections/{LONG}"),
    ("GET", "/api/sections/..%2F"),
    ("GET", "/api/articles/99999999999999999999999"),
    ("DELETE", f"/api/articles/1/tags/{LONG}"),
    ("GET", f"/api/preview/feeds/tags/{LONG}.atom"),
    ("GET", "/api/preview/feeds/tags/..%2F..%2Fetc%2Fpasswd.atom"),
    ("GET", f"/api/articles?tag={LONG}"),
    ("GET", f"/api/articles?section={LONG}"),
]


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize(("method", "path"), API_REFS)
def test_traversal_and_over_long_api_refs_are_404_problems(
    client: FlaskClient,
    admin_auth: Headers,
    sessions: sessionmaker[Session],
    method: str,
    path: str,
) -> None:
    before = counts(sessions)
    body = {"name": "x"} if method == "PATCH" else None
    assert_problem(client.open(path, method=method, headers=admin_auth, json=body), 404)
    assert counts(sessions) == before


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/articles", {"title": "長", "slug": "a" * 81}, "slug"),
        ("/api/articles", {"title": "長", "slug": "../../etc/passwd"}, "slug"),
        ("/api/articles", {"title": "長", "tags": ["標" * 101]}, "tags"),
        ("/api/tags", {"name": "長", "slug": "a" * 81}, "slug"),
        ("/api/tags", {"name": "標" * 101}, "name"),
        ("/api/sections", {"name": "欄" * 101}, "name"),
        ("/api/sections", {"name": "欄", "slug": "../x"}, "slug"),
    ],
)
def test_over_long_slugs_and_names_in_bodies_are_422(
    client: FlaskClient,
    admin_auth: Headers,
    sessions: sessionmaker[Session],
    path: str,
    body: dict[str, Any],
    field: str,
) -> None:
    before = counts(sessions)
    assert_problem(client.post(path, headers=admin_auth, json=body), 422, field)
    assert counts(sessions) == before


# --- SQL metacharacters -------------------------------------------------------------------

SQL = ["' OR '1'='1", "yuyao'; DROP TABLE articles; --", '" OR 1=1 --', "%", "_", "\\", "*"]


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("value", SQL)
def test_sql_metacharacters_in_list_filters_are_plain_text(
    client: FlaskClient, auth: Headers, sessions: sessionmaker[Session], value: str
) -> None:
    before = counts(sessions)
    for name in ("tag", "section"):
        response = client.get("/api/articles", headers=auth, query_string={name: value})
        assert_problem(response, 404)
    status = client.get("/api/articles", headers=auth, query_string={"status": value})
    assert_problem(status, 422, "status")
    for name in ("limit", "offset"):
        listed = client.get("/api/articles", headers=auth, query_string={name: value})
        assert listed.status_code == 200  # not a number: the default, documented as such
    assert counts(sessions) == before
    assert [a["title"] for a in client.get("/api/articles", headers=auth).get_json()["items"]] == [
        "種子"
    ]


def test_a_tag_named_like_sql_filters_only_its_own_articles(
    client: FlaskClient, auth: Headers
) -> None:
    name = "x' OR '1'='1"
    for title, tags in (("有", [name]), ("無", ["余姚"])):
        made = client.post("/api/articles", headers=auth, json={"title": title, "tags": tags})
        assert made.status_code == 201
    listed = client.get("/api/articles", headers=auth, query_string={"tag": name})
    assert listed.status_code == 200
    assert [a["title"] for a in listed.get_json()["items"]] == ["有"]


# --- dates ----------------------------------------------------------------------------------

BAD_TIMES = [
    "2026-02-30T10:00:00+08:00",  # no such day
    "2026-13-01T10:00:00+08:00",
    "2026-01-01T24:30:00+08:00",
    "2026-01-01T10:61:00+08:00",
    "2026-01-01T10:00:00+25:00",  # no such offset
    "2026-01-01T10:00:00",  # naive
    "2026-01-01 10:00",  # naive
    "2026-01-01",  # a date, not a time
    "0001-01-01T00:00:00Z",  # implausible: before 1970
    "9999-12-31T23:59:59Z",  # overflows in the portal's zone
    "",
    "NaN",
    "1772345600",  # a Unix time in a string
]


@pytest.mark.parametrize("value", BAD_TIMES)
def test_invalid_and_naive_datetimes_are_422(
    client: FlaskClient, auth: Headers, sessions: sessionmaker[Session], value: str
) -> None:
    created = client.post("/api/articles", headers=auth, json={"title": "有時間"})
    assert created.status_code == 201
    before = counts(sessions)
    body = {"title": "壞時間", "status": "scheduled", "published_at": value}
    assert_problem(client.post("/api/articles", headers=auth, json=body), 422, "published_at")
    url = f"/api/articles/{created.get_json()['id']}"
    assert_problem(client.patch(url, headers=auth, json={"published_at": value}), 422)
    assert counts(sessions) == before
    assert client.get(url, headers=auth).get_json() == created.get_json()


# --- XML imports ------------------------------------------------------------------------


class Listener:
    """A loopback socket that counts connections: proof that nothing was fetched."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.05)
        self.port: int = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.sock.close()


def xml_tricks(url: str) -> dict[str, bytes]:
    item = "<item><title>{}</title></item>"
    rss = '<rss version="2.0"><channel>' + item + "</channel></rss>"
    return {
        "external-dtd-entity": (
            f'<?xml version="1.0"?><!DOCTYPE rss SYSTEM "{url}/evil.dtd">' + rss.format("&x;")
        ).encode(),
        "parameter-entity": (
            f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY % p SYSTEM "{url}/p.dtd"> %p;]>'
            + rss.format("t")
        ).encode(),
        "external-general-entity": (
            f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "{url}/x.txt">]>'
            + rss.format("&x;")
        ).encode(),
        "quadratic-blowup": (
            '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "'
            + "a" * 50_000
            + '">]>'
            + rss.format("&a;" * 50_000)
        ).encode(),
        "xinclude": (
            '<rss version="2.0" xmlns:xi="http://www.w3.org/2001/XInclude"><channel>'
            f'<item><title><xi:include href="{url}/x.txt" parse="text"/></title></item>'
            "</channel></rss>"
        ).encode(),
    }


def test_xml_tricks_are_refused_and_nothing_is_fetched(
    database_url: str, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    listener = Listener()
    try:
        tricks = xml_tricks(f"http://127.0.0.1:{listener.port}")
        for name, document in tricks.items():
            if name == "xinclude":
                # Read as an ordinary element: the include is never performed.
                read = read_document(document, "feed")
                assert "127.0.0.1" not in read.articles[0].title
                continue
            with pytest.raises(IngestError):
                read_document(document, "feed")
            path = tmp_path / f"{name}.xml"
            path.write_bytes(document)
            result = run_import(database_url, str(path))
            assert result.exit_code == 1, (name, result.output)
            assert "refused" in result.output or "XML" in result.output, result.output
            assert article_total(sessions) == 0
    finally:
        listener.close()
    assert listener.connections == 0
