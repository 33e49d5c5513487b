"""The benchmarks' generated database is one the service could have written.

bench/gen_articles.py bulk-loads rows instead of going through the use cases, so it computes
feed membership itself; the query, rebuild and soak figures are only worth something if that
membership is what routing would give, and if every feed has the state row that edits leave.
"""

from __future__ import annotations

from sqlalchemy import func, select

from bench.gen_articles import generate
from feedsvc import db, queries
from feedsvc.models import Article, FeedEntry, FeedState


def test_generated_feeds_hold_what_routing_puts_in_them(database_url: str) -> None:
    made = generate(database_url, articles=600, tags=40, sections=6, say=lambda _: None)
    assert made.articles == 600
    engine = db.make_engine(database_url)
    try:
        factory = db.session_factory(engine)
        with factory() as session:
            keys = queries.all_feed_keys(session)
            assert len(keys) == 1 + 40 + 6
            states = set(session.scalars(select(FeedState.key)))
            assert states == {k.path for k in keys}
            nonempty = 0
            for key in sorted(keys):
                condition = queries.computed_membership(session, key)
                assert condition is not None, key
                routed = set(session.scalars(select(Article.id).where(condition)))
                stored = set(
                    session.scalars(
                        select(FeedEntry.article_id).where(FeedEntry.feed_key == key.path)
                    )
                )
                assert stored == routed, key
                nonempty += bool(stored)
            # Tags, rule sections and placement sections: every kind of feed received some.
            assert nonempty == len(keys)
            # Each entry carries its article's publication time: the order feeds are read in.
            mismatched = session.scalar(
                select(func.count())
                .select_from(FeedEntry)
                .join(Article, Article.id == FeedEntry.article_id)
                .where(FeedEntry.published_at != Article.published_at)
            )
            assert mismatched == 0
    finally:
        engine.dispose()
