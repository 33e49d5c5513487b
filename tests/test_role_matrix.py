"""The role matrix: anonymous, partner, editor and admin against every route the app has.

`CASES` is one explicit table: for each endpoint and method, a request (built on fresh
targets where the request destroys something) and the outcome class each role must get:

- OK     any 2xx or 3xx that is not a sign-in redirect
- LOGIN  the desk's redirect to its sign-in page (`/desk/login?next=…`)
- 401, 403, 404

`test_every_route_is_classified` fails when the app routes an endpoint and method the table
does not name, so a new endpoint cannot ship without deciding who may use it.

Editors and admins sign in to the desk through its real form and call the API with their
own bearer tokens; the partner holds a partner token and a grant for one section. Each role
gets its own fresh database holding the demo content.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from feedsvc import db, partners, publishing, taxonomy, tokens, users
from feedsvc.config import Settings
from feedsvc.models import Partner

OK, LOGIN = "ok", "login"
ROLES = ("anonymous", "partner", "editor", "admin")
PASSWORD = "correct horse battery"
IGNORED_METHODS = {"HEAD", "OPTIONS"}


def everyone(outcome: str) -> dict[str, str]:
    return dict.fromkeys(ROLES, outcome)


# Outcome rows shared by many routes.
PUBLIC = everyone(OK)
EDITOR_API = {"anonymous": "401", "partner": "403", "editor": OK, "admin": OK}
ADMIN_API = {"anonymous": "401", "partner": "403", "editor": "403", "admin": OK}
DESK = {"anonymous": LOGIN, "partner": LOGIN, "editor": OK, "admin": OK}
DESK_ADMIN = {"anonymous": LOGIN, "partner": LOGIN, "editor": "403", "admin": OK}
DESK_JSON = {"anonymous": "401", "partner": "401", "editor": OK, "admin": OK}
PARTNER_GRANTED = {"anonymous": "401", "partner": OK, "editor": "401", "admin": "401"}
PARTNER_NOT_GRANTED = {"anonymous": "401", "partner": "403", "editor": "401", "admin": "401"}


@dataclasses.dataclass(frozen=True)
class Case:
    endpoint: str
    method: str
    path: str  # may name {placeholders} that `targets` fills
    expect: dict[str, str]
    json: Any = None
    form: dict[str, str] | None = None
    targets: tuple[str, ...] = ()
    note: str = ""


CASES: tuple[Case, ...] = (
    # --- public feeds, archives, discovery, health ---------------------------------------
    Case("feeds.healthz", "GET", "/healthz", PUBLIC),
    Case("feeds.site_feed", "GET", "/feeds/all.atom", PUBLIC),
    Case("feeds.listed_feed", "GET", "/feeds/sections/lehuo-hot.rss", PUBLIC),
    Case("feeds.listed_feed", "GET", "/feeds/tags/no-such-tag.rss", everyone("404")),
    Case("feeds.site_archive", "GET", "/feeds/all/archive/1.atom", PUBLIC),
    Case("feeds.listed_archive", "GET", "/feeds/sections/lehuo-hot/archive/1.json", PUBLIC),
    Case("feeds.listed_archive", "GET", "/feeds/tags/yuyao/archive/999.atom", everyone("404")),
    Case("discovery.index", "GET", "/feeds", PUBLIC),
    Case("discovery.opml", "GET", "/feeds.opml", PUBLIC),
    Case("discovery.static_file", "GET", "/feeds/style.xsl", PUBLIC),
    # Flask's own static route: the app keeps no files there.
    Case("static", "GET", "/static/anything.css", everyone("404")),
    # --- partner feeds: the partner holds a grant for lehuo-hot only -------------------------
    Case("partner_feeds.site_feed", "GET", "/partner/feeds/all.atom", PARTNER_NOT_GRANTED),
    Case(
        "partner_feeds.site_archive",
        "GET",
        "/partner/feeds/all/archive/1.atom",
        PARTNER_NOT_GRANTED,
    ),
    Case(
        "partner_feeds.listed_feed",
        "GET",
        "/partner/feeds/sections/lehuo-hot.atom",
        PARTNER_GRANTED,
    ),
    Case("partner_feeds.listed_feed", "GET", "/partner/feeds/tags/yuyao.atom", PARTNER_NOT_GRANTED),
    Case(
        "partner_feeds.listed_archive",
        "GET",
        "/partner/feeds/sections/lehuo-hot/archive/1.atom",
        PARTNER_GRANTED,
    ),
    Case(
        "partner_feeds.listed_archive",
        "GET",
        "/partner/feeds/sections/lehuo-hot/archive/999.atom",
        {**PARTNER_GRANTED, "partner": "404"},
    ),
    # --- the API's contract is public -------------------------------------------------------
    Case("api_docs.openapi_json", "GET", "/api/openapi.json", PUBLIC),
    Case("api_docs.docs", "GET", "/api/docs", PUBLIC),
    # --- the editor API -----------------------------------------------------------------------
    Case("api.articles.list_articles", "GET", "/api/articles", EDITOR_API),
    Case(
        "api.articles.create_article",
        "POST",
        "/api/articles",
        EDITOR_API,
        json={"title": "矩陣測試", "status": "draft"},
    ),
    Case(
        "api.articles.read_article",
        "GET",
        "/api/articles/{article}",
        EDITOR_API,
        targets=("article",),
    ),
    Case(
        "api.articles.read_article",
        "GET",
        "/api/articles/999999",
        {**EDITOR_API, "editor": "404", "admin": "404"},
    ),
    Case(
        "api.articles.update_article",
        "PATCH",
        "/api/articles/{article}",
        EDITOR_API,
        json={"title": "改過的標題"},
        targets=("article",),
    ),
    Case(
        "api.articles.delete_article",
        "DELETE",
        "/api/articles/{article}",
        EDITOR_API,
        targets=("article",),
    ),
    Case(
        "api.articles.article_feeds",
        "GET",
        "/api/articles/{article}/feeds",
        EDITOR_API,
        targets=("article",),
    ),
    Case(
        "api.articles.add_tags",
        "POST",
        "/api/articles/{article}/tags",
        EDITOR_API,
        json={"tags": ["元宵"]},
        targets=("article",),
    ),
    Case(
        "api.articles.remove_tag",
        "DELETE",
        "/api/articles/{article}/tags/juzhen",
        EDITOR_API,
        targets=("article",),
    ),
    Case("api.taxonomy.list_tags", "GET", "/api/tags", EDITOR_API),
    Case("api.taxonomy.create_tag", "POST", "/api/tags", EDITOR_API, json={"name": "{fresh}"}),
    Case("api.taxonomy.read_tag", "GET", "/api/tags/yuyao", EDITOR_API),
    Case(
        "api.taxonomy.read_tag",
        "GET",
        "/api/tags/no-such-tag",
        {**EDITOR_API, "editor": "404", "admin": "404"},
    ),
    Case(
        "api.taxonomy.update_tag",
        "PATCH",
        "/api/tags/{tag}",
        ADMIN_API,
        json={"name": "{fresh}"},
        targets=("tag",),
    ),
    Case("api.taxonomy.delete_tag", "DELETE", "/api/tags/{tag}", ADMIN_API, targets=("tag",)),
    Case("api.taxonomy.list_sections", "GET", "/api/sections", EDITOR_API),
    Case(
        "api.taxonomy.create_section", "POST", "/api/sections", ADMIN_API, json={"name": "{fresh}"}
    ),
    Case("api.taxonomy.read_section", "GET", "/api/sections/lehuo-hot", EDITOR_API),
    Case(
        "api.taxonomy.update_section",
        "PATCH",
        "/api/sections/{section}",
        ADMIN_API,
        json={"description": "新的說明"},
        targets=("section",),
    ),
    Case(
        "api.taxonomy.delete_section",
        "DELETE",
        "/api/sections/{section}",
        ADMIN_API,
        targets=("section",),
    ),
    Case("api.preview.preview", "GET", "/api/preview/feeds/all.atom", EDITOR_API),
    # --- the admin API: users, tokens, partners -----------------------------------------------
    Case("api.admin.list_users", "GET", "/api/admin/users", ADMIN_API),
    Case(
        "api.admin.create_user",
        "POST",
        "/api/admin/users",
        ADMIN_API,
        json={"username": "{fresh}", "password": PASSWORD, "role": "editor"},
    ),
    Case(
        "api.admin.disable_user",
        "POST",
        "/api/admin/users/{user}/disable",
        ADMIN_API,
        targets=("user",),
    ),
    Case(
        "api.admin.disable_user",
        "POST",
        "/api/admin/users/999999/disable",
        {**ADMIN_API, "admin": "404"},
    ),
    Case("api.admin.list_tokens", "GET", "/api/admin/tokens", ADMIN_API),
    Case(
        "api.admin.create_token",
        "POST",
        "/api/admin/tokens",
        ADMIN_API,
        json={"role": "admin", "label": "matrix"},
    ),
    Case(
        "api.admin.revoke_token",
        "DELETE",
        "/api/admin/tokens/{token}",
        ADMIN_API,
        targets=("token",),
    ),
    Case("api.admin.list_partners", "GET", "/api/admin/partners", ADMIN_API),
    Case(
        "api.admin.create_partner",
        "POST",
        "/api/admin/partners",
        ADMIN_API,
        json={"name": "{fresh}"},
    ),
    Case(
        "api.admin.read_partner",
        "GET",
        "/api/admin/partners/{partner}",
        ADMIN_API,
        targets=("partner",),
    ),
    Case(
        "api.admin.read_partner",
        "GET",
        "/api/admin/partners/999999",
        {**ADMIN_API, "admin": "404"},
    ),
    Case(
        "api.admin.grant_feed",
        "POST",
        "/api/admin/partners/{partner}/grants",
        ADMIN_API,
        json={"feed": "/feeds/all"},
        targets=("partner",),
    ),
    Case(
        "api.admin.withdraw_grant",
        "DELETE",
        "/api/admin/partners/{partner}/grants/feeds/all",
        ADMIN_API,
        targets=("partner",),
    ),
    Case(
        "api.admin.revoke_partner",
        "POST",
        "/api/admin/partners/{partner}/revoke",
        ADMIN_API,
        targets=("partner",),
    ),
    Case(
        "api.admin.rotate_secret",
        "POST",
        "/api/admin/partners/{partner}/secret",
        ADMIN_API,
        targets=("partner",),
    ),
    Case(
        "api.admin.mint_partner_token",
        "POST",
        "/api/admin/partners/{partner}/tokens",
        ADMIN_API,
        json={"label": "matrix"},
        targets=("partner",),
    ),
    Case(
        "api.admin.revoke_partner_token",
        "DELETE",
        "/api/admin/partners/{partner}/tokens/{partner_token}",
        ADMIN_API,
        targets=("partner", "partner_token"),
    ),
    Case(
        "api.admin.signed_url",
        "GET",
        "/api/admin/partners/{partner}/url?feed=/feeds/all",
        ADMIN_API,
        targets=("partner",),
    ),
    Case(
        "api.admin.list_pulls",
        "GET",
        "/api/admin/partners/{partner}/pulls",
        ADMIN_API,
        targets=("partner",),
    ),
    # --- the desk -----------------------------------------------------------------------------
    Case("desk.login", "GET", "/desk/login", PUBLIC),
    Case("desk.static", "GET", "/desk/static/desk.css", PUBLIC),
    Case("desk.home", "GET", "/desk/", DESK),
    Case("desk.articles", "GET", "/desk/articles", DESK),
    Case("desk.new_article", "GET", "/desk/articles/new", DESK),
    Case(
        "desk.create_article",
        "POST",
        "/desk/articles/new",
        DESK,
        form={"title": "矩陣桌面稿", "status": "draft"},
    ),
    Case("desk.edit_article", "GET", "/desk/articles/{article}", DESK, targets=("article",)),
    Case(
        "desk.edit_article",
        "GET",
        "/desk/articles/999999",
        {**DESK, "editor": "404", "admin": "404"},
    ),
    Case(
        "desk.update_article",
        "POST",
        "/desk/articles/{article}",
        DESK,
        form={"title": "桌面改稿", "status": "draft"},
        targets=("article",),
    ),
    Case("desk.health", "GET", "/desk/health", DESK),
    Case("desk.preview", "GET", "/desk/preview?feed=/feeds/all&format=atom", DESK),
    Case("desk.sections", "GET", "/desk/sections", DESK),
    Case("desk.edit_section", "GET", "/desk/sections/lehuo-hot", DESK),
    Case(
        "desk.edit_section",
        "POST",
        "/desk/sections/{section}",
        DESK_ADMIN,
        form={"description": "規則改動", "rule": "余姚"},
        targets=("section",),
    ),
    Case("desk.tags", "GET", "/desk/tags", DESK),
    Case(
        "desk.rename_tag",
        "POST",
        "/desk/tags/{tag}/rename",
        DESK_ADMIN,
        form={"name": "{fresh}"},
        targets=("tag",),
    ),
    Case(
        "desk.merge_tags",
        "POST",
        "/desk/tags/merge",
        DESK_ADMIN,
        form={"source": "{tag}", "target": "yuyao"},
        targets=("tag",),
    ),
    Case("desk.appears_in", "GET", "/desk/api/appears-in?tags=余姚", DESK_JSON),
    Case("desk.tag_suggestions", "GET", "/desk/api/tags?q=余", DESK_JSON),
    Case("desk.rule_preview", "GET", "/desk/api/rule-preview?tags=余姚", DESK_JSON),
    # Signing in: the role's own account (anonymous and partners have none: 401 page).
    Case(
        "desk.login",
        "POST",
        "/desk/login",
        {"anonymous": "401", "partner": "401", "editor": OK, "admin": OK},
        form={"username": "{username}", "password": PASSWORD},
    ),
    # Last: signing out ends the session the cases above used.
    Case("desk.logout", "POST", "/desk/logout", DESK, form={}),
)


def classify(status: int, location: str | None) -> str:
    if 300 <= status < 400 and location:
        target = urlsplit(location)
        if target.path == "/desk/login" and "next" in parse_qs(target.query):
            return LOGIN
    if 200 <= status < 400:
        return OK
    return str(status)


def routed(app: Flask) -> set[tuple[str, str]]:
    return {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        for method in (rule.methods or set()) - IGNORED_METHODS
    }


def test_every_route_is_classified(app: Flask) -> None:
    table = {(case.endpoint, case.method) for case in CASES}
    assert routed(app) - table == set(), "routes the role matrix does not classify"
    assert table - routed(app) == set(), "the matrix names routes the app no longer has"
    assert all(set(case.expect) == set(ROLES) for case in CASES)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Small documents, so the demo content makes archive pages.
    return dataclasses.replace(settings, feed_items=3, archive_page_items=2)


class Targets:
    """Fresh things for one case to read or destroy, made directly through the use cases."""

    def __init__(self, sessions: sessionmaker[Session], settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings
        self.counter = itertools.count(1)

    def fresh(self) -> str:
        return f"矩陣{next(self.counter)}號"

    def make(self, name: str, made: dict[str, str]) -> str:
        now = datetime.now(UTC)

        def partner(s: Session) -> Partner:
            return s.get(Partner, int(made["partner"])) or _missing()

        with db.transaction(self.sessions) as session:
            maker: Callable[[Session], object] = {
                "article": lambda s: (
                    publishing.create_article(
                        s,
                        {"title": self.fresh(), "status": "published", "tags": ["矩陣"]},
                        now,
                        self.settings,
                    ).id
                ),
                "tag": lambda s: taxonomy.create_tag(s, self.fresh(), None, now).slug,
                "section": lambda s: taxonomy.create_section(s, {"name": self.fresh()}, now).slug,
                "user": lambda s: users.create_user(s, self.fresh(), PASSWORD, "editor", now).id,
                "token": lambda s: tokens.create_token_row(s, "editor", now)[0].id,
                "partner": lambda s: partners.create_partner(s, self.fresh(), now).id,
                "partner_token": lambda s: partners.mint_token(s, partner(s), now)[0].id,
            }[name]
            return str(maker(session))


def _missing() -> Partner:
    raise AssertionError("partner_token needs a partner made first")


def sign_in(client: FlaskClient, username: str) -> None:
    client.get("/desk/login")
    answer = client.post(
        "/desk/login",
        data={"username": username, "password": PASSWORD, "csrf_token": csrf(client)},
    )
    assert answer.status_code == 302, answer.data[:300]


def csrf(client: FlaskClient) -> str:
    with client.session_transaction() as session:
        token = session.get("csrf")
    if token is None:  # an anonymous visitor gets one from the sign-in page
        client.get("/desk/login")
        with client.session_transaction() as session:
            token = session.get("csrf")
    return str(token)


def fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**names)
    if isinstance(value, dict):
        return {k: fill(v, names) for k, v in value.items()}
    return value


@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(
    role: str,
    client: FlaskClient,
    sessions: sessionmaker[Session],
    settings: Settings,
    demo_loaded: None,
) -> None:
    targets = Targets(sessions, settings)
    now = datetime.now(UTC)
    headers: dict[str, str] = {}
    username = "nobody"
    with db.transaction(sessions) as session:
        partner = partners.create_partner(session, "矩陣夥伴", now)
        partners.grant(session, partner, "/feeds/sections/lehuo-hot", now)
        _row, partner_token = partners.mint_token(session, partner, now)
        if role in ("editor", "admin"):
            username = f"矩陣{role}"
            users.create_user(session, username, PASSWORD, role, now)
            headers["Authorization"] = f"Bearer {tokens.create_token(session, role, now)}"
    if role == "partner":
        headers["Authorization"] = f"Bearer {partner_token}"
    if role in ("editor", "admin"):
        sign_in(client, username)

    wrong = []
    for case in CASES:
        names = {"fresh": targets.fresh(), "username": username}
        for target in case.targets:
            names[target] = targets.make(target, names)
        path = fill(case.path, names)
        form = None
        if case.form is not None:
            form = {**fill(case.form, names), "csrf_token": csrf(client)}
        answer = client.open(
            path, method=case.method, headers=headers, json=fill(case.json, names), data=form
        )
        answer.close()  # static files are sent from an open file
        got = classify(answer.status_code, answer.headers.get("Location"))
        if got != case.expect[role]:
            wrong.append(
                f"{case.method} {path}: {got} ({answer.status_code}), want {case.expect[role]}"
            )
    assert wrong == []


def test_editors_cannot_rename_or_reroute_by_api(
    client: FlaskClient, auth: dict[str, str], demo_loaded: None
) -> None:
    """As on the desk: routing for many feeds at once is an admin's call, and a refusal
    changes nothing."""
    renamed = client.patch("/api/tags/yuyao", json={"name": "餘姚市"}, headers=auth)
    rerouted = client.patch(
        "/api/sections/lehuo-hot", json={"rule_any_tags": ["余姚"]}, headers=auth
    )
    assert (renamed.status_code, rerouted.status_code) == (403, 403)
    assert renamed.headers["Content-Type"] == "application/problem+json"
    assert client.get("/api/tags/yuyao", headers=auth).get_json()["name"] == "余姚"
    rules = client.get("/api/sections/lehuo-hot", headers=auth).get_json()["rule_any_tags"]
    assert "余姚" not in rules
