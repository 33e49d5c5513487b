"""Full rebuild against the raw feedgen cost of the same documents, measured in one run.

    .venv/bin/python bench/rebuild.py [--articles 1000000 --tags 5000 --sections 50]
        [--workers N] [--reps 3] [--variants zh-hans,zh-hant] [--database-url URL]
        [--stub-archives]

What "the feeds" are: every feed (site-wide, each tag, each section) in its three formats,
and what `feedsvc rebuild` renders again when the archives are already stored: the
current document and the open archive page of each (sealed pages keep their bytes; that
is `feedsvc rebuild --archives`). Variants are rendered when `--variants` names them, as
FEEDSVC_VARIANTS does; `--variants ''` measures the originals alone.

Each repetition changes the site title, so every document's bytes change and the rebuild
writes all of them (the case after a template or settings change), then measures:

* raw: in this process, on one core, the inputs of every document loaded into memory
  first (`regenerate.plan_feed`, the rebuild's own loader, variants converted), then only
  `render.render_all` timed, document by document;
* rebuild: the wall time of `feedsvc rebuild --workers N` as a subprocess, start-up
  included.

It prints the medians of raw, raw/N, rebuild and the ratio rebuild / (raw/N); the issue's
target is a ratio of at most 1.2. The database is generated on first use (the articles
table empty) by bench/gen_articles.py, and its archives rendered once by a first rebuild
that is reported but not in the ratio; at 1M articles that would render every archive
page (about 100 GB with variants), so pass `--stub-archives` there: sealed pages are then
stored as placeholders, which a rebuild never reads. It also prints CPU seconds (the
rebuild's processes against the raw renders), the steadier figure on a shared machine.
FEEDSVC_* settings in the environment (e.g. FEEDSVC_GZIP_LEVEL) reach both sides.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from feedsvc import archives, db, queries, regenerate
from feedsvc.config import Settings
from feedsvc.models import Article, RenderedFeed, Section, Tag
from feedsvc.render import render_all
from feedsvc.types import FORMATS

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen_articles import generate  # bench/, the generator bench/query.py uses too

ROOT = Path(__file__).resolve().parent.parent
FEEDSVC = Path(sys.executable).with_name("feedsvc")
BASE_URL = "http://bench.example"
TITLES = ("新聞網", "新聞網（重建）")  # alternated so each rebuild rewrites every document


def raw_seconds(
    factory: sessionmaker[Session], settings: Settings
) -> tuple[float, float, int, int]:
    """One core's feedgen time for what the rebuild renders: (wall s, CPU s, documents,
    items)."""
    total, cpu, documents, items = 0.0, 0.0, 0, 0
    now = datetime.now(UTC)
    with factory() as session:
        keys = sorted(queries.all_feed_keys(session))
    for key in keys:
        with factory() as session:
            plan = regenerate.plan_feed(session, key, settings, now)
            if plan is None:
                continue
            loaded = list(regenerate.documents(session, plan, settings, now))
            session.rollback()  # nothing to seal after the first rebuild; store nothing
        for doc in loaded:
            for meta, doc_items in doc.inputs.values():
                started, started_cpu = time.perf_counter(), time.process_time()
                render_all(meta, doc_items)
                total += time.perf_counter() - started
                cpu += time.process_time() - started_cpu
                documents += 3
                items += 3 * len(doc_items)
    return total, cpu, documents, items


def stub_archives(factory: sessionmaker[Session], settings: Settings) -> int:
    """Seal every feed's full archive pages and store a placeholder for each, unrendered.

    A rebuild leaves stored sealed pages alone, so what it measures is unchanged; only the
    first rebuild is spared rendering every archive page (at 1M articles, with variants,
    about 100 GB). Returns how many placeholder rows it wrote.
    """
    now = datetime.now(UTC)
    written = 0
    with factory() as session:
        keys = sorted(queries.all_feed_keys(session))
    for key in keys:
        with db.transaction(factory) as session:
            layout = archives.arrange(session, key, settings, now)
            stored = archives.stored_pages(session, key)
            rows = [
                {
                    "key": key.document_path(page, variant),
                    "format": fmt,
                    "body": b"",
                    "body_gzip": b"",
                    "etag": '"placeholder"',
                    "last_modified": now,
                    "item_count": 0,
                    "rendered_at": now,
                    "render_ms": 0.0,
                    "sealed": True,
                }
                for page in range(1, layout.sealed_count + 1)
                if page not in stored
                for variant in (None, *settings.variant_names)
                for fmt in FORMATS
            ]
            if rows:
                session.execute(insert(RenderedFeed), rows)
            written += len(rows)
    return written


def _children() -> tuple[float, float, int]:
    """User and system CPU seconds and 512-byte blocks written, by finished children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime, usage.ru_stime, usage.ru_oublock


