"""What bench/serving.py measures: the database, the feed bytes and the servers.

Prepares a SQLite database whose site-wide RSS feed is about 43 KB, copies the stored bytes
out for the baselines, and starts on loopback, pinned to one CPU: feedsvc under gunicorn,
the minimal WSGI app (bench/minimal_app.py), nginx serving the bytes as static files, and
the shipped fronts (deploy/nginx.conf, the proxy cache, and deploy/nginx-files.conf, the
scheduler's exported files; only paths and ports rewritten). `Stack` stops every
process it started, in its own process group, on exit, error or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
FEED_PATH = "/feeds/all.rss"
SBIN_PATH = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
DEMO = ROOT / "feedsvc" / "data" / "demo-articles.json"


def clauses() -> list[str]:
    """Clauses of the demo articles: real text, recombined so that items differ."""
    found: set[str] = set()
    for article in json.loads(DEMO.read_text())["articles"]:
        plain = re.sub(r"<[^>]+>", "", article.get("content_html") or article["summary"])
        found.update(c.strip() for c in re.split(r"[,，。;；:：]", plain) if len(c.strip()) > 5)
    return sorted(found)


def tool(name: str) -> str:
    found = shutil.which(name, path=SBIN_PATH)
    if found:
        return found
    if os.geteuid() != 0:
        sys.exit(f"{name} is missing: run as root (to apt-get install it) or install it")
    print(f"installing {name} from Debian ...", flush=True)
    package = {"wrk": "wrk", "nginx": "nginx-light"}[name]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "install", "-y", "-q", package], check=True, env=env)
    found = shutil.which(name, path=SBIN_PATH)
    if not found:
        sys.exit(f"{name} still missing after apt-get install {package}")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def feed_env(work: Path) -> dict[str, str]:
    return {
        **os.environ,
        "FEEDSVC_DATABASE_URL": f"sqlite:///{work / 'feedsvc.db'}",
        "FEEDSVC_VARIANTS": "",  # only the original script: faster to prepare, same path
        "FEEDSVC_LOG_LEVEL": "WARNING",
        "FEEDSVC_LOAD_DEMO_ON_EMPTY": "false",
    }


def prepare(work: Path, articles: int, clauses_per_item: int) -> tuple[bytes, bytes, str]:
    """Demo data plus `articles` generated ones, rendered; returns the site RSS row."""
    env = feed_env(work)
    for command in ("migrate", "demo"):
        subprocess.run([BIN / "feedsvc", command], check=True, env=env, cwd=ROOT)
    os.environ.update(env)  # Settings.load() below reads the same database
    from feedsvc import db, store
    from feedsvc.config import Settings
    from feedsvc.publishing import create_article
    from feedsvc.types import FeedKey

    settings = Settings.load()
    engine = db.make_engine(settings.database_url)
    factory = db.session_factory(engine)
    now = datetime.now(UTC)
    pool, rng = clauses(), random.Random(43)
    with db.transaction(factory) as session:
        for i in range(articles):
            picked = rng.sample(pool, clauses_per_item + 2)
            fields = {
                "title": f"{picked[0][:20]}（{i}）",
                "summary": f"{picked[1]}。",
                "content_html": f"<p>{'，'.join(picked[2:])}。</p>",
                "status": "published",
                "published_at": now - timedelta(minutes=articles - i),
                "tags": ["交通", "城市"],
                "sections": ["資訊播報"],
            }
            create_article(session, fields, now, settings)
    subprocess.run([BIN / "feedsvc", "render"], check=True, env=env, cwd=ROOT)
    with factory() as session:
        row = store.load_rendered(session, FeedKey.site(), "rss")
        assert row is not None, "the site feed was not rendered"
        result = (row.body, row.body_gzip, row.etag)
    engine.dispose()
    return result


def write_feed_files(work: Path, body: bytes, gz: bytes, etag: str) -> tuple[Path, Path]:
    """The same bytes for the baselines: a dir for minimal_app, a docroot for nginx."""
    raw = work / "feed"
    raw.mkdir()
    (raw / "body").write_bytes(body)
    (raw / "body.gz").write_bytes(gz)
    (raw / "etag").write_text(etag)
    docroot = work / "www"
    (docroot / "feeds").mkdir(parents=True)
    (docroot / "feeds" / "all.rss").write_bytes(body)
    (docroot / "feeds" / "all.rss.gz").write_bytes(gz)
    for path in (work, docroot, docroot / "feeds"):
        path.chmod(0o755)  # nginx workers run as an unprivileged user
    return raw, docroot


STATIC_CONF = """\
worker_processes 1;
pid {work}/static.pid;
error_log {work}/static-error.log warn;
events {{ worker_connections 4096; }}
http {{
    include /etc/nginx/mime.types;
    types {{ application/rss+xml rss; }}
    sendfile on;
    tcp_nopush on;
    keepalive_requests 10000;
    server_tokens off;
    access_log {work}/static-access.log combined buffer=64k flush=5s;
    # The same file-descriptor cache the shipped front uses: a baseline as tuned as it.
    open_file_cache max=10000 inactive=60s;
    open_file_cache_valid 10s;
    server {{
        listen 127.0.0.1:{port} reuseport;
        root {docroot};
        location /feeds {{
            gzip_static on;
            add_header Cache-Control "public, max-age=5";
            add_header Vary Accept-Encoding;
        }}
    }}
}}
"""


def static_conf(work: Path, docroot: Path, port: int) -> Path:
    path = work / "static.conf"
    path.write_text(STATIC_CONF.format(work=work, docroot=docroot, port=port))
    return path


def front_conf(work: Path, port: int, upstream: int) -> Path:
    """deploy/nginx.conf as shipped, with only the lines marked `bench:` rewritten."""
    text = (ROOT / "deploy" / "nginx.conf").read_text()
    cache = work / "cache"
    cache.mkdir()
    if os.geteuid() == 0:
        shutil.chown(cache, "www-data", "www-data")
    rewrites = [
        ("user www-data;", "user www-data;" if os.geteuid() == 0 else ""),
        ("worker_processes auto;", "worker_processes 1;"),
        ("/run/nginx-feedsvc.pid", f"{work}/front.pid"),
        ("/var/log/nginx/feedsvc-error.log", f"{work}/front-error.log"),
        ("/var/log/nginx/feedsvc-access.log", f"{work}/front-access.log"),
        ("/var/cache/nginx/feedsvc", str(cache)),
        ("server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream};"),
        ("listen 80 reuseport;", f"listen 127.0.0.1:{port} reuseport;"),
    ]
    for old, new in rewrites:
        if old not in text:
            sys.exit(f"deploy/nginx.conf changed: {old!r} not found; update bench/serving_stack")
        text = text.replace(old, new)
    path = work / "front.conf"
    path.write_text(text)
    return path


def files_conf(work: Path, port: int, upstream: int) -> Path:
    """deploy/nginx-files.conf as shipped (`bench:` lines rewritten), over an export of
    the bench's database written as the scheduler writes it (feedsvc/export.py)."""
    from feedsvc import db
    from feedsvc.config import Settings
    from feedsvc.export import Exporter

    export = work / "export"
    engine = db.make_engine(Settings.load().database_url)
    Exporter(db.session_factory(engine), export).resync()
    engine.dispose()
    text = (ROOT / "deploy" / "nginx-files.conf").read_text()
    rewrites = [
        ("user www-data;", "user www-data;" if os.geteuid() == 0 else ""),
        ("worker_processes auto;", "worker_processes 1;"),
        ("/run/nginx-feedsvc-files.pid", f"{work}/files.pid"),
        ("/var/log/nginx/feedsvc-error.log", f"{work}/files-error.log"),
        ("/var/log/nginx/feedsvc-access.log", f"{work}/files-access.log"),
        ("/var/lib/feedsvc/export", str(export)),
        ("server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream};"),
        ("listen 80 reuseport;", f"listen 127.0.0.1:{port} reuseport;"),
    ]
    for old, new in rewrites:
        if old not in text:
            sys.exit(
                f"deploy/nginx-files.conf changed: {old!r} not found; update bench/serving_stack"
            )
        text = text.replace(old, new)
    path = work / "files.conf"
    path.write_text(text)
    return path


