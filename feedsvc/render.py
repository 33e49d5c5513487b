"""Turn one feed (its metadata plus its newest-first items) into RSS 2.0, Atom 1.0 and
JSON Feed 1.1 bytes, each with a strong ETag.

This module owns the wire formats and nothing else: it reads no clock, no database and no
request, so equal inputs always give equal bytes. It is the only module that imports
feedgen, and it is where feedgen's sharp edges are filed down:

* ``add_entry()`` prepends by default, which would reverse our newest-first order;
* feed and entry ``updated``/``lastBuildDate`` default to *now*, so every one is set from data;
* the RSS channel ``<link>`` is whichever ``link()`` call came last;
* naive datetimes raise deep inside feedgen, so all times are checked and moved into
  ``meta.tz`` in one place (``_scrub``) before feedgen sees them;
* control characters and lone surrogates make lxml raise at serialisation, so every text
  field is stripped of XML-invalid characters first;
* RSS ``<author>`` must be an e-mail address, so feedgen silently drops name-only authors;
  we write ``dc:creator`` instead;
* the default generator advertises feedgen and its version, which would change our bytes
  (and ETags) on a library upgrade, so it is overridden.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Sequence
from dataclasses import fields, is_dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from feedsvc.types import FORMATS, MEDIA_TYPES, FeedMeta, Format, ItemData, Rendered

__all__ = ["JSON_FEED_VERSION", "render", "render_all", "strip_xml_invalid", "strong_etag"]

JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"

# The complement of XML 1.0's Char production. Lone surrogates (U+D800-U+DFFF) fall outside
# it too, and they would also break UTF-8 encoding of the JSON Feed.
_XML_INVALID = re.compile(r"[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]")

ATOM_NS = "http://www.w3.org/2005/Atom"
HISTORY_NS = "http://purl.org/syndication/history/1.0"  # RFC 5005
TOMBSTONES_NS = "http://purl.org/atompub/tombstones/1.0"  # RFC 6721

# feedgen formats RSS dates by switching the *process-wide* locale to C and back. Two
# threads interleaving that dance can leave the process stuck in the C locale, so every
# feedgen serialisation in this process goes through one lock.
_FEEDGEN_LOCK = threading.Lock()


def strong_etag(body: bytes) -> str:
    """A strong HTTP validator for ``body``: quoted, first 128 bits of its SHA-256."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def strip_xml_invalid(text: str) -> str:
    """Drop every character XML 1.0 cannot carry (C0 controls, lone surrogates, U+FFFE/F)."""
    return _XML_INVALID.sub("", text)


def render(meta: FeedMeta, items: Sequence[ItemData], fmt: Format) -> Rendered:
    """Render ``items`` (newest first, already limited) as one feed in format ``fmt``.

    Raises ValueError for a naive datetime anywhere in the input or an unknown format.
    """
    clean_meta, clean_items = _prepare(meta, items)
    return _render(clean_meta, clean_items, fmt)


def render_all(meta: FeedMeta, items: Sequence[ItemData]) -> dict[Format, Rendered]:
    """Render the same feed in every format of ``FORMATS``."""
    clean_meta, clean_items = _prepare(meta, items)
    return {fmt: _render(clean_meta, clean_items, fmt) for fmt in FORMATS}


def _render(meta: FeedMeta, items: Sequence[ItemData], fmt: Format) -> Rendered:
    if fmt == "json":
        body = _json_feed(meta, items)
    elif fmt in ("rss", "atom"):
        body = _xml_feed(meta, items, fmt)
    else:
        raise ValueError(f"unknown feed format: {fmt!r}")
    return Rendered(
        body=body, etag=strong_etag(body), media_type=MEDIA_TYPES[fmt], item_count=len(items)
    )


# --- input hygiene: the one place where text is cleaned and times are localised ----------


def _prepare(meta: FeedMeta, items: Sequence[ItemData]) -> tuple[FeedMeta, list[ItemData]]:
    tz = ZoneInfo(meta.tz)
    clean_meta: FeedMeta = _scrub(meta, tz, "meta")
    clean_items: list[ItemData] = [_scrub(it, tz, f"items[{i}]") for i, it in enumerate(items)]
    return clean_meta, clean_items


def _scrub(value: Any, tz: ZoneInfo, where: str) -> Any:
    """Walk a value of types.py recursively: strip every str, localise every datetime.

    Generic on purpose, so a text field added to ItemData later is covered without edits.
    """
    if isinstance(value, str):
        return strip_xml_invalid(value)
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{where} is a naive datetime ({value.isoformat()}); need tz-aware")
        return value.astimezone(tz)
    if isinstance(value, tuple):
        return tuple(_scrub(v, tz, f"{where}[{i}]") for i, v in enumerate(value))
    if isinstance(value, dict):
        return {k: _scrub(v, tz, f"{where}[{k!r}]") for k, v in value.items()}
    if is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: _scrub(getattr(value, f.name), tz, f"{where}.{f.name}") for f in fields(value)
        }
        return replace(value, **changes)
    return value


# --- RSS 2.0 and Atom 1.0 via feedgen ----------------------------------------------------


def _feed_author(meta: FeedMeta) -> str:
    # RFC 4287 wants an author on every entry; a feed-level one covers entries without.
    return meta.title or "feedsvc"


