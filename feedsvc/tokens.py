"""API bearer tokens: minted at random, stored only as a SHA-256 hash."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedsvc import partners
from feedsvc.errors import Invalid, NotFound
from feedsvc.models import ApiToken

ROLES = ("editor", "admin")
PREFIX = "fs_"


def create_token(session: Session, role: str, now: datetime, label: str = "") -> str:
    """Store a new token and return it: the only time its clear text exists."""
    return create_token_row(session, role, now, label)[1]


def create_token_row(
    session: Session, role: str, now: datetime, label: str = ""
) -> tuple[ApiToken, str]:
    """Like create_token, with the stored row (for the admin API's answer)."""
    if role not in ROLES:
        raise Invalid.field("role", f"must be one of {', '.join(ROLES)}")
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(token_hash=partners.token_digest(token), role=role, label=label, created_at=now)
    session.add(row)
    session.flush()
    return row, token


def identify(session: Session, token: str) -> tuple[str, str] | None:
    """(role, principal) for a presented token, or None if it is unknown or revoked.

    The principal names the credential ("token:<id>", "partner:<id>") for what is kept per
    caller, such as idempotency keys. A partner's active token answers the role "partner":
    the editor API refuses it with 403, not 401, since it is a good credential for another
    door (web/partner_feeds.py).
    """
    row = session.scalar(
        select(ApiToken).where(
            ApiToken.token_hash == partners.token_digest(token), ApiToken.revoked_at.is_(None)
        )
    )
    if row is not None:
        return row.role, f"token:{row.id}"
    partner = partners.active_token_partner(session, token)
    return ("partner", f"partner:{partner}") if partner is not None else None


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def revoke_token(session: Session, token_id: int, now: datetime) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"no token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = now
    session.flush()
    return row
