"""End to end: the real `feedsvc serve` in a subprocess, read over HTTP by a real feed parser.

One service per module, on a fresh SQLite file and a free port, renders every second. It
loads the demo content on start-up (a fresh install), so the first tests read the demo feeds;
the later ones write through the editor API and wait, bounded, for the scheduler to render.
HTTP is the standard library's http.client (it never follows redirects, never decompresses
and lets HEAD be checked on the wire); feeds are read with feedparser and json.
"""

from __future__ import annotations

import calendar
import gzip
import json
import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from email.message import Message
from email.parser import BytesHeaderParser
from email.utils import format_datetime, parsedate_to_datetime
from importlib import resources
from itertools import pairwise
from typing import Any
from urllib.parse import urljoin
from xml.etree import ElementTree

import feedparser
import pytest

from tests.support.service import (
    HOST,
    RENDER_INTERVAL,
    Reply,
    Service,
    running_service,
    service_env,
    wait_for,
)

pytestmark = pytest.mark.e2e

RENDER_TIMEOUT = 15.0

FORMATS = ("rss", "atom", "json")
CONTENT_TYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}
ATOM = "{http://www.w3.org/2005/Atom}"

LIST_SECTION = "樂活HOT"  # the demo's tourism list; its rule routes tourism tags into it
LIST_SLUG = "lehuo-hot"
LEAD_TITLE = "智能光電小鎮發展動能持續提升"
LEAD_PUBLISHED = "2022-02-18T18:02:25+08:00"
LEAD_TAGS = ("余姚", "蝶變", "能級")

# The round-trip article is published in UTC; every feed must show it in +08:00.
PUBLISHED_UTC = "2024-03-01T04:05:06Z"
PUBLISHED_LOCAL = "2024-03-01T12:05:06+08:00"
PUBLISHED_RFC822 = "Fri, 01 Mar 2024 12:05:06 +0800"


# --- the service -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    workdir = tmp_path_factory.mktemp("e2e")
    with running_service(workdir, service_env(workdir / "feedsvc.db")) as svc:
        yield svc


@pytest.fixture(scope="module")
def editor_token(service: Service) -> str:
    return service.token()


# --- helpers ---------------------------------------------------------------------------------


def parse_feed(body: bytes) -> Any:
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    return parsed


def item_ids(reply: Reply, fmt: str) -> list[str]:
    if fmt == "json":
        return [item["id"] for item in reply.json()["items"]]
    return [entry.id for entry in parse_feed(reply.body).entries]


def feed_lists(service: Service, path: str, uid: str, *, present: bool) -> Reply | None:
    """The feed's reply once it is served and holds (or no longer holds) the item `uid`."""
    reply = service.get(path)
    if reply.status != 200:
        return None
    fmt = path.rpartition(".")[2]
    return reply if (uid in item_ids(reply, fmt)) == present else None


def wait_listing(service: Service, path: str, uid: str, *, present: bool = True) -> Reply:
    """Wait, bounded, until the scheduler has rendered `path` with (or without) item `uid`."""
    state = "lists" if present else "no longer lists"
    return wait_for(
        lambda: feed_lists(service, path, uid, present=present),
        f"{path} {state} {uid}",
        RENDER_TIMEOUT,
    )


def raw_item_time(body: bytes, fmt: str, uid: str) -> str:
    """The item's published time exactly as written in the feed's bytes."""
    root = ElementTree.fromstring(body)
    if fmt == "rss":
        found = [i.findtext("pubDate") for i in root.iter("item") if i.findtext("guid") == uid]
    else:
        found = [
            e.findtext(f"{ATOM}published")
            for e in root.iter(f"{ATOM}entry")
            if e.findtext(f"{ATOM}id") == uid
        ]
    assert len(found) == 1, f"{uid} appears {len(found)} times"
    assert found[0] is not None
    return found[0]


def category_names(entry: Any) -> set[str]:
    """Tag names feedparser sees on an entry: RSS puts the name in term, Atom in label."""
    names: set[str] = set()
    for tag in entry.get("tags", []):
        names.update(v for v in (tag.get("term"), tag.get("label")) if v)
    return names


def demo_list_titles() -> list[str]:
    raw = resources.files("feedsvc").joinpath("data/demo-articles.json").read_text("utf-8")
    return [a["title"] for a in json.loads(raw)["articles"] if a["section"] == LIST_SECTION]


