"""Tests for feedsvc.text: XML-legal characters, normalisation, HTML sanitising, slugs."""

from __future__ import annotations

import re
from collections.abc import Callable
from xml.etree import ElementTree

import pytest

from feedsvc.text import (
    SLUG_MAX_LEN,
    clean_multiline,
    clean_text,
    is_valid_slug,
    sanitize_html,
    slugify,
    strip_xml_invalid,
    unique_slug,
)

FAMILY = "\U0001f469\u200d\U0001f469\u200d\U0001f467"  # 👩‍👩‍👧, a ZWJ sequence


# --- strip_xml_invalid -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a\x00b\x01c\x0bd\x1fe", "abcde"),
        ("\x0c\x08\x7f", "\x7f"),  # DEL is legal XML 1.0, only discouraged
        ("tab\there\nnew\rline", "tab\there\nnew\rline"),
        ("a\ud800b", "ab"),  # lone high surrogate
        ("\udfff", ""),  # lone low surrogate
        ("\ud83d\ude00", ""),  # a surrogate *pair* in a str is two lone surrogates
        ("x\ufffey\uffffz", "xyz"),
        ("\ufffd", "\ufffd"),  # the replacement character itself is legal
        ("余姚新聞", "余姚新聞"),
        ("\U0001f600", "\U0001f600"),
        (FAMILY, FAMILY),
        ("שלום \u200fעולם", "שלום \u200fעולם"),  # noqa: RUF001  Hebrew, with RLM
        ("مرحبا بالعالم", "مرحبا بالعالم"),
        ("\U0010ffff\ue000\ud7ff", "\U0010ffff\ue000\ud7ff"),  # edges of the legal ranges
        ("", ""),
    ],
)
def test_strip_xml_invalid(raw: str, expected: str) -> None:
    assert strip_xml_invalid(raw) == expected


def _is_xml_char(cp: int) -> bool:
    return (
        cp in (0x9, 0xA, 0xD)
        or 0x20 <= cp <= 0xD7FF
        or 0xE000 <= cp <= 0xFFFD
        or 0x10000 <= cp <= 0x10FFFF
    )


def test_strip_xml_invalid_matches_the_xml_char_production_exhaustively() -> None:
    everything = "".join(map(chr, range(0x110000)))
    expected = "".join(chr(cp) for cp in range(0x110000) if _is_xml_char(cp))
    assert strip_xml_invalid(everything) == expected


def test_stripped_text_is_accepted_by_an_xml_parser() -> None:
    raw = "標題\x00\x01\x0b\ud800\ufffe" + FAMILY + "\uffff"
    root = ElementTree.fromstring(f"<t>{strip_xml_invalid(raw)}</t>".encode())
    assert root.text == "標題" + FAMILY


# --- clean_text / clean_multiline --------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  余姚\t\n  新聞  ", "余姚 新聞"),
        ("a\r\n\r\nb", "a b"),
        ("a \x00 b", "a b"),  # whitespace left on both sides of a removed control collapses
        ("a\x0bb", "a b"),  # Word's soft line break separates words, it is not deleted
        ("e\u0301", "\u00e9"),  # NFC composes
        ("\u1100\u1161", "\uac00"),  # conjoining jamo compose to a Hangul syllable
        ("\u3000余姚\u3000\u3000新聞\u3000", "\u3000余姚\u3000\u3000新聞\u3000"),
        ("a\u00a0b", "a\u00a0b"),  # only ASCII whitespace collapses
        # CJK compatibility ideographs have canonical (singleton) decompositions, so NFC
        # replaces them with the unified ideograph ...
        ("\uf900", "\u8c48"),
        ("\U0002f800", "\u4e3d"),
        # ... except the twelve in the compatibility block that are unified ideographs
        # themselves, and Kangxi radicals, which only decompose under NFKC.
        ("\ufa0e", "\ufa0e"),
        ("\u2f00", "\u2f00"),
        ("", ""),
        (" \t\n", ""),
    ],
)
def test_clean_text(raw: str, expected: str) -> None:
    assert clean_text(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("第一段\r\n\r\n第二段", "第一段\n\n第二段"),
        ("a\rb", "a\nb"),
        ("a  \nb\t\n", "a\nb"),
        ("a\n\n\n\n\nb", "a\n\nb"),
        ("a\n \t \n\n b", "a\n\nb"),  # whitespace-only lines count as blank
        ("a   b\t\tc", "a b c"),
        ("  indented", "indented"),
        ("\u3000\u3000第一段\n\u3000\u3000第二段", "\u3000\u3000第一段\n\u3000\u3000第二段"),
        ("\n\nx\n\n", "x"),
        ("a\x0bb", "a\nb"),
        ("e\u0301\x01", "\u00e9"),
        ("", ""),
    ],
)
def test_clean_multiline(raw: str, expected: str) -> None:
    assert clean_multiline(raw) == expected


