"""What the admin API's documented examples name (feedsvc/web/openapi.py), seeded so
schemathesis can reach a 2xx: user 1, API token 1 (the editor's, made first), partner 1
with a grant of lehuo-hot and partner token 1. Returns an admin's headers."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from feedsvc import db, partners, tokens, users
from feedsvc.models import ApiToken


def seed_admin_examples(sessions: sessionmaker[Session]) -> dict[str, str]:
    now = datetime.now(UTC)
    with db.transaction(sessions) as session:
        first = session.get(ApiToken, 1)
        assert first is not None, "the editor token comes first"
        assert first.role == "editor"
        admin = tokens.create_token(session, "admin", now, label="schemathesis")
        users.create_user(session, "示例編輯", "correct horse 1", "editor", now)
        partner = partners.create_partner(session, "示例夥伴", now)
        partners.grant(session, partner, "/feeds/sections/lehuo-hot", now)
        partners.mint_token(session, partner, now)
    return {"Authorization": f"Bearer {admin}"}
