"""The API's OpenAPI 3.1 document, its docs page, and the security headers of every response.

The document must be valid OpenAPI, describe exactly the /api operations Flask routes, and
show the very schemas pydantic validates with; the docs page must be readable without a
token and fetch nothing. The last part pins the fixes for what schemathesis found.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask import Flask, Response
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator

from feedsvc.web import openapi, schemas
from feedsvc.web.desk import CSP as DESK_CSP

Json = dict[str, Any]
PROBLEM = "application/problem+json"
IGNORED_METHODS = {"HEAD", "OPTIONS"}


def fetch_document(client: FlaskClient) -> Json:
    response = client.get("/api/openapi.json")  # no token: the contract is public
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    doc: Json = response.get_json()
    return doc


def routed_operations(app: Flask) -> set[tuple[str, str]]:
    """(OpenAPI path, method) of every rule of the api blueprint and its children."""
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api."):
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
            found |= {(path, m) for m in (rule.methods or set()) - IGNORED_METHODS}
    return found


def documented_operations(doc: Json) -> set[tuple[str, str]]:
    return {(path, m.upper()) for path, methods in doc["paths"].items() for m in methods}


def conforms(doc: Json, schema_name: str, instance: Any) -> list[str]:
    """Errors of `instance` against one component schema, formats (date-time) checked."""
    root = {"$ref": f"#/components/schemas/{schema_name}", "components": doc["components"]}
    validator = Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [e.message for e in validator.iter_errors(instance)]


# --- the document --------------------------------------------------------------------------


def test_document_is_valid_openapi_3_1(client: FlaskClient) -> None:
    doc = fetch_document(client)
    assert doc["openapi"].startswith("3.1")
    errors = [e.message for e in OpenAPIV31SpecValidator(doc).iter_errors()]
    assert errors == []


def test_every_routed_api_operation_is_documented_and_nothing_else(
    app: Flask, client: FlaskClient
) -> None:
    doc = fetch_document(client)
    assert routed_operations(app) == documented_operations(doc)
    assert len(documented_operations(doc)) == len(openapi.OPERATIONS)


def test_a_new_endpoint_without_documentation_is_caught(app: Flask) -> None:
    app.add_url_rule("/api/shiny", endpoint="api.shiny", view_func=lambda: "")
    doc = openapi.build(app)
    assert ("/api/shiny", "GET") in routed_operations(app) - documented_operations(doc)


def test_request_bodies_are_the_schemas_pydantic_validates_with(client: FlaskClient) -> None:
    doc = fetch_document(client)
    components = doc["components"]["schemas"]
    for model in (
        schemas.ArticleCreate,
        schemas.ArticlePatch,
        schemas.TagCreate,
        schemas.SectionCreate,
        schemas.TagNames,
    ):
        own = model.model_json_schema(ref_template=openapi.REF)
        own.pop("$defs", None)
        assert components[model.__name__] == own, model.__name__
    body = doc["paths"]["/api/articles/{article_id}"]["patch"]["requestBody"]
    assert body["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ArticlePatch"
    }
    # What validation refuses shows in the document: unknown fields, bounds, enums.
    article = components["ArticleCreate"]
    assert article["additionalProperties"] is False
    assert article["required"] == ["title"]
    assert article["properties"]["title"]["maxLength"] == 1000
    status_choices = article["properties"]["status"]["anyOf"][0]["enum"]
    assert status_choices == ["draft", "scheduled", "published", "retracted"]


def test_operations_declare_auth_problems_and_parameters(client: FlaskClient) -> None:
    doc = fetch_document(client)
    assert doc["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    assert doc["security"] == [{"bearer": []}]
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            where = f"{method.upper()} {path}"
            for status in ("401", "403"):
                assert op["responses"][status]["content"][PROBLEM]["schema"] == problem_ref, where
            if "requestBody" in op:
                assert {"400", "413", "422"} <= set(op["responses"]), where
            named = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert named == set(re.findall(r"{(\w+)}", path)), where
    listing = doc["paths"]["/api/articles"]["get"]
    assert [p["name"] for p in listing["parameters"]] == [
        "status",
        "tag",
        "section",
        "limit",
        "offset",
    ]
    assert listing["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ArticlePage"
    }
    assert "204" in doc["paths"]["/api/tags/{ref}"]["delete"]["responses"]
    created = doc["paths"]["/api/tags"]["post"]["responses"]["201"]
    assert created["headers"]["Location"]["required"] is True


def test_answers_conform_to_the_documented_schemas(
    client: FlaskClient, auth: dict[str, str], demo_loaded: None
) -> None:
    doc = fetch_document(client)
    body = {"title": "小鎮規(guī)?;\ue1e5l(fā)展", "status": "published", "tags": ["鄭州"]}
    cleaned = client.post("/api/articles?clean=source", headers=auth, json=body)
    assert cleaned.status_code == 201
    answer = cleaned.get_json()
    assert answer["warnings"]
    assert answer["held_as_draft"] is True
    assert conforms(doc, "SourceArticleOut", answer) == []
    assert conforms(doc, "ArticleOut", answer) != []  # warnings are not an ArticleOut field
    pairs = [
        ("/api/articles?limit=3", "ArticlePage"),
        (f"/api/articles/{answer['id']}", "ArticleOut"),
        (f"/api/articles/{answer['id']}/feeds", "ArticleFeeds"),
        ("/api/tags", "TagList"),
        ("/api/sections", "SectionList"),
        ("/api/articles/999999", "Problem"),
    ]
    for url, name in pairs:
        response = client.get(url, headers=auth)
        assert conforms(doc, name, response.get_json()) == [], url


# --- the docs page -------------------------------------------------------------------------


def test_docs_page_lists_every_operation_and_schema_and_fetches_nothing(
    client: FlaskClient,
) -> None:
    doc = fetch_document(client)
    response = client.get("/api/docs")  # no token
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    for path, method in documented_operations(doc):
        assert re.search(rf"{method}</span> {re.escape(path)}</h3>", page), (method, path)
    for name in doc["components"]["schemas"]:
        assert f'id="schema-{name}"' in page
    assert "鄭州新開放三處景區" in page  # a request example, unescaped Chinese
    assert "<script" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing off-site
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


def test_the_rest_of_the_api_still_needs_a_token(client: FlaskClient) -> None:
    for url in ("/api/articles", "/api/tags", "/api/preview/feeds/all.rss"):
        response = client.get(url)
        assert response.status_code == 401, url
        assert response.mimetype == PROBLEM


# --- security headers ----------------------------------------------------------------------


def assert_baseline(response: Response | Any) -> None:
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_every_response_carries_nosniff_and_a_referrer_policy(
    client: FlaskClient, auth: dict[str, str], demo_loaded: None
) -> None:
    for url, headers in (
        ("/feeds/all.rss", {}),
        ("/feeds/nope.rss", {}),
        ("/healthz", {}),
        ("/api/articles", auth),
        ("/api/articles", {}),
        ("/api/openapi.json", {}),
    ):
        response = client.get(url, headers=headers)
        assert_baseline(response)
        if response.mimetype != "text/html":
            assert "X-Frame-Options" not in response.headers, url
            assert "Content-Security-Policy" not in response.headers, url


def test_html_pages_may_not_be_framed(client: FlaskClient, demo_loaded: None) -> None:
    response = client.get("/feeds")
    assert response.mimetype == "text/html"
    assert_baseline(response)
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    docs = client.get("/api/docs")
    assert "frame-ancestors 'none'" in docs.headers["Content-Security-Policy"]
    assert docs.headers["X-Frame-Options"] == "DENY"


def test_the_desks_own_headers_are_kept(client: FlaskClient) -> None:
    response = client.get("/desk/login")
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == DESK_CSP
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers.getlist("X-Frame-Options") == ["DENY"]


# --- what the fuzzer found -----------------------------------------------------------------


@pytest.mark.parametrize(
    "request_line",
    [
        "GET /api/articles/4294967296",  # past PostgreSQL's integer: the driver refused
        "GET /api/articles/99999999999999999999999/feeds",  # past 64 bits: SQLite refused
        "DELETE /api/articles/4294967296",
        "DELETE /api/articles/2147483648/tags/henan",
        "GET /api/tags/a%00b",  # PostgreSQL text cannot hold NUL
        "DELETE /api/sections/a%00b",
    ],
)
def test_impossible_refs_are_not_found(
    client: FlaskClient, auth: dict[str, str], request_line: str
) -> None:
    method, url = request_line.split()
    response = client.open(url, method=method, headers=auth)
    assert response.status_code == 404, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    assert client.open(url, method=method).status_code == 401  # the token is checked first


def test_nul_in_a_query_is_refused_and_huge_offsets_are_clamped(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    for query in ("tag=a%00b", "status=draft%00", "section=%00"):
        response = client.get(f"/api/articles?{query}", headers=auth)
        assert response.status_code == 422, query
        assert json.loads(response.get_data(as_text=True))["errors"][0]["field"] in query
    response = client.get("/api/articles?offset=99999999999999999999999", headers=auth)
    assert response.status_code == 200
    assert response.get_json()["offset"] == 2**63 - 1


@pytest.mark.parametrize(
    "published_at", ["0041-09-20T06:39:22Z", "1969-12-31T23:59:59Z", "9999-12-31T23:00:00Z"]
)
def test_implausible_publication_times_are_refused(
    client: FlaskClient, auth: dict[str, str], published_at: str
) -> None:
    body = {"title": "標題", "published_at": published_at}
    response = client.post("/api/articles", headers=auth, json=body)
    assert response.status_code == 422
    assert response.get_json(force=True)["errors"][0]["field"] == "published_at"
    edge = client.post(
        "/api/articles",
        headers=auth,
        json={"title": "標題", "published_at": "1970-01-01T08:00:00+08:00"},
    )
    assert edge.status_code == 201
    assert edge.get_json()["published_at"] == "1970-01-01T08:00:00+08:00"


def test_documented_idempotency_keys_are_honoured(
    client: FlaskClient, admin_auth: dict[str, str]
) -> None:
    """Every POST the document says takes an Idempotency-Key writes once when retried, and
    every operation documents the throttling and outage problems it can answer."""
    doc = fetch_document(client)
    bodies = {"/api/articles": {"title": "冪等"}, "/api/tags": {"name": "冪等"}}
    bodies["/api/sections"] = {"name": "冪等欄目"}
    keyed = []
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            assert {"429", "503"} <= set(op["responses"]), f"{method} {path}"
            assert "Retry-After" in op["responses"]["429"]["headers"]
            if any(p["name"] == "Idempotency-Key" for p in op.get("parameters", [])):
                keyed.append(path)
                headers = {**admin_auth, "Idempotency-Key": f"doc-{path}"}
                first = client.post(path, headers=headers, json=bodies[path])
                again = client.post(path, headers=headers, json=bodies[path])
                assert first.status_code == again.status_code == 201, first.get_data()
                assert again.headers["Idempotent-Replayed"] == "true"
                assert again.get_json() == first.get_json()
    assert sorted(keyed) == sorted(bodies)
