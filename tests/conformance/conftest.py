"""One rendered corpus (demo + adversarial articles) shared by the whole conformance suite.

tests/conftest.py gives every test its own database; rendering ~70 documents, one over a
megabyte, per test would make this suite slow, so the same ladder is built here once per
session. It honours FEEDSVC_TEST_DATABASE_URL exactly as tests/conftest.py does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from feedsvc import db, queries
from feedsvc.app import create_app
from feedsvc.config import Settings
from feedsvc.jobs import Renderer
from feedsvc.models import Article, Section
from feedsvc.types import FeedKey
from tests.conformance import corpus
from tests.conformance.documents import Document, Found, discover
from tests.conftest import BASE_URL, Clock
from tests.support.databases import fresh_database

NOW = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)
# Small documents, so the site-wide feed needs RFC 5005 archive pages (where the settings
# know them) and discovery has links to follow; the corpus' own tag still fits in one.
SMALL_FEEDS = {"feed_items": 12, "archive_page_items": 5}


class Rendered:
    """The shared corpus: its database, what was put in, and every document served."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        built: corpus.Corpus,
        found: Found,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.sessions: sessionmaker[Session] = db.session_factory(engine)
        self.corpus = built
        self.documents = found.documents
        self.broken = found.broken
        self._expected: dict[FeedKey, list[str]] = {}

    def of_format(self, fmt: str) -> list[Document]:
        return [d for d in self.documents if d.fmt == fmt]

    def pages(self, key: FeedKey, fmt: str) -> list[Document]:
        """A feed's current document first, then any archive pages reached from it."""
        docs = [d for d in self.documents if d.key == key and d.fmt == fmt]
        return sorted(docs, key=lambda d: d.archive)

    def document(self, path: str) -> Document:
        (doc,) = [d for d in self.documents if d.path == path]
        return doc

    def expected_ids(self, key: FeedKey) -> list[str]:
        """Every uid a feed holds, newest first, worked out from the rows independently of
        feedsvc.queries: published, and tagged / placed / matching the section's rule."""
        if key not in self._expected:
            with self.sessions() as session:
                rows = session.scalars(select(Article).where(Article.status == "published"))
                members = [a for a in rows if self._belongs(session, a, key)]
                members.sort(key=lambda a: (a.published_at, a.id), reverse=True)
                self._expected[key] = [a.uid for a in members]
        return self._expected[key]

    @staticmethod
    def _belongs(session: Session, article: Article, key: FeedKey) -> bool:
        tags = {t.slug for t in article.tags}
        if key.kind == "all":
            return True
        if key.kind == "tag":
            return key.slug in tags
        section = session.scalar(select(Section).where(Section.slug == key.slug))
        assert section is not None, key
        rule = {t.slug for t in section.rule_tags}
        return section in article.sections or bool(rule & tags)

    def articles_by_uid(self) -> dict[str, datetime]:
        """Every visible article's uid and publication time."""
        with self.sessions() as session:
            rows = session.scalars(select(Article).where(Article.status == "published"))
            return {a.uid: a.published_at for a in rows if a.published_at is not None}


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rendered]:
    with fresh_database(tmp_path_factory.mktemp("conformance")) as url:
        known = {f.name for f in dataclasses.fields(Settings)}
        overrides = {k: v for k, v in SMALL_FEEDS.items() if k in known}
        settings = Settings.load(
            environ={}, overrides={"database_url": url, "base_url": BASE_URL, **overrides}
        )
        engine = db.make_engine(url)
        try:
            db.migrate(engine)
            sessions = db.session_factory(engine)
            clock = Clock(NOW)
            built = corpus.build(sessions, settings, clock())
            Renderer(sessions, settings, clock=clock, holder="conformance").sweep()
            client = create_app(settings, engine).test_client()

            def fetch(path: str) -> tuple[int, str, bytes]:
                response = client.get(path)
                return response.status_code, response.headers["Content-Type"], response.data

            with sessions() as session:
                keys = queries.all_feed_keys(session)
            yield Rendered(settings, engine, built, discover(keys, BASE_URL, fetch))
        finally:
            engine.dispose()
