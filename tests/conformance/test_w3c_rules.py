"""Checker 5: rules the W3C Feed Validation Service applies that feedparser, jing and the JSON
Schema let through. Each rule is one test over every document, so a failure names the rule.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from lxml import etree

from tests.conformance import checks
from tests.conformance.conftest import Rendered
from tests.conformance.documents import Document

Check = Callable[[Document], list[str]]


def run(rendered: Rendered, fmts: tuple[str, ...], check: Check) -> list[str]:
    docs = [d for d in rendered.documents if d.fmt in fmts]
    assert docs, fmts
    return [f"{doc}: {problem}" for doc in docs for problem in check(doc)]


def tree_and_data(doc: Document) -> tuple[etree._Element | None, Any]:
    return (None, doc.json()) if doc.fmt == "json" else (doc.xml(), None)


def self_link(doc: Document) -> list[str]:
    if doc.fmt == "json":
        feed_url = doc.json().get("feed_url")
        return [] if feed_url == doc.url else [f"feed_url {feed_url}, served at {doc.url}"]
    return checks.self_link(doc.xml(), doc.url)


def ids_unique(doc: Document) -> list[str]:
    root, data = tree_and_data(doc)
    return checks.unique(checks.document_ids(doc.fmt, root, data), "id")


def content_urls_absolute(doc: Document) -> list[str]:
    root, data = tree_and_data(doc)
    fragments = checks.content_fragments(doc.fmt, root, data)
    return [url for html in fragments for url in checks.relative_urls(html)]


def languages(doc: Document) -> list[str]:
    root, data = tree_and_data(doc)
    return checks.languages(doc.fmt, root, data)


RULES: dict[str, tuple[tuple[str, ...], Check]] = {
    "self link is the URL served": (("rss", "atom", "json"), self_link),
    "RSS dates are RFC 822 with a numeric zone": (("rss",), lambda d: checks.rss_dates(d.xml())),
    "Atom dates are RFC 3339": (("atom",), lambda d: checks.atom_dates(d.xml())),
    "guid isPermaLink is honest": (("rss",), lambda d: checks.guids(d.xml())),
    "ids are unique in a document": (("rss", "atom", "json"), ids_unique),
    "Atom entries have updated and an author": (
        ("atom",),
        lambda d: checks.atom_entries_complete(d.xml()),
    ),
    "only known, declared namespaces": (
        ("rss", "atom"),
        lambda d: checks.namespaces(d.body, d.fmt),
    ),
    "nothing before the XML declaration": (
        ("rss", "atom"),
        lambda d: checks.starts_with_declaration(d.body),
    ),
    "HTTP charset is the document's encoding": (
        ("rss", "atom", "json"),
        lambda d: checks.charset_matches(d.content_type, d.body, d.fmt),
    ),
    "RSS channel has title, link and description": (
        ("rss",),
        lambda d: checks.rss_channel(d.xml()),
    ),
    "language values are RFC 5646 tags": (("rss", "atom", "json"), languages),
}


@pytest.mark.parametrize("rule", list(RULES))
def test_every_document_follows(rendered: Rendered, rule: str) -> None:
    fmts, check = RULES[rule]
    assert run(rendered, fmts, check) == []


def test_urls_in_content_are_absolute(rendered: Rendered) -> None:
    assert run(rendered, ("rss", "atom", "json"), content_urls_absolute) == []


def test_archive_pages_follow_rfc_5005(rendered: Rendered) -> None:
    """RFC 5005 section 4's MUSTs: an archive page carries fh:archive and the subscription
    document does not; every archive page but the oldest links to its prev-archive."""
    problems = []
    for doc in rendered.documents:
        if doc.fmt == "json":
            continue  # JSON Feed has next_url only; discovery follows it
        root = doc.xml()
        marked = root.find(f".//{{{checks.HISTORY_NS}}}archive") is not None
        if marked != doc.archive:
            problems.append(f"{doc}: fh:archive {'present' if marked else 'missing'}")
        rels = {link.get("rel") for link in root.iter(f"{checks.A}link")}
        if doc.archive and "prev-archive" not in rels and not doc.path.endswith("/1." + doc.fmt):
            problems.append(f"{doc}: archive page without prev-archive")
    assert problems == []