class Stack:
    """Servers started on CPU 0, each in its own process group; `stop` ends them all."""

    def __init__(self, work: Path, cpu: str) -> None:
        self.work, self.cpu = work, cpu
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str], cwd: Path = ROOT) -> None:
        log = open(self.work / f"{name}.log", "wb")  # noqa: SIM115 - the process owns it
        self.procs[name] = subprocess.Popen(
            ["taskset", "-c", self.cpu, *argv],
            env=env,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def gunicorn(
        self, name: str, port: int, target: str, env: dict[str, str], cwd: Path, extra=()
    ) -> None:
        argv = [str(BIN / "gunicorn"), "-w", "1", "-k", "sync", "--backlog", "2048", *extra]
        self.start(name, [*argv, "-b", f"127.0.0.1:{port}", target], env, cwd)

    def nginx(self, name: str, conf: Path) -> None:
        argv = [tool("nginx"), "-c", str(conf), "-g", "daemon off;"]
        self.start(name, argv, dict(os.environ))

    def cpu_ticks(self, names: list[str]) -> int:
        """utime+stime of every process in the named servers' process groups."""
        groups = {self.procs[n].pid for n in names}
        total = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # the process ended meanwhile
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) in groups:  # pgrp
                total += int(fields[11]) + int(fields[12])
        return total

    def wait_ready(self, name: str, port: int, limit: float = 60) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.procs[name].poll() is not None:
                log = (self.work / f"{name}.log").read_text(errors="replace")
                sys.exit(f"{name} exited early:\n{log[-2000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", FEED_PATH)
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        sys.exit(f"{name} did not answer on port {port} within {limit:.0f} s")

    def stop(self) -> None:
        for proc in self.procs.values():
            _signal_group(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(pgid, signum)
