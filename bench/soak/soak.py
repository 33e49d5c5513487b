"""A bounded soak: readers and editors at once, then a count of errors and lost writes.

    .venv/bin/python bench/soak/soak.py [--minutes 10] [--workers 4] [--rate 2]
        [--reader-procs 2] [--reader-threads 16] [--database-url URL] [--json FILE]

Loopback only. gunicorn with several sync workers and one `feedsvc scheduler` (SQLite by
default; --database-url names an empty PostgreSQL database to use instead). Reader
processes poll feeds with conditional GET as fast as they are answered; editor threads
write through the API at a steady total rate: creates (each article with a tag of its own,
so its feed shows exactly it), tag additions (a new tag each) and retractions.

At the end, with the readers and editors stopped, every acknowledged write is checked:
present in the database (the API's view of the article: status and tags) and, after the
next render, in its feeds (a published article in the JSON feed of each of its tags, a
retracted one in none). Reported: errors (reads and writes, target 0), lost writes (target
0), p50/p99 latency of reads and writes, and the RSS of every web worker and the scheduler
at start, every minute and at the end. Printed, and written as JSON (--json).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import Api, Readers, Stack, request, summary, watch


@dataclass
class Article:
    id: int
    title: str
    status: str = "published"
    tags: set[str] = field(default_factory=set)  # slugs


class Editors:
    """Threads writing at a steady total rate; every acknowledged write becomes state."""

    def __init__(self, api: Api, threads: int, rate: float, seed: int) -> None:
        self.api, self.threads, self.rate = api, threads, rate
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.articles: dict[int, Article] = {}
        self.counter = 0
        self.latency: list[float] = []
        self.ops = {"create": 0, "tag": 0, "retract": 0}
        self.errors: list[str] = []

    def _next(self) -> tuple[str, int, Article | None]:
        with self.lock:
            self.counter += 1
            live = [a for a in self.articles.values() if a.status == "published"]
            roll = self.rng.random()
            if len(live) < 5 or roll < 0.6:
                return "create", self.counter, None
            return ("tag" if roll < 0.8 else "retract"), self.counter, self.rng.choice(live)

    def write(self) -> None:
        op, n, target = self._next()
        started = time.monotonic()
        try:
            if op == "create":
                title = f"浸泡測試 {n} 號稿"
                status, body = self.api.call(
                    "POST",
                    "/articles",
                    {"title": title, "status": "published", "tags": [f"soak{n}", "浸泡"]},
                )
                ok = status == 201
                if ok:
                    with self.lock:
                        self.articles[body["id"]] = Article(body["id"], title, tags={f"soak{n}"})
            elif op == "tag":
                assert target is not None
                status, body = self.api.call(
                    "POST", f"/articles/{target.id}/tags", {"tags": [f"extra{n}"]}
                )
                ok = status in (200, 201)
                if ok:
                    with self.lock:
                        target.tags.add(f"extra{n}")
            else:
                assert target is not None
                status, body = self.api.call(
                    "PATCH", f"/articles/{target.id}", {"status": "retracted"}
                )
                ok = status == 200
                if ok:
                    with self.lock:
                        target.status = "retracted"
        except OSError as exc:
            ok, status, body = False, 0, repr(exc)
        elapsed = time.monotonic() - started
        with self.lock:
            self.latency.append(elapsed)
            self.ops[op] += 1
            if not ok:
                self.errors.append(f"{op}: {status} {str(body)[:200]}")

    def _loop(self, offset: float) -> None:
        interval = self.threads / self.rate
        next_at = time.monotonic() + offset
        while not self.stop.is_set():
            time.sleep(max(0.0, next_at - time.monotonic()))
            if self.stop.is_set():
                break
            self.write()
            next_at += interval

    def start(self) -> list[threading.Thread]:
        pool = [
            threading.Thread(target=self._loop, args=(i / self.rate,)) for i in range(self.threads)
        ]
        for t in pool:
            t.start()
        return pool


def verify(port: int, api: Api, articles: list[Article]) -> dict[str, Any]:
    """Every acknowledged write in the database and, after rendering, in its feeds."""
    lost_db: list[str] = []
    lost_feed: list[str] = []
    checked_feeds = 0
    for article in articles:
        status, body = api.call("GET", f"/articles/{article.id}")
        slugs = {t["slug"] for t in body.get("tags", [])} if status == 200 else set()
        if status != 200 or body["status"] != article.status or not article.tags <= slugs:
            lost_db.append(f"article {article.id}: {status} {str(body)[:200]}")
        for slug in sorted(article.tags):
            present = article.status == "published"
            # The first check waits for the last render; the rest are served by then.
            limit = 30 if checked_feeds == 0 else 10
            checked_feeds += 1
            path = f"/feeds/tags/{slug}.json"
            if watch(port, path, article.title.encode(), present, limit) is None:
                reply = request(port, "GET", path)
                lost_feed.append(f"{path}: status {reply.status}, expected present={present}")
    return {
        "articles": len(articles),
        "feeds_checked": checked_feeds,
        "lost_in_database": lost_db,
        "lost_in_feeds": lost_feed,
    }


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    stack = Stack(work, workers=args.workers, database_url=args.database_url)
    memory: list[dict[str, Any]] = []
    with stack.running() as token:
        api = Api(stack.port, token)
        started = time.monotonic()

        def sample(label: str) -> None:
            memory.append(
                {"at": label, "t_s": round(time.monotonic() - started, 1), **stack.memory()}
            )

        sample("start")
        readers = Readers(stack.port, args.reader_procs, args.reader_threads)
        editors = Editors(api, args.editor_threads, args.rate, args.seed)
        readers.start()
        pool = editors.start()
        try:
            end = started + args.minutes * 60
            minute = 1
            while time.monotonic() < end:
                time.sleep(min(1.0, max(0.0, end - time.monotonic())))
                if time.monotonic() - started >= minute * 60 and time.monotonic() < end:
                    sample(f"minute {minute}")
                    minute += 1
        finally:
            editors.stop.set()
            for t in pool:
                t.join()
            reading = readers.finish()
        sample("end")
        checked = verify(stack.port, api, list(editors.articles.values()))
    workers = sorted({k for m in memory for k in m if k.startswith("worker ")})
    # Start-up fills caches and imports lazily: "flat" is judged from minute 1 on.
    warm = memory[1] if len(memory) > 2 else memory[0]
    growth = {
        w: (memory[-1].get(w) or 0) - (warm.get(w) or 0)
        for w in workers
        if warm.get(w) and memory[-1].get(w)
    }
    write_errors = len(editors.errors)
    return {
        "minutes": args.minutes,
        "database": args.database_url.split("@")[-1] if args.database_url else "sqlite",
        "workers": args.workers,
        "readers": f"{args.reader_procs} processes x {args.reader_threads} threads",
        "editors": f"{args.editor_threads} threads, {args.rate} writes/s in total",
        "errors": reading["counts"]["errors"] + write_errors,
        "lost_writes": len(checked["lost_in_database"]) + len(checked["lost_in_feeds"]),
        "reads": reading,
        "writes": {
            "acknowledged": sum(editors.ops.values()) - write_errors,
            "ops": editors.ops,
            "errors": write_errors,
            "error_samples": editors.errors[:20],
            "latency_s": summary(editors.latency),
        },
        "verification": checked,
        "memory_kib": memory,
        "worker_rss_growth_kib": {"from": warm["at"], "to": "end", **growth},
    }


def show(r: dict[str, Any]) -> None:
    reads, writes = r["reads"], r["writes"]
    print(
        f"soak {r['minutes']} min, {r['database']}: gunicorn {r['workers']} workers + scheduler; "
        f"readers {r['readers']}; editors {r['editors']}"
    )
    rl, wl = reads["latency_s"], writes["latency_s"]
    print(
        f"reads   {reads['requests']:>8}  ({reads['counts']['200']} x 200, "
        f"{reads['counts']['304']} x 304)  errors {reads['counts']['errors']}  "
        f"p50 {rl['p50'] * 1000:.1f} ms  p99 {rl['p99'] * 1000:.1f} ms  max {rl['max']:.2f} s"
    )
    print(
        f"writes  {writes['acknowledged']:>8}  {writes['ops']}  errors {writes['errors']}  "
        f"p50 {wl['p50'] * 1000:.1f} ms  p99 {wl['p99'] * 1000:.1f} ms  max {wl['max']:.2f} s"
    )
    v = r["verification"]
    print(
        f"verified {v['articles']} articles and {v['feeds_checked']} feeds: "
        f"lost in database {len(v['lost_in_database'])}, in feeds {len(v['lost_in_feeds'])}"
    )
    names = [k for k in r["memory_kib"][0] if k not in ("at", "t_s")]
    print("RSS MiB   " + "  ".join(f"{n:>14}" for n in names))
    for m in r["memory_kib"]:
        values = "  ".join(f"{(m.get(n) or 0) / 1024:>14.1f}" for n in names)
        print(f"{m['at']:<9} {values}")
    growth = dict(r["worker_rss_growth_kib"])
    since = growth.pop("from")
    growth.pop("to")
    worst = max(growth.values(), default=0) / 1024
    print(f"largest web worker RSS growth, {since} to end: {worst:.1f} MiB")
    print(f"errors {r['errors']} (target 0), lost writes {r['lost_writes']} (target 0)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rate", type=float, default=2.0, help="writes per second, in total")
    parser.add_argument("--editor-threads", type=int, default=2)
    parser.add_argument("--reader-procs", type=int, default=2)
    parser.add_argument("--reader-threads", type=int, default=16)
    parser.add_argument("--database-url", default="", help="an empty PostgreSQL database")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--json", type=Path, default=Path("var/soak-report.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = run(args, Path(tmp))
    show(result)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"report written to {args.json}")
    raise SystemExit(0 if result["errors"] == 0 and result["lost_writes"] == 0 else 1)


if __name__ == "__main__":
    main()
