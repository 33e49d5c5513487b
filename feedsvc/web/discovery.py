"""Feed discovery: the HTML directory of every feed, its OPML twin, and the feed stylesheet.

`GET /feeds` lists the site-wide, section and tag feeds with autodiscovery links in its
head; `GET /feeds.opml` is the same directory for feed readers to import; `GET
/feeds/style.xsl` (with `/feeds/style.css`) makes an RSS or Atom document that names it in
an `xml-stylesheet` instruction readable in a browser. Like the feeds themselves, nothing
here renders a feed: the directory reads the stored renderings' counts and times.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from importlib import resources
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, render_template, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from feedsvc.app import services
from feedsvc.config import Settings
from feedsvc.models import RenderedFeed, Section, Tag
from feedsvc.queries import all_feed_keys
from feedsvc.types import FORMATS, MEDIA_TYPES, FeedKey, Format

bp = Blueprint("discovery", __name__, template_folder="templates")

OPML_DOCS = "http://opml.org/spec2.opml"
# The stylesheet's URL is baked into every stored feed document, so it cannot carry a
# version: a day keeps browsers from refetching it per feed without pinning an old copy.
STATIC_MAX_AGE = 86_400
# URL name -> (file under web/static/, media type)
STATIC = {"style.xsl": ("feed.xsl", "text/xsl"), "style.css": ("feeds.css", "text/css")}
FORMAT_LABELS: dict[Format, str] = {"rss": "RSS", "atom": "Atom", "json": "JSON Feed"}


@dataclass(frozen=True)
class Rendering:
    """What the stored rendering of a feed says: how many items, when it last changed."""

    item_count: int
    last_modified: datetime


@dataclass(frozen=True)
class FeedEntry:
    key: FeedKey
    title: str
    description: str
    urls: dict[Format, str]  # absolute public URL per format
    rendering: Rendering | None  # None: the scheduler has not rendered it yet

    @property
    def anchor(self) -> str:
        return "site" if self.key.kind == "all" else f"{self.key.kind}-{self.key.slug}"


@dataclass(frozen=True)
class TagEntry:
    name: str
    slug: str
    feed: FeedEntry


@dataclass(frozen=True)
class SectionEntry:
    name: str
    slug: str
    description: str
    feed: FeedEntry
    rule: list[TagEntry]  # the tags of the section's rule: any of them routes an article in


@dataclass(frozen=True)
class Directory:
    site: FeedEntry
    sections: list[SectionEntry]
    tags: list[TagEntry]

    def feeds(self) -> list[FeedEntry]:
        """Every feed once: site-wide, then sections, then tags."""
        return [self.site, *(s.feed for s in self.sections), *(t.feed for t in self.tags)]

    @property
    def last_modified(self) -> datetime | None:
        times = [f.rendering.last_modified for f in self.feeds() if f.rendering]
        return max(times, default=None)


def load_directory(session: Session, settings: Settings) -> Directory:
    """Every feed that exists, with its titles (as the renderer writes them) and rendering."""
    keys = all_feed_keys(session)
    renderings = _renderings(session)

    def entry(key: FeedKey, title: str, description: str) -> FeedEntry:
        urls = {fmt: f"{settings.public_base}{key.path}.{fmt}" for fmt in FORMATS}
        return FeedEntry(key, title, description, urls, renderings.get(key.path))

    site = settings.site_title
    tags: dict[str, TagEntry] = {}
    for tag in session.scalars(select(Tag).order_by(Tag.slug)):
        key = FeedKey.tag(tag.slug)
        if key in keys:
            described = f"{settings.site_description}（標籤：{tag.name}）"
            tags[tag.slug] = TagEntry(
                tag.name, tag.slug, entry(key, f"{site}：{tag.name}", described)
            )
    sections: list[SectionEntry] = []
    for section in session.scalars(select(Section).order_by(Section.id)):
        key = FeedKey.section(section.slug)
        if key not in keys:
            continue
        described = section.description or f"{settings.site_description}（{section.name}）"
        feed = entry(key, f"{site}：{section.name}", described)
        rule = [tags[t.slug] for t in section.rule_tags if t.slug in tags]
        sections.append(SectionEntry(section.name, section.slug, section.description, feed, rule))
    site_feed = entry(FeedKey.site(), site, settings.site_description)
    return Directory(site_feed, sections, list(tags.values()))


def _renderings(session: Session) -> dict[str, Rendering]:
    # Every format of a feed renders from the same rows: the RSS row speaks for all three.
    rows = session.execute(
        select(RenderedFeed.key, RenderedFeed.item_count, RenderedFeed.last_modified).where(
            RenderedFeed.format == "rss"
        )
    )
    return {key: Rendering(count, modified) for key, count, modified in rows}


@bp.get("/feeds")
def index() -> Response:
    settings = services().settings
    with services().sessions() as session:
        directory = load_directory(session, settings)
    zone = ZoneInfo(settings.timezone)
    html = render_template(
        "feeds/index.html",
        directory=directory,
        settings=settings,
        base=settings.public_base,
        labels=FORMAT_LABELS,
        media_types=MEDIA_TYPES,
        local=lambda moment: moment.astimezone(zone),
    )
    return _cacheable(Response(html, content_type="text/html; charset=utf-8"), settings)


@bp.get("/feeds.opml")
def opml() -> Response:
    settings = services().settings
    with services().sessions() as session:
        directory = load_directory(session, settings)
    body = opml_document(directory, settings)
    response = Response(body, content_type="text/x-opml; charset=utf-8")
    response.headers["Content-Disposition"] = 'inline; filename="feeds.opml"'
    return _cacheable(response, settings)


def opml_document(directory: Directory, settings: Settings) -> bytes:
    """OPML 2.0: a group for the site-wide feed, one per section, and "標籤" with every tag."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = f"{settings.site_title} 訂閱源"
    if directory.last_modified is not None:
        ET.SubElement(head, "dateModified").text = format_datetime(directory.last_modified)
    ET.SubElement(head, "ownerName").text = settings.site_title
    ET.SubElement(head, "docs").text = OPML_DOCS
    body = ET.SubElement(root, "body")
    _group(body, "全站", [directory.site], settings)
    for section in directory.sections:
        _group(body, section.name, [section.feed, *(t.feed for t in section.rule)], settings)
    _group(body, "標籤", [t.feed for t in directory.tags], settings)
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"


