"""Feed preview: what a reader will see after the next render, item by item, beside the raw
RSS, Atom or JSON. Rendered now by regenerate.render_feed (the scheduler's code), not stored.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from flask import render_template, request
from werkzeug.exceptions import NotFound

from feedsvc import queries, regenerate
from feedsvc.app import services
from feedsvc.types import FORMATS, FeedKey, Format
from feedsvc.web.desk import bp


@bp.get("/preview")
def preview() -> str:
    settings = services().settings
    path = request.args.get("feed", "/feeds/all")
    asked = request.args.get("format", "rss")
    fmt: Format = next((f for f in FORMATS if f == asked), "rss")
    try:
        key = FeedKey.from_path(path)
    except ValueError:
        raise NotFound(f"no feed {path}") from None
    with services().sessions() as db:
        # Only the current document; the session is never committed, so nothing the
        # render would seal or store is kept.
        result = regenerate.render_feed(db, key, settings, datetime.now(UTC), archives_too=False)
        if result is None:
            raise NotFound(f"no feed {path}")
        keys = sorted(queries.all_feed_keys(db))
    formats = result.documents[0].formats
    raw = formats[fmt].body.decode("utf-8")
    # Item by item as a reader gets them: the JSON Feed rendering carries every field.
    items = json.loads(formats["json"].body)["items"]
    return render_template(
        "desk/preview.html",
        key=key,
        fmt=fmt,
        formats=FORMATS,
        keys=keys,
        items=items,
        raw=raw,
        public_url=f"{settings.public_base}{key.path}.{fmt}",
        tz=settings.timezone,
    )
