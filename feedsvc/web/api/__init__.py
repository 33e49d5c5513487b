"""The editor JSON API under /api: articles, tags, sections, where an article appears, previews.

Every call needs a bearer token, checked once here for every child blueprint. Each write is
one transaction: it commits whole, with the dirty marks of the feeds it touches, or not at
all.
"""

from __future__ import annotations

from flask import Blueprint, Response, g, request

from feedsvc import tokens
from feedsvc.app import services
from feedsvc.errors import NotFound
from feedsvc.publishing import MAX_ID
from feedsvc.web.api import admin, articles, preview, taxonomy
from feedsvc.web.problems import problem

bp = Blueprint("api", __name__, url_prefix="/api")
for child in (articles.bp, taxonomy.bp, preview.bp, admin.bp):
    bp.register_blueprint(child)


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
        found = tokens.identify(session, token.strip())
    if found is None:
        return problem(
            401,
            "Unauthorized",
            "unknown or revoked token",
            headers={"WWW-Authenticate": 'Bearer realm="feedsvc", error="invalid_token"'},
        )
    role, g.principal = found
    if role not in ("editor", "admin"):
        return problem(403, "Forbidden", f"the {role} role cannot use the editor API")
    g.role = role
    return None


@bp.before_request
def refuse_impossible_refs() -> None:
    # What the database driver would fail on (a 500) names nothing: ids beyond PostgreSQL's
    # 32-bit integer cannot exist. NUL in a path or query value is refused after this, by
    # web/nul.py for the whole app.
    for name, value in (request.view_args or {}).items():
        if isinstance(value, int) and value > MAX_ID:
            raise NotFound(f"no {name.removesuffix('_id')} {value}")
