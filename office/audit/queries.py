"""Read side of the audit trail: filtered, unit-scoped browsing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from office.audit.models import AuditEvent
from office.errors import Forbidden
from office.identity import access
from office.identity.models import Unit, User
from office.identity.services import Page, paginate


def search_events(
    viewer: User,
    *,
    action: str | None = None,
    actor_id: int | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page:
    prefixes = access.managed_paths(viewer)
    if not prefixes:
        raise Forbidden("只有管理员可以查看审计日志")
    stmt = select(AuditEvent)
    if "/" not in prefixes:
        units = select(Unit.id).where(access.path_filter(Unit.path, prefixes))
        stmt = stmt.where(AuditEvent.unit_id.in_(units))
    if action:
        stmt = stmt.where(AuditEvent.action.startswith(action, autoescape=True))
    if actor_id:
        stmt = stmt.where(AuditEvent.actor_id == actor_id)
    if object_type:
        stmt = stmt.where(AuditEvent.object_type == object_type)
    if object_id:
        stmt = stmt.where(AuditEvent.object_id == object_id)
    if since:
        stmt = stmt.where(AuditEvent.created_at >= since)
    if until:
        stmt = stmt.where(AuditEvent.created_at < until)
    return paginate(stmt.order_by(AuditEvent.seq.desc()), page, per_page)


def event_json(e: AuditEvent) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "created_at": e.created_at.isoformat(),
        "actor": {"id": e.actor_id, "name": e.actor_name},
        "on_behalf_of_id": e.on_behalf_of_id,
        "unit_id": e.unit_id,
        "action": e.action,
        "object_type": e.object_type,
        "object_id": e.object_id,
        "ip": e.ip,
        "user_agent": e.user_agent,
        "details": e.details,
        "hash": e.hash,
    }
