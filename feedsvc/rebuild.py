"""A full rebuild: every feed rendered again, spread over worker processes.

What it renders: every feed's current document and open archive page in every format and
variant, plus any archive page that is missing from the store or newly sealed; sealed pages
already stored keep their bytes. With `every_page` (`feedsvc rebuild --archives`) every
archive page is rendered again too, e.g. after a change to the templates.

The rebuild takes the scheduler lease first and every worker checks it (with the same
fencing token) before each batch of feeds commits, so a scheduler never renders alongside
it; the parent renews it while it waits. Rendering is CPU-bound Python, and feedgen
switches the process-wide locale, hence processes rather than threads. Feeds go to the
workers in small batches: one commit and one lease check per batch, not per feed.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from feedsvc import db, queries, regenerate, store
from feedsvc.config import Settings
from feedsvc.types import FeedKey

log = logging.getLogger(__name__)
# Set in each worker by _start_worker.
_worker: _Worker | None = None


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Lease:
    name: str  # jobs.LEASE, passed along so workers need not import the scheduler
    holder: str
    token: int
    ttl: timedelta


# Feeds per task: big enough that commits and lease checks stop showing in a profile,
# small enough that the progress bar moves and the two workers finish together.
BATCH = 8


class _Worker:
    def __init__(self, settings: Settings, lease: Lease, every_page: bool) -> None:
        self.settings = settings
        self.lease = lease
        self.every_page = every_page
        # Not durable: a lost commit leaves its feeds dirty, to be rendered again.
        self.factory = db.session_factory(db.make_engine(settings.database_url, durable=False))

    def close(self) -> None:
        engine = self.factory.kw["bind"]
        engine.dispose()

    def holds(self, session: Session) -> bool:
        lease = self.lease
        return store.hold_lease(session, lease.name, lease.holder, lease.token, utcnow(), lease.ttl)

    def render(self, paths: list[str]) -> list[tuple[str, str]]:
        report = regenerate.Report()
        keys = [FeedKey.from_path(p) for p in paths]
        render_batch(self.factory, self.settings, utcnow, keys, report, self.holds, self.every_page)
        outcomes = {
            **{k.path: "changed" for k in report.rendered},
            **{k.path: "unchanged" for k in report.unchanged},
            **{k.path: "removed" for k in report.removed},
            **{k.path: "failed" for k in report.failed},
        }
        return [(p, outcomes.get(p, "failed")) for p in paths]


@dataclass(frozen=True)
class _Done:
    """A feed of a batch, rendered and waiting for the batch's writes."""

    key: FeedKey
    claim: store.Claim | None
    plan: regenerate.FeedPlan | None  # None: the feed no longer exists
    rendered: list[regenerate.Document]
    render_ms: float


# A feed with more archive pages to render than this is rendered in a transaction of its
# own, storing page by page; smaller ones are batched.
BATCH_PAGES = 4


def render_batch(
    factory: sessionmaker[Session],
    settings: Settings,
    clock: regenerate.Clock,
    keys: Sequence[FeedKey],
    report: regenerate.Report,
    guard: regenerate.Guard | None = None,
    every_page: bool = False,
) -> None:
    """Render several feeds with one commit and one lease check (a full rebuild's unit).

    Every feed is read and rendered first, then everything is written at the end, so the
    write lock (SQLite) is held only while writing. If any feed fails, the whole batch is
    rolled back and its feeds are rendered one per transaction (`render_one`), so a
    broken feed still costs only itself. Big feeds go through `render_one` directly.
    """
    alone: list[FeedKey] = []
    try:
        with db.transaction(factory) as session:
            now = clock()
            done: list[_Done] = []
            for key in keys:
                claim = store.claim_for(session, key)
                touched = claim.touched_from if claim is not None else None
                plan = regenerate.plan_feed(
                    session, key, settings, now, touched, every_page=every_page
                )
                if plan is not None and len(plan.pages) > BATCH_PAGES:
                    alone.append(key)
                    continue
                started = time.perf_counter()
                documents = regenerate.documents(session, plan, settings, now) if plan else ()
                rendered = [regenerate.render_document(d) for d in documents]
                elapsed_ms = (time.perf_counter() - started) * 1000
                done.append(_Done(key, claim, plan, rendered, elapsed_ms))
            outcomes: list[tuple[FeedKey, bool | None]] = []
            for feed in done:
                changed: bool | None = None
                if feed.plan is not None:
                    changed = regenerate.save_rendering(
                        session,
                        feed.key,
                        feed.rendered,
                        now,
                        feed.render_ms,
                        settings,
                        feed.plan.stale_pages,
                    )
                regenerate.settle(session, feed.key, feed.claim, changed)
                outcomes.append((feed.key, changed))
            if guard is not None and not guard(session):
                raise regenerate.LeadershipLost(
                    f"lease lost while rendering {', '.join(map(str, keys))}"
                )
    except regenerate.LeadershipLost:
        raise
    except Exception:
        log.warning("a batch of %d feeds failed; rendering them one by one", len(keys))
        alone = list(keys)
    else:
        for key, changed in outcomes:
            regenerate.note(report, key, changed)
    for key in alone:
        with factory() as session:
            claim = store.claim_for(session, key)
        regenerate.render_one(factory, settings, clock, key, claim, report, guard, every_page)


