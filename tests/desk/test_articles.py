"""The article list and editor: saving through publishing, errors in place, appears-in."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from feedsvc import db, publishing
from feedsvc.config import Settings
from feedsvc.models import Article, FeedState
from tests.desk.conftest import page_token

pytestmark = pytest.mark.usefixtures("demo_loaded")


def form(token: str, **fields: str | list[str]) -> dict[str, str | list[str]]:
    data: dict[str, str | list[str]] = {
        "csrf_token": token,
        "title": "",
        "summary": "",
        "content_html": "",
        "author": "",
        "source": "",
        "link": "",
        "language": "",
        "status": "draft",
        "published_at": "",
        "tags": "",
    }
    data.update(fields)
    return data


def test_saving_creates_the_article_with_new_chinese_tags_and_marks_its_feeds(
    editor: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    token = page_token(editor)
    reply = editor.post(
        "/desk/articles/new",
        data=form(
            token,
            title="鄭州新開放三處景區",
            summary="三處景區本周末起免門票開放。",
            content_html="<p>三處景區<script>x()</script>開放。</p>",
            author="記者 王明",
            status="published",
            published_at="2024-03-01T12:05",
            tags="鄭州，景區、余姚",
            sections=["zixunbobao"],
        ),
    )
    assert reply.status_code == 302, reply.text
    article_id = int(re.search(r"/desk/articles/(\d+)", reply.headers["Location"]).group(1))  # type: ignore[union-attr]
    with sessions() as session:
        article = session.get(Article, article_id)
        assert article is not None
        assert article.status == "published"
        assert [t.name for t in article.tags] == sorted(["鄭州", "景區", "余姚"])
        assert "script" not in article.content_html
        # typed in the portal's zone (+08:00), stored as UTC
        assert article.published_at == datetime(2024, 3, 1, 4, 5, tzinfo=UTC)
        assert [s.slug for s in article.sections] == ["zixunbobao"]
        dirty = set(session.scalars(select(FeedState.key).where(FeedState.dirty)))
    assert {"/feeds/all", "/feeds/tags/yuyao", "/feeds/sections/zixunbobao"} <= dirty
    page = editor.get(reply.headers["Location"])
    assert 'id="saved"' in page.text
    assert "鄭州新開放三處景區" in page.text


def test_an_invalid_form_keeps_what_was_typed_and_shows_the_error_beside_the_field(
    editor: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    token = page_token(editor)
    with sessions() as session:
        before = len(session.scalars(select(Article.id)).all())
    reply = editor.post(
        "/desk/articles/new",
        data=form(
            token,
            title="",
            summary="留下的摘要",
            link="ftp://example.com/x",
            tags="保留的標籤",
        ),
    )
    assert reply.status_code == 422
    assert 'id="error-title"' in reply.text
    assert 'id="error-link"' in reply.text
    assert "必须是完整的 http(s) 网址" in reply.text
    assert "留下的摘要" in reply.text
    assert 'value="保留的標籤"' in reply.text
    assert 'value="ftp://example.com/x"' in reply.text
    with sessions() as session:
        assert len(session.scalars(select(Article.id)).all()) == before  # nothing stored


def test_scheduling_without_a_time_is_an_error_on_the_time_field(editor: FlaskClient) -> None:
    reply = editor.post(
        "/desk/articles/new",
        data=form(page_token(editor), title="定時文章", status="scheduled"),
    )
    assert reply.status_code == 422
    assert 'id="error-published_at"' in reply.text


def test_editing_an_existing_article(
    editor: FlaskClient, sessions: sessionmaker[Session], settings: Settings
) -> None:
    with db.transaction(sessions) as session:
        article = publishing.create_article(
            session, {"title": "舊標題", "tags": ["余姚"]}, datetime.now(UTC), settings
        )
        article_id = article.id
    page = editor.get(f"/desk/articles/{article_id}")
    assert 'value="舊標題"' in page.text
    assert 'value="余姚"' in page.text
    reply = editor.post(
        f"/desk/articles/{article_id}",
        data=form(page_token(editor), title="新標題", tags="余姚，蝶變"),
    )
    assert reply.status_code == 302
    with sessions() as session:
        changed = session.get(Article, article_id)
        assert changed is not None
        assert changed.title == "新標題"
        assert {t.name for t in changed.tags} == {"余姚", "蝶變"}


def test_control_characters_are_warned_about_beside_the_field(
    editor: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    reply = editor.post(
        "/desk/articles/new",
        data=form(page_token(editor), title="帶\x01控制\x02字元", summary="Ã¤Â½Â™å§š"),
    )
    assert reply.status_code == 302
    page = editor.get(reply.headers["Location"])
    assert 'id="warning-title-1"' in page.text
    assert "将移除 2 个不可见的控制字符" in page.text
    assert 'id="warning-summary-1"' in page.text
    with sessions() as session:
        assert session.scalar(select(Article.title).where(Article.title == "帶控制字元"))


def test_appears_in_uses_routing_on_what_is_typed(editor: FlaskClient) -> None:
    reply = editor.get(
        "/desk/api/appears-in",
        query_string={"tags": "余姚，全新標籤", "sections": "zixunbobao", "status": "published"},
    )
    assert reply.status_code == 200
    data = reply.get_json()
    assert data["visible"] is True
    keys = {f["key"]: f for f in data["feeds"]}
    assert set(keys) >= {"/feeds/all", "/feeds/tags/yuyao", "/feeds/sections/zixunbobao"}
    new = [f for f in data["feeds"] if f["label"] == "#全新標籤"]
    assert len(new) == 1
    assert new[0]["why"] == "新标签，保存时创建"
    # nothing was stored by asking
    assert editor.get("/desk/api/tags", query_string={"q": "全新"}).get_json()["tags"] == []


def test_appears_in_follows_section_rules(
    editor: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    with sessions() as session:
        from feedsvc.models import Section

        ruled = [s for s in session.scalars(select(Section)) if s.rule_tags]
        assert ruled, "the demo has a section with a rule"
        section, tag = ruled[0], ruled[0].rule_tags[0]
    data = editor.get("/desk/api/appears-in", query_string={"tags": tag.name}).get_json()
    by_key = {f["key"]: f for f in data["feeds"]}
    assert by_key[f"/feeds/sections/{section.slug}"]["why"] == "栏目规则"
    empty = editor.get("/desk/api/appears-in", query_string={"tags": "", "status": "draft"})
    assert empty.get_json() == {
        "visible": False,
        "feeds": [{"key": "/feeds/all", "kind": "all", "label": "全站", "why": "所有已发布文章"}],
    }


def test_appears_in_takes_a_typed_slug_for_a_new_tag_name_as_saving_does(
    editor: FlaskClient,
) -> None:
    # Saving looks tags up by name (taxonomy.tags_by_names): "yuyao" would be a new tag,
    # not 余姚, so the preview must not promise /feeds/tags/yuyao.
    data = editor.get("/desk/api/appears-in", query_string={"tags": "yuyao"}).get_json()
    (tag,) = [f for f in data["feeds"] if f["kind"] == "tag"]
    assert tag["label"] == "#yuyao"
    assert tag["key"] != "/feeds/tags/yuyao"
    assert tag["why"] == "新标签，保存时创建"


def test_tag_suggestions_match_chinese_input(editor: FlaskClient) -> None:
    names = [t["name"] for t in editor.get("/desk/api/tags?q=余").get_json()["tags"]]
    assert "余姚" in names


def test_the_list_filters_and_pages(editor: FlaskClient, sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        total = len(session.scalars(select(Article.id)).all())
    page = editor.get("/desk/articles")
    assert f"共 {total} 篇文章" in page.text
    only_yuyao = editor.get("/desk/articles?tag=yuyao").text
    assert "智能光電小鎮發展動能持續提升" in only_yuyao
    assert "共 1 篇文章" in only_yuyao
    assert "共 0 篇文章" in editor.get("/desk/articles?q=不存在的字串").text
    assert "共 0 篇文章" in editor.get("/desk/articles?status=retracted").text
    by_text = editor.get("/desk/articles?q=智能光電").text
    assert "共 1 篇文章" in by_text


def test_the_list_is_newest_first(editor: FlaskClient, sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        titles = list(
            session.scalars(
                select(Article.title).order_by(Article.published_at.desc(), Article.id.desc())
            )
        )
    body = editor.get("/desk/articles").text
    positions = [body.index(t) for t in titles[:5]]
    assert positions == sorted(positions)


def test_an_unknown_article_is_a_readable_404_page(editor: FlaskClient) -> None:
    reply = editor.get("/desk/articles/999999")
    assert reply.status_code == 404
    assert reply.mimetype == "text/html"
    assert "999999" in reply.text


def test_the_list_pages_by_twenty(
    editor: FlaskClient, sessions: sessionmaker[Session], settings: Settings
) -> None:
    with db.transaction(sessions) as session:
        for n in range(25):
            publishing.create_article(
                session, {"title": f"分頁測試 {n:02d}"}, datetime.now(UTC), settings
            )
    first = editor.get("/desk/articles?q=分頁測試").text
    assert "共 25 篇文章" in first
    assert "第 1 页，共 2 页" in first
    assert first.count("分頁測試 ") == 20
    second = editor.get("/desk/articles?q=分頁測試&page=2").text
    assert second.count("分頁測試 ") == 5
    assert "第 2 页，共 2 页" in second
