"""Routing as tables, and the SQL feed queries held to the same rules."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from feedsvc import db, publishing, queries, taxonomy
from feedsvc.config import Settings
from feedsvc.models import Article
from feedsvc.routing import HIDDEN, Placement, SectionRule, affected, feeds_of
from feedsvc.types import FeedKey

SITE = FeedKey.site()
TOURISM = SectionRule("lehuo-hot", frozenset({"jingqu", "bowuguan"}))
NEWS = SectionRule("zixunbobao", frozenset())
RULES = (TOURISM, NEWS)


def tag(slug: str) -> FeedKey:
    return FeedKey.tag(slug)


def section(slug: str) -> FeedKey:
    return FeedKey.section(slug)


def placed(tags: Iterable[str] = (), sections: Iterable[str] = ()) -> Placement:
    return Placement(True, frozenset(tags), frozenset(sections))


@pytest.mark.parametrize(
    ("article", "expected"),
    [
        (placed(), {SITE}),
        (placed({"yuyao"}), {SITE, tag("yuyao")}),
        (placed({"yuyao", "diebian"}), {SITE, tag("yuyao"), tag("diebian")}),
        (placed(sections={"zixunbobao"}), {SITE, section("zixunbobao")}),
        # by rule, without placement
        (placed({"jingqu"}), {SITE, tag("jingqu"), section("lehuo-hot")}),
        # placed and matched: still one membership
        (placed({"bowuguan"}, {"lehuo-hot"}), {SITE, tag("bowuguan"), section("lehuo-hot")}),
        # a rule matches on any one tag
        (placed({"henan", "jingqu"}), {SITE, tag("henan"), tag("jingqu"), section("lehuo-hot")}),
        # placement in a section that has no rule
        (placed({"yuyao"}, {"zixunbobao"}), {SITE, tag("yuyao"), section("zixunbobao")}),
        # invisible articles belong nowhere, whatever their tags
        (Placement(False, frozenset({"jingqu"}), frozenset({"zixunbobao"})), set()),
        (HIDDEN, set()),
    ],
)
def test_feeds_of(article: Placement, expected: set[FeedKey]) -> None:
    assert feeds_of(article, RULES) == expected


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        # tag removed: the feed it leaves is affected as well as those it stays in
        (placed({"a", "b"}), placed({"a"}), {SITE, tag("a"), tag("b")}),
        # tag added
        (placed({"a"}), placed({"a", "c"}), {SITE, tag("a"), tag("c")}),
        # tag swapped into a section's rule: the section is entered
        (placed({"a"}), placed({"jingqu"}), {SITE, tag("a"), tag("jingqu"), section("lehuo-hot")}),
        # published for the first time
        (HIDDEN, placed({"a"}), {SITE, tag("a")}),
        # retracted: every feed it was in must drop it
        (placed({"a"}, {"zixunbobao"}), HIDDEN, {SITE, tag("a"), section("zixunbobao")}),
        # a draft edited: no feed touched
        (Placement(False, frozenset({"a"})), Placement(False, frozenset({"b"})), set()),
    ],
)
def test_affected(before: Placement, after: Placement, expected: set[FeedKey]) -> None:
    assert affected(before, after, RULES) == expected


def test_affected_is_symmetric() -> None:
    a, b = placed({"a", "jingqu"}), placed({"b"}, {"zixunbobao"})
    assert affected(a, b, RULES) == affected(b, a, RULES)


ARTICLES = [
    # (title, status, tags, sections)
    ("一", "published", ["余姚", "蝶變"], ["資訊播報"]),
    ("二", "published", ["景區"], []),
    ("三", "published", ["博物館", "河南"], ["樂活HOT"]),
    ("四", "draft", ["景區"], ["樂活HOT"]),
    ("五", "retracted", ["余姚"], []),
    ("六", "published", [], []),
    ("七", "published", ["河南"], ["資訊播報", "樂活HOT"]),
]


def test_sql_queries_agree_with_routing(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    """Every article is in exactly the feeds routing names, when the SQL selects items."""
    now = datetime(2026, 3, 1, tzinfo=UTC)
    with db.transaction(sessions) as session:
        taxonomy.create_section(session, {"name": "資訊播報"}, now)
        taxonomy.create_section(session, {"name": "樂活HOT", "rule_any_tags": ["景區"]}, now)
        for title, status, tags, sects in ARTICLES:
            fields = {"title": title, "status": status, "tags": tags, "sections": sects}
            if status != "draft":
                fields["published_at"] = now
            publishing.create_article(session, fields, now, settings)

    with sessions() as session:
        rules = queries.section_rules(session)
        keys = queries.all_feed_keys(session)
        by_sql: dict[str, set[FeedKey]] = {}
        for key in keys:
            condition = queries.membership(session, key)
            assert condition is not None
            for article in session.scalars(select(Article).where(condition)):
                by_sql.setdefault(article.title, set()).add(key)
        articles = session.scalars(select(Article))
        by_routing = {
            a.title: set(feeds_of(queries.placement(a), rules))
            for a in articles
            if feeds_of(queries.placement(a), rules)
        }
    assert by_sql == by_routing
    assert by_routing["二"] >= {section("lehuo-hot")}  # routed by rule only
    assert "四" not in by_sql  # draft
    assert "五" not in by_sql  # retracted