def rebuild_seconds(env: dict[str, str], workers: int) -> tuple[float, float]:
    """Wall and CPU seconds (the command and its workers) of one `feedsvc rebuild`."""
    command = [str(FEEDSVC), "rebuild", "--workers", str(workers)]
    started, before = time.perf_counter(), _children()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    user, system, blocks = (a - b for a, b in zip(_children(), before, strict=True))
    if done.returncode != 0:
        sys.exit(f"feedsvc rebuild failed:\n{done.stdout}\n{done.stderr}")
    print(f"    {done.stdout.strip().splitlines()[-1]}")
    # Storing is part of a rebuild's cost: the kernel's share shows as system time.
    print(f"    user {user:.1f} s, system {system:.1f} s, written {blocks * 512 / 1e9:.1f} GB")
    return elapsed, user + system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=1_000_000)
    parser.add_argument("--tags", type=int, default=5000)
    parser.add_argument("--sections", type=int, default=50)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--variants", default="zh-hans,zh-hant", help="FEEDSVC_VARIANTS")
    parser.add_argument(
        "--database-url",
        default=f"sqlite:///{ROOT / 'var' / 'bench-rebuild.db'}",
        help="generated into when its articles table is empty",
    )
    parser.add_argument(
        "--stub-archives",
        action="store_true",
        help="store placeholders for sealed archive pages instead of rendering them first",
    )
    args = parser.parse_args()

    env = {
        **os.environ,
        "FEEDSVC_DATABASE_URL": args.database_url,
        "FEEDSVC_BASE_URL": BASE_URL,
        "FEEDSVC_VARIANTS": args.variants,
        "FEEDSVC_LOG_LEVEL": "WARNING",
    }
    engine = db.make_engine(args.database_url)
    db.migrate(engine)
    factory = db.session_factory(engine)
    with factory() as session:
        present = session.scalar(select(func.count()).select_from(Article)) or 0
    if not present:
        engine.dispose()  # the generator switches SQLite's journal off: no other connection
        made = generate(
            args.database_url, articles=args.articles, tags=args.tags, sections=args.sections
        )
        print(f"generated {made.articles} articles in {made.seconds:.1f} s")
    with factory() as session:
        counts = [
            session.scalar(select(func.count()).select_from(t)) or 0
            for t in (Article, Tag, Section)
        ]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"{platform.python_implementation()} {platform.python_version()}; "
        f"{make_url(args.database_url).get_backend_name()}; {counts[0]} articles, "
        f"{counts[1]} tags, {counts[2]} sections; variants: {args.variants or 'none'}; "
        f"workers: {args.workers}; {args.reps} reps"
    )
    if args.stub_archives:
        stubs = stub_archives(factory, Settings.load(environ=env))
        print(f"sealed archive pages stored as placeholders: {stubs} documents")
    print("first rebuild (missing archive pages, not in the ratio):")
    first, first_cpu = rebuild_seconds({**env, "FEEDSVC_SITE_TITLE": TITLES[1]}, args.workers)
    print(f"    {first:.1f} s wall, {first_cpu:.1f} s CPU")

    raws: list[float] = []
    raw_cpus: list[float] = []
    rebuilds: list[float] = []
    rebuild_cpus: list[float] = []
    for rep in range(args.reps):
        title = TITLES[rep % 2]
        settings = Settings.load(environ={**env, "FEEDSVC_SITE_TITLE": title})
        raw, raw_cpu, documents, items = raw_seconds(factory, settings)
        raws.append(raw)
        raw_cpus.append(raw_cpu)
        print(
            f"rep {rep + 1}: raw {raw:.2f} s ({raw_cpu:.2f} s CPU) "
            f"for {documents} documents, {items} items"
        )
        wall, cpu = rebuild_seconds({**env, "FEEDSVC_SITE_TITLE": title}, args.workers)
        rebuilds.append(wall)
        rebuild_cpus.append(cpu)
        print(f"    rebuild {wall:.2f} s wall, {cpu:.2f} s CPU")
    engine.dispose()

    n = args.workers
    raw, raw_cpu = statistics.median(raws), statistics.median(raw_cpus)
    rebuild, rebuild_cpu = statistics.median(rebuilds), statistics.median(rebuild_cpus)
    print(f"raw feedgen, one core          median {raw:8.2f} s   CPU {raw_cpu:8.2f} s")
    print(f"raw / {n}                                {raw / n:8.2f} s")
    print(f"feedsvc rebuild --workers {n}    median {rebuild:8.2f} s   CPU {rebuild_cpu:8.2f} s")
    print(f"rebuild / (raw / {n})                    {rebuild / (raw / n):8.2f}   (target <= 1.2)")
    # On a busy machine wall time includes waiting for a core; CPU time does not.
    print(f"rebuild CPU / raw CPU                   {rebuild_cpu / raw_cpu:8.2f}")


if __name__ == "__main__":
    main()
