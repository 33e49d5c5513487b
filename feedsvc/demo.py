"""The demo content: the seed page's lead article and the 樂活HOT tourism list.

The list items on the seed page carry no times; they are placed 20 minutes apart before
the lead article, keeping the page's order (newest first).
"""

from __future__ import annotations

import html
import json
from datetime import datetime, timedelta
from importlib import resources
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from feedsvc import publishing, taxonomy
from feedsvc.config import Settings
from feedsvc.ingest.importer import summary_of
from feedsvc.models import Article, Section, Tag

LIST_SECTION = "樂活HOT"
# New articles tagged like the tourism items land in the list through this rule; place
# names (河南, 鄭州, 洛陽) are left out because general news carries them too.
LIST_RULE = ("景區", "博物館", "免門票", "門票優惠", "公園", "元宵", "牡丹")
LIST_SPACING = timedelta(minutes=20)


def seed() -> dict[str, Any]:
    raw = resources.files("feedsvc").joinpath("data/demo-articles.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(raw)
    return data


def is_empty(session: Session) -> bool:
    return not any(
        session.scalar(select(func.count()).select_from(model)) for model in (Article, Tag, Section)
    )


def load(session: Session, now: datetime, settings: Settings) -> int:
    """Load the demo sections and articles; returns how many articles were added."""
    data = seed()
    for section in data["sections"]:
        fields: dict[str, Any] = {"name": section["name"], "description": section["role"]}
        if section["name"] == LIST_SECTION:
            fields["rule_any_tags"] = list(LIST_RULE)
        taxonomy.create_section(session, fields, now)

    lead = next(a for a in data["articles"] if a.get("published_at"))
    lead_time = datetime.fromisoformat(lead["published_at"])
    listed = [a for a in data["articles"] if a is not lead]
    for position, item in enumerate(listed, start=1):
        _add(session, item, lead_time - position * LIST_SPACING, now, settings)
    _add(session, lead, lead_time, now, settings)
    return len(listed) + 1


def _add(
    session: Session, item: dict[str, Any], when: datetime, now: datetime, settings: Settings
) -> None:
    content = item.get("content_html") or f"<p>{html.escape(item['summary'])}</p>"
    fields = {
        "title": item["title"],
        "summary": item.get("summary") or summary_of(content),
        "content_html": content,
        "source": item.get("source"),
        "original_source": item.get("original_source"),
        "language": item.get("language") or settings.language,
        "status": "published",
        "published_at": when,
        "tags": item["tags"],
        "sections": [item["section"]],
    }
    if item.get("slug"):
        fields["slug"] = item["slug"]
    publishing.create_article(session, fields, now, settings)
