"""Use cases for tags and sections, the two ways an article is routed into feeds.

Like publishing.py: clean input, change rows, keep feed_entries in step (renamed, dropped
or refilled per feed, in SQL, since one tag can hold a hundred thousand articles), mark the
feeds the change touches, all in the caller's transaction.

Each use case that writes takes the routing lock (db.lock_routing) before it reads anything:
exclusive when it changes which feeds hold which articles (rules, renames, merges, deletes),
so no article write reads the rules or syncs an article's rows meanwhile; shared to create
a tag, like an article write creating one, so a rename or merge sees it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from feedsvc import db, partners, queries, store, text
from feedsvc.errors import Conflict, Invalid, NotFound
from feedsvc.models import Article, Section, Tag, TagAlias, article_tags
from feedsvc.routing import feeds_of
from feedsvc.types import FeedKey

MAX_NAME = 100
EVERY_PAGE = datetime.min.replace(tzinfo=UTC)


def clean_name(raw: str, field: str = "name") -> str:
    name = text.clean_text(raw)
    if not name:
        raise Invalid.field(field, "must not be empty")
    if len(name) > MAX_NAME:
        raise Invalid.field(field, f"must be at most {MAX_NAME} characters")
    return name


def get_tag(session: Session, ref: str) -> Tag:
    tag = session.scalar(select(Tag).where((Tag.slug == ref) | (Tag.name == ref)))
    if tag is None:
        raise NotFound(f"no tag {ref!r}")
    return tag


def get_section(session: Session, ref: str) -> Section:
    section = session.scalar(select(Section).where((Section.slug == ref) | (Section.name == ref)))
    if section is None:
        raise NotFound(f"no section {ref!r}")
    return section


def tags_by_names(session: Session, names: Iterable[str], now: datetime) -> list[Tag]:
    """The tags with these display names, creating the missing ones."""
    found: list[Tag] = []
    for name in dict.fromkeys(clean_name(n, "tags") for n in names):
        tag = session.scalar(select(Tag).where(Tag.name == name))
        found.append(tag or _new_tag(session, name, None, now))
    return found


def create_tag(session: Session, name: str, slug: str | None, now: datetime) -> Tag:
    name = clean_name(name)
    db.lock_routing(session, exclusive=False)
    if session.scalar(select(Tag.id).where(Tag.name == name)) is not None:
        raise Conflict(f"a tag named {name!r} exists")
    return _new_tag(session, name, slug, now)


def _new_tag(session: Session, name: str, slug: str | None, now: datetime) -> Tag:
    tag = Tag(name=name, slug=_choose_slug(session, Tag, name, slug), created_at=now)
    session.add(tag)
    session.flush()
    _drop_alias(session, tag.slug)  # a live tag wins over an old slug of another
    # However the tag came to be (API, an article, a section rule), its feed must exist.
    store.mark_dirty(session, [FeedKey.tag(tag.slug)], now)
    return tag


def update_tag(session: Session, ref: str, fields: Mapping[str, Any], now: datetime) -> Tag:
    db.lock_routing(session, exclusive=True)
    tag = get_tag(session, ref)
    old_key = FeedKey.tag(tag.slug)
    _rename(session, Tag, tag, fields)
    # Every item carrying the tag shows its label, so every feed holding one changes.
    articles = _articles_tagged(session, tag.id)
    touched = _feeds_of_articles(session, articles)
    if old_key.slug != tag.slug:
        queries.rename_entries(session, old_key, FeedKey.tag(tag.slug))
        partners.follow_feed(session, old_key, FeedKey.tag(tag.slug))
        store.forget(session, [old_key])
        _drop_alias(session, tag.slug)
        # The old feed URL keeps working: web/feeds.py answers it with a 301.
        session.add(TagAlias(slug=old_key.slug, tag_id=tag.id, created_at=now))
        session.flush()
    store.mark_dirty(session, touched | {FeedKey.tag(tag.slug)}, now, _oldest(articles))
    return tag


def rename_tag(session: Session, ref: str, new_name: str, now: datetime) -> Tag:
    """Rename a tag; its slug follows the new name and the old slug redirects."""
    db.lock_routing(session, exclusive=True)
    tag = get_tag(session, ref)
    name = clean_name(new_name)
    slug = text.unique_slug(
        text.slugify(name),
        lambda s: s != tag.slug and session.scalar(select(Tag.id).where(Tag.slug == s)) is not None,
        "tag",
    )
    return update_tag(session, tag.slug, {"name": name, "slug": slug}, now)


def merge_tags(session: Session, source_ref: str, target_ref: str, now: datetime) -> Tag:
    """Fold `source` into `target`: its articles and section rules carry `target` instead,
    and its feed URLs (and any older slugs of it) redirect to `target`'s feed."""
    db.lock_routing(session, exclusive=True)
    source, target = get_tag(session, source_ref), get_tag(session, target_ref)
    if source.id == target.id:
        raise Invalid.field("target", "must be another tag than the one merged into it")
    articles = _articles_tagged(session, source.id)
    ruled = _sections_ruled_by(session, source)
    touched = _feeds_of_articles(session, articles)
    touched |= {FeedKey.section(s.slug) for s in ruled}
    for tags in [*(a.tags for a in articles), *(s.rule_tags for s in ruled)]:
        if target not in tags:
            tags.append(target)
        tags.remove(source)
    session.flush()
    session.execute(update(TagAlias).where(TagAlias.tag_id == source.id).values(tag_id=target.id))
    old_slug = source.slug
    session.delete(source)
    session.flush()
    session.add(TagAlias(slug=old_slug, tag_id=target.id, created_at=now))
    queries.drop_entries(session, FeedKey.tag(old_slug))
    queries.refill_entries(session, FeedKey.tag(target.slug))
    partners.follow_feed(session, FeedKey.tag(old_slug), FeedKey.tag(target.slug))
    # Sections ruled by the source are ruled by the target now; both kinds gain articles.
    for section in _sections_ruled_by(session, target):
        queries.refill_entries(session, FeedKey.section(section.slug))
    for article in articles:
        session.refresh(article)
    touched |= _feeds_of_articles(session, articles)
    store.forget(session, [FeedKey.tag(old_slug)])
    keys = (touched - {FeedKey.tag(old_slug)}) | {FeedKey.tag(target.slug)}
    store.mark_dirty(session, keys, now, _oldest(articles))
    return target


