"""Checker 3: every JSON Feed document against a published JSON Feed 1.1 JSON Schema (the
`jsonschema` library, formats checked), plus the spec's rules the schema cannot express.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.conformance import checks
from tests.conformance.conftest import Rendered

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "data" / "jsonfeed-1.1.schema.json"
VERSION = "https://jsonfeed.org/version/1.1"


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_FILE.read_text("utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    checker = cls.FORMAT_CHECKER
    # Without these the format keywords would be ignored silently.
    assert {"date-time", "uri"} <= set(checker.checkers)
    return cls(schema, format_checker=checker)


def feeds(rendered: Rendered) -> list[tuple[str, Any]]:
    return [(doc.path, doc.json()) for doc in rendered.of_format("json")]


def test_the_schema_rejects_what_it_should(validator: jsonschema.protocols.Validator) -> None:
    good = {"version": VERSION, "title": "t", "items": [{"id": "1", "content_html": "<p>x</p>"}]}
    assert list(validator.iter_errors(good)) == []
    no_content = {"version": VERSION, "title": "t", "items": [{"id": "1"}]}
    bad_date = {
        "version": VERSION,
        "title": "t",
        "items": [{"id": "1", "content_text": "x", "date_published": "2026-01-01 10:00"}],
    }
    unknown = {"version": VERSION, "title": "t", "items": [], "extra": 1}
    for bad in (no_content, bad_date, unknown):
        assert list(validator.iter_errors(bad)), bad


def test_every_json_feed_is_valid_against_the_schema(
    rendered: Rendered, validator: jsonschema.protocols.Validator
) -> None:
    # Among others, the schema's anyOf(content_html, content_text) catches an item whose
    # body is empty or was left out for size (the corpus has both).
    problems = [
        f"{path}: {'/'.join(map(str, error.absolute_path))}: {error.message[:200]}"
        for path, data in feeds(rendered)
        for error in validator.iter_errors(data)
    ]
    assert problems == []


def test_every_json_feed_follows_the_spec_beyond_the_schema(rendered: Rendered) -> None:
    problems = []
    for path, data in feeds(rendered):
        if data.get("version") != VERSION:
            problems.append(f"{path}: version {data.get('version')!r}")
        if not isinstance(data.get("items"), list):
            problems.append(f"{path}: items missing")
            continue
        ids = [item.get("id") for item in data["items"]]
        problems.extend(f"{path}: id {i!r} is not a non-empty string" for i in ids if not i)
        problems.extend(f"{path}: {p}" for p in checks.unique(map(str, ids), "id"))
        for item in data["items"]:
            for name in ("date_published", "date_modified"):
                value = item.get(name)
                if value is not None and not checks.RFC3339.fullmatch(value):
                    problems.append(f"{path}: {item['id']} {name} {value!r} is not RFC 3339")
            if not (item.get("authors") or data.get("authors")):
                problems.append(f"{path}: {item['id']} has no author, nor does the feed")
        # "author" is deprecated in 1.1: a 1.1 feed should only use "authors".
        if "author" in data or any("author" in item for item in data["items"]):
            problems.append(f"{path}: uses the deprecated 1.0 'author' field")
    assert problems == []
