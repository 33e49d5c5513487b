"""Request bodies of the editor API, validated at the boundary with pydantic.

Unknown fields are refused (422 naming the field) so a typo never silently does nothing.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

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


DateTime = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text)]
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
