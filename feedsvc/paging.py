"""PURE: how a feed's items are split into the current document and RFC 5005 archive pages.

Items are taken oldest first. Archive page 1 holds the oldest; once a page is full (by item
count or by its byte budget) it is sealed and its last item becomes a stored bound, so later
items never move earlier ones to another page. The items after the last sealed bound are
split between the current document (the newest ones, up to the feed's item count and byte
budget) and, if any remain, one open archive page that fills up until it is sealed in turn.

Every item is in exactly one document: the current one, the open page or a sealed page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    """An item as paging sees it: its place in the feed and its estimated rendered size."""

    article_id: int
    size: int


@dataclass(frozen=True)
class Split:
    """Indices into the entries after the last sealed bound (oldest first)."""

    sealed_ends: tuple[int, ...]  # exclusive end of each newly sealed page, in order
    open_page: range  # entries of the open archive page (may be empty)
    current: range  # entries of the current document, oldest to newest


def split(entries: Sequence[Entry], current_items: int, page_items: int, budget: int) -> Split:
    """Split entries after the last sealed bound, given limits by count and by bytes.

    A document never exceeds `budget` bytes unless a single item does on its own.
    """
    if current_items < 1 or page_items < 1:
        raise ValueError("documents hold at least one item")
    count = 0
    size = 0
    for entry in reversed(entries):
        if count == current_items or (count and size + entry.size > budget):
            break
        count += 1
        size += entry.size
    older = len(entries) - count

    ends: list[int] = []
    start = 0
    while start < older:
        end, size = start, 0
        while end < older and end - start < page_items:
            if end > start and size + entries[end].size > budget:
                break
            size += entries[end].size
            end += 1
        # Full by count, or full by bytes with an item left over for the next page.
        if end - start < page_items and end == older:
            break
        ends.append(end)
        start = end
    return Split(tuple(ends), range(start, older), range(older, len(entries)))


@dataclass(frozen=True)
class Links:
    """Which archive pages a document links to (page numbers; None where there is none)."""

    prev_archive: int | None
    next_archive: int | None


def links(page: int | None, pages: int) -> Links:
    """RFC 5005 neighbours of the current document (page None) or of archive page `page`."""
    if page is None:
        return Links(prev_archive=pages or None, next_archive=None)
    return Links(
        prev_archive=page - 1 if page > 1 else None,
        next_archive=page + 1 if page < pages else None,
    )
