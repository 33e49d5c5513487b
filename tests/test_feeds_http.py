"""Serving stored feeds: content types, validators, 304s, gzip, redirects and errors."""

from __future__ import annotations

import gzip

import feedparser
import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.http import http_date

from feedsvc import db, taxonomy
from feedsvc.config import Settings
from tests.conftest import Clock

pytestmark = pytest.mark.usefixtures("demo_loaded")

CONTENT_TYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}
FEEDS = ["/feeds/all", "/feeds/tags/yuyao", "/feeds/sections/lehuo-hot"]


@pytest.mark.parametrize("path", FEEDS)
@pytest.mark.parametrize("fmt", sorted(CONTENT_TYPES))
def test_every_feed_is_served_with_its_type_and_validators(
    client: FlaskClient, settings: Settings, path: str, fmt: str
) -> None:
    response = client.get(f"{path}.{fmt}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == CONTENT_TYPES[fmt]
    etag = response.headers["ETag"]
    assert etag.startswith('"')
    assert etag.endswith('"')
    assert response.headers["Last-Modified"]
    assert response.headers["Cache-Control"] == (
        f"public, max-age={settings.feed_max_age_seconds}, stale-if-error=86400"
    )
    assert response.headers["Vary"] == "Accept-Encoding"
    if fmt != "json":
        parsed = feedparser.parse(response.data)
        assert parsed.bozo == 0
        assert parsed.entries


def test_sections_feed_lists_the_tourism_items_newest_first(client: FlaskClient) -> None:
    parsed = feedparser.parse(client.get("/feeds/sections/lehuo-hot.rss").data)
    times = [e.published_parsed for e in parsed.entries]
    assert len(parsed.entries) == 10
    assert times == sorted(times, reverse=True)
    assert parsed.entries[0].title == "河南博物院新院預算金額6500萬 預計采購時間為3月"


@pytest.mark.parametrize(
    "if_none_match",
    [
        "{etag}",
        "W/{etag}",  # a proxy may weaken it: If-None-Match compares weakly
        '"other", {etag}',
        "*",
    ],
)
def test_if_none_match_answers_304_without_a_body(client: FlaskClient, if_none_match: str) -> None:
    first = client.get("/feeds/all.rss")
    etag = first.headers["ETag"]
    again = client.get("/feeds/all.rss", headers={"If-None-Match": if_none_match.format(etag=etag)})
    assert again.status_code == 304
    assert again.data == b""
    # RFC 9110 15.4.5: a 304 carries the ETag, Vary and Cache-Control a 200 would
    for header in ("ETag", "Vary", "Cache-Control"):
        assert again.headers[header] == first.headers[header]


def test_a_stale_etag_gets_the_new_bytes(client: FlaskClient) -> None:
    response = client.get("/feeds/all.rss", headers={"If-None-Match": '"stale"'})
    assert response.status_code == 200
    assert response.data


def test_if_modified_since(client: FlaskClient) -> None:
    first = client.get("/feeds/all.atom")
    last_modified = first.headers["Last-Modified"]
    same = client.get("/feeds/all.atom", headers={"If-Modified-Since": last_modified})
    assert same.status_code == 304
    older = http_date(first.last_modified.timestamp() - 60)  # type: ignore[union-attr]
    assert client.get("/feeds/all.atom", headers={"If-Modified-Since": older}).status_code == 200


def test_if_none_match_wins_over_if_modified_since(client: FlaskClient) -> None:
    first = client.get("/feeds/all.atom")
    headers = {"If-None-Match": '"stale"', "If-Modified-Since": first.headers["Last-Modified"]}
    assert client.get("/feeds/all.atom", headers=headers).status_code == 200


def test_gzip_when_asked(client: FlaskClient) -> None:
    plain = client.get("/feeds/all.atom")
    zipped = client.get("/feeds/all.atom", headers={"Accept-Encoding": "gzip, br"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.data) == plain.data
    assert len(zipped.data) < len(plain.data)
    # each representation has its own strong validator, and either revalidates
    assert zipped.headers["ETag"] != plain.headers["ETag"]
    for etag in (zipped.headers["ETag"], plain.headers["ETag"]):
        revalidated = client.get(
            "/feeds/all.atom", headers={"Accept-Encoding": "gzip", "If-None-Match": etag}
        )
        assert revalidated.status_code == 304
        assert revalidated.headers["ETag"] == zipped.headers["ETag"]


def test_gzip_refused_with_q0(client: FlaskClient) -> None:
    response = client.get("/feeds/all.atom", headers={"Accept-Encoding": "gzip;q=0"})
    assert "Content-Encoding" not in response.headers


def test_head_has_headers_and_no_body(client: FlaskClient) -> None:
    get = client.get("/feeds/all.rss")
    head = client.head("/feeds/all.rss")
    assert head.status_code == 200
    assert head.data == b""
    assert head.headers["ETag"] == get.headers["ETag"]
    assert head.headers["Content-Length"] == str(len(get.data))


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("/feeds/tags/%E4%BD%99%E5%A7%9A.atom", "/feeds/tags/yuyao.atom"),
        ("/feeds/tags/%e4%bd%99%e5%a7%9a.atom", "/feeds/tags/yuyao.atom"),
        ("/feeds/tags/余姚.rss", "/feeds/tags/yuyao.rss"),
        ("/feeds/sections/%E6%A8%82%E6%B4%BBHOT.json", "/feeds/sections/lehuo-hot.json"),
    ],
)
def test_chinese_name_redirects_to_the_canonical_url(
    client: FlaskClient, path: str, target: str
) -> None:
    response = client.get(path)
    assert response.status_code == 301
    assert response.headers["Location"].endswith(target)
    assert client.get(target).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/feeds/tags/no-such-tag.rss",
        "/feeds/tags/yuyao.xml",
        "/feeds/all.html",
        "/feeds/authors/someone.rss",
        "/feeds/tags/.rss",
        "/feeds/tags/../all.rss",
    ],
)
def test_unknown_feeds_are_404_problems(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.get_json()["status"] == 404


def test_a_feed_not_yet_rendered_says_when_to_come_back(
    client: FlaskClient, sessions: sessionmaker[Session], clock: Clock, settings: Settings
) -> None:
    with db.transaction(sessions) as session:
        taxonomy.create_tag(session, "新標籤", None, clock())
    response = client.get("/feeds/tags/xinbiaoqian.rss")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(settings.render_interval_seconds)
    assert response.headers["Content-Type"] == "application/problem+json"


def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
