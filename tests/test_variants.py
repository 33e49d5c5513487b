"""Simplified and Traditional variants: converted where the script differs, tagged right."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import feedparser
import pytest
from flask.testing import FlaskClient
from lxml import etree

from feedsvc.types import FORMATS, Category, FeedKey, FeedMeta, ItemData
from feedsvc.variants import VARIANTS, convert_item, convert_meta, script_of

WHEN = datetime(2022, 2, 18, 10, 2, 25, tzinfo=UTC)


def item(title: str, language: str | None, label: str = "蝶變") -> ItemData:
    return ItemData(
        id="tag:x,2026:article/1",
        title=title,
        link="https://news.example.com/a",
        summary=title,
        content_html=f"<p>{title}</p>",
        published=WHEN,
        updated=WHEN,
        language=language,
        categories=(Category("diebian", label),),
    )


@pytest.mark.parametrize(
    ("language", "script"),
    [
        ("zh-Hant", "zh-hant"),
        ("zh-TW", "zh-hant"),
        ("zh-hk", "zh-hant"),
        ("zh-Hans", "zh-hans"),
        ("zh-CN", "zh-hans"),
        ("zh", "zh-hans"),
        ("en", None),
        ("", None),
        (None, None),
    ],
)
def test_script_of(language: str | None, script: str | None) -> None:
    assert script_of(language) == script


def test_traditional_item_becomes_simplified() -> None:
    converted = convert_item(item("智能光電小鎮發展動能持續提升", "zh-Hant"), VARIANTS["zh-hans"])
    assert converted.title == "智能光电小镇发展动能持续提升"
    assert converted.content_html == "<p>智能光电小镇发展动能持续提升</p>"
    assert converted.categories == (Category("diebian", "蝶变"),)  # the slug stays
    assert converted.language == "zh-Hans"


def test_text_already_in_the_variants_script_is_left_alone() -> None:
    # s2t would wrongly turn the place name 余姚 into 餘姚
    original = item("余姚智能光電小鎮", "zh-Hant")
    kept = convert_item(original, VARIANTS["zh-hant"])
    assert kept.title == "余姚智能光電小鎮"
    assert kept.language == "zh-Hant"


def test_simplified_item_becomes_traditional() -> None:
    converted = convert_item(item("发展动能持续提升", "zh-Hans", "蝶变"), VARIANTS["zh-hant"])
    assert converted.title == "發展動能持續提升"
    assert converted.categories[0].label == "蝶變"


def test_non_chinese_items_are_not_converted_but_relabelled() -> None:
    english = item("Energy 發展", "en")
    converted = convert_item(english, VARIANTS["zh-hans"])
    assert converted.title == "Energy 發展"
    assert converted.language == "zh-Hans"


def test_feed_texts_follow_the_feed_language() -> None:
    meta = FeedMeta(
        key=FeedKey.site(),
        id="tag:x,2026:feed/all",
        title="新聞網：樂活HOT",
        description="新聞網的最新報導",
        language="zh-Hant",
        home_url="https://news.example.com",
        self_urls={f: f"https://f/{f}" for f in FORMATS},
        updated=WHEN,
    )
    converted = convert_meta(meta, VARIANTS["zh-hans"])
    assert (converted.title, converted.description) == ("新闻网：乐活HOT", "新闻网的最新报导")
    assert converted.language == "zh-Hans"


@pytest.mark.usefixtures("demo_loaded")
def test_served_variants_are_stored_feeds_with_their_own_language_and_self_link(
    client: FlaskClient,
) -> None:
    original = client.get("/feeds/tags/yuyao.atom")
    simplified = client.get("/feeds/tags/yuyao.atom?variant=zh-hans")
    assert simplified.status_code == 200
    assert simplified.mimetype == "application/atom+xml"
    assert simplified.headers["ETag"] != original.headers["ETag"]
    root = etree.fromstring(simplified.data)
    assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == "zh-Hans"
    self_link = root.find("{http://www.w3.org/2005/Atom}link[@rel='self']")
    assert self_link.get("href").endswith("/feeds/tags/yuyao.atom?variant=zh-hans")
    entry = feedparser.parse(simplified.data).entries[0]
    assert entry.title == "智能光电小镇发展动能持续提升"
    assert {t.label for t in entry.tags} == {"余姚", "蝶变", "能级"}
    # the same permanent id in every variant: one article, one item
    assert entry.id == feedparser.parse(original.data).entries[0].id

    traditional = feedparser.parse(client.get("/feeds/tags/yuyao.rss?variant=zh-hant").data)
    assert traditional.feed.language == "zh-Hant"
    assert traditional.entries[0].title == "智能光電小鎮發展動能持續提升"

    as_json = json.loads(client.get("/feeds/all.json?variant=zh-hans").data)
    assert as_json["language"] == "zh-Hans"
    assert as_json["feed_url"].endswith("/feeds/all.json?variant=zh-hans")


@pytest.mark.usefixtures("demo_loaded")
def test_variants_revalidate_and_unknown_variants_are_404(client: FlaskClient) -> None:
    first = client.get("/feeds/all.rss?variant=zh-hans")
    again = client.get(
        "/feeds/all.rss?variant=zh-hans", headers={"If-None-Match": first.headers["ETag"]}
    )
    assert again.status_code == 304
    unknown = client.get("/feeds/all.rss?variant=klingon")
    assert unknown.status_code == 404
    assert unknown.mimetype == "application/problem+json"
    assert "zh-hans" in unknown.get_json()["detail"]
