"""The hand-written checks catch what they claim to: each is shown a small document that
breaks its rule (and one that keeps it), so a check that silently passes everything fails here.
"""

from __future__ import annotations

import pytest
from lxml import etree

from tests.conformance import checks

ATOM_HEAD = '<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:f</id><title>t</title>'
ENTRY = "<entry><id>urn:e</id><title>e</title><updated>2026-01-01T00:00:00Z</updated>{}</entry>"


def atom(feed_extra: str = "", entry_extra: str = "") -> etree._Element:
    return etree.fromstring(f"{ATOM_HEAD}{feed_extra}{ENTRY.format(entry_extra)}</feed>")


def rss(channel: str) -> etree._Element:
    return etree.fromstring(f'<rss version="2.0"><channel>{channel}</channel></rss>')


def test_schematron_feed_author_rule() -> None:
    link = '<link href="http://x/"/>'
    assert checks.atom_schematron(atom(entry_extra=link)) == [
        "atom:feed has no atom:author and not all of its atom:entry children have one",
        "entry urn:e: no atom:author and its feed has none",
    ]
    assert checks.atom_schematron(atom("<author><name>a</name></author>", link)) == []
    assert checks.atom_schematron(atom(entry_extra=link + "<author><name>a</name></author>")) == []


def test_schematron_entry_content_or_alternate_rule() -> None:
    author = "<author><name>a</name></author>"
    (problem,) = checks.atom_schematron(atom(author, '<link rel="self" href="http://x/"/>'))
    assert "no alternate atom:link and no atom:content" in problem
    assert checks.atom_schematron(atom(author, '<link rel="alternate" href="http://x/"/>')) == []
    assert checks.atom_schematron(atom(author, "<content>c</content>")) == []


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("Fri, 01 Mar 2024 12:05:06 +0800", True),
        ("Fri, 1 Mar 2024 12:05:06 -0500", True),
        ("Fri, 01 Mar 2024 12:05:06 GMT", False),
        ("Fri, 01 Mar 2024 12:05:06 CST", False),
        ("Fri, 01 Mar 24 12:05:06 +0800", False),
        ("2024-03-01T12:05:06+08:00", False),
    ],
)
def test_rss_dates(value: str, ok: bool) -> None:
    root = rss(f"<lastBuildDate>{value}</lastBuildDate>")
    assert (checks.rss_dates(root) == []) == ok


def test_atom_dates_need_an_offset() -> None:
    assert checks.atom_dates(atom()) == []
    naive = atom().find(f"{checks.A}entry")
    assert naive is not None
    updated = naive.find(f"{checks.A}updated")
    assert updated is not None
    updated.text = "2026-01-01T00:00:00"
    assert checks.atom_dates(naive) != []


def test_guid_permalink_semantics() -> None:
    assert checks.guids(rss('<item><guid isPermaLink="false">tag:x,2026:1</guid></item>')) == []
    assert checks.guids(rss("<item><guid>https://news.example.com/a/1</guid></item>")) == []
    assert checks.guids(rss("<item><guid>tag:x,2026:1</guid></item>")) != []
    assert checks.guids(rss('<item><guid isPermaLink="yes">x</guid></item>')) != []


def test_unique_ids() -> None:
    assert checks.unique(["a", "b"], "id") == []
    assert checks.unique(["a", "b", "a"], "id") == ["id a appears 2 times"]


def test_self_link_must_be_the_served_url() -> None:
    root = atom('<link rel="self" href="http://feeds.test/feeds/all.atom"/>')
    assert checks.self_link(root, "http://feeds.test/feeds/all.atom") == []
    assert checks.self_link(root, "http://feeds.test/feeds/all.rss") != []
    assert checks.self_link(atom(), "http://feeds.test/feeds/all.atom") != []


def test_entries_need_updated_and_an_author() -> None:
    assert checks.atom_entries_complete(atom("<author><name>a</name></author>")) == []
    assert checks.atom_entries_complete(atom()) == ["entry urn:e has no author, nor does its feed"]


def test_bytes_before_the_declaration() -> None:
    assert checks.starts_with_declaration(b"<?xml version='1.0'?><rss/>") == []
    assert checks.starts_with_declaration(b"\xef\xbb\xbf<?xml version='1.0'?><rss/>") != []
    assert checks.starts_with_declaration(b"\n<?xml version='1.0'?><rss/>") != []


def test_charset_must_match_the_document() -> None:
    utf8 = "<?xml version='1.0' encoding='UTF-8'?><rss>中</rss>".encode()
    assert checks.charset_matches("application/rss+xml; charset=utf-8", utf8, "rss") == []
    assert checks.charset_matches("application/rss+xml; charset=iso-8859-1", utf8, "rss") != []
    assert checks.charset_matches("application/rss+xml", utf8, "rss") != []
    big5 = "<?xml version='1.0' encoding='Big5'?><rss>中</rss>".encode("big5")
    assert checks.charset_matches("application/rss+xml; charset=utf-8", big5, "rss") != []


def test_namespaces_must_be_known() -> None:
    good = b'<rss xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>a</dc:creator></rss>'
    assert checks.namespaces(good, "rss") == []
    odd = b'<rss xmlns:x="urn:unknown"><x:thing/></rss>'
    assert checks.namespaces(odd, "rss") != []


def test_rss_channel_required_elements() -> None:
    full = "<title>t</title><link>https://x/</link><description>d</description>"
    assert checks.rss_channel(rss(full)) == []
    assert checks.rss_channel(rss("<title>t</title><link>https://x/</link>")) == [
        "channel has no description"
    ]


def test_relative_urls_in_html() -> None:
    assert checks.relative_urls('<p><a href="https://x/a">a</a><img src="http://x/i"></p>') == []
    assert checks.relative_urls('<a href="mailto:a@x">m</a>') == []
    assert checks.relative_urls('text <a href="/a">a</a> <img src="i.png">') == [
        'href="/a"',
        'src="i.png"',
    ]


@pytest.mark.parametrize(
    ("tag", "ok"),
    [("zh-Hant", True), ("zh-Hant-TW", True), ("en", True), ("ar", True), ("zh_TW", False)],
)
def test_language_tags(tag: str, ok: bool) -> None:
    assert (checks.languages("json", None, {"language": tag, "items": []}) == []) == ok
