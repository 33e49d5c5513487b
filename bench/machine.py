"""The machine a benchmark ran on, as a Markdown list for bench/RESULTS.md.

    .venv/bin/python bench/machine.py

CPU model, cores, memory, OS, kernel, Python, SQLite, PostgreSQL, nginx and wrk versions,
and the load average (the figures of a busy machine are not comparable to a quiet one's).
"""

from __future__ import annotations

import glob
import os
import platform
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

SBIN = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _version(argv: list[str], pattern: str = r"(\d+\.\d+(?:\.\d+)?)") -> str:
    found = shutil.which(argv[0], path=SBIN)
    if not found:
        return "not installed"
    try:
        done = subprocess.run(
            [found, *argv[1:]], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    match = re.search(pattern, done.stdout + done.stderr)
    return match.group(1) if match else "unknown"


def facts() -> dict[str, str]:
    cpuinfo = _read("/proc/cpuinfo")
    model = re.search(r"model name\s*:\s*(.+)", cpuinfo)
    meminfo = re.search(r"MemTotal:\s+(\d+) kB", _read("/proc/meminfo"))
    release = re.search(r'PRETTY_NAME="([^"]+)"', _read("/etc/os-release"))
    postgres = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    return {
        "CPU": model.group(1).strip() if model else platform.processor() or "unknown",
        "cores": str(os.cpu_count()),
        "memory": f"{int(meminfo.group(1)) / 1024 / 1024:.1f} GiB" if meminfo else "unknown",
        "OS": f"{release.group(1) if release else platform.system()}, kernel {platform.release()}",
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "SQLite": sqlite3.sqlite_version,
        "PostgreSQL": _version([postgres[-1], "--version"]) if postgres else "not installed",
        "nginx": _version(["nginx", "-v"]),
        "wrk": _version(["wrk", "-v"]),
        "load average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def main() -> None:
    for name, value in facts().items():
        print(f"- {name}: {value}")


if __name__ == "__main__":
    main()
