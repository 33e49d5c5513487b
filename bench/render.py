"""Rendering cost: one feed of N items in each format, medians of repeated runs.

    .venv/bin/python bench/render.py [--items 50] [--repeat 200]

Prints the median milliseconds per format and the ratio of each to JSON Feed (written by
hand, so the cheapest), measured side by side in one run.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from datetime import UTC, datetime, timedelta

from feedsvc.render import render
from feedsvc.types import FORMATS, Category, FeedKey, FeedMeta, ItemData

PARAGRAPH = "<p>余姚智能光電小鎮堅持以產業為本，改革賦能，經過近5年的培育創建，" * 8 + "</p>"


def sample(items: int) -> tuple[FeedMeta, list[ItemData]]:
    start = datetime(2022, 2, 18, 10, 2, 25, tzinfo=UTC)
    entries = [
        ItemData(
            id=f"tag:news.example.com,2026:article/{n:032x}",
            title=f"智能光電小鎮發展動能持續提升 第{n}篇",
            link=f"https://news.example.com/articles/item-{n}",
            summary="位于余姚智能光電小鎮的寧波舜宇紅外技術有限公司四期一標段廠房框架結構近日基本完成",
            content_html=PARAGRAPH * 6,
            published=start - timedelta(minutes=n),
            updated=start - timedelta(minutes=n),
            author="記者",
            source="信息新報",
            language="zh-Hant",
            categories=(Category("yuyao", "余姚"), Category("diebian", "蝶變")),
        )
        for n in range(items)
    ]
    meta = FeedMeta(
        key=FeedKey.site(),
        id="tag:news.example.com,2026:feed/all",
        title="新聞網",
        description="新聞網的最新報導",
        language="zh-Hant",
        home_url="https://news.example.com",
        self_urls={f: f"http://127.0.0.1:8000/feeds/all.{f}" for f in FORMATS},
        updated=start,
    )
    return meta, entries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    meta, items = sample(args.items)
    timings: dict[str, list[float]] = {fmt: [] for fmt in FORMATS}
    sizes: dict[str, int] = {}
    for _ in range(args.repeat):
        for fmt in FORMATS:  # interleaved, so machine noise hits every format alike
            started = time.perf_counter()
            sizes[fmt] = len(render(meta, items, fmt).body)
            timings[fmt].append((time.perf_counter() - started) * 1000)
    print(
        f"machine: {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}; {args.items} items, {args.repeat} runs each"
    )
    base = statistics.median(timings["json"])
    print(f"{'format':<6} {'median ms':>10} {'p90 ms':>8} {'bytes':>8} {'x json':>7}")
    for fmt in FORMATS:
        median = statistics.median(timings[fmt])
        p90 = statistics.quantiles(timings[fmt], n=10)[-1]
        print(f"{fmt:<6} {median:>10.2f} {p90:>8.2f} {sizes[fmt]:>8} {median / base:>7.1f}")


if __name__ == "__main__":
    main()
