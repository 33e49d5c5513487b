"""Pinyin annotations: the `發(fā)` that conversion sites insert after characters.

Some Simplified-to-Traditional converters annotate every character whose two forms differ
with its reading in parentheses. The annotation is noise for a reader. A parenthesis is
only taken for an annotation when it holds one lowercase pinyin syllable that is a reading
of the character right before it, so `(1)`, `(來源:…)` and `(Photonics)` are left alone.
Pure: no framework, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache

from pypinyin import Style, pinyin

from feedsvc.text import HAN, to_simplified

__all__ = ["annotation_spans", "is_reading"]

_TONED = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜü"
SYLLABLE = f"[a-z{_TONED}]{{1,6}}"
# Han (BMP and supplementary planes) followed by a syllable in ASCII or full-width parentheses.
_ANNOTATED = re.compile(f"({HAN})[(\uff08]({SYLLABLE})[)\uff09]")
_HAS_TONE = re.compile(f"[{_TONED[:-1]}]")


@cache
def _readings(char: str) -> frozenset[str]:
    found: set[str] = set()
    for form in {char, to_simplified(char)}:
        for reading in pinyin(form, style=Style.TONE, heteronym=True, errors="ignore"):
            found.update(reading)
    return frozenset(found)


def is_reading(char: str, syllable: str) -> bool:
    """True when `syllable` (toned pinyin) is a reading of `char`.

    A character pypinyin does not know is given the benefit of the doubt only when the
    syllable carries a tone mark: bare lowercase words in parentheses are too often English.
    """
    readings = _readings(char)
    if readings:
        return syllable in readings
    return _HAS_TONE.search(syllable) is not None


def annotation_spans(text: str) -> Iterator[tuple[int, int]]:
    """Yield (start, end) of each annotation to delete, parentheses included, in order."""
    for match in _ANNOTATED.finditer(text):
        if is_reading(match.group(1), match.group(2)):
            yield match.start(1) + len(match.group(1)), match.end()
