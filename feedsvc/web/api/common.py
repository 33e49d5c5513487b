"""What the API views share: reading bodies, running writes (at most once per
Idempotency-Key), JSON via web/schemas.py models."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, overload
from zoneinfo import ZoneInfo

from flask import Response, current_app, g, jsonify, request
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from feedsvc import idempotency
from feedsvc.app import services
from feedsvc.db import transaction
from feedsvc.errors import FeedsvcError, FieldError, Forbidden, Invalid
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


def require_admin(what: str) -> None:
    """403 unless the token checked by the api blueprint is an admin's."""
    if g.get("role") != "admin":
        raise Forbidden(f"only an admin may {what}")


def request_time() -> datetime:
    return datetime.now(UTC)


def write(work: Callable[[Session, datetime], Any]) -> Any:
    with transaction(services().sessions) as session:
        return work(session, request_time())


T = TypeVar("T")
# What a creating view answers for its result: status, JSON body, Location.
Answer = Callable[[T], tuple[int, dict[str, Any], str | None]]
KEY_HEADER = "Idempotency-Key"
KEY_TEXT = re.compile(r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$")


def write_once(work: Callable[[Session, datetime], T], answer: Answer[T]) -> Response:
    """`write(work)` answered with `answer(result)`; with an Idempotency-Key, at most once.

    A retry with the same key and request gets the first answer again (same status and
    body, `Idempotent-Replayed: true`); the same key with another request is a 422. The
    key is stored in the write's transaction, so a failed write leaves no key behind.
    """
    key = _idempotency_key()
    if key is None:
        status, body, location = answer(write(work))
        return _json_response(status, current_app.json.dumps(body) + "\n", location)
    settings = services().settings
    ttl = timedelta(seconds=settings.idempotency_key_seconds)
    who: str = g.principal  # set by the api blueprint's token check
    asked = idempotency.fingerprint(
        request.method, request.path, request.query_string.decode("latin-1"), request.get_data()
    )
    now = request_time()
    with services().sessions() as session:
        stored = idempotency.find(session, who, key, now, ttl)
    if stored is not None:
        return _replay(stored, asked)
    try:
        with transaction(services().sessions) as session:
            row = idempotency.claim(session, who, key, asked, now, ttl)
            status, body, location = answer(work(session, now))
            text = current_app.json.dumps(body) + "\n"
            idempotency.complete(row, status, text, location)
    except IntegrityError:
        # A concurrent request with this key committed first (we waited for it): answer
        # as it did. Anything else that collided is not ours to explain.
        with services().sessions() as session:
            stored = idempotency.find(session, who, key, request_time(), ttl)
        if stored is None:
            raise
        return _replay(stored, asked)
    return _json_response(status, text, location)


def _idempotency_key() -> str | None:
    raw = request.headers.get(KEY_HEADER)
    if raw is None:
        return None
    # The draft defines the value as a structured-field string ("..."); bare tokens are
    # what most clients send, so both are read.
    key = raw.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not KEY_TEXT.match(key) or len(key) > idempotency.MAX_KEY_LENGTH:
        message = f"must be 1 to {idempotency.MAX_KEY_LENGTH} printable ASCII characters"
        raise FeedsvcError(f"{KEY_HEADER}: {message}", (FieldError(KEY_HEADER, message),))
    return key


def _replay(stored: idempotency.Stored, asked: str) -> Response:
    if stored.fingerprint != asked:
        raise Invalid.field(
            KEY_HEADER, "this key was already used with a different request; use a new key"
        )
    response = _json_response(stored.status, stored.body, stored.location)
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _json_response(status: int, text: str, location: str | None) -> Response:
    response = Response(text, status=status, mimetype="application/json")
    if location:
        response.headers["Location"] = location
    return response


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
