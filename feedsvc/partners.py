"""Partner access: partners, the feeds granted to them, their credentials and the pull log.

A partner proves who it is with either credential, both checked against the database on
every request (nothing is cached, so a revocation holds from the very next request):

- a bearer token (`fsp_…`), random and stored only as a SHA-256 hash, revocable one by one;
- a signed feed URL, `?partner=<id>&sig=<HMAC-SHA256(secret, "<id>:<feed path>")>`, with a
  per-partner secret kept here; rotating the secret or revoking the partner kills every URL
  handed out at once. The signature names the feed, not the document, so one URL's
  credentials also open that feed's archive pages.

A grant names a feed by its key path (`/feeds/all`, `/feeds/tags/yuyao`) and covers every
format and archive page of it. No Flask here: the web layer (web/partner_feeds.py,
web/api/admin.py) and the CLI call these use cases inside their own transactions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session, lazyload

from feedsvc.errors import Conflict, Invalid, NotFound
from feedsvc.models import Partner, PartnerGrant, PartnerPull, PartnerToken, Section, Tag
from feedsvc.types import FeedKey

TOKEN_PREFIX = "fsp_"
MAX_FEED_LOG = 300  # PartnerPull.feed
FEED_FORMS = "must be /feeds/all, /feeds/tags/<slug> or /feeds/sections/<slug>"


def token_digest(token: str) -> str:
    """How bearer tokens are stored, API tokens (tokens.py) and partners' alike: SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


def _new_secret() -> str:
    return secrets.token_hex(32)


def create_partner(session: Session, name: str, now: datetime) -> Partner:
    name = name.strip()
    if not name or len(name) > 100:
        raise Invalid.field("name", "must be 1 to 100 characters")
    if session.scalar(select(Partner.id).where(Partner.name == name)) is not None:
        raise Conflict(f"a partner named {name!r} exists")
    partner = Partner(name=name, secret=_new_secret(), created_at=now)
    session.add(partner)
    session.flush()
    return partner


def get_partner(session: Session, partner_id: int) -> Partner:
    partner = session.get(Partner, partner_id)
    if partner is None:
        raise NotFound(f"no partner {partner_id}")
    return partner


def list_partners(session: Session) -> list[Partner]:
    return list(session.scalars(select(Partner).order_by(Partner.id)))


def _path(feed: str) -> str:
    path = "/" + feed.strip().strip("/")
    for ext in (".atom", ".rss", ".json"):
        path = path.removesuffix(ext)
    return path


def feed_key(session: Session, feed: str) -> FeedKey:
    """The feed a grant or URL names: `/feeds/tags/yuyao`, `feeds/tags/yuyao.atom` or the
    Chinese name (`/feeds/tags/余姚`), resolved to its canonical slug; 422 if it is none."""
    if "\x00" in feed or len(feed) > 200:
        raise Invalid.field("feed", FEED_FORMS)
    try:
        key = FeedKey.from_path(_path(feed))
    except ValueError:
        raise Invalid.field("feed", FEED_FORMS) from None
    if key.kind == "all":
        return key
    model = Tag if key.kind == "tag" else Section
    slug = session.scalar(
        select(model.slug).where((model.slug == key.slug) | (model.name == key.slug))
    )
    if slug is None:
        raise Invalid.field("feed", f"no {key.kind} {key.slug!r}")
    return FeedKey(key.kind, slug)


def grant(session: Session, partner: Partner, feed: str, now: datetime) -> FeedKey:
    key = feed_key(session, feed)
    if session.get(PartnerGrant, (partner.id, key.path)) is None:
        session.add(PartnerGrant(partner_id=partner.id, feed=key.path, created_at=now))
        session.flush()
        session.refresh(partner, ["grants"])
    return key


def ungrant(session: Session, partner: Partner, feed: str) -> None:
    """Withdraw a grant; withdrawing one that does not exist is harmless."""
    path = _path(feed)
    if "\x00" in path or len(path) > 200:
        raise Invalid.field("feed", FEED_FORMS)
    row = session.get(PartnerGrant, (partner.id, path))
    if row is None:  # perhaps named by its Chinese name
        try:
            row = session.get(PartnerGrant, (partner.id, feed_key(session, feed).path))
        except Invalid:
            row = None
    if row is not None:
        session.delete(row)
        session.flush()
        session.refresh(partner, ["grants"])


def follow_feed(session: Session, old: FeedKey, new: FeedKey | None) -> None:
    """Grants follow a feed renamed or merged into `new`, and go with a deleted one (None).

    Signed URLs name the feed's path, so URLs for the old path stop working: a partner
    needs a new one (its token keeps working under the new path)."""
    for row in session.scalars(select(PartnerGrant).where(PartnerGrant.feed == old.path)):
        if new is None or session.get(PartnerGrant, (row.partner_id, new.path)) is not None:
            session.delete(row)
        else:
            row.feed = new.path
    session.flush()


