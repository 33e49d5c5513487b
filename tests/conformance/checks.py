"""Rules no off-the-shelf tool here enforces, written as checks that return what is wrong.

Each function takes one document (bytes or a parsed tree) and returns a list of readable
problems, empty when the document passes, so a test can report every failure at once and
tests/conformance/test_checks.py can prove each check catches what it claims to.

Sources: RFC 4287's Schematron rules (Appendix B, which jing ignores), the W3C Feed
Validation Service's documented RSS and Atom rules, RSS 2.0 and RFC 822 dates, RFC 3339,
RFC 5646 language tags and JSON Feed 1.1.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import lxml.html
from lxml import etree

ATOM_NS = "http://www.w3.org/2005/Atom"
A = f"{{{ATOM_NS}}}"
CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
DC_NS = "http://purl.org/dc/elements/1.1/"
XML_NS = "http://www.w3.org/XML/1998/namespace"
HISTORY_NS = "http://purl.org/syndication/history/1.0"  # RFC 5005 fh:archive
TOMBSTONES_NS = "http://purl.org/atompub/tombstones/1.0"  # RFC 6721 at:deleted-entry
# Published vocabularies a reader may know, per format; anything else is an element the
# W3C validator would call undefined.
KNOWN_NAMESPACES: dict[str, set[str | None]] = {
    "rss": {None, ATOM_NS, CONTENT_NS, DC_NS, HISTORY_NS},
    "atom": {ATOM_NS, DC_NS, HISTORY_NS, TOMBSTONES_NS, "http://www.w3.org/1999/xhtml"},
}

DAY = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
MONTH = "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
# RFC 822 (as RSS 2.0 uses it) with the W3C validator's strictness: four-digit year and a
# numeric zone, never a zone name such as GMT, CST or EST.
RFC822 = re.compile(rf"{DAY}, \d{{1,2}} {MONTH} \d{{4}} \d{{2}}:\d{{2}}(?::\d{{2}})? [+-]\d{{4}}")
RFC3339 = re.compile(
    r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)"
    r"(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)"
)
# RFC 5646 langtag (no grandfathered or private-use-only tags: we never write those).
LANGTAG = re.compile(
    r"(?P<language>[A-Za-z]{2,3}(-[A-Za-z]{3}){0,3}|[A-Za-z]{4,8})"
    r"(-[A-Za-z]{4})?"  # script
    r"(-([A-Za-z]{2}|\d{3}))?"  # region
    r"(-([A-Za-z\d]{5,8}|\d[A-Za-z\d]{3}))*"  # variants
    r"(-[0-9A-WY-Za-wy-z](-[A-Za-z\d]{2,8})+)*"  # extensions
    r"(-[Xx](-[A-Za-z\d]{1,8})+)?"
)


# --- RFC 4287 Appendix B: the Schematron rules ------------------------------------------


def atom_schematron(root: etree._Element) -> list[str]:
    """The three s:assert tests of RFC 4287's schema, evaluated as the XPath they are."""
    ns = {"atom": ATOM_NS}
    problems = []
    if root.tag == f"{A}feed" and not root.xpath(
        "atom:author or not(atom:entry[not(atom:author)])", namespaces=ns
    ):
        problems.append(
            "atom:feed has no atom:author and not all of its atom:entry children have one"
        )
    for entry in root.iter(f"{A}entry"):
        ident = entry.findtext(f"{A}id")
        if not entry.xpath(
            "atom:link[@rel='alternate'] or atom:link[not(@rel)] or atom:content", namespaces=ns
        ):
            problems.append(f"entry {ident}: no alternate atom:link and no atom:content")
        if not entry.xpath(
            "atom:author or ../atom:author or atom:source/atom:author", namespaces=ns
        ):
            problems.append(f"entry {ident}: no atom:author and its feed has none")
    return problems


# --- W3C Feed Validation Service rules -----------------------------------------------------


def starts_with_declaration(body: bytes) -> list[str]:
    if body.startswith(b"<?xml"):
        return []
    return [f"bytes before the XML declaration: {body[:8]!r}"]


def declared_encoding(body: bytes) -> str:
    match = re.match(rb"<\?xml[^>]*encoding=['\"]([A-Za-z0-9._-]+)['\"]", body)
    return match.group(1).decode("ascii") if match else "utf-8"


def charset_matches(content_type: str, body: bytes, fmt: str) -> list[str]:
    """The HTTP charset parameter names the document's own encoding, and the bytes decode."""
    match = re.search(r"charset=\"?([A-Za-z0-9._-]+)", content_type)
    if match is None:
        return [f"Content-Type {content_type!r} has no charset"]
    charset = match.group(1).lower()
    document = "utf-8" if fmt == "json" else declared_encoding(body).lower()
    problems = []
    if charset != document:
        problems.append(f"HTTP charset {charset} but the document is {document}")
    try:
        body.decode(charset)
    except (UnicodeDecodeError, LookupError) as exc:
        problems.append(f"body does not decode as {charset}: {exc}")
    return problems


def namespaces(body: bytes, fmt: str) -> list[str]:
    """No namespace error while parsing and no element from a vocabulary readers don't know."""
    parser = etree.XMLParser(resolve_entities=False)
    root = etree.fromstring(body, parser)
    problems = [
        f"line {e.line}: {e.message}" for e in parser.error_log if e.domain_name == "NAMESPACE"
    ]
    for element in root.iter(tag=etree.Element):
        uri = etree.QName(element).namespace
        if uri not in KNOWN_NAMESPACES[fmt]:
            problems.append(f"<{element.tag}> is in an unexpected namespace {uri!r}")
    return problems


