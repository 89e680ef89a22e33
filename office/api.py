"""Shared pieces of the JSON API: blueprint factory, paging, and serialisers that more than
one package returns."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint, Schema
from apiflask.validators import Range

from office.auth.guard import check_api_csrf
from office.extensions import csrf
from office.fields import DbInt

API_PREFIX = "/api/v1"


def make_api_blueprint(name: str, import_name: str, tag: str) -> APIBlueprint:
    """An API blueprint under /api/v1: exempt from form CSRF (checked per call instead)."""
    bp = APIBlueprint(name, import_name, url_prefix=API_PREFIX, tag=tag)
    csrf.exempt(bp)
    bp.before_request(check_api_csrf)
    return bp


class PageQuery(Schema):
    page = DbInt(load_default=1, validate=Range(min=1, max=100000))
    per_page = DbInt(load_default=20, validate=Range(min=1, max=100))


def page_body(items: list[Any], total: int, page: int, per_page: int) -> dict[str, Any]:
    return {"items": items, "total": total, "page": page, "per_page": per_page}
