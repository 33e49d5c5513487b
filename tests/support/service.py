"""The real `feedsvc serve` in a subprocess, for the end-to-end tests to talk to over HTTP.

`running_service` starts it on a free loopback port with its output in a log file, waits
until it answers, yields a `Service` and stops it. HTTP is the standard library's
http.client: it never follows redirects, never decompresses and sends exactly what it is
given. `Service.cli` runs the feedsvc console script against the same database.
"""

from __future__ import annotations

import functools
import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any, TypeVar

import feedparser
import pytest

FEEDSVC = Path(sys.executable).with_name("feedsvc")
HOST = "127.0.0.1"
RENDER_INTERVAL = 1  # seconds between scheduler ticks, as service_env sets it
WAIT_TIMEOUT = 20.0
HTTP_TIMEOUT = 30.0
CLI_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0

T = TypeVar("T")

# Tests send many requests with one token or one user name; tests/test_limits.py checks the
# real defaults bite.
UNTHROTTLED = {"api_rate_limit": "100000 per minute", "signin_rate_limit": "10000 per minute"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(
    check: Callable[[], T | None],
    what: str,
    timeout: float = WAIT_TIMEOUT,
    *,
    interval: float = 0.2,
    detail: Callable[[], str] | None = None,
) -> T:
    """Call `check` until it returns something truthy and return that; fail after `timeout`.

    `detail`, when given, is called on failure and its text (a log, say) added to the message.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            message = f"timed out after {timeout} s waiting until {what}"
            pytest.fail(f"{message}\n{detail()}" if detail else message)
        time.sleep(interval)


def service_env(database: Path | str, **overrides: str) -> dict[str, str]:
    """The environment for feedsvc: `database` is a SQLite file (a Path) or a database URL."""
    # No FEEDSVC_* of the caller's shell (a config file, a base URL) may leak in.
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    url = f"sqlite:///{database}" if isinstance(database, Path) else database
    env.update(
        FEEDSVC_DATABASE_URL=url,
        FEEDSVC_RENDER_INTERVAL_SECONDS=str(RENDER_INTERVAL),
        FEEDSVC_LEASE_SECONDS="10",  # must outlast the render interval
        **{f"FEEDSVC_{name.upper()}": value for name, value in UNTHROTTLED.items()},
    )
    env.update(overrides)
    return env


def start_scheduler(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`feedsvc scheduler` with `env`, its output appended to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(FEEDSVC), "scheduler"], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def feed_ids(body: bytes, fmt: str) -> list[str]:
    """The item ids of a stored document; RSS and Atom must parse cleanly (a half-written
    document would not)."""
    if fmt == "json":
        return [item["id"] for item in json.loads(body)["items"]]
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0, parsed.bozo_exception
    return [entry.id for entry in parsed.entries]


def run_cli(
    env: dict[str, str], workdir: Path, *args: str, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `feedsvc *args` in `workdir` with `env`, capturing its text output."""
    return subprocess.run(
        [str(FEEDSVC), *args],
        input=input,
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Message
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Service:
    port: int
    env: dict[str, str]
    workdir: Path
    log: Path

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> Reply:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=HTTP_TIMEOUT)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return Reply(response.status, response.headers, response.read())
        finally:
            conn.close()

    def get(self, path: str, headers: dict[str, str] | None = None) -> Reply:
        return self.request("GET", path, headers)

    def api_reply(self, token: str, method: str, path: str, payload: Any = None) -> Reply:
        """An API request with a bearer token and, when there is a payload, a JSON body."""
        headers = {"Authorization": f"Bearer {token}"}
        body = None
        if payload is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        return self.request(method, path, headers, body)

    def api(self, token: str, method: str, path: str, payload: Any = None) -> tuple[int, Any]:
        """`api_reply`'s status and decoded JSON body (None when the body is empty)."""
        reply = self.api_reply(token, method, path, payload)
        return reply.status, (reply.json() if reply.body else None)

    def cli(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return run_cli(self.env, self.workdir, *args, input=input)

    def token(self, role: str = "editor") -> str:
        done = self.cli("token", "create", "--role", role)
        assert done.returncode == 0, done.stderr
        token = done.stdout.strip()
        assert token, "token create printed nothing"
        assert "\n" not in token, f"stdout is not the token alone: {done.stdout!r}"
        return token

    def output(self) -> str:
        return self.log.read_text("utf-8", errors="replace")


@contextmanager
def running_service(
    workdir: Path,
    env: dict[str, str],
    ready: Sequence[str] = ("/healthz", "/feeds/all.rss"),
    start_timeout: float = 60.0,
) -> Iterator[Service]:
    """`feedsvc serve` on a free port, yielded once every path in `ready` answers 200."""
    service = Service(free_port(), env, workdir, workdir / "serve.log")
    with service.log.open("wb") as log:
        # Output goes to a file: a pipe nobody reads would fill up and stall the server.
        process = subprocess.Popen(
            [str(FEEDSVC), "serve", "--host", HOST, "--port", str(service.port)],
            env=env,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:

            def answers(path: str) -> bool:
                if process.poll() is not None:
                    pytest.fail(
                        f"feedsvc serve exited with {process.returncode} during start-up:\n"
                        f"{service.output()}"
                    )
                try:
                    return service.get(path).status == 200
                except OSError:
                    return False  # not listening yet

            deadline = time.monotonic() + start_timeout
            for path in ready:
                wait_for(
                    functools.partial(answers, path),
                    f"feedsvc serve answers 200 on {path}",
                    max(0.0, deadline - time.monotonic()),
                    detail=service.output,
                )
            yield service
        finally:
            _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)
