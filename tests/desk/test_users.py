"""Passwords are hashed with scrypt and checked in constant time; users come from the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from feedsvc import db, users
from feedsvc.config import Settings
from feedsvc.errors import Conflict, Invalid
from feedsvc.models import User

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def test_a_hash_verifies_its_password_only() -> None:
    stored = users.hash_password("一二三四五六七八九十")
    assert stored.startswith("scrypt$32768$8$1$")
    assert users.verify_password("一二三四五六七八九十", stored)
    assert not users.verify_password("一二三四五六七八九", stored)
    assert users.hash_password("一二三四五六七八九十") != stored  # salted


def test_malformed_hashes_never_verify() -> None:
    assert not users.verify_password("x", "plain")
    assert not users.verify_password("x", "bcrypt$1$2$3$4$5")


def test_authenticate(sessions: sessionmaker[Session]) -> None:
    with db.transaction(sessions) as session:
        users.create_user(session, "amy", "a long password", "editor", NOW)
    with sessions() as session:
        assert users.authenticate(session, "amy", "a long password") is not None
        assert users.authenticate(session, "amy", "a wrong password") is None
        assert users.authenticate(session, "nobody", "a long password") is None


def test_bad_users_are_refused(sessions: sessionmaker[Session]) -> None:
    with db.transaction(sessions) as session:
        users.create_user(session, "amy", "a long password", "editor", NOW)
        with pytest.raises(Conflict):
            users.create_user(session, "amy", "another password", "editor", NOW)
        with pytest.raises(Invalid, match="password"):
            users.create_user(session, "bob", "short", "editor", NOW)
        with pytest.raises(Invalid, match="role"):
            users.create_user(session, "bob", "a long password", "owner", NOW)


def test_cli_creates_a_user_reading_the_password_from_stdin(
    settings: Settings, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    env["FEEDSVC_DATABASE_URL"] = settings.database_url
    feedsvc = Path(sys.executable).with_name("feedsvc")
    done = subprocess.run(
        [str(feedsvc), "user", "create", "王編輯", "--role", "admin", "--password-stdin"],
        input="秘密 password 123\n",
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    with sessions() as session:
        user = session.scalar(select(User).where(User.username == "王編輯"))
        assert user is not None
        assert user.role == "admin"
        assert "秘密" not in user.password_hash
        assert users.authenticate(session, "王編輯", "秘密 password 123") is not None
    again = subprocess.run(
        [str(feedsvc), "user", "create", "王編輯", "--role", "admin", "--password-stdin"],
        input="秘密 password 123\n",
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert again.returncode != 0
    assert "exists" in again.stderr
