"""RFC 5005 archives and RFC 6721 tombstones, read back the way a partner reads them."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from urllib.parse import urlsplit

import feedparser
import pytest
from lxml import etree
from sqlalchemy import Engine, delete, event, select
from sqlalchemy.orm import Session, sessionmaker

from feedsvc import db, publishing, queries, store
from feedsvc.app import create_app
from feedsvc.config import Settings
from feedsvc.jobs import Renderer
from feedsvc.models import RenderedFeed
from feedsvc.types import FeedKey, Format, parse_document_path
from tests.conftest import Clock

ATOM = "{http://www.w3.org/2005/Atom}"
FH = "{http://purl.org/syndication/history/1.0}"
AT = "{http://purl.org/atompub/tombstones/1.0}"
SITE = FeedKey.site()
VARIANTS = ("zh-hans", "zh-hant")


@pytest.fixture
def small(settings: Settings) -> Settings:
    """Tiny documents, so a handful of articles makes several archive pages."""
    return dataclasses.replace(settings, feed_items=3, archive_page_items=2)


@pytest.fixture
def paged(sessions: sessionmaker[Session], small: Settings, clock: Clock) -> Renderer:
    return Renderer(sessions, small, clock=clock, holder="test")


def publish(
    sessions: sessionmaker[Session], settings: Settings, clock: Clock, n: int, **extra: object
) -> list[int]:
    ids = []
    for _ in range(n):
        clock.advance(minutes=1)
        fields = {"title": f"第{len(ids)}篇", "status": "published", "published_at": clock()}
        with db.transaction(sessions) as session:
            article = publishing.create_article(session, {**fields, **extra}, clock(), settings)
            ids.append(article.id)
    return ids


def document(sessions: sessionmaker[Session], url: str, fmt: Format = "atom") -> bytes:
    path = urlsplit(url).path.rsplit(".", 1)[0]
    key, page = parse_document_path(path)
    with sessions() as session:
        row = store.load_rendered(session, key, fmt, page)
    assert row is not None, f"{url} is not stored"
    return row.body


def walk_atom(sessions: sessionmaker[Session], url: str) -> list[tuple[str, etree._Element]]:
    """Follow prev-archive links from a current document to the oldest page."""
    seen = []
    next_url: str | None = url
    while next_url:
        root = etree.fromstring(document(sessions, next_url))
        seen.append((next_url, root))
        prev = root.find(f"{ATOM}link[@rel='prev-archive']")
        next_url = prev.get("href") if prev is not None else None
        assert len(seen) < 100, "archive links loop"
    return seen


def entry_ids(root: etree._Element) -> list[str]:
    return [e.findtext(f"{ATOM}id") for e in root.iter(f"{ATOM}entry")]


def test_walking_the_archives_finds_every_article_exactly_once(
    sessions: sessionmaker[Session], small: Settings, clock: Clock, paged: Renderer
) -> None:
    ids = publish(sessions, small, clock, 4)
    paged.tick()
    ids += publish(sessions, small, clock, 7)  # arrive over several renders
    paged.tick()
    documents = walk_atom(sessions, f"{small.public_base}/feeds/all.atom")
    found = Counter(i for _, root in documents for i in entry_ids(root))
    with sessions() as session:
        uids = {publishing.get_article(session, i).uid for i in ids}
    assert set(found) == uids
    assert set(found.values()) == {1}
    # 11 items: 3 current, the rest in pages of 2 (four sealed, the fifth open)
    assert [len(entry_ids(root)) for _, root in documents] == [3, 2, 2, 2, 2, 2][: len(documents)]
    current, *pages = documents
    assert current[1].find(f"{FH}archive") is None
    for url, root in pages:
        assert root.find(f"{FH}archive") is not None
        assert root.find(f"{ATOM}link[@rel='current']").get("href").endswith("/feeds/all.atom")
        assert root.find(f"{ATOM}link[@rel='self']").get("href") == url
        assert feedparser.parse(etree.tostring(root)).bozo == 0


def test_json_feed_pages_through_next_url(
    sessions: sessionmaker[Session], small: Settings, clock: Clock, paged: Renderer
) -> None:
    publish(sessions, small, clock, 9)
    paged.tick()
    url: str | None = f"{small.public_base}/feeds/all.json"
    ids = []
    while url:
        feed = json.loads(document(sessions, url, "json"))
        ids += [item["id"] for item in feed["items"]]
        url = feed.get("next_url")
    assert len(ids) == len(set(ids)) == 9


def test_rss_links_its_archives(
    sessions: sessionmaker[Session], small: Settings, clock: Clock, paged: Renderer
) -> None:
    publish(sessions, small, clock, 6)
    paged.tick()
    channel = etree.fromstring(document(sessions, f"{small.public_base}/feeds/all.rss", "rss"))[0]
    prev = channel.find(f"{ATOM}link[@rel='prev-archive']")
    assert prev is not None
    assert prev.get("href").endswith("/feeds/all/archive/2.rss")
    page = etree.fromstring(document(sessions, prev.get("href"), "rss"))[0]
    assert page.find(f"{FH}archive") is not None
    assert len(page.findall("item")) == 1  # the open page


def test_sealed_pages_keep_their_bytes_as_new_items_arrive(
    sessions: sessionmaker[Session], small: Settings, clock: Clock, paged: Renderer
) -> None:
    publish(sessions, small, clock, 7)
    paged.tick()
    with sessions() as session:
        first = store.load_rendered(session, SITE, "atom", page=1)
        assert first is not None
        assert first.sealed
    publish(sessions, small, clock, 5)
    paged.tick()
    with sessions() as session:
        again = store.load_rendered(session, SITE, "atom", page=1)
        assert again is not None
        assert again.etag == first.etag


def test_a_retracted_article_leaves_every_document_and_becomes_a_tombstone(
    sessions: sessionmaker[Session], small: Settings, clock: Clock, paged: Renderer
) -> None:
    ids = publish(sessions, small, clock, 9, tags=["余姚"])
    paged.tick()
    oldest = ids[0]  # sealed in archive page 1
    with sessions() as session:
        uid = publishing.get_article(session, oldest).uid
    assert uid.encode() in document(sessions, f"{small.public_base}/feeds/all/archive/1.atom")
    clock.advance(minutes=1)
    with db.transaction(sessions) as session:
        publishing.update_article(session, oldest, {"status": "retracted"}, clock(), small)
    paged.tick()

    for key in (SITE, FeedKey.tag("yuyao")):
        url = f"{small.public_base}{key.path}.atom"
        documents = [root for _, root in walk_atom(sessions, url)]
        assert all(uid not in entry_ids(root) for root in documents)
        (tombstone,) = documents[0].findall(f"{AT}deleted-entry")
        assert tombstone.get("ref") == uid
        assert tombstone.get("when").endswith("+08:00")
        for fmt in ("rss", "json"):  # tombstones are Atom's alone
            assert uid.encode() not in document(
                sessions, f"{small.public_base}{key.path}.{fmt}", fmt
            )


def test_deleting_leaves_a_tombstone_and_republishing_removes_it(
    sessions: sessionmaker[Session], small: Settings, clock: Clock, paged: Renderer
) -> None:
    first, second = publish(sessions, small, clock, 2)
    paged.tick()
    with sessions() as session:
        uids = [publishing.get_article(session, i).uid for i in (first, second)]
    with db.transaction(sessions) as session:
        publishing.delete_article(session, first, clock())
        publishing.update_article(session, second, {"status": "retracted"}, clock(), small)
    paged.tick()
    root = etree.fromstring(document(sessions, f"{small.public_base}/feeds/all.atom"))
    assert {t.get("ref") for t in root.findall(f"{AT}deleted-entry")} == set(uids)

    with db.transaction(sessions) as session:
        publishing.update_article(session, second, {"status": "published"}, clock(), small)
    paged.tick()
    root = etree.fromstring(document(sessions, f"{small.public_base}/feeds/all.atom"))
    assert {t.get("ref") for t in root.findall(f"{AT}deleted-entry")} == {uids[0]}
    assert uids[1] in entry_ids(root)


def test_tombstones_expire(
    sessions: sessionmaker[Session], small: Settings, clock: Clock, paged: Renderer
) -> None:
    (only,) = publish(sessions, small, clock, 1)
    with db.transaction(sessions) as session:
        publishing.update_article(session, only, {"status": "retracted"}, clock(), small)
    paged.tick()
    url = f"{small.public_base}/feeds/all.atom"
    assert etree.fromstring(document(sessions, url)).findall(f"{AT}deleted-entry")
    clock.advance(days=small.tombstone_days, minutes=1)
    paged.sweep()
    assert not etree.fromstring(document(sessions, url)).findall(f"{AT}deleted-entry")


def test_documents_stay_within_the_byte_budget(
    sessions: sessionmaker[Session], settings: Settings, clock: Clock
) -> None:
    budget = dataclasses.replace(settings, feed_max_bytes=60_000)
    renderer = Renderer(sessions, budget, clock=clock, holder="test")
    body = "<p>" + "余姚智能光電小鎮" * 1500 + "</p>"  # ~36 KB rendered per item
    publish(sessions, budget, clock, 8, content_html=body)
    renderer.tick()
    documents = walk_atom(sessions, f"{budget.public_base}/feeds/all.atom")
    assert len(documents) >= 4
    total = sum(len(entry_ids(root)) for _, root in documents)
    assert total == 8
    for url, _ in documents:
        assert len(document(sessions, url)) < 512 * 1024


def test_an_oversized_body_keeps_the_item_but_not_the_body(
    sessions: sessionmaker[Session], settings: Settings, clock: Clock, renderer: Renderer
) -> None:
    huge = "<p>" + "長" * (settings.item_content_max_bytes // 3 + 10) + "</p>"
    publish(sessions, settings, clock, 1, content_html=huge, summary="摘要在此")
    renderer.tick()
    body = document(sessions, f"{settings.public_base}/feeds/all.atom")
    assert len(body) < 64 * 1024
    entry = feedparser.parse(body).entries[0]
    assert entry.summary == "摘要在此"
    assert entry.link.startswith("https://")


def test_an_edit_to_an_old_article_re_renders_its_sealed_page(
    sessions: sessionmaker[Session], small: Settings, clock: Clock, paged: Renderer
) -> None:
    ids = publish(sessions, small, clock, 9)
    paged.tick()
    with db.transaction(sessions) as session:
        publishing.update_article(session, ids[0], {"title": "更正後的標題"}, clock(), small)
    paged.tick()
    assert "更正後的標題".encode() in document(
        sessions, f"{small.public_base}/feeds/all/archive/1.atom"
    )


def stored_archive(sessions: sessionmaker[Session], key: FeedKey) -> dict[str, set[str]]:
    """The stored formats of each of the feed's archive documents, by path (variants too)."""
    with sessions() as session:
        rows = session.execute(select(RenderedFeed.key, RenderedFeed.format)).all()
    documents: dict[str, set[str]] = {}
    for path, fmt in rows:
        found, page = parse_document_path(path)
        if found == key and page is not None:
            documents.setdefault(path, set()).add(fmt)
    return documents


