"""Tests for feedsvc.ingest: cleaning dirty source text, the readers, the importer, the CLI
command and the API's ?clean=source option.

The seed page (tests/data/news-page.txt, copied from the shared seeds) is the real thing: a
scraped page with 313 pinyin annotations, two GBK mojibake runs and private-use characters.
Its cleaned form is feedsvc/data/demo-articles.json.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from feedsvc import db
from feedsvc.cli import main
from feedsvc.config import Settings
from feedsvc.ingest import (
    IngestError,
    clean_fields,
    clean_source_text,
    detect_format,
    read_document,
)
from feedsvc.ingest.importer import import_document
from feedsvc.models import Article

DATA = Path(__file__).parent / "data"
SEED = DATA / "news-page.txt"
DEMO = Path(__file__).parent.parent / "feedsvc" / "data" / "demo-articles.json"
RUN_1 = "?;\ue1e5l"  # 模化發, in 規(guī)?;l(fā)展
RUN_2 = "?dòng)浾邚暮幽鲜≌\ue47f\ue189少従W"  # 記者從河南省政府采購網
ANNOTATION = re.compile(r"[(（][a-zāáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜü]{1,6}[)）]")
NOW = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)


def seed_text() -> str:
    return SEED.read_text(encoding="utf-8")


def demo_articles() -> list[dict[str, Any]]:
    articles: list[dict[str, Any]] = json.loads(DEMO.read_text(encoding="utf-8"))["articles"]
    return articles


class _Paragraphs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "p":
            self._inside = True
            self.found.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":
            self._inside = False

    def handle_data(self, data: str) -> None:
        if self._inside:
            self.found[-1] += data


def paragraph_texts(html: str) -> list[str]:
    """The text content of each <p>, entities decoded, markup ignored."""
    parser = _Paragraphs()
    parser.feed(html)
    return [p.strip() for p in parser.found]


# --- clean_source_text ----------------------------------------------------------------------


def test_the_seed_page_loses_every_annotation_and_both_runs_are_repaired() -> None:
    raw = seed_text()
    cleaned = clean_source_text(raw)
    assert raw.count("(") - cleaned.text.count("(") == 313  # every "(" removed was an annotation
    assert cleaned.pinyin_removed == 313
    assert not ANNOTATION.search(cleaned.text)
    assert [w.kind for w in cleaned.warnings] == ["mojibake-repaired", "mojibake-repaired"]
    first, second = cleaned.warnings
    assert cleaned.text[first.start : first.end] == "模化發"
    assert first.excerpt == RUN_1
    assert cleaned.text[second.start : second.end] == "記者從河南省政府采購網"
    assert second.excerpt == RUN_2
    assert "'模' was inferred" in first.message
    assert "'記' was inferred" in second.message
    assert "規模化發展格局" in cleaned.text
    assert "大象新聞記者從河南省政府采購網上看到" in cleaned.text
    assert not re.search("[\ue000-\uf8ff]", cleaned.text)  # the PUA characters were run debris


@pytest.mark.parametrize(
    ("raw", "expected", "removed"),
    [
        ("發(fā)展", "發展", 1),
        ("發（fā）展", "發展", 1),
        ("(來源:余姚市人民政府網站)", "(來源:余姚市人民政府網站)", 0),
        ("第(1)條", "第(1)條", 0),
        ("光電(Photonics)", "光電(Photonics)", 0),
        ("我(fā)", "我(fā)", 0),  # not a reading of 我: an annotation is never guessed
        ("樂(lè)與樂(yuè)", "樂與樂", 2),  # both readings of a polyphone
        ("(fā)展", "(fā)展", 0),  # nothing before it to annotate
        ("什麼(me)", "什麼", 1),  # the neutral tone has no mark but is a reading
    ],
)
def test_pinyin_annotations_are_removed_and_real_parentheses_kept(
    raw: str, expected: str, removed: int
) -> None:
    cleaned = clean_source_text(raw)
    assert cleaned.text == expected
    assert cleaned.pinyin_removed == removed
    assert cleaned.warnings == ()


def test_positions_are_offsets_into_the_cleaned_text() -> None:
    cleaned = clean_source_text("發(fā)展規(guī)" + RUN_1 + "(fā)展")
    assert cleaned.text == "發展規模化發展"
    (warning,) = cleaned.warnings
    assert (warning.start, warning.end) == (3, 6)
    assert warning.field == ""


def test_a_run_that_cannot_be_recovered_is_kept_verbatim_and_warned() -> None:
    # Two lost bytes: the dictionary would have to guess twice, so nothing is guessed.
    raw = "規(guī)??;\ue1e5l(fā)展"
    cleaned = clean_source_text(raw)
    (warning,) = cleaned.warnings
    assert warning.kind == "mojibake"
    assert cleaned.text == "規??;\ue1e5l(fā)展"  # the run and its torn annotation stay
    assert cleaned.text[warning.start : warning.end] == warning.excerpt == "??;\ue1e5l"
    assert "fix it by hand" in warning.message


def test_replacement_character_soup_is_flagged_not_repaired() -> None:
    cleaned = clean_source_text("標題锟斤拷锟斤拷正文")
    (warning,) = cleaned.warnings
    assert warning.kind == "mojibake"
    assert cleaned.text[warning.start : warning.end] == "锟斤拷锟斤拷"


def test_utf8_read_as_gbk_is_reversed() -> None:
    garbled = "發布時間和地點".encode().decode("gbk", errors="replace")
    cleaned = clean_source_text(f"會議{garbled}。")
    kinds = [w.kind for w in cleaned.warnings]
    assert kinds[0] == "mojibake-repaired"
    assert cleaned.text.startswith("會議發布時間和地")
    # 7 characters are 21 UTF-8 bytes: the odd last byte was lost, and that part is flagged
    assert kinds[1:] == ["mojibake"]


def test_private_use_characters_outside_runs_are_flagged_and_kept() -> None:
    cleaned = clean_source_text("余姚\ue000新聞")
    assert cleaned.text == "余姚\ue000新聞"
    (warning,) = cleaned.warnings
    assert (warning.kind, warning.start, warning.end) == ("private-use", 2, 3)
    assert "U+E000" in warning.message


def test_xml_invalid_characters_are_removed_silently() -> None:
    cleaned = clean_source_text("余\x00姚\x0b新\ufffe聞")
    assert cleaned.text == "余姚新聞"
    assert cleaned.invalid_removed == 3
    assert cleaned.clean


def test_clean_chinese_text_passes_untouched() -> None:
    # The editor-cleaned demo content, with its ASCII question marks between Han characters
    # and a rare character alone, must not trip the detector.
    for article in demo_articles():
        for name in ("title", "summary", "content_html"):
            value = article.get(name) or ""
            cleaned = clean_source_text(value)
            assert cleaned.warnings == (), (name, value[:20])
            assert cleaned.text == value
    assert clean_source_text("周末去哪玩?哪個景區邚優惠").clean


def test_clean_fields_names_the_field_and_positions_match_the_stored_value() -> None:
    fields, warnings, removed = clean_fields(
        {"title": "  規(guī)" + RUN_1 + "(fā)展  ", "summary": "甲", "content_html": "<p>x</p>"}
    )
    assert fields["title"] == "規模化發展"
    (warning,) = warnings
    assert warning.field == "title"
    assert fields["title"][warning.start : warning.end] == "模化發"
    assert removed == 2
    assert warning.to_json()["field"] == "title"


# --- readers --------------------------------------------------------------------------------


def test_the_page_reader_finds_the_lead_article_and_ten_list_items() -> None:
    document = read_document(SEED.read_bytes())
    lead, *items = document.articles
    assert len(items) == 10
    assert lead.published_at == datetime(
        2022, 2, 18, 18, 2, 25, tzinfo=timezone(timedelta(hours=8))
    )
    assert clean_source_text(lead.source).text == "信息新報"
    assert clean_source_text(lead.original_source).text == "余姚市人民政府網站"
    assert [clean_source_text(t).text for t in lead.tags] == ["余姚", "蝶變", "能級"]
    assert [clean_source_text(s).text for s in lead.sections] == ["資訊播報"]
    expected = demo_articles()[1:]
    for item, demo in zip(items, expected, strict=True):
        assert clean_source_text(item.title).text == demo["title"]
        assert clean_source_text(item.teaser_title).text == demo["teaser_title"]
        assert [clean_source_text(s).text for s in item.sections] == ["樂活HOT"]


def test_the_portal_json_reads_into_articles_and_sections() -> None:
    document = read_document(DEMO.read_bytes())
    assert len(document.articles) == 11
    assert document.articles[0].slug == "zhineng-guangdian-xiaozhen-fazhan-dongneng"
    assert document.articles[0].sections == ("資訊播報",)
    assert document.sections[1][0] == "樂活HOT"
    assert document.sections[1][1].startswith("lifestyle:")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"articles": [', "not valid JSON"),
        (b'{"items": []}', '"articles" list'),
        (b'[{"summary": "x"}]', "title is required"),
        (b'[{"title": "t", "published_at": "2022-02-18T18:02:25"}]', "needs an offset"),
        (b'[{"title": "t", "tags": [1]}]', "list of strings"),
        (b"\xff\xfe[]", "not UTF-8"),
    ],
)
def test_bad_json_is_refused_with_a_clear_message(raw: bytes, message: str) -> None:
    with pytest.raises(IngestError, match=re.escape(message)):
        read_document(raw, "json")


RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
     xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel><title>t</title><link>https://src.example.org/</link><language>zh-Hant</language>
<item><title>智能光電小鎮(zhèn)發展</title><link>https://src.example.org/a/1.html</link>
<description>&lt;p&gt;規(guī)?;\ue1e5l(fā)展&lt;/p&gt;</description>
<content:encoded><![CDATA[<p>正文<a href="../b/2.html">下一篇</a><img src="/i.png"></p>]]>
</content:encoded>
<dc:creator>記者 王明</dc:creator><category>余姚</category><category>能級</category>
<pubDate>Fri, 18 Feb 2022 18:02:25 +0800</pubDate></item>
</channel></rss>"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="zh-Hant"><title>t</title>
<entry><title type="html">&lt;b&gt;鄭州&lt;/b&gt;景區</title>
<link rel="alternate" href="https://src.example.org/z"/><published>2022-02-18T10:02:25Z</published>
<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>三處景區<b>免門票</b></p></div></content>
<category term="jingqu" label="景區"/><author><name>王明</name></author></entry></feed>"""


