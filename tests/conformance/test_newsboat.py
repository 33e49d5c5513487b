"""Checker 4: newsboat, a real feed reader, loads every RSS and Atom document over HTTP from
a real `feedsvc serve` and sees every item; an edited article stays one item for it.

newsboat 2.21 reads no JSON Feed ("XML root node is NULL"), so JSON is left to the other
checkers. The service runs on its own database holding the demo and the adversarial corpus
(on FEEDSVC_TEST_DATABASE_URL's server when set), so its edits never touch the shared one.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest

from feedsvc import db
from feedsvc.config import Settings
from feedsvc.types import FeedKey
from tests.conformance import corpus
from tests.conformance.conftest import fresh_database
from tests.conformance.documents import Document, Fetch, discover
from tests.conformance.newsboat import Newsboat
from tests.support.service import Service, running_service, service_env, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, corpus.Corpus]]:
    workdir = tmp_path_factory.mktemp("newsboat-serve")
    with fresh_database(workdir) as url:
        engine = db.make_engine(url)
        try:
            db.migrate(engine)
            settings = Settings.load(environ={}, overrides={"database_url": url})
            built = corpus.build(db.session_factory(engine), settings, datetime.now(UTC))
        finally:
            engine.dispose()
        # `feedsvc serve` on the database filled above, rendering every second.
        env = service_env(url, FEEDSVC_LOAD_DEMO_ON_EMPTY="false")
        with running_service(workdir, env, ready=("/feeds/all.atom",)) as svc:
            yield svc, built


@pytest.fixture(scope="module")
def documents(service: tuple[Service, corpus.Corpus]) -> list[Document]:
    svc, _ = service
    # Every feed the service knows: the site feed and each tag and section the API lists.
    found = discover(feed_keys(svc, svc.token()), svc.base, fetcher(svc))
    assert found.broken == []
    return [d for d in found.documents if d.fmt in ("rss", "atom")]


def fetcher(svc: Service) -> Fetch:
    def fetch(path: str) -> tuple[int, str, bytes]:
        reply = svc.get(path)
        return reply.status, reply.header("Content-Type") or "", reply.body

    return fetch


def feed_keys(svc: Service, token: str) -> list[FeedKey]:
    keys = [FeedKey.site()]
    for path, make in (("/api/tags", FeedKey.tag), ("/api/sections", FeedKey.section)):
        status, listing = svc.api(token, "GET", path)
        assert status == 200, listing
        keys.extend(make(item["slug"]) for item in listing["items"])
    return keys


def served_ids(doc: Document) -> set[str]:
    root = doc.xml()
    if doc.fmt == "rss":
        return {(g.text or "").strip() for g in root.iter("guid")}
    atom = "{http://www.w3.org/2005/Atom}"
    return {(e.findtext(f"{atom}id") or "").strip() for e in root.iter(f"{atom}entry")}


def newsboat_problems(reader: Newsboat, doc: Document) -> list[str]:
    reader.reload(doc.url)
    if not reader.feed_known(doc.url):
        return [f"{doc}: newsboat did not take the feed"]
    seen, served = set(reader.items(doc.url)), served_ids(doc)
    if seen != served:
        return [f"{doc}: newsboat has {len(seen)} items, the feed {len(served)}"]
    return []


def test_newsboat_loads_every_document_with_every_item(
    documents: list[Document], tmp_path: Path
) -> None:
    reader = Newsboat(tmp_path / "newsboat")
    assert len(documents) > 60
    # Each feed has its own cache file, so the newsboat processes share nothing.
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = pool.map(lambda doc: newsboat_problems(reader, doc), documents)
        problems = [p for found in results for p in found]
    assert problems == []


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_an_edited_article_stays_one_item_in_newsboat(
    service: tuple[Service, corpus.Corpus], fmt: str, tmp_path: Path
) -> None:
    svc, built = service
    name = f"emoji-{fmt}"  # each run edits the article differently, so both see a change
    article_id = built.ids["emoji"]
    url = f"{svc.base}/feeds/tags/duikang-emoji.{fmt}"
    reader = Newsboat(tmp_path / "newsboat")
    reader.reload(url)
    before = reader.items(url)
    uid = built.visible["emoji"]
    assert uid in before
    token = svc.token()

    new_title = f"編輯後的標題（{name}）"
    status, article = svc.api(
        token,
        "PATCH",
        f"/api/articles/{article_id}",
        {
            "title": new_title,
            "content_html": f"<p>編輯後的正文 {name}</p>",
            "tags": [corpus.ADVERSARIAL_TAG, "對抗emoji", f"新增標籤{fmt}"],
        },
    )
    assert status == 200, article
    assert article["uid"] == uid
    path = url.removeprefix(svc.base)
    wait_for(lambda: new_title.encode() in svc.get(path).body, f"{path} shows the new title")

    reader.reload(url)
    after = reader.items(url)
    assert set(after) == set(before)  # same guids, no duplicate
    assert len(after) == len(before)
    assert after[uid] == new_title  # newsboat did read the new bytes
