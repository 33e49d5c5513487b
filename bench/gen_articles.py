"""Generate a realistic feedsvc database for benchmarks, fast.

    .venv/bin/python bench/gen_articles.py [--articles 1000000] [--tags 5000] [--sections 50]
        [--years 5] [--seed 1] [--database-url sqlite:///var/bench-1m.db]

Runs the migrations first (the real schema), refuses a database that already has articles,
then loads in bulk: on SQLite with the journal off and executemany on the raw connection,
on PostgreSQL with COPY. Prints what it made and how long it took.

What it makes:
* tags: Chinese names with pinyin slugs; popularity is Zipf-like (rank r drawn with weight
  1/r), so at 1M articles the top few tags hold 100k+ articles each and most hold a few
  dozen. Tag ids follow rank: tag 1 is the most popular.
* sections: half route by rule (1-4 tags among the 300 most popular), half by placement
  (about half of all articles are placed in one, Zipf-like too).
* articles: 1-5 tags each, a short Chinese title, a summary, a body of 1-3 KB, published
  over `--years` years up to 2026-11-26 (ids in publication order); 98% published, 1%
  drafts, 0.8% retracted, the rest scheduled in the coming week.
* feed_entries: the rows publishing.py would have written, inserted in key order.

Importable: `generate(url, articles=..., tags=..., sections=...) -> Generated`, used by
bench/query.py and bench/rebuild.py.
"""

from __future__ import annotations

import argparse
import random
import time
from array import array
from bisect import bisect
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from feedsvc import db
from feedsvc.models import Article
from feedsvc.queries import BYTES_PER_CHAR, ITEM_OVERHEAD
from feedsvc.text import slugify
from feedsvc.types import FeedKey


def _words(text: str) -> list[str]:
    return text.split()


ROOT = Path(__file__).resolve().parent.parent
END = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
# Common characters of news copy; text is sliced out of one long random run of them. Such
# text gzips to about 45% of its UTF-8 size, as Chinese news copy does (3 bytes a character).
CHARS = (
    "的一是在不了有和人這中大為上個國我以要他時來用們生到作地於出就分對成會可主發年動同工"
    "也能下過子說產種面而方後多定行學法所民得經十三之進著等部度家電力裡如水化高自二理起小"
    "物現實加量都兩體制機當使點從業本去把性好應開它合還因由其些然前外天政四日那社義事平形"
    "相全表間樣與關各重新線內數正心反你明看原又麼利比或但質氣第向道命此變條只沒結解問意建"
    "月公無系軍很情者最立代想已通並提直題黨程展五果料象員革位入常文總次品式活設及管特件長"
    "求老頭基資邊流路級少圖山統接知較將組見計別她手角期根論運農指幾九區強放決西被幹做必戰"
    "先回則任取據處府研質東記者市縣鎮村景區博物館旅遊文化交通教育醫療科技經濟體育"
)
PLACES = _words(
    "余姚 鄭州 洛陽 開封 寧波 杭州 紹興 溫州 南京 蘇州 無錫 常州 合肥"
    " 蕪湖 武漢 宜昌 長沙 岳陽 南昌 九江 福州 廈門 泉州 廣州 深圳 珠海"
    " 佛山 成都 綿陽 重慶 西安 寶雞 太原 大同 濟南 青島 煙台 石家莊 保定"
    " 天津 北京 上海 瀋陽 大連 長春 哈爾濱 昆明 大理 貴陽 南寧 桂林 海口"
    " 三亞"
)
TOPICS = _words(
    "景區 博物館 元宵 燈會 地鐵 高鐵 機場 房價 教育 高考 醫療 醫保 就業"
    " 招聘 天氣 暴雨 颱風 疫苗 旅遊 美食 文化 非遺 體育 馬拉松 足球 籃球"
    " 科技 晶片 汽車 新能源 光伏 電商 直播 農業 鄉村 振興 扶貧 環保 垃圾"
    " 分類 交通 擁堵 停車 養老 社保 公積金 消費 物價 菜價 電影 演出 音樂"
    " 書展 校園 安全 消防 警方 法院 反詐 招商 投資 開發區 港口 外貿 出口"
    " 會展 論壇 人才 創業 小鎮 古城"
)
AUTHORS = ("記者 王明", "記者 李華", "通訊員 張偉", "記者 陳靜", None)
SOURCES = ("大象新聞", "信息新報", "寧波日報", "河南日報", "新華社", None)


@dataclass
class Generated:
    """What was generated, and how long each part took."""

    articles: int
    tags: int
    sections: int
    tag_links: int
    entries: int
    seconds: float


def tag_names(count: int, rng: random.Random) -> list[str]:
    """Distinct names: places, topics, then place+topic pairs in a shuffled order."""
    names = list(dict.fromkeys([*TOPICS, *PLACES]))
    pairs = [p + t for p in PLACES for t in TOPICS]
    rng.shuffle(pairs)
    names += pairs
    n = 2
    while len(names) < count:  # beyond the pairs: numbered series
        names += [f"{t}{n}期" for t in TOPICS]
        n += 1
    head = names[: len(TOPICS)]  # topics are the most popular tags, as on a news site
    rest = names[len(TOPICS) : count]
    return (head + rest)[:count]


