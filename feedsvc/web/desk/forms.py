"""The article form: HTML form fields <-> the API's field names, validation, ingest warnings.

Validation reuses the API's pydantic schema, so the desk accepts exactly what the API does;
errors come back keyed by field so each page shows them beside the input they concern.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from pydantic import ValidationError
from werkzeug.datastructures import MultiDict

from feedsvc.ingest import clean_source_text
from feedsvc.models import Article
from feedsvc.text import HAN
from feedsvc.web import schemas

TEXT_FIELDS = ("title", "summary", "content_html", "author", "source", "link", "language")
OPTIONAL = ("author", "source", "link", "language")
# Editors separate tags with ASCII or full-width commas, the enumeration comma or new lines.
_SEPARATORS = re.compile(r"[,，、;；\n]+")


def split_names(raw: str) -> list[str]:
    return [n.strip() for n in _SEPARATORS.split(raw) if n.strip()]


@dataclass
class ArticleForm:
    """What the editor typed (strings, as typed) and what is wrong with it, by field."""

    values: dict[str, str]
    sections: list[str]
    errors: dict[str, str] = field(default_factory=dict)
    warnings: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def blank(cls, language: str) -> ArticleForm:
        values = dict.fromkeys((*TEXT_FIELDS, "tags", "published_at"), "")
        values.update(language=language, status="draft")
        return cls(values, [])

    @classmethod
    def of(cls, article: Article, tz: str) -> ArticleForm:
        values = {name: getattr(article, name) or "" for name in TEXT_FIELDS}
        values["status"] = article.status
        values["tags"] = "，".join(t.name for t in article.tags)
        when = article.published_at
        values["published_at"] = (
            when.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%dT%H:%M") if when else ""
        )
        return cls(values, [s.slug for s in article.sections])

    @classmethod
    def from_request(cls, form: MultiDict[str, str]) -> ArticleForm:
        values = {name: form.get(name, "") for name in (*TEXT_FIELDS, "tags", "published_at")}
        values["status"] = form.get("status", "draft")
        return cls(values, form.getlist("sections"))

    def fields(self, tz: str) -> dict[str, Any] | None:
        """The API fields for publishing, or None with `errors` filled in."""
        data: dict[str, Any] = {name: self.values[name] for name in TEXT_FIELDS}
        for name in OPTIONAL:
            if not data[name].strip():
                data[name] = None
        data["status"] = self.values["status"]
        data["tags"] = split_names(self.values["tags"])
        data["sections"] = self.sections
        raw_when = self.values["published_at"].strip()
        data["published_at"] = None
        if raw_when:
            try:
                when = datetime.fromisoformat(raw_when)
            except ValueError:
                self.errors["published_at"] = _("not a date and time")
            else:
                if when.tzinfo is None:
                    when = when.replace(tzinfo=ZoneInfo(tz))  # the portal's zone, as shown
                data["published_at"] = when.isoformat()
        try:
            checked = schemas.ArticleCreate.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                name = str(err["loc"][0]) if err["loc"] else "title"
                self.errors.setdefault(name, _message(err["type"], err["msg"]))
        if self.errors:
            return None
        result = checked.model_dump()
        if result["language"] is None:
            result.pop("language")  # publishing falls back to the portal's language
        return result

    def check_text(self) -> None:
        """Fill `warnings` with what cleaning will change in each text field."""
        for name in (*TEXT_FIELDS, "tags"):
            found = ingest_warnings(self.values.get(name, ""))
            if found:
                self.warnings[name] = found


def _message(kind: str, fallback: str) -> str:
    """The editor's-language wording of the pydantic errors a form can produce."""
    known: dict[str, str] = {
        "missing": _("is required"),
        "string_too_short": _("is required"),
        "string_too_long": _("is too long"),
        "string_pattern_mismatch": _("is not a valid language tag, e.g. zh-Hant"),
        "literal_error": _("is not one of the choices"),
        "too_long": _("has too many entries"),
    }
    if kind == "value_error" and "http" in fallback:
        return str(_("must be an absolute http(s) URL"))
    return known.get(kind, fallback)


# Runs of Latin-1 / cp1252 letters and punctuation: where UTF-8 read with the wrong
# codec ends up.
_LATIN_RUN = re.compile("[\u0080-\u02ff\u2010-\u2122]{3,}")
_HAN = re.compile(HAN)


def looks_like_mojibake(value: str) -> bool:
    """True if some run of the text, re-encoded as Latin-1/cp1252, decodes as Chinese UTF-8."""
    for run in _LATIN_RUN.findall(value):
        for codec in ("cp1252", "latin-1"):
            try:
                fixed = run.encode(codec).decode("utf-8")
            except UnicodeError:
                continue
            if _HAN.search(fixed):
                return True
    return False


def ingest_warnings(value: str) -> list[str]:
    """Messages about characters cleaning will strip and text that looks like mojibake.

    The ingest package's cleaner (feedsvc.ingest.clean_source_text) reports GBK mojibake,
    private-use characters and how many XML-illegal characters it strips; UTF-8 read as
    Latin-1, which it does not look for, is checked here.
    """
    if not value:
        return []
    cleaned = clean_source_text(value)
    messages = [str(w.message) for w in cleaned.warnings]
    if cleaned.invalid_removed:
        messages.append(
            _("%(n)d invisible control character(s) will be removed", n=cleaned.invalid_removed)
        )
    found_mojibake = any(w.kind in ("mojibake", "mojibake-repaired") for w in cleaned.warnings)
    if not found_mojibake and looks_like_mojibake(value):
        messages.append(_("looks like garbled text (UTF-8 read as Latin-1?)"))
    return messages
