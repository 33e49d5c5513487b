"""feedsvc.render: golden bytes, real consumers (feedparser, lxml, json) and feedgen's sharp edges.

Regenerate the golden files with ``FEEDSVC_UPDATE_GOLDEN=1 pytest tests/test_render.py``
and read the diff before keeping it.
"""

# The fixture text is real Chinese; its full-width punctuation is intended.
# ruff: noqa: RUF001

from __future__ import annotations

import calendar
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import feedparser
import pytest
from lxml import etree

from feedsvc.render import JSON_FEED_VERSION, render, render_all, strip_xml_invalid, strong_etag
from feedsvc.types import FORMATS, MEDIA_TYPES, Category, FeedKey, FeedMeta, Format, ItemData

GOLDEN = Path(__file__).parent / "golden"
XML_FORMATS: tuple[Format, ...] = ("rss", "atom")
NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "content": "http://purl.org/rss/1.0/modules/content/",
    "dc": "http://purl.org/dc/elements/1.1/",
}
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
RFC822_LOCAL = re.compile(r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0800$")


# --- fixture data: all datetimes in UTC so the move to +08:00 is exercised --------------


def make_meta() -> FeedMeta:
    return FeedMeta(
        key=FeedKey.site(),
        id="tag:news.example.cn,2022:feeds/all",
        title="余姚新聞網",
        description="余姚新聞網的最新報導",
        language="zh-Hant",
        home_url="https://news.example.cn/",
        self_urls={
            "rss": "https://news.example.cn/feeds/all.rss",
            "atom": "https://news.example.cn/feeds/all.atom",
            "json": "https://news.example.cn/feeds/all.json",
        },
        updated=datetime(2022, 2, 18, 10, 30, tzinfo=UTC),  # 18:30 +08:00
    )


def make_items() -> list[ItemData]:
    """Three items, newest first."""
    return [
        ItemData(
            id="tag:news.example.cn,2022:article/1001",
            title="智能光電小鎮發展動能持續提升",
            link="https://news.example.cn/articles/zhineng-guangdian-xiaozhen",
            summary="余姚智能光電小鎮加快蝶變，產業能級持續提升。",
            content_html=(
                "<p>記者 張三／余姚報導：智能光電小鎮今年產值增長 20% &amp; 更多。</p>\n"
                '<p><a href="https://news.example.cn/">返回首頁</a></p>'
            ),
            published=datetime(2022, 2, 18, 10, 2, 25, tzinfo=UTC),  # 18:02:25 +08:00
            updated=datetime(2022, 2, 18, 10, 30, tzinfo=UTC),
            author="張三",
            source="信息新報",
            language="zh-Hant",
            categories=(
                Category("yuyao", "余姚"),
                Category("diebian", "蝶變"),
                Category("nengji", "能級"),
            ),
        ),
        ItemData(
            # No author, no categories, no source; the local date differs from the UTC date.
            id="tag:news.example.cn,2022:article/1000",
            title="早班列車增開 <兩班> 方便通勤",
            link="https://news.example.cn/articles/zaoban-lieche",
            summary="鐵路部門宣布增開早班列車。",
            content_html="<p>鐵路部門宣布，自下周起增開兩班早班列車。</p>",
            published=datetime(2022, 2, 17, 23, 30, tzinfo=UTC),  # 2022-02-18 07:30 +08:00
            updated=datetime(2022, 2, 17, 23, 30, tzinfo=UTC),
        ),
        ItemData(
            id="tag:news.example.cn,2022:article/0999",
            title="姚江兩岸春燈亮起",
            link="https://news.example.cn/articles/yaojiang-chundeng",
            summary="元宵將至，姚江兩岸花燈齊放。",
            content_html="<p>元宵將至，姚江兩岸花燈齊放，吸引市民賞燈。</p>",
            published=datetime(2022, 2, 16, 16, 5, tzinfo=UTC),  # 2022-02-17 00:05 +08:00
            updated=datetime(2022, 2, 16, 18, 0, tzinfo=UTC),
            author="李四",
            categories=(Category("yuyao", "余姚"),),
        ),
    ]


@pytest.fixture
def meta() -> FeedMeta:
    return make_meta()


@pytest.fixture
def items() -> list[ItemData]:
    return make_items()


def xml(body: bytes) -> Any:
    return etree.fromstring(body)  # raises on anything not well-formed


def parse(body: bytes) -> Any:
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    return parsed


def utc_seconds(struct: time.struct_time) -> int:
    return calendar.timegm(struct)  # feedparser normalises to UTC struct_time


def rendered_dates(body: bytes, fmt: Format) -> list[str]:
    """Every date string a format carries, feed level and item level."""
    if fmt == "json":
        doc = json.loads(body)
        return [it[k] for it in doc["items"] for k in ("date_published", "date_modified")]
    root = xml(body)
    if fmt == "rss":
        return [e.text for e in root.iter("lastBuildDate", "pubDate")]
    return [e.text for e in root.iter(f"{{{NS['atom']}}}updated", f"{{{NS['atom']}}}published")]


def walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for v in value.values():
            yield from walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from walk(v)


# --- golden files and the Rendered envelope ----------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_golden(meta: FeedMeta, items: list[ItemData], fmt: Format) -> None:
    body = render(meta, items, fmt).body
    path = GOLDEN / f"sample.{fmt}"
    if os.environ.get("FEEDSVC_UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        path.write_bytes(body)
    assert path.exists(), f"{path} missing: run with FEEDSVC_UPDATE_GOLDEN=1 and review it"
    assert body == path.read_bytes()


@pytest.mark.parametrize("fmt", FORMATS)
def test_envelope(meta: FeedMeta, items: list[ItemData], fmt: Format) -> None:
    r = render(meta, items, fmt)
    assert r.media_type == MEDIA_TYPES[fmt]
    assert ";" not in r.media_type  # no charset parameter
    assert r.item_count == 3
    assert r.etag == strong_etag(r.body)
    assert re.fullmatch(r'"[0-9a-f]{32}"', r.etag)
    r.body.decode("utf-8")  # strict UTF-8


def test_strong_etag_is_quoted_sha256_prefix() -> None:
    # SHA-256 of the empty string is a published constant.
    assert strong_etag(b"") == '"e3b0c44298fc1c149afbf4c8996fb924"'
    assert strong_etag(b"a") != strong_etag(b"b")


def test_render_all_matches_render(meta: FeedMeta, items: list[ItemData]) -> None:
    everything = render_all(meta, items)
    assert tuple(everything) == FORMATS
    for fmt in FORMATS:
        assert everything[fmt] == render(meta, items, fmt)


def test_unknown_format_raises(meta: FeedMeta, items: list[ItemData]) -> None:
    with pytest.raises(ValueError, match="unknown feed format"):
        render(meta, items, "html")  # type: ignore[arg-type]


# --- consumers: feedparser and lxml ------------------------------------------------------


@pytest.mark.parametrize(("fmt", "version"), [("rss", "rss20"), ("atom", "atom10")])
def test_feedparser_reads_xml(
    meta: FeedMeta, items: list[ItemData], fmt: Format, version: str
) -> None:
    parsed = parse(render(meta, items, fmt).body)
    assert parsed.version == version
    assert parsed.feed.title == meta.title
    assert parsed.feed.link == meta.home_url
    assert parsed.feed.language == meta.language
    assert [e.id for e in parsed.entries] == [it.id for it in items]
    assert [e.title for e in parsed.entries] == [it.title for it in items]
    assert [e.link for e in parsed.entries] == [it.link for it in items]
    for entry, item in zip(parsed.entries, items, strict=True):
        assert utc_seconds(entry.published_parsed) == int(item.published.timestamp())
        assert entry.summary == item.summary
        assert entry.content[0].value == item.content_html
        assert entry.get("author") == item.author
        if fmt == "rss":  # RSS <category> carries only the display name
            assert [t.term for t in entry.get("tags", [])] == [c.label for c in item.categories]
        else:
            tags = [(t.term, t.label) for t in entry.get("tags", [])]
            assert tags == [(c.term, c.label) for c in item.categories]
    assert parsed.entries[0].get("publisher") == "信息新報"


def test_rss_structure(meta: FeedMeta, items: list[ItemData]) -> None:
    channel = xml(render(meta, items, "rss").body).find("channel")
    assert channel.findtext("lastBuildDate") == "Fri, 18 Feb 2022 18:30:00 +0800"
    self_link = channel.find("atom:link", NS)
    assert self_link.get("rel") == "self"
    assert self_link.get("href") == meta.self_urls["rss"]
    assert self_link.get("type") == "application/rss+xml"
    rss_items = channel.findall("item")
    assert len(rss_items) == 3
    for el, item in zip(rss_items, items, strict=True):
        guid = el.find("guid")
        assert guid.get("isPermaLink") == "false"
        assert guid.text == item.id
        assert RFC822_LOCAL.match(el.findtext("pubDate"))
        assert el.findtext("description") == item.summary
        assert el.findtext("content:encoded", namespaces=NS) == item.content_html
        assert [c.text for c in el.findall("category")] == [c.label for c in item.categories]
    # 18:02:25 UTC+8 on the 18th; the second item's UTC date (17th) must not leak through.
    assert rss_items[0].findtext("pubDate") == "Fri, 18 Feb 2022 18:02:25 +0800"
    assert rss_items[1].findtext("pubDate") == "Fri, 18 Feb 2022 07:30:00 +0800"


def test_atom_structure(meta: FeedMeta, items: list[ItemData]) -> None:
    body = render(meta, items, "atom").body
    feed = xml(body)
    assert feed.get(XML_LANG) == meta.language
    assert feed.findtext("atom:id", namespaces=NS) == meta.id
    assert feed.findtext("atom:updated", namespaces=NS) == "2022-02-18T18:30:00+08:00"
    assert feed.findtext("atom:subtitle", namespaces=NS) == meta.description
    assert feed.findtext("atom:author/atom:name", namespaces=NS) == meta.title
    links = {ln.get("rel"): ln for ln in feed.findall("atom:link", NS)}
    assert links["self"].get("href") == meta.self_urls["atom"]
    assert links["self"].get("type") == "application/atom+xml"
    assert links["alternate"].get("href") == meta.home_url
    assert links["alternate"].get("type") == "text/html"
    assert b"CDATA" not in body
    entries = feed.findall("atom:entry", NS)
    for el, item in zip(entries, items, strict=True):
        content = el.find("atom:content", NS)
        assert content.get("type") == "html"
        assert content.text == item.content_html
        cats = [(c.get("term"), c.get("label")) for c in el.findall("atom:category", NS)]
        assert cats == [(c.term, c.label) for c in item.categories]
    assert entries[0].findtext("atom:published", namespaces=NS) == "2022-02-18T18:02:25+08:00"
    assert entries[1].findtext("atom:published", namespaces=NS) == "2022-02-18T07:30:00+08:00"
    # The second item has no author of its own: the feed-level author covers it (RFC 4287).
    assert entries[1].find("atom:author", NS) is None


def test_json_feed(meta: FeedMeta, items: list[ItemData]) -> None:
    body = render(meta, items, "json").body
    assert body.endswith(b"}\n")
    assert "智能光電小鎮".encode() in body  # ensure_ascii=False: real UTF-8, not \u escapes
    doc = json.loads(body)
    assert doc["version"] == JSON_FEED_VERSION
    assert doc["home_page_url"] == meta.home_url
    assert doc["feed_url"] == meta.self_urls["json"]
    assert doc["authors"] == [{"name": meta.title}]
    assert [it["id"] for it in doc["items"]] == [it.id for it in items]
    for out, item in zip(doc["items"], items, strict=True):
        assert out["url"] == item.link
        assert out["content_html"] == item.content_html
        assert out["date_published"].endswith("+08:00")
        assert datetime.fromisoformat(out["date_published"]) == item.published
        assert datetime.fromisoformat(out["date_modified"]) == item.updated
        assert out.get("tags", []) == [c.label for c in item.categories]
    assert doc["items"][0]["authors"] == [{"name": "張三"}]
    assert doc["items"][0]["language"] == "zh-Hant"
    # Absent, not null: the bare item has no authors/tags/language keys at all.
    assert not {"authors", "tags", "language"} & doc["items"][1].keys()
    assert all(v is not None for v in walk(doc))


# --- determinism ---------------------------------------------------------------------------


def test_same_input_same_bytes(meta: FeedMeta, items: list[ItemData]) -> None:
    first = render_all(meta, items)
    time.sleep(0.05)  # any clock reading would now differ
    second = render_all(make_meta(), make_items())
    for fmt in FORMATS:
        assert first[fmt].body == second[fmt].body
        assert first[fmt].etag == second[fmt].etag


def test_same_bytes_in_another_process_zone_and_locale(
    meta: FeedMeta, items: list[ItemData]
) -> None:
    # A fresh interpreter whose local zone is New York: output must not depend on it.
    script = (
        "import importlib.util, sys, hashlib\n"
        f"spec = importlib.util.spec_from_file_location('t', {str(Path(__file__))!r})\n"
        "t = importlib.util.module_from_spec(spec); spec.loader.exec_module(t)\n"
        "from feedsvc.render import render_all\n"
        "for fmt, r in render_all(t.make_meta(), t.make_items()).items():\n"
        "    print(fmt, r.etag)\n"
    )
    env = {**os.environ, "TZ": "America/New_York", "LC_ALL": "C", "LANG": "C"}
    out = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=Path(__file__).parents[1],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    here = {fmt: r.etag for fmt, r in render_all(meta, items).items()}
    assert dict(line.split(" ", 1) for line in out.splitlines()) == here


@pytest.mark.parametrize("fmt", FORMATS)
def test_changed_title_changes_etag(meta: FeedMeta, items: list[ItemData], fmt: Format) -> None:
    before = render(meta, items, fmt).etag
    assert render(replace(meta, title="慈溪新聞網"), items, fmt).etag != before
    retitled = [replace(items[0], title="智能光電小鎮發展動能再提升"), *items[1:]]
    assert render(meta, retitled, fmt).etag != before


# --- feedgen's sharp edges ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_order_preserved_newest_first(meta: FeedMeta, items: list[ItemData], fmt: Format) -> None:
    # feedgen's add_entry() prepends by default, which would reverse the list.
    for given in (items, items[::-1]):
        body = render(meta, given, fmt).body
        if fmt == "json":
            ids = [it["id"] for it in json.loads(body)["items"]]
        else:
            ids = [e.id for e in parse(body).entries]
        assert ids == [it.id for it in given]  # neither reversed nor re-sorted


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_clock(meta: FeedMeta, items: list[ItemData], fmt: Format) -> None:
    # feedgen defaults feed/entry updated and lastBuildDate to now(); every date in the
    # output must instead be one the input carried.
    tz = timezone(timedelta(hours=8))
    stamps = [meta.updated] + [d for it in items for d in (it.published, it.updated)]
    allowed = {d.astimezone(tz).isoformat() for d in stamps}
    allowed |= {d.astimezone(tz).strftime("%a, %d %b %Y %H:%M:%S +0800") for d in stamps}
    dates = rendered_dates(render(meta, items, fmt).body, fmt)
    assert dates
    assert set(dates) <= allowed


@pytest.mark.parametrize("fmt", XML_FORMATS)
def test_channel_link_is_alternate_not_self(
    meta: FeedMeta, items: list[ItemData], fmt: Format
) -> None:
    # feedgen makes the RSS <channel><link> the href of the LAST link() call.
    parsed = parse(render(meta, items, fmt).body)
    assert parsed.feed.link == meta.home_url
    rels = {ln.rel: ln.href for ln in parsed.feed.links}
    assert rels["self"] == meta.self_urls[fmt]
    if fmt == "rss":
        channel = xml(render(meta, items, fmt).body).find("channel")
        assert channel.findtext("link") == meta.home_url


@pytest.mark.parametrize("where", ["meta.updated", "items[1].published", "items[1].updated"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_naive_datetime_raises(
    meta: FeedMeta, items: list[ItemData], where: str, fmt: Format
) -> None:
    # feedgen would raise for some of these, but astimezone() would silently take a naive
    # value as process-local time; we refuse, and say which field it was.
    naive = datetime(2022, 2, 18, 18, 2, 25)
    if where == "meta.updated":
        meta = replace(meta, updated=naive)
    elif where == "items[1].published":
        items[1] = replace(items[1], published=naive)
    else:
        items[1] = replace(items[1], updated=naive)
    with pytest.raises(ValueError, match=re.escape(where) + ".* naive"):
        render(meta, items, fmt)


def test_aware_non_utc_input_is_converted_and_zone_is_configurable(
    meta: FeedMeta, items: list[ItemData]
) -> None:
    new_york = timezone(timedelta(hours=-5))
    lead = replace(items[0], published=items[0].published.astimezone(new_york))
    pub = xml(render(meta, [lead], "rss").body).find("channel/item/pubDate").text
    assert pub == "Fri, 18 Feb 2022 18:02:25 +0800"
    utc_pub = xml(render(replace(meta, tz="UTC"), [lead], "rss").body).find("channel/item/pubDate")
    assert utc_pub.text == "Fri, 18 Feb 2022 10:02:25 +0000"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("a\x00b\x08c\x0bd\x0ce\x1ff", "abcdef"),  # C0 controls
        ("tab\tnl\ncr\r", "tab\tnl\ncr\r"),  # the three allowed ones
        ("lone\ud800high\udfffsurrogates", "lonehighsurrogates"),
        ("\ufffe\uffff", ""),  # non-characters outside Char
        ("\ue000\ufffd𠀀", "\ue000\ufffd𠀀"),  # private use, replacement char, astral CJK
        ("\x7f\x85", "\x7f\x85"),  # discouraged but legal XML 1.0
    ],
)
def test_strip_xml_invalid(raw: str, clean: str) -> None:
    assert strip_xml_invalid(raw) == clean


@pytest.mark.parametrize("fmt", FORMATS)
def test_control_chars_and_lone_surrogates_are_stripped(
    meta: FeedMeta, items: list[ItemData], fmt: Format
) -> None:
    # Without stripping, lxml raises "All strings must be XML compatible" at serialisation.
    dirty = replace(
        items[0],
        title="智能\x00光電\x1b小鎮\ud800",
        summary="摘要\x0c",
        content_html="<p>正文\x08\udfff</p>",
        author="張\x01三",
        categories=(Category("yu\x02yao", "余\x03姚"),),
    )
    body = render(replace(meta, title="余姚\x07新聞網"), [dirty], fmt).body
    if fmt == "json":
        doc = json.loads(body)
        got = doc["items"][0]
        assert (doc["title"], got["title"], got["content_html"]) == (
            "余姚新聞網",
            "智能光電小鎮",
            "<p>正文</p>",
        )
        assert got["tags"] == ["余姚"]
    else:
        parsed = parse(body)
        entry = parsed.entries[0]
        assert parsed.feed.title == "余姚新聞網"
        assert entry.title == "智能光電小鎮"
        assert entry.summary == "摘要"
        assert entry.content[0].value == "<p>正文</p>"
        assert entry.author == "張三"
        assert entry.tags[0].term == ("余姚" if fmt == "rss" else "yuyao")


def test_dc_creator_for_author_without_email(meta: FeedMeta, items: list[ItemData]) -> None:
    # feedgen's RSS only writes <author> for e-mail addresses and drops name-only authors.
    channel = xml(render(meta, items, "rss").body).find("channel")
    creators = [el.findtext("dc:creator", namespaces=NS) for el in channel.findall("item")]
    assert creators == ["張三", None, "李四"]
    assert channel.find("item/author") is None  # no half-valid RSS <author>
    # Atom uses its own <author>, not a duplicate dc:creator.
    feed = xml(render(meta, items, "atom").body)
    assert feed.findtext("atom:entry/atom:author/atom:name", namespaces=NS) == "張三"
    assert feed.find(".//dc:creator", NS) is None


@pytest.mark.parametrize("fmt", FORMATS)
def test_generator_is_ours_without_library_version(
    meta: FeedMeta, items: list[ItemData], fmt: Format
) -> None:
    import feedgen.version

    body = render(meta, items, fmt).body
    assert b"feedgen" not in body.lower()
    assert feedgen.version.version_str.encode() not in body
    if fmt == "json":
        return
    root = xml(body)
    gen = root.find("channel/generator") if fmt == "rss" else root.find("atom:generator", NS)
    assert gen.text == meta.generator
    assert gen.get("version") is None
    assert gen.get("uri") is None


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_feed_is_valid(meta: FeedMeta, fmt: Format) -> None:
    r = render(meta, [], fmt)
    assert r.item_count == 0
    if fmt == "json":
        doc = json.loads(r.body)
        assert doc["version"] == JSON_FEED_VERSION
        assert doc["items"] == []  # required even when empty
        return
    xml(r.body)
    parsed = parse(r.body)
    assert parsed.entries == []
    assert parsed.feed.title == meta.title
    assert utc_seconds(parsed.feed.updated_parsed) == int(meta.updated.timestamp())