def archive_pages(sessions: sessionmaker[Session], key: FeedKey) -> set[int]:
    return {parse_document_path(path)[1] or 0 for path in stored_archive(sessions, key)}


def drop_page(sessions: sessionmaker[Session], page: int) -> None:
    """Delete the site feed's archive page in every format and variant."""
    paths = [SITE.document_path(page, v) for v in (None, *VARIANTS)]
    with db.transaction(sessions) as session:
        session.execute(delete(RenderedFeed).where(RenderedFeed.key.in_(paths)))


def test_a_page_missing_from_the_store_is_rendered_by_the_next_render(
    sessions: sessionmaker[Session], small: Settings, clock: Clock, paged: Renderer
) -> None:
    publish(sessions, small, clock, 9)
    paged.tick()
    complete = stored_archive(sessions, SITE)
    assert len(complete) >= 3
    assert all(f == {"rss", "atom", "json"} for f in complete.values())
    assert SITE.document_path(2) in complete
    # As a crash between two chunks of sealed pages leaves it: a page gone, all its
    # formats and variants (each page is stored in one transaction).
    drop_page(sessions, 2)
    publish(sessions, small, clock, 1)  # any edit of the feed
    paged.tick()
    after = stored_archive(sessions, SITE)
    assert set(after) >= set(complete)
    assert all(f == {"rss", "atom", "json"} for f in after.values())


