"""Storing a read source document: clean every field, then create articles.

Each article goes through ``publishing.create_article`` in the caller's transaction, so a
file imports whole or not at all. An article with any warning is stored as a draft; with
``publish=True`` the clean ones are published (or scheduled, when their time is ahead).
Sections the articles name are created when missing. Relative URLs in bodies are resolved
against the article's link, else the site's home page.

Creating a section is a routing change, so the import takes the routing lock exclusive
before it reads anything (db.lock_routing): taken shared by its first article and then
asked for exclusive by a later new section, it could deadlock with another import.
"""

from __future__ import annotations

import dataclasses
import html
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedsvc import db, publishing, taxonomy, text
from feedsvc.config import Settings
from feedsvc.ingest.clean import IngestWarning, clean_fields, clean_source_text
from feedsvc.ingest.sources import SourceArticle, SourceDocument
from feedsvc.models import Section

__all__ = ["ImportReport", "Imported", "import_document", "summary_of"]

SUMMARY_CHARS = 100
_FIRST_PARAGRAPH = re.compile(r"<p>(.*?)</p>", re.S)
_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class Imported:
    id: int
    slug: str
    status: str
    title: str
    warnings: tuple[IngestWarning, ...]


@dataclass(frozen=True)
class ImportReport:
    articles: tuple[Imported, ...]
    pinyin_removed: int


def summary_of(content_html: str) -> str:
    """The first paragraph as plain text, cut at SUMMARY_CHARS with an ellipsis."""
    first = _FIRST_PARAGRAPH.search(content_html)
    plain = html.unescape(_TAG.sub("", first.group(1) if first else content_html)).strip()
    return plain if len(plain) <= SUMMARY_CHARS else plain[:SUMMARY_CHARS] + "…"


def _is_http(url: str) -> bool:
    return url.startswith(("http://", "https://"))


def _clean_names(names: tuple[str, ...], field: str) -> tuple[list[str], list[IngestWarning], int]:
    cleaned: list[str] = []
    warnings: list[IngestWarning] = []
    removed = 0
    for i, raw in enumerate(names):
        result = clean_source_text(text.clean_text(raw))
        removed += result.pinyin_removed
        warnings.extend(dataclasses.replace(w, field=f"{field}[{i}]") for w in result.warnings)
        if result.text:
            cleaned.append(result.text)
    return cleaned, warnings, removed


def prepare(
    article: SourceArticle, settings: Settings
) -> tuple[dict[str, Any], tuple[IngestWarning, ...], int]:
    """The fields for ``create_article`` (status not set), their warnings, pinyin removed."""
    link = article.link.strip() if _is_http(article.link.strip()) else ""
    raw: dict[str, Any] = {
        "title": article.title,
        "summary": article.summary,
        "content_html": article.content_html,
        "author": article.author or None,
        "source": article.source or None,
        "original_source": article.original_source or None,
    }
    fields, warnings, removed = clean_fields(raw, base_url=link or settings.site_url)
    all_warnings = list(warnings)
    # A body made from the summary, or a summary made from the body, is built from the
    # cleaned text: its warnings were reported once, on the field it came from.
    if not fields["content_html"] and fields["summary"]:
        fields["content_html"] = f"<p>{html.escape(fields['summary'], quote=False)}</p>"
    elif not fields["summary"] and fields["content_html"]:
        fields["summary"] = summary_of(fields["content_html"])
    for name in ("tags", "sections"):
        names, found, count = _clean_names(getattr(article, name), name)
        fields[name] = names
        all_warnings.extend(found)
        removed += count
    if link:
        fields["link"] = link
    if article.language:
        fields["language"] = article.language
    if article.slug and text.is_valid_slug(article.slug):
        fields["slug"] = article.slug
    if article.published_at is not None:
        fields["published_at"] = article.published_at
    return fields, tuple(all_warnings), removed


def _ensure_sections(
    session: Session, names: list[str], described: dict[str, str], now: datetime, known: set[str]
) -> None:
    """Create the sections named that do not exist; `known` holds names already checked."""
    for name in names:
        if name in known:
            continue
        if session.scalar(select(Section.id).where(Section.name == name)) is None:
            taxonomy.create_section(
                session, {"name": name, "description": described.get(name)}, now
            )
        known.add(name)


def import_document(
    session: Session,
    document: SourceDocument,
    now: datetime,
    settings: Settings,
    publish: bool = False,
) -> ImportReport:
    """Create every article of `document` in `session`; see the module docstring."""
    db.lock_routing(session, exclusive=True)
    described = {text.clean_text(name): desc for name, desc in document.sections}
    done: list[Imported] = []
    known: set[str] = set()
    removed = 0
    for source in document.articles:
        fields, warnings, count = prepare(source, settings)
        removed += count
        _ensure_sections(session, fields["sections"], described, now, known)
        fields["status"] = "published" if publish and not warnings else "draft"
        article = publishing.create_article(session, fields, now, settings)
        done.append(Imported(article.id, article.slug, article.status, article.title, warnings))
    return ImportReport(tuple(done), removed)