def post_article(service: Service, token: str, title: str, tags: list[str]) -> dict[str, Any]:
    payload = {
        "title": title,
        "summary": "端到端測試寫入的文章，由排程器渲染到訂閱源。",
        "content_html": "<p>端到端測試寫入的文章。</p>",
        "status": "published",
        "published_at": PUBLISHED_UTC,
        "tags": tags,
    }
    reply = service.api_reply(token, "POST", "/api/articles", payload)
    assert reply.status == 201, reply.body.decode()
    article = reply.json()
    assert reply.header("Location") == f"/api/articles/{article['id']}"
    assert article["status"] == "published"
    assert [t["name"] for t in article["tags"]] == tags
    return dict(article)


def raw_head(service: Service, path: str) -> tuple[int, Message, bytes]:
    """HEAD over a bare socket: status, headers and whatever bytes follow the header block."""
    with socket.create_connection((HOST, service.port), timeout=10) as sock:
        sock.sendall(
            f"HEAD {path} HTTP/1.1\r\nHost: {HOST}:{service.port}\r\n"
            "Connection: close\r\n\r\n".encode("ascii")
        )
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, rest = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, _, header_block = head.partition(b"\r\n")
    return int(status_line.split()[1]), BytesHeaderParser().parsebytes(header_block), rest


# --- 1-3: the demo content as a fresh install serves it --------------------------------------


def test_list_section_shows_the_ten_tourism_items_newest_first(
    service: Service, editor_token: str
) -> None:
    status, sections = service.api(editor_token, "GET", "/api/sections")
    assert status == 200
    slugs = [s["slug"] for s in sections["items"] if s["name"] == LIST_SECTION]
    assert slugs == [LIST_SLUG]

    feed = service.get(f"/feeds/sections/{LIST_SLUG}.rss")
    assert feed.status == 200
    parsed = parse_feed(feed.body)
    expected = demo_list_titles()
    assert len(expected) == 10
    assert [e.title for e in parsed.entries] == expected
    times = [calendar.timegm(e.published_parsed) for e in parsed.entries]
    assert all(newer > older for newer, older in pairwise(times)), times
    # No FEEDSVC_BASE_URL: the feed's self link follows the address the service listens on.
    self_links = [link.href for link in parsed.feed.links if link.rel == "self"]
    assert self_links == [f"{service.base}/feeds/sections/{LIST_SLUG}.rss"]


def test_tag_feed_of_lead_article_keeps_its_time_and_categories(service: Service) -> None:
    feed = service.get("/feeds/tags/yuyao.atom")
    assert feed.status == 200
    parsed = parse_feed(feed.body)
    leads = [e for e in parsed.entries if e.title == LEAD_TITLE]
    assert len(leads) == 1
    assert raw_item_time(feed.body, "atom", leads[0].id) == LEAD_PUBLISHED
    assert category_names(leads[0]) >= set(LEAD_TAGS)


@pytest.mark.parametrize(
    "path", ["/feeds/tags/%E4%BD%99%E5%A7%9A.atom", "/feeds/tags/%e4%bd%99%e5%a7%9a.atom"]
)
def test_tag_name_url_redirects_permanently_to_slug_url(service: Service, path: str) -> None:
    reply = service.get(path)
    assert reply.status == 301
    location = reply.header("Location")
    assert location is not None
    assert location.endswith("/feeds/tags/yuyao.atom")
    target = urljoin(service.base + path, location)
    assert service.get(target.removeprefix(service.base)).status == 200


# --- 4-5: writes through the editor API, rendered by the scheduler ---------------------------


def test_posted_article_reaches_its_tag_feeds_and_leaves_other_feeds_alone(
    service: Service, editor_token: str
) -> None:
    tag = "端到端測試"
    _, sections = service.api(editor_token, "GET", "/api/sections")
    (listing,) = [s for s in sections["items"] if s["slug"] == LIST_SLUG]
    assert tag not in listing["rule_any_tags"]  # so the list section must stay untouched
    untouched = [f"/feeds/sections/{LIST_SLUG}.{fmt}" for fmt in FORMATS]
    untouched.append("/feeds/sections/zixunbobao.atom")
    before = {path: service.get(path) for path in untouched}
    assert all(r.status == 200 for r in before.values())

    article = post_article(service, editor_token, "端到端測試：智能光電小鎮新廠房投產", [tag])
    uid, slug = article["uid"], article["tags"][0]["slug"]
    assert article["published_at"] == PUBLISHED_LOCAL

    replies = {fmt: wait_listing(service, f"/feeds/tags/{slug}.{fmt}", uid) for fmt in FORMATS}
    for fmt in ("rss", "atom"):
        entries = [e for e in parse_feed(replies[fmt].body).entries if e.id == uid]
        assert len(entries) == 1
        assert entries[0].title == article["title"]
        assert tag in category_names(entries[0])
        expected = PUBLISHED_RFC822 if fmt == "rss" else PUBLISHED_LOCAL
        assert raw_item_time(replies[fmt].body, fmt, uid) == expected
    items = [i for i in replies["json"].json()["items"] if i["id"] == uid]
    assert len(items) == 1
    assert items[0]["title"] == article["title"]
    assert items[0]["date_published"] == PUBLISHED_LOCAL
    assert tag in items[0]["tags"]

    site = wait_listing(service, "/feeds/all.atom", uid)
    assert item_ids(site, "atom").count(uid) == 1

    time.sleep(2 * RENDER_INTERVAL)  # give a wrongly dirtied feed a tick to be re-rendered
    for path, old in before.items():
        now = service.get(path)
        assert now.status == 200
        assert now.header("ETag") == old.header("ETag"), path
        assert now.body == old.body, path


