"""Feed preview, feed health and the desk's two languages."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from feedsvc import db, publishing
from feedsvc.config import Settings
from feedsvc.models import RenderedFeed
from feedsvc.traffic import TrafficCounter
from feedsvc.web.desk.health import validate

CATALOGUE = Path(__file__).resolve().parents[2] / "feedsvc" / "translations" / "zh_Hans"


@pytest.mark.usefixtures("demo_loaded")
def test_preview_shows_what_the_next_render_will_serve(
    editor: FlaskClient, client: FlaskClient, sessions: sessionmaker[Session], settings: Settings
) -> None:
    with db.transaction(sessions) as session:
        publishing.create_article(
            session,
            {"title": "尚未渲染的新聞", "status": "published", "tags": ["余姚"]},
            datetime.now(UTC),
            settings,
        )
    assert "尚未渲染的新聞" not in client.get("/feeds/tags/yuyao.rss").text  # stored bytes
    page = editor.get("/desk/preview?feed=/feeds/tags/yuyao&format=atom")
    assert page.status_code == 200
    items = page.text.split('id="preview-items"')[1].split('id="preview-raw"')[0]
    assert items.index("尚未渲染的新聞") < items.index("智能光電小鎮發展動能持續提升")
    raw = html.unescape(page.text.split('id="preview-raw">')[1].split("</pre>")[0])
    assert raw.startswith("<?xml")
    assert "<title>尚未渲染的新聞</title>" in raw
    assert "http://www.w3.org/2005/Atom" in raw
    assert editor.get("/desk/preview?feed=/feeds/tags/nothing").status_code == 404


@pytest.mark.usefixtures("demo_loaded")
def test_health_lists_every_feed_with_render_validation_and_traffic(
    app: Flask, editor: FlaskClient, client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    for _ in range(3):
        client.get("/feeds/all.json", headers={"User-Agent": "Feedly/1.0 (88 subscribers)"})
    counter: TrafficCounter = app.extensions["feedsvc_traffic"]
    counter.flush()
    page = editor.get("/desk/health")
    assert page.status_code == 200
    row = re.search(r'<tr data-feed="/feeds/all">(.*?)</tr>', page.text, re.S)
    assert row is not None
    cells = [
        re.sub(r"<[^>]+>", "", c).strip()
        for c in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
    ]
    assert cells[0] == "/feeds/all"
    assert cells[5] == "✓ 有效"
    assert cells[6] == "3"  # requests
    assert cells[9] == "88"  # subscribers
    assert 'id="traffic-chart"' in page.text
    assert len(re.findall(r'<rect class="bar"', page.text)) == 14
    assert '<tr data-feed="/feeds/tags/yuyao">' in page.text


def test_validation_catches_broken_stored_bytes() -> None:
    assert validate("rss", b"<rss version='2.0'><channel/></rss>") is None
    assert validate("rss", b"<rss><channel>") is not None
    assert validate("atom", b"<rss/>") is not None
    assert validate("json", b'{"version": "https://jsonfeed.org/version/1.1", "items": []}') is None
    assert validate("json", b"{}") is not None
    assert validate("json", b"not json") is not None


@pytest.mark.usefixtures("demo_loaded")
def test_health_shows_a_broken_render(editor: FlaskClient, sessions: sessionmaker[Session]) -> None:
    with db.transaction(sessions) as session:
        row = session.scalars(
            select(RenderedFeed).where(
                RenderedFeed.key == "/feeds/all", RenderedFeed.format == "rss"
            )
        ).one()
        row.body = b"<rss><channel>"
    page = editor.get("/desk/health").text
    row_html = re.search(r'<tr data-feed="/feeds/all">(.*?)</tr>', page, re.S)
    assert row_html is not None
    assert 'class="bad"' in row_html.group(1)


def test_the_desk_speaks_chinese_by_default_and_english_on_request(
    editor: FlaskClient,
) -> None:
    page = editor.get("/desk/articles/new")
    assert '<html lang="zh-Hans">' in page.text
    assert "将出现在" in page.text
    english = editor.get("/desk/articles/new?lang=en")
    assert '<html lang="en">' in english.text
    assert "Appears in" in english.text
    assert "Appears in" in editor.get("/desk/articles/new").text  # the choice is remembered
    assert "将出现在" in editor.get("/desk/articles/new?lang=zh_Hans").text


def test_the_catalogue_is_complete_and_compiled() -> None:
    with (CATALOGUE / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        po = read_po(fh)
    with (CATALOGUE / "LC_MESSAGES" / "messages.mo").open("rb") as fh:
        mo = read_mo(fh)
    untranslated = [m.id for m in po if m.id and not m.string]
    assert untranslated == []
    assert not any(m.fuzzy for m in po if m.id)
    assert {m.id: m.string for m in po if m.id} == {m.id: m.string for m in mo if m.id}
