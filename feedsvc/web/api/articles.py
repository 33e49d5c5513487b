"""Articles: create, read, list, edit, delete, tag, and where each appears."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select

from feedsvc import publishing, taxonomy
from feedsvc.app import services
from feedsvc.errors import Invalid
from feedsvc.ingest import clean_fields
from feedsvc.models import STATUSES, Article, article_sections, article_tags
from feedsvc.web import schemas
from feedsvc.web.api.common import (
    article_json,
    article_out,
    feed_urls,
    parse_body,
    write,
    write_once,
)

bp = Blueprint("articles", __name__)
MAX_PAGE = 200
# Larger offsets fail in the database driver (a 500), so they are clamped: OFFSET takes 64
# bits. (Impossible ids are refused for every route by web/api/__init__.py.)
MAX_INT = 2**63 - 1


@bp.get("/articles")
def list_articles() -> Response:
    args = request.args
    limit = max(1, min(args.get("limit", 50, type=int) or 50, MAX_PAGE))
    offset = max(0, min(args.get("offset", 0, type=int) or 0, MAX_INT))
    stmt = select(Article)
    if args.get("status"):
        if args["status"] not in STATUSES:
            raise Invalid.field("status", f"must be one of {', '.join(STATUSES)}")
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
        items = [article_json(a) for a in session.scalars(stmt)]
    return jsonify({"items": items, "limit": limit, "offset": offset})


@bp.post("/articles")
def create_article() -> Response:
    if "clean" in request.args:
        return create_from_source(request.args["clean"])
    data = parse_body(schemas.ArticleCreate).model_dump(exclude_unset=True)
    settings = services().settings
    return write_once(
        lambda s, now: publishing.create_article(s, data, now, settings),
        lambda article: (201, article_json(article), f"/api/articles/{article.id}"),
    )


def create_from_source(clean: str) -> Response:
    """Clean title, summary, body and credits like the importer; answer with the warnings.

    With warnings, a published or scheduled article is held back as a draft unless the
    body says ``"accept_warnings": true``.
    """
    if clean != "source":
        raise Invalid.field("clean", "the only cleaning offered is 'source'")
    data = parse_body(schemas.SourceArticleCreate).model_dump(exclude_unset=True)
    accept = data.pop("accept_warnings", False)
    settings = services().settings
    fields, warnings, _ = clean_fields(data, base_url=data.get("link") or settings.site_url)
    requested = fields.get("status", "draft")
    held = bool(warnings) and not accept and requested in ("published", "scheduled")
    if held:
        fields["status"] = "draft"

    def answer(article: Article) -> tuple[int, dict[str, Any], str]:
        body = schemas.SourceArticleOut(
            **dict(article_out(article)),
            warnings=[schemas.CleanWarning(**w.to_json()) for w in warnings],
            held_as_draft=held,
        )
        return 201, body.model_dump(mode="json"), f"/api/articles/{article.id}"

    return write_once(lambda s, now: publishing.create_article(s, fields, now, settings), answer)


@bp.get("/articles/<int:article_id>")
def read_article(article_id: int) -> Response:
    with services().sessions() as session:
        return jsonify(article_json(publishing.get_article(session, article_id)))


@bp.patch("/articles/<int:article_id>")
def update_article(article_id: int) -> Response:
    data = parse_body(schemas.ArticlePatch).model_dump(exclude_unset=True)
    settings = services().settings
    article = write(lambda s, now: publishing.update_article(s, article_id, data, now, settings))
    return jsonify(article_json(article))


@bp.delete("/articles/<int:article_id>")
def delete_article(article_id: int) -> Response:
    write(lambda s, now: publishing.delete_article(s, article_id, now))
    return Response(status=204)


@bp.post("/articles/<int:article_id>/tags")
def add_tags(article_id: int) -> Response:
    names = parse_body(schemas.TagNames).tags
    settings = services().settings
    article = write(lambda s, now: publishing.add_tags(s, article_id, names, now, settings))
    return jsonify(article_json(article))


@bp.delete("/articles/<int:article_id>/tags/<ref>")
def remove_tag(article_id: int, ref: str) -> Response:
    settings = services().settings
    article = write(lambda s, now: publishing.remove_tag(s, article_id, ref, now, settings))
    return jsonify(article_json(article))


@bp.get("/articles/<int:article_id>/feeds")
def article_feeds(article_id: int) -> Response:
    with services().sessions() as session:
        article = publishing.get_article(session, article_id)
        keys = publishing.feeds_of_article(session, article)
    feeds = [
        schemas.ArticleFeed(key=k.path, kind=k.kind, slug=k.slug, urls=feed_urls(k)) for k in keys
    ]
    body = schemas.ArticleFeeds(article=article_id, status=article.status, feeds=feeds)  # type: ignore[arg-type]
    return jsonify(body.model_dump(mode="json"))
