"""Rate limits (Flask-Limiter): the editor API per token, and desk sign-in per IP and name.

- `/api` (every child blueprint): `api_rate_limit` per bearer token, or per client address
  for requests without one. `/api/openapi.json` and `/api/docs` are not limited.
- `POST /desk/login`: `signin_rate_limit` per client address and user name, against
  password guessing; the sign-in page says how long to wait.
- Feeds are NOT limited here: the feed fast path (web/fastpath.py) answers them from memory
  before Flask runs, and polling load belongs to the caching front (deploy/nginx.conf).

Counters live in `rate_limit_storage_uri` ("memory://" is per process: with several
workers each counts alone, so use a shared store such as redis there). A broken store lets
requests through (logged) rather than taking the API down with it.

A refusal is 429 with `Retry-After`: an RFC 9457 problem for the API, the sign-in page with
a message for people.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, render_template, request
from flask_babel import gettext as _
from flask_limiter import Limiter
from flask_limiter.errors import RateLimitExceeded
from flask_limiter.util import get_remote_address

from feedsvc.config import Settings
from feedsvc.partners import token_digest
from feedsvc.web import api
from feedsvc.web.problems import problem

SIGNIN_ENDPOINT = "desk.login"


def api_client() -> str:
    """Who an API request counts against: its token (hashed, never kept in clear), else its IP."""
    scheme, _sep, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return "token:" + token_digest(token.strip())[:32]
    return "ip:" + get_remote_address()


def signin_client() -> str:
    name = request.form.get("username", "").strip().casefold()
    return f"signin:{get_remote_address()}:{name}"


def register(app: Flask, settings: Settings) -> Limiter:
    """Attach the limits; call after the API and desk blueprints are registered."""
    limiter = Limiter(
        api_client,
        app=app,
        storage_uri=settings.rate_limit_storage_uri,
        swallow_errors=True,
        headers_enabled=False,  # Retry-After is set on the 429 below, the only place it matters
    )
    limiter.limit(settings.api_rate_limit)(api.bp)  # counted by api_client, the default
    login: Callable[..., Any] = app.view_functions[SIGNIN_ENDPOINT]
    app.view_functions[SIGNIN_ENDPOINT] = limiter.limit(
        settings.signin_rate_limit, key_func=signin_client, methods=["POST"]
    )(login)

    # Registered for the 429 code, so it wins over the desk's handler of every HTTPException.
    @app.errorhandler(RateLimitExceeded)
    def _too_many(exc: RateLimitExceeded) -> Response:
        current = limiter.current_limit
        # reset_at is a whole second, rounded up: never ask for longer than the window.
        window = current.limit.get_expiry() if current else 60
        wait = max(1, min(window, math.ceil(current.reset_at - time.time()))) if current else 60
        headers = {"Retry-After": str(wait)}
        if request.endpoint == SIGNIN_ENDPOINT:
            message = _(
                "Too many sign-in attempts. Wait %(seconds)d seconds and try again.",
                seconds=wait,
            )
            page = render_template(
                "desk/login.html",
                error=message,
                username=request.form.get("username", ""),
                next=request.form.get("next", ""),
            )
            return Response(page, 429, headers=headers, mimetype="text/html")
        detail = f"rate limit of {exc.description} exceeded; retry in {wait} s"
        return problem(429, "Too Many Requests", detail, headers=headers)

    return limiter