def _start_worker(settings: Settings, lease: Lease, every_page: bool = False) -> None:
    global _worker
    _worker = _Worker(settings, lease, every_page)


def _render(paths: list[str]) -> list[tuple[str, str]]:
    assert _worker is not None, "worker not initialised"
    return _worker.render(paths)


def rebuild(
    settings: Settings,
    workers: int | None = None,
    on_progress: Callable[[str, int], None] | None = None,
    every_page: bool = False,
) -> dict[str, int]:
    """Render every feed; returns how many feeds changed, stayed, failed or went away.

    `on_progress(outcome, total)` is called for each feed once its work is committed.

    Raises LeadershipLost when a scheduler holds the lease (or takes it meanwhile).
    """
    engine = db.make_engine(settings.database_url)
    try:
        factory = db.session_factory(engine)
        return _rebuild(settings, factory, workers, on_progress, every_page)
    finally:
        engine.dispose()


def _rebuild(
    settings: Settings,
    factory: sessionmaker[Session],
    workers: int | None,
    on_progress: Callable[[str, int], None] | None,
    every_page: bool,
) -> dict[str, int]:
    # Imported here, not at the top: spawned workers import this module, and the
    # scheduler's imports (APScheduler, the use cases) would only slow their start.
    from feedsvc.jobs import LEASE

    holder = f"rebuild:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    ttl = timedelta(seconds=settings.lease_seconds)
    with db.transaction(factory) as session:
        token = store.acquire_lease(session, LEASE, holder, utcnow(), ttl)
        if token is None:
            # Raised inside the transaction: without the lease, nothing may be forgotten.
            raise regenerate.LeadershipLost("a scheduler holds the lease; stop it or try later")
        keys = sorted(queries.all_feed_keys(session))
        gone = store.stored_keys(session) - set(keys)
        store.forget(session, gone)
    lease = Lease(LEASE, holder, token, ttl)
    counts = {"changed": 0, "unchanged": 0, "failed": 0, "removed": len(gone)}
    paths = [k.path for k in keys]

    def renew() -> None:
        with db.transaction(factory) as session:
            held = store.hold_lease(session, LEASE, holder, token, utcnow(), ttl)
        if not held:
            raise regenerate.LeadershipLost("the lease passed to another scheduler")

    try:
        for _path, outcome in _results(settings, lease, paths, workers, every_page, renew):
            counts[outcome] += 1
            if on_progress is not None:
                on_progress(outcome, len(paths))
    finally:
        with db.transaction(factory) as session:
            store.release_lease(session, LEASE, holder, utcnow())
    return counts


def _results(
    settings: Settings,
    lease: Lease,
    paths: list[str],
    workers: int | None,
    every_page: bool,
    renew: Callable[[], None],
) -> Iterator[tuple[str, str]]:
    batches = [paths[i : i + BATCH] for i in range(0, len(paths), BATCH)]
    processes = min(workers or os.cpu_count() or 1, max(len(batches), 1))
    if processes == 1:
        global _worker
        _start_worker(settings, lease, every_page)
        try:
            for batch in batches:
                yield from _render(batch)
        finally:
            if _worker is not None:
                _worker.close()
                _worker = None
        return
    # spawn: a clean interpreter per worker, no engine or thread inherited from this one.
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes, _start_worker, (settings, lease, every_page)) as pool:
        results = pool.imap_unordered(_render, batches)
        while True:
            try:
                # A worker busy with one big feed commits nothing for a while: keep the
                # lease alive meanwhile, as long as it is still ours.
                yield from results.next(timeout=lease.ttl.total_seconds() / 3)
            except multiprocessing.TimeoutError:
                renew()
            except StopIteration:
                return
