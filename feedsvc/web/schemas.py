"""Request and response bodies of the editor API, as pydantic models.

Requests are validated at the boundary; responses are written through their models; both
are published by web/openapi.py.

Unknown fields are refused (422 naming the field) so a typo never silently does nothing.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
)
from typing_extensions import TypedDict

from feedsvc.ingest.clean import WarningKind
from feedsvc.types import FeedKind

Status = Literal["draft", "scheduled", "published", "retracted"]
Slug = Annotated[str, Field(min_length=1, max_length=80)]
Name = Annotated[str, Field(min_length=1, max_length=100)]


def _absolute_http(url: str | None) -> str | None:
    if url and not url.startswith(("http://", "https://")):
        raise ValueError("must be an absolute http(s) URL")
    return url


def _rfc3339_text(value: object) -> object:
    # pydantic would also read numbers and digit strings as Unix timestamps: 5 would become
    # 1970-01-01. An editor's date must be written out, with its offset.
    if not isinstance(value, str) or not re.match(r"^\d{4}-\d{2}-\d{2}[T ]", value):
        raise ValueError(
            "must be an RFC 3339 date-time with an offset, e.g. 2022-02-18T18:02:25+08:00"
        )
    return value


# Far-past times would be written with the zone's local mean time (Shanghai: +08:05:43, not
# valid RFC 3339) and times near year 9999 overflow when moved into the portal's zone.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)


def _plausible(value: datetime) -> datetime:
    if not EARLIEST <= value < LATEST:
        raise ValueError("must be in 1970 or later and before the year 9999")
    return value


DateTime = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text), AfterValidator(_plausible)]
HttpUrl = Annotated[str | None, Field(max_length=2000), AfterValidator(_absolute_http)]
Language = Annotated[str, Field(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$", max_length=35)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=1_000_000)


class ArticlePatch(Strict):
    title: Annotated[str, Field(min_length=1, max_length=1000)] | None = None
    slug: Slug | None = None
    summary: Annotated[str, Field(max_length=10_000)] | None = None
    content_html: str | None = None
    author: Annotated[str, Field(max_length=200)] | None = None
    source: Annotated[str, Field(max_length=200)] | None = None
    original_source: Annotated[str, Field(max_length=200)] | None = None
    link: HttpUrl = None
    language: Language | None = None
    status: Status | None = None
    published_at: DateTime | None = None
    tags: list[Name] | None = Field(default=None, max_length=50)
    sections: list[Name] | None = Field(default=None, max_length=20)


class ArticleCreate(ArticlePatch):
    title: Annotated[str, Field(min_length=1, max_length=1000)]


class SourceArticleCreate(ArticleCreate):
    """POST /api/articles?clean=source: publish despite warnings only when this is true."""

    accept_warnings: bool = False


class TagNames(Strict):
    tags: list[Name] = Field(min_length=1, max_length=50)


class TagCreate(Strict):
    name: Name
    slug: Slug | None = None


class TagPatch(Strict):
    name: Name | None = None
    slug: Slug | None = None


class SectionPatch(Strict):
    name: Name | None = None
    slug: Slug | None = None
    description: Annotated[str, Field(max_length=2000)] | None = None
    rule_any_tags: list[Name] | None = Field(default=None, max_length=100)


class SectionCreate(SectionPatch):
    name: Name


# --- responses -----------------------------------------------------------------------------
# The API writes its JSON through these models (web/api/common.py), and web/openapi.py
# publishes their schemas: the document cannot describe a shape the code does not produce.
# Extra keys are forbidden so a field added to a response without a model fails at once.

# Times leave as the text common.time_json wrote (ISO 8601 in the portal's zone): pydantic
# would write a zero offset as "Z", changing answers editors' scripts already read.
TimeText = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FeedUrls(TypedDict):
    """One feed's URL in each format (a TypedDict: `json` would shadow BaseModel.json)."""

    rss: str
    atom: str
    json: str


class TagRef(Out):
    name: str
    slug: str


class SectionRef(TagRef):
    pass


