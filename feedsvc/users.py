"""Desk users: accounts, roles and password checks (scrypt, a memory-hard KDF).

Hashes carry their own parameters and salt (`scrypt$n$r$p$salt$hash`), so the cost can be
raised later without invalidating stored passwords.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedsvc.errors import Conflict, Invalid, NotFound
from feedsvc.models import User

ROLES = ("editor", "admin")
MIN_PASSWORD = 10
# OWASP's scrypt baseline: N=2^17 would be stronger but costs 128 MiB per sign-in.
N, R, P = 2**15, 8, 1
MAXMEM = 64 * 1024 * 1024


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=MAXMEM)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(_derive(password, salt, N, R, P))}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        derived = _derive(password, base64.b64decode(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(derived, base64.b64decode(digest))


# Checked against when the user is unknown, so a miss costs as long as a wrong password.
_DUMMY = hash_password(secrets.token_urlsafe(16))


def create_user(session: Session, username: str, password: str, role: str, now: datetime) -> User:
    username = username.strip()
    if not username or len(username) > 100:
        raise Invalid.field("username", "must be 1 to 100 characters")
    if role not in ROLES:
        raise Invalid.field("role", f"must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise Invalid.field("password", f"must be at least {MIN_PASSWORD} characters")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"a user named {username!r} exists")
    user = User(username=username, password_hash=hash_password(password), role=role, created_at=now)
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with this name and password, or None."""
    user = session.scalar(select(User).where(User.username == username.strip()))
    if user is None:
        verify_password(password, _DUMMY)
        return None
    if not verify_password(password, user.password_hash) or user.disabled_at is not None:
        return None
    return user


def active_user(session: Session, user_id: int) -> User | None:
    user = session.get(User, user_id)
    return user if user is not None and user.disabled_at is None else None


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.id)))


def disable_user(session: Session, user_id: int, now: datetime) -> User:
    """Refuse the user's sign-in and end their desk sessions (checked on every page)."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    if user.disabled_at is None:
        user.disabled_at = now
    session.flush()
    return user