# --- sanitize_html -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("<p>before<script>alert(1)</script>after</p>", "<p>beforeafter</p>"),
        ("<style>p { color: red }</style><p>x</p>", "<p>x</p>"),
        ('<p onclick="steal()">t</p>', "<p>t</p>"),
        ('<p style="color:red" class="c" id="i">t</p>', "<p>t</p>"),
        (
            '<img src="https://img.example.com/a.png" onerror="alert(1)" alt="余姚"'
            ' width="640" height="480" loading="lazy" class="x">',
            '<img src="https://img.example.com/a.png" alt="余姚" width="640" height="480">',
        ),
        (
            '<a title="t" href="https://example.com/a?b=1&amp;c=2" rel="opener"'
            ' target="_blank">x</a>',
            '<a title="t" href="https://example.com/a?b=1&amp;c=2" rel="noopener noreferrer">x</a>',
        ),
        (
            '<a href="https://example.com/" style="color:red" onclick="x()" class="btn">x</a>',
            '<a href="https://example.com/" rel="noopener noreferrer">x</a>',
        ),
        (
            '<a href="mailto:news@example.com">m</a>',
            '<a href="mailto:news@example.com" rel="noopener noreferrer">m</a>',
        ),
        (
            '<table><caption>c</caption><thead><tr><th colspan="2">h</th></tr></thead>'
            '<tbody><tr><td rowspan="2" style="x">d</td></tr></tbody></table>',
            '<table><caption>c</caption><thead><tr><th colspan="2">h</th></tr></thead>'
            '<tbody><tr><td rowspan="2">d</td></tr></tbody></table>',
        ),
        (
            '<figure><img src="https://a.example/b.jpg" alt=""><figcaption>說明</figcaption>'
            "</figure>",
            '<figure><img src="https://a.example/b.jpg" alt=""><figcaption>說明</figcaption>'
            "</figure>",
        ),
        ("<ul><li>一</li></ul><pre><code>x &lt; y</code></pre>", None),
        ("<h2>小標</h2><blockquote>引</blockquote><p>a<br>b</p><hr>", None),
        # ammonia allows these by default; the explicit allow-list must not
        ("<h1>t</h1><del>d</del><font color=red>紅</font>", "td紅"),
        ('<iframe src="https://video.example/x"></iframe>z', "z"),
        ("<!-- editor note --><p>a</p>", "<p>a</p>"),
    ],
)
def test_sanitize_html(raw: str, expected: str | None) -> None:
    assert sanitize_html(raw) == (raw if expected is None else expected)


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        " JavaScript:alert(1)",
        "jav&#x09;ascript:alert(1)",
        "vbscript:msgbox(1)",
        "data:text/html,<script>alert(1)</script>",
        "ftp://files.example.com/x",
    ],
)
def test_sanitize_html_drops_urls_outside_the_scheme_allow_list(href: str) -> None:
    out = sanitize_html(f'<a href="{href}">x</a><img src="{href}">')
    assert out == '<a rel="noopener noreferrer">x</a><img>'


def test_sanitize_html_removes_illegal_characters_produced_by_character_references() -> None:
    # nh3 decodes "&#1;" to a raw U+0001 and serialises it as is.
    assert sanitize_html("<p>a&#1;b&#xFFFE;c&#x1F;d\x01e</p>") == "<p>abcde</p>"


