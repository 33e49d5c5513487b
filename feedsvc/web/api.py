"""The editor JSON API under /api: articles, tags, sections, where an article appears, previews.

Every call needs a bearer token. Each write is one transaction: it commits whole, with the
dirty marks of the feeds it touches, or not at all.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, g, jsonify, request
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from feedsvc import publishing, regenerate, taxonomy, tokens
from feedsvc.app import services
from feedsvc.db import transaction
from feedsvc.errors import FeedsvcError, NotFound
from feedsvc.models import Article, Section, Tag, article_sections, article_tags
from feedsvc.types import FORMATS, MEDIA_TYPES, FeedKey
from feedsvc.web import schemas
from feedsvc.web.problems import problem

bp = Blueprint("api", __name__, url_prefix="/api")
M = TypeVar("M", bound=BaseModel)
MAX_PAGE = 200


@bp.before_request
def authenticate() -> Response | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return problem(
            401,
            "Unauthorized",
            "send Authorization: Bearer <token>",
            headers={"WWW-Authenticate": 'Bearer realm="feedsvc"'},
        )
    with services().sessions() as session:
        role = tokens.role_of(session, token.strip())
    if role is None:
        return problem(
            401,
            "Unauthorized",
            "unknown or revoked token",
            headers={"WWW-Authenticate": 'Bearer realm="feedsvc", error="invalid_token"'},
        )
    if role not in ("editor", "admin"):
        return problem(403, "Forbidden", f"the {role} role cannot use the editor API")
    g.role = role
    return None


def _body(model: type[M]) -> M:
    data = request.get_json(force=True, silent=False)  # malformed JSON: 400
    if not isinstance(data, dict):
        raise FeedsvcError("the request body must be a JSON object")
    return model.model_validate(_without_surrogates(data))


LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _without_surrogates(value: Any) -> Any:
    """Drop lone surrogates from every string, keys too, before validation sees them.

    JSON can escape them ("\\ud800") and pydantic would refuse the whole body; like every
    other character XML forbids they are removed. The rest is text.py's job, field by field.
    """
    if isinstance(value, str):
        return LONE_SURROGATE.sub("", value)
    if isinstance(value, list):
        return [_without_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_without_surrogates(k): _without_surrogates(v) for k, v in value.items()}
    return value


def _now() -> datetime:
    return datetime.now(UTC)


def _write(work: Callable[[Session, datetime], Any]) -> Any:
    with transaction(services().sessions) as session:
        return work(session, _now())


# --- serialisation -------------------------------------------------------------------------


def _time(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(ZoneInfo(services().settings.timezone)).isoformat()


def _tag_json(tag: Tag) -> dict[str, Any]:
    return {"name": tag.name, "slug": tag.slug, "feed": _feed_urls(FeedKey.tag(tag.slug))}


def _section_json(section: Section) -> dict[str, Any]:
    return {
        "name": section.name,
        "slug": section.slug,
        "description": section.description,
        "rule_any_tags": [t.name for t in section.rule_tags],
        "feed": _feed_urls(FeedKey.section(section.slug)),
    }


def _article_json(article: Article) -> dict[str, Any]:
    return {
        "id": article.id,
        "uid": article.uid,
        "slug": article.slug,
        "title": article.title,
        "summary": article.summary,
        "content_html": article.content_html,
        "author": article.author,
        "source": article.source,
        "original_source": article.original_source,
        "link": article.link,
        "language": article.language,
        "status": article.status,
        "published_at": _time(article.published_at),
        "updated_at": _time(article.updated_at),
        "created_at": _time(article.created_at),
        "tags": [{"name": t.name, "slug": t.slug} for t in article.tags],
        "sections": [{"name": s.name, "slug": s.slug} for s in article.sections],
    }


def _feed_urls(key: FeedKey) -> dict[str, str]:
    base = services().settings.public_base
    return {fmt: f"{base}{key.path}.{fmt}" for fmt in FORMATS}


def _created(body: dict[str, Any], location: str) -> Response:
    response = jsonify(body)
    response.status_code = 201
    response.headers["Location"] = location
    return response


# --- articles ------------------------------------------------------------------------------


@bp.get("/articles")
def list_articles() -> Response:
    args = request.args
    limit = max(1, min(args.get("limit", 50, type=int) or 50, MAX_PAGE))
    offset = max(args.get("offset", 0, type=int) or 0, 0)
    stmt = select(Article)
    if args.get("status"):
        stmt = stmt.where(Article.status == args["status"])
    with services().sessions() as session:
        if args.get("tag"):
            tag = taxonomy.get_tag(session, args["tag"])
            ids = select(article_tags.c.article_id).where(article_tags.c.tag_id == tag.id)
            stmt = stmt.where(Article.id.in_(ids))
        if args.get("section"):
            section = taxonomy.get_section(session, args["section"])
            placed = article_sections.c.section_id == section.id
            stmt = stmt.where(Article.id.in_(select(article_sections.c.article_id).where(placed)))
        stmt = (
            stmt.order_by(Article.published_at.desc().nulls_first(), Article.id.desc())
            .limit(limit)
            .offset(offset)
        )
        items = [_article_json(a) for a in session.scalars(stmt)]
    return jsonify({"items": items, "limit": limit, "offset": offset})


@bp.post("/articles")
def create_article() -> Response:
    data = _body(schemas.ArticleCreate).model_dump(exclude_unset=True)
    settings = services().settings
    article = _write(lambda s, now: publishing.create_article(s, data, now, settings))
    return _created(_article_json(article), f"/api/articles/{article.id}")


@bp.get("/articles/<int:article_id>")
def read_article(article_id: int) -> Response:
    with services().sessions() as session:
        return jsonify(_article_json(publishing.get_article(session, article_id)))


@bp.patch("/articles/<int:article_id>")
def update_article(article_id: int) -> Response:
    data = _body(schemas.ArticlePatch).model_dump(exclude_unset=True)
    settings = services().settings
    article = _write(lambda s, now: publishing.update_article(s, article_id, data, now, settings))
    return jsonify(_article_json(article))


@bp.delete("/articles/<int:article_id>")
def delete_article(article_id: int) -> Response:
    _write(lambda s, now: publishing.delete_article(s, article_id, now))
    return Response(status=204)


@bp.post("/articles/<int:article_id>/tags")
def add_tags(article_id: int) -> Response:
    names = _body(schemas.TagNames).tags
    settings = services().settings

    def work(session: Session, now: datetime) -> Article:
        article = publishing.get_article(session, article_id)
        merged = [t.name for t in article.tags] + names
        return publishing.update_article(session, article_id, {"tags": merged}, now, settings)

    return jsonify(_article_json(_write(work)))


@bp.delete("/articles/<int:article_id>/tags/<ref>")
def remove_tag(article_id: int, ref: str) -> Response:
    settings = services().settings

    def work(session: Session, now: datetime) -> Article:
        article = publishing.get_article(session, article_id)
        kept = [t.name for t in article.tags if ref not in (t.slug, t.name)]
        if len(kept) == len(article.tags):
            raise NotFound(f"article {article_id} has no tag {ref!r}")
        return publishing.update_article(session, article_id, {"tags": kept}, now, settings)

    return jsonify(_article_json(_write(work)))


@bp.get("/articles/<int:article_id>/feeds")
def article_feeds(article_id: int) -> Response:
    with services().sessions() as session:
        article = publishing.get_article(session, article_id)
        keys = publishing.feeds_of_article(session, article)
    feeds = [{"key": k.path, "kind": k.kind, "slug": k.slug, "urls": _feed_urls(k)} for k in keys]
    return jsonify({"article": article_id, "status": article.status, "feeds": feeds})


# --- tags and sections ---------------------------------------------------------------------


@bp.get("/tags")
def list_tags() -> Response:
    with services().sessions() as session:
        tags = session.scalars(select(Tag).order_by(Tag.slug))
        return jsonify({"items": [_tag_json(t) for t in tags]})


@bp.post("/tags")
def create_tag() -> Response:
    body = _body(schemas.TagCreate)
    tag = _write(lambda s, now: taxonomy.create_tag(s, body.name, body.slug, now))
    return _created(_tag_json(tag), f"/api/tags/{tag.slug}")


@bp.get("/tags/<ref>")
def read_tag(ref: str) -> Response:
    with services().sessions() as session:
        return jsonify(_tag_json(taxonomy.get_tag(session, ref)))


@bp.patch("/tags/<ref>")
def update_tag(ref: str) -> Response:
    data = _body(schemas.TagPatch).model_dump(exclude_unset=True)
    return jsonify(_tag_json(_write(lambda s, now: taxonomy.update_tag(s, ref, data, now))))


@bp.delete("/tags/<ref>")
def delete_tag(ref: str) -> Response:
    _write(lambda s, now: taxonomy.delete_tag(s, ref, now))
    return Response(status=204)


@bp.get("/sections")
def list_sections() -> Response:
    with services().sessions() as session:
        sections = session.scalars(select(Section).order_by(Section.slug))
        return jsonify({"items": [_section_json(s) for s in sections]})


@bp.post("/sections")
def create_section() -> Response:
    data = _body(schemas.SectionCreate).model_dump(exclude_unset=True)
    section = _write(lambda s, now: taxonomy.create_section(s, data, now))
    return _created(_section_json(section), f"/api/sections/{section.slug}")


@bp.get("/sections/<ref>")
def read_section(ref: str) -> Response:
    with services().sessions() as session:
        return jsonify(_section_json(taxonomy.get_section(session, ref)))


@bp.patch("/sections/<ref>")
def update_section(ref: str) -> Response:
    data = _body(schemas.SectionPatch).model_dump(exclude_unset=True)
    section = _write(lambda s, now: taxonomy.update_section(s, ref, data, now))
    return jsonify(_section_json(section))


@bp.delete("/sections/<ref>")
def delete_section(ref: str) -> Response:
    _write(lambda s, _now: taxonomy.delete_section(s, ref))
    return Response(status=204)


# --- preview -------------------------------------------------------------------------------


@bp.get("/preview/<path:feed>")
def preview(feed: str) -> Response:
    """Render a feed as it would be now, without storing it: `/api/preview/feeds/all.rss`."""
    stem, _, ext = ("/" + feed).rpartition(".")
    try:
        key = FeedKey.from_path(stem)
    except ValueError:
        raise NotFound(f"no feed {feed!r}") from None
    if ext not in FORMATS:
        raise NotFound(f"no format {ext!r}; use one of {', '.join(FORMATS)}")
    with services().sessions() as session:
        result = regenerate.render_feed(session, key, services().settings)
    if result is None:
        raise NotFound(f"no feed {key.path}")
    rendered = result.formats[ext]
    response = Response(rendered.body, content_type=f"{MEDIA_TYPES[ext]}; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    return response
