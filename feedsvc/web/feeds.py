"""Public feed endpoints: stored bytes, conditional GET, gzip, canonical redirects.

Nothing renders here: a request finds the bytes the scheduler stored and sends them.
"""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response, current_app, redirect, request
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from feedsvc import store
from feedsvc.app import services
from feedsvc.models import Section, Tag, TagAlias
from feedsvc.types import FORMATS, MEDIA_TYPES, FeedKey, Format
from feedsvc.web.fastpath import accepts_gzip, cache_control, gzip_etag, not_modified
from feedsvc.web.problems import problem

bp = Blueprint("feeds", __name__)
KINDS = {"tags": "tag", "sections": "section"}


@bp.get("/healthz")
def healthz() -> Response:
    try:
        with services().sessions() as session:
            session.execute(text("SELECT 1 FROM feed_states LIMIT 1"))
    except Exception as exc:  # any failure to read means unhealthy
        return problem(503, "Service Unavailable", f"database unreadable: {type(exc).__name__}")
    return Response("ok\n", content_type="text/plain; charset=utf-8")


@bp.get("/feeds/all.<ext>")
def site_feed(ext: str) -> Response:
    return _serve(FeedKey.site(), ext)


@bp.get("/feeds/<kind>/<name>")
def listed_feed(kind: str, name: str) -> Response:
    stem, _, ext = name.rpartition(".")
    if kind not in KINDS or not stem:
        return not_found()
    key = FeedKey(KINDS[kind], stem)  # type: ignore[arg-type]
    return _serve(key, ext)


@bp.get("/feeds/all/archive/<name>")
def site_archive(name: str) -> Response:
    return _serve_page(FeedKey.site(), name)


@bp.get("/feeds/<kind>/<slug>/archive/<name>")
def listed_archive(kind: str, slug: str, name: str) -> Response:
    if kind not in KINDS:
        return not_found()
    return _serve_page(FeedKey(KINDS[kind], slug), name)  # type: ignore[arg-type]


def _serve_page(key: FeedKey, name: str) -> Response:
    page, _, ext = name.partition(".")
    if not page.isdigit() or page.startswith("0"):
        return not_found()
    return _serve(key, ext, int(page))


def _serve(key: FeedKey, ext: str, page: int | None = None) -> Response:
    # NUL in the URL never gets here: web/nul.py answers it before any query.
    if ext not in FORMATS:
        return not_found()
    fmt: Format = ext
    variant = request.args.get("variant") or None
    if (refusal := unknown_variant(variant)) is not None:
        return refusal
    with services().sessions() as session:
        response = stored(session, key, fmt, page, variant)
        if response is None:
            if page is not None or variant is not None:
                return not_found()
            return _missing(session, key, fmt)
    sent = 0 if request.method == "HEAD" else response.content_length or 0
    _count(key, response.status_code, sent)
    return response


def unknown_variant(variant: str | None) -> Response | None:
    """A 404 problem naming the variants there are, unless `variant` is None or one of them."""
    names = services().settings.variant_names
    if variant is None or variant in names:
        return None
    listed = ", ".join(names) or "none"
    return problem(404, "Not Found", f"no variant {variant!r}; variants: {listed}")


def stored(
    session: Session,
    key: FeedKey,
    fmt: Format,
    page: int | None,
    variant: str | None,
    scope: str = "public",
) -> Response | None:
    """The stored document as a 200, or a 304 to a conditional GET; None if it is not stored.

    `scope` is Cache-Control's: partner answers depend on credentials, so they are private.
    """
    headers = request.headers
    conditional = bool(headers.get("If-None-Match") or headers.get("If-Modified-Since"))
    # A conditional request usually ends in 304: look at the validators only.
    load = store.load_validators if conditional else store.load_rendered
    row = load(session, key, fmt, page, variant)
    if row is None:
        return None
    gzip = accepts_gzip(headers.get("Accept-Encoding"))
    content_type = f"{MEDIA_TYPES[fmt]}; charset=utf-8"
    if not_modified(
        row.etag, row.last_modified, headers.get("If-None-Match"), headers.get("If-Modified-Since")
    ):
        response = Response(status=304, content_type=content_type)
    else:
        if conditional:
            row = store.load_rendered(session, key, fmt, page, variant)
            if row is None:
                return None
        response = Response(row.body_gzip if gzip else row.body, content_type=content_type)
        if gzip:
            response.headers["Content-Encoding"] = "gzip"
    response.headers["ETag"] = gzip_etag(row.etag) if gzip else row.etag
    response.last_modified = row.last_modified
    response.headers["Cache-Control"] = cache_control(services().settings, row.sealed, scope)
    response.headers["Vary"] = "Accept-Encoding"
    return response


def _count(key: FeedKey, status: int, nbytes: int) -> None:
    # An in-memory add; feedsvc.traffic writes the totals in batches off the request path.
    counter = current_app.extensions.get("feedsvc_traffic")
    if counter is not None:
        counter.count(key.path, status, nbytes, request.headers.get("User-Agent"))


def _missing(session: Session, key: FeedKey, fmt: Format) -> Response:
    if key.kind == "all":
        return not_ready()
    model = Tag if key.kind == "tag" else Section
    by_slug = session.scalar(select(model.slug).where(model.slug == key.slug))
    if by_slug is not None:
        return not_ready()
    by_name = session.scalar(select(model.slug).where(model.name == key.slug))
    if by_name is not None:
        target = f"{FeedKey(key.kind, by_name).path}.{fmt}"
        return redirect(quote(target), code=301)  # type: ignore[return-value]
    if key.kind == "tag":  # a slug the tag had before a rename or merge
        renamed = session.scalar(
            select(Tag.slug)
            .join(TagAlias, TagAlias.tag_id == Tag.id)
            .where(TagAlias.slug == key.slug)
        )
        if renamed is not None:
            return redirect(f"{FeedKey.tag(renamed).path}.{fmt}", code=301)  # type: ignore[return-value]
    return not_found()


def not_ready() -> Response:
    # The feed exists but the scheduler has not rendered it yet: say when to come back.
    retry = str(services().settings.render_interval_seconds)
    return problem(
        503, "Feed not rendered yet", "try again shortly", headers={"Retry-After": retry}
    )


def not_found() -> Response:
    return problem(404, "Not Found", "no such feed")
