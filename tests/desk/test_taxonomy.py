"""Sections and tags on the desk: rule preview, tag rename with a 301, tag merge."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from feedsvc.jobs import Renderer
from feedsvc.models import Article, Section, Tag
from tests.desk.conftest import page_token

pytestmark = pytest.mark.usefixtures("demo_loaded")


def test_rule_preview_lists_the_published_articles_with_any_of_the_tags(
    editor: FlaskClient,
) -> None:
    data = editor.get("/desk/api/rule-preview", query_string={"tags": "余姚，不存在"}).get_json()
    assert [a["title"] for a in data["articles"]] == ["智能光電小鎮發展動能持續提升"]
    assert editor.get("/desk/api/rule-preview?tags=").get_json() == {"articles": []}


def test_an_admin_edits_a_section_rule(admin: FlaskClient, sessions: sessionmaker[Session]) -> None:
    reply = admin.post(
        "/desk/sections/zixunbobao",
        data={
            "csrf_token": page_token(admin, "/desk/sections"),
            "description": "新說明",
            "rule": "余姚，蝶變",
        },
    )
    assert reply.status_code == 302
    with sessions() as session:
        section = session.scalars(select(Section).where(Section.slug == "zixunbobao")).one()
        assert section.description == "新說明"
        assert {t.name for t in section.rule_tags} == {"余姚", "蝶變"}


def test_an_editor_may_not_change_routing_rules(editor: FlaskClient) -> None:
    token = page_token(editor, "/desk/sections")
    reply = editor.post(
        "/desk/sections/zixunbobao", data={"csrf_token": token, "description": "", "rule": "x"}
    )
    assert reply.status_code == 403
    assert "只有管理员" in reply.text
    assert editor.post("/desk/tags/merge", data={"csrf_token": token}).status_code == 403


def test_renaming_a_tag_changes_its_slug_and_the_old_feed_url_redirects(
    admin: FlaskClient, client: FlaskClient, renderer: Renderer, sessions: sessionmaker[Session]
) -> None:
    assert client.get("/feeds/tags/yuyao.rss").status_code == 200
    reply = admin.post(
        "/desk/tags/yuyao/rename",
        data={"csrf_token": page_token(admin, "/desk/tags"), "name": "餘杭"},
    )
    assert reply.status_code == 302
    with sessions() as session:
        tag = session.scalars(select(Tag).where(Tag.name == "餘杭")).one()
        assert tag.slug == "yuhang"
    renderer.tick()
    moved = client.get("/feeds/tags/yuyao.atom")
    assert moved.status_code == 301
    assert moved.headers["Location"] == "/feeds/tags/yuhang.atom"
    assert client.get("/feeds/tags/yuhang.atom").status_code == 200
    assert "已改名" in admin.get("/desk/tags").text


def test_merging_two_tags_moves_the_articles_and_redirects_the_old_feed(
    admin: FlaskClient, client: FlaskClient, renderer: Renderer, sessions: sessionmaker[Session]
) -> None:
    with sessions() as session:
        before = {
            a.id
            for a in session.scalars(select(Article))
            if {"余姚", "蝶變"} & {t.name for t in a.tags}
        }
    reply = admin.post(
        "/desk/tags/merge",
        data={
            "csrf_token": page_token(admin, "/desk/tags"),
            "source": "yuyao",
            "target": "diebian",
        },
    )
    assert reply.status_code == 302
    with sessions() as session:
        assert session.scalar(select(Tag).where(Tag.slug == "yuyao")) is None
        target = session.scalars(select(Tag).where(Tag.slug == "diebian")).one()
        now_tagged = {a.id for a in session.scalars(select(Article)) if target in a.tags}
    assert now_tagged == before
    renderer.tick()
    moved = client.get("/feeds/tags/yuyao.json")
    assert moved.status_code == 301
    assert moved.headers["Location"] == "/feeds/tags/diebian.json"


def test_merging_a_tag_into_itself_is_refused_in_place(admin: FlaskClient) -> None:
    reply = admin.post(
        "/desk/tags/merge",
        data={"csrf_token": page_token(admin, "/desk/tags"), "source": "yuyao", "target": "yuyao"},
        follow_redirects=True,
    )
    assert 'id="tags-error"' in reply.text


@pytest.mark.parametrize(
    ("method", "url", "status", "words"),
    [
        ("GET", "/desk/sections/a%00b", 404, "no slug"),
        ("POST", "/desk/sections/a%00b", 404, "no slug"),
        ("POST", "/desk/tags/a%00b/rename", 404, "no slug"),
        ("GET", "/desk/articles?tag=a%00b", 422, "tag: must not contain NUL"),
        ("GET", "/desk/articles?q=%00", 422, "q: must not contain NUL"),
        ("GET", "/desk/api/tags?q=a%00", 422, "q: must not contain NUL"),
        ("GET", "/desk/preview?feed=/feeds/tags/a%00b", 422, "feed: must not contain NUL"),
    ],
)
def test_nul_in_a_desk_url_is_refused_before_any_query(
    admin: FlaskClient, engine: Engine, method: str, url: str, status: int, words: str
) -> None:
    # PostgreSQL text cannot hold NUL: a query carrying one would be a 500 there.
    data = {"csrf_token": page_token(admin, "/desk/tags"), "name": "新", "rule": ""}
    sent: list[Any] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *rest: Any) -> None:
        sent.append(parameters)

    event.listen(engine, "before_cursor_execute", record)
    try:
        reply = admin.open(url, method=method, data=data if method == "POST" else None)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert reply.status_code == status, reply.text
    assert reply.mimetype == "text/html"  # the desk's own error page
    assert words in reply.text
    assert sent  # the sign-in check ran first
    assert not [p for p in sent if _carries_nul(p)]


def _carries_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(map(_carries_nul, value.values()))
    return isinstance(value, list | tuple) and any(map(_carries_nul, value))
