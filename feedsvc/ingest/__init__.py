"""Importing articles from dirty sources: cleaning with warnings, and readers.

The pure API, stable for callers such as the editors' desk:

* ``clean_source_text(text) -> Cleaned`` with ``Cleaned.text`` and ``Cleaned.warnings``
  (``IngestWarning``: kind, start, end, excerpt, message, field);
* ``clean_fields(fields, base_url)`` cleans an article's text fields the same way;
* ``read_document(data, fmt)`` reads the portal's JSON, an RSS/Atom feed (safely) or a
  plain-text page into a ``SourceDocument`` of raw ``SourceArticle`` values.

Writing to the database is ``feedsvc.ingest.importer`` (not imported here, so this package
stays free of SQLAlchemy).
"""

from feedsvc.ingest.clean import (
    KINDS,
    Cleaned,
    IngestWarning,
    WarningKind,
    clean_fields,
    clean_source_text,
)
from feedsvc.ingest.sources import (
    FORMATS,
    Format,
    IngestError,
    SourceArticle,
    SourceDocument,
    detect_format,
    read_document,
)

__all__ = [
    "FORMATS",
    "KINDS",
    "Cleaned",
    "Format",
    "IngestError",
    "IngestWarning",
    "SourceArticle",
    "SourceDocument",
    "WarningKind",
    "clean_fields",
    "clean_source_text",
    "detect_format",
    "read_document",
]
