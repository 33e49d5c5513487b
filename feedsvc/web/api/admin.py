"""The admin API under /api/admin: desk users, API tokens and partners. Admin role only.

A child of the api blueprint, so the bearer token is already checked (web/api/__init__.py);
this adds the role check: editors and partners get 403. Writes go through the use cases in
users.py, tokens.py and partners.py, one transaction each.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy.orm import Session

from feedsvc import partners, tokens, users
from feedsvc.app import services
from feedsvc.errors import Conflict, Invalid
from feedsvc.models import ApiToken, Partner, PartnerToken, User
from feedsvc.web import schemas
from feedsvc.web.api.common import created, parse_body, require_admin, time_json, write

bp = Blueprint("admin", __name__, url_prefix="/admin")
MAX_PULLS = 1000


@bp.before_request
def admins_only() -> None:
    require_admin("manage users, tokens and partners")


def _json(model: Any) -> dict[str, Any]:
    out: dict[str, Any] = model.model_dump(mode="json")
    return out


def _user(user: User) -> schemas.UserOut:
    return schemas.UserOut(
        id=user.id,
        username=user.username,
        role=user.role,  # type: ignore[arg-type]  # the column's check allows only these
        created_at=time_json(user.created_at),
        disabled_at=time_json(user.disabled_at),
    )


def _token(row: ApiToken) -> schemas.TokenOut:
    return schemas.TokenOut(
        id=row.id,
        role=row.role,  # type: ignore[arg-type]
        label=row.label,
        created_at=time_json(row.created_at),
        revoked_at=time_json(row.revoked_at),
    )


def _partner_token(row: PartnerToken) -> schemas.PartnerTokenOut:
    return schemas.PartnerTokenOut(
        id=row.id,
        label=row.label,
        created_at=time_json(row.created_at),
        revoked_at=time_json(row.revoked_at),
    )


def _partner_out(partner: Partner, tokens: list[PartnerToken]) -> schemas.PartnerOut:
    return schemas.PartnerOut(
        id=partner.id,
        name=partner.name,
        created_at=time_json(partner.created_at),
        revoked_at=time_json(partner.revoked_at),
        grants=[grant.feed for grant in partner.grants],
        tokens=[_partner_token(t) for t in tokens],
    )


def _partner(session: Session, partner: Partner) -> dict[str, Any]:
    return _json(_partner_out(partner, partners.tokens_of(session, partner.id)))


# --- users ---------------------------------------------------------------------------------


@bp.get("/users")
def list_users() -> Response:
    with services().sessions() as session:
        items = [_user(u) for u in users.list_users(session)]
    return jsonify(_json(schemas.UserList(items=items)))


@bp.post("/users")
def create_user() -> Response:
    body = parse_body(schemas.UserCreate)
    user = write(
        lambda s, now: _json(
            _user(users.create_user(s, body.username, body.password, body.role, now))
        )
    )
    return created(user, f"/api/admin/users/{user['id']}")


@bp.post("/users/<int:user_id>/disable")
def disable_user(user_id: int) -> Response:
    return jsonify(write(lambda s, now: _json(_user(users.disable_user(s, user_id, now)))))


# --- API tokens ----------------------------------------------------------------------------


@bp.get("/tokens")
def list_tokens() -> Response:
    with services().sessions() as session:
        items = [_token(t) for t in tokens.list_tokens(session)]
    return jsonify(_json(schemas.TokenList(items=items)))


@bp.post("/tokens")
def create_token() -> Response:
    body = parse_body(schemas.TokenCreate)

    def work(session: Session, now: Any) -> dict[str, Any]:
        row, value = tokens.create_token_row(session, body.role, now, body.label)
        return _json(schemas.TokenCreated(**_token(row).model_dump(), token=value))

    answer = write(work)
    return created(answer, f"/api/admin/tokens/{answer['id']}")


@bp.delete("/tokens/<int:token_id>")
def revoke_token(token_id: int) -> Response:
    write(lambda s, now: tokens.revoke_token(s, token_id, now))
    return Response(status=204)


# --- partners ------------------------------------------------------------------------------


@bp.get("/partners")
def list_partners() -> Response:
    with services().sessions() as session:
        tokens = partners.all_tokens(session)  # one query, not one per partner
        items = [_partner_out(p, tokens.get(p.id, [])) for p in partners.list_partners(session)]
    return jsonify(_json(schemas.PartnerList(items=items)))


@bp.post("/partners")
def create_partner() -> Response:
    body = parse_body(schemas.PartnerCreate)
    answer = write(lambda s, now: _partner(s, partners.create_partner(s, body.name, now)))
    return created(answer, f"/api/admin/partners/{answer['id']}")


@bp.get("/partners/<int:partner_id>")
def read_partner(partner_id: int) -> Response:
    with services().sessions() as session:
        return jsonify(_partner(session, partners.get_partner(session, partner_id)))


@bp.post("/partners/<int:partner_id>/grants")
def grant_feed(partner_id: int) -> Response:
    body = parse_body(schemas.FeedGrant)

    def work(session: Session, now: Any) -> dict[str, Any]:
        partner = partners.get_partner(session, partner_id)
        partners.grant(session, partner, body.feed, now)
        return _partner(session, partner)

    return jsonify(write(work))


@bp.delete("/partners/<int:partner_id>/grants/<path:feed>")
def withdraw_grant(partner_id: int, feed: str) -> Response:
    write(lambda s, now: partners.ungrant(s, partners.get_partner(s, partner_id), feed))
    return Response(status=204)


@bp.post("/partners/<int:partner_id>/revoke")
def revoke_partner(partner_id: int) -> Response:
    def work(session: Session, now: Any) -> dict[str, Any]:
        partner = partners.get_partner(session, partner_id)
        partners.revoke(session, partner, now)
        return _partner(session, partner)

    return jsonify(write(work))


@bp.post("/partners/<int:partner_id>/secret")
def rotate_secret(partner_id: int) -> Response:
    def work(session: Session, now: Any) -> dict[str, Any]:
        partner = partners.get_partner(session, partner_id)
        partners.rotate_secret(session, partner)
        return _partner(session, partner)

    return jsonify(write(work))


@bp.post("/partners/<int:partner_id>/tokens")
def mint_partner_token(partner_id: int) -> Response:
    body = parse_body(schemas.PartnerTokenCreate)

    def work(session: Session, now: Any) -> dict[str, Any]:
        partner = partners.get_partner(session, partner_id)
        row, value = partners.mint_token(session, partner, now, body.label)
        return _json(schemas.PartnerTokenCreated(**_partner_token(row).model_dump(), token=value))

    answer = write(work)
    return created(answer, f"/api/admin/partners/{partner_id}")


@bp.delete("/partners/<int:partner_id>/tokens/<int:token_id>")
def revoke_partner_token(partner_id: int, token_id: int) -> Response:
    write(
        lambda s, now: partners.revoke_token(s, partners.get_partner(s, partner_id), token_id, now)
    )
    return Response(status=204)


@bp.get("/partners/<int:partner_id>/url")
def signed_url(partner_id: int) -> Response:
    feed = request.args.get("feed", "")
    if not feed:
        raise Invalid.field("feed", "name the feed: ?feed=/feeds/tags/<slug>")
    with services().sessions() as session:
        partner = partners.get_partner(session, partner_id)
        if partner.revoked_at is not None:
            raise Conflict(f"partner {partner_id} is revoked: its URLs would be refused")
        key = partners.feed_key(session, feed)
        base = services().settings.public_base
        url = partners.signed_url(base, partner, key)
    archive = url.replace(".atom?", "/archive/{page}.atom?", 1)
    return jsonify(_json(schemas.SignedUrl(feed=key.path, url=url, archive_url=archive)))


@bp.get("/partners/<int:partner_id>/pulls")
def list_pulls(partner_id: int) -> Response:
    raw = request.args.get("limit", "100")
    limit = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 4 else 0
    if not 1 <= limit <= MAX_PULLS:
        raise Invalid.field("limit", f"must be an integer from 1 to {MAX_PULLS}")
    with services().sessions() as session:
        partners.get_partner(session, partner_id)
        rows = partners.pulls(session, partner_id, limit)
        items = [
            schemas.PartnerPullOut(
                feed=r.feed, status=r.status, bytes=r.bytes_sent, at=time_json(r.at)
            )
            for r in rows
        ]
    return jsonify(_json(schemas.PartnerPullList(items=items)))
