"""What gzip at render time costs: ISA-L's levels against zlib's, on stored feed bodies.

    .venv/bin/python bench/gzip_levels.py --database-url URL [--documents 600] [--reps 5]

Every rendered document is compressed once per render (feedsvc/store.py), so in a full
rebuild gzip competes with rendering itself. This reads the bodies of up to `--documents`
stored current documents (tag and section feeds, every format) from a database a rebuild
has filled, compresses them all with each codec, `--reps` times, and prints the median
milliseconds per document, the compressed size as a share of the body, and each codec's
speed relative to zlib at level 6 (the standard library's default choice), measured in the
same run, interleaved.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import statistics
import time
from collections.abc import Callable

from sqlalchemy import func, select

from feedsvc import db, store
from feedsvc.models import RenderedFeed

Codec = Callable[[bytes], bytes]


def _zlib(level: int) -> Codec:
    def compress(body: bytes) -> bytes:
        return gzip.compress(body, compresslevel=level, mtime=0)

    return compress


def _isal(level: int) -> Codec:
    return functools.partial(store.gzip_body, level=level)  # what the store writes


CODECS: dict[str, Codec] = {
    "zlib 6": _zlib(6),
    "zlib 1": _zlib(1),
    **{f"isal {level}": _isal(level) for level in range(4)},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--documents", type=int, default=600)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()

    engine = db.make_engine(args.database_url)
    with engine.connect() as connection:
        bodies = list(
            connection.scalars(
                select(RenderedFeed.body)
                .where(
                    ~RenderedFeed.key.contains("/archive/"),
                    RenderedFeed.key != "/feeds/all",
                    func.length(RenderedFeed.body) > 0,
                )
                .order_by(RenderedFeed.key, RenderedFeed.format)
                .limit(args.documents)
            )
        )
    engine.dispose()
    if not bodies:
        raise SystemExit("no stored documents: run `feedsvc rebuild` on the database first")
    total = sum(map(len, bodies))
    print(f"{len(bodies)} documents, {total / len(bodies) / 1024:.1f} KiB each on average")

    times: dict[str, list[float]] = {name: [] for name in CODECS}
    sizes: dict[str, int] = {}
    for _ in range(args.reps):
        for name, compress in CODECS.items():
            started = time.perf_counter()
            sizes[name] = sum(len(compress(body)) for body in bodies)
            times[name].append((time.perf_counter() - started) / len(bodies) * 1000)
    baseline = statistics.median(times["zlib 6"])
    print(f"{'codec':8} {'ms/doc':>8} {'size':>7} {'speed vs zlib 6':>16}")
    for name in CODECS:
        ms = statistics.median(times[name])
        print(f"{name:8} {ms:8.3f} {sizes[name] / total:7.3f} {baseline / ms:15.2f}x")


if __name__ == "__main__":
    main()
