"""Ingest hygiene for editor-supplied text: XML-safe characters, normalised text, safe HTML, slugs.

Everything that arrives from the CMS passes through here before it is stored or rendered, so the
feed builders can assume well-formed, NFC-normalised, XML 1.0-legal strings. Pure functions
only: no Flask, no database, no clock.

``slugify`` converts Traditional to Simplified (OpenCC) before pypinyin: pypinyin's phrase
dictionary is keyed on Simplified characters, and without it Traditional polyphones lose
their phrase context (長沙 would become "zhangsha", 銀行 "yinxing").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import cache
from itertools import groupby
from urllib.parse import urljoin, urlsplit

import nh3
import opencc
from pypinyin import Style, lazy_pinyin

__all__ = [
    "HAN",
    "SLUG_MAX_LEN",
    "clean_multiline",
    "clean_text",
    "is_valid_slug",
    "sanitize_html",
    "slugify",
    "strip_xml_invalid",
    "to_simplified",
    "unique_slug",
]

SLUG_MAX_LEN = 80

# The complement of the XML 1.0 Char production. Lone surrogates fall outside every allowed
# range, which matters because Python str (unlike the XML output encoders) can hold them.
_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

# Only ASCII whitespace collapses. U+3000 is deliberate Chinese typography (paragraph indent,
# spacing inside names), so it and the other Unicode spaces are kept exactly as typed.
_ASCII_WS = re.compile("[ \t\n\r]+")
_HSPACE = re.compile("[ \t]+")
_EXTRA_BLANK_LINES = re.compile("\n{3,}")

# Word exports its soft line break (Shift+Enter) as VT and page breaks as FF; both are illegal
# in XML, and deleting them outright would glue the neighbouring words together.
_WORD_BREAKS = {0x0B: "\n", 0x0C: "\n"}

# fmt: off
_ALLOWED_TAGS = frozenset({
    "p", "br", "hr", "h2", "h3", "h4", "h5", "h6", "blockquote", "ul", "ol", "li",
    "strong", "em", "b", "i", "u", "s", "sub", "sup", "code", "pre", "a", "img",
    "figure", "figcaption", "table", "thead", "tbody", "tr", "th", "td", "caption",
    "span", "div",
})
# fmt: on
_ALLOWED_ATTRIBUTES = {
    "a": frozenset({"href", "title"}),
    "img": frozenset({"src", "alt", "title", "width", "height"}),
    "td": frozenset({"colspan", "rowspan"}),
    "th": frozenset({"colspan", "rowspan"}),
}
_URL_SCHEMES = frozenset({"http", "https", "mailto"})
_CLEAN_CONTENT_TAGS = frozenset({"script", "style"})

# One Han character, as a regular expression. Planes 2 and 3 are allocated to CJK
# ideographs only, so ranges there cover current and future extensions without tracking
# each Unicode release.
HAN = "[\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff]"
_HAN = re.compile(HAN)
_NON_ALNUM = re.compile("[^a-z0-9]+")
_VALID_SLUG = re.compile("[a-z0-9]+(?:-[a-z0-9]+)*")


def strip_xml_invalid(s: str) -> str:
    """Remove every character XML 1.0 cannot carry (C0 controls, lone surrogates, U+FFFE/F)."""
    return _XML_INVALID.sub("", s)


def _nfc(s: str) -> str:
    return unicodedata.normalize("NFC", s)


def clean_text(s: str) -> str:
    """Normalise a one-line field (title, author, tag name) to XML-safe NFC on a single line."""
    s = _nfc(strip_xml_invalid(s.translate(_WORD_BREAKS)))
    return _ASCII_WS.sub(" ", s).strip(" ")


def clean_multiline(s: str) -> str:
    """Like :func:`clean_text`, but paragraph breaks survive (at most one blank line in a row).

    ASCII indentation is dropped as editor noise; U+3000 indentation is kept because it is the
    Chinese typographic convention for starting a paragraph.
    """
    s = s.replace("\r\n", "\n").replace("\r", "\n").translate(_WORD_BREAKS)
    s = _nfc(strip_xml_invalid(s))
    lines = (_HSPACE.sub(" ", line).strip(" ") for line in s.split("\n"))
    return _EXTRA_BLANK_LINES.sub("\n\n", "\n".join(lines)).strip("\n")


# Attributes holding a URL a feed reader follows; relative ones are resolved at ingest.
_URL_ATTRIBUTES = frozenset({("a", "href"), ("img", "src")})


def _absolutiser(base_url: str) -> Callable[[str, str, str], str | None]:
    if urlsplit(base_url).scheme not in ("http", "https"):
        raise ValueError(f"base_url must be an absolute http(s) URL, not {base_url!r}")

    def resolve(tag: str, attribute: str, value: str) -> str | None:
        if (tag, attribute) not in _URL_ATTRIBUTES:
            return value
        absolute = urljoin(base_url, value.strip())
        # nh3 checks schemes before this filter runs and never re-checks what it returns, so
        # the result is checked here: a URL this filter cannot vouch for is dropped.
        return absolute if urlsplit(absolute).scheme in _URL_SCHEMES else None

    return resolve


def sanitize_html(html: str, base_url: str | None = None) -> str:
    """Reduce editor HTML to the allow-listed tags and attributes; return an HTML fragment.

    With ``base_url`` (an absolute http(s) URL: the article's canonical link, else the
    site's), relative ``a href`` and ``img src`` become absolute. Feed readers resolve
    relative references against the feed's or their own base, never the article's page, so
    feeds must carry absolute URLs (the W3C feed validator flags relative ones).

    The result is HTML serialisation (``<br>``, ``&nbsp;``), not XHTML: embed it as escaped
    text or CDATA, never as inline XML.
    """
    cleaned = nh3.clean(
        _nfc(strip_xml_invalid(html)),
        tags=_ALLOWED_TAGS,
        clean_content_tags=_CLEAN_CONTENT_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes=_URL_SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
        attribute_filter=_absolutiser(base_url) if base_url else None,
    )
    # The parser decodes character references, so "&#1;" or "&#xFFFE;" in the input comes out
    # as a raw illegal character; the pre-pass cannot see those.
    return strip_xml_invalid(cleaned)


def _ascii_fold(s: str) -> str:
    return unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode("ascii").lower()


@cache
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def to_simplified(han: str) -> str:
    """Convert Traditional characters to Simplified (OpenCC t2s); others pass through."""
    converted: str = _t2s().convert(han)
    return converted


def _romanise(han: str) -> str:
    # NORMAL style writes ü as "v" (綠 -> "lv", 女 -> "nv"). Kept: it is the convention
    # Chinese users type in every pinyin IME, and it keeps 綠/路 ("lv"/"lu") apart where a
    # plain "u" would merge them. Characters pypinyin has no reading for are dropped.
    syllables = lazy_pinyin(to_simplified(han), style=Style.NORMAL, errors="ignore")
    return _NON_ALNUM.sub("", "".join(_ascii_fold(syl) for syl in syllables))


def _truncate(slug: str, limit: int) -> str:
    if len(slug) <= limit:
        return slug
    cut = slug.rfind("-", 0, limit + 1)
    # A boundary that throws away more than half the budget loses more meaning than a cut
    # through the middle of a word.
    if cut >= limit // 2:
        return slug[:cut]
    return slug[:limit]


def slugify(name: str) -> str:
    """Derive a lowercase ASCII slug from a Chinese or mixed display name.

    A run of Han characters becomes its toneless pinyin run together ("余姚" -> "yuyao") so
    that pypinyin can use phrase context for polyphones; other runs are ASCII-folded; the runs
    are joined with "-" ("娛樂LOVE" -> "yule-love"). Returns "" when nothing romanisable is left.
    """
    # NFKC rather than NFC: it also maps full-width Latin, Kangxi radicals (common in text
    # copied out of PDFs) and compatibility ideographs onto the characters pypinyin knows.
    text = unicodedata.normalize("NFKC", strip_xml_invalid(name))
    parts = []
    for is_han, chars in groupby(text, key=lambda ch: _HAN.match(ch) is not None):
        run = "".join(chars)
        parts.append(_romanise(run) if is_han else _NON_ALNUM.sub("-", _ascii_fold(run)))
    slug = _NON_ALNUM.sub("-", "-".join(parts)).strip("-")
    return _truncate(slug, SLUG_MAX_LEN)


def is_valid_slug(s: str) -> bool:
    """True for lowercase ASCII words joined by single hyphens, at most SLUG_MAX_LEN long."""
    return len(s) <= SLUG_MAX_LEN and _VALID_SLUG.fullmatch(s) is not None


def unique_slug(base: str, taken: Callable[[str], bool], fallback: str = "item") -> str:
    """Return ``base`` if it is free, else the first free of ``base-2``, ``base-3``, ...

    An empty ``base`` uses ``fallback``. The numbered candidates are shortened so that they
    stay within SLUG_MAX_LEN. Raises ValueError if the slug to number is not a valid slug.
    """
    stem = base or fallback
    if not is_valid_slug(stem):
        raise ValueError(f"not a valid slug: {stem!r}")
    if not taken(stem):
        return stem
    n = 2
    while True:
        suffix = f"-{n}"
        candidate = stem[: SLUG_MAX_LEN - len(suffix)].rstrip("-") + suffix
        if not taken(candidate):
            return candidate
        n += 1
