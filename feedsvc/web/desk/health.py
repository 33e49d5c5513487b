"""Feed health: per feed its last render, size, freshness, a cheap validation of the stored
bytes and its traffic over the last days, with a chart of requests per day.

The validation is a quick check fit for a page (well-formed XML with the expected root,
JSON Feed with version and items); the full conformance suite lives in the tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from xml.etree import ElementTree

from flask import render_template
from flask_babel import gettext as _
from sqlalchemy import select

from feedsvc import queries, traffic
from feedsvc.app import services
from feedsvc.models import FeedState, RenderedFeed
from feedsvc.types import FORMATS
from feedsvc.web.desk import bp

DAYS = 14
ROOTS = {"rss": "rss", "atom": "{http://www.w3.org/2005/Atom}feed"}


def validate(fmt: str, body: bytes) -> str | None:
    """None if the stored bytes pass the quick check, else what is wrong."""
    try:
        if fmt == "json":
            doc = json.loads(body)
            if not str(doc.get("version", "")).startswith("https://jsonfeed.org/version/"):
                return "JSON Feed: no version"
            if not isinstance(doc.get("items"), list):
                return "JSON Feed: no items list"
            return None
        # Our own stored bytes: no DTD or entities to expand.
        root = ElementTree.fromstring(body)
    except (ValueError, ElementTree.ParseError) as exc:
        return f"{fmt}: {exc}"
    if root.tag != ROOTS[fmt]:
        return f"{fmt}: unexpected root element {root.tag}"
    return None


def _newest(body: bytes) -> datetime | None:
    """The newest item's time in a stored JSON Feed (what readers see)."""
    times = [i.get("date_published") for i in json.loads(body).get("items", [])]
    parsed = [datetime.fromisoformat(t) for t in times if isinstance(t, str)]
    return max(parsed, default=None)


@dataclass
class FeedHealth:
    path: str
    rendered_at: datetime | None = None
    item_count: int = 0
    sizes: dict[str, int] = field(default_factory=dict)
    newest: datetime | None = None
    problems: list[str] = field(default_factory=list)
    days: list[traffic.DayTraffic] = field(default_factory=list)
    subscribers: int = 0

    @property
    def requests(self) -> int:
        return sum(d.requests for d in self.days)

    @property
    def not_modified_share(self) -> float:
        return sum(d.not_modified for d in self.days) / self.requests if self.requests else 0.0

    @property
    def bytes_sent(self) -> int:
        return sum(d.bytes_sent for d in self.days)


@dataclass(frozen=True)
class Bar:
    x: int
    y: int
    height: int
    day: date
    requests: int


def chart(totals: list[tuple[date, int]], width: int = 560, height: int = 120) -> list[Bar]:
    """SVG bar geometry for requests per day (drawn server-side: no script needed)."""
    top = max((n for _, n in totals), default=0) or 1
    step = width // max(len(totals), 1)
    bars = []
    for i, (day, n) in enumerate(totals):
        h = round(n / top * (height - 20))
        bars.append(Bar(i * step, height - h, h, day, n))
    return bars


@bp.get("/health")
def health() -> str:
    settings = services().settings
    now = datetime.now(UTC)
    until = now.date()
    since = until - timedelta(days=DAYS - 1)
    with services().sessions() as db:
        keys = sorted(queries.all_feed_keys(db))
        feeds = {k.path: FeedHealth(k.path) for k in keys}
        for row in db.scalars(select(RenderedFeed)):
            feed = feeds.get(row.key)
            if feed is None:
                continue
            feed.rendered_at = max(filter(None, (feed.rendered_at, row.rendered_at)))
            feed.item_count = row.item_count
            feed.sizes[row.format] = len(row.body)
            problem = validate(row.format, row.body)
            if problem:
                feed.problems.append(problem)
            elif row.format == "json":
                feed.newest = _newest(row.body)
        for state in db.scalars(select(FeedState).where(FeedState.last_error.is_not(None))):
            if state.key in feeds and state.last_error:
                feeds[state.key].problems.append(_("last render failed: ") + state.last_error)
        daily = traffic.daily(db, since, until)
        subscribed = traffic.subscribers(db, since)
    empty = [traffic.DayTraffic(since + timedelta(days=i), 0, 0, 0) for i in range(DAYS)]
    for path, feed in feeds.items():
        feed.days = daily.get(path, empty)
        feed.subscribers = subscribed.get(path, 0)
        missing = [f for f in FORMATS if f not in feed.sizes]
        if missing:
            feed.problems.append(_("not rendered yet: ") + ", ".join(missing))
    totals = [(d.day, sum(f.days[i].requests for f in feeds.values())) for i, d in enumerate(empty)]
    return render_template(
        "desk/health.html",
        feeds=list(feeds.values()),
        bars=chart(totals),
        totals=totals,
        now=now,
        tz=settings.timezone,
        days=DAYS,
    )
