"""PURE: which feeds an article belongs to, and which feeds an edit affects.

An article that readers may see (published) belongs to the site-wide feed, to the feed of
each of its tags, and to the feed of each section it is placed in or whose rule matches
one of its tags. Drafts, scheduled and retracted articles belong to no feed.

The SQL in `queries.py` selects feed items by the same rules; a test checks the two agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from feedsvc.types import FeedKey


@dataclass(frozen=True)
class SectionRule:
    """A section's routing rule: an article carrying any of `any_tags` (slugs) belongs."""

    section: str
    any_tags: frozenset[str]

    def matches(self, tags: frozenset[str]) -> bool:
        return not self.any_tags.isdisjoint(tags)


@dataclass(frozen=True)
class Placement:
    """What routing needs to know of an article at one moment."""

    visible: bool
    tags: frozenset[str] = frozenset()
    sections: frozenset[str] = frozenset()


HIDDEN = Placement(visible=False)


def feeds_of(article: Placement, rules: Iterable[SectionRule]) -> frozenset[FeedKey]:
    if not article.visible:
        return frozenset()
    routed = {rule.section for rule in rules if rule.matches(article.tags)}
    return frozenset(
        {FeedKey.site()}
        | {FeedKey.tag(t) for t in article.tags}
        | {FeedKey.section(s) for s in article.sections | routed}
    )


def affected(
    before: Placement, after: Placement, rules: Iterable[SectionRule]
) -> frozenset[FeedKey]:
    """Feeds to re-render after an edit that took an article from `before` to `after`.

    Both sides count: a feed the article leaves must drop it, a feed it enters must show
    it, and a feed it stays in shows its new title, text or categories.
    """
    rules = tuple(rules)
    return feeds_of(before, rules) | feeds_of(after, rules)
