"""The OpenAPI 3.1 document of the editor API, and the two public pages that show it.

The document is built from the pydantic models in web/schemas.py, the same ones that
validate request bodies and write response bodies, and from Flask's url_map: paths and
path parameters come from the registered rules, so they cannot drift from the routing.
What the map cannot say (summaries, query parameters, which model answers, which problems
an operation can answer) is in OPERATIONS, keyed by endpoint; tests/test_openapi.py fails
when an /api endpoint has no entry.

`GET /api/openapi.json` and `GET /api/docs` need no token: this blueprint is not a child of
the api blueprint, so its token check does not run here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, get_args

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template
from markupsafe import Markup, escape
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from feedsvc.idempotency import MAX_KEY_LENGTH
from feedsvc.publishing import MAX_ID
from feedsvc.types import MEDIA_TYPES
from feedsvc.web import schemas
from feedsvc.web.api.admin import MAX_PULLS
from feedsvc.web.api.articles import MAX_INT, MAX_PAGE
from feedsvc.web.api.common import KEY_HEADER, KEY_TEXT
from feedsvc.web.problems import MEDIA_TYPE as PROBLEM_MEDIA_TYPE

bp = Blueprint("api_docs", __name__, template_folder="templates")

REF = "#/components/schemas/{model}"
PROBLEM_TITLES = {
    400: "Malformed JSON, or a body that is not a JSON object",
    401: "No token, or an unknown or revoked one",
    403: "The token's role may not use the editor API",
    404: "Not found",
    409: "A slug or name is already taken",
    413: "The body is larger than FEEDSVC_MAX_REQUEST_BYTES",
    422: "An invalid or unknown field or query parameter, named in errors[].field",
    429: "Too many requests for this token (FEEDSVC_API_RATE_LIMIT); see Retry-After",
    503: "The database is unreachable for the moment; see Retry-After",
}
# Creating POSTs that honour an Idempotency-Key (web/api/common.write_once).
IDEMPOTENT = frozenset(
    {"api.articles.create_article", "api.taxonomy.create_tag", "api.taxonomy.create_section"}
)
IDEMPOTENCY_HEADER = {
    "name": KEY_HEADER,
    "in": "header",
    "required": False,
    "description": "Any printable ASCII text: a retry with the same key and body is answered "
    "as the first request was (`Idempotent-Replayed: true`) and writes nothing; the same key "
    "with another body is a 422. Keys last FEEDSVC_IDEMPOTENCY_KEY_SECONDS.",
    "schema": {"type": "string", "maxLength": MAX_KEY_LENGTH, "pattern": KEY_TEXT.pattern},
}
BODY_PROBLEMS = (400, 413, 422)
ADMIN = " Admin role only: editors and partners get 403."
REF_DESCRIPTION = "a slug, or the Chinese name (percent-encoded)"
# Examples name the demo content (`feedsvc demo`): docs readers and the fuzzer both use them.
PATH_PARAMETERS: dict[str, tuple[str, Any]] = {
    "article_id": ("the article's numeric id", 1),
    "feed": ("a feed path with its format", "feeds/sections/lehuo-hot.atom"),
    # The admin operations' examples name what tests/support/admin_seed.py seeds.
    "user_id": ("the user's numeric id", 1),
    "token_id": ("the token's numeric id", 1),
    "partner_id": ("the partner's numeric id", 1),
}


@dataclass(frozen=True)
class Operation:
    """What the url_map cannot tell about one endpoint's one method."""

    summary: str
    response: type[BaseModel] | None = None  # None: 204 No Content
    status: int = 200
    body: type[BaseModel] | None = None
    query: tuple[dict[str, Any], ...] = ()
    problems: tuple[int, ...] = ()
    examples: dict[str, Any] = field(default_factory=dict)
    description: str = ""


def query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


