"""Cleaning text from dirty sources, with warnings an editor can act on.

``clean_source_text`` is the stable entry point (the editors' desk shows its warnings
beside each field). In order, it:

1. removes characters XML 1.0 forbids and normalises to NFC (as ``feedsvc.text`` does);
2. finds suspected GBK mojibake runs and repairs those it can recover safely
   (``feedsvc.ingest.mojibake``); a run it cannot repair is kept exactly as it arrived;
3. removes pinyin annotations such as the ``(fā)`` in ``發(fā)`` (``feedsvc.ingest.pinyin``),
   including one left after a repaired character, but never inside an unrepaired run;
4. flags private-use characters outside mojibake runs (they have no standard meaning).

Every mojibake run, repaired or not, and every private-use character gives an
:class:`IngestWarning`; nothing suspicious passes silently. Positions are offsets into
``Cleaned.text`` (Python ``str`` indices, i.e. code points), ``end`` exclusive. Pure: no
framework, no clock.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from feedsvc import text as textmod
from feedsvc.ingest.mojibake import find_runs, is_private_use
from feedsvc.ingest.pinyin import annotation_spans

__all__ = [
    "CLEANED_FIELDS",
    "KINDS",
    "Cleaned",
    "IngestWarning",
    "WarningKind",
    "clean_fields",
    "clean_source_text",
]

WarningKind = Literal["mojibake", "mojibake-repaired", "private-use"]
KINDS: tuple[WarningKind, ...] = ("mojibake", "mojibake-repaired", "private-use")


@dataclass(frozen=True)
class IngestWarning:
    """Something in a field an editor must look at before the article goes out.

    kind: ``mojibake`` (suspected misdecoded text, left as it arrived),
    ``mojibake-repaired`` (recovered; check it) or ``private-use`` (a character with no
    standard meaning). ``text[start:end]`` is the affected span of the cleaned text;
    ``excerpt`` is what the source sent there; ``field`` names the field when known.
    """

    kind: WarningKind
    start: int
    end: int
    excerpt: str
    message: str
    field: str = ""

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def describe(self) -> str:
        where = (
            f"{self.field}[{self.start}:{self.end}]" if self.field else f"[{self.start}:{self.end}]"
        )
        return f"{where} {self.kind}: {self.message}"


@dataclass(frozen=True)
class Cleaned:
    """The cleaned text, its warnings, and counts of what was removed silently."""

    text: str
    warnings: tuple[IngestWarning, ...] = ()
    pinyin_removed: int = 0
    invalid_removed: int = 0

    @property
    def clean(self) -> bool:
        """True when nothing needs an editor's eye."""
        return not self.warnings


def _codepoints(s: str) -> str:
    return " ".join(f"U+{ord(c):04X}" for c in s)


def _run_warning(
    excerpt: str, repaired: str | None, guessed: str, how: str
) -> tuple[WarningKind, str]:
    if repaired is None:
        return "mojibake", f"suspected mojibake {excerpt!r}: {how}; fix it by hand"
    note = f"; {guessed!r} was inferred from context for a lost byte" if guessed else ""
    return (
        "mojibake-repaired",
        f"suspected mojibake {excerpt!r} repaired to {repaired!r}: {how}{note}",
    )


def clean_source_text(text: str) -> Cleaned:
    """Clean one field of scraped or imported text; see the module docstring for the steps."""
    stripped = textmod.strip_xml_invalid(text)
    invalid_removed = len(text) - len(stripped)
    source = unicodedata.normalize("NFC", stripped)

    # Pass 1: substitute repaired runs, remembering each run's span in the new string.
    parts: list[str] = []
    spans: list[tuple[int, int, str, str | None, str, str]] = []
    at = pos = 0
    for run in find_runs(source):
        parts.append(source[pos : run.start])
        at += run.start - pos
        excerpt = source[run.start : run.end]
        replacement = run.repaired if run.repaired is not None else excerpt
        spans.append((at, at + len(replacement), excerpt, run.repaired, run.guessed, run.how))
        parts.append(replacement)
        at += len(replacement)
        pos = run.end
    parts.append(source[pos:])
    middle = "".join(parts)

    # Pass 2: drop annotations outside unrepaired runs, tracking how far each offset moves.
    frozen = [(s, e) for s, e, _, repaired, _, _ in spans if repaired is None]
    cuts = [
        (s, e)
        for s, e in annotation_spans(middle)
        if not any(s < fe and e > fs for fs, fe in frozen)
    ]
    out: list[str] = []
    pos = 0
    for s, e in cuts:
        out.append(middle[pos:s])
        pos = e
    out.append(middle[pos:])
    cleaned = "".join(out)

    def moved(offset: int) -> int:
        return offset - sum(min(e, offset) - s for s, e in cuts if s < offset)

    warnings: list[IngestWarning] = []
    for s, e, excerpt, repaired, guessed, how in spans:
        kind, message = _run_warning(excerpt, repaired, guessed, how)
        warnings.append(IngestWarning(kind, moved(s), moved(e), excerpt, message))
    covered = [(w.start, w.end) for w in warnings]
    i = 0
    while i < len(cleaned):
        if is_private_use(cleaned[i]) and not any(s <= i < e for s, e in covered):
            j = i
            while j < len(cleaned) and is_private_use(cleaned[j]):
                j += 1
            chars = cleaned[i:j]
            message = f"private-use character {_codepoints(chars)} has no standard meaning"
            warnings.append(IngestWarning("private-use", i, j, chars, message))
            i = j
        else:
            i += 1
    warnings.sort(key=lambda w: (w.start, w.end))
    return Cleaned(cleaned, tuple(warnings), len(cuts), invalid_removed)


CLEANED_FIELDS = ("title", "summary", "content_html", "author", "source", "original_source")
_ONE_LINE = ("title", "author", "source", "original_source")


def clean_fields(
    fields: Mapping[str, Any], base_url: str | None = None
) -> tuple[dict[str, Any], tuple[IngestWarning, ...], int]:
    """Clean the text fields of an article; return (fields, warnings, pinyin removed).

    Each field is first normalised the way ``publishing`` stores it (one-line fields
    collapsed, summary kept multi-line, body sanitised with relative URLs resolved against
    ``base_url``), so warning positions are offsets into the value that will be stored.
    """
    result = dict(fields)
    warnings: list[IngestWarning] = []
    removed = 0
    for name in CLEANED_FIELDS:
        value = fields.get(name)
        if not isinstance(value, str):
            continue
        if name in _ONE_LINE:
            value = textmod.clean_text(value)
        elif name == "summary":
            value = textmod.clean_multiline(value)
        else:
            value = textmod.sanitize_html(value, base_url=base_url)
        cleaned = clean_source_text(value)
        result[name] = cleaned.text
        removed += cleaned.pinyin_removed
        warnings.extend(dataclasses.replace(w, field=name) for w in cleaned.warnings)
    return result, tuple(warnings), removed
