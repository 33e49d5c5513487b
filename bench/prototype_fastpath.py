"""Prototype, measured by bench/serving.py (`--servers ...,proto`), not used by feedsvc.

    gunicorn 'prototype_fastpath:app'     (run from bench/, FEEDSVC_* as for feedsvc)

What a fast feed path could look like: a WSGI layer in front of Flask that answers GET and
HEAD of stored feed documents itself, from an in-process cache of the stored rows. An entry
is checked against the store (one indexed query for the ETag) when it is older than
BENCH_CHECK_SECONDS (default 1; 0 checks on every request); a changed ETag reloads the
bytes, so nothing older than the store's bytes is served after the next check. Everything
else (no such row, redirects, 503s, unknown variants, other paths) goes to Flask unchanged.
"""

from __future__ import annotations

import os
import re
import time
from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import parse_qs

from sqlalchemy import bindparam, select

from feedsvc.app import create_app
from feedsvc.models import RenderedFeed
from feedsvc.types import MEDIA_TYPES

DOCUMENT = re.compile(
    r"^/feeds/(?:all|(?:tags|sections)/[^/]+)(?:/archive/[1-9][0-9]*)?\.(rss|atom|json)$"
)
ARCHIVE = re.compile(r"/archive/[0-9]+$")
CHECK_SECONDS = float(os.environ.get("BENCH_CHECK_SECONDS", "1"))


class FastFeeds:
    def __init__(self, flask_app, max_entries: int = 2048) -> None:
        self.flask = flask_app
        services = flask_app.extensions["feedsvc"]
        self.engine, self.settings = services.engine, services.settings
        self.counter = flask_app.extensions.get("feedsvc_traffic")
        self.variants = set(self.settings.variant_names)
        self.cache: dict[tuple[str, str], tuple] = {}
        self.max_entries = max_entries
        table = RenderedFeed.__table__
        # Built once: only the bound values change per request (SQLAlchemy's cache hits).
        where = (table.c.key == bindparam("key")) & (table.c.format == bindparam("fmt"))
        self.validators = select(table.c.etag, table.c.last_modified, table.c.sealed).where(where)
        self.bodies = select(table.c.etag, table.c.body, table.c.body_gzip).where(where)

    def __call__(self, environ, start_response):
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD")
        match = DOCUMENT.match(path) if method in ("GET", "HEAD") else None
        if match is None:
            return self.flask(environ, start_response)
        fmt = match.group(1)
        key = path[: -len(fmt) - 1]
        if environ.get("QUERY_STRING"):
            variant = parse_qs(environ["QUERY_STRING"]).get("variant", [""])[0]
            if variant and variant not in self.variants:
                return self.flask(environ, start_response)
            key = f"{key}@{variant}" if variant else key
        entry = self.cache.get((key, fmt))
        now = time.monotonic()
        if entry is None or now - entry[-1] >= CHECK_SECONDS:
            entry = self._check(key, fmt, entry, now)
            if entry is None:
                return self.flask(environ, start_response)  # 404, 503, redirects
        etag, body, gz, plain_headers, gz_headers, last_modified, _ = entry
        gzip = "gzip" in environ.get("HTTP_ACCEPT_ENCODING", "")
        headers = gz_headers if gzip else plain_headers
        if self._not_modified(environ, etag, last_modified):
            self._count(key, 304, 0, environ)
            start_response("304 NOT MODIFIED", [h for h in headers if h[0] != "Content-Length"])
            return []
        data = gz if gzip else body
        self._count(key, 200, 0 if method == "HEAD" else len(data), environ)
        start_response("200 OK", headers)
        return [] if method == "HEAD" else [data]

    def _check(self, key, fmt, entry, now):
        """The store's validators; the bytes again only when the ETag changed."""
        params = {"key": key, "fmt": fmt}
        with self.engine.connect() as conn:
            row = conn.execute(self.validators, params).first()
            if row is None:
                self.cache.pop((key, fmt), None)
                return None
            if entry is not None and entry[0] == row.etag:
                entry = (*entry[:-1], now)
            else:
                loaded = conn.execute(self.bodies, params).first()
                if loaded is None:
                    return None
                entry = (*self._entry(fmt, loaded, row), now)
        if len(self.cache) >= self.max_entries and (key, fmt) not in self.cache:
            self.cache.clear()
        self.cache[(key, fmt)] = entry
        return entry

    def _entry(self, fmt, loaded, row):
        max_age = (
            self.settings.archive_max_age_seconds
            if row.sealed
            else self.settings.render_interval_seconds
        )
        common = [
            ("Content-Type", f"{MEDIA_TYPES[fmt]}; charset=utf-8"),
            ("Last-Modified", format_datetime(row.last_modified, usegmt=True)),
            ("Cache-Control", f"public, max-age={max_age}"),
            ("Vary", "Accept-Encoding"),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "strict-origin-when-cross-origin"),
        ]
        gz_etag = loaded.etag[:-1] + '-gz"'
        plain = [("ETag", loaded.etag), ("Content-Length", str(len(loaded.body))), *common]
        gz = [("ETag", gz_etag), ("Content-Length", str(len(loaded.body_gzip))), *common]
        gz.append(("Content-Encoding", "gzip"))
        return loaded.etag, loaded.body, loaded.body_gzip, plain, gz, row.last_modified

    @staticmethod
    def _not_modified(environ, etag, last_modified) -> bool:
        tags = environ.get("HTTP_IF_NONE_MATCH")
        if tags:  # If-None-Match wins; weak comparison, either representation's ETag
            bare = etag.strip('"')
            names = {t.strip().removeprefix("W/").strip('"') for t in tags.split(",")}
            return bool(names & {bare, bare + "-gz", "*"})
        since = environ.get("HTTP_IF_MODIFIED_SINCE")
        if not since:
            return False
        try:
            return last_modified.replace(microsecond=0) <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False

    def _count(self, key, status, nbytes, environ) -> None:
        if self.counter is not None:
            path = ARCHIVE.sub("", key.partition("@")[0])  # counted per feed, as feeds.py does
            self.counter.count(path, status, nbytes, environ.get("HTTP_USER_AGENT"))


app = FastFeeds(create_app())
