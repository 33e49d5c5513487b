"""`feedsvc partner …`: create partners, grant feeds, mint tokens and signed URLs, revoke.

A click group that feedsvc/cli.py adds to the console script; the work is feedsvc.partners'.
Partners are named by their name or numeric id.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from feedsvc import partners
from feedsvc.models import Partner

T = TypeVar("T")


def _run(work: Callable[[Session, datetime], T]) -> T:
    from feedsvc.cli import _run  # imported here: feedsvc/cli.py imports this module

    return _run(work)


def _find(session: Session, ref: str) -> Partner:
    partner = session.scalar(select(Partner).where(Partner.name == ref))
    if partner is None and ref.isascii() and ref.isdigit() and len(ref) < 10:
        partner = session.get(Partner, int(ref))
    if partner is None:
        raise click.ClickException(f"no partner {ref!r}")
    return partner


@click.group()
def partner() -> None:
    """Partners: full-content Atom of granted feeds, by token or signed URL."""


@partner.command(name="create")
@click.argument("name")
def create(name: str) -> None:
    """Create a partner; prints its id."""
    partner_id = _run(lambda s, now: partners.create_partner(s, name, now).id)
    click.echo(f"created partner {partner_id} {name}")


@partner.command(name="grant")
@click.argument("ref")
@click.argument("feed")
@click.option("--withdraw", is_flag=True, help="withdraw the grant instead")
def grant(ref: str, feed: str, withdraw: bool) -> None:
    """Grant FEED (/feeds/all, /feeds/tags/<slug>, /feeds/sections/<slug>) to partner REF."""

    def work(session: Session, now: datetime) -> str:
        found = _find(session, ref)
        if withdraw:
            partners.ungrant(session, found, feed)
            return f"withdrew {feed} from {found.name}"
        return f"granted {partners.grant(session, found, feed, now).path} to {found.name}"

    click.echo(_run(work))


@partner.command(name="revoke")
@click.argument("ref")
def revoke(ref: str) -> None:
    """Revoke partner REF: its tokens and signed URLs are refused from the next request."""
    name = _run(lambda s, now: _revoke(s, _find(s, ref), now))
    click.echo(f"revoked partner {name}")


def _revoke(session: Session, found: Partner, now: datetime) -> str:
    partners.revoke(session, found, now)
    return found.name


@partner.command(name="token")
@click.argument("ref")
@click.option("--label", default="", help="what the token is for")
def token(ref: str, label: str) -> None:
    """Mint a bearer token for partner REF and print it alone (it is stored only hashed)."""
    _row, value = _run(lambda s, now: partners.mint_token(s, _find(s, ref), now, label))
    click.echo(value)


@partner.command(name="url")
@click.argument("ref")
@click.argument("feed")
@click.option("--rotate", is_flag=True, help="rotate the secret first: older URLs stop working")
def url(ref: str, feed: str, rotate: bool) -> None:
    """Print partner REF's signed Atom URL of FEED."""
    from feedsvc.cli import _settings

    base = _settings().public_base

    def work(session: Session, _now: datetime) -> str:
        found = _find(session, ref)
        if rotate:
            partners.rotate_secret(session, found)
        return partners.signed_url(base, found, partners.feed_key(session, feed))

    click.echo(_run(work))