def unique_slugs(names: Sequence[str]) -> list[str]:
    taken: set[str] = set()
    slugs = []
    for name in names:
        base = slugify(name) or "tag"
        slug, n = base, 2
        while slug in taken:
            slug, n = f"{base}-{n}", n + 1
        taken.add(slug)
        slugs.append(slug)
    return slugs


class Loader:
    """Bulk rows into one table: executemany on SQLite, COPY on PostgreSQL."""

    def __init__(self, engine: Engine) -> None:
        self.sqlite = engine.dialect.name == "sqlite"
        self.raw = engine.raw_connection()
        conn: Any = self.raw.driver_connection  # sqlite3 or psycopg
        self.conn = conn
        if self.sqlite:
            # Nothing to recover if the load dies half way: the database is thrown away.
            conn.execute("PRAGMA journal_mode=OFF")
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute("PRAGMA cache_size=-400000")
            conn.execute("PRAGMA foreign_keys=OFF")

    def rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        count = 0
        if self.sqlite:
            marks = ", ".join("?" * len(columns))
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
            cur = self.conn.cursor()
            for chunk in _chunks(rows, 20000):
                cur.executemany(sql, [tuple(map(_sqlite_value, r)) for r in chunk])
                count += len(chunk)
            cur.close()
        else:
            with (
                self.conn.cursor() as cur,
                cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
                    count += 1
        return count

    def finish(self, sequences: Sequence[str]) -> None:
        if self.sqlite:
            self.conn.commit()
            self.conn.execute("PRAGMA foreign_keys=ON")
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("ANALYZE")
        else:
            with self.conn.cursor() as cur:
                for table in sequences:  # ids were given explicitly: move the sequences on
                    cur.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT coalesce(max(id), 1) FROM {table}))"
                    )
            self.conn.commit()
            self.conn.autocommit = True
            with self.conn.cursor() as cur:
                cur.execute("VACUUM ANALYZE")  # the visibility map, for index-only scans
            self.conn.autocommit = False
        self.raw.close()


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):  # the text form SQLAlchemy's SQLite DATETIME stores
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def _chunks(rows: Iterable[Sequence[Any]], size: int) -> Iterator[list[Sequence[Any]]]:
    chunk: list[Sequence[Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def generate(
    url: str,
    articles: int = 1_000_000,
    tags: int = 5000,
    sections: int = 50,
    years: float = 5,
    seed: int = 1,
    say: Callable[[str], None] = print,
) -> Generated:
    """Migrate `url` and fill it; refuses a database that already holds articles."""
    started = time.perf_counter()
    rng = random.Random(seed)
    engine = db.make_engine(url)
    db.migrate(engine)
    with engine.connect() as connection:
        if connection.scalar(select(func.count()).select_from(Article)):
            raise SystemExit(f"{url} already holds articles; generate into an empty database")
    loader = Loader(engine)
    made = Generated(0, tags, sections, 0, 0, 0.0)

    names = tag_names(tags, rng)
    slugs = unique_slugs(names)
    created = END - timedelta(days=365 * years + 30)
    loader.rows(
        "tags",
        ("id", "name", "slug", "created_at"),
        ((i + 1, names[i], slugs[i], created) for i in range(tags)),
    )
    section_names = [
        f"{p}{t}" for p, t in zip(PLACES, rng.sample(TOPICS, len(TOPICS)), strict=False)
    ]
    section_names = (
        [f"頻道{n}" for n in range(sections)]
        if sections > len(section_names)
        else section_names[:sections]
    )
    section_slugs = unique_slugs(section_names)
    loader.rows(
        "sections",
        ("id", "name", "slug", "description"),
        (
            (i + 1, section_names[i], section_slugs[i], f"{section_names[i]}的新聞")
            for i in range(sections)
        ),
    )
    rule_of: dict[int, list[int]] = {}  # tag id -> ids of the sections its articles enter
    rule_rows = []
    for s in range(0, sections, 2):  # even sections route by rule, odd ones by placement
        for tag_id in rng.sample(range(1, min(tags, 300) + 1), rng.randint(1, 4)):
            rule_rows.append((s + 1, tag_id))
            rule_of.setdefault(tag_id, []).append(s + 1)
    loader.rows("section_rule_tags", ("section_id", "tag_id"), rule_rows)
    placed_ids = list(range(2, sections + 1, 2))
    say(f"tags and sections: {time.perf_counter() - started:.1f} s")

    # Per feed, the ids of its articles in publication order: ids follow publication time,
    # so appending as we go keeps every list sorted, and feed_entries goes in in key order.
    members: dict[str, array[int]] = {}
    when: list[datetime] = []
    sizes = array("i")
    tag_cum = list(accumulate(1 / r for r in range(1, tags + 1)))
    place_cum = list(accumulate(1 / r for r in range(1, len(placed_ids) + 1)))
    corpus = "".join(rng.choices(CHARS, k=200_000))
    span = (END - created).total_seconds() - 86400 * 30
    stamps = sorted(rng.random() * span for _ in range(articles))

    def cut(low: int, high: int) -> str:
        n = rng.randint(low, high)
        start = rng.randrange(len(corpus) - n)
        return corpus[start : start + n]

    def add(key: str, article_id: int) -> None:
        ids = members.get(key)
        if ids is None:
            ids = members[key] = array("i")
        ids.append(article_id)

    link_rows: list[tuple[int, int]] = []
    place_rows: list[tuple[int, int]] = []

    def article_rows() -> Iterator[tuple[Any, ...]]:
        for n in range(articles):
            article_id = n + 1
            roll = rng.random()
            status = "published"
            at: datetime | None = created + timedelta(seconds=stamps[n])
            if roll < 0.01:
                status, at = "draft", None
            elif roll < 0.018:
                status = "retracted"
            elif n >= articles - max(1, articles // 1000):
                status, at = "scheduled", END + timedelta(hours=rng.randint(1, 168))
            topic = rng.choice(TOPICS)
            title = f"{rng.choice(PLACES)}{topic}{cut(6, 16)}"
            summary = cut(30, 80)
            body = "".join(f"<p>{cut(80, 170)}。</p>" for _ in range(rng.randint(3, 6)))
            chosen = sorted(
                {bisect(tag_cum, rng.random() * tag_cum[-1]) + 1 for _ in range(rng.randint(1, 5))}
            )
            chosen = [t for t in chosen if t <= tags]
            link_rows.extend((article_id, t) for t in chosen)
            placed = (
                bisect(place_cum, rng.random() * place_cum[-1])
                if placed_ids and rng.random() < 0.5
                else None
            )
            if placed is not None:
                place_rows.append((article_id, placed_ids[placed]))
            stamp = at or created
            when.append(stamp)
            sizes.append((len(title) + len(summary) + len(body)) * BYTES_PER_CHAR + ITEM_OVERHEAD)
            if status == "published":
                add("/feeds/all", article_id)
                routed: set[int] = set()
                for t in chosen:
                    add(f"/feeds/tags/{slugs[t - 1]}", article_id)
                    routed.update(rule_of.get(t, ()))
                if placed is not None:
                    routed.add(placed_ids[placed])
                for s in sorted(routed):
                    add(f"/feeds/sections/{section_slugs[s - 1]}", article_id)
            yield (
                article_id,
                f"tag:news.example.com,2026:article/{article_id:032x}",
                f"article-{article_id}",
                title,
                summary,
                body,
                rng.choice(AUTHORS),
                rng.choice(SOURCES),
                None,
                None,
                "zh-Hant",
                status,
                at,
                stamp,
                stamp,
            )
            if article_id % 100_000 == 0:
                say(f"  {article_id} articles, {time.perf_counter() - started:.1f} s")

    columns = _words(
        "id uid slug title summary content_html author source original_source"
        " link language status published_at updated_at created_at"
    )
    made.articles = loader.rows("articles", columns, article_rows())
    made.tag_links = loader.rows("article_tags", ("article_id", "tag_id"), link_rows)
    loader.rows("article_sections", ("article_id", "section_id"), place_rows)
    say(f"articles, tags, placements: {time.perf_counter() - started:.1f} s")

    def entry_rows() -> Iterator[tuple[Any, ...]]:
        for key in sorted(members):
            for article_id in members[key]:
                yield (key, when[article_id - 1], article_id, sizes[article_id - 1])

    made.entries = loader.rows(
        "feed_entries", ("feed_key", "published_at", "article_id", "size_estimate"), entry_rows()
    )
    say(f"feed entries: {time.perf_counter() - started:.1f} s")
    # Every write marks its feeds (store.mark_dirty), so a portal's database holds a state
    # row per feed; without them, each render would look its feed's row up in vain.
    feeds = [FeedKey.site(), *map(FeedKey.tag, slugs), *map(FeedKey.section, section_slugs)]
    loader.rows(
        "feed_states",
        ("key", "dirty", "generation", "changed_at"),
        ((feed.path, True, 1, END) for feed in feeds),
    )
    loader.finish(("tags", "sections", "articles"))
    engine.dispose()
    made.seconds = time.perf_counter() - started
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=1_000_000)
    parser.add_argument("--tags", type=int, default=5000)
    parser.add_argument("--sections", type=int, default=50)
    parser.add_argument("--years", type=float, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--database-url", default=f"sqlite:///{ROOT / 'var' / 'bench-1m.db'}", help="SQLAlchemy URL"
    )
    args = parser.parse_args()
    made = generate(
        args.database_url, args.articles, args.tags, args.sections, args.years, args.seed
    )
    print(
        f"generated {made.articles} articles, {made.tags} tags ({made.tag_links} links), "
        f"{made.sections} sections, {made.entries} feed entries in {made.seconds:.1f} s"
    )


if __name__ == "__main__":
    main()
