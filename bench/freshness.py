"""Edit-to-served latency under load: how long after an API write readers get the new bytes.

    .venv/bin/python bench/freshness.py [--writes 120] [--rate 1] [--workers 4]
        [--reader-procs 2] [--reader-threads 16] [--database-url URL] [--json out.json]

Runs the production shape on loopback with the default settings (bench/soak/harness.py):
gunicorn with several sync workers and one `feedsvc scheduler` on a fresh SQLite file
(or the PostgreSQL database named by --database-url), the demo loaded. Reader processes
poll feeds with conditional GET as fast as the server answers them, while one editor
writes through the API at a steady rate: alternately a new article tagged 測量, and the
removal of that tag from the previous article. After each write a watcher polls the tag's
feed every 20 ms until the change is served; edit-to-served is from sending the write to
the first answer that shows it. Prints p50/p90/p99/max over all writes, the writes' own
latency and the readers' latency and error count; --json writes the same as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent / "soak"))
from harness import Api, Readers, Stack, summary, watch

FEED = "/feeds/tags/celiang.rss"  # 測量


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    stack = Stack(work, workers=args.workers, database_url=args.database_url)
    served: dict[str, list[float]] = {"tag added": [], "tag removed": []}
    write_latency: list[float] = []
    missed: list[str] = []
    lock = threading.Lock()
    watchers: list[threading.Thread] = []

    def measure(kind: str, needle: bytes, present: bool, started: float) -> None:
        seen = watch(stack.port, FEED, needle, present)
        with lock:
            if seen is None:
                missed.append(f"{kind}: {needle.decode()}")
            else:
                served[kind].append(seen - started)

    with stack.running() as token:
        api = Api(stack.port, token)
        readers = Readers(stack.port, args.reader_procs, args.reader_threads)
        readers.start()
        try:
            time.sleep(2)  # readers at full speed before the first write
            previous: tuple[int, bytes] | None = None
            next_at = time.monotonic()
            for n in range(args.writes):
                next_at += 1 / args.rate
                time.sleep(max(0.0, next_at - time.monotonic()))
                started = time.monotonic()
                if previous is None:
                    title = f"新鮮度測量 {n} {time.time_ns()}"
                    status, body = api.call(
                        "POST",
                        "/articles",
                        {"title": title, "status": "published", "tags": ["測量"]},
                    )
                    assert status == 201, body
                    kind, needle, present = "tag added", title.encode(), True
                    previous = (body["id"], needle)
                else:
                    article, needle = previous
                    status, body = api.call("DELETE", f"/articles/{article}/tags/celiang")
                    assert status in (200, 204), (status, body)
                    kind, present, previous = "tag removed", False, None
                write_latency.append(time.monotonic() - started)
                watcher = threading.Thread(target=measure, args=(kind, needle, present, started))
                watcher.start()
                watchers.append(watcher)
            for watcher in watchers:
                watcher.join()
        finally:
            reading = readers.finish()
    everything = served["tag added"] + served["tag removed"]
    return {
        "settings": "defaults (dirty_poll_seconds 0.25, feed_check_seconds 0.5)",
        "workers": args.workers,
        "readers": f"{args.reader_procs} processes x {args.reader_threads} threads",
        "writes": args.writes,
        "rate_per_s": args.rate,
        "database": args.database_url.split("@")[-1] if args.database_url else "sqlite",
        "edit_to_served_s": summary(everything),
        "by_kind": {k: summary(v) for k, v in served.items()},
        "never_served": missed,
        "write_latency_s": summary(write_latency),
        "reads": reading,
    }


def show(result: dict[str, Any]) -> None:
    def line(name: str, s: dict[str, float]) -> str:
        return (
            f"{name:<22} n={s['n']:<5} p50 {s['p50']:6.3f}  p90 {s['p90']:6.3f}  "
            f"p99 {s['p99']:6.3f}  max {s['max']:6.3f} s"
        )

    print(
        f"gunicorn {result['workers']} workers + feedsvc scheduler, {result['database']}; "
        f"readers {result['readers']}; {result['writes']} writes at {result['rate_per_s']}/s"
    )
    print(line("edit -> served", result["edit_to_served_s"]))
    for kind, s in result["by_kind"].items():
        print(line(f"  {kind}", s))
    print(line("API write", result["write_latency_s"]))
    reads = result["reads"]
    print(line("feed read", reads["latency_s"]))
    print(
        f"reads: {reads['requests']} ({reads['counts']['200']} x 200, "
        f"{reads['counts']['304']} x 304), errors {reads['counts']['errors']}; "
        f"writes never served: {len(result['never_served'])}"
    )
    p99 = result["edit_to_served_s"]["p99"]
    met = p99 <= 2 and not result["never_served"]  # a write never served is a miss too
    print(f"edit-to-served p99 {p99:.2f} s (target <= 2 s): {'ok' if met else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=120)
    parser.add_argument("--rate", type=float, default=1.0, help="writes per second")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--reader-procs", type=int, default=2)
    parser.add_argument("--reader-threads", type=int, default=16)
    parser.add_argument("--database-url", default="", help="PostgreSQL; default a SQLite file")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = run(args, Path(tmp))
    show(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
