"""Security headers on every response, and template helpers shared by all pages."""

from __future__ import annotations

import logging

from flask import Flask, g
from flask_wtf.csrf import generate_csrf
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from office.identity.models import ROLE_LABELS, UNIT_KIND_LABELS, Role

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self' ws: wss:; frame-ancestors 'none'; "
    "base-uri 'self'; form-action 'self'; object-src 'none'"
)
#: Swagger UI inlines its start-up script; only the docs page gets this looser policy.
DOCS_CSP = CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")

#: Navigation entries: (endpoint, label, roles that see it or None for everyone).
NAV = [
    ("web.home", "工作台", None),
    ("todos.index", "待办", None),
    ("documents.index", "公文", None),
    ("meetings.index", "会议", None),
    ("supervision.index", "督查督办", None),
    ("seals.index", "印章", None),
    ("identity.directory", "通讯录", None),
]
log = logging.getLogger(__name__)

ADMIN_NAV = [
    ("identity.admin_units", "机构管理"),
    ("identity.admin_users", "人员管理"),
    ("audit.events", "审计日志"),
]


def header_counts() -> dict[str, int] | None:
    """The header's 待办 badge and 🔔 bell: pending 待办 items, unread notifications and the
    newest notification id (where the browser's reconnect catch-up resumes from).

    Called from base.html only, so partial templates (htmx swaps) and pages without the header
    cost nothing; cached per request, and a view that already computed the to-do counts
    (``g.todo_counts``) is not asked again. ``None`` when the database cannot answer (the
    header then shows no numbers rather than failing an error page)."""
    if "header_counts" in g:
        return g.header_counts
    from office.extensions import db
    from office.notifications.models import Notification
    from office.todos import services as todos

    user = g.get("user") if g.get("principal") is not None else None
    result = None
    if user is not None:
        try:
            counts = g.get("todo_counts") or todos.counts(user)
            # One statement for the bell: the unread count and the newest id together.
            unread, last_id = db.session.execute(
                select(
                    func.count(Notification.id).filter(Notification.read_at.is_(None)),
                    func.max(Notification.id),
                ).where(Notification.user_id == user.id)
            ).one()
            result = {"pending": counts["pending"], "unread": unread or 0, "last_id": last_id or 0}
        except SQLAlchemyError:
            log.exception("header counts unavailable")
            db.session.rollback()
    g.header_counts = result
    return result


def register_security(app: Flask) -> None:
    @app.after_request
    def _headers(resp):
        from flask import request

        resp.headers.setdefault(
            "Content-Security-Policy", DOCS_CSP if request.path.startswith("/api/v1/docs") else CSP
        )
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        resp.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if request.is_secure:
            resp.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if g.get("principal") is not None:
            resp.headers.setdefault("Cache-Control", "no-store")
        return resp

    @app.context_processor
    def _globals():
        from office.identity.access import managed_paths

        user = g.get("user") if g.get("principal") is not None else None
        return {
            "current_user": user,
            "on_behalf_of": g.get("on_behalf_of"),
            "csrf_token": generate_csrf,
            "nav": NAV,
            "admin_nav": ADMIN_NAV if user is not None and managed_paths(user) else [],
            "role_labels": {r.value: label for r, label in ROLE_LABELS.items()},
            "unit_kind_labels": {k.value: label for k, label in UNIT_KIND_LABELS.items()},
            "Role": Role,
            "header_counts": header_counts,
        }

    @app.template_filter("localtime")
    def _localtime(value, fmt: str = "%Y-%m-%d %H:%M"):
        from zoneinfo import ZoneInfo

        if value is None:
            return ""
        return value.astimezone(ZoneInfo("Asia/Shanghai")).strftime(fmt)