def test_removing_a_tag_takes_the_article_out_of_that_tag_feed_only(
    service: Service, editor_token: str
) -> None:
    removed, kept = "端到端移除", "端到端保留"
    article = post_article(service, editor_token, "端到端測試：標籤移除", [removed, kept])
    uid = article["uid"]
    slugs = {t["name"]: t["slug"] for t in article["tags"]}
    tag_feed = f"/feeds/tags/{slugs[removed]}.json"
    wait_listing(service, tag_feed, uid)

    reply = service.api_reply(
        editor_token, "DELETE", f"/api/articles/{article['id']}/tags/{slugs[removed]}"
    )
    assert reply.status == 200, reply.body.decode()
    changed = reply.json()
    assert [t["name"] for t in changed["tags"]] == [kept]

    emptied = wait_listing(service, tag_feed, uid, present=False)
    assert emptied.json()["items"] == []  # the feed still exists, now empty
    kept_feed = service.get(f"/feeds/tags/{slugs[kept]}.json")
    assert uid in item_ids(kept_feed, "json")
    site = service.get("/feeds/all.json")
    (item,) = [i for i in site.json()["items"] if i["id"] == uid]
    assert item["tags"] == [kept]


# --- 6: HTTP semantics of the feed endpoints -------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_conditional_get_gzip_and_head(service: Service, fmt: str) -> None:
    path = f"/feeds/sections/{LIST_SLUG}.{fmt}"
    full = service.get(path)
    assert full.status == 200
    assert full.header("Content-Type") == CONTENT_TYPES[fmt]
    assert full.header("Vary") == "Accept-Encoding"
    etag, last_modified = full.header("ETag"), full.header("Last-Modified")
    assert etag is not None
    assert last_modified is not None

    by_etag = service.get(path, {"If-None-Match": etag})
    assert by_etag.status == 304
    assert by_etag.body == b""
    assert by_etag.header("ETag") == etag
    assert service.get(path, {"If-None-Match": '"something-else"'}).status == 200

    by_date = service.get(path, {"If-Modified-Since": last_modified})
    assert by_date.status == 304
    assert by_date.body == b""
    earlier = format_datetime(parsedate_to_datetime(last_modified) - timedelta(seconds=1), True)
    stale = service.get(path, {"If-Modified-Since": earlier})
    assert stale.status == 200
    assert stale.body == full.body

    zipped = service.get(path, {"Accept-Encoding": "gzip"})
    assert zipped.status == 200
    assert zipped.header("Content-Encoding") == "gzip"
    assert zipped.header("Vary") == "Accept-Encoding"
    assert zipped.header("Content-Type") == CONTENT_TYPES[fmt]
    assert gzip.decompress(zipped.body) == full.body
    zipped_etag = zipped.header("ETag")
    assert zipped_etag is not None
    assert zipped_etag != etag  # another representation, another strong validator
    again = service.get(path, {"Accept-Encoding": "gzip", "If-None-Match": zipped_etag})
    assert again.status == 304

    status, headers, trailing = raw_head(service, path)
    assert status == 200
    assert headers["Content-Type"] == CONTENT_TYPES[fmt]
    assert headers["ETag"] == etag
    assert headers["Content-Length"] == str(len(full.body))
    assert trailing == b""


@pytest.mark.parametrize(
    "path",
    [
        "/feeds/tags/no-such-tag.rss",
        "/feeds/sections/no-such-section.atom",
        "/feeds/all.xml",
        "/feeds/authors/someone.json",
    ],
)
def test_unknown_feed_is_a_problem_404(service: Service, path: str) -> None:
    reply = service.get(path)
    assert reply.status == 404
    assert reply.header("Content-Type") == "application/problem+json"
    assert reply.json()["status"] == 404