def self_link(root: etree._Element, url: str) -> list[str]:
    """Exactly one atom:link rel=self, and it is the URL the document was served from."""
    hrefs = [
        link.get("href")
        for link in root.iter(f"{A}link")
        if link.get("rel") == "self" and link.getparent() in (root, root.find("channel"))
    ]
    if hrefs != [url]:
        return [f"rel=self links {hrefs}, served at {url}"]
    return []


def rss_dates(root: etree._Element) -> list[str]:
    problems = []
    for name in ("pubDate", "lastBuildDate"):
        for element in root.iter(name):
            value = (element.text or "").strip()
            if not RFC822.fullmatch(value):
                problems.append(f"<{name}>{value}</{name}> is not RFC 822 with a numeric zone")
    return problems


def atom_dates(root: etree._Element) -> list[str]:
    problems = []
    for name in ("updated", "published"):
        for element in root.iter(f"{A}{name}"):
            value = (element.text or "").strip()
            if not RFC3339.fullmatch(value):
                problems.append(f"<{name}>{value}</{name}> is not an RFC 3339 date-time")
    return problems


def is_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def guids(root: etree._Element) -> list[str]:
    """isPermaLink (default true) promises a URL; a guid that is not one must say false."""
    problems = []
    for guid in root.iter("guid"):
        value = (guid.text or "").strip()
        permalink = guid.get("isPermaLink", "true")
        if permalink not in ("true", "false"):
            problems.append(f"guid {value}: isPermaLink={permalink!r}")
        elif permalink == "true" and not is_url(value):
            problems.append(f"guid {value} is not a URL but is a permalink")
    return problems


def unique(ids: Iterable[str], what: str) -> list[str]:
    counts = Counter(ids)
    return [f"{what} {i} appears {n} times" for i, n in counts.items() if n > 1]


def document_ids(doc_fmt: str, root: etree._Element | None, data: Any = None) -> list[str]:
    if doc_fmt == "json":
        return [item.get("id") for item in data["items"]]
    assert root is not None
    if doc_fmt == "rss":
        return [(g.text or "").strip() for g in root.iter("guid")]
    return [(e.findtext(f"{A}id") or "").strip() for e in root.iter(f"{A}entry")]


def atom_entries_complete(root: etree._Element) -> list[str]:
    """Every entry has atom:updated, and an author of its own or from the feed."""
    feed_author = root.find(f"{A}author") is not None
    problems = []
    for entry in root.iter(f"{A}entry"):
        ident = entry.findtext(f"{A}id")
        if not (entry.findtext(f"{A}updated") or "").strip():
            problems.append(f"entry {ident} has no atom:updated")
        names = [(n.text or "").strip() for n in entry.iterfind(f"{A}author/{A}name")]
        if not (feed_author or any(names)):
            problems.append(f"entry {ident} has no author, nor does its feed")
    return problems


def rss_channel(root: etree._Element) -> list[str]:
    channel = root.find("channel")
    if root.tag != "rss" or root.get("version") != "2.0" or channel is None:
        return ["not an RSS 2.0 <rss version='2.0'><channel> document"]
    problems = [
        f"channel has no {name}"
        for name in ("title", "link", "description")
        if not (channel.findtext(name) or "").strip()
    ]
    for item in channel.iter("item"):
        if not ((item.findtext("title") or "").strip() or (item.findtext("description") or "")):
            problems.append("an item has neither title nor description")
    return problems


def relative_urls(html: str) -> list[str]:
    """href/src values in an HTML fragment that are not absolute URLs."""
    if not html.strip():
        return []
    found = []
    for element in lxml.html.fragments_fromstring(html, no_leading_text=False):
        if not isinstance(element, lxml.html.HtmlElement):
            continue
        for node in element.iter():
            for attribute in ("href", "src"):
                value = node.get(attribute)
                if value is not None and not urlsplit(value.strip()).scheme:
                    found.append(f'{attribute}="{value}"')
    return found


def content_fragments(fmt: str, root: etree._Element | None, data: Any = None) -> list[str]:
    """The HTML content of every item: content:encoded, Atom html content, content_html."""
    if fmt == "json":
        return [item.get("content_html", "") for item in data["items"]]
    assert root is not None
    if fmt == "rss":
        return [e.text or "" for e in root.iter(f"{{{CONTENT_NS}}}encoded")]
    return [
        e.text or ""
        for e in root.iter(f"{A}content")
        if e.get("type") in ("html", None) and e.get("src") is None
    ]


def languages(fmt: str, root: etree._Element | None, data: Any = None) -> list[str]:
    """Every language value in the document is a well-formed RFC 5646 tag."""
    if fmt == "json":
        values = [data.get("language")] + [item.get("language") for item in data["items"]]
        values = [v for v in values if v is not None]
    elif fmt == "rss":
        assert root is not None
        values = [(e.text or "").strip() for e in root.iter("language")]
        if not values:
            return ["channel has no <language>"]
    else:
        assert root is not None
        values = [
            e.get(f"{{{XML_NS}}}lang", "")
            for e in root.iter(tag=etree.Element)
            if e.get(f"{{{XML_NS}}}lang") is not None
        ]
    return [f"language {v!r} is not an RFC 5646 tag" for v in values if not LANGTAG.fullmatch(v)]
