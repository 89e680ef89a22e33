"""JSON API: browsing and verifying the audit trail (system and unit admins)."""

from __future__ import annotations

from apiflask.fields import AwareDateTime, String
from apiflask.validators import Length
from flask import g

from office.api import PageQuery, make_api_blueprint, page_body
from office.audit import queries, services
from office.auth.guard import api_login_required
from office.errors import Forbidden
from office.fields import DbInt
from office.identity.access import is_admin

bp = make_api_blueprint("audit_api", __name__, tag="审计")


class EventQuery(PageQuery):
    action = String(validate=Length(max=80))
    actor_id = DbInt()
    object_type = String(validate=Length(max=40))
    object_id = String(validate=Length(max=64))
    since = AwareDateTime()
    until = AwareDateTime()


@bp.get("/audit/events")
@api_login_required
@bp.input(EventQuery, location="query", arg_name="query")
@bp.doc(summary="审计事件（系统管理员看全部，单位管理员看本单位）")
def list_events(query):
    page = queries.search_events(g.user, **query)
    return page_body([queries.event_json(e) for e in page.items], page.total, page.page, page.per_page)


@bp.get("/audit/verify")
@api_login_required
@bp.doc(summary="校验审计哈希链（系统管理员）")
def verify():
    if not is_admin(g.user):
        raise Forbidden("只有系统管理员可以校验审计链")
    result = services.verify()
    return {
        "ok": result.ok,
        "checked": result.checked,
        "first_bad_seq": result.first_bad_seq,
        "reason": result.reason,
        "message": result.message(),
    }
