"""Checker 1: feedparser reads every RSS and Atom document without complaint and sees what
the database says each feed holds; the same item expectations are checked on JSON Feed
(feedparser 6.0 reads no JSON). Also: hidden articles are in no document at all, and the
adversarial text arrives as ingest hygiene promised.
"""

from __future__ import annotations

import calendar
from datetime import datetime
from typing import Any

import feedparser

from feedsvc.types import FeedKey
from tests.conformance import checks, corpus
from tests.conformance.conftest import Rendered
from tests.conformance.documents import Document


def parse(doc: Document) -> Any:
    return feedparser.parse(doc.body, response_headers={"content-type": doc.content_type})


def xml_documents(rendered: Rendered) -> list[Document]:
    return [d for d in rendered.documents if d.fmt in ("rss", "atom")]


def test_every_feed_key_is_checked_in_every_format(rendered: Rendered) -> None:
    current = [(d.key, d.fmt) for d in rendered.documents if not d.archive]
    keys = {k for k, _ in current}
    assert len(current) == len(set(current)) == 3 * len(keys)
    assert FeedKey.site() in keys
    assert FeedKey.tag("duikangceshi") in keys  # 對抗測試, the corpus' shared tag
    assert len(keys) > 30


def test_every_linked_document_is_served(rendered: Rendered) -> None:
    assert rendered.broken == []


def test_feedparser_reads_every_xml_document_cleanly(rendered: Rendered) -> None:
    problems = []
    for doc in xml_documents(rendered):
        parsed = parse(doc)
        expected_version = "rss20" if doc.fmt == "rss" else "atom10"
        if parsed.bozo:
            problems.append(f"{doc}: bozo {parsed.get('bozo_exception')!r}")
        elif parsed.version != expected_version:
            problems.append(f"{doc}: read as {parsed.version!r}")
        elif parsed.encoding.lower() != "utf-8":
            problems.append(f"{doc}: encoding {parsed.encoding}")
    assert problems == []


def item_ids(doc: Document) -> list[str]:
    if doc.fmt == "json":
        return [item["id"] for item in doc.json()["items"]]
    return [entry.id for entry in parse(doc).entries]


def test_every_feed_lists_its_items_newest_first(rendered: Rendered) -> None:
    """The current document holds the newest items in order; archive pages, if any, hold
    only the feed's other items, each once."""
    limit = rendered.settings.feed_items
    problems = []
    keys = {d.key for d in rendered.documents}
    for key in sorted(keys):
        expected = rendered.expected_ids(key)
        for fmt in ("rss", "atom", "json"):
            current, *archives = rendered.pages(key, fmt)
            ids = item_ids(current)
            if ids != expected[: len(ids)] or (expected and not ids):
                problems.append(f"{current}: {ids} is not the start of {expected}")
            if not archives and len(ids) != min(len(expected), limit):
                problems.append(f"{current}: {len(ids)} items, expected {len(expected)}")
            everywhere = ids + [i for page in archives for i in item_ids(page)]
            problems.extend(
                f"{current} and its archive: {p}" for p in checks.unique(everywhere, "id")
            )
            strangers = set(everywhere) - set(expected)
            if strangers:
                problems.append(f"{current} and its archive list {strangers}, not in the feed")
    assert problems == []


def test_every_item_carries_its_publication_time(rendered: Rendered) -> None:
    published = rendered.articles_by_uid()
    problems = []
    checked = 0
    for doc in rendered.documents:
        if doc.fmt == "json":
            times = {
                i["id"]: datetime.fromisoformat(i["date_published"]).timestamp()
                for i in doc.json()["items"]
            }
        else:
            times = {e.id: calendar.timegm(e.published_parsed) for e in parse(doc).entries}
        for uid, seconds in times.items():
            checked += 1
            if seconds != published[uid].timestamp():
                problems.append(f"{doc}: {uid} published at {seconds}, not {published[uid]}")
    assert checked > 100
    assert problems == []


