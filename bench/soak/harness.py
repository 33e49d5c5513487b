"""The production shape on loopback, and the load the soak and freshness benchmarks put on it.

`Stack` runs `feedsvc migrate` and `feedsvc demo`, then gunicorn with several sync workers
and one `feedsvc scheduler`, each in its own process group, and stops them on exit.
`Readers` are processes of threads polling feeds with conditional GET, as feed readers do;
`Api` is an editor's client. Only the standard library, so the numbers are not a client
library's.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import multiprocessing
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
# Feeds every reader polls: site-wide, sections and tags of the demo, a variant, a page.
READ_PATHS = [
    "/feeds/all.rss",
    "/feeds/all.atom",
    "/feeds/all.json",
    "/feeds/all.atom?variant=zh-hans",
    "/feeds/sections/lehuo-hot.rss",
    "/feeds/sections/zixunbobao.atom",
    "/feeds/tags/yuyao.rss",
    "/feeds/tags/yuyao.json",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "max": max(values) if values else float("nan"),
    }


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return sorted(int(p) for p in text.split())


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


def request(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 30,
) -> Reply:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        conn.close()


class Api:
    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token

    def call(self, method: str, path: str, payload: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token}"}
        body = None
        if payload is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(payload, ensure_ascii=False).encode()
        reply = request(self.port, method, "/api" + path, headers, body)
        return reply.status, (json.loads(reply.body) if reply.body else None)


@dataclass
class Stack:
    work: Path
    workers: int = 4
    database_url: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
        env.update(
            FEEDSVC_DATABASE_URL=self.database_url or f"sqlite:///{self.work / 'feedsvc.db'}",
            FEEDSVC_BASE_URL=f"http://{HOST}:{self.port}",
            FEEDSVC_LOG_LEVEL="WARNING",
            FEEDSVC_SECRET_KEY="bench-only-secret",
            # The editors here are a load generator on one token: no rate limit applies.
            FEEDSVC_API_RATE_LIMIT="1000000 per minute",
        )
        env.update(self.extra_env)
        return env

    def feedsvc(self, *args: str) -> str:
        done = subprocess.run(
            [str(BIN / "feedsvc"), *args],
            env=self.env(),
            cwd=self.work,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = (self.work / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen(
            argv,
            env=self.env(),
            cwd=self.work,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as a whole
        )
        log.close()

    def start(self) -> str:
        """Start everything; returns an editor token once the feeds are served."""
        self.port = self.port or free_port()
        self.feedsvc("migrate")
        self.feedsvc("demo")
        token = self.feedsvc("token", "create", "--role", "editor").strip()
        app = "feedsvc.app:create_app()"
        bind = f"{HOST}:{self.port}"
        gunicorn = [str(BIN / "gunicorn"), "-w", str(self.workers), "-b", bind, app]
        self._spawn("gunicorn", [*gunicorn, "--backlog", "4096"])
        self._spawn("scheduler", [str(BIN / "feedsvc"), "scheduler"])
        deadline = time.monotonic() + 120
        for path in ("/healthz", *READ_PATHS):
            while True:
                with contextlib.suppress(OSError):
                    if request(self.port, "GET", path).status == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{path} not served; see {self.work}/*.log")
                for name, proc in self.procs.items():
                    if proc.poll() is not None:
                        raise RuntimeError(f"{name} exited; see {self.work}/{name}.log")
                time.sleep(0.2)
        return token

    def worker_pids(self) -> list[int]:
        return children(self.procs["gunicorn"].pid)

    def memory(self) -> dict[str, int | None]:
        """RSS in KiB of every web worker and of the scheduler."""
        found: dict[str, int | None] = {f"worker {p}": rss_kib(p) for p in self.worker_pids()}
        found["scheduler"] = rss_kib(self.procs["scheduler"].pid)
        return found

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)

    @contextlib.contextmanager
    def running(self) -> Iterator[str]:
        try:
            yield self.start()
        finally:
            self.stop()


# --- readers ---------------------------------------------------------------------------------


def _reader_process(
    port: int, threads: int, paths: list[str], stop: Any, out: Any, pause: float
) -> None:
    latencies: list[float] = []
    counts = {"200": 0, "304": 0, "errors": 0}
    errors: list[str] = []
    lock = threading.Lock()

    def loop(seed: int) -> None:
        rng = random.Random(seed)
        etags: dict[str, str] = {}
        mine: list[float] = []
        while not stop.is_set():
            path = rng.choice(paths)
            headers = {"Accept-Encoding": "gzip"} if rng.random() < 0.5 else {}
            if path in etags:
                headers["If-None-Match"] = etags[path]
            started = time.perf_counter()
            try:
                reply = request(port, "GET", path, headers, timeout=30)
                status = str(reply.status)
            except OSError as exc:
                status = f"{type(exc).__name__}"
            mine.append(time.perf_counter() - started)
            with lock:
                if status in ("200", "304"):
                    counts[status] += 1
                else:
                    counts["errors"] += 1
                    if len(errors) < 20:
                        errors.append(f"{path}: {status}")
            if status == "200":
                etags[path] = reply.headers.get("etag", "")
            if pause:
                time.sleep(rng.uniform(0, 2 * pause))
        with lock:
            latencies.extend(mine)

    pool = [threading.Thread(target=loop, args=(os.getpid() * 1000 + i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    out.put({"latencies": latencies, "counts": counts, "errors": errors})


class Readers:
    """`procs` processes of `threads` threads, each polling READ_PATHS with conditional GET."""

    def __init__(self, port: int, procs: int, threads: int, pause: float = 0.0) -> None:
        ctx = multiprocessing.get_context("fork")
        self.stop_event = ctx.Event()
        self.queue: Any = ctx.Queue()
        self.procs = [
            ctx.Process(
                target=_reader_process,
                args=(port, threads, READ_PATHS, self.stop_event, self.queue, pause),
                daemon=True,
            )
            for _ in range(procs)
        ]

    def start(self) -> None:
        for p in self.procs:
            p.start()

    def finish(self) -> dict[str, Any]:
        self.stop_event.set()
        results = [self.queue.get(timeout=120) for _ in self.procs]
        for p in self.procs:
            p.join(timeout=30)
        latencies = [x for r in results for x in r["latencies"]]
        counts = {k: sum(r["counts"][k] for r in results) for k in ("200", "304", "errors")}
        return {
            "requests": len(latencies),
            "counts": counts,
            "latency_s": summary(latencies),
            "error_samples": [e for r in results for e in r["errors"]][:20],
        }


# --- edit to served --------------------------------------------------------------------------


def watch(port: int, path: str, needle: bytes, present: bool, limit: float = 60) -> float | None:
    """Poll `path` (conditionally, every 20 ms) until `needle` is in it (or gone)."""
    started = time.monotonic()
    etag = ""
    while time.monotonic() - started < limit:
        try:
            reply = request(port, "GET", path, {"If-None-Match": etag} if etag else {})
        except OSError:
            time.sleep(0.02)
            continue
        if reply.status == 200:
            etag = reply.headers.get("etag", "")
            if (needle in reply.body) == present:
                return time.monotonic()
        elif reply.status == 404 and not present:
            return time.monotonic()
        time.sleep(0.02)
    return None
