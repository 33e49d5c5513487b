"""Desk pages for sections and tags: a section's routing rule with a live preview of the
articles it matches; renaming a tag (old feed URLs redirect 301) and merging two tags.

Rules, renames and merges re-route many feeds at once, so they need the admin role.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Response, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.exceptions import Forbidden

from feedsvc import taxonomy
from feedsvc.app import services
from feedsvc.db import transaction
from feedsvc.errors import FeedsvcError
from feedsvc.models import Section, Tag, article_tags
from feedsvc.web.desk import bp
from feedsvc.web.desk.forms import split_names


def _admin_only() -> None:
    if g.user.role != "admin":
        raise Forbidden(_("Only an admin may change routing for many feeds at once."))


def _write(work: Callable[[Session, datetime], Any]) -> str | None:
    """Run a taxonomy use case in one transaction; the error message, if it failed."""
    try:
        with transaction(services().sessions) as db:
            work(db, datetime.now(UTC))
    except FeedsvcError as exc:
        return exc.detail
    return None


@bp.get("/sections")
def sections() -> str:
    with services().sessions() as db:
        rows = list(db.scalars(select(Section).order_by(Section.name)))
    return render_template("desk/sections.html", sections=rows)


@bp.route("/sections/<slug>", methods=["GET", "POST"])
def edit_section(slug: str) -> Response | str | tuple[str, int]:
    with services().sessions() as db:
        section = taxonomy.get_section(db, slug)
        values = {
            "description": section.description,
            "rule": "，".join(t.name for t in section.rule_tags),
        }
    error = None
    if request.method == "POST":
        _admin_only()
        values = {
            "description": request.form.get("description", ""),
            "rule": request.form.get("rule", ""),
        }
        fields = {
            "description": values["description"],
            "rule_any_tags": split_names(values["rule"]),
        }
        error = _write(lambda db, now: taxonomy.update_section(db, slug, fields, now))
        if error is None:
            flash(_("Section saved."))
            return redirect(url_for("desk.edit_section", slug=slug))  # type: ignore[return-value]
    page = render_template("desk/section.html", section=section, values=values, error=error)
    return (page, 422) if error else page


@bp.get("/tags")
def tags() -> str:
    with services().sessions() as db:
        per_tag = select(article_tags.c.tag_id, func.count()).group_by(article_tags.c.tag_id)
        counts: dict[int, int] = {tag_id: n for tag_id, n in db.execute(per_tag)}
        rows = [(t, counts.get(t.id, 0)) for t in db.scalars(select(Tag).order_by(Tag.name))]
    return render_template("desk/tags.html", tags=rows, error=request.args.get("error"))


@bp.post("/tags/<slug>/rename")
def rename_tag(slug: str) -> Response:
    _admin_only()
    name = request.form.get("name", "")
    error = _write(lambda db, now: taxonomy.rename_tag(db, slug, name, now))
    if error is None:
        flash(_("Tag renamed; its old feed address redirects to the new one."))
    return redirect(url_for("desk.tags", error=error))  # type: ignore[return-value]


@bp.post("/tags/merge")
def merge_tags() -> Response:
    _admin_only()
    source, target = request.form.get("source", ""), request.form.get("target", "")
    error = _write(lambda db, now: taxonomy.merge_tags(db, source, target, now))
    if error is None:
        flash(_("Tags merged."))
    return redirect(url_for("desk.tags", error=error))  # type: ignore[return-value]
