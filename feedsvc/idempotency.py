"""Idempotency keys (draft-ietf-httpapi-idempotency-key-header): a retried POST writes once.

A client that sends `Idempotency-Key: <key>` with a POST gets the first answer again when
it retries, instead of a second article. This module owns the rows; web/api/common.py reads
the header and replays the answer.

The key is claimed by inserting its row *first* in the write's own transaction, and the
answer is filled in before that transaction commits. So the key exists exactly when the
write did, and a concurrent duplicate collides on the primary key (PostgreSQL makes it wait
for the first transaction, SQLite serialises writers) instead of writing a second time.
No Flask here: the caller passes the principal, the fingerprint and the clock.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from feedsvc.models import IdempotencyKey

MAX_KEY_LENGTH = 255
PENDING = 0  # the status of a claim whose answer is not written yet (never committed so)


@dataclass(frozen=True)
class Stored:
    """A committed first answer."""

    fingerprint: str
    status: int
    body: str
    location: str | None


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    """What identifies "the same request": JSON bodies compare by value, not by spacing."""
    try:
        canonical = json.dumps(
            json.loads(body), sort_keys=True, ensure_ascii=False, separators=(",", ":")
        ).encode()
    except ValueError:  # not JSON (or not UTF-8): the request fails anyway; compare bytes
        canonical = body
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query.encode(), canonical):
        digest.update(len(part).to_bytes(8, "big"))  # length-prefixed: no ambiguous joins
        digest.update(part)
    return digest.hexdigest()


def find(
    session: Session, principal: str, key: str, now: datetime, ttl: timedelta
) -> Stored | None:
    """The committed answer for this key, unless it has expired."""
    row = session.get(IdempotencyKey, (principal, key))
    if row is None or row.created_at <= now - ttl or row.status == PENDING:
        return None
    return Stored(row.fingerprint, row.status, row.response_body, row.location)


def claim(
    session: Session,
    principal: str,
    key: str,
    request_fingerprint: str,
    now: datetime,
    ttl: timedelta,
) -> IdempotencyKey:
    """Insert the key's row now, before the write; raises IntegrityError if it is taken.

    Expired keys are removed on the way (an indexed range delete, usually of nothing), so
    the table holds about one day of keys and an expired key can be used again.
    """
    session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at <= now - ttl))
    row = IdempotencyKey(
        principal=principal,
        key=key,
        fingerprint=request_fingerprint,
        status=PENDING,
        response_body="",
        location=None,
        created_at=now,
    )
    session.add(row)
    session.flush()  # the collision happens here, before any work is done
    return row


def complete(row: IdempotencyKey, status: int, body: str, location: str | None) -> None:
    """Record the answer; it commits with the write."""
    row.status = status
    row.response_body = body
    row.location = location
