"""The baseline for bench/serving.py: a WSGI app serving one feed's bytes from memory.

    BENCH_FEED_DIR=<dir with body, body.gz, etag> gunicorn 'minimal_app:app'

It does what a feed GET must do and nothing more: strong ETag, 304 on If-None-Match,
the pre-compressed body for Accept-Encoding: gzip, the same headers feedsvc sends.
"""

import os
from pathlib import Path

_DIR = Path(os.environ["BENCH_FEED_DIR"])
BODY, GZ = (_DIR / "body").read_bytes(), (_DIR / "body.gz").read_bytes()
ETAG = (_DIR / "etag").read_text().strip()
ETAG_GZ = ETAG[:-1] + '-gz"'
COMMON = [
    ("Content-Type", "application/rss+xml; charset=utf-8"),
    ("Cache-Control", "public, max-age=5"),
    ("Vary", "Accept-Encoding"),
]


def app(environ, start_response):
    gzip = "gzip" in environ.get("HTTP_ACCEPT_ENCODING", "")
    etag = ETAG_GZ if gzip else ETAG
    if environ.get("HTTP_IF_NONE_MATCH") in (ETAG, ETAG_GZ):
        start_response("304 Not Modified", [("ETag", etag), *COMMON])
        return []
    body = GZ if gzip else BODY
    headers = [("ETag", etag), ("Content-Length", str(len(body))), *COMMON]
    if gzip:
        headers.append(("Content-Encoding", "gzip"))
    start_response("200 OK", headers)
    return [body]
