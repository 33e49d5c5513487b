"""Finding and, where it is safe, undoing GBK mojibake in scraped Chinese text.

Two mistakes are recognised:

* **Shifted GBK.** A GBK byte stream decoded one byte out of step: each character is read
  from the trail byte of one and the lead byte of the next. The output is a string of rare
  characters, symbols (`≌`), private-use characters (GBK's user-defined areas), stray ASCII
  letters (a trail byte below 0x80 decodes as a letter: 發 is B0 6C, so its `l` survives)
  and a `?` where a byte was lost. The seed page's `規?;l(fā)` is 模化發 shifted this way.
* **UTF-8 read as GBK.** `鍙戝竷` for 发布: fully reversible when the bytes are whole.

A *run* is reported when at least two signals sit close together inside Han text (one
rare character alone may be a name). Repair of a shifted run re-encodes it to GBK (ASCII
punctuation as the full-width forms the source normalised away), puts back the lost byte
and decodes in step. The lost byte is chosen only when exactly one candidate makes a
common word with its neighbours (jieba's dictionary) and dominates the rest; every
character of the result must be an ordinary GB2312 or Big5 character. Otherwise the run is
left as it arrived, for an editor. Pure: no framework, no clock.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from feedsvc.ingest.lexicon import word_frequencies
from feedsvc.ingest.pinyin import SYLLABLE
from feedsvc.text import HAN, to_simplified

__all__ = ["Run", "find_runs", "is_private_use"]

_HAN = re.compile(HAN)
_LOST = re.compile(f"[?\ufffd](?:{SYLLABLE}\\))?")  # a lost byte, maybe with a torn annotation
_TORN_ANNOTATION = re.compile(f"[?\ufffd]{SYLLABLE}\\)")
_LETTER_ANNOTATED = re.compile(f"[A-Za-z](?=[(\uff08]{SYLLABLE}[)\uff09])")
_UNREPAIRABLE = re.compile("(?:锟斤拷)+|(?:烫){3,}|(?:屯){3,}")
_ANY_ANNOTATION = re.compile(f"[(\uff08]{SYLLABLE}[)\uff09]")
_UTF8_AS_GBK = re.compile(rb"(?:[\xe4-\xe9][\x80-\xbf]{2}){2,}")
_EDGE = frozenset("?;\ufffd")
MAX_GAP = 3  # ordinary characters allowed between two signals of one run
CONTEXT = 4  # characters either side the dictionary looks at
MIN_FREQUENCY = 50  # a word rarer than this in jieba's corpus does not vouch for a guess
DOMINANCE = 20  # the chosen candidate's word must be this many times the runner-up's


@dataclass(frozen=True)
class Run:
    """A suspected mojibake run at text[start:end]; `repaired` is None when left as is."""

    start: int
    end: int
    repaired: str | None
    guessed: str  # characters chosen by the dictionary rather than read from bytes
    how: str  # one sentence on what was recognised, for the warning message


def is_private_use(ch: str) -> bool:
    return unicodedata.category(ch) == "Co"


def _encodes(ch: str, codec: str) -> bool:
    try:
        ch.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


def _ordinary_han(ch: str) -> bool:
    return bool(_HAN.match(ch)) and (_encodes(ch, "gb2312") or _encodes(ch, "big5"))


def _rare(ch: str) -> bool:
    """A character misdecoding produces far more often than Chinese news uses."""
    if _HAN.match(ch):
        return not _ordinary_han(ch)
    return ord(ch) > 0x7F and unicodedata.category(ch) in ("Sm", "So") and _encodes(ch, "gbk")


def _signals(text: str) -> list[tuple[int, int, int]]:
    """(start, end, weight) of every suspicious spot; weight 2 is enough for a run alone."""
    found: list[tuple[int, int, int]] = []
    for i, ch in enumerate(text):
        if ch == "\ufffd":
            found.append((i, i + 1, 2))  # the decoder itself admits a loss
        elif is_private_use(ch) or _rare(ch):
            found.append((i, i + 1, 1))
    # Annotations only ever follow Han characters: one after a letter or a lost byte means
    # the character it belonged to was destroyed.
    for pattern in (_LETTER_ANNOTATED, _TORN_ANNOTATION, _UNREPAIRABLE):
        found.extend((m.start(), m.end(), 2) for m in pattern.finditer(text))
    return sorted(found)


def _bridgeable(gap: str) -> bool:
    return len(gap) <= MAX_GAP and all(_HAN.match(c) or c in _EDGE for c in gap)


def _clusters(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    weight = 0
    for start, end, w in _signals(text):
        if spans and (start <= spans[-1][1] or _bridgeable(text[spans[-1][1] : start])):
            spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
            weight += w
            continue
        if spans and weight < 2:
            spans.pop()
        spans.append((start, end))
        weight = w
    if spans and weight < 2:
        spans.pop()
    return [_widen(text, s, e) for s, e in spans]


def _widen(text: str, start: int, end: int) -> tuple[int, int]:
    while True:
        torn = _TORN_ANNOTATION.search(text, max(0, start - 10), start)
        if torn and torn.end() == start:
            start = torn.start()
        elif start > 0 and text[start - 1] in _EDGE:
            start -= 1
        else:
            break
    while end < len(text) and text[end] in _EDGE:
        end += 1
    return start, end


def _context(text: str, start: int, end: int) -> tuple[str, str]:
    before = _ANY_ANNOTATION.sub("", text[max(0, start - 12 * CONTEXT) : start])
    after = _ANY_ANNOTATION.sub("", text[end : end + 12 * CONTEXT])
    return "".join(_HAN.findall(before))[-CONTEXT:], "".join(_HAN.findall(after))[:CONTEXT]


def _gbk_bytes(run: str) -> tuple[bytes, int | None] | None:
    """The run as the GBK bytes it was decoded from, and where the one lost byte goes."""
    out = bytearray()
    lost: int | None = None
    i = 0
    while i < len(run):
        torn = _LOST.match(run, i)
        if torn:
            if lost is not None:
                return None  # two lost bytes: too much guessing
            lost = len(out)
            out.append(0)
            i = torn.end()
            continue
        ch = run[i]
        if ch.isascii() and ch.isalnum():
            out.append(ord(ch))
        elif ch.isascii() and 0x21 <= ord(ch) <= 0x7E:
            out += bytes((0xA3, ord(ch) + 0x80))  # the full-width form, GBK row A3
        else:
            encoded = ch.encode("gb18030", errors="replace")
            if len(encoded) != 2:
                return None
            out += encoded
        i += 1
    return bytes(out), lost


def _decode_in_step(data: bytes) -> str | None:
    try:
        decoded = data.decode("gbk")
    except UnicodeDecodeError:
        return None
    return decoded if all(_ordinary_han(c) for c in decoded) else None


def _score(left: str, decoded: str, right: str, index: int) -> int:
    words = word_frequencies()
    chars = [to_simplified(c) for c in left + decoded + right]
    at = len(left) + index
    best = 0
    for a in range(max(0, at - CONTEXT + 1), at + 1):
        for b in range(max(a + 2, at + 1), min(len(chars), a + CONTEXT) + 1):
            best = max(best, words.get("".join(chars[a:b]), 0))
    return best


def _char_at_byte(decoded: str, offset: int) -> int:
    seen = 0
    for index, ch in enumerate(decoded):
        seen += len(ch.encode("gbk"))
        if seen > offset:
            return index
    return len(decoded) - 1


def _repair_shift(text: str, start: int, end: int) -> tuple[str, str] | None:
    prepared = _gbk_bytes(text[start:end])
    if prepared is None:
        return None
    data, lost = prepared
    if lost is None:
        decoded = _decode_in_step(data)
        return (decoded, "") if decoded and decoded != text[start:end] else None
    left, right = _context(text, start, end)
    scored: list[tuple[int, str, int]] = []
    for byte in range(0x81, 0xFF):
        decoded = _decode_in_step(data[:lost] + bytes((byte,)) + data[lost + 1 :])
        if decoded is not None:
            index = _char_at_byte(decoded, lost)
            scored.append((_score(left, decoded, right, index), decoded, index))
    scored.sort(reverse=True)
    if not scored or scored[0][0] < MIN_FREQUENCY:
        return None
    if len(scored) > 1 and scored[1][0] * DOMINANCE > scored[0][0]:
        return None
    _, decoded, index = scored[0]
    return decoded, decoded[index]


def _utf8_runs(text: str) -> list[Run]:
    runs: list[Run] = []
    for block in re.finditer("[^\x00-\x7f\ufffd\ue000-\uf8ff]{3,}", text):
        try:
            data = block.group().encode("gbk")
        except UnicodeEncodeError:
            continue
        for m in _UTF8_AS_GBK.finditer(data):
            if m.start() % 2 or (m.end() - m.start()) % 2:
                continue  # must start and end on a character boundary of the GBK text
            decoded = m.group().decode("utf-8")
            if all(_ordinary_han(c) for c in decoded):
                start = block.start() + m.start() // 2
                end = block.start() + m.end() // 2
                runs.append(Run(start, end, decoded, "", "UTF-8 text had been read as GBK"))
    return runs


def find_runs(text: str) -> list[Run]:
    """Suspected mojibake runs in `text`, in order and not overlapping, each maybe repaired."""
    runs = _utf8_runs(text)
    masked = text
    for run in runs:  # recovered already: keep their rare characters from seeding a cluster
        masked = masked[: run.start] + "\n" * (run.end - run.start) + masked[run.end :]
    for start, end in _clusters(masked):
        repaired = _repair_shift(text, start, end)
        if repaired is None:
            how = "looks like misdecoded GBK and could not be recovered safely"
            runs.append(Run(start, end, None, "", how))
        else:
            how = "GBK text had been decoded one byte out of step"
            runs.append(Run(start, end, repaired[0], repaired[1], how))
    return sorted(runs, key=lambda r: r.start)
