"""Partner access: grants, full-content Atom pulls by token or signed URL, archives,
revocation on the very next request, tampered URLs, and the pull log.

Everything goes through the real app and database: the admin API creates the partner and
its credentials, feedparser reads what the partner gets.
"""

from __future__ import annotations

import dataclasses
import gzip
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import feedparser
import lxml.html
import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from lxml import etree
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from feedsvc import db, taxonomy
from feedsvc.cli import main
from feedsvc.config import Settings
from feedsvc.jobs import Renderer
from feedsvc.models import Article, PartnerPull

ATOM_NS = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Small documents, so the eleven demo articles make several archive pages.
    return dataclasses.replace(settings, feed_items=3, archive_page_items=2)


@pytest.fixture
def partner(client: FlaskClient, admin_auth: dict[str, str], demo_loaded: None) -> int:
    answer = client.post("/api/admin/partners", json={"name": "大象新聞"}, headers=admin_auth)
    assert answer.status_code == 201, answer.get_json()
    partner_id: int = answer.get_json()["id"]
    granted = client.post(
        f"/api/admin/partners/{partner_id}/grants",
        json={"feed": "/feeds/sections/lehuo-hot"},
        headers=admin_auth,
    )
    assert granted.status_code == 200, granted.get_json()
    assert granted.get_json()["grants"] == ["/feeds/sections/lehuo-hot"]
    return partner_id


@pytest.fixture
def bearer(client: FlaskClient, admin_auth: dict[str, str], partner: int) -> dict[str, str]:
    answer = client.post(
        f"/api/admin/partners/{partner}/tokens", json={"label": "reader"}, headers=admin_auth
    )
    assert answer.status_code == 201
    token = answer.get_json()["token"]
    assert token.startswith("fsp_")
    return {"Authorization": f"Bearer {token}"}


def signed(client: FlaskClient, admin_auth: dict[str, str], partner: int, feed: str) -> str:
    answer = client.get(
        f"/api/admin/partners/{partner}/url", query_string={"feed": feed}, headers=admin_auth
    )
    assert answer.status_code == 200, answer.get_json()
    url: str = answer.get_json()["url"]
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def pulls(sessions: sessionmaker[Session], partner: int) -> list[tuple[str, int, int]]:
    with sessions() as session:
        rows = session.scalars(
            select(PartnerPull).where(PartnerPull.partner_id == partner).order_by(PartnerPull.id)
        )
        return [(r.feed, r.status, r.bytes_sent) for r in rows]


