"""Writing to and reading from the inbox; every new notification is also pushed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update

from office.db import utcnow
from office.errors import NotFound
from office.extensions import db
from office.identity.models import User
from office.identity.services import Page, paginate
from office.notifications.models import Notification
from office.push import services as push


def notification_json(n: Notification) -> dict[str, Any]:
    return {
        "id": n.id,
        "kind": n.kind,
        "title": n.title,
        "body": n.body,
        "url": n.url,
        "created_at": n.created_at.isoformat(),
        "read": n.read_at is not None,
    }


def notify(
    user_id: int, title: str, body: str = "", url: str | None = None, kind: str = "info"
) -> Notification:
    """Add to a person's inbox (in the caller's transaction) and push it after commit. Not
    flushed here: the request's notifications are inserted with its other rows, and the push
    payload is made once the id is known (just before the commit)."""
    n = Notification(
        user_id=user_id, title=title[:200], body=body[:1000], url=url, kind=kind, created_at=utcnow()
    )
    db.session.add(n)
    push.queue("notification", lambda: notification_json(n), user_id)
    return n


def unread_count(user: User) -> int:
    return (
        db.session.scalar(
            select(func.count()).where(Notification.user_id == user.id, Notification.read_at.is_(None))
        )
        or 0
    )


def list_for(
    user: User, *, after_id: int | None = None, unread: bool = False, page: int = 1, per_page: int = 20
) -> Page:
    """With ``after_id``: everything newer, oldest first (a reconnecting client's catch-up).
    Without: the latest first."""
    stmt = select(Notification).where(Notification.user_id == user.id)
    if unread:
        stmt = stmt.where(Notification.read_at.is_(None))
    if after_id is not None:
        stmt = stmt.where(Notification.id > after_id).order_by(Notification.id)
    else:
        stmt = stmt.order_by(Notification.id.desc())
    return paginate(stmt, page, per_page)


def mark_read(user: User, notification_id: int) -> Notification:
    n = db.session.get(Notification, notification_id)
    if n is None or n.user_id != user.id:
        raise NotFound("通知不存在")
    if n.read_at is None:
        n.read_at = utcnow()
    return n


def mark_all_read(user: User) -> int:
    result = db.session.execute(
        update(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
    )
    return result.rowcount or 0