def test_an_rss_feed_is_read() -> None:
    (item,) = read_document(RSS.encode(), "auto").articles
    assert item.title == "智能光電小鎮(zhèn)發展"
    assert item.summary == "規(guī)?;\ue1e5l(fā)展"
    assert item.content_html.startswith("<p>正文<a href")
    assert (item.author, item.link, item.language) == (
        "記者 王明",
        "https://src.example.org/a/1.html",
        "zh-Hant",
    )
    assert item.tags == ("余姚", "能級")
    assert item.published_at == datetime(2022, 2, 18, 10, 2, 25, tzinfo=UTC)


def test_an_atom_feed_is_read() -> None:
    (entry,) = read_document(ATOM.encode()).articles
    assert entry.title == "鄭州景區"
    assert paragraph_texts(entry.content_html) == ["三處景區免門票"]
    assert (entry.link, entry.author, entry.tags) == (
        "https://src.example.org/z",
        "王明",
        ("景區",),
    )
    assert entry.published_at == datetime(2022, 2, 18, 10, 2, 25, tzinfo=UTC)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>
<rss version="2.0"><channel><item><title>&d;</title></item></channel></rss>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><item><title>&secret;</title></item></channel></rss>"""


@pytest.mark.parametrize("document", [BILLION_LAUGHS, EXTERNAL_ENTITY])
def test_entity_tricks_are_refused(document: bytes) -> None:
    with pytest.raises(IngestError, match="unsafe feed refused"):
        read_document(document)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"<rss><channel><item>", "not well-formed XML"),
        (b"<html><body/></html>", "not an RSS 2.0 or Atom feed"),
        (b"<rss/>", "without a <channel>"),
    ],
)
def test_bad_feeds_are_refused(raw: bytes, message: str) -> None:
    with pytest.raises(IngestError, match=re.escape(message)):
        read_document(raw, "feed")


def test_formats_are_detected_and_unknown_ones_refused() -> None:
    assert [detect_format(b) for b in (b' \n{"a":1}', b"[]", b"\xef\xbb\xbf<rss/>", b"x")] == [
        "json",
        "json",
        "feed",
        "text",
    ]
    with pytest.raises(IngestError, match="unknown format"):
        read_document(b"x", "yaml")


def test_the_ingest_package_is_pure() -> None:
    probe = (
        "import sys, feedsvc.ingest, feedsvc.ingest.feed, feedsvc.ingest.page\n"
        "print(','.join(m for m in ('flask', 'sqlalchemy', 'jieba') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


# --- importing into the database ------------------------------------------------------------


def import_file(
    sessions: sessionmaker[Session], settings: Settings, path: Path, publish: bool = False
) -> Any:
    document = read_document(path.read_bytes())
    with db.transaction(sessions) as session:
        return import_document(session, document, NOW, settings, publish=publish)


def stored(sessions: sessionmaker[Session], article_id: int) -> Article:
    with sessions() as session:
        article = session.get(Article, article_id)
        assert article is not None
        session.expunge(article)
        return article


def test_importing_the_seed_page_gives_the_demo_articles(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    report = import_file(sessions, settings, SEED, publish=True)
    lead, *items = report.articles
    demo_lead, *demo_items = demo_articles()
    assert len(items) == 10

    # The lead article's text equals the demo's: paragraph by paragraph, text content only.
    article = stored(sessions, lead.id)
    assert paragraph_texts(article.content_html) == paragraph_texts(demo_lead["content_html"])
    assert (article.title, article.source, article.original_source) == (
        demo_lead["title"],
        demo_lead["source"],
        demo_lead["original_source"],
    )
    assert article.published_at is not None
    assert article.published_at.astimezone(UTC) == datetime(2022, 2, 18, 10, 2, 25, tzinfo=UTC)

    # One warning per mojibake run on the page, each where the run was.
    warned = [(a.title, w) for a in report.articles for w in a.warnings]
    assert len(warned) == 2
    (_, first), (_, second) = warned
    assert (first.field, first.kind, first.excerpt) == ("content_html", "mojibake-repaired", RUN_1)
    assert article.content_html[first.start : first.end] == "模化發"
    assert (second.field, second.excerpt) == ("summary", RUN_2)
    item = stored(sessions, items[0].id)
    assert item.summary[second.start : second.end] == "記者從河南省政府采購網"

    # Articles with warnings are drafts even with --publish; the clean ones are published.
    assert [a.status for a in report.articles] == ["draft", "draft"] + ["published"] * 9
    for imported, demo in zip(items, demo_items, strict=True):
        row = stored(sessions, imported.id)
        assert row.title == demo["title"]
        if imported is items[0]:
            # The bytes say 采 (GBK B2C9); the demo's editor wrote 採 in this one summary.
            assert row.summary == demo["summary"].replace("採購網", "采購網")
        else:
            assert row.summary == demo["summary"]
        assert paragraph_texts(row.content_html) == [row.summary]
    with sessions() as session:
        tags = {t.name for t in session.get(Article, lead.id).tags}  # type: ignore[union-attr]
    assert tags == {"余姚", "蝶變", "能級"}


def test_without_publish_every_article_is_a_draft(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    report = import_file(sessions, settings, DEMO)
    assert {a.status for a in report.articles} == {"draft"}
    assert len(report.articles) == 11
    assert all(not a.warnings for a in report.articles)


def test_relative_urls_in_imported_bodies_become_absolute(
    sessions: sessionmaker[Session], settings: Settings, tmp_path: Path
) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_text(RSS, encoding="utf-8")
    (imported,) = import_file(sessions, settings, feed).articles
    body = stored(sessions, imported.id).content_html
    assert 'href="https://src.example.org/b/2.html"' in body
    assert 'src="https://src.example.org/i.png"' in body
    source = tmp_path / "page.json"
    source.write_text(json.dumps([{"title": "甲", "content_html": '<img src="p/1.png">'}]))
    (imported,) = import_file(sessions, settings, source).articles
    assert f'src="{settings.site_url}/p/1.png"' in stored(sessions, imported.id).content_html


# --- the CLI command ------------------------------------------------------------------------


def run_import(database_url: str, *args: str) -> Any:
    runner = CliRunner()
    env = {"FEEDSVC_DATABASE_URL": database_url, "FEEDSVC_LOG_LEVEL": "WARNING"}
    return runner.invoke(main, ["import", *args], env=env, catch_exceptions=False)


def article_total(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(Article)) or 0


def test_the_import_command_prints_articles_and_warnings(
    database_url: str, sessions: sessionmaker[Session]
) -> None:
    result = run_import(database_url, str(SEED), "--format", "text", "--publish")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    rows = [line.split("\t") for line in lines if re.match(r"\d+\t", line)]
    assert len(rows) == 11
    assert [r[2] for r in rows[:3]] == ["draft", "draft", "published"]
    warnings = [line for line in lines if line.startswith("  warning ")]
    assert len(warnings) == 2
    assert warnings[0].startswith("  warning content_html[")
    assert "mojibake-repaired" in warnings[0]
    assert warnings[1].startswith("  warning summary[10:21] mojibake-repaired")
    assert article_total(sessions) == 11


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (BILLION_LAUGHS, "unsafe feed refused"),
        (b"\xb9\xe6\xc4\xa3", "not UTF-8"),
        (b"<rss><channel>", "not well-formed XML"),
    ],
)
def test_the_import_command_refuses_bad_input_and_stores_nothing(
    database_url: str,
    sessions: sessionmaker[Session],
    tmp_path: Path,
    content: bytes,
    message: str,
) -> None:
    path = tmp_path / "input"
    path.write_bytes(content)
    result = run_import(database_url, str(path))
    assert result.exit_code == 1
    assert message in result.output
    assert article_total(sessions) == 0


def test_the_import_command_reports_a_missing_file(database_url: str, tmp_path: Path) -> None:
    result = run_import(database_url, str(tmp_path / "nowhere.json"))
    assert result.exit_code != 0
    assert "nowhere.json" in result.output


def test_a_failing_article_rolls_back_the_whole_file(
    database_url: str, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    path = tmp_path / "two.json"
    twice = {"title": "甲", "slug": "same"}
    path.write_text(json.dumps([twice, twice]), encoding="utf-8")
    result = run_import(database_url, str(path))
    assert result.exit_code == 1
    assert "nothing imported" in result.output
    assert "same" in result.output
    assert article_total(sessions) == 0


# --- the API option -------------------------------------------------------------------------


def post_source(client: FlaskClient, auth: dict[str, str], body: dict[str, Any]) -> Any:
    return client.post("/api/articles?clean=source", json=body, headers=auth)


def test_the_api_cleans_and_holds_an_article_with_warnings(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    response = post_source(
        client,
        auth,
        {
            "title": "小鎮規(guī)" + RUN_1 + "(fā)展",
            "summary": "發(fā)布",
            "content_html": '<p>正文</p><a href="/a/1">more</a>',
            "link": "https://src.example.org/x/y.html",
            "status": "published",
        },
    )
    assert response.status_code == 201
    body = response.get_json()
    assert (body["title"], body["summary"], body["status"]) == ("小鎮規模化發展", "發布", "draft")
    assert body["held_as_draft"] is True
    (warning,) = body["warnings"]
    assert warning["field"] == "title"
    assert warning["kind"] == "mojibake-repaired"
    assert body["title"][warning["start"] : warning["end"]] == "模化發"
    assert 'href="https://src.example.org/a/1"' in body["content_html"]


def test_the_api_publishes_despite_warnings_only_when_told(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    body = {"title": "余姚\ue000新聞", "status": "published", "accept_warnings": True}
    response = post_source(client, auth, body)
    assert response.status_code == 201
    answer = response.get_json()
    assert answer["status"] == "published"
    assert answer["held_as_draft"] is False
    assert [w["kind"] for w in answer["warnings"]] == ["private-use"]
    clean = post_source(client, auth, {"title": "發(fā)展", "status": "published"}).get_json()
    assert (clean["title"], clean["status"], clean["warnings"]) == ("發展", "published", [])


def test_the_api_refuses_unknown_cleaning_and_stray_confirmation(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    response = client.post("/api/articles?clean=magic", json={"title": "甲"}, headers=auth)
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "clean"
    response = client.post(
        "/api/articles", json={"title": "甲", "accept_warnings": True}, headers=auth
    )
    assert response.status_code == 422
