"""The pure core stays pure: it can be imported and used without Flask or SQLAlchemy."""

from __future__ import annotations

import subprocess
import sys

import pytest

PURE = ["feedsvc.types", "feedsvc.routing", "feedsvc.render", "feedsvc.text"]
FORBIDDEN = ["flask", "sqlalchemy", "apscheduler", "werkzeug"]


@pytest.mark.parametrize("module", PURE)
def test_pure_module_imports_no_framework(module: str) -> None:
    probe = (
        f"import sys, {module}\n"
        f"loaded = [m for m in {FORBIDDEN!r} if m in sys.modules]\n"
        "print(','.join(loaded))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "", f"{module} pulled in {result.stdout.strip()}"


def test_feedgen_is_imported_only_by_render() -> None:
    probe = (
        "import sys\n"
        "import feedsvc.app, feedsvc.cli, feedsvc.jobs, feedsvc.publishing, feedsvc.taxonomy\n"
        "import feedsvc.web.api, feedsvc.web.feeds, feedsvc.queries, feedsvc.store\n"
        "print('feedgen' in sys.modules, 'feedsvc.render' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    feedgen_loaded, render_loaded = result.stdout.split()
    # feedgen only ever arrives through feedsvc.render
    assert feedgen_loaded == render_loaded


def test_importing_the_package_starts_nothing() -> None:
    probe = (
        "import threading, feedsvc.app, feedsvc.cli, feedsvc.jobs\nprint(threading.active_count())"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "1"