def test_a_granted_partner_gets_full_content_atom(
    client: FlaskClient, bearer: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    answer = client.get("/partner/feeds/sections/lehuo-hot.atom", headers=bearer)
    assert answer.status_code == 200
    assert answer.mimetype == "application/atom+xml"
    assert answer.headers["Cache-Control"].startswith("private, ")
    parsed = feedparser.parse(answer.data)
    assert not parsed.bozo, parsed.bozo_exception
    assert parsed.entries
    with sessions() as session:
        bodies = {a.uid: a.content_html for a in session.scalars(select(Article))}
    for entry in parsed.entries:
        # The whole body as stored, not a summary or an excerpt.
        assert text_of(entry.content[0].value) == text_of(bodies[entry.id])
        assert text_of(bodies[entry.id])


def text_of(html: str) -> str:
    return "".join(lxml.html.fromstring(f"<div>{html}</div>").itertext()).strip()


def test_conditional_and_gzip_pulls_and_every_pull_is_logged(
    client: FlaskClient, bearer: dict[str, str], partner: int, sessions: sessionmaker[Session]
) -> None:
    url = "/partner/feeds/sections/lehuo-hot.atom"
    first = client.get(url, headers=bearer)
    etag = first.headers["ETag"]
    again = client.get(url, headers={**bearer, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    zipped = client.get(url, headers={**bearer, "Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.data) == first.data
    refused = client.get("/partner/feeds/all.atom", headers=bearer)  # not granted
    assert refused.status_code == 403
    assert refused.mimetype == "application/problem+json"
    assert pulls(sessions, partner) == [
        ("/feeds/sections/lehuo-hot.atom", 200, len(first.data)),
        ("/feeds/sections/lehuo-hot.atom", 304, 0),
        ("/feeds/sections/lehuo-hot.atom", 200, len(zipped.data)),
        ("/feeds/all.atom", 403, len(refused.data)),
    ]


def test_the_pull_log_is_readable_by_admins(
    client: FlaskClient, bearer: dict[str, str], partner: int, admin_auth: dict[str, str]
) -> None:
    client.get("/partner/feeds/sections/lehuo-hot.atom", headers=bearer)
    client.get("/partner/feeds/tags/yuyao.atom", headers=bearer)
    answer = client.get(f"/api/admin/partners/{partner}/pulls", headers=admin_auth)
    items = answer.get_json()["items"]
    assert [(i["feed"], i["status"]) for i in items] == [
        ("/feeds/tags/yuyao.atom", 403),
        ("/feeds/sections/lehuo-hot.atom", 200),
    ]


def archive_links(body: bytes) -> Iterator[str]:
    """prev-archive hrefs from a document back to the oldest page."""
    root = etree.fromstring(body)
    link = root.find(f"{ATOM_NS}link[@rel='prev-archive']")
    if link is not None:
        yield link.get("href", "")


def test_archives_are_pulled_with_the_same_credentials(
    client: FlaskClient, bearer: dict[str, str], admin_auth: dict[str, str], partner: int
) -> None:
    client.post(
        f"/api/admin/partners/{partner}/grants", json={"feed": "/feeds/all"}, headers=admin_auth
    )
    by_url = signed(client, admin_auth, partner, "/feeds/all")
    query = urlsplit(by_url).query
    seen: list[str] = []
    path = "/feeds/all.atom"
    while path:
        answer = client.get(f"/partner{path}", headers=bearer)
        assert answer.status_code == 200, path
        same = client.get(f"/partner{path}?{query}")  # the signed URL opens archives too
        assert same.status_code == 200
        assert same.data == answer.data
        seen += [e.id for e in feedparser.parse(answer.data).entries]
        # Archive links in the document are the public ones: the partner maps them.
        path = next((urlsplit(h).path for h in archive_links(answer.data)), "")
    assert len(seen) == len(set(seen)) == 11  # every demo article, each once
    assert client.get("/partner/feeds/all/archive/99.atom", headers=bearer).status_code == 404


def test_revoking_a_partner_refuses_its_next_pull(
    client: FlaskClient,
    bearer: dict[str, str],
    admin_auth: dict[str, str],
    partner: int,
    sessions: sessionmaker[Session],
) -> None:
    url = signed(client, admin_auth, partner, "/feeds/sections/lehuo-hot")
    assert client.get(url).status_code == 200
    assert client.get("/partner/feeds/sections/lehuo-hot.atom", headers=bearer).status_code == 200
    revoked = client.post(f"/api/admin/partners/{partner}/revoke", headers=admin_auth)
    assert revoked.get_json()["revoked_at"] is not None
    by_token = client.get("/partner/feeds/sections/lehuo-hot.atom", headers=bearer)
    by_url = client.get(url)
    for answer in (by_token, by_url):
        assert answer.status_code == 401
        assert answer.mimetype == "application/problem+json"
        assert "WWW-Authenticate" in answer.headers
    assert [status for _, status, _ in pulls(sessions, partner)] == [200, 200, 401, 401]
    # Revoked partners get no fresh credentials either.
    minted = client.post(f"/api/admin/partners/{partner}/tokens", json={}, headers=admin_auth)
    assert minted.status_code == 409


def test_revoking_one_token_and_withdrawing_a_grant(
    client: FlaskClient, bearer: dict[str, str], admin_auth: dict[str, str], partner: int
) -> None:
    url = "/partner/feeds/sections/lehuo-hot.atom"
    other = client.post(f"/api/admin/partners/{partner}/tokens", json={}, headers=admin_auth)
    second = {"Authorization": f"Bearer {other.get_json()['token']}"}
    token_id = other.get_json()["id"]
    gone = client.delete(f"/api/admin/partners/{partner}/tokens/{token_id}", headers=admin_auth)
    assert gone.status_code == 204
    assert client.get(url, headers=second).status_code == 401
    assert client.get(url, headers=bearer).status_code == 200  # the first still works
    withdrawn = client.delete(
        f"/api/admin/partners/{partner}/grants/feeds/sections/lehuo-hot", headers=admin_auth
    )
    assert withdrawn.status_code == 204
    assert client.get(url, headers=bearer).status_code == 403


def test_tampered_signed_urls_are_refused(
    client: FlaskClient, admin_auth: dict[str, str], partner: int
) -> None:
    url = signed(client, admin_auth, partner, "/feeds/sections/lehuo-hot")
    path, _, query = url.partition("?")
    params = {k: v[0] for k, v in parse_qs(query).items()}
    assert client.get(url).status_code == 200
    sig = params["sig"]
    flipped = sig[:-1] + ("A" if sig[-1] != "A" else "B")
    cases = {
        "flipped": f"{path}?partner={partner}&sig={flipped}",
        "other partner": f"{path}?partner={partner + 1}&sig={sig}",
        "no sig": f"{path}?partner={partner}",
        "junk partner": f"{path}?partner=x1&sig={sig}",
    }
    for name, tampered in cases.items():
        assert client.get(tampered).status_code == 401, name
    # The signature names one feed: it opens no other, even one that is granted.
    client.post(
        f"/api/admin/partners/{partner}/grants", json={"feed": "/feeds/all"}, headers=admin_auth
    )
    assert client.get(f"/partner/feeds/all.atom?{query}").status_code == 401
    # Rotating the secret kills every URL handed out so far; a new one works.
    client.post(f"/api/admin/partners/{partner}/secret", headers=admin_auth)
    assert client.get(url).status_code == 401
    assert (
        client.get(signed(client, admin_auth, partner, "/feeds/sections/lehuo-hot")).status_code
        == 200
    )


def test_no_credentials_or_unknown_ones_are_401_and_not_logged(
    client: FlaskClient, partner: int, sessions: sessionmaker[Session]
) -> None:
    url = "/partner/feeds/sections/lehuo-hot.atom"
    assert client.get(url).status_code == 401
    assert client.get(url, headers={"Authorization": "Bearer fsp_nope"}).status_code == 401
    assert client.get(url, headers={"Authorization": "Bearer fs_nope"}).status_code == 401
    assert pulls(sessions, partner) == []


def test_nul_in_a_partner_feed_path_is_a_404_before_any_credential_check(
    client: FlaskClient, bearer: dict[str, str], partner: int, sessions: sessionmaker[Session]
) -> None:
    # PostgreSQL text cannot hold NUL: web/nul.py answers before any query, as for public feeds.
    for url in ("/partner/feeds/tags/a%00b.atom", "/partner/feeds/sections/%00/archive/1.atom"):
        for headers in (bearer, {}):
            answer = client.get(url, headers=headers)
            assert answer.status_code == 404, url
            assert answer.mimetype == "application/problem+json"
            assert answer.get_json()["detail"] == "no such feed"
    assert pulls(sessions, partner) == []


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn: object, cursor: object, statement: str, *rest: object) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_a_pull_reads_the_partner_and_its_one_grant_once(
    client: FlaskClient,
    engine: Engine,
    admin_auth: dict[str, str],
    bearer: dict[str, str],
    partner: int,
) -> None:
    client.post(
        f"/api/admin/partners/{partner}/grants", json={"feed": "/feeds/all"}, headers=admin_auth
    )
    url = signed(client, admin_auth, partner, "/feeds/sections/lehuo-hot")
    for path, headers, status in [
        ("/partner/feeds/sections/lehuo-hot.atom", bearer, 200),
        (url, {}, 200),
        ("/partner/feeds/tags/yuyao.atom", bearer, 403),
    ]:
        with statements(engine) as seen:
            assert client.get(path, headers=headers).status_code == status
        grants = [s for s in seen if "FROM partner_grants" in s]
        assert len(grants) == 1, grants  # the one asked for, by primary key
        assert "partner_grants.feed = " in grants[0]
        assert len([s for s in seen if "FROM partners " in s]) == 1


def test_the_partner_list_takes_the_same_queries_for_one_partner_or_three(
    client: FlaskClient, engine: Engine, admin_auth: dict[str, str], bearer: dict[str, str]
) -> None:
    counts = []
    for n in range(3):
        if n:
            made = client.post(
                "/api/admin/partners", json={"name": f"夥伴{n}"}, headers=admin_auth
            ).get_json()["id"]
            for label in ("a", "b")[:n]:
                client.post(
                    f"/api/admin/partners/{made}/tokens", json={"label": label}, headers=admin_auth
                )
        with statements(engine) as seen:
            listed = client.get("/api/admin/partners", headers=admin_auth).get_json()["items"]
        counts.append(len(seen))
        assert len(listed) == n + 1
        # The same partners, grants and tokens as each one's own page shows.
        for item in listed:
            one = client.get(f"/api/admin/partners/{item['id']}", headers=admin_auth)
            assert item == one.get_json()
    assert listed[0]["tokens"]
    assert listed[2]["tokens"][1]["label"] == "b"
    assert counts[0] == counts[1] == counts[2], counts


def test_minting_a_token_answers_from_the_row_it_wrote(
    client: FlaskClient, engine: Engine, admin_auth: dict[str, str], partner: int
) -> None:
    with statements(engine) as seen:
        answer = client.post(
            f"/api/admin/partners/{partner}/tokens", json={"label": "讀者"}, headers=admin_auth
        )
    assert answer.status_code == 201
    assert not [s for s in seen if "FROM partner_tokens" in s]  # not read back after its INSERT
    minted = answer.get_json()
    assert minted.pop("token").startswith("fsp_")
    stored = client.get(f"/api/admin/partners/{partner}", headers=admin_auth).get_json()["tokens"]
    assert stored == [minted]


def test_a_partner_token_is_refused_by_the_editor_api(
    client: FlaskClient, bearer: dict[str, str], admin_auth: dict[str, str], partner: int
) -> None:
    answer = client.get("/api/articles", headers=bearer)
    assert answer.status_code == 403
    assert answer.mimetype == "application/problem+json"
    client.post(f"/api/admin/partners/{partner}/revoke", headers=admin_auth)
    assert client.get("/api/articles", headers=bearer).status_code == 401


def test_grants_name_existing_feeds_only(
    client: FlaskClient, admin_auth: dict[str, str], partner: int
) -> None:
    for feed in ("/feeds/tags/no-such-tag", "/etc/passwd", "/feeds/tags/../all", "feeds"):
        answer = client.post(
            f"/api/admin/partners/{partner}/grants", json={"feed": feed}, headers=admin_auth
        )
        assert answer.status_code == 422, feed
        assert answer.get_json()["errors"][0]["field"] == "feed"
    by_name = client.post(
        f"/api/admin/partners/{partner}/grants",
        json={"feed": "/feeds/tags/余姚"},
        headers=admin_auth,
    )
    assert "/feeds/tags/yuyao" in by_name.get_json()["grants"]


def test_the_partner_commands(database_url: str) -> None:
    runner = CliRunner()
    env = {"FEEDSVC_DATABASE_URL": database_url, "FEEDSVC_BASE_URL": "https://feeds.example"}
    assert runner.invoke(main, ["demo"], env=env).exit_code == 0
    created = runner.invoke(main, ["partner", "create", "鳳凰網"], env=env)
    assert created.exit_code == 0, created.output
    granted = runner.invoke(main, ["partner", "grant", "鳳凰網", "/feeds/tags/余姚"], env=env)
    assert granted.output.strip() == "granted /feeds/tags/yuyao to 鳳凰網"
    token = runner.invoke(main, ["partner", "token", "鳳凰網"], env=env)
    assert token.output.startswith("fsp_")
    url = runner.invoke(main, ["partner", "url", "1", "/feeds/tags/yuyao"], env=env)
    assert url.output.startswith(
        "https://feeds.example/partner/feeds/tags/yuyao.atom?partner=1&sig="
    )
    unknown = runner.invoke(main, ["partner", "grant", "nobody", "/feeds/all"], env=env)
    assert unknown.exit_code != 0
    assert "no partner" in unknown.output
    bad = runner.invoke(main, ["partner", "grant", "鳳凰網", "/feeds/tags/none"], env=env)
    assert bad.exit_code != 0
    assert "no tag" in bad.output
    assert runner.invoke(main, ["partner", "revoke", "鳳凰網"], env=env).exit_code == 0


def test_grants_follow_a_renamed_section_and_go_with_a_deleted_one(
    client: FlaskClient,
    admin_auth: dict[str, str],
    bearer: dict[str, str],
    partner: int,
    renderer: Renderer,
) -> None:
    renamed = client.patch("/api/sections/lehuo-hot", json={"slug": "lehuo"}, headers=admin_auth)
    assert renamed.status_code == 200, renamed.get_json()
    grants = client.get(f"/api/admin/partners/{partner}", headers=admin_auth).get_json()
    assert grants["grants"] == ["/feeds/sections/lehuo"]
    # The token still opens the feed under its new path; the old path is no longer granted.
    assert client.get("/partner/feeds/sections/lehuo-hot.atom", headers=bearer).status_code == 403
    renderer.tick()
    assert client.get("/partner/feeds/sections/lehuo.atom", headers=bearer).status_code == 200
    assert client.delete("/api/sections/lehuo", headers=admin_auth).status_code == 204
    grants = client.get(f"/api/admin/partners/{partner}", headers=admin_auth).get_json()
    assert grants["grants"] == []


def test_a_grant_follows_a_tag_merged_into_another(
    client: FlaskClient, admin_auth: dict[str, str], partner: int, sessions: sessionmaker[Session]
) -> None:
    assert (
        client.post(
            f"/api/admin/partners/{partner}/grants",
            json={"feed": "/feeds/tags/yuyao"},
            headers=admin_auth,
        ).status_code
        == 200
    )
    with db.transaction(sessions) as session:
        taxonomy.merge_tags(session, "yuyao", "diebian", datetime.now(UTC))
    grants = client.get(f"/api/admin/partners/{partner}", headers=admin_auth).get_json()
    assert sorted(grants["grants"]) == ["/feeds/sections/lehuo-hot", "/feeds/tags/diebian"]
