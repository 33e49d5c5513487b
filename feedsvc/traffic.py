"""Feed traffic: counted in memory on the request path, added to daily rows in batches.

A feed request only updates a dict under a lock. The first request after `flush_seconds`
hands the totals to a short-lived thread that writes one upsert per feed and day, so the
feed path never waits for the database and no thread outlives the traffic that needs it.
`feedsvc serve` flushes what is left when it stops. Subscriber counts come from the
User-Agent aggregators send, e.g. `Feedly/1.0 (+http://www.feedly.com/fetcher.html;
123 subscribers)`; per aggregator and day the largest figure is kept.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from feedsvc.db import transaction
from feedsvc.models import FeedSubscribers, FeedTraffic

log = logging.getLogger(__name__)
_SUBSCRIBERS = re.compile(r"(\d{1,9})\s+(?:subscribers|readers)\b", re.IGNORECASE)
_PRODUCT = re.compile(r"^\s*([^/\s;()]+)")


@functools.lru_cache(maxsize=1024)  # pollers send the same few User-Agents again and again
def subscribers_of(user_agent: str | None) -> tuple[str, int] | None:
    """(aggregator, subscribers) reported in a User-Agent, or None."""
    if not user_agent:
        return None
    found = _SUBSCRIBERS.search(user_agent)
    if found is None:
        return None
    product = _PRODUCT.match(user_agent)
    name = product.group(1) if product else "unknown"
    return name[:100], int(found.group(1))


@dataclass
class _Counts:
    requests: int = 0
    not_modified: int = 0
    bytes_sent: int = 0


class TrafficCounter:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        flush_seconds: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = sessions
        self._flush_seconds = flush_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: defaultdict[tuple[str, date], _Counts] = defaultdict(_Counts)
        self._subscribers: dict[tuple[str, date, str], int] = {}
        self._last_flush = time.monotonic()
        self._flushing = False

    def count(self, key: str, status: int, nbytes: int, user_agent: str | None) -> None:
        day = self._clock().date()
        reported = subscribers_of(user_agent)
        with self._lock:
            counts = self._counts[(key, day)]
            counts.requests += 1
            counts.not_modified += status == 304
            counts.bytes_sent += nbytes
            if reported is not None:
                slot = (key, day, reported[0])
                self._subscribers[slot] = max(self._subscribers.get(slot, 0), reported[1])
            due = time.monotonic() - self._last_flush >= self._flush_seconds
            if due and not self._flushing:
                self._flushing = True
                self._last_flush = time.monotonic()
                threading.Thread(target=self._flush_later, name="traffic-flush").start()

    def _flush_later(self) -> None:
        try:
            self.flush()
        except Exception:  # a failed flush keeps its counts for the next try
            log.exception("flushing feed traffic failed")
        finally:
            with self._lock:
                self._flushing = False

    def flush(self) -> int:
        """Add the counts gathered so far to the database; returns how many rows it touched."""
        with self._lock:
            counts, self._counts = self._counts, defaultdict(_Counts)
            subscribers, self._subscribers = self._subscribers, {}
        try:
            with transaction(self._sessions) as session:
                for (key, day), c in counts.items():
                    _add_traffic(session, key, day, c)
                for (key, day, agg), n in subscribers.items():
                    _keep_max_subscribers(session, key, day, agg, n)
        except Exception:
            self._restore(counts, subscribers)
            raise
        return len(counts) + len(subscribers)

    def _restore(
        self,
        counts: dict[tuple[str, date], _Counts],
        subscribers: dict[tuple[str, date, str], int],
    ) -> None:
        with self._lock:
            for slot, c in counts.items():
                mine = self._counts[slot]
                mine.requests += c.requests
                mine.not_modified += c.not_modified
                mine.bytes_sent += c.bytes_sent
            for slot3, n in subscribers.items():
                self._subscribers[slot3] = max(self._subscribers.get(slot3, 0), n)


def _insert(session: Session):  # type: ignore[no-untyped-def]
    # Both dialects spell an atomic upsert the same way; several workers may flush at once.
    dialect = session.get_bind().dialect.name
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def _add_traffic(session: Session, key: str, day: date, c: _Counts) -> None:
    stmt = _insert(session)(FeedTraffic).values(
        key=key, day=day, requests=c.requests, not_modified=c.not_modified, bytes_sent=c.bytes_sent
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["key", "day"],
            set_={
                "requests": FeedTraffic.requests + stmt.excluded.requests,
                "not_modified": FeedTraffic.not_modified + stmt.excluded.not_modified,
                "bytes_sent": FeedTraffic.bytes_sent + stmt.excluded.bytes_sent,
            },
        )
    )


def _keep_max_subscribers(session: Session, key: str, day: date, agg: str, n: int) -> None:
    stmt = _insert(session)(FeedSubscribers).values(key=key, day=day, aggregator=agg, subscribers=n)
    greatest = func.max if session.get_bind().dialect.name == "sqlite" else func.greatest
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["key", "day", "aggregator"],
            set_={"subscribers": greatest(FeedSubscribers.subscribers, stmt.excluded.subscribers)},
        )
    )


@dataclass(frozen=True)
class DayTraffic:
    day: date
    requests: int
    not_modified: int
    bytes_sent: int


def daily(session: Session, since: date, until: date) -> dict[str, list[DayTraffic]]:
    """Per feed key, one entry per day from `since` to `until` inclusive (zeros filled in)."""
    rows = session.scalars(
        select(FeedTraffic).where(FeedTraffic.day >= since, FeedTraffic.day <= until)
    )
    found: dict[tuple[str, date], FeedTraffic] = {(r.key, r.day): r for r in rows}
    days = [since + timedelta(days=i) for i in range((until - since).days + 1)]
    result: dict[str, list[DayTraffic]] = {}
    for key in {k for k, _ in found}:
        result[key] = [
            DayTraffic(d, r.requests, r.not_modified, r.bytes_sent)
            if (r := found.get((key, d)))
            else DayTraffic(d, 0, 0, 0)
            for d in days
        ]
    return result


def subscribers(session: Session, since: date) -> dict[str, int]:
    """Per feed key: the sum over aggregators of each one's latest reported count."""
    latest: dict[tuple[str, str], tuple[date, int]] = {}
    for row in session.scalars(select(FeedSubscribers).where(FeedSubscribers.day >= since)):
        slot = (row.key, row.aggregator)
        if slot not in latest or latest[slot][0] < row.day:
            latest[slot] = (row.day, row.subscribers)
    totals: defaultdict[str, int] = defaultdict(int)
    for (key, _agg), (_day, n) in latest.items():
        totals[key] += n
    return dict(totals)
