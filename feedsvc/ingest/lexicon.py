"""Word frequencies for judging a repaired character in context (jieba's dictionary).

Only the dictionary file is read; jieba itself is never imported (its import sets up a
segmenter and logging this package does not need). Loaded once, on the first repair that
has to choose between candidate characters. Pure: no framework, no clock.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

__all__ = ["word_frequencies"]


@cache
def word_frequencies() -> dict[str, int]:
    """Simplified-Chinese word -> corpus frequency; empty when jieba is not installed."""
    spec = importlib.util.find_spec("jieba")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(next(iter(spec.submodule_search_locations))) / "dict.txt"
    words: dict[str, int] = {}
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            word, freq, *_ = line.split(" ")
            if 2 <= len(word) <= 4:
                words[word] = int(freq)
    return words
