"""Serving benchmark: feedsvc against a minimal WSGI app and nginx, on the same bytes.

    sudo .venv/bin/python bench/serving.py [--reps 5] [--duration 10] [--sweep 1,4,16,32,64]

Prepares a database whose site-wide RSS feed is ~43 KB and serves that feed five ways,
each server pinned to CPU 0 with wrk on CPU 1: feedsvc (gunicorn, 1 sync worker), the
minimal WSGI app (bench/minimal_app.py, same gunicorn), nginx serving the bytes as a static
file (gzip_static for .gz) and the two shipped fronts: deploy/nginx.conf (proxy cache in
front of the same feedsvc) and deploy/nginx-files.conf (nginx serving the files the
scheduler exports, the app behind it for the rest). For full GETs, 304s (If-None-Match)
and gzip it runs `wrk -t1 -c32` `--reps` times per case, cases interleaved, and prints
median requests/s, server CPU per request and the target ratios. `--sweep` adds throughput
against connections and a PNG chart. Installs wrk and nginx from Debian when missing (needs root).
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import re
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from serving_stack import FEED_PATH, ROOT, Stack, feed_env, free_port, tool

BENCH = Path(__file__).resolve().parent
SERVERS = ["feedsvc", "minimal", "static", "front", "files"]
EXTRA = ["proto", "proto0"]  # measured only when named in --servers
LABELS = {
    "proto": "prototype: cache, check each 1 s",
    "proto0": "prototype: check every request",
    "feedsvc": "feedsvc (gunicorn, 1 sync worker)",
    "minimal": "minimal WSGI app (same gunicorn)",
    "static": "nginx static file",
    "front": "nginx proxy-cache front",
    "files": "nginx files front (export)",
}
# Whose CPU a case costs: the front revalidates with feedsvc now and then.
CPU_OF = {name: [name] for name in SERVERS + EXTRA}
CPU_OF["front"] = ["front", "feedsvc"]
MODES = ["get", "304", "gzip"]
TARGETS = [  # (numerator, denominator, mode, target ratio)
    ("feedsvc", "minimal", "get", 0.9),
    ("feedsvc", "minimal", "304", 0.9),
    ("feedsvc", "minimal", "gzip", 0.9),
    ("proto", "minimal", "get", 0.9),
    ("proto", "minimal", "304", 0.9),
    ("proto", "minimal", "gzip", 0.9),
    ("proto0", "minimal", "get", 0.9),
    ("proto0", "minimal", "304", 0.9),
    ("proto0", "minimal", "gzip", 0.9),
    ("front", "static", "get", 0.75),
    ("front", "static", "304", 0.75),
    ("front", "static", "gzip", 0.75),
    ("files", "static", "get", 0.75),
    ("files", "static", "304", 0.75),
    ("files", "static", "gzip", 0.75),
]


def probe(port: int, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", FEED_PATH, headers=headers)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def check(condition: bool, message: str) -> None:
    if not condition:
        raise RuntimeError(message)


def case_headers(ports: dict[str, int], body: bytes) -> dict[tuple[str, str], dict[str, str]]:
    """Each case's request headers, after checking every server sends the same bytes."""
    found: dict[tuple[str, str], dict[str, str]] = {}
    for name, port in ports.items():
        for _ in range(2):  # the front's first answer is a cache miss
            status, headers, got = probe(port, {})
        check(status == 200 and got == body, f"{name}: GET is not the stored bytes")
        etag = headers["ETag"]
        status, headers, got = probe(port, {"Accept-Encoding": "gzip"})
        check(headers.get("Content-Encoding") == "gzip", f"{name}: gzip not served")
        check(gzip.decompress(got) == body, f"{name}: gzip bytes differ")
        status, _, got = probe(port, {"If-None-Match": etag})
        check(status == 304 and got == b"", f"{name}: If-None-Match gave {status}")
        found[(name, "get")] = {}
        found[(name, "304")] = {"If-None-Match": etag}
        found[(name, "gzip")] = {"Accept-Encoding": "gzip"}
    return found


