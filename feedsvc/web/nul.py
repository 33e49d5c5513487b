"""NUL in a URL, refused in one place before any query.

PostgreSQL text cannot hold NUL (the driver fails, which would be a 500), and no slug,
name, status or feed path the service stores contains one. So a request with NUL in a path
value is answered as each part of the site answers a name it does not know:

- public and partner feeds (and the other public pages): their 404 problem, no such feed;
- the editor API: a 404 problem naming the value; the desk: its 404 page, the same words.

The API and the desk also look things up by query parameters: NUL in one is an invalid
field there (422, a problem or the desk's page). Feeds read only `variant` (compared with
the configured names, never queried) and partners' credentials, so they answer those as
before.

The check is the last before-request step of every blueprint, so the API's token check and
the desk's sign-in still come first: a caller without credentials gets 401 or the sign-in
page, as for any other path.
"""

from __future__ import annotations

from flask import Flask, Response, request

from feedsvc.errors import Invalid, NotFound
from feedsvc.web.feeds import not_found

# Blueprints whose views look up query parameters in the database.
QUERIED = ("api", "desk")


def register(app: Flask) -> None:
    """Install the check; call after every blueprint is registered (all routes are in one)."""
    for name in app.blueprints:
        if "." not in name:  # a child blueprint's requests run its parent's steps too
            app.before_request_funcs.setdefault(name, []).append(refuse_nul)


def refuse_nul() -> Response | None:
    top = (request.blueprint or "").partition(".")[0]
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str) and "\x00" in value:
            if top in QUERIED:
                raise NotFound(f"no {name} {value!r}")
            return not_found()
    if top in QUERIED:
        for name, value in request.args.items(multi=True):
            if "\x00" in value:
                raise Invalid.field(name, "must not contain NUL characters")
    return None
