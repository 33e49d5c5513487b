"""The scheduler: plain functions for each job, wired to APScheduler 3 in one place.

Every process that runs a scheduler competes for one lease; only its holder publishes and
renders, so two schedulers never render the same feed at once. The others wait as
standbys and take over when the lease expires.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from feedsvc import export, publishing, regenerate, store
from feedsvc.config import Settings
from feedsvc.db import transaction
from feedsvc.models import FeedState

log = logging.getLogger(__name__)
LEASE = "scheduler"
# A feed whose last render failed stays dirty; it waits for the next full tick, or the
# poll would render it (and log its failure) several times a second.
_ANY_DIRTY = (
    select(FeedState.key).where(FeedState.dirty.is_(True), FeedState.last_error.is_(None)).limit(1)
)
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Renderer:
    """The scheduler's work, callable directly (tests, `feedsvc serve` start-up) or by jobs."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        settings: Settings,
        clock: Clock = utcnow,
        holder: str | None = None,
    ) -> None:
        self.factory = factory
        self.settings = settings
        self.clock = clock
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.token: int | None = None
        self.ttl = timedelta(seconds=settings.lease_seconds)
        self.outage = False  # the last database call failed (see database_down)
        self.ticked = float("-inf")  # monotonic time of the last full tick
        self.exporter = export.Exporter.from_settings(factory, settings)

    def lead(self) -> bool:
        """Take or renew leadership; False while another scheduler holds it."""
        try:
            with transaction(self.factory) as session:
                token = store.acquire_lease(session, LEASE, self.holder, self.clock(), self.ttl)
        except IntegrityError:
            # Another scheduler created the lease row at the same moment.
            return False
        except OperationalError as exc:
            # SQLite's lock when another scheduler writes the lease, or the database is down.
            self.database_down(exc)
            return False
        if self.outage:
            log.warning("database reachable again; scheduler resuming")
            self.outage = False
        self.token = token
        return token is not None

    def database_down(self, exc: OperationalError) -> None:
        """Survive an unreachable database: the job returns, the next run tries again.

        Nothing is lost: unfinished feeds stay dirty and keep their last good bytes. The
        fencing token is dropped, so no render commits until `lead()` has renewed the lease
        (another scheduler may have taken it meanwhile). Logged once per outage.
        """
        self.token = None
        if not self.outage:
            log.warning("database unavailable, rendering paused: %s", exc.orig or exc)
            self.outage = True

    def still_leading(self, session: Session) -> bool:
        """The fencing check each render runs before it commits; it also renews the lease."""
        if self.token is None:
            return False
        return store.hold_lease(session, LEASE, self.holder, self.token, self.clock(), self.ttl)

    def tick(self) -> regenerate.Report | None:
        """Publish what is due, then render every dirty feed. None when not the leader."""
        if not self.lead():
            return None
        try:
            with transaction(self.factory) as session:
                published = publishing.publish_due(session, self.clock())
                if not self.still_leading(session):
                    raise regenerate.LeadershipLost("lease lost before publishing")
            started = self.clock()
            report = regenerate.render_dirty(
                self.factory, self.settings, self.clock, self.still_leading
            )
            if self.exporter is not None:
                self.exporter.after(report, started, self.token)
        except regenerate.LeadershipLost as lost:
            log.warning("%s; leaving the work to the new leader", lost)
            return None
        except OperationalError as exc:
            self.database_down(exc)
            return None
        if published or report.rendered or report.failed:
            log.info(
                "published %d, rendered %d, failed %d",
                published,
                len(report.rendered),
                len(report.failed),
            )
        return report

    def sweep(self) -> regenerate.Report | None:
        """Re-render every feed: repairs anything a missed mark left stale."""
        if not self.lead():
            return None
        try:
            started = self.clock()
            report = regenerate.sweep(self.factory, self.settings, self.clock, self.still_leading)
            if self.exporter is not None:
                self.exporter.after(report, started, self.token)
        except regenerate.LeadershipLost as lost:
            log.warning("%s; leaving the sweep to the new leader", lost)
            return None
        except OperationalError as exc:
            self.database_down(exc)
            return None
        log.info(
            "sweep: %d changed, %d unchanged, %d failed, %d removed",
            len(report.rendered),
            len(report.unchanged),
            len(report.failed),
            len(report.removed),
        )
        return report

    def poll(self) -> regenerate.Report | None:
        """The frequent job: a full tick when one is due, or at once when a feed is dirty.

        Checking for dirty marks is one indexed read, so it can run several times a second
        and an edit is rendered within `dirty_poll_seconds` instead of a whole render
        interval. Standbys only try for the lease every render interval.
        """
        due = time.monotonic() - self.ticked >= self.settings.render_interval_seconds
        if not due and self.token is not None and self._dirty():
            due = True
        if not due:
            return None
        self.ticked = time.monotonic()
        return self.tick()

    def _dirty(self) -> bool:
        try:
            with self.factory() as session:
                return session.scalar(_ANY_DIRTY) is not None
        except OperationalError:
            return False  # the database is away; the interval tick deals with that

    def resign(self) -> None:
        try:
            with transaction(self.factory) as session:
                store.release_lease(session, LEASE, self.holder, self.clock())
        except OperationalError as exc:
            # Stopping while the database is away: the lease simply expires instead.
            log.warning("could not hand back the lease: %s", exc.orig or exc)


def build_scheduler(renderer: Renderer, *, blocking: bool) -> BaseScheduler:
    scheduler: BaseScheduler = (
        BlockingScheduler(timezone=UTC) if blocking else BackgroundScheduler(timezone=UTC)
    )
    settings = renderer.settings
    # One instance of each job at a time; a late run is merged, never queued up.
    common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
    scheduler.add_job(
        renderer.poll,
        "interval",
        seconds=settings.dirty_poll_seconds,
        id="render-dirty",
        next_run_time=utcnow(),
        **common,
    )
    scheduler.add_job(
        renderer.sweep,
        "interval",
        seconds=settings.sweep_interval_seconds,
        id="sweep",
        **common,
    )
    return scheduler
