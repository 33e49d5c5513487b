"""Tags and sections: the two ways articles are routed into feeds.

Editors create and read tags. Renaming or deleting a tag and anything about sections change
the addresses or the contents of many feeds at once, so, as on the desk, only admins may.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy import select

from feedsvc import taxonomy
from feedsvc.app import services
from feedsvc.models import Section, Tag
from feedsvc.web import schemas
from feedsvc.web.api.common import (
    parse_body,
    require_admin,
    section_json,
    tag_json,
    write,
    write_once,
)

bp = Blueprint("taxonomy", __name__)


def _admins_only() -> None:
    require_admin("rename or delete tags or change sections")


@bp.get("/tags")
def list_tags() -> Response:
    with services().sessions() as session:
        tags = session.scalars(select(Tag).order_by(Tag.slug))
        return jsonify({"items": [tag_json(t) for t in tags]})


@bp.post("/tags")
def create_tag() -> Response:
    body = parse_body(schemas.TagCreate)
    return write_once(
        lambda s, now: taxonomy.create_tag(s, body.name, body.slug, now),
        lambda tag: (201, tag_json(tag), f"/api/tags/{tag.slug}"),
    )


@bp.get("/tags/<ref>")
def read_tag(ref: str) -> Response:
    with services().sessions() as session:
        return jsonify(tag_json(taxonomy.get_tag(session, ref)))


@bp.patch("/tags/<ref>")
def update_tag(ref: str) -> Response:
    _admins_only()
    data = parse_body(schemas.TagPatch).model_dump(exclude_unset=True)
    return jsonify(tag_json(write(lambda s, now: taxonomy.update_tag(s, ref, data, now))))


@bp.delete("/tags/<ref>")
def delete_tag(ref: str) -> Response:
    _admins_only()
    write(lambda s, now: taxonomy.delete_tag(s, ref, now))
    return Response(status=204)


@bp.get("/sections")
def list_sections() -> Response:
    with services().sessions() as session:
        sections = session.scalars(select(Section).order_by(Section.slug))
        return jsonify({"items": [section_json(s) for s in sections]})


@bp.post("/sections")
def create_section() -> Response:
    _admins_only()
    data = parse_body(schemas.SectionCreate).model_dump(exclude_unset=True)
    return write_once(
        lambda s, now: taxonomy.create_section(s, data, now),
        lambda section: (201, section_json(section), f"/api/sections/{section.slug}"),
    )


@bp.get("/sections/<ref>")
def read_section(ref: str) -> Response:
    with services().sessions() as session:
        return jsonify(section_json(taxonomy.get_section(session, ref)))


@bp.patch("/sections/<ref>")
def update_section(ref: str) -> Response:
    _admins_only()
    data = parse_body(schemas.SectionPatch).model_dump(exclude_unset=True)
    section = write(lambda s, now: taxonomy.update_section(s, ref, data, now))
    return jsonify(section_json(section))


@bp.delete("/sections/<ref>")
def delete_section(ref: str) -> Response:
    _admins_only()
    write(lambda s, now: taxonomy.delete_section(s, ref))
    return Response(status=204)