class TagOut(TagRef):
    feed: FeedUrls


class SectionOut(Out):
    name: str
    slug: str
    description: str
    rule_any_tags: list[str]
    feed: FeedUrls


class ArticleOut(Out):
    id: int
    uid: str = Field(description="permanent tag: URI, the feeds' item id")
    slug: str
    title: str
    summary: str
    content_html: str
    author: str | None
    source: str | None
    original_source: str | None
    link: str | None
    language: str
    status: Status
    published_at: TimeText | None
    updated_at: TimeText
    created_at: TimeText
    tags: list[TagRef]
    sections: list[SectionRef]


class CleanWarning(Out):
    field: str
    kind: WarningKind
    start: int = Field(description="character offset into the stored field")
    end: int
    excerpt: str = Field(description="what the source sent there")
    message: str


class SourceArticleOut(ArticleOut):
    """The answer to POST /api/articles?clean=source."""

    warnings: list[CleanWarning]
    held_as_draft: bool


class ArticlePage(Out):
    items: list[ArticleOut]
    limit: int
    offset: int


class TagList(Out):
    items: list[TagOut]


class SectionList(Out):
    items: list[SectionOut]


class ArticleFeed(Out):
    key: str = Field(description="the feed's path without extension, e.g. /feeds/tags/yuyao")
    kind: FeedKind
    slug: str
    urls: FeedUrls


class ArticleFeeds(Out):
    article: int
    status: Status
    feeds: list[ArticleFeed]


class ProblemFieldError(Out):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details; members beyond these are allowed by the RFC."""

    type: str
    title: str
    status: int
    detail: str | None = None
    errors: list[ProblemFieldError] | None = Field(
        default=None, description="422: each invalid field and why"
    )


# --- the admin API (web/api/admin.py): users, API tokens, partners -------------------------
# Names and labels go into indexed columns as they are: no control characters (PostgreSQL
# text cannot even hold NUL).
Role = Literal["editor", "admin"]
Label = Annotated[str, Field(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")]
PlainName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]


class UserCreate(Strict):
    username: PlainName
    password: Annotated[str, Field(min_length=10, max_length=1000)]
    role: Role


class UserOut(Out):
    id: int
    username: str
    role: Role
    created_at: TimeText
    disabled_at: TimeText | None


class UserList(Out):
    items: list[UserOut]


class TokenCreate(Strict):
    role: Role
    label: Label = ""


class TokenOut(Out):
    id: int
    role: Role
    label: str
    created_at: TimeText
    revoked_at: TimeText | None


class TokenCreated(TokenOut):
    token: str = Field(description="the token itself: shown in this answer only")


class TokenList(Out):
    items: list[TokenOut]


class PartnerCreate(Strict):
    name: PlainName


class FeedGrant(Strict):
    feed: Annotated[
        str,
        Field(
            min_length=1,
            max_length=200,
            pattern=r"^[^\x00-\x1f\x7f]+$",
            description="a feed path: /feeds/all, /feeds/tags/<slug>, /feeds/sections/<slug>",
        ),
    ]


class PartnerTokenCreate(Strict):
    label: Label = ""


class PartnerTokenOut(Out):
    id: int
    label: str
    created_at: TimeText
    revoked_at: TimeText | None


class PartnerTokenCreated(PartnerTokenOut):
    token: str = Field(description="the token itself: shown in this answer only")


class PartnerOut(Out):
    id: int
    name: str
    created_at: TimeText
    revoked_at: TimeText | None
    grants: list[str] = Field(description="granted feed paths; each covers its archives")
    tokens: list[PartnerTokenOut]


class PartnerList(Out):
    items: list[PartnerOut]


class SignedUrl(Out):
    feed: str
    url: str = Field(description="the signed Atom URL of the feed's current document")
    archive_url: str = Field(description="the same for archive page {page}")


class PartnerPullOut(Out):
    feed: str
    status: int
    bytes: int
    at: TimeText


class PartnerPullList(Out):
    items: list[PartnerPullOut]
