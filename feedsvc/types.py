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

    def document_path(self, page: int | None, variant: str | None = None) -> str:
        """The storage path of a document: the current one (page None) or an RFC 5005
        archive page, in the original script or a variant (zh-hans, zh-hant)."""
        path = self.path if page is None else f"{self.path}/archive/{page}"
        return path if variant is None else f"{path}@{variant}"

    def __str__(self) -> str:
        return self.path


def parse_document_path(path: str) -> tuple[FeedKey, int | None]:
    """Invert FeedKey.document_path (the variant is dropped); ValueError for anything else."""
    path = path.partition("@")[0]
    stem, marker, page = path.rpartition("/archive/")
    if marker and page.isdigit() and not page.startswith("0"):
        return FeedKey.from_path(stem), int(page)
    return FeedKey.from_path(path), None


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
class Paging:
    """RFC 5005 links of one document, as absolute URLs per format."""

    current: dict[Format, str] = field(hash=False)
    prev_archive: dict[Format, str] | None = field(default=None, hash=False)
    next_archive: dict[Format, str] | None = field(default=None, hash=False)
    archive: bool = False  # this document is an archive page (fh:archive)


@dataclass(frozen=True)
class DeletedEntry:
    """An item that was retracted or deleted (RFC 6721 at:deleted-entry)."""

    ref: str  # the item's permanent id
    when: datetime


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
    paging: Paging | None = None
    deleted: tuple[DeletedEntry, ...] = ()  # Atom only
    stylesheet: str | None = None  # an XSLT for people who open RSS or Atom in a browser


@dataclass(frozen=True)
class Rendered:
    """One feed in one format, as stored and served."""

    body: bytes
    etag: str  # strong validator, quoted: '"…"'
    media_type: str
    item_count: int