def test_an_open_page_whose_items_leave_is_dropped_from_the_store(
    sessions: sessionmaker[Session], small: Settings, clock: Clock, paged: Renderer
) -> None:
    # 3 items in the current document and pages of 2: six articles make page 1 (sealed,
    # the oldest two) and an open page 2 holding one.
    ids = publish(sessions, small, clock, 6)
    paged.tick()
    assert archive_pages(sessions, SITE) == {1, 2}
    with db.transaction(sessions) as session:
        publishing.update_article(session, ids[-1], {"status": "retracted"}, clock(), small)
    paged.tick()
    # The open page's item moved up into the current document: page 2 is gone.
    assert archive_pages(sessions, SITE) == {1}
    assert document(sessions, f"{small.public_base}/feeds/all/archive/1.atom")


def test_a_missing_page_and_a_stale_one_at_once_are_both_put_right(
    sessions: sessionmaker[Session], small: Settings, clock: Clock, paged: Renderer
) -> None:
    # The stale page's rows make up for the missing page's in a count of stored rows.
    ids = publish(sessions, small, clock, 6)
    paged.tick()
    assert archive_pages(sessions, SITE) == {1, 2}
    drop_page(sessions, 1)
    with db.transaction(sessions) as session:
        publishing.update_article(session, ids[-1], {"status": "retracted"}, clock(), small)
    paged.tick()
    assert archive_pages(sessions, SITE) == {1}
    assert all(f == {"rss", "atom", "json"} for f in stored_archive(sessions, SITE).values())