def _xml_feed(meta: FeedMeta, items: Sequence[ItemData], fmt: Format) -> bytes:
    fg = FeedGenerator()
    # Entries only pick up extensions loaded before add_entry(), so load first.
    fg.load_extension("dc")
    fg.id(meta.id)
    fg.title(meta.title)
    # RSS requires a non-empty channel description; a tag feed may not have one.
    fg.description(meta.description or meta.title)
    fg.language(meta.language)  # RSS <language> and Atom xml:lang on <feed>
    fg.updated(meta.updated)  # Atom <updated> and RSS <lastBuildDate>
    fg.generator(meta.generator)  # drops feedgen's uri and version attributes too
    fg.author(name=_feed_author(meta))  # Atom only: feedgen's RSS ignores feed authors
    # RSS <channel><link> is the href of the LAST link() call: self first, alternate last.
    fg.link(href=meta.self_urls[fmt], rel="self", type=MEDIA_TYPES[fmt])
    fg.link(href=meta.home_url, rel="alternate", type="text/html")

    for item in items:
        fe = fg.add_entry(order="append")
        fe.id(item.id)  # also the RSS guid, with isPermaLink="false"
        fe.title(item.title)
        if item.link:
            fe.link(href=item.link, rel="alternate")
        fe.published(item.published)  # Atom <published>, RSS <pubDate>
        fe.updated(item.updated)
        if item.summary:
            fe.summary(item.summary)  # Atom <summary>, RSS <description>
        if item.content_html:
            # type="html" escapes the markup as text; feedgen's "CDATA" is not a valid Atom type.
            fe.content(item.content_html, type="html")  # RSS: <content:encoded>
        if item.author:
            if fmt == "rss":
                fe.dc.dc_creator(item.author)
            else:
                fe.author(name=item.author)
        if item.source:
            fe.dc.dc_publisher(item.source)
        for cat in item.categories:
            # RSS <category> text is the label; Atom gets term=slug and label=name.
            fe.category(term=cat.term, label=cat.label)

    # Registered after the entries: feedgen would try to attach it to each entry as well.
    fg.register_extension("feedsvc", _Extras, BaseEntryExtension)
    fg.feedsvc.meta, fg.feedsvc.fmt = meta, fmt

    with _FEEDGEN_LOCK:
        body: bytes = fg.rss_str(pretty=True) if fmt == "rss" else fg.atom_str(pretty=True)
    return body


class _Extras(BaseExtension):  # type: ignore[misc]
    """What feedgen cannot write: archive links, fh:archive, tombstones, the stylesheet.

    feedgen calls the hooks with the root element before it appends the entries, which is
    where RFC 4287 wants extension elements anyway.
    """

    meta: FeedMeta
    fmt: Format

    def extend_ns(self) -> dict[str, str]:
        # Declare only the namespaces this document uses.
        namespaces = {}
        if self.meta.paging is not None and self.meta.paging.archive:
            namespaces["fh"] = HISTORY_NS
        if self.fmt == "atom" and self.meta.deleted:
            namespaces["at"] = TOMBSTONES_NS
        return namespaces

    def extend_rss(self, root: Any) -> Any:
        self._extend(root, root.find("channel"), f"{{{ATOM_NS}}}link")
        return root

    def extend_atom(self, root: Any) -> Any:
        # feedgen writes Atom elements unqualified under a literal xmlns attribute, so ours
        # follow suit; a qualified name would come out with a stray ns0: prefix.
        self._extend(root, root, "link")
        for gone in self.meta.deleted:
            etree.SubElement(
                root,
                f"{{{TOMBSTONES_NS}}}deleted-entry",
                ref=gone.ref,
                when=gone.when.isoformat(),
            )
        return root

    def _extend(self, root: Any, parent: Any, link_tag: str) -> None:
        meta, fmt = self.meta, self.fmt
        if meta.stylesheet:
            href = meta.stylesheet.replace("&", "&amp;").replace('"', "&quot;")
            root.addprevious(
                etree.ProcessingInstruction("xml-stylesheet", f'type="text/xsl" href="{href}"')
            )
        paging = meta.paging
        if paging is None:
            return
        links = {
            "current": paging.current if paging.archive else None,
            "prev-archive": paging.prev_archive,
            "next-archive": paging.next_archive,
        }
        for rel, urls in links.items():
            if urls is not None:
                etree.SubElement(parent, link_tag, href=urls[fmt], rel=rel, type=MEDIA_TYPES[fmt])
        if paging.archive:
            etree.SubElement(parent, f"{{{HISTORY_NS}}}archive")


# --- JSON Feed 1.1, by hand --------------------------------------------------------------


def _compact(obj: dict[str, Any]) -> dict[str, Any]:
    # JSON Feed readers treat absent and null differently in places; absent is always safe.
    return {k: v for k, v in obj.items() if v not in (None, "", [], {})}


def _json_feed(meta: FeedMeta, items: Sequence[ItemData]) -> bytes:
    feed = _compact(
        {
            "version": JSON_FEED_VERSION,
            "title": meta.title,
            "home_page_url": meta.home_url,
            "feed_url": meta.self_urls["json"],
            "description": meta.description,
            "language": meta.language,
            "authors": [{"name": _feed_author(meta)}],
            # JSON Feed pages towards older items: our previous archive page.
            "next_url": meta.paging.prev_archive["json"]
            if meta.paging and meta.paging.prev_archive
            else None,
        }
    )
    # "items" is required even when empty, so it bypasses _compact.
    feed["items"] = [
        _compact(
            {
                "id": item.id,
                "url": item.link,
                "title": item.title,
                "content_html": item.content_html,
                # JSON Feed 1.1 wants content on every item; without a body, the summary
                # (or the title) stands in as plain text.
                "content_text": None if item.content_html else (item.summary or item.title),
                "summary": item.summary,
                "date_published": item.published.isoformat(),
                "date_modified": item.updated.isoformat(),
                "authors": [{"name": item.author}] if item.author else None,
                "tags": [cat.label for cat in item.categories],
                "language": item.language,
            }
        )
        for item in items
    ]
    # Insertion order above is the key order: stable, and the spec's reading order.
    return (json.dumps(feed, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