def is_granted(session: Session, partner_id: int, key: FeedKey) -> bool:
    return session.get(PartnerGrant, (partner_id, key.path)) is not None


def revoke(session: Session, partner: Partner, now: datetime) -> None:
    """Refuse every credential of the partner from the next request on."""
    if partner.revoked_at is None:
        partner.revoked_at = now
    session.flush()


def rotate_secret(session: Session, partner: Partner) -> None:
    """A new URL-signing secret: every signed URL handed out so far stops working."""
    partner.secret = _new_secret()
    session.flush()


def mint_token(
    session: Session, partner: Partner, now: datetime, label: str = ""
) -> tuple[PartnerToken, str]:
    """A new bearer token for the partner: (its row, its clear text, shown only now)."""
    if partner.revoked_at is not None:
        raise Conflict(f"partner {partner.id} is revoked")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = PartnerToken(
        partner_id=partner.id, token_hash=token_digest(token), label=label, created_at=now
    )
    session.add(row)
    session.flush()
    return row, token


def revoke_token(session: Session, partner: Partner, token_id: int, now: datetime) -> None:
    row = session.get(PartnerToken, token_id)
    if row is None or row.partner_id != partner.id:
        raise NotFound(f"partner {partner.id} has no token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = now
    session.flush()


def signature(partner: Partner, key: FeedKey) -> str:
    mac = hmac.new(partner.secret.encode(), f"{partner.id}:{key.path}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")


def signed_url(base: str, partner: Partner, key: FeedKey) -> str:
    """The partner's Atom URL of a feed; add `/archive/<n>` before `.atom` for a page."""
    query = urlencode({"partner": partner.id, "sig": signature(partner, key)})
    return f"{base}/partner{key.path}.atom?{query}"


@dataclass(frozen=True)
class Caller:
    """Who presented credentials: `partner_id` when one is named (for the pull log), and
    whether the credentials are good."""

    partner_id: int | None
    valid: bool
    reason: str = ""


def by_token(session: Session, token: str) -> Caller:
    row = session.scalar(select(PartnerToken).where(PartnerToken.token_hash == token_digest(token)))
    if row is None:
        return Caller(None, False, "unknown token")
    if row.revoked_at is not None:
        return Caller(row.partner_id, False, "revoked token")
    partner = _credential_holder(session, row.partner_id)
    if partner is None or partner.revoked_at is not None:
        return Caller(row.partner_id, False, "revoked partner")
    return Caller(partner.id, True)


def by_signature(session: Session, partner_id: int, key: FeedKey, sig: str) -> Caller:
    partner = _credential_holder(session, partner_id)
    if partner is None:
        return Caller(None, False, "unknown partner")
    if not hmac.compare_digest(sig.encode(), signature(partner, key).encode()):
        return Caller(partner.id, False, "bad signature")
    if partner.revoked_at is not None:
        return Caller(partner.id, False, "revoked partner")
    return Caller(partner.id, True)


def _credential_holder(session: Session, partner_id: int) -> Partner | None:
    # Without its grants (Partner.grants loads with the row otherwise): a pull asks for the
    # one grant it needs, by primary key (is_granted).
    return session.get(Partner, partner_id, options=[lazyload(Partner.grants)])


def active_token_partner(session: Session, token: str) -> int | None:
    """The partner a bearer token belongs to, if both are active (for tokens.identify)."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    caller = by_token(session, token)
    return caller.partner_id if caller.valid else None


def log_pull(
    session: Session, partner_id: int, feed: str, status: int, nbytes: int, now: datetime
) -> None:
    session.add(
        PartnerPull(
            partner_id=partner_id,
            feed=feed[:MAX_FEED_LOG],
            status=status,
            bytes_sent=nbytes,
            at=now,
        )
    )
    session.flush()


def pulls(session: Session, partner_id: int, limit: int = 100) -> list[PartnerPull]:
    """The partner's pulls, newest first."""
    return list(
        session.scalars(
            select(PartnerPull)
            .where(PartnerPull.partner_id == partner_id)
            .order_by(PartnerPull.at.desc(), PartnerPull.id.desc())
            .limit(limit)
        )
    )


def tokens_of(session: Session, partner_id: int) -> list[PartnerToken]:
    return list(
        session.scalars(
            select(PartnerToken)
            .where(PartnerToken.partner_id == partner_id)
            .order_by(PartnerToken.id)
        )
    )


def all_tokens(session: Session) -> dict[int, list[PartnerToken]]:
    """Every partner's tokens by partner id, in one query (for the list of all partners)."""
    found: dict[int, list[PartnerToken]] = {}
    for row in session.scalars(select(PartnerToken).order_by(PartnerToken.id)):
        found.setdefault(row.partner_id, []).append(row)
    return found
