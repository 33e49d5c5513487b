"""What the API views share: reading bodies, running writes, JSON via web/schemas.py models."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar, overload
from zoneinfo import ZoneInfo

from flask import Response, jsonify, request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from feedsvc.app import services
from feedsvc.db import transaction
from feedsvc.errors import FeedsvcError
from feedsvc.models import Article, Section, Tag
from feedsvc.types import FeedKey
from feedsvc.web import schemas

M = TypeVar("M", bound=BaseModel)


def parse_body(model: type[M]) -> M:
    data = request.get_json(force=True, silent=False)  # malformed JSON: 400
    if not isinstance(data, dict):
        raise FeedsvcError("the request body must be a JSON object")
    return model.model_validate(without_surrogates(data))


LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def without_surrogates(value: Any) -> Any:
    """Drop lone surrogates from every string, keys too, before validation sees them.

    JSON can escape them ("\\ud800") and pydantic would refuse the whole body; like every
    other character XML forbids they are removed. The rest is text.py's job, field by field.
    """
    if isinstance(value, str):
        return LONE_SURROGATE.sub("", value)
    if isinstance(value, list):
        return [without_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {without_surrogates(k): without_surrogates(v) for k, v in value.items()}
    return value


def request_time() -> datetime:
    return datetime.now(UTC)


def write(work: Callable[[Session, datetime], Any]) -> Any:
    with transaction(services().sessions) as session:
        return work(session, request_time())


@overload
def time_json(value: datetime) -> str: ...
@overload
def time_json(value: None) -> None: ...
@overload
def time_json(value: datetime | None) -> str | None: ...
def time_json(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(ZoneInfo(services().settings.timezone)).isoformat()


def tag_json(tag: Tag) -> dict[str, Any]:
    out = schemas.TagOut(name=tag.name, slug=tag.slug, feed=feed_urls(FeedKey.tag(tag.slug)))
    return out.model_dump(mode="json")


def section_json(section: Section) -> dict[str, Any]:
    return schemas.SectionOut(
        name=section.name,
        slug=section.slug,
        description=section.description,
        rule_any_tags=[t.name for t in section.rule_tags],
        feed=feed_urls(FeedKey.section(section.slug)),
    ).model_dump(mode="json")


def article_json(article: Article) -> dict[str, Any]:
    return article_out(article).model_dump(mode="json")


def article_out(article: Article) -> schemas.ArticleOut:
    """The API's view of an article; the model's schema is the one the OpenAPI document shows."""
    return schemas.ArticleOut(
        id=article.id,
        uid=article.uid,
        slug=article.slug,
        title=article.title,
        summary=article.summary,
        content_html=article.content_html,
        author=article.author,
        source=article.source,
        original_source=article.original_source,
        link=article.link,
        language=article.language,
        status=article.status,  # type: ignore[arg-type]  # the column holds only Status values
        published_at=time_json(article.published_at),
        updated_at=time_json(article.updated_at),
        created_at=time_json(article.created_at),
        tags=[schemas.TagRef(name=t.name, slug=t.slug) for t in article.tags],
        sections=[schemas.SectionRef(name=s.name, slug=s.slug) for s in article.sections],
    )


def feed_urls(key: FeedKey) -> schemas.FeedUrls:
    base = services().settings.public_base
    return schemas.FeedUrls(
        rss=f"{base}{key.path}.rss", atom=f"{base}{key.path}.atom", json=f"{base}{key.path}.json"
    )


def created(body: dict[str, Any], location: str) -> Response:
    response = jsonify(body)
    response.status_code = 201
    response.headers["Location"] = location
    return response
