"""The feed query: the newest 50 items of a feed, from feed_entries against the naive form.

    .venv/bin/python bench/query.py [--database-url URL] [--articles 100000] [--runs 300]
        [--naive-runs 30]

On a database made by bench/gen_articles.py (generated into it first when its articles
table is empty, with `--articles`, 5,000 tags and 50 sections), for a popular tag (the one
with the most articles), a medium one (about 1,000), a rare one (about 10), the busiest
section routed by rule, and the site feed, it times through the ORM, in a fresh session
each run, as the renderer reads a feed:

* ids: `queries.newest_ids` (the feed_entries primary key, newest first);
* +tags: the same, then `queries.load_articles` (articles, their tag ids, the tags:
  three queries) and every item's tags touched;
* items: the same ids, then `items.load_items` (the renderer's ItemData with their
  categories, from plain rows: one query, the tags aggregated into one string per article);
* items 1 join: `items.newest_items` (the same ItemData; the feed_entries range joined to
  the articles and their tags: one query in all);
* render: what the renderer reads for a feed's current document, `archives.arrange`
  (the newest sealed page's bound, then the feed_entries after it) and `items.load_items`
  for the current document's ids; render OR: the same with the bound written as
  "a > x OR (a = x AND b > y)", as it was until the row-value comparison (SQLite walked all
  of the feed's entries for it). Pages due are sealed before the runs, as a first render
  would;
* naive ids / naive +tags: `ORDER BY articles.published_at DESC LIMIT 50` over
  `queries.computed_membership` (the articles filtered by status, tags and sections).

The forms are measured interleaved, run by run, so load on the machine hits all alike. It
prints median and p90 in milliseconds and the ratios naive +tags / +tags and render OR /
render. The issue's target: the newest 50 with their tags (+tags, items or render) at most
2 ms at 1M articles, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, lazyload, selectinload, sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen_articles import generate

from feedsvc import archives, db, items, paging, queries
from feedsvc.config import Settings
from feedsvc.models import Article, FeedEntry, Section, section_rule_tags
from feedsvc.types import FeedKey

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 50
Query = Callable[[Session, FeedKey], int]


def new_ids(session: Session, key: FeedKey) -> int:
    return len(queries.newest_ids(session, key, LIMIT))


def new_with_tags(session: Session, key: FeedKey) -> int:
    articles = queries.load_articles(session, queries.newest_ids(session, key, LIMIT))
    return sum(len(a.tags) for a in articles) and len(articles)


def _naive_condition(session: Session, key: FeedKey) -> ColumnElement[bool]:
    condition = queries.computed_membership(session, key)
    assert condition is not None
    return condition


NEWEST = (Article.published_at.desc(), Article.id.desc())


def naive_ids(session: Session, key: FeedKey) -> int:
    stmt = select(Article.id).where(_naive_condition(session, key)).order_by(*NEWEST)
    return len(list(session.scalars(stmt.limit(LIMIT))))


def naive_with_tags(session: Session, key: FeedKey) -> int:
    stmt = (
        select(Article)
        .where(_naive_condition(session, key))
        .order_by(*NEWEST)
        .limit(LIMIT)
        .options(selectinload(Article.tags), lazyload(Article.sections))
    )
    articles = list(session.scalars(stmt))
    return sum(len(a.tags) for a in articles) and len(articles)


SETTINGS = Settings.load(environ={})


def new_items(session: Session, key: FeedKey) -> int:
    return len(items.load_items(session, queries.newest_ids(session, key, LIMIT), SETTINGS))


def newest_items(session: Session, key: FeedKey) -> int:
    return len(items.newest_items(session, key, LIMIT, SETTINGS))


def render_reads(session: Session, key: FeedKey) -> int:
    layout = archives.arrange(session, key, SETTINGS, datetime.now(UTC))
    return len(items.load_items(session, layout.current_ids, SETTINGS))


def render_reads_or(session: Session, key: FeedKey) -> int:
    """render_reads with the bound written as "a > x OR (a = x AND b > y)", as it was."""
    last = archives.last_sealed(session, key)
    stmt = select(FeedEntry.article_id, FeedEntry.size_estimate).where(
        FeedEntry.feed_key == key.path
    )
    if last is not None:
        at, article_id = last.last_published_at, last.last_article_id
        stmt = stmt.where(
            (FeedEntry.published_at > at)
            | ((FeedEntry.published_at == at) & (FeedEntry.article_id > article_id))
        )
    rows = session.execute(stmt.order_by(FeedEntry.published_at, FeedEntry.article_id)).all()
    entries = [paging.Entry(article_id, size) for article_id, size in rows]
    split = paging.split(
        entries, SETTINGS.feed_items, SETTINGS.archive_page_items, SETTINGS.feed_max_bytes
    )
    ids = [entries[i].article_id for i in split.current]
    return len(items.load_items(session, ids, SETTINGS))


FORMS: dict[str, Query] = {
    "ids": new_ids,
    "+tags": new_with_tags,
    "items": new_items,
    "items 1 join": newest_items,
    "render": render_reads,
    "render OR": render_reads_or,
    "naive ids": naive_ids,
    "naive +tags": naive_with_tags,
}


def pick_feeds(session: Session) -> list[tuple[str, FeedKey, int]]:
    """(label, key, items) of the feeds measured."""
    tag_counts = session.execute(
        select(FeedEntry.feed_key, func.count())
        .where(FeedEntry.feed_key.like("/feeds/tags/%"))
        .group_by(FeedEntry.feed_key)
    ).all()
    by_count = sorted(tag_counts, key=lambda row: row[1])

    def near(n: int) -> tuple[str, int]:
        path, count = min(by_count, key=lambda row: (abs(row[1] - n), row[0]))
        return path, count

    ruled = select(section_rule_tags.c.section_id).distinct()
    rule_slugs = list(session.scalars(select(Section.slug).where(Section.id.in_(ruled))))
    section_counts = [
        (path, count)
        for path, count in session.execute(
            select(FeedEntry.feed_key, func.count())
            .where(FeedEntry.feed_key.in_([FeedKey.section(s).path for s in rule_slugs]))
            .group_by(FeedEntry.feed_key)
        )
    ]
    section_path, section_count = max(section_counts, key=lambda row: row[1])
    site_count = session.scalar(
        select(func.count()).where(FeedEntry.feed_key == FeedKey.site().path)
    )
    feeds = [
        ("popular tag", by_count[-1][0], by_count[-1][1]),
        ("medium tag", *near(1000)),
        ("rare tag", *near(10)),
        ("rule section", section_path, section_count),
        ("site", FeedKey.site().path, site_count or 0),
    ]
    return [(label, FeedKey.from_path(path), count) for label, path, count in feeds]


def measure(
    factory: sessionmaker[Session], key: FeedKey, runs: int, naive_runs: int
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in FORMS}
    for run in range(runs):
        for name, query in FORMS.items():
            if name.startswith("naive") and run >= naive_runs:
                continue
            with factory() as session:
                # Check a connection out (and ping it, on PostgreSQL) before the clock
                # starts: the renderer holds one for its whole transaction.
                session.connection()
                started = time.perf_counter()
                query(session, key)
                times[name].append((time.perf_counter() - started) * 1000)
    return times


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=f"sqlite:///{ROOT / 'var' / 'bench-query.db'}")
    parser.add_argument("--articles", type=int, default=100_000, help="if generating")
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--naive-runs", type=int, default=30)
    args = parser.parse_args()

    engine = db.make_engine(args.database_url)
    db.migrate(engine)
    factory = db.session_factory(engine)
    with factory() as session:
        present = session.scalar(select(func.count()).select_from(Article)) or 0
    if not present:
        made = generate(args.database_url, articles=args.articles)
        print(f"generated {made.articles} articles in {made.seconds:.1f} s")
        present = made.articles
    with factory() as session:
        feeds = pick_feeds(session)
    for _label, key, _count in feeds:
        # Seal whatever pages are due, as the first render does: the renderer's reads are
        # then what every later render of the feed makes.
        with db.transaction(factory) as session:
            archives.arrange(session, key, SETTINGS, datetime.now(UTC))
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"{platform.python_implementation()} {platform.python_version()}; "
        f"{make_url(args.database_url).get_backend_name()}, {present} articles; "
        f"newest {LIMIT}; {args.runs} runs ({args.naive_runs} naive); ms"
    )
    header = f"{'feed':<13} {'in feed':>7}"
    for name in FORMS:
        header += f" | {name + ' p50':>15} {'p90':>6}"
    print(header + " | naive/+tags | OR/render")
    for label, key, count in feeds:
        times = measure(factory, key, args.runs, args.naive_runs)
        line = f"{label:<13} {count:>7}"
        for name in FORMS:
            line += f" | {statistics.median(times[name]):>15.2f} {p90(times[name]):>6.2f}"
        ratio = statistics.median(times["naive +tags"]) / statistics.median(times["+tags"])
        bound = statistics.median(times["render OR"]) / statistics.median(times["render"])
        print(f"{line} | {ratio:>10.1f}x | {bound:>8.1f}x")
        sys.stdout.flush()
    engine.dispose()


if __name__ == "__main__":
    main()
