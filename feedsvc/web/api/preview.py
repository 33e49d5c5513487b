"""Feed previews: a feed rendered as it would be now, without storing it."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Response

from feedsvc import regenerate
from feedsvc.app import services
from feedsvc.errors import NotFound
from feedsvc.types import FORMATS, MEDIA_TYPES, FeedKey

bp = Blueprint("preview", __name__)


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
    # The session is never committed: pages the render would seal are not stored.
    with services().sessions() as session:
        now = datetime.now(UTC)
        result = regenerate.render_feed(session, key, services().settings, now, archives_too=False)
    if result is None:
        raise NotFound(f"no feed {key.path}")
    rendered = result.formats[ext]
    response = Response(rendered.body, content_type=f"{MEDIA_TYPES[ext]}; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    return response
