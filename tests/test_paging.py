"""Archive paging as tables: where pages are cut, and that nothing is lost or doubled."""

from __future__ import annotations

import pytest

from feedsvc.paging import Entry, Links, Split, links, split


def entries(*sizes: int) -> list[Entry]:
    return [Entry(article_id=n, size=size) for n, size in enumerate(sizes)]


def same(n: int, size: int = 10) -> list[Entry]:
    return entries(*([size] * n))


@pytest.mark.parametrize(
    ("items", "current", "page", "budget", "expected"),
    [
        # fewer items than the current document holds: no archive at all
        (same(3), 5, 2, 1000, Split((), range(0, 0), range(0, 3))),
        (same(0), 5, 2, 1000, Split((), range(0, 0), range(0, 0))),
        # one item past the current window: an open page of one
        (same(6), 5, 2, 1000, Split((), range(0, 1), range(1, 6))),
        # exactly one full page past the window: sealed, nothing open
        (same(7), 5, 2, 1000, Split((2,), range(2, 2), range(2, 7))),
        # two sealed pages and an open one
        (same(10), 5, 2, 1000, Split((2, 4), range(4, 5), range(5, 10))),
        # the byte budget trims the current window (3 x 10 > 25) ...
        (same(4), 5, 5, 25, Split((), range(0, 2), range(2, 4))),
        # ... and cuts pages early when a further item exists to start the next one
        (same(7), 2, 5, 25, Split((2, 4), range(4, 5), range(5, 7))),
        # an item over the budget alone still gets a document of its own
        (entries(10, 100, 10), 1, 5, 50, Split((1,), range(1, 2), range(2, 3))),
        (entries(10, 10, 100), 5, 5, 50, Split((), range(0, 2), range(2, 3))),
    ],
)
def test_split(items: list[Entry], current: int, page: int, budget: int, expected: Split) -> None:
    assert split(items, current, page, budget) == expected


@pytest.mark.parametrize("count", [0, 1, 5, 49, 50, 51, 99, 100, 101, 250, 1000])
@pytest.mark.parametrize(("current", "page"), [(50, 50), (10, 25), (1, 1)])
def test_every_entry_lands_in_exactly_one_document(count: int, current: int, page: int) -> None:
    items = entries(*[(n * 37) % 90 + 5 for n in range(count)])
    result = split(items, current, page, budget=400)
    documents: list[range] = []
    start = 0
    for end in result.sealed_ends:
        documents.append(range(start, end))
        start = end
    documents += [result.open_page, result.current]
    placed = [i for doc in documents for i in doc]
    assert placed == list(range(count))
    for doc in documents[:-2]:  # sealed pages respect both limits (unless one item is bigger)
        assert len(doc) <= page
        assert len(doc) == 1 or sum(items[i].size for i in doc) <= 400
    assert len(result.current) <= current
    if count:
        assert len(result.current) >= 1


def test_sealed_pages_do_not_move_as_items_arrive() -> None:
    """Sealing is decided once: later items only ever add pages after the sealed ones."""
    items = same(300)
    bound, sealed = 0, []
    for arrived in range(1, 301):  # one new item per render, as the scheduler sees them
        result = split(items[bound:arrived], current_items=50, page_items=20, budget=10_000)
        start = 0
        for end in result.sealed_ends:
            sealed.append((bound + start, bound + end))
            start = end
        bound += start
    assert sealed == [(n * 20, n * 20 + 20) for n in range(len(sealed))]
    assert len(sealed) == (300 - 50) // 20


def test_limits_must_allow_an_item() -> None:
    with pytest.raises(ValueError, match="at least one item"):
        split(same(3), 0, 5, 100)


@pytest.mark.parametrize(
    ("page", "pages", "expected"),
    [
        (None, 0, Links(None, None)),
        (None, 3, Links(3, None)),
        (1, 3, Links(None, 2)),
        (2, 3, Links(1, 3)),
        (3, 3, Links(2, None)),
        (1, 1, Links(None, None)),
    ],
)
def test_links(page: int | None, pages: int, expected: Links) -> None:
    assert links(page, pages) == expected