def _group(parent: ET.Element, text: str, feeds: list[FeedEntry], settings: Settings) -> None:
    group = ET.SubElement(parent, "outline", text=text, title=text)
    for feed in feeds:
        ET.SubElement(
            group,
            "outline",
            type="rss",
            version="RSS2",
            text=feed.title,
            title=feed.title,
            description=feed.description,
            language=settings.language,
            xmlUrl=feed.urls["rss"],
            # The page every feed names as its alternate link (see queries.feed_meta).
            htmlUrl=settings.site_url,
        )


@bp.get("/feeds/<any(style.xsl, style.css):name>")
def static_file(name: str) -> Response:
    body, etag = _static(name)
    media_type = STATIC[name][1]
    response = Response(body, content_type=f"{media_type}; charset=utf-8")
    response.headers["Cache-Control"] = f"public, max-age={STATIC_MAX_AGE}"
    response.set_etag(etag)
    response.make_conditional(request)
    return response


@functools.cache  # the files ship with the package: read and hash each once per process
def _static(name: str) -> tuple[bytes, str]:
    body = resources.files("feedsvc").joinpath(f"web/static/{STATIC[name][0]}").read_bytes()
    return body, hashlib.sha256(body).hexdigest()[:32]


def _cacheable(response: Response, settings: Settings) -> Response:
    # Hashing a page of a few kilobytes is cheap and spares readers the transfer.
    response.headers["Cache-Control"] = f"public, max-age={settings.feed_max_age_seconds}"
    response.set_etag(hashlib.sha256(response.get_data()).hexdigest()[:32])
    response.make_conditional(request)
    return response
