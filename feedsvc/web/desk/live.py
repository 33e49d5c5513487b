"""JSON the desk's pages fetch while an editor types: where an article would appear, tag
suggestions, the articles a section rule would match. Nothing here writes.

"Appears in" runs routing.feeds_of, the code the scheduler's dirty marks come from, on
the tags and sections typed so far; tags that do not exist yet get the slug they would
be given on save.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from flask_babel import gettext as _
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from feedsvc import queries, text
from feedsvc.app import services
from feedsvc.models import Article, Section, Tag, article_tags
from feedsvc.routing import Placement, feeds_of
from feedsvc.web.desk import bp
from feedsvc.web.desk.forms import split_names

SUGGESTIONS = 10
RULE_PREVIEW = 20


def _tag_slugs(db: Session, names: list[str]) -> tuple[dict[str, str], set[str]]:
    """Slug per typed tag name, and the slugs of names that would be new tags."""
    slugs: dict[str, str] = {}
    new: set[str] = set()
    for raw in names:
        name = text.clean_text(raw)
        if not name:
            continue
        # By name only, as taxonomy.tags_by_names finds them on save: a typed slug is a new name.
        slug = db.scalar(select(Tag.slug).where(Tag.name == name))
        if slug is None:
            slug = text.unique_slug(
                text.slugify(name),
                lambda s: db.scalar(select(Tag.id).where(Tag.slug == s)) is not None,
                "tag",
            )
            new.add(slug)
        slugs[name] = slug
    return slugs, new


@bp.get("/api/appears-in")
def appears_in() -> Response:
    args = request.args
    with services().sessions() as db:
        slugs, new = _tag_slugs(db, split_names(args.get("tags", "")))
        placed = frozenset(args.getlist("sections"))
        rules = queries.section_rules(db)
        keys = feeds_of(Placement(True, frozenset(slugs.values()), placed), rules)
        tag_names = {v: k for k, v in slugs.items()}
        section_names = {
            slug: name for slug, name in db.execute(select(Section.slug, Section.name))
        }
    by_rule = {r.section for r in rules if r.matches(frozenset(slugs.values()))}
    feeds: list[dict[str, Any]] = []
    for key in sorted(keys):
        if key.kind == "all":
            label, why = _("Site-wide"), _("every published article")
        elif key.kind == "tag":
            label = "#" + tag_names.get(key.slug, key.slug)
            why = _("new tag, created on save") if key.slug in new else _("tag")
        else:
            label = section_names.get(key.slug, key.slug)
            why = _("placed in section") if key.slug in placed else _("section rule")
            if key.slug in placed and key.slug in by_rule:
                why = _("placed in section and matched by its rule")
        feeds.append({"key": key.path, "kind": key.kind, "label": label, "why": why})
    visible = args.get("status", "published") in ("published", "scheduled")
    return jsonify({"visible": visible, "feeds": feeds})


@bp.get("/api/tags")
def tag_suggestions() -> Response:
    needle = text.clean_text(request.args.get("q", ""))
    if not needle:
        return jsonify({"tags": []})
    like = f"%{needle}%"
    with services().sessions() as db:
        rows = db.execute(
            select(Tag.name, Tag.slug)
            .where(or_(Tag.name.like(like), Tag.slug.like(like.lower())))
            .order_by(Tag.name)
            .limit(SUGGESTIONS)
        ).all()
    return jsonify({"tags": [{"name": n, "slug": s} for n, s in rows]})


@bp.get("/api/rule-preview")
def rule_preview() -> Response:
    """Published articles carrying any of the typed tags: what the section's rule would add."""
    with services().sessions() as db:
        slugs, _new = _tag_slugs(db, split_names(request.args.get("tags", "")))
        tag_ids = select(Tag.id).where(Tag.slug.in_(list(slugs.values())))
        tagged = select(article_tags.c.article_id).where(article_tags.c.tag_id.in_(tag_ids))
        rows = db.scalars(
            select(Article)
            .where(Article.status == "published", Article.id.in_(tagged))
            .order_by(Article.published_at.desc(), Article.id.desc())
            .limit(RULE_PREVIEW)
        ).all()
        items = [{"id": a.id, "title": a.title, "tags": [t.name for t in a.tags]} for a in rows]
    return jsonify({"articles": items})
