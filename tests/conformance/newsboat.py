"""Driving newsboat headless.

newsboat keys its cache on item guids across all feeds (an item already cached from one
feed is updated, not added, when another feed lists it), so every feed gets a cache file of
its own and counts are read from that file's `rss_item` table.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path


class Newsboat:
    """One newsboat profile (HOME, config) with one cache file per feed URL."""

    def __init__(self, home: Path) -> None:
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.config = home / "config"
        # No network niceties that would hide a problem; long bodies are fine.
        self.config.write_text("download-retries 1\ndownload-timeout 60\n", "utf-8")

    def _files(self, url: str) -> tuple[Path, Path]:
        name = url.split("://", 1)[1].replace("/", "_").replace(":", "_")
        return self.home / f"{name}.urls", self.home / f"{name}.db"

    def reload(self, url: str) -> subprocess.CompletedProcess[str]:
        urls, cache = self._files(url)
        urls.write_text(url + "\n", "utf-8")
        done = subprocess.run(
            ["newsboat", "-u", str(urls), "-c", str(cache), "-C", str(self.config), "-x", "reload"],
            env={**os.environ, "HOME": str(self.home), "TERM": "dumb"},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"newsboat failed on {url}: {done.stderr}{done.stdout}"
        return done

    def items(self, url: str) -> dict[str, str]:
        """guid -> title of every item newsboat cached for `url`."""
        _, cache = self._files(url)
        with sqlite3.connect(cache) as db:
            rows = db.execute(
                "SELECT guid, title FROM rss_item WHERE feedurl = ? AND deleted = 0", (url,)
            ).fetchall()
        return dict(rows)

    def feed_known(self, url: str) -> bool:
        _, cache = self._files(url)
        with sqlite3.connect(cache) as db:
            return (
                db.execute("SELECT 1 FROM rss_feed WHERE rssurl = ?", (url,)).fetchone() is not None
            )
