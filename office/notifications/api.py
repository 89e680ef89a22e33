"""JSON API: the notification inbox; ``after_id`` lets a reconnecting client catch up."""

from __future__ import annotations

from flask import g

from office.api import make_api_blueprint, page_body
from office.auth.guard import api_login_required
from office.extensions import db
from office.notifications import services
from office.notifications.schemas import NotificationQuery

bp = make_api_blueprint("notifications_api", __name__, tag="通知")


@bp.get("/notifications")
@api_login_required
@bp.input(NotificationQuery, location="query", arg_name="query")
@bp.doc(summary="通知：after_id=N 返回 N 之后的全部（旧到新），否则最新在前；附未读数")
def list_notifications(query):
    page = services.list_for(g.user, **query)
    body = page_body(
        [services.notification_json(n) for n in page.items], page.total, page.page, page.per_page
    )
    body["unread"] = services.unread_count(g.user)
    return body


@bp.post("/notifications/<int:notification_id>/read")
@api_login_required
def mark_read(notification_id: int):
    n = services.mark_read(g.user, notification_id)
    db.session.commit()
    return services.notification_json(n)


@bp.post("/notifications/read-all")
@api_login_required
def mark_all_read():
    count = services.mark_all_read(g.user)
    db.session.commit()
    return {"marked": count, "unread": 0}
