"""Desk pages for articles: the filtered, paged list and the editor (new and existing)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Response, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from sqlalchemy import func, or_, select

from feedsvc import publishing
from feedsvc.app import services
from feedsvc.db import transaction
from feedsvc.errors import Conflict, FeedsvcError
from feedsvc.models import STATUSES, Article, Section, Tag, article_sections, article_tags
from feedsvc.web.desk import bp
from feedsvc.web.desk.forms import ArticleForm

PAGE_SIZE = 20


@bp.get("/articles")
def articles() -> str:
    args = request.args
    page = max(args.get("page", 1, type=int) or 1, 1)
    stmt = select(Article)
    if args.get("status") in STATUSES:
        stmt = stmt.where(Article.status == args["status"])
    if args.get("q"):
        needle = f"%{args['q'].strip()}%"
        stmt = stmt.where(or_(Article.title.like(needle), Article.summary.like(needle)))
    with services().sessions() as db:
        if args.get("tag"):
            tags = select(Tag.id).where(Tag.slug == args["tag"])
            tagged = select(article_tags.c.article_id).where(article_tags.c.tag_id.in_(tags))
            stmt = stmt.where(Article.id.in_(tagged))
        if args.get("section"):
            sections = select(Section.id).where(Section.slug == args["section"])
            placed = select(article_sections.c.article_id).where(
                article_sections.c.section_id.in_(sections)
            )
            stmt = stmt.where(Article.id.in_(placed))
        total = db.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        rows = list(
            db.scalars(
                stmt.order_by(Article.published_at.desc().nulls_first(), Article.id.desc())
                .limit(PAGE_SIZE)
                .offset((page - 1) * PAGE_SIZE)
            )
        )
        all_sections = list(db.scalars(select(Section).order_by(Section.name)))
        all_tags = list(db.scalars(select(Tag).order_by(Tag.name)))
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    return render_template(
        "desk/articles.html",
        articles=rows,
        total=total,
        page=page,
        pages=pages,
        filters={k: args.get(k, "") for k in ("q", "status", "tag", "section")},
        statuses=STATUSES,
        sections=all_sections,
        tags=all_tags,
        tz=services().settings.timezone,
    )


@bp.get("/articles/new")
def new_article() -> str:
    return _editor(ArticleForm.blank(services().settings.language), None)


@bp.get("/articles/<int:article_id>")
def edit_article(article_id: int) -> str:
    settings = services().settings
    with services().sessions() as db:
        article = publishing.get_article(db, article_id)
        form = ArticleForm.of(article, settings.timezone)
    form.warnings = session.pop(f"warnings-{article_id}", {})
    return _editor(form, article, saved=request.args.get("saved") == "1")


@bp.post("/articles/new")
def create_article() -> Response | tuple[str, int]:
    return _save(None)


@bp.post("/articles/<int:article_id>")
def update_article(article_id: int) -> Response | tuple[str, int]:
    return _save(article_id)


def _save(article_id: int | None) -> Response | tuple[str, int]:
    settings = services().settings
    form = ArticleForm.from_request(request.form)
    form.check_text()
    fields = form.fields(settings.timezone)
    if fields is not None:
        try:
            with transaction(services().sessions) as db:
                now = datetime.now(UTC)
                if article_id is None:
                    article = publishing.create_article(db, fields, now, settings)
                else:
                    article = publishing.update_article(db, article_id, fields, now, settings)
                saved_id = article.id
        except Conflict as exc:
            form.errors["slug" if "slug" in exc.detail else "title"] = exc.detail
        except FeedsvcError as exc:
            for err in exc.errors or ():
                form.errors[err.field] = err.message
            if not exc.errors:
                form.errors["title"] = exc.detail
        else:
            if form.warnings:
                session[f"warnings-{saved_id}"] = form.warnings
            return redirect(url_for("desk.edit_article", article_id=saved_id, saved=1))  # type: ignore[return-value]
    existing = None
    if article_id is not None:
        with services().sessions() as db:
            existing = publishing.get_article(db, article_id)
    return _editor(form, existing), 422


def _editor(form: ArticleForm, article: Article | None, saved: bool = False) -> str:
    with services().sessions() as db:
        sections = list(db.scalars(select(Section).order_by(Section.name)))
    context: dict[str, Any] = {
        "form": form,
        "article": article,
        "sections": sections,
        "statuses": STATUSES,
        "saved": saved,
        "user": g.user,
        "config_tz": services().settings.timezone,
        "error_summary": _("Please correct the marked fields.") if form.errors else None,
    }
    return render_template("desk/editor.html", **context)
