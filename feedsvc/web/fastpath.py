"""The feed fast path: stored documents answered from process memory, in front of Flask.

A feed GET or HEAD costs a dictionary lookup. At most every `feed_check_seconds` the layer
asks the store for the current ETags of every document it holds, in one query on the
primary key (no bodies), and drops the ones that changed; the next request for one loads
its new bytes. So after its next check it never serves bytes older than the store's, and a
check is one round trip however many documents a process holds. Whatever it does not hold
(unknown or not yet rendered feeds, Chinese-name redirects, unexpected query strings, other
methods) goes to Flask unchanged, and web/feeds.py answers it as before.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Flask, Response
from sqlalchemy import bindparam, select
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.http import http_date, parse_accept_header, parse_date, parse_etags

from feedsvc.app import security_headers
from feedsvc.config import Settings
from feedsvc.models import RenderedFeed
from feedsvc.types import MEDIA_TYPES

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

DOCUMENT = re.compile(
    r"^/feeds/(all|tags/[a-z0-9-]+|sections/[a-z0-9-]+)(/archive/[1-9][0-9]*)?\.(rss|atom|json)$"
)
_CURRENT = select(RenderedFeed.key, RenderedFeed.format, RenderedFeed.etag).where(
    RenderedFeed.key.in_(bindparam("keys", expanding=True))
)
STALE_IF_ERROR_SECONDS = 86_400
log = logging.getLogger(__name__)
_CHUNK = 500  # keys per query: well under any database's bound-parameter limit
_DOCUMENT = select(
    RenderedFeed.etag,
    RenderedFeed.last_modified,
    RenderedFeed.sealed,
    RenderedFeed.body,
    RenderedFeed.body_gzip,
).where(RenderedFeed.key == bindparam("key"), RenderedFeed.format == bindparam("format"))


def gzip_etag(etag: str) -> str:
    # A strong ETag names one representation; the gzip bytes are a different one.
    return etag[:-1] + '-gz"'


def not_modified(
    etag: str, last_modified: datetime, if_none_match: str | None, if_modified_since: str | None
) -> bool:
    """Whether a conditional GET may be answered 304 (RFC 9110 13.2.2).

    If-None-Match wins over If-Modified-Since and compares weakly; either representation's
    ETag (identity or gzip) matches, since both carry the same document.
    """
    if if_none_match:
        if if_none_match in (etag, gzip_etag(etag)):
            return True  # what nearly every poller sends back: no parsing needed
        tags = parse_etags(if_none_match)
        return bool(
            tags.star_tag
            or tags.contains_weak(etag.strip('"'))
            or tags.contains_weak(gzip_etag(etag).strip('"'))
        )
    since = parse_date(if_modified_since) if if_modified_since else None
    return since is not None and last_modified.replace(microsecond=0) <= since


def cache_control(settings: Settings, sealed: bool, scope: str = "public") -> str:
    # A sealed archive page keeps its items; anything else may change at the next render.
    max_age = settings.archive_max_age_seconds if sealed else settings.feed_max_age_seconds
    # RFC 5861: a cache may keep serving this copy while we answer with errors (database
    # down, a deploy): stale news beats no feed.
    return f"{scope}, max-age={max_age}, stale-if-error={STALE_IF_ERROR_SECONDS}"


@functools.lru_cache(maxsize=256)  # clients send a handful of distinct values
def accepts_gzip(accept_encoding: str | None) -> bool:
    return parse_accept_header(accept_encoding or "").quality("gzip") > 0


@dataclass
class _Entry:
    etag: str
    body: bytes
    body_gzip: bytes
    last_modified: datetime
    # Complete header lists, built once per document: index False is identity, True gzip.
    ok: tuple[list[tuple[str, str]], list[tuple[str, str]]]
    not_modified: tuple[list[tuple[str, str]], list[tuple[str, str]]]

    @property
    def size(self) -> int:
        return len(self.body) + len(self.body_gzip)


class FeedCache:
    """WSGI middleware: `app.wsgi_app = FeedCache(app)`."""

    def __init__(self, app: Flask, clock: Callable[[], float] = time.monotonic) -> None:
        services = app.extensions["feedsvc"]
        self.next: WSGIApp = app.wsgi_app
        self.app = app
        self.engine = services.engine
        self.settings = services.settings
        self.clock = clock
        self.queries = {"": None} | {f"variant={v}": v for v in self.settings.variant_names}
        self.entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self.size = 0
        self.lock = threading.Lock()
        self.checked = float("-inf")
        self.check_lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        match = DOCUMENT.match(environ.get("PATH_INFO", ""))
        query = environ.get("QUERY_STRING", "")
        if method not in ("GET", "HEAD") or match is None or query not in self.queries:
            return self.next(environ, start_response)
        stem, archive, fmt = match.groups()
        variant = self.queries[query]
        path = f"/feeds/{stem}{archive or ''}" + (f"@{variant}" if variant else "")
        entry = self._entry(path, fmt)
        if entry is None:
            return self.next(environ, start_response)

        gzip = accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING"))
        conditions = (environ.get("HTTP_IF_NONE_MATCH"), environ.get("HTTP_IF_MODIFIED_SINCE"))
        if not_modified(entry.etag, entry.last_modified, *conditions):
            self._count(f"/feeds/{stem}", 304, 0, environ)
            start_response("304 NOT MODIFIED", entry.not_modified[gzip])
            return [b""]
        body = entry.body_gzip if gzip else entry.body
        self._count(f"/feeds/{stem}", 200, 0 if method == "HEAD" else len(body), environ)
        start_response("200 OK", entry.ok[gzip])
        return [b"" if method == "HEAD" else body]

    def check(self, now: float) -> None:
        """Drop every held document whose stored ETag changed or that is gone: one query."""
        # One thread checks; the others go on serving what is held meanwhile rather than
        # queue behind its query (and behind a connect timeout when the store is away).
        if not self.check_lock.acquire(blocking=False):
            return
        try:
            self._check(now)
        finally:
            self.check_lock.release()

    def _check(self, now: float) -> None:
        if now - self.checked < self.settings.feed_check_seconds:
            return
        with self.lock:
            held = dict(self.entries)
        paths = sorted({path for path, _ in held})
        current: dict[tuple[str, str], str] = {}
        try:
            if paths:
                with self.engine.connect() as connection:
                    for start in range(0, len(paths), _CHUNK):
                        chunk = {"keys": paths[start : start + _CHUNK]}
                        for key, fmt, etag in connection.execute(_CURRENT, chunk):
                            current[(key, fmt)] = etag
        except SQLAlchemyError as exc:
            # The store is unreachable: keep serving the last good bytes we hold, and
            # ask again after the usual interval rather than on every request.
            log.warning("feed store unreachable, serving held documents: %s", exc)
            self.checked = now
            return
        with self.lock:
            for key, entry in held.items():
                if current.get(key) != entry.etag and self.entries.get(key) is entry:
                    del self.entries[key]
                    self.size -= entry.size
        self.checked = now

    def _entry(self, path: str, fmt: str) -> _Entry | None:
        now = self.clock()
        if now - self.checked >= self.settings.feed_check_seconds:
            self.check(now)
        with self.lock:
            entry = self.entries.get((path, fmt))
            if entry is not None:
                self.entries.move_to_end((path, fmt))  # least recently used goes first
        if entry is not None:
            return entry
        params = {"key": path, "format": fmt}
        try:
            with self.engine.connect() as connection:
                row = connection.execute(_DOCUMENT, params).one_or_none()
        except SQLAlchemyError:
            return None  # not held and the store is down: Flask answers with a problem
        if row is None:
            return None
        content_type = f"{MEDIA_TYPES[fmt]}; charset=utf-8"  # type: ignore[index]
        common = self._common_headers(row.sealed, content_type)
        identity, zipped = [("ETag", row.etag), *common], [("ETag", gzip_etag(row.etag)), *common]
        modified = ("Last-Modified", http_date(row.last_modified))
        entry = _Entry(
            etag=row.etag,
            body=row.body,
            body_gzip=row.body_gzip,
            last_modified=row.last_modified,
            ok=(
                [
                    *identity,
                    ("Content-Type", content_type),
                    ("Content-Length", str(len(row.body))),
                    modified,
                ],
                [
                    *zipped,
                    ("Content-Type", content_type),
                    ("Content-Length", str(len(row.body_gzip))),
                    modified,
                    ("Content-Encoding", "gzip"),
                ],
            ),
            not_modified=(identity, zipped),
        )
        self._keep((path, fmt), entry)
        return entry

    def _common_headers(self, sealed: bool, content_type: str) -> list[tuple[str, str]]:
        response = Response(content_type=content_type)
        response.headers["Cache-Control"] = cache_control(self.settings, sealed)
        response.headers["Vary"] = "Accept-Encoding"
        response = security_headers(response)  # the ones Flask's own answers get
        return [(k, v) for k, v in response.headers.items() if k != "Content-Type"]

    def _keep(self, key: tuple[str, str], entry: _Entry) -> None:
        with self.lock:
            old = self.entries.pop(key, None)
            self.size -= old.size if old else 0
            self.entries[key] = entry
            self.size += entry.size
            while self.size > self.settings.feed_cache_bytes and len(self.entries) > 1:
                _, evicted = self.entries.popitem(last=False)
                self.size -= evicted.size

    def _count(self, key: str, status: int, nbytes: int, environ: dict[str, Any]) -> None:
        counter = self.app.extensions.get("feedsvc_traffic")
        if counter is not None:
            counter.count(key, status, nbytes, environ.get("HTTP_USER_AGENT"))