def _oldest(articles: Iterable[Article]) -> datetime | None:
    """The oldest publication among articles an edit changed: archive pages from there."""
    return min((a.published_at for a in articles if a.published_at), default=None)


def _drop_alias(session: Session, slug: str) -> None:
    session.execute(delete(TagAlias).where(TagAlias.slug == slug))


def delete_tag(session: Session, ref: str, now: datetime) -> None:
    db.lock_routing(session, exclusive=True)
    tag = get_tag(session, ref)
    articles = _articles_tagged(session, tag.id)
    touched = _feeds_of_articles(session, articles)
    ruled = _sections_ruled_by(session, tag)
    touched |= {FeedKey.section(s.slug) for s in ruled}
    session.delete(tag)
    session.flush()
    queries.drop_entries(session, FeedKey.tag(tag.slug))
    partners.follow_feed(session, FeedKey.tag(tag.slug), None)
    for section in ruled:
        queries.refill_entries(session, FeedKey.section(section.slug))
    for article in articles:
        session.refresh(article)
    touched |= _feeds_of_articles(session, articles)
    store.forget(session, [FeedKey.tag(tag.slug)])
    store.mark_dirty(session, touched - {FeedKey.tag(tag.slug)}, now, _oldest(articles))


def create_section(session: Session, fields: Mapping[str, Any], now: datetime) -> Section:
    name = clean_name(fields.get("name") or "")
    db.lock_routing(session, exclusive=True)
    if session.scalar(select(Section.id).where(Section.name == name)) is not None:
        raise Conflict(f"a section named {name!r} exists")
    slug = _choose_slug(session, Section, name, fields.get("slug"))
    section = Section(name=name, slug=slug, description=_description(fields))
    section.rule_tags = tags_by_names(session, fields.get("rule_any_tags") or [], now)
    session.add(section)
    session.flush()
    if section.rule_tags:
        queries.refill_entries(session, FeedKey.section(section.slug))
    store.mark_dirty(session, [FeedKey.section(section.slug)], now)
    return section


