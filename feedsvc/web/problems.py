"""RFC 9457 problem+json: the one error body every 4xx and 5xx of this service uses."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, json
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from feedsvc.errors import FeedsvcError, FieldError, Invalid

MEDIA_TYPE = "application/problem+json"


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    errors: tuple[FieldError, ...] = (),
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = [{"field": e.field, "message": e.message} for e in errors]
    response = Response(
        json.dumps(body, ensure_ascii=False), status=status, content_type=MEDIA_TYPE
    )
    response.headers.update(headers or {})
    return response


def from_validation(exc: ValidationError) -> Invalid:
    errors = tuple(
        FieldError(".".join(str(p) for p in err["loc"]) or "body", err["msg"])
        for err in exc.errors(include_url=False)
    )
    detail = "; ".join(f"{e.field}: {e.message}" for e in errors)
    return Invalid(detail, errors)


def register(app: Flask) -> None:
    @app.errorhandler(FeedsvcError)
    def _ours(exc: FeedsvcError) -> Response:
        return problem(exc.status, exc.title, exc.detail, exc.errors)

    @app.errorhandler(ValidationError)
    def _validation(exc: ValidationError) -> Response:
        invalid = from_validation(exc)
        return problem(invalid.status, invalid.title, invalid.detail, invalid.errors)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        status = exc.code or 500
        headers = dict(exc.get_headers())
        headers.pop("Content-Type", None)
        return problem(status, exc.name, exc.description, headers=headers)

    @app.errorhandler(OperationalError)
    def _database_down(exc: OperationalError) -> Response:
        # The database is unreachable or busy: the transaction did not commit, so the client
        # may retry (writes with the same Idempotency-Key, in case the commit did land).
        app.logger.warning("database unavailable: %s", exc)
        detail = "the database cannot be reached; retry shortly"
        return problem(503, "Service Unavailable", detail, headers={"Retry-After": "5"})

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        app.logger.exception("unhandled error")
        return problem(500, "Internal Server Error", "the error was logged")
