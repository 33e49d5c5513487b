"""Checks that the shipped nginx fronts (deploy/) behave as deploy/README.md says.

    sudo .venv/bin/python bench/front_check.py

Starts feedsvc under gunicorn and the front on loopback (as bench/serving.py does), then
checks, printing one line each: a repeat GET is a cache hit with the stored bytes; every
spelling of Accept-Encoding that includes gzip shares one gzip copy; If-None-Match gets a
304 from nginx; an expired copy is refreshed with a conditional request that the app
answers 304; a new render reaches readers after max-age; with the app stopped, readers
still get the last bytes. Then the same for deploy/nginx-files.conf over the files the
scheduler exports: the stored bytes, the app's Last-Modified and Content-Type, the .gz,
304 for If-None-Match and If-Modified-Since, and the files still served with the app
stopped. Exits 1 if any check fails. Takes about half a minute.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from serving_stack import (
    BIN,
    FEED_PATH,
    ROOT,
    Stack,
    feed_env,
    files_conf,
    free_port,
    front_conf,
    prepare,
    tool,
)

MAX_AGE = 2  # FEEDSVC_FEED_MAX_AGE_SECONDS, the feeds' max-age
RENDER_INTERVAL = 5  # FEEDSVC_RENDER_INTERVAL_SECONDS
failures: list[str] = []


def get(port: int, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", FEED_PATH, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def expect(ok: bool, what: str, detail: str = "") -> None:
    print(f"{'ok  ' if ok else 'FAIL'} {what}{'  (' + detail + ')' if detail else ''}")
    if not ok:
        failures.append(what)


def rerender(work: Path) -> None:
    """A new article in the site feed, rendered by the real scheduler code."""
    from datetime import UTC, datetime

    from feedsvc import db
    from feedsvc.config import Settings
    from feedsvc.publishing import create_article

    settings = Settings.load()
    engine = db.make_engine(settings.database_url)
    fields = {"title": "前端檢查新增報導", "status": "published", "summary": "新內容。"}
    with db.transaction(db.session_factory(engine)) as session:
        create_article(session, fields, datetime.now(UTC), settings)
    engine.dispose()
    # `feedsvc render` keeps the scheduler lease until it expires (see main): retry a while.
    for _ in range(15):
        done = subprocess.run([BIN / "feedsvc", "render"], env=feed_env(work), cwd=ROOT)
        if done.returncode == 0:
            return
        time.sleep(1)
    raise RuntimeError("feedsvc render kept failing")


def run(work: Path) -> None:
    body, gz, etag = prepare(work, 20, 3)
    app_port, front_port = free_port(), free_port()
    work.chmod(0o755)
    stack = Stack(work, "0-1")
    try:
        env = feed_env(work)
        target = "feedsvc.app:create_app()"
        stack.gunicorn("feedsvc", app_port, target, env, ROOT, ["--access-logfile", "-"])
        stack.nginx("front", front_conf(work, front_port, app_port))
        stack.wait_ready("feedsvc", app_port)
        stack.wait_ready("front", front_port)

        get(front_port)  # a miss: fills the cache
        status, headers, got = get(front_port)
        expect(status == 200 and got == body, "GET through the front is the stored bytes")
        expect(headers.get("X-Cache") == "HIT", "a repeat GET is a cache hit", headers["X-Cache"])
        expect(headers.get("ETag") == etag, "the app's ETag passes through", headers["ETag"])

        _, _, g1 = get(front_port, {"Accept-Encoding": "gzip"})
        _, h2, g2 = get(front_port, {"Accept-Encoding": "gzip, deflate, br"})
        expect(g1 == gz and g2 == gz, "gzip readers get the bytes compressed at render time")
        expect(h2.get("X-Cache") == "HIT", "Accept-Encoding spellings share one gzip copy")

        status, headers, got = get(front_port, {"If-None-Match": etag})
        expect(status == 304 and got == b"", "If-None-Match is answered 304 by nginx")

        time.sleep(MAX_AGE + 1)
        get(front_port)  # expired: served stale while nginx revalidates in the background
        time.sleep(1)
        log = (work / "feedsvc.log").read_text()
        expect(" 304 " in log, "an expired copy is revalidated with our ETag (app sent 304)")
        status, headers, got = get(front_port)
        expect(got == body and headers.get("X-Cache") == "HIT", "after a 304 the copy is fresh")

        rerender(work)
        time.sleep(MAX_AGE + 1)
        fresh = None
        for _ in range(3):  # the first request after expiry may still get the old copy
            _, headers, got = get(front_port)
            if headers.get("ETag") != etag:
                fresh = got
                break
            time.sleep(0.5)
        expect(fresh is not None and "前端檢查新增報導".encode() in fresh,
               "a new render reaches readers after max-age")  # fmt: skip

        stack.procs["feedsvc"].send_signal(signal.SIGTERM)
        stack.procs["feedsvc"].wait(timeout=30)
        time.sleep(MAX_AGE + 1)
        status, headers, got = get(front_port)
        expect(
            status == 200 and got == fresh,
            "with the app down, readers still get the last bytes",
            f"{status} X-Cache {headers.get('X-Cache')}",
        )
    finally:
        stack.stop()


def run_files(work: Path) -> None:
    body, gz, _ = prepare(work, 20, 3)
    app_port, front_port = free_port(), free_port()
    work.chmod(0o755)
    stack = Stack(work, "0-1")
    try:
        env = feed_env(work)
        target = "feedsvc.app:create_app()"
        stack.gunicorn("feedsvc", app_port, target, env, ROOT)
        stack.nginx("files", files_conf(work, front_port, app_port))
        stack.wait_ready("feedsvc", app_port)
        stack.wait_ready("files", front_port)

        status, headers, got = get(front_port)
        _, app_headers, _ = get(app_port)
        expect(status == 200 and got == body, "GET is the stored bytes, from the file")
        expect(
            headers.get("Last-Modified") == app_headers.get("Last-Modified"),
            "nginx's Last-Modified is the app's",
            headers.get("Last-Modified", ""),
        )
        expect(
            headers.get("Content-Type") == app_headers.get("Content-Type"),
            "Content-Type and charset as the app sends them",
            headers.get("Content-Type", ""),
        )
        _, _, got = get(front_port, {"Accept-Encoding": "gzip"})
        expect(got == gz, "gzip readers get the .gz written at render time")
        status, _, got = get(front_port, {"If-None-Match": headers["ETag"]})
        expect(status == 304 and got == b"", "If-None-Match is answered 304 by nginx")
        status, _, _ = get(front_port, {"If-Modified-Since": app_headers["Last-Modified"]})
        expect(status == 304, "If-Modified-Since with the app's date is answered 304")

        stack.procs["feedsvc"].send_signal(signal.SIGTERM)
        stack.procs["feedsvc"].wait(timeout=30)
        status, _, got = get(front_port)
        expect(status == 200 and got == body, "with the app down, readers still get the file")
    finally:
        stack.stop()


def main() -> None:
    tool("nginx")
    # The shortest lease allowed (> the render interval): the setup's `feedsvc render`
    # does not give its lease back, and the check renders again a few seconds later.
    os.environ["FEEDSVC_LEASE_SECONDS"] = str(RENDER_INTERVAL + 1)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda num, _frame: sys.exit(128 + num))
    with tempfile.TemporaryDirectory(prefix="feedsvc-front-") as tmp:
        print("== deploy/nginx.conf (proxy cache)")
        run(Path(tmp))
    with tempfile.TemporaryDirectory(prefix="feedsvc-files-") as tmp:
        print("== deploy/nginx-files.conf (files the scheduler exports)")
        run_files(Path(tmp))
    print(f"{len(failures)} check(s) failed" if failures else "all checks passed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
