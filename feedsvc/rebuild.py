"""A full rebuild: every feed rendered again, spread over worker processes.

The rebuild takes the scheduler lease first and every worker checks it (with the same
fencing token) before each feed commits, so a scheduler never renders alongside it.
Rendering is CPU-bound Python, hence processes rather than threads.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from feedsvc import db, queries, regenerate, store
from feedsvc.config import Settings
from feedsvc.jobs import LEASE, utcnow
from feedsvc.types import FeedKey

# Set in each worker by _start_worker.
_worker: _Worker | None = None


@dataclass(frozen=True)
class Lease:
    holder: str
    token: int
    ttl: timedelta


class _Worker:
    def __init__(self, settings: Settings, lease: Lease) -> None:
        self.settings = settings
        self.lease = lease
        self.factory = db.session_factory(db.make_engine(settings.database_url))

    def close(self) -> None:
        engine = self.factory.kw["bind"]
        engine.dispose()

    def holds(self, session: Session) -> bool:
        lease = self.lease
        return store.hold_lease(session, LEASE, lease.holder, lease.token, utcnow(), lease.ttl)

    def render(self, path: str) -> str:
        report = regenerate.Report()
        key = FeedKey.from_path(path)
        with self.factory() as session:
            claim = store.claim_for(session, key)
        regenerate.render_one(self.factory, self.settings, utcnow, key, claim, report, self.holds)
        if report.failed:
            return "failed"
        return "removed" if report.removed else "changed" if report.rendered else "unchanged"


def _start_worker(settings: Settings, lease: Lease) -> None:
    global _worker
    _worker = _Worker(settings, lease)


def _render(path: str) -> tuple[str, str]:
    assert _worker is not None, "worker not initialised"
    return path, _worker.render(path)


def rebuild(
    settings: Settings,
    workers: int | None = None,
    on_progress: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Render every feed; returns how many feeds changed, stayed, failed or went away.

    `on_progress(outcome, total)` is called as each feed is done.

    Raises LeadershipLost when a scheduler holds the lease (or takes it meanwhile).
    """
    engine = db.make_engine(settings.database_url)
    try:
        return _rebuild(settings, db.session_factory(engine), workers, on_progress)
    finally:
        engine.dispose()


def _rebuild(
    settings: Settings,
    factory: sessionmaker[Session],
    workers: int | None,
    on_progress: Callable[[str, int], None] | None,
) -> dict[str, int]:
    holder = f"rebuild:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    ttl = timedelta(seconds=settings.lease_seconds)
    with db.transaction(factory) as session:
        token = store.acquire_lease(session, LEASE, holder, utcnow(), ttl)
        keys = sorted(queries.all_feed_keys(session))
        gone = store.stored_keys(session) - set(keys)
        store.forget(session, gone)
    if token is None:
        raise regenerate.LeadershipLost("a scheduler holds the lease; stop it or try later")
    lease = Lease(holder, token, ttl)
    counts = {"changed": 0, "unchanged": 0, "failed": 0, "removed": len(gone)}
    paths = [k.path for k in keys]
    try:
        for _path, outcome in _results(settings, lease, paths, workers):
            counts[outcome] += 1
            if on_progress is not None:
                on_progress(outcome, len(paths))
    finally:
        with db.transaction(factory) as session:
            store.release_lease(session, LEASE, holder, utcnow())
    return counts


def _results(
    settings: Settings, lease: Lease, paths: list[str], workers: int | None
) -> Iterator[tuple[str, str]]:
    processes = workers or os.cpu_count() or 1
    if processes == 1:
        global _worker
        _start_worker(settings, lease)
        try:
            yield from map(_render, paths)
        finally:
            if _worker is not None:
                _worker.close()
                _worker = None
        return
    # spawn: a clean interpreter per worker, no engine or thread inherited from this one.
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes, _start_worker, (settings, lease)) as pool:
        yield from pool.imap_unordered(_render, paths, chunksize=8)
