"""Checker 2: every Atom document against RFC 4287's RELAX NG schema (Debian's jing) and the
schema's Schematron rules, which jing does not evaluate, checked with lxml XPath.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conformance import checks
from tests.conformance.conftest import Rendered
from tests.conformance.documents import Document

SCHEMA = Path(__file__).resolve().parents[1] / "data" / "atom.rnc"


def jing(files: list[Path]) -> subprocess.CompletedProcess[str]:
    # One JVM for every file: jing checks each and reports all errors, exit 1 if any.
    return subprocess.run(
        ["jing", "-c", str(SCHEMA), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def write_all(docs: list[Document], directory: Path) -> dict[Path, Document]:
    files = {}
    for number, doc in enumerate(docs):
        path = directory / f"{number:03d}.atom"
        path.write_bytes(doc.body)
        files[path] = doc
    return files


def test_jing_rejects_an_invalid_atom_document(tmp_path: Path) -> None:
    # Guards the check below: an entry without <updated> must fail validation.
    bad = tmp_path / "bad.atom"
    bad.write_text(
        '<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:x</id><title>t</title>'
        "<updated>2026-01-01T00:00:00Z</updated><author><name>a</name></author>"
        "<entry><id>urn:y</id><title>e</title></entry></feed>",
        "utf-8",
    )
    done = jing([bad])
    assert done.returncode == 1
    assert 'missing required element "updated"' in done.stdout


def test_every_atom_document_is_valid_against_rfc_4287(rendered: Rendered, tmp_path: Path) -> None:
    docs = rendered.of_format("atom")
    assert len(docs) > 30
    files = write_all(docs, tmp_path)
    done = jing(list(files))
    # Name the feed, not the temporary file, in each error line.
    report = done.stdout
    for path, doc in files.items():
        report = report.replace(str(path), doc.path)
    assert done.returncode == 0, report
    assert report == ""


@pytest.mark.parametrize("rule", ["feed", "entry"])
def test_every_atom_document_meets_the_schematron_rules(rendered: Rendered, rule: str) -> None:
    problems: list[str] = []
    for doc in rendered.of_format("atom"):
        found = checks.atom_schematron(doc.xml())
        mine = [p for p in found if p.startswith("atom:feed" if rule == "feed" else "entry")]
        problems.extend(f"{doc}: {p}" for p in mine)
    assert problems == []
