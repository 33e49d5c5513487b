"""Finding every feed document there is to check, and fetching each as a reader would.

The starting set is every feed key the database knows times every format; from there any
RFC 5005 archive link (`prev-archive`, `next-archive`, `current`) in an Atom or RSS document
and any JSON Feed `next_url` is followed, so archive pages are checked as soon as they exist.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from lxml import etree

from feedsvc.types import FORMATS, FeedKey

ATOM_NS = "http://www.w3.org/2005/Atom"
ARCHIVE_RELS = ("prev-archive", "next-archive", "current")


@dataclass(frozen=True)
class Document:
    """One served feed document: where it lives, its HTTP content type and its bytes."""

    url: str  # absolute public URL, e.g. http://feeds.test/feeds/all.atom
    path: str  # the path part, as requested
    fmt: str  # "rss" | "atom" | "json"
    content_type: str
    body: bytes
    key: FeedKey  # the feed this document belongs to
    archive: bool  # reached through an archive link rather than being the feed's current URL

    def __str__(self) -> str:
        return self.path

    def json(self) -> Any:
        return json.loads(self.body)

    def xml(self) -> etree._Element:
        return etree.fromstring(self.body, parser=etree.XMLParser(resolve_entities=False))


# (path) -> (status, content type, body)
Fetch = Callable[[str], tuple[int, str, bytes]]


def fmt_of(path: str) -> str:
    return path.rpartition(".")[2]


def linked_urls(doc: Document) -> list[str]:
    """Archive and paging links in `doc`, absolute as written."""
    if doc.fmt == "json":
        nxt = doc.json().get("next_url")
        return [nxt] if isinstance(nxt, str) else []
    found = []
    for link in doc.xml().iter(f"{{{ATOM_NS}}}link"):
        if link.get("rel") in ARCHIVE_RELS and link.get("href"):
            found.append(link.get("href"))
    return found


@dataclass(frozen=True)
class Found:
    documents: list[Document]
    broken: list[str]  # "path: status" of every document that should exist but did not load


def discover(keys: Iterable[FeedKey], base_url: str, fetch: Fetch) -> Found:
    """Fetch every key in every format and follow archive links found on the way.

    A document that should exist but does not answer 200 is recorded in `broken` (and a
    test fails on it) rather than stopping discovery, so every other document is checked.
    """
    pending: list[tuple[str, FeedKey, bool]] = [
        (f"{key.path}.{fmt}", key, False) for key in sorted(keys) for fmt in FORMATS
    ]
    seen = {path for path, _, _ in pending}
    docs: list[Document] = []
    broken: list[str] = []
    while pending:
        path, key, archive = pending.pop(0)
        status, content_type, body = fetch(path)
        if status != 200:
            broken.append(f"{path}: {status}")
            continue
        doc = Document(base_url + path, path, fmt_of(path), content_type, body, key, archive)
        docs.append(doc)
        for url in linked_urls(doc):
            parts = urlsplit(url)
            if f"{parts.scheme}://{parts.netloc}" != base_url:
                broken.append(f"{path}: links to {url}, outside {base_url}")
            elif parts.path not in seen:
                seen.add(parts.path)
                pending.append((parts.path, key, True))
    return Found(docs, broken)
