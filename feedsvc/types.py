"""Plain, frozen values that cross layers: feed keys, items, feed metadata, rendered bytes.

Nothing here imports Flask, SQLAlchemy or feedgen, so the pure core (routing, rendering,
text hygiene) can be used and tested on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, get_args

FeedKind = Literal["all", "tag", "section"]
Format = Literal["rss", "atom", "json"]
FORMATS: tuple[Format, ...] = get_args(Format)

MEDIA_TYPES: dict[Format, str] = {
    "rss": "application/rss+xml",
    "atom": "application/atom+xml",
    "json": "application/feed+json",
}


@dataclass(frozen=True, order=True)
class FeedKey:
    """Names one feed independent of format: the site-wide feed, a tag's or a section's."""

    kind: FeedKind
    slug: str = ""

    @classmethod
    def site(cls) -> FeedKey:
        return cls("all", "")

    @classmethod
    def tag(cls, slug: str) -> FeedKey:
        return cls("tag", slug)

    @classmethod
    def section(cls, slug: str) -> FeedKey:
        return cls("section", slug)

    @property
    def path(self) -> str:
        """The URL path without extension, e.g. ``/feeds/tags/yuyao``; also the storage key."""
        if self.kind == "all":
            return "/feeds/all"
        return f"/feeds/{self.kind}s/{self.slug}"

    @classmethod
    def from_path(cls, path: str) -> FeedKey:
        if path == "/feeds/all":
            return cls.site()
        for kind in ("tag", "section"):
            prefix = f"/feeds/{kind}s/"
            if path.startswith(prefix) and len(path) > len(prefix):
                return cls(kind, path[len(prefix) :])
        raise ValueError(f"not a feed path: {path!r}")

    def __str__(self) -> str:
        return self.path


@dataclass(frozen=True)
class Category:
    """A tag as it appears on an item: ``term`` is the slug, ``label`` the display name."""

    term: str
    label: str


@dataclass(frozen=True)
class ItemData:
    """One article as every feed format sees it. Datetimes are time-zone aware."""

    id: str  # the permanent id: Atom id, RSS guid (isPermaLink="false"), JSON Feed id
    title: str
    link: str
    summary: str
    content_html: str
    published: datetime
    updated: datetime
    author: str | None = None
    source: str | None = None  # the publisher, e.g. 信息新報
    language: str | None = None
    categories: tuple[Category, ...] = ()


@dataclass(frozen=True)
class FeedMeta:
    """What a feed says about itself. ``updated`` is data, never the clock."""

    key: FeedKey
    id: str  # permanent feed id (a tag: URI)
    title: str
    description: str
    language: str
    home_url: str  # the alternate (HTML) page
    self_urls: dict[Format, str] = field(hash=False)  # absolute public URL per format
    updated: datetime
    generator: str = "feedsvc"
    tz: str = "Asia/Shanghai"  # times render in this zone


@dataclass(frozen=True)
class Rendered:
    """One feed in one format, as stored and served."""

    body: bytes
    etag: str  # strong validator, quoted: '"…"'
    media_type: str
    item_count: int