def test_items_after_a_sealed_bound_are_read_as_one_index_range(
    engine: Engine, sessions: sessionmaker[Session], clock: Clock
) -> None:
    """Written as "a > x OR (a = x AND b > y)", the bound made SQLite walk every entry of
    the feed (80 ms a render for the site feed at 1M articles); see bench/query.py."""
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL plans by table statistics; bench/query.py measures it")
    statements: list[tuple[str, object]] = []

    def capture(_conn: object, _cursor: object, sql: str, params: object, *_: object) -> None:
        if "FROM feed_entries" in sql:
            statements.append((sql, params))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with sessions() as session:
            queries.entries_after(session, SITE, (clock(), 1))
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    ((sql, params),) = statements
    with engine.connect() as conn:
        plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params).all()
    (detail,) = [row[-1] for row in plan]
    assert "(published_at,article_id)>(?,?)" in detail, detail


@pytest.mark.parametrize(
    "path",
    [
        "/feeds/all/archive/0.atom",
        "/feeds/all/archive/01.atom",
        "/feeds/all/archive/99.atom",
        "/feeds/all/archive/1.xml",
        "/feeds/all/archive/x.atom",
        "/feeds/tags/no-such-tag/archive/1.atom",
        "/feeds/authors/a/archive/1.atom",
    ],
)
def test_archive_urls_that_do_not_exist_are_404(
    sessions: sessionmaker[Session],
    small: Settings,
    clock: Clock,
    paged: Renderer,
    engine: Engine,
    path: str,
) -> None:
    publish(sessions, small, clock, 7)
    paged.tick()
    client = create_app(small, engine).test_client()
    response = client.get(path)
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


def test_archive_pages_are_served_with_their_cache_lifetimes(
    sessions: sessionmaker[Session], small: Settings, clock: Clock, paged: Renderer, engine: Engine
) -> None:
    publish(sessions, small, clock, 6)  # 3 current, page 1 sealed, page 2 open
    paged.tick()
    client = create_app(small, engine).test_client()
    sealed = client.get("/feeds/all/archive/1.atom")
    assert sealed.status_code == 200
    assert sealed.mimetype == "application/atom+xml"
    assert sealed.headers["Cache-Control"] == (
        f"public, max-age={small.archive_max_age_seconds}, stale-if-error=86400"
    )
    still_open = client.get("/feeds/all/archive/2.rss")
    assert still_open.status_code == 200
    assert still_open.headers["Cache-Control"] == (
        f"public, max-age={small.feed_max_age_seconds}, stale-if-error=86400"
    )
    again = client.get(
        "/feeds/all/archive/1.atom", headers={"If-None-Match": sealed.headers["ETag"]}
    )
    assert again.status_code == 304
    page = json.loads(client.get("/feeds/all/archive/2.json").data)
    assert page["feed_url"].endswith("/feeds/all/archive/2.json")
    assert len(page["items"]) == 1