BASE = "https://news.example.com/articles/2022/zhineng.html"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('<a href="next.html">x</a>', "https://news.example.com/articles/2022/next.html"),
        ('<a href="../a?b=1#c">x</a>', "https://news.example.com/articles/a?b=1#c"),
        ('<a href="/about">x</a>', "https://news.example.com/about"),
        ('<a href="#top">x</a>', BASE + "#top"),
        ('<a href="//cdn.example.org/p">x</a>', "https://cdn.example.org/p"),
        ('<a href="https://other.example.org/">x</a>', "https://other.example.org/"),
        ('<a href="mailto:desk@example.com">x</a>', "mailto:desk@example.com"),
        ('<img src="img/1.png">', "https://news.example.com/articles/2022/img/1.png"),
        ('<a href=" page.html ">x</a>', "https://news.example.com/articles/2022/page.html"),
    ],
)
def test_sanitize_html_resolves_relative_urls_against_the_base(raw: str, expected: str) -> None:
    out = sanitize_html(raw, base_url=BASE)
    assert re.search(r'(?:href|src)="([^"]*)"', out).group(1) == expected  # type: ignore[union-attr]


def test_sanitize_html_without_a_base_leaves_relative_urls_alone() -> None:
    assert sanitize_html('<a href="next.html">x</a>').startswith('<a href="next.html"')


def test_resolving_never_lets_a_dangerous_scheme_through() -> None:
    out = sanitize_html(
        '<a href="javascript:alert(1)">a</a><img src="data:image/png;base64,AA">'
        '<a href="java&#x09;script:alert(1)">b</a>',
        base_url=BASE,
    )
    assert "javascript" not in out
    assert "data:" not in out
    assert out.count("href=") == 0


@pytest.mark.parametrize("base", ["ftp://example.com/", "/relative/", "example.com"])
def test_a_base_that_is_not_absolute_http_is_refused(base: str) -> None:
    with pytest.raises(ValueError, match="base_url"):
        sanitize_html('<a href="x">x</a>', base_url=base)


def test_sanitize_html_normalises_and_keeps_non_latin_text() -> None:
    raw = f"<p>e\u0301 余姚 {FAMILY} שלום</p>"
    assert sanitize_html(raw) == f"<p>\u00e9 余姚 {FAMILY} שלום</p>"


# --- slugify -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("余姚", "yuyao"),
        ("蝶變", "diebian"),
        ("能級", "nengji"),
        ("樂活HOT", "lehuo-hot"),
        ("娛樂LOVE", "yule-love"),
        ("資訊播報", "zixunbobao"),
        ("鄭州", "zhengzhou"),
        ("洛陽", "luoyang"),
        ("景區", "jingqu"),
        ("博物館", "bowuguan"),
        ("門票優惠", "menpiaoyouhui"),
        # ü is written "v", pypinyin's default
        ("綠", "lv"),
        ("綠色", "lvse"),
        ("女", "nv"),
        # a Han run is romanised as a whole, so simplified phrases pick the right polyphone
        ("银行", "yinhang"),
        ("长沙", "changsha"),
        ("重庆", "chongqing"),
        ("音乐", "yinyue"),
        # mixed scripts: runs are joined with single hyphens
        ("2024年度報告", "2024-niandubaogao"),
        ("余姚 新聞", "yuyao-xinwen"),
        ("余姚 - 新聞", "yuyao-xinwen"),
        ("——余姚——", "yuyao"),
        ("Café 余姚", "cafe-yuyao"),
        ("ＨＯＴ新聞", "hot-xinwen"),  # full-width Latin folds to ASCII
        ("Xi'an 西安", "xi-an-xian"),
        ("\u3007", "ling"),  # ideographic number zero
        ("\u2f08民", "renmin"),  # Kangxi radical ⼈ (seen in text copied from PDFs)
        ("\uf900", "qi"),  # compatibility ideograph 豈
        ("余\ufa0e姚", "yuyao"),  # 﨎 has no reading in pypinyin and is dropped
        ("余姚\x00新聞", "yuyaoxinwen"),
        # nothing romanisable left
        ("", ""),
        ("   ", ""),
        ("🎉！？", ""),
        (FAMILY, ""),
        ("\ufa0e", ""),
        ("---", ""),
    ],
)
def test_slugify(name: str, expected: str) -> None:
    assert slugify(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [("長沙", "changsha"), ("銀行", "yinhang"), ("重慶", "chongqing"), ("音樂", "yinyue")],
)
def test_slugify_traditional_polyphones(name: str, expected: str) -> None:
    assert slugify(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # cut at the last hyphen that fits
        ("news " * 20, "-".join(["news"] * 16)),
        # no hyphen at all: hard cut
        ("a" * 100, "a" * SLUG_MAX_LEN),
        ("余姚" * 30, ("yuyao" * 16)[:SLUG_MAX_LEN]),
        # the only hyphen would waste most of the budget: hard cut instead
        ("ab " + "c" * 100, "ab-" + "c" * (SLUG_MAX_LEN - 3)),
        # a hyphen exactly at the limit is dropped, not kept as a trailing one
        ("a" * SLUG_MAX_LEN + " b", "a" * SLUG_MAX_LEN),
    ],
)
def test_slugify_truncates_to_the_limit(name: str, expected: str) -> None:
    slug = slugify(name)
    assert slug == expected
    assert is_valid_slug(slug)


