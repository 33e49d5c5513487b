"""The adversarial corpus: articles built to break feed writers, added beside the demo content.

Everything goes in through `publishing.create_article` / `update_article`, the same path the
editor API takes, so ingest hygiene and rendering are both exercised. `build` returns what
the checks need to know: which articles must be visible and which must be in no feed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from feedsvc import db, demo, publishing
from feedsvc.config import Settings

ADVERSARIAL_TAG = "對抗測試"
HIDDEN_TAG = "不應出現"  # only hidden articles carry it, so its feeds must stay empty
FAR_FUTURE = datetime.fromisoformat("2099-01-01T00:00:00+08:00")
LONG_TITLE = "長" * 9_990 + "標題結尾，共一萬字"
BIG_BODY = "<p>" + "大" * 349_000 + "</p>"  # over 1 MB of UTF-8
RELATIVE_BODY = (
    '<p><a href="/articles/other-story">站內相對連結</a>'
    '<img src="images/photo.jpg" alt="相對圖片"></p>'
)
EMOJI_TITLE = "家庭👨\u200d👩\u200d👧\u200d👦、彩虹🏳️\u200d🌈、工程師👩🏽\u200d💻"
# Hebrew letters that look like Latin ones are the point here, not a typo.
RTL_TITLE = "مرحبا بالعالم · שלום עולם · \u202bמוטבע\u202c · 混排"  # noqa: RUF001


def _published(minute: int) -> datetime:
    # Newer than every demo article, one minute apart, so their order in a feed is known.
    return datetime.fromisoformat(f"2026-02-20T09:{minute:02d}:00+08:00")


# name -> fields given to create_article (status published unless stated).
VISIBLE: dict[str, dict[str, Any]] = {
    "control": {
        "title": "控制字元\x00\x01\x08\x1b\x7f標題",
        "summary": "摘要\x0b含\x0c換頁與\x1f單元分隔",
        "content_html": "<p>正文\x02含\x03控制\x0e字元</p>",
    },
    "surrogates": {
        "title": "孤立代理\ud800項\udfff標題",
        "summary": "摘要\udc00含孤立代理",
        "content_html": "<p>正文\ud83d含孤立代理</p>",
    },
    "cdata": {
        "title": "標題含 ]]> 與 <![CDATA[ 字樣",
        "summary": "摘要 ]]> 結束",
        "content_html": "<p>正文 ]]> 與 ]]&gt; 與 <code>]]></code></p>",
    },
    "script": {
        "title": "腳本<script>alert(1)</script>標題",
        "summary": "摘要<script>alert(2)</script>",
        "content_html": (
            '<p onclick="alert(3)" onmouseover="alert(4)">點擊</p>'
            "<script>alert(5)</script>"
            '<img src="https://news.example.com/a.png" onerror="alert(6)" alt="圖">'
            '<a href="javascript:alert(7)">連結</a>'
            '<svg onload="alert(8)"></svg><style>p{color:red}</style>'
        ),
    },
    "emoji": {
        "title": EMOJI_TITLE,
        "summary": "表情符號🧑\u200d🤝\u200d🧑與膚色👋🏿",
        "content_html": "<p>👨\u200d👩\u200d👧\u200d👦 🇹🇼 🏳️\u200d⚧️</p>",
    },
    "rtl": {
        "title": RTL_TITLE,
        "summary": "\u200fنص من اليمين إلى اليسار\u200e",
        "content_html": '<p dir="rtl">עברית ועربية</p>',
        "language": "ar",
    },
    "long_title": {"title": LONG_TITLE, "summary": "一萬字標題", "content_html": "<p>短</p>"},
    "empty_summary": {"title": "沒有摘要的文章", "summary": "", "content_html": "<p>只有正文</p>"},
    "empty_body": {"title": "只有摘要沒有正文", "summary": "只有摘要", "content_html": ""},
    "no_tags": {"title": "沒有標籤的文章", "summary": "無標籤", "content_html": "<p>無</p>"},
    "relative_links": {
        "title": "正文含相對連結",
        "summary": "相對連結",
        "content_html": RELATIVE_BODY,
    },
    "big_body": {"title": "一百萬位元組的正文", "summary": "大", "content_html": BIG_BODY},
}

HIDDEN: dict[str, dict[str, Any]] = {
    "scheduled": {"title": "尚未到時的排程文章", "status": "scheduled", "published_at": FAR_FUTURE},
    "draft": {"title": "草稿文章", "status": "draft"},
    "retracted": {"title": "已撤回的文章"},  # published, then retracted by an edit
    "born_retracted": {"title": "建立即撤回的文章", "status": "retracted"},
}


@dataclass(frozen=True)
class Corpus:
    visible: dict[str, str]  # name -> uid
    hidden: dict[str, str]  # name -> uid
    ids: dict[str, int]  # name -> article row id


def build(sessions: sessionmaker[Session], settings: Settings, now: datetime) -> Corpus:
    """Load the demo content and the adversarial corpus; the caller renders afterwards."""
    visible: dict[str, str] = {}
    hidden: dict[str, str] = {}
    ids: dict[str, int] = {}
    with db.transaction(sessions) as session:
        demo.load(session, now, settings)
        for minute, (name, fields) in enumerate(VISIBLE.items()):
            tags = [] if name == "no_tags" else [ADVERSARIAL_TAG, f"對抗{name}"]
            article = publishing.create_article(
                session,
                {"status": "published", "published_at": _published(minute), "tags": tags} | fields,
                now,
                settings,
            )
            visible[name], ids[name] = article.uid, article.id
        for name, fields in HIDDEN.items():
            base = {"summary": "不應出現在任何訂閱源", "content_html": "<p>隱藏</p>"}
            extra = {"status": "published", "published_at": _published(59)}
            article = publishing.create_article(
                session,
                base | extra | {"tags": [ADVERSARIAL_TAG, HIDDEN_TAG]} | fields,
                now,
                settings,
            )
            hidden[name], ids[name] = article.uid, article.id
    with db.transaction(sessions) as session:
        publishing.update_article(session, ids["retracted"], {"status": "retracted"}, now, settings)
    return Corpus(visible, hidden, ids)