ARTICLE_EXAMPLE = {
    "title": "鄭州新開放三處景區",
    "summary": "三處景區本周末起免門票開放。",
    "content_html": "<p>三處景區本周末起免門票開放。</p>",
    "author": "記者 王明",
    "source": "大象新聞",
    "status": "published",
    "published_at": "2026-11-26T09:30:00+08:00",
    "tags": ["鄭州", "景區"],
    "sections": ["資訊播報"],
}
SECTION_EXAMPLE = {"name": "文旅", "description": "文化與旅遊", "rule_any_tags": ["景區"]}

OPERATIONS: dict[tuple[str, str], Operation] = {
    ("api.articles.list_articles", "GET"): Operation(
        "List articles, newest first",
        schemas.ArticlePage,
        query=(
            query(
                "status",
                "only articles in this status",
                {"type": "string", "enum": list(get_args(schemas.Status))},
            ),
            query("tag", f"only articles with this tag: {REF_DESCRIPTION}", {"type": "string"}),
            query(
                "section",
                f"only articles placed in this section: {REF_DESCRIPTION}",
                {"type": "string"},
            ),
            query(
                "limit",
                "page size (out-of-range values are clamped)",
                {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 50},
            ),
            query(
                "offset",
                "items to skip (larger values are clamped)",
                {"type": "integer", "minimum": 0, "maximum": MAX_INT, "default": 0},
            ),
        ),
        problems=(404, 422),
    ),
    ("api.articles.create_article", "POST"): Operation(
        "Create an article",
        schemas.ArticleOut,  # with ?clean=source, SourceArticleOut: see success()
        status=201,
        body=schemas.ArticleCreate,
        query=(
            query(
                "clean",
                "`source`: clean the text like `feedsvc import` and answer with "
                "warnings; the body may then also say `accept_warnings: true`",
                {"type": "string", "enum": ["source"]},
            ),
        ),
        problems=(409, *BODY_PROBLEMS),
        examples={"published article": ARTICLE_EXAMPLE},
    ),
    ("api.articles.read_article", "GET"): Operation(
        "Read an article", schemas.ArticleOut, problems=(404,)
    ),
    ("api.articles.update_article", "PATCH"): Operation(
        "Change some fields of an article",
        schemas.ArticleOut,
        body=schemas.ArticlePatch,
        problems=(404, 409, *BODY_PROBLEMS),
        examples={"new title": {"title": "鄭州新開放四處景區"}},
    ),
    ("api.articles.delete_article", "DELETE"): Operation(
        "Delete an article", status=204, problems=(404,)
    ),
    ("api.articles.add_tags", "POST"): Operation(
        "Add tags to an article (created when new)",
        schemas.ArticleOut,
        body=schemas.TagNames,
        problems=(404, *BODY_PROBLEMS),
        examples={"one tag": {"tags": ["元宵"]}},
    ),
    ("api.articles.remove_tag", "DELETE"): Operation(
        "Remove one tag from an article", schemas.ArticleOut, problems=(404,)
    ),
    ("api.articles.article_feeds", "GET"): Operation(
        "The feeds an article appears in", schemas.ArticleFeeds, problems=(404,)
    ),
    ("api.taxonomy.list_tags", "GET"): Operation("List tags", schemas.TagList),
    ("api.taxonomy.create_tag", "POST"): Operation(
        "Create a tag",
        schemas.TagOut,
        status=201,
        body=schemas.TagCreate,
        problems=(409, *BODY_PROBLEMS),
        examples={"tag": {"name": "博物館"}},
    ),
    ("api.taxonomy.read_tag", "GET"): Operation("Read a tag", schemas.TagOut, problems=(404,)),
    ("api.taxonomy.update_tag", "PATCH"): Operation(
        "Rename a tag or change its slug",
        schemas.TagOut,
        body=schemas.TagPatch,
        problems=(404, 409, *BODY_PROBLEMS),
        examples={"rename": {"name": "博物院"}},
    ),
    ("api.taxonomy.delete_tag", "DELETE"): Operation("Delete a tag", status=204, problems=(404,)),
    ("api.taxonomy.list_sections", "GET"): Operation("List sections", schemas.SectionList),
    ("api.taxonomy.create_section", "POST"): Operation(
        "Create a section",
        schemas.SectionOut,
        status=201,
        body=schemas.SectionCreate,
        problems=(409, *BODY_PROBLEMS),
        examples={"section": SECTION_EXAMPLE},
    ),
    ("api.taxonomy.read_section", "GET"): Operation(
        "Read a section", schemas.SectionOut, problems=(404,)
    ),
    ("api.taxonomy.update_section", "PATCH"): Operation(
        "Change a section's name, slug, description or rule",
        schemas.SectionOut,
        body=schemas.SectionPatch,
        problems=(404, 409, *BODY_PROBLEMS),
        examples={"new rule": {"rule_any_tags": ["景區"]}},
    ),
    ("api.taxonomy.delete_section", "DELETE"): Operation(
        "Delete a section", status=204, problems=(404,)
    ),
    ("api.preview.preview", "GET"): Operation(
        "Render a feed as the next render would, without storing it",
        problems=(404,),
        description="`feed` is a feed path with its format: `feeds/all.rss`, "
        "`feeds/tags/yuyao.atom`, `feeds/sections/lehuo-hot.json`.",
    ),
    # --- the admin API (web/api/admin.py) ---------------------------------------------------
    ("api.admin.list_users", "GET"): Operation(
        "List desk users", schemas.UserList, description=ADMIN
    ),
    ("api.admin.create_user", "POST"): Operation(
        "Create a desk user",
        schemas.UserOut,
        status=201,
        body=schemas.UserCreate,
        problems=(409, *BODY_PROBLEMS),
        examples={
            "editor": {"username": "王編輯", "password": "correct horse 1", "role": "editor"}
        },
        description="The password is stored scrypt-hashed." + ADMIN,
    ),
    ("api.admin.disable_user", "POST"): Operation(
        "Disable a desk user: no sign-in, open sessions end",
        schemas.UserOut,
        problems=(404,),
        description=ADMIN,
    ),
    ("api.admin.list_tokens", "GET"): Operation(
        "List API tokens (never their values)", schemas.TokenList, description=ADMIN
    ),
    ("api.admin.create_token", "POST"): Operation(
        "Create an API token",
        schemas.TokenCreated,
        status=201,
        body=schemas.TokenCreate,
        problems=BODY_PROBLEMS,
        examples={"editor": {"role": "editor", "label": "newsroom script"}},
        description="The answer holds the token; it is stored only hashed." + ADMIN,
    ),
    ("api.admin.revoke_token", "DELETE"): Operation(
        "Revoke an API token", status=204, problems=(404,), description=ADMIN
    ),
    ("api.admin.list_partners", "GET"): Operation(
        "List partners with their grants and tokens", schemas.PartnerList, description=ADMIN
    ),
    ("api.admin.create_partner", "POST"): Operation(
        "Create a partner",
        schemas.PartnerOut,
        status=201,
        body=schemas.PartnerCreate,
        problems=(409, *BODY_PROBLEMS),
        examples={"partner": {"name": "大象新聞"}},
        description=ADMIN,
    ),
    ("api.admin.read_partner", "GET"): Operation(
        "Read a partner", schemas.PartnerOut, problems=(404,), description=ADMIN
    ),
    ("api.admin.grant_feed", "POST"): Operation(
        "Grant a partner a feed (every archive page of it too)",
        schemas.PartnerOut,
        body=schemas.FeedGrant,
        problems=(404, *BODY_PROBLEMS),
        examples={"section": {"feed": "/feeds/sections/lehuo-hot"}},
        description=ADMIN,
    ),
    ("api.admin.withdraw_grant", "DELETE"): Operation(
        "Withdraw a grant (harmless when there is none)",
        status=204,
        problems=(404, 422),
        description="`feed` is the feed path without its leading slash." + ADMIN,
    ),
    ("api.admin.revoke_partner", "POST"): Operation(
        "Revoke a partner: its tokens and signed URLs are refused from the next request",
        schemas.PartnerOut,
        problems=(404,),
        description=ADMIN,
    ),
    ("api.admin.rotate_secret", "POST"): Operation(
        "Rotate a partner's URL-signing secret: every signed URL so far stops working",
        schemas.PartnerOut,
        problems=(404,),
        description=ADMIN,
    ),
    ("api.admin.mint_partner_token", "POST"): Operation(
        "Mint a bearer token for a partner",
        schemas.PartnerTokenCreated,
        status=201,
        body=schemas.PartnerTokenCreate,
        problems=(404, 409, *BODY_PROBLEMS),
        examples={"reader": {"label": "their aggregator"}},
        description="The answer holds the token; it is stored only hashed." + ADMIN,
    ),
    ("api.admin.revoke_partner_token", "DELETE"): Operation(
        "Revoke one of a partner's tokens", status=204, problems=(404,), description=ADMIN
    ),
    ("api.admin.signed_url", "GET"): Operation(
        "A signed Atom URL of a feed for a partner",
        schemas.SignedUrl,
        query=(
            {
                **query(
                    "feed",
                    "the feed: /feeds/all, /feeds/tags/<slug>, /feeds/sections/<slug>",
                    {"type": "string", "minLength": 1},
                ),
                "required": True,
                "example": "/feeds/sections/lehuo-hot",
            },
        ),
        problems=(404, 409, 422),
        description="The signature names the feed, so it also opens the feed's archive "
        "pages. The URL works while the feed is granted." + ADMIN,
    ),
    ("api.admin.list_pulls", "GET"): Operation(
        "A partner's pulls, newest first",
        schemas.PartnerPullList,
        query=(
            query(
                "limit",
                "how many",
                {"type": "integer", "minimum": 1, "maximum": MAX_PULLS, "default": 100},
            ),
        ),
        problems=(404, 422),
        description=ADMIN,
    ),
}

