"""The error tree. Each error carries its HTTP status; web/problems.py renders them once."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class FeedsvcError(Exception):
    status = 400
    title = "Bad request"

    def __init__(self, detail: str, errors: tuple[FieldError, ...] = ()) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


class Forbidden(FeedsvcError):
    status = 403
    title = "Forbidden"


class NotFound(FeedsvcError):
    status = 404
    title = "Not found"


class Conflict(FeedsvcError):
    status = 409
    title = "Conflict"


class Invalid(FeedsvcError):
    status = 422
    title = "Invalid field"

    @classmethod
    def field(cls, field: str, message: str) -> Invalid:
        return cls(f"{field}: {message}", (FieldError(field, message),))