def wrk(port: int, headers: dict[str, str], conns: int, seconds: int, cpu: str) -> dict:
    argv = ["taskset", "-c", cpu, tool("wrk"), "-t1", f"-c{conns}", f"-d{seconds}s"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    argv.append(f"http://127.0.0.1:{port}{FEED_PATH}")
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    if not rps or not total:
        raise RuntimeError(f"unreadable wrk output:\n{out}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": float(rps.group(1)),
        "requests": int(total.group(1)),
        "bad": int(bad.group(1)) if bad else 0,
        "errors": errors.group(1) if errors else "",
    }


def measure(stack, ports, headers, cases, conns, seconds, reps, wrk_cpu) -> dict:
    results: dict[tuple[str, str], list[dict]] = {case: [] for case in cases}
    for rep in range(reps):
        shift = rep % len(cases)  # a different order each repetition: drift hits all alike
        for server, mode in cases[shift:] + cases[:shift]:
            groups = CPU_OF[server]
            before = stack.cpu_ticks(groups)
            run = wrk(ports[server], headers[(server, mode)], conns, seconds, wrk_cpu)
            run["cpu_us"] = (stack.cpu_ticks(groups) - before) * 1e6 / 100 / run["requests"]
            results[(server, mode)].append(run)
            print(
                f"  rep {rep + 1}/{reps} c={conns:<3} {server:<8} {mode:<5}"
                f" {run['rps']:>9.0f} req/s {run['cpu_us']:6.0f} us/req"
                f"{'  NON-2XX ' + str(run['bad']) if run['bad'] else ''}",
                flush=True,
            )
    return results


def median(runs: list[dict], field: str) -> float:
    return statistics.median(run[field] for run in runs)


def report(results: dict, args: argparse.Namespace, feed_bytes: int, gz_bytes: int) -> None:
    print(
        f"\nfeed {FEED_PATH}: {feed_bytes} bytes ({gz_bytes} gzip); wrk -t1 -c{args.connections}"
        f" -d{args.duration}s, {args.reps} runs per case, medians"
    )
    print(f"{'server':<36}{'mode':<6}{'req/s':>9}{'min':>9}{'max':>9}{'us/req CPU':>12}")
    for server, mode in results:
        runs = results[(server, mode)]
        print(
            f"{LABELS[server]:<36}{mode:<6}{median(runs, 'rps'):>9.0f}"
            f"{min(r['rps'] for r in runs):>9.0f}{max(r['rps'] for r in runs):>9.0f}"
            f"{median(runs, 'cpu_us'):>12.1f}"
        )
    print("\nratios of medians, same run (throughput; and CPU per request, inverted):")
    for num, den, mode, target in TARGETS:
        if (num, mode) not in results or (den, mode) not in results:
            continue
        a, b = results[(num, mode)], results[(den, mode)]
        ratio = median(a, "rps") / median(b, "rps")
        cost = median(b, "cpu_us") / median(a, "cpu_us")
        verdict = "ok" if ratio >= target else "MISSED"
        print(
            f"  {num} / {den} {mode:<5} {ratio:5.2f}  (target >= {target})  {verdict:<7}"
            f"  CPU: {cost:5.2f}"
        )


def chart(sweep: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for server in sweep:
        points = sorted((int(c), rps) for c, rps in sweep[server].items())
        ax.plot([c for c, _ in points], [r for _, r in points], marker="o", label=LABELS[server])
    ax.set_xscale("log", base=2)
    ticks = sorted({int(c) for runs in sweep.values() for c in runs})
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.set_yscale("log")
    ax.set_xlabel("concurrent connections (wrk -t1 -cN)")
    ax.set_ylabel("requests/s (median)")
    ax.set_title("43 KB feed, full GET; server on 1 core, wrk on the other")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--sweep", default="", help="e.g. 1,4,16,32,64: throughput chart")
    parser.add_argument("--sweep-duration", type=int, default=5)
    parser.add_argument("--sweep-reps", type=int, default=3)
    parser.add_argument("--articles", type=int, default=60, help="generated articles")
    parser.add_argument("--clauses", type=int, default=5, help="body length of each")
    parser.add_argument("--servers", default=",".join(SERVERS), help="a subset to measure")
    parser.add_argument("--modes", default=",".join(MODES), help="a subset of get,304,gzip")
    parser.add_argument("--server-cpu", default="0")
    parser.add_argument("--wrk-cpu", default="1")
    parser.add_argument("--out", type=Path, default=BENCH, help="where JSON and PNG go")
    parser.add_argument("--replot", action="store_true", help="redraw the chart from --out")
    args = parser.parse_args()
    if args.replot:
        saved = json.loads((args.out / "serving-results.json").read_text())
        chart(saved["sweep"], args.out / "serving-throughput.png")
        return
    # SIGTERM and SIGHUP unwind like Ctrl-C, so the `finally` below stops every server.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda num, _frame: sys.exit(128 + num))
    if not 1 <= args.reps <= 50 or not 1 <= args.duration <= 120:
        sys.exit("--reps must be 1..50 and --duration 1..120")
    tool("wrk")
    tool("nginx")
    args.out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="feedsvc-bench-") as tmp:
        work = Path(tmp)
        from serving_stack import files_conf, front_conf, prepare, static_conf, write_feed_files

        body, gz, etag = prepare(work, args.articles, args.clauses)
        print(f"site feed: {len(body)} bytes, {len(gz)} gzip, ETag {etag}", flush=True)
        raw, docroot = write_feed_files(work, body, gz, etag)
        chosen = args.servers.split(",")
        if not set(chosen) <= set(SERVERS + EXTRA):
            sys.exit(f"--servers: choose from {', '.join(SERVERS + EXTRA)}")
        ports = {name: free_port() for name in SERVERS + [s for s in EXTRA if s in chosen]}
        stack = Stack(work, args.server_cpu)
        try:
            env = feed_env(work)
            stack.gunicorn("feedsvc", ports["feedsvc"], "feedsvc.app:create_app()", env, ROOT)
            minimal_env = {**env, "BENCH_FEED_DIR": str(raw)}
            stack.gunicorn("minimal", ports["minimal"], "minimal_app:app", minimal_env, BENCH)
            for name, check in (("proto", "1"), ("proto0", "0")):
                if name in ports:
                    proto_env = {**env, "BENCH_CHECK_SECONDS": check}
                    stack.gunicorn(name, ports[name], "prototype_fastpath:app", proto_env, BENCH)
            stack.nginx("static", static_conf(work, docroot, ports["static"]))
            stack.nginx("front", front_conf(work, ports["front"], ports["feedsvc"]))
            stack.nginx("files", files_conf(work, ports["files"], ports["feedsvc"]))
            for name in ports:
                stack.wait_ready(name, ports[name])
            headers = case_headers(ports, body)
            cases = [(s, m) for m in args.modes.split(",") for s in chosen]
            results = measure(
                stack, ports, headers, cases, args.connections, args.duration, args.reps,
                args.wrk_cpu,
            )  # fmt: skip
            report(results, args, len(body), len(gz))
            saved = {f"{s} {m}": runs for (s, m), runs in results.items()}
            if args.sweep:
                sweep: dict[str, dict[str, float]] = {s: {} for s in chosen}
                for conns in [int(c) for c in args.sweep.split(",")][:8]:
                    cases = [(server, "get") for server in chosen]
                    found = measure(
                        stack, ports, headers, cases, conns, args.sweep_duration,
                        args.sweep_reps, args.wrk_cpu,
                    )  # fmt: skip
                    for (server, _), runs in found.items():
                        sweep[server][str(conns)] = median(runs, "rps")
                print("\nthroughput (median req/s) against connections, full GET:")
                for server in chosen:
                    row = "  ".join(f"c={c}: {r:.0f}" for c, r in sweep[server].items())
                    print(f"  {server:<8} {row}")
                chart(sweep, args.out / "serving-throughput.png")
                saved["sweep"] = sweep
                print(f"chart: {args.out / 'serving-throughput.png'}")
            (args.out / "serving-results.json").write_text(json.dumps(saved, indent=1))
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
