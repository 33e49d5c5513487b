"""API bearer tokens: minted at random, stored only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedsvc.errors import Invalid
from feedsvc.models import ApiToken

ROLES = ("editor", "admin")
PREFIX = "fs_"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, role: str, now: datetime, label: str = "") -> str:
    """Store a new token and return it: the only time its clear text exists."""
    if role not in ROLES:
        raise Invalid.field("role", f"must be one of {', '.join(ROLES)}")
    token = PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(token_hash=_digest(token), role=role, label=label, created_at=now))
    session.flush()
    return token


def role_of(session: Session, token: str) -> str | None:
    """The role a presented token grants, or None if it is unknown or revoked."""
    row = session.scalar(
        select(ApiToken).where(ApiToken.token_hash == _digest(token), ApiToken.revoked_at.is_(None))
    )
    return row.role if row else None
