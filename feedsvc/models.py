"""SQLAlchemy 2.0 typed models: articles, tags, sections, rendered feeds, tokens, leases.

Every datetime column is `UtcDateTime`: aware datetimes in, stored as UTC, aware UTC out,
whatever the database (SQLite hands back naive values even for timezone=True).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

STATUSES = ("draft", "scheduled", "published", "retracted")


class UtcDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; attach a time zone first")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


# Explicit constraint names keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


article_tags = Table(
    "article_tags",
    Base.metadata,
    Column("article_id", ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_article_tags_tag_id", "tag_id"),
)

article_sections = Table(
    "article_sections",
    Base.metadata,
    Column("article_id", ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
    Column("section_id", ForeignKey("sections.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_article_sections_section_id", "section_id"),
)

# A section's routing rule: an article with any of these tags belongs to the section.
section_rule_tags = Table(
    "section_rule_tags",
    Base.metadata,
    Column("section_id", ForeignKey("sections.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
)


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Section(Base):
    __tablename__ = "sections"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    rule_tags: Mapped[list[Tag]] = relationship(
        secondary=section_rule_tags, order_by=Tag.name, lazy="selectin"
    )


class Article(Base):
    __tablename__ = "articles"
    __table_args__ = (
        CheckConstraint(
            "status IN ('draft', 'scheduled', 'published', 'retracted')", name="status"
        ),
        Index("ix_articles_status_published_at", "status", "published_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Minted once at creation and never derived from slug or title: it is the Atom id and
    # the RSS guid, so changing it would duplicate the item in every reader.
    uid: Mapped[str] = mapped_column(String(200), unique=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text, default="")
    content_html: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str | None] = mapped_column(String(200))
    original_source: Mapped[str | None] = mapped_column(String(200))
    link: Mapped[str | None] = mapped_column(String(2000))
    language: Mapped[str] = mapped_column(String(35))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Changes only when what a reader sees of the item changes, not on routing edits.
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    tags: Mapped[list[Tag]] = relationship(
        secondary=article_tags, order_by=Tag.name, lazy="selectin"
    )
    sections: Mapped[list[Section]] = relationship(
        secondary=article_sections, order_by=Section.name, lazy="selectin"
    )


class FeedState(Base):
    """One row per feed: whether it needs rendering, and when an edit last touched it."""

    __tablename__ = "feed_states"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    dirty: Mapped[bool] = mapped_column(default=True)
    # Bumped by every mark; a render clears `dirty` only if nobody marked it meanwhile.
    generation: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # Why the last render failed, if it did; cleared by the next success.
    last_error: Mapped[str | None] = mapped_column(Text)
    # The oldest publication time among items edited since the last render: archive pages
    # from there on are rendered again, older ones are left alone.
    touched_from: Mapped[datetime | None] = mapped_column(UtcDateTime)


class RenderedFeed(Base):
    """The bytes readers get for one feed in one format, replaced in one write."""

    __tablename__ = "rendered_feeds"
    __table_args__ = (
        # Renders count and list a feed's archive pages by path prefix (LIKE 'path/archive/%').
        # PostgreSQL uses the primary key for that only under the "C" collation; this index
        # serves it under any (varchar_pattern_ops). On SQLite it is a plain index on key,
        # which serves the same reads as a byte range (store.archive_paths).
        Index("ix_rendered_feeds_key_prefix", "key", postgresql_ops={"key": "varchar_pattern_ops"}),
        # The file export reads what a tick just stored (rendered_at >= the tick's start),
        # after every tick that rendered: a few rows out of every document ever stored.
        Index("ix_rendered_feeds_rendered_at", "rendered_at"),
    )

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    format: Mapped[str] = mapped_column(String(8), primary_key=True)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    body_gzip: Mapped[bytes] = mapped_column(LargeBinary)
    etag: Mapped[str] = mapped_column(String(80))
    last_modified: Mapped[datetime] = mapped_column(UtcDateTime)
    item_count: Mapped[int] = mapped_column(Integer)
    rendered_at: Mapped[datetime] = mapped_column(UtcDateTime)
    render_ms: Mapped[float] = mapped_column()
    # A sealed archive page: its items are fixed, so caches may keep it long.
    sealed: Mapped[bool] = mapped_column(default=False)


class ArchivePage(Base):
    """A sealed RFC 5005 archive page: the feed's items up to and including this bound.

    Pages are cut by position once enough newer items exist, then keep their items: a new
    article never moves an old one to another page. The bound is stored so retracting an
    item cannot shift the others.
    """

    __tablename__ = "archive_pages"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    page: Mapped[int] = mapped_column(Integer, primary_key=True)  # 1 is the oldest
    last_published_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_article_id: Mapped[int] = mapped_column(Integer)
    sealed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Tombstone(Base):
    """An article that left a feed by retraction or deletion (RFC 6721 at:deleted-entry)."""

    __tablename__ = "tombstones"

    uid: Mapped[str] = mapped_column(String(200), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    deleted_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ApiToken(Base):
    __tablename__ = "api_tokens"
    __table_args__ = (CheckConstraint("role IN ('editor', 'admin')", name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # SHA-256 of the token: tokens are 256-bit random, so a slow KDF would add nothing.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Lease(Base):
    """A named lease: only its holder may do the leased work until it expires."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    # Increases on every change of holder, so stale work can be recognised (fencing).
    token: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class User(Base):
    """A person who signs in to the editors' desk."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('editor', 'admin')", name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    # scrypt with its parameters and salt, so they can be raised later (see users.py).
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class TagAlias(Base):
    """A slug a tag had before a rename or merge: its old feed URLs redirect to the tag."""

    __tablename__ = "tag_aliases"

    slug: Mapped[str] = mapped_column(String(80), primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class FeedTraffic(Base):
    """Requests for one feed (all formats) on one UTC day, added to in batches."""

    __tablename__ = "feed_traffic"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    requests: Mapped[int] = mapped_column(Integer, default=0)
    not_modified: Mapped[int] = mapped_column(Integer, default=0)
    bytes_sent: Mapped[int] = mapped_column(BigInteger, default=0)


class FeedSubscribers(Base):
    """The largest subscriber count an aggregator reported for a feed on one UTC day."""

    __tablename__ = "feed_subscribers"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    aggregator: Mapped[str] = mapped_column(String(100), primary_key=True)
    subscribers: Mapped[int] = mapped_column(Integer, default=0)


class FeedEntry(Base):
    """One published article in one feed, in the order feeds list them.

    The twin of routing.feeds_of kept as rows (publishing.py and taxonomy.py maintain it in
    every write that moves an article), so a feed's newest items and its archive bounds are
    a range scan of the primary key, never a sort of the articles.
    """

    __tablename__ = "feed_entries"
    __table_args__ = (
        Index("ix_feed_entries_article_id", "article_id"),
        # Clustered on the key in SQLite, so a range read touches only this b-tree.
        {"sqlite_with_rowid": False},
    )

    feed_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    published_at: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    # Estimated bytes of the item in a document, for cutting archive pages without text.
    size_estimate: Mapped[int] = mapped_column(Integer)


class IdempotencyKey(Base):
    """The first answer to a POST sent with an Idempotency-Key, so a retry gets it again.

    Written in the same transaction as the write it answers: the key exists exactly when the
    write committed. The primary key makes a concurrent duplicate fail instead of writing twice.
    """

    __tablename__ = "idempotency_keys"

    # Who sent it ("token:<id>"): keys are scoped per client, never shared between them.
    principal: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    # SHA-256 of method, path, query and body: the same key with another request is refused.
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[str] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class Partner(Base):
    """A partner site that pulls full-content Atom of the feeds its grants name.

    `secret` keys the HMAC of its signed feed URLs: rotating it, or revoking the partner,
    invalidates every URL handed out at once.
    """

    __tablename__ = "partners"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    grants: Mapped[list[PartnerGrant]] = relationship(
        order_by="PartnerGrant.feed", lazy="selectin", cascade="all, delete-orphan"
    )


class PartnerGrant(Base):
    """One feed a partner may pull: its key path (`/feeds/tags/yuyao`), every archive page."""

    __tablename__ = "partner_grants"

    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), primary_key=True
    )
    feed: Mapped[str] = mapped_column(String(200), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PartnerToken(Base):
    """A partner's bearer token, stored only as a SHA-256 hash like ApiToken."""

    __tablename__ = "partner_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class PartnerPull(Base):
    """One request a known partner made for a partner feed, answered or refused."""

    __tablename__ = "partner_pulls"
    __table_args__ = (Index("ix_partner_pulls_partner_id_at", "partner_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"))
    # The document asked for, e.g. /feeds/tags/yuyao/archive/2.atom
    feed: Mapped[str] = mapped_column(String(300))
    status: Mapped[int] = mapped_column(Integer)
    bytes_sent: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UtcDateTime)


# The scheduler polls for dirty feeds several times a second (jobs.Renderer.poll): it reads
# this index instead of every feed's row. Migration 0007.
Index("ix_feed_states_dirty", FeedState.dirty)