# --- unique_slug -------------------------------------------------------------------------


def _taken_from(used: set[str], calls: list[str] | None = None) -> Callable[[str], bool]:
    def taken(candidate: str) -> bool:
        if calls is not None:
            calls.append(candidate)
        return candidate in used

    return taken


@pytest.mark.parametrize(
    ("base", "used", "fallback", "expected"),
    [
        ("yuyao", set(), "item", "yuyao"),
        ("yuyao", {"yuyao"}, "item", "yuyao-2"),
        ("yuyao", {"yuyao", "yuyao-2"}, "item", "yuyao-3"),
        ("yuyao", {"yuyao", "yuyao-2", "yuyao-4"}, "item", "yuyao-3"),
        ("yuyao", {"yuyao-2"}, "item", "yuyao"),
        ("news-2", {"news-2"}, "item", "news-2-2"),
        ("", set(), "item", "item"),
        ("", {"item"}, "item", "item-2"),
        ("", {"tag"}, "tag", "tag-2"),
        # numbered candidates stay within the length limit
        ("a" * 80, {"a" * 80}, "item", "a" * 78 + "-2"),
        ("a" * 77 + "-bb", {"a" * 77 + "-bb"}, "item", "a" * 77 + "-2"),
    ],
)
def test_unique_slug(base: str, used: set[str], fallback: str, expected: str) -> None:
    slug = unique_slug(base, _taken_from(used), fallback)
    assert slug == expected
    assert is_valid_slug(slug)


def test_unique_slug_probes_in_order_and_stops_at_the_first_free() -> None:
    calls: list[str] = []
    taken = _taken_from({"yuyao", "yuyao-2"}, calls)
    assert unique_slug("yuyao", taken) == "yuyao-3"
    assert calls == ["yuyao", "yuyao-2", "yuyao-3"]


def test_unique_slug_default_fallback_is_item() -> None:
    assert unique_slug("", lambda s: s == "item") == "item-2"


@pytest.mark.parametrize(("base", "fallback"), [("Bad Slug", "item"), ("a--b", "item"), ("", "")])
def test_unique_slug_rejects_invalid_slugs(base: str, fallback: str) -> None:
    with pytest.raises(ValueError, match="not a valid slug"):
        unique_slug(base, lambda s: False, fallback)


# --- is_valid_slug -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("s", "valid"),
    [
        ("a", True),
        ("yuyao", True),
        ("lehuo-hot", True),
        ("2024-niandubaogao", True),
        ("a-1-b", True),
        ("a" * SLUG_MAX_LEN, True),
        ("a" * (SLUG_MAX_LEN + 1), False),
        ("", False),
        ("-a", False),
        ("a-", False),
        ("a--b", False),
        ("Yuyao", False),
        ("yu yao", False),
        ("yu_yao", False),
        ("lü", False),
        ("余姚", False),
        ("a\n", False),  # "$" would accept a trailing newline; the check must not
    ],
)
def test_is_valid_slug(s: str, valid: bool) -> None:
    assert is_valid_slug(s) is valid
