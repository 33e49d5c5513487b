"""Partner feeds under /partner/feeds: the stored full-content Atom of granted feeds.

A partner authenticates with `Authorization: Bearer fsp_…` or a signed URL
(`?partner=<id>&sig=…`, see feedsvc/partners.py). Every request checks the credentials and
the grant in the database, so a revocation or withdrawn grant holds from the next request.
Bad or revoked credentials answer 401, a feed not granted 403, both problem+json. Every
request that names a known partner is logged (partner, document, status, bytes), 304s and
refusals included.

The bytes are the ones public feeds serve (full content, public archive links: archive
pages are public too), answered by web/feeds.py's `stored` (conditional GET, gzip), but
caches are told `private`. These paths never reach the public fast path: its pattern only
matches /feeds/….
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Response, request
from sqlalchemy.orm import Session

from feedsvc import partners
from feedsvc.app import services
from feedsvc.db import transaction
from feedsvc.types import FeedKey
from feedsvc.web.feeds import KINDS, not_found, not_ready, stored, unknown_variant
from feedsvc.web.problems import problem

bp = Blueprint("partner_feeds", __name__, url_prefix="/partner")
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
    if kind not in KINDS:  # NUL in the slug never gets here (web/nul.py)
        return not_found()
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
    if (refusal := unknown_variant(variant)) is not None:
        return refusal
    response = stored(session, key, "atom", page, variant, scope="private")
    if response is None:
        if page is None and variant is None:  # granted, so it exists: not rendered yet
            return not_ready()
        return not_found()
    response.headers["Vary"] = "Accept-Encoding, Authorization"
    return response


def _now() -> datetime:
    return datetime.now(UTC)
