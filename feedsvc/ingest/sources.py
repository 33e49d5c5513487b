"""What an importer reads: source articles, source documents, and the portal's JSON.

Readers turn bytes into a :class:`SourceDocument` of raw :class:`SourceArticle` values;
cleaning happens later (``feedsvc.ingest.clean``), so a reader only finds structure. The
feed and plain-text readers live in ``feed.py`` and ``page.py``; ``read_document`` picks
one. Pure: no framework, no clock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any, Literal

__all__ = [
    "FORMATS",
    "Format",
    "IngestError",
    "SourceArticle",
    "SourceDocument",
    "detect_format",
    "read_document",
    "read_json",
]

Format = Literal["json", "feed", "text"]
FORMATS: tuple[Format, ...] = ("json", "feed", "text")


class IngestError(ValueError):
    """The input cannot be read, or is unsafe to read; the message says which and why."""


@dataclass(frozen=True)
class SourceArticle:
    """One article as a source sent it: text not yet cleaned, times already parsed."""

    title: str
    summary: str = ""
    content_html: str = ""
    teaser_title: str = ""
    author: str = ""
    source: str = ""
    original_source: str = ""
    link: str = ""
    language: str = ""
    slug: str = ""
    published_at: datetime | None = None
    tags: tuple[str, ...] = ()
    sections: tuple[str, ...] = ()


@dataclass(frozen=True)
class SourceDocument:
    """Articles in source order, and sections (name, description) the source defines."""

    articles: tuple[SourceArticle, ...]
    sections: tuple[tuple[str, str], ...] = field(default=())


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError(f"not UTF-8 text (byte {exc.start}): convert the file first") from exc


def detect_format(data: bytes) -> Format:
    """Guess the format from the first non-blank characters: `{`/`[` JSON, `<` a feed."""
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if head in (b"{", b"["):
        return "json"
    if head == b"<":
        return "feed"
    return "text"


def read_document(data: bytes, fmt: str = "auto", zone: tzinfo | None = None) -> SourceDocument:
    """Read `data` as `fmt` (auto, json, feed or text); raises IngestError.

    `zone` is the portal's time zone, for page times written without an offset.
    """
    if fmt != "auto" and fmt not in FORMATS:
        raise IngestError(f"unknown format {fmt!r}: use auto, {', '.join(FORMATS)}")
    chosen = detect_format(data) if fmt == "auto" else fmt
    if chosen == "json":
        return read_json(data)
    if chosen == "feed":
        from feedsvc.ingest.feed import read_feed

        return read_feed(data)
    from feedsvc.ingest.page import read_page

    return read_page(_decode(data), zone)


def _text(item: dict[str, Any], name: str, where: str) -> str:
    value = item.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise IngestError(f"{where}: {name} must be a string")
    return value


def _names(item: dict[str, Any], name: str, where: str) -> tuple[str, ...]:
    value = item.get(name)
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise IngestError(f"{where}: {name} must be a list of strings")
    return tuple(value)


def _time(item: dict[str, Any], where: str) -> datetime | None:
    raw = _text(item, "published_at", where)
    if not raw:
        return None
    try:
        when = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise IngestError(f"{where}: published_at {raw!r} is not an ISO 8601 time") from exc
    if when.tzinfo is None:
        raise IngestError(f"{where}: published_at {raw!r} needs an offset, e.g. +08:00")
    return when


def _article(item: Any, where: str) -> SourceArticle:
    if not isinstance(item, dict):
        raise IngestError(f"{where}: must be an object")
    title = _text(item, "title", where)
    if not title.strip():
        raise IngestError(f"{where}: title is required")
    return SourceArticle(
        title=title,
        summary=_text(item, "summary", where),
        content_html=_text(item, "content_html", where),
        teaser_title=_text(item, "teaser_title", where),
        author=_text(item, "author", where),
        source=_text(item, "source", where),
        original_source=_text(item, "original_source", where),
        link=_text(item, "link", where),
        language=_text(item, "language", where),
        slug=_text(item, "slug", where),
        published_at=_time(item, where),
        tags=_names(item, "tags", where),
        sections=_names(item, "sections", where) or _names(item, "section", where),
    )


def read_json(data: bytes) -> SourceDocument:
    """The portal's JSON: ``{"sections": [...], "articles": [...]}`` or a bare list of articles.

    Article fields are those of demo-articles.json (``section`` or ``sections``); unknown
    fields are ignored. Sections are ``{"name", "role"|"description"}`` objects.
    """
    try:
        parsed = json.loads(_decode(data))
    except json.JSONDecodeError as exc:
        raise IngestError(f"not valid JSON: {exc}") from exc
    if isinstance(parsed, list):
        parsed = {"articles": parsed}
    if not isinstance(parsed, dict) or not isinstance(parsed.get("articles"), list):
        raise IngestError('JSON must be a list of articles or an object with an "articles" list')
    articles = tuple(_article(a, f"articles[{i}]") for i, a in enumerate(parsed["articles"]))
    sections: list[tuple[str, str]] = []
    for i, sec in enumerate(parsed.get("sections") or []):
        if not isinstance(sec, dict) or not isinstance(sec.get("name"), str):
            raise IngestError(f"sections[{i}]: must be an object with a name")
        description = sec.get("description") or sec.get("role") or ""
        sections.append((sec["name"], description if isinstance(description, str) else ""))
    return SourceDocument(articles, tuple(sections))