REQUEST_MODELS: tuple[type[BaseModel], ...] = (schemas.SourceArticleCreate,)
RESPONSE_MODELS: tuple[type[BaseModel], ...] = (schemas.SourceArticleOut, schemas.Problem)
# Flask's default converter never matches "/"; int never matches a sign.
CONVERTER_SCHEMAS = {
    "int": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
    "path": {"type": "string", "minLength": 1},
    "default": {"type": "string", "minLength": 1, "pattern": "^[^/]+$"},
}
RULE_ARGUMENT = re.compile(r"<(?:(\w+)(?:\(([^)]*)\))?:)?(\w+)>")


def document(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every documented /api operation the app routes."""
    cached: dict[str, Any] | None = app.extensions.get("feedsvc_openapi")
    if cached is None:
        cached = app.extensions["feedsvc_openapi"] = build(app)
    return cached


def build(app: Flask) -> dict[str, Any]:
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = []
    for op in OPERATIONS.values():
        if op.body:
            models.append((op.body, "validation"))
        if op.response:
            models.append((op.response, "serialization"))
    models += [(m, "validation") for m in REQUEST_MODELS]
    models += [(m, "serialization") for m in RESPONSE_MODELS]
    refs, defs = models_json_schema(list(dict.fromkeys(models)), ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            documented = OPERATIONS.get((rule.endpoint, method))
            if documented is None:
                continue  # tests/test_openapi.py fails on it; the document still serves
            path, parameters = openapi_path(rule.rule)
            entry = operation(documented, rule.endpoint, parameters, refs)
            paths.setdefault(path, {})[method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "feedsvc editor API",
            "version": "1",
            "description": "Store, tag and route articles into RSS, Atom and JSON feeds. "
            "Every operation needs `Authorization: Bearer <token>` "
            "(`feedsvc token create --role editor`). Errors are RFC 9457 problem+json.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def openapi_path(rule: str) -> tuple[str, list[dict[str, Any]]]:
    """`/api/articles/<int:article_id>` -> `/api/articles/{article_id}` and its parameter."""
    parameters = []
    for converter, _args, name in RULE_ARGUMENT.findall(rule):
        schema = dict(CONVERTER_SCHEMAS.get(converter or "default", CONVERTER_SCHEMAS["default"]))
        description, example = PATH_PARAMETERS.get(name, (REF_DESCRIPTION, None))
        if example is None:  # a tag's or a section's ref: the demo's, found in the path
            example = "lehuo-hot" if "/sections/" in rule else "henan"
        parameters.append(
            {
                "name": name,
                "in": "path",
                "required": True,
                "description": description,
                "schema": schema,
                "example": example,
            }
        )
    return RULE_ARGUMENT.sub(r"{\3}", rule), parameters


def operation(
    op: Operation, endpoint: str, parameters: list[dict[str, Any]], refs: dict[Any, Any]
) -> dict[str, Any]:
    entry: dict[str, Any] = {"operationId": endpoint.removeprefix("api."), "summary": op.summary}
    entry["tags"] = [endpoint.split(".")[1]]
    if op.description:
        entry["description"] = op.description
    headers = [IDEMPOTENCY_HEADER] if endpoint in IDEMPOTENT else []
    if parameters or op.query or headers:
        entry["parameters"] = [*parameters, *op.query, *headers]
    if op.body:
        content: dict[str, Any] = {"schema": refs[(op.body, "validation")]}
        if op.examples:
            content["examples"] = {k: {"value": v} for k, v in op.examples.items()}
        entry["requestBody"] = {"required": True, "content": {"application/json": content}}
    entry["responses"] = {str(op.status): success(op, endpoint, refs)}
    problem_ref = refs[(schemas.Problem, "serialization")]
    for status in sorted({401, 403, 429, 503, *op.problems}):
        answer: dict[str, Any] = {
            "description": PROBLEM_TITLES[status],
            "content": {PROBLEM_MEDIA_TYPE: {"schema": problem_ref}},
        }
        if status == 401:
            answer["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
        if status in (429, 503):
            answer["headers"] = {"Retry-After": {"schema": {"type": "string"}}}
        entry["responses"][str(status)] = answer
    return entry


def success(op: Operation, endpoint: str, refs: dict[Any, Any]) -> dict[str, Any]:
    if endpoint == "api.preview.preview":
        feed_schemas: dict[str, Any] = {
            "rss": {"type": "string"},
            "atom": {"type": "string"},
            "json": {"type": "object"},
        }
        return {
            "description": "the feed document, not stored (Cache-Control: no-store)",
            "content": {MEDIA_TYPES[f]: {"schema": s} for f, s in feed_schemas.items()},  # type: ignore[index]
        }
    if op.response is None:
        return {"description": "done; no body"}
    schema = refs[(op.response, "serialization")]
    if endpoint == "api.articles.create_article":
        article = refs[(schemas.ArticleOut, "serialization")]
        source = refs[(schemas.SourceArticleOut, "serialization")]
        schema = {"oneOf": [article, source]}
    answer: dict[str, Any] = {
        "description": "created" if op.status == 201 else "OK",
        "content": {"application/json": {"schema": schema}},
    }
    if op.status == 201:
        answer["headers"] = {"Location": {"schema": {"type": "string"}, "required": True}}
    return answer


@bp.get("/api/openapi.json")
def openapi_json() -> Response:
    return jsonify(document(current_app))


@bp.get("/api/docs")
def docs() -> Response:
    doc = document(current_app)
    html = render_template("api_docs.html", doc=doc, pretty=pretty, prose=prose)
    response = Response(html, content_type="text/html; charset=utf-8")
    # A static page: no scripts anywhere, its one stylesheet inline.
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
    )
    return response


def pretty(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)


def prose(text: str) -> Markup:
    """The document's descriptions use Markdown's `code` spans; show them as <code>."""
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(text))))
