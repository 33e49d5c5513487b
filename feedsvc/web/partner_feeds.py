"""Partner feeds under /partner/feeds: the stored full-content Atom of granted feeds.

A partner authenticates with `Authorization: Bearer fsp_…` or a signed URL
(`?partner=<id>&sig=…`, see feedsvc/partners.py). Every request checks the credentials and
the grant in the database, so a revocation or withdrawn grant holds from the next request.
Bad or revoked credentials answer 401, a feed not granted 403, both problem+json. Every
request that names a known partner is logged (partner, document, status, bytes), 304s and
refusals included.

The bytes are the ones public feeds serve (full content, public archive links: archive
pages are public too); conditional GET and gzip work like web/feeds.py, with the shared
helpers of web/fastpath.py, but caches are told `private`. These paths never reach the
public fast path: its pattern only matches /feeds/….
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Response, request
from sqlalchemy.orm import Session

from feedsvc import partners, store
from feedsvc.app import services
from feedsvc.db import transaction
from feedsvc.models import RenderedFeed
from feedsvc.types import MEDIA_TYPES, FeedKey
from feedsvc.web.fastpath import accepts_gzip, cache_control, gzip_etag, not_modified
from feedsvc.web.problems import problem

bp = Blueprint("partner_feeds", __name__, url_prefix="/partner")
KINDS = {"tags": "tag", "sections": "section"}
ATOM = f"{MEDIA_TYPES['atom']}; charset=utf-8"
CHALLENGE = 'Bearer realm="feedsvc-partner"'


@bp.get("/feeds/all.atom")
def site_feed() -> Response:
    return _pull(FeedKey.site(), None)


@bp.get("/feeds/all/archive/<int:page>.atom")
def site_archive(page: int) -> Response:
    return _pull(FeedKey.site(), page)


@bp.get("/feeds/<kind>/<slug>.atom")
def listed_feed(kind: str, slug: str) -> Response:
    return _listed(kind, slug, None)


@bp.get("/feeds/<kind>/<slug>/archive/<int:page>.atom")
def listed_archive(kind: str, slug: str, page: int) -> Response:
    return _listed(kind, slug, page)


def _listed(kind: str, slug: str, page: int | None) -> Response:
    if kind not in KINDS or "\x00" in slug:
        return problem(404, "Not Found", "no such feed")
    return _pull(FeedKey(KINDS[kind], slug), page)  # type: ignore[arg-type]


def _pull(key: FeedKey, page: int | None) -> Response:
    document = request.path.removeprefix("/partner")
    with transaction(services().sessions) as session:
        caller = _caller(session, key)
        if not caller.valid:
            response = problem(
                401, "Unauthorized", caller.reason, headers={"WWW-Authenticate": CHALLENGE}
            )
        elif not partners.is_granted(session, caller.partner_id or 0, key):
            response = problem(403, "Forbidden", f"no grant for {key.path}")
        else:
            response = _document(session, key, page)
        if caller.partner_id is not None:
            # Logged in the same short transaction as the checks; a HEAD sends no body.
            sent = 0 if request.method == "HEAD" else len(response.get_data())
            partners.log_pull(
                session, caller.partner_id, document, response.status_code, sent, _now()
            )
    return response


def _caller(session: Session, key: FeedKey) -> partners.Caller:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return partners.by_token(session, token.strip())
    partner, sig = request.args.get("partner", ""), request.args.get("sig", "")
    if not partner or not sig:
        return partners.Caller(None, False, "send a partner token or a signed URL")
    if not partner.isascii() or not partner.isdigit() or len(partner) > 9:
        return partners.Caller(None, False, "unknown partner")
    return partners.by_signature(session, int(partner), key, sig)


def _document(session: Session, key: FeedKey, page: int | None) -> Response:
    variant = request.args.get("variant") or None
    if variant is not None and variant not in services().settings.variant_names:
        return problem(404, "Not Found", f"no variant {variant!r}")
    row = store.load_rendered(session, key, "atom", page, variant)
    if row is None:
        if page is None and variant is None:  # granted, so it exists: not rendered yet
            retry = str(services().settings.render_interval_seconds)
            return problem(
                503, "Feed not rendered yet", "try again shortly", headers={"Retry-After": retry}
            )
        return problem(404, "Not Found", "no such feed document")
    gzip = accepts_gzip(request.headers.get("Accept-Encoding"))
    etag = gzip_etag(row.etag) if gzip else row.etag
    headers = request.headers
    if not_modified(
        row.etag, row.last_modified, headers.get("If-None-Match"), headers.get("If-Modified-Since")
    ):
        return _headers(Response(status=304, content_type=ATOM), row, etag)
    response = _headers(Response(row.body_gzip if gzip else row.body, content_type=ATOM), row, etag)
    if gzip:
        response.headers["Content-Encoding"] = "gzip"
    return response


def _headers(response: Response, row: RenderedFeed, etag: str) -> Response:
    public = cache_control(services().settings, row.sealed)
    response.headers["ETag"] = etag
    response.last_modified = row.last_modified
    # The public feed's lifetime, but only the partner's own client may keep it: the answer
    # depends on its credentials.
    response.headers["Cache-Control"] = public.replace("public", "private", 1)
    response.headers["Vary"] = "Accept-Encoding, Authorization"
    return response


def _now() -> datetime:
    return datetime.now(UTC)
