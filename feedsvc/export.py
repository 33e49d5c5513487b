"""Rendered documents as files, for nginx to serve directly (`export_dir`, deploy/nginx-files.conf).

The store stays the truth; the files are a copy the scheduler keeps in step with it:
after each render it writes the documents whose bytes changed, deletes the files of feeds
that no longer exist, and on start (or on taking over the lease from another process)
rewrites every file that differs from the store and deletes every file the store lacks.

Layout under the export directory, one tree per variant (`_` is the original) and per
kind, so nginx maps `?variant=` to a directory and a sealed archive page to a long max-age:

    _/live/feeds/tags/yuyao.rss          (and .rss.gz, the bytes compressed at render time)
    _/sealed/feeds/all/archive/1.atom
    zh-hans/live/feeds/all.json

Every file is written to a temporary name in its directory and renamed over the old one,
so a reader sees the old bytes or the new, never part of either. Its mtime is the
document's Last-Modified, so nginx's Last-Modified equals the app's.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from feedsvc.config import Settings
from feedsvc.models import FeedState, RenderedFeed
from feedsvc.types import FORMATS, FeedKey

log = logging.getLogger(__name__)
ORIGINAL = "_"
TREES = ("live", "sealed")
# Only public feed documents become files; anything else (partner feeds, odd keys) does not.
_DOCUMENT = re.compile(r"^/feeds/(all|tags/[a-z0-9-]+|sections/[a-z0-9-]+)(/archive/[1-9][0-9]*)?$")
_VARIANT = re.compile(r"^zh-han[st]$")


class _Report(Protocol):
    # What regenerate.Report offers; a protocol keeps this module free of the scheduler.
    rendered: list[FeedKey]
    removed: list[FeedKey]


@dataclass
class SyncReport:
    written: int = 0
    kept: int = 0
    deleted: int = 0
    feeds: set[str] = field(default_factory=set)


def file_for(root: Path, key: str, fmt: str, sealed: bool) -> Path | None:
    """Where the document stored as (key, fmt) lives under root; None if it is not exported."""
    path, _, variant = key.partition("@")
    if not _DOCUMENT.match(path) or fmt not in FORMATS:
        return None
    if variant and not _VARIANT.match(variant):
        return None
    tree = TREES[sealed]
    return root / (variant or ORIGINAL) / tree / f"{path.lstrip('/')}.{fmt}"


def _feed_of(key: str) -> str:
    return key.partition("@")[0].split("/archive/")[0]


def write_atomically(path: Path, data: bytes, mtime: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)  # nginx's worker is another user
        os.utime(tmp, (mtime, mtime))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _same(path: Path, size: int, mtime: float) -> bool:
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    return st.st_size == size and abs(st.st_mtime - mtime) < 1e-3


class Exporter:
    """Keeps the export directory in step with the store; the scheduler calls `after`."""

    def __init__(self, factory: sessionmaker[Session], root: Path) -> None:
        self.factory = factory
        self.root = root
        self.feeds: set[str] = set()  # feed paths that have files
        self.synced = False
        self.lock = threading.Lock()  # the render job and the sweep job both call `after`
        self.token: int | None = None  # the lease token the files were last synced under

    @classmethod
    def from_settings(cls, factory: sessionmaker[Session], settings: Settings) -> Exporter | None:
        return cls(factory, Path(settings.export_dir)) if settings.export_dir else None

    def after(self, report: _Report, since: datetime, token: int | None = None) -> None:
        """After a render: write what changed since `since`, drop what is gone.

        Export failures are logged, never raised: the store is already right, and the
        next resync repairs the files.
        """
        with self.lock:
            self._after(report, since, token)

    def _after(self, report: _Report, since: datetime, token: int | None) -> None:
        try:
            if not self.synced or token != self.token:
                # First run, or leadership came back: another process may have rendered.
                self.resync()
                self.synced, self.token = True, token
                return
            self.export(report.rendered, since)
            self.remove(k.path for k in report.removed)
            self.prune()
        except Exception:
            log.exception("exporting rendered feeds to %s failed", self.root)
            self.synced = False  # resync next time

    def export(self, keys: Iterable[FeedKey], since: datetime) -> int:
        """Write the documents of `keys` stored (rendered_at) at or after `since`."""
        feeds = {key.path for key in keys}
        if not feeds:
            return 0
        written = 0
        # One query for every feed: its documents are its own key, archive pages and variants.
        columns = (
            RenderedFeed.key,
            RenderedFeed.format,
            RenderedFeed.sealed,
            RenderedFeed.last_modified,
            RenderedFeed.body,
            RenderedFeed.body_gzip,
        )
        with self.factory() as session:
            rows = session.execute(select(*columns).where(RenderedFeed.rendered_at >= since))
            for row in rows:
                if _feed_of(row.key) in feeds:
                    written += self._write(
                        row.key, row.format, row.sealed, row.last_modified, row.body, row.body_gzip
                    )
        return written

    def _write(
        self, key: str, fmt: str, sealed: bool, modified: datetime, body: bytes, gz: bytes
    ) -> int:
        target = file_for(self.root, key, fmt, sealed)
        if target is None:
            return 0
        mtime = modified.timestamp()
        # The .gz first: nginx picks it only when it exists, so a gzip reader briefly gets
        # the old compressed bytes at worst, never a body without its .gz.
        write_atomically(target.with_name(target.name + ".gz"), gz, mtime)
        write_atomically(target, body, mtime)
        if sealed:  # a page that was open until now: its live copy must go
            live = file_for(self.root, key, fmt, False)
            for old in (live, live.with_name(live.name + ".gz")) if live else ():
                old.unlink(missing_ok=True)
        self.feeds.add(_feed_of(key))
        return 1

    def remove(self, feeds: Iterable[str]) -> int:
        """Delete every file of these feeds (current document, archive pages, variants)."""
        deleted = 0
        for feed in feeds:
            self.feeds.discard(feed)
            for variant_dir in self._variant_dirs():
                for tree in TREES:
                    base = variant_dir / tree / feed.lstrip("/")
                    for fmt in FORMATS:
                        for suffix in ("", ".gz"):
                            target = base.with_name(f"{base.name}.{fmt}{suffix}")
                            if target.exists():
                                target.unlink()
                                deleted += 1
                    if base.is_dir():
                        shutil.rmtree(base)
                        deleted += 1
        return deleted

    def prune(self) -> int:
        """Delete the files of feeds the store forgot (a renamed or deleted tag or section)."""
        with self.factory() as session:
            known = set(session.scalars(select(FeedState.key)))
        return self.remove(self.feeds - known)

    def resync(self) -> SyncReport:
        """Make the directory equal to the store: rewrite what differs, delete the rest."""
        report = SyncReport()
        wanted: set[Path] = set()
        columns = (
            RenderedFeed.key,
            RenderedFeed.format,
            RenderedFeed.sealed,
            RenderedFeed.last_modified,
            func.length(RenderedFeed.body).label("size"),
            func.length(RenderedFeed.body_gzip).label("gz_size"),
        )
        with self.factory() as session:
            for row in session.execute(select(*columns)).yield_per(1000):
                target = file_for(self.root, row.key, row.format, row.sealed)
                if target is None:
                    continue
                gz = target.with_name(target.name + ".gz")
                wanted.update((target, gz))
                report.feeds.add(_feed_of(row.key))
                mtime = row.last_modified.timestamp()
                if _same(target, row.size, mtime) and _same(gz, row.gz_size, mtime):
                    report.kept += 1
                    continue
                body, body_gz = session.execute(
                    select(RenderedFeed.body, RenderedFeed.body_gzip).where(
                        RenderedFeed.key == row.key, RenderedFeed.format == row.format
                    )
                ).one()
                report.written += self._write(
                    row.key, row.format, row.sealed, row.last_modified, body, body_gz
                )
        for path in self._files():
            if path not in wanted:
                path.unlink()
                report.deleted += 1
        self.feeds = report.feeds
        log.info(
            "export resync to %s: %d written, %d unchanged, %d deleted",
            self.root,
            report.written,
            report.kept,
            report.deleted,
        )
        return report

    def _variant_dirs(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return [p for p in self.root.iterdir() if p.is_dir()]

    def _files(self) -> Iterator[Path]:
        for variant_dir in self._variant_dirs():
            for dirpath, _, names in os.walk(variant_dir):
                for name in names:
                    yield Path(dirpath) / name
