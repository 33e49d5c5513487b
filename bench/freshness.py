"""Edit-to-served latency: how long after an API write readers get the new bytes.

    .venv/bin/python bench/freshness.py [--rounds 20] [--interval 5]

Starts `feedsvc serve` on a free loopback port with a fresh SQLite file (demo data
loaded), then for each round tags a new article through the API and polls the tag's feed
until the article is in it, removes the tag and polls until it is gone. Prints median, p90
and max for both, and checks that feeds the edits never touched kept their ETag.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

# Feeds the benchmark's edits never enter or leave (the site-wide feed is touched).
UNTOUCHED = [
    "/feeds/sections/lehuo-hot.rss",
    "/feeds/tags/yuyao.atom",
    "/feeds/sections/zixunbobao.json",
]
POLL = 0.02


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Client:
    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any, bytes]:
        request = urllib.request.Request(
            self.base + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read()
        except urllib.error.URLError:
            return 0, {}, b""  # not listening yet

    def feed_has(self, path: str, needle: str) -> bool:
        status, _, body = self.call("GET", path)
        return status == 200 and needle.encode() in body  # 503: not rendered yet


def wait_until(predicate: Any, limit: float = 60) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > limit:
            raise TimeoutError("the feed did not change in time")
        time.sleep(POLL)
    return time.monotonic() - started


def summary(name: str, values: list[float]) -> str:
    p90 = statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]
    return (
        f"{name:<24} median {statistics.median(values):5.2f} s   p90 {p90:5.2f} s   "
        f"max {max(values):5.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--interval", type=int, default=5, help="render interval, seconds")
    args = parser.parse_args()
    feedsvc = str(Path(sys.executable).with_name("feedsvc"))
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
        env.update(
            FEEDSVC_DATABASE_URL=f"sqlite:///{tmp}/bench.db",
            FEEDSVC_RENDER_INTERVAL_SECONDS=str(args.interval),
            FEEDSVC_LEASE_SECONDS=str(max(30, 3 * args.interval)),
            FEEDSVC_LOG_LEVEL="WARNING",
        )
        log = open(f"{tmp}/serve.log", "wb")  # noqa: SIM115 - closed with the server
        server = subprocess.Popen(
            [feedsvc, "serve", "--port", str(port)], env=env, stdout=log, stderr=log
        )
        try:
            base = f"http://127.0.0.1:{port}"
            probe = Client(base, "")
            wait_until(lambda: probe.call("GET", "/healthz")[0] == 200)
            token = subprocess.run(
                [feedsvc, "token", "create", "--role", "editor"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            client = Client(base, token)
            before = {p: client.call("GET", p)[1]["ETag"] for p in UNTOUCHED}
            enter, leave = [], []
            for n in range(args.rounds):
                # A random pause, so writes land anywhere in the render cycle rather than
                # phase-locked to it just after the previous round's render.
                time.sleep(random.uniform(0, args.interval))
                title = f"新鮮度測量 {n}"
                started = time.monotonic()
                status, _, body = client.call(
                    "POST",
                    "/api/articles",
                    {"title": title, "status": "published", "tags": ["測量"]},
                )
                assert status == 201, body
                article = json.loads(body)["id"]
                wait_until(lambda t=title: client.feed_has("/feeds/tags/celiang.rss", t))
                enter.append(time.monotonic() - started)
                time.sleep(random.uniform(0, args.interval))
                started = time.monotonic()
                client.call("DELETE", f"/api/articles/{article}/tags/celiang")
                wait_until(lambda t=title: not client.feed_has("/feeds/tags/celiang.rss", t))
                leave.append(time.monotonic() - started)
            after = {p: client.call("GET", p)[1]["ETag"] for p in UNTOUCHED}
        finally:
            server.terminate()
            server.wait(10)
            log.close()
    print(f"render interval {args.interval} s, {args.rounds} rounds, polling every {POLL} s")
    print(summary("tag added -> served", enter))
    print(summary("tag removed -> gone", leave))
    changed = [p for p in UNTOUCHED if before[p] != after[p]]
    print(
        f"untouched feeds that kept their ETag: {len(UNTOUCHED) - len(changed)}/{len(UNTOUCHED)}"
        + (f" (changed: {', '.join(changed)})" if changed else "")
    )


if __name__ == "__main__":
    main()
