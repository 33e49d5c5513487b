"""Reading an existing RSS 2.0 or Atom 1.0 feed, safely.

Feeds come from outside, so the parser is defusedxml's: a document declaring entities
(billion laughs, quadratic blow-up, external entities) or referring to anything outside
itself is refused with an :class:`IngestError` before any expansion or fetch happens. A
DOCTYPE alone is allowed (old RSS 0.91 files carry one) but is never fetched. Pure: no
framework, no clock, no network.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from xml.etree.ElementTree import Element, ParseError, tostring

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from feedsvc.ingest.sources import IngestError, SourceArticle, SourceDocument

__all__ = ["read_feed"]

ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
DC = "{http://purl.org/dc/elements/1.1/}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_TAG = re.compile(r"<[^>]*>")


def _parse(data: bytes) -> Element:
    try:
        return fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise IngestError(
            f"unsafe feed refused ({type(exc).__name__}): entity declarations and external "
            "references are not accepted"
        ) from exc
    except ParseError as exc:
        raise IngestError(f"not well-formed XML: {exc}") from exc


def _plain(markup: str) -> str:
    return html.unescape(_TAG.sub("", markup)).strip()


def _child_text(parent: Element, tag: str) -> str:
    child = parent.find(tag)
    return (child.text or "").strip() if child is not None else ""


def read_feed(data: bytes) -> SourceDocument:
    """Read RSS 2.0 (``<rss><channel><item>``) or Atom (``<feed><entry>``); raises IngestError."""
    root = _parse(data)
    if root.tag == "rss":
        channel = root.find("channel")
        if channel is None:
            raise IngestError("RSS document without a <channel>")
        language = _child_text(channel, "language")
        return SourceDocument(tuple(_rss_item(i, language) for i in channel.findall("item")))
    if root.tag == f"{ATOM}feed":
        language = root.get(XML_LANG, "")
        return SourceDocument(tuple(_atom_entry(e, language) for e in root.findall(f"{ATOM}entry")))
    raise IngestError(f"not an RSS 2.0 or Atom feed (root element {root.tag!r})")


def _rss_time(raw: str) -> datetime | None:
    if not raw:
        return None
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError) as exc:
        raise IngestError(f"pubDate {raw!r} is not an RFC 822 date") from exc
    # "-0000" means "UTC, local zone unknown"; parsedate_to_datetime returns it naive.
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _rss_item(item: Element, language: str) -> SourceArticle:
    description = _child_text(item, "description")
    content = _child_text(item, f"{CONTENT}encoded") or description
    title = _plain(_child_text(item, "title")) or _plain(description)[:60]
    link = _child_text(item, "link")
    guid = item.find("guid")
    if not link and guid is not None and guid.get("isPermaLink", "true") != "false":
        link = (guid.text or "").strip()
    return SourceArticle(
        title=title,
        summary=_plain(description),
        content_html=content,
        author=_child_text(item, f"{DC}creator") or _child_text(item, "author"),
        link=link,
        language=language,
        published_at=_rss_time(_child_text(item, "pubDate")),
        tags=tuple(t for c in item.findall("category") if (t := (c.text or "").strip())),
    )


def _atom_text(parent: Element, tag: str) -> tuple[str, str]:
    """(kind, value) of an Atom text construct: kind is text, html or xhtml."""
    node = parent.find(tag)
    if node is None:
        return "text", ""
    kind = node.get("type", "text")
    if kind == "xhtml":
        div = node.find("{http://www.w3.org/1999/xhtml}div")
        if div is None:
            return "html", ""
        inner = (div.text or "") + "".join(
            tostring(child, encoding="unicode", default_namespace="http://www.w3.org/1999/xhtml")
            for child in div
        )
        return "html", inner
    return ("html" if kind == "html" else "text"), (node.text or "").strip()


def _as_plain(kind: str, value: str) -> str:
    return _plain(value) if kind == "html" else value


def _as_html(kind: str, value: str) -> str:
    return (
        value
        if kind == "html"
        else "".join(f"<p>{html.escape(p)}</p>" for p in value.split("\n\n") if p)
    )


def _atom_time(raw: str) -> datetime | None:
    if not raw:
        return None
    try:
        when = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise IngestError(f"Atom date {raw!r} is not RFC 3339") from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _atom_entry(entry: Element, language: str) -> SourceArticle:
    title = _as_plain(*_atom_text(entry, f"{ATOM}title"))
    summary = _as_plain(*_atom_text(entry, f"{ATOM}summary"))
    content_kind, content = _atom_text(entry, f"{ATOM}content")
    link = ""
    for node in entry.findall(f"{ATOM}link"):
        if node.get("rel", "alternate") == "alternate" and node.get("href"):
            link = node.get("href", "")
            break
    when = _child_text(entry, f"{ATOM}published") or _child_text(entry, f"{ATOM}updated")
    return SourceArticle(
        title=title,
        summary=summary,
        content_html=_as_html(content_kind, content) if content else "",
        author=_child_text(entry, f"{ATOM}author/{ATOM}name"),
        link=link,
        language=entry.get(XML_LANG, language),
        published_at=_atom_time(when),
        tags=tuple(
            t
            for c in entry.findall(f"{ATOM}category")
            if (t := c.get("label") or c.get("term") or "")
        ),
    )
