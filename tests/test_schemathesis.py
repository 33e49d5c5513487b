"""Fuzz the editor API against its own OpenAPI document with schemathesis.

The document is fetched from the app itself (`/api/openapi.json`, through schemathesis's
WSGI transport), and every operation is called with generated requests, valid and
invalid, as an editor (the admin operations as an admin), on a real database holding the
demo content. Each response must be no 5xx, carry a status the document lists for that
operation, the media type it lists for that status, and a body its schema accepts.

Runs are bounded (max_examples) and derandomized, so a failure reproduces on every run and
this file stays well under two minutes.
"""

from __future__ import annotations

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.orm import Session, sessionmaker

from feedsvc.web.openapi import OPERATIONS
from tests.support.admin_seed import seed_admin_examples
from tests.test_role_matrix import ADMIN_API, CASES

MAX_EXAMPLES = 100
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


# Every documented operation, by operationId; test_openapi.py proves these are all of /api.
OPERATION_IDS = sorted(endpoint.removeprefix("api.") for endpoint, _ in OPERATIONS)
# What only an admin may call, from the role matrix's one table (admin API, taxonomy changes
# that reroute many feeds at once): run with an admin token.
ADMIN_ONLY = {
    case.endpoint.removeprefix("api.")
    for case in CASES
    if case.endpoint.startswith("api.") and case.expect == ADMIN_API
}


@pytest.mark.parametrize("operation_id", OPERATION_IDS)
def test_api_conforms_to_its_document(
    operation_id: str,
    app: Flask,
    demo_loaded: None,
    auth: dict[str, str],
    sessions: sessionmaker[Session],
) -> None:
    if operation_id in ADMIN_ONLY:
        auth = seed_admin_examples(sessions)  # admin only: as an admin, on seeded examples
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operation = schema.find_operation_by_id(operation_id)
    cases = st.one_of(
        *schema.get_strategies_from_examples(operation),
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @given(case=cases)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def call(case: Case) -> None:
        response = case.call_and_validate(headers=auth, checks=CHECKS)
        statuses.add(response.status_code)

    statuses: set[int] = set()
    call()
    # All 401s or all 422s would conform too: the run must have got through to the work.
    assert any(200 <= s < 300 for s in statuses), sorted(statuses)