def test_hidden_articles_are_in_no_document(rendered: Rendered) -> None:
    hidden = set(rendered.corpus.hidden.values())
    titles = [corpus.HIDDEN[name]["title"].encode() for name in corpus.HIDDEN]
    for doc in rendered.documents:
        # An Atom tombstone (RFC 6721) may name a retracted uid; an item never may.
        assert not hidden & set(item_ids(doc)), doc
        for title in titles:
            assert title not in doc.body, (title.decode(), doc)
    for fmt in ("rss", "atom", "json"):
        assert item_ids(rendered.document(f"/feeds/tags/buyingchuxian.{fmt}")) == []


def test_every_visible_corpus_article_is_in_the_site_feed(rendered: Rendered) -> None:
    for fmt in ("rss", "atom", "json"):
        pages = rendered.pages(FeedKey.site(), fmt)
        listed = {i for page in pages for i in item_ids(page)}
        expected = rendered.expected_ids(FeedKey.site())
        assert set(rendered.corpus.visible.values()) <= set(expected)
        if len(pages) > 1:
            assert listed == set(expected), fmt
    for fmt in ("rss", "atom", "json"):
        listed = {i for page in rendered.pages(CORPUS_TAG, fmt) for i in item_ids(page)}
        wanted = {uid for name, uid in rendered.corpus.visible.items() if name != "no_tags"}
        assert listed == wanted, fmt


CORPUS_TAG = FeedKey.tag("duikangceshi")


def _entries(rendered: Rendered, fmt: str) -> dict[str, Any]:
    pages = rendered.pages(CORPUS_TAG, fmt)
    return {e.id: e for doc in pages for e in parse(doc).entries}


def _json_items(rendered: Rendered) -> dict[str, Any]:
    pages = rendered.pages(CORPUS_TAG, "json")
    return {i["id"]: i for doc in pages for i in doc.json()["items"]}


def test_adversarial_titles_arrive_clean_and_whole(rendered: Rendered) -> None:
    uids = rendered.corpus.visible
    json_titles = {uid: i["title"] for uid, i in _json_items(rendered).items()}
    expected = {
        # C0 controls go; DEL is an XML Char (merely discouraged), so it may stay.
        "control": "控制字元\x7f標題",
        "surrogates": "孤立代理項標題",
        "cdata": "標題含 ]]> 與 <![CDATA[ 字樣",
        "emoji": corpus.EMOJI_TITLE,
        "rtl": corpus.RTL_TITLE,
        "long_title": corpus.LONG_TITLE,
    }
    for fmt in ("rss", "atom"):
        entries = _entries(rendered, fmt)
        for name, title in expected.items():
            assert entries[uids[name]].title == title, (fmt, name)
    for name, title in expected.items():
        assert json_titles[uids[name]] == title, ("json", name)


def test_script_and_event_handlers_never_reach_a_reader(rendered: Rendered) -> None:
    uid = rendered.corpus.visible["script"]
    bodies = [_json_items(rendered)[uid]["content_html"]]
    for fmt in ("rss", "atom"):
        entry = _entries(rendered, fmt)[uid]
        bodies.extend(c.value for c in entry.content)
    for body in bodies:
        lowered = body.lower()
        for bad in ("<script", "onclick", "onerror", "onload", "onmouseover", "javascript:"):
            assert bad not in lowered, (bad, body)
        assert "https://news.example.com/a.png" in body  # the harmless part survives


def test_the_megabyte_body_is_whole_or_left_to_the_link(rendered: Rendered) -> None:
    """A reader gets the whole body or none of it (then summary and link), never a cut."""
    uid = rendered.corpus.visible["big_body"]
    bodies = [_json_items(rendered)[uid].get("content_html")]
    for fmt in ("rss", "atom"):
        entry = _entries(rendered, fmt)[uid]
        bodies.append(entry.content[0].value if entry.get("content") else None)
        assert entry.summary == "大"
        assert entry.link.startswith("https://news.example.com/articles/")
    assert bodies in ([corpus.BIG_BODY] * 3, [None] * 3), [len(b or "") for b in bodies]