def update_section(session: Session, ref: str, fields: Mapping[str, Any], now: datetime) -> Section:
    db.lock_routing(session, exclusive=True)
    section = get_section(session, ref)
    old_key = FeedKey.section(section.slug)
    _rename(session, Section, section, fields)
    if "description" in fields:
        section.description = _description(fields)
    if "rule_any_tags" in fields:
        section.rule_tags = tags_by_names(session, fields["rule_any_tags"] or [], now)
    session.flush()
    if old_key.slug != section.slug:
        queries.rename_entries(session, old_key, FeedKey.section(section.slug))
        partners.follow_feed(session, old_key, FeedKey.section(section.slug))
        store.forget(session, [old_key])
    if "rule_any_tags" in fields:
        queries.refill_entries(session, FeedKey.section(section.slug))
    # Name, description or rule: the section's own feed is the only one that can change,
    # but a rule can move articles of any age, so every archive page is rendered again.
    store.mark_dirty(session, [FeedKey.section(section.slug)], now, EVERY_PAGE)
    return section


def delete_section(session: Session, ref: str) -> None:
    db.lock_routing(session, exclusive=True)
    section = get_section(session, ref)
    store.forget(session, [FeedKey.section(section.slug)])
    queries.drop_entries(session, FeedKey.section(section.slug))
    partners.follow_feed(session, FeedKey.section(section.slug), None)
    session.delete(section)
    session.flush()


Named = Tag | Section


def _noun(model: type[Named]) -> str:
    return "tag" if model is Tag else "section"


def _choose_slug(session: Session, model: type[Named], name: str, slug: str | None) -> str:
    """The slug asked for if it is valid and free, else one derived from the name."""
    if slug is not None:
        _check_slug(slug)
        if session.scalar(select(model.id).where(model.slug == slug)) is not None:
            raise Conflict(f"slug {slug!r} is taken by another {_noun(model)}")
        return slug
    return text.unique_slug(
        text.slugify(name),
        lambda s: session.scalar(select(model.id).where(model.slug == s)) is not None,
        _noun(model),
    )


def _rename(session: Session, model: type[Named], row: Named, fields: Mapping[str, Any]) -> None:
    if fields.get("name") is not None:
        name = clean_name(fields["name"])
        other = session.scalar(select(model.id).where(model.name == name))
        if other is not None and other != row.id:
            raise Conflict(f"a {_noun(model)} named {name!r} exists")
        row.name = name
    if fields.get("slug") is not None and fields["slug"] != row.slug:
        row.slug = _choose_slug(session, model, row.name, fields["slug"])
    session.flush()


def _check_slug(slug: str) -> None:
    if not text.is_valid_slug(slug):
        raise Invalid.field(
            "slug", "must be lowercase ASCII letters and digits joined by single hyphens"
        )


def _description(fields: Mapping[str, Any]) -> str:
    return text.clean_multiline(fields.get("description") or "")


def _articles_tagged(session: Session, tag_id: int) -> list[Article]:
    ids = select(article_tags.c.article_id).where(article_tags.c.tag_id == tag_id)
    return list(session.scalars(select(Article).where(Article.id.in_(ids))))


def _sections_ruled_by(session: Session, tag: Tag) -> list[Section]:
    return [s for s in session.scalars(select(Section)) if tag in s.rule_tags]


def _feeds_of_articles(session: Session, articles: Iterable[Article]) -> set[FeedKey]:
    rules = queries.section_rules(session)
    touched: set[FeedKey] = set()
    for article in articles:
        touched |= feeds_of(queries.placement(article), rules)
    return touched
