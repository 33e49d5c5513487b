"""PURE: the Simplified and Traditional variants of a feed, converted with OpenCC.

Text is converted only where its script differs from the variant asked for: running
Simplified-to-Traditional over text that is already Traditional is not harmless (OpenCC
turns the place name 余姚 into 餘姚). Each item goes by its own language tag; the feed's
own texts by the feed's. The variant's language tag replaces the original everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache

import opencc

from feedsvc.types import Category, FeedMeta, ItemData


@dataclass(frozen=True)
class Variant:
    name: str  # as in ?variant=zh-hans
    language: str  # the BCP 47 tag the feed then carries
    conversion: str  # the OpenCC configuration that produces it


VARIANTS: dict[str, Variant] = {
    v.name: v for v in (Variant("zh-hans", "zh-Hans", "t2s"), Variant("zh-hant", "zh-Hant", "s2t"))
}
TRADITIONAL_REGIONS = ("tw", "hk", "mo")


def script_of(language: str | None) -> str | None:
    """'zh-hans' or 'zh-hant' for a Chinese language tag, None for anything else."""
    if not language:
        return None
    parts = language.lower().split("-")
    if parts[0] != "zh":
        return None
    if "hant" in parts or any(region in parts for region in TRADITIONAL_REGIONS):
        return "zh-hant"
    return "zh-hans"


@cache
def _converter(conversion: str) -> opencc.OpenCC:
    return opencc.OpenCC(conversion)


def _convert(text: str, variant: Variant) -> str:
    converted: str = _converter(variant.conversion).convert(text)
    return converted


def convert_item(item: ItemData, variant: Variant) -> ItemData:
    if script_of(item.language) in (None, variant.name):
        return replace(item, language=variant.language) if item.language else item

    def c(text: str) -> str:
        return _convert(text, variant)

    return replace(
        item,
        title=c(item.title),
        summary=c(item.summary),
        content_html=c(item.content_html),
        author=c(item.author) if item.author else item.author,
        source=c(item.source) if item.source else item.source,
        language=variant.language,
        categories=tuple(Category(cat.term, c(cat.label)) for cat in item.categories),
    )


def convert_meta(meta: FeedMeta, variant: Variant) -> FeedMeta:
    """The feed's own texts as readers of `variant` see them (links are the caller's
    business; items go through convert_item)."""
    if script_of(meta.language) not in (None, variant.name):
        meta = replace(
            meta,
            title=_convert(meta.title, variant),
            description=_convert(meta.description, variant),
        )
    return replace(meta, language=variant.language)
