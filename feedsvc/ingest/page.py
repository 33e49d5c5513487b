"""Reading a plain-text news page, as scraped (tests/data/news-page.txt is the model).

The layout understood, line by line::

    title
    發布時間:2022-02-18 18:02:25 文章來源:信息新報        (metadata; either part optional)
    title,keyword,keyword                                 (keywords; the title is dropped)
    paragraph ... (blank lines between)
    (來源:余姚市人民政府網站)                              (the original source)
    標簽:                                                 (then the lead's section)
    資訊播報
    樂活HOT                                               (a list heading)
      • item title                                        (an item of that list)
        teaser title
        summary

Labels are matched even when pinyin annotations sit inside them (`發(fā)布時(shí)間`); values
are returned raw, for the cleaning step to clean and warn about. Pure: no framework.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from feedsvc.ingest.sources import IngestError, SourceArticle, SourceDocument

__all__ = ["read_page"]

_NOTE = r"(?:[(（][^()（）\n]{1,8}[)）])?"  # an annotation that may follow each character


def _label(*words: str) -> str:
    return "(?:" + "|".join("".join(re.escape(c) + _NOTE for c in w) for w in words) + ")"


_COLON = r"\s*[:：]\s*"
_TIME = re.compile(
    _label("發布時間", "发布时间", "時間", "时间")
    + _COLON
    + r"(\d{4})-(\d{1,2})-(\d{1,2})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?"
)
_SOURCE = re.compile(_label("文章來源", "文章来源", "來源", "来源") + _COLON + r"(\S+)")
_ORIGINAL = re.compile(r"^[(（]\s*" + _label("來源", "来源") + _COLON + r"(.+?)\s*[)）]$")
_TAGS_LABEL = re.compile("^" + _label("標簽", "标签", "標籤") + r"\s*[:：]?$")
_BULLET = re.compile(r"^\s*[•·●▪◦*-]\s*(\S.*)$")
_KEYWORD_SPLIT = re.compile(r"\s*[,，、]\s*")


@dataclass
class _Item:
    title: str
    section: str
    details: list[str] = field(default_factory=list)

    def article(self) -> SourceArticle:
        teaser = self.details[0] if len(self.details) > 1 else ""
        summary = "\n".join(self.details[1:] if teaser else self.details)
        return SourceArticle(
            title=self.title,
            teaser_title=teaser,
            summary=summary,
            sections=(self.section,) if self.section else (),
        )


def _when(match: re.Match[str], zone: tzinfo) -> datetime:
    y, mo, d, h, mi, s = (int(g) if g else 0 for g in match.groups())
    try:
        return datetime(y, mo, d, h, mi, s, tzinfo=zone)
    except ValueError as exc:
        raise IngestError(f"publication time {match.group(0)!r} is not a real time") from exc


def read_page(text: str, zone: tzinfo | None = None) -> SourceDocument:
    """Read a plain-text page: its lead article, then the items of its lists.

    Times without an offset are in `zone` (the portal's, Asia/Shanghai, by default).
    """
    zone = zone or ZoneInfo("Asia/Shanghai")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    filled = [line for line in lines if line.strip()]
    if not filled:
        raise IngestError("the page is empty")
    title = filled[0].strip()
    rest = filled[1:]

    published_at = None
    source = ""
    if rest and (_TIME.search(rest[0]) or _SOURCE.search(rest[0])):
        meta = rest.pop(0)
        if time_match := _TIME.search(meta):
            published_at = _when(time_match, zone)
        if source_match := _SOURCE.search(
            meta.replace(time_match.group(0), "") if time_match else meta
        ):
            source = source_match.group(1)

    tags: list[str] = []
    if rest and _KEYWORD_SPLIT.search(rest[0]) and len(rest) > 1:
        words = [w for w in _KEYWORD_SPLIT.split(rest[0].strip()) if w]
        if title in words:  # the keyword line repeats the title first; a paragraph would not
            rest.pop(0)
            tags = [w for w in words if w != title]

    paragraphs: list[str] = []
    original = ""
    while rest and not _TAGS_LABEL.match(rest[0].strip()) and not _BULLET.match(rest[0]):
        line = rest.pop(0).strip()
        if found := _ORIGINAL.match(line):
            original = found.group(1)
            continue
        paragraphs.append(line)

    lead_sections: tuple[str, ...] = ()
    if rest and _TAGS_LABEL.match(rest[0].strip()):
        rest.pop(0)
        if rest and not rest[0][:1].isspace() and not _BULLET.match(rest[0]):
            lead_sections = (rest.pop(0).strip(),)

    items: list[_Item] = []
    heading = ""
    for line in rest:
        if bullet := _BULLET.match(line):
            items.append(_Item(bullet.group(1).strip(), heading))
        elif line[:1].isspace() and items:
            items[-1].details.append(line.strip())
        else:
            heading = line.strip()

    lead = SourceArticle(
        title=title,
        content_html="".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs),
        source=source,
        original_source=original,
        published_at=published_at,
        tags=tuple(tags),
        sections=lead_sections,
    )
    return SourceDocument((lead, *(item.article() for item in items)))
