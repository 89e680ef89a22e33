"""Helpers shared by the reminder tests: to-do items with due times, and what people got."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from office.audit.models import AuditEvent
from office.db import utcnow
from office.extensions import db
from office.identity.models import Delegation, SecretaryLink
from office.notifications.models import Notification
from office.reminders.services import AUDIT_ACTION
from office.todos.models import Reminder, TodoStatus
from office.todos.services import close_for_source, open_todo

REMINDER_KINDS = ("due_soon", "overdue")


class Items:
    """Opens to-do items through the real service and reads back reminders and notices."""

    def __init__(self, app) -> None:
        self.app = app
        self._ids = itertools.count(1)
        self.urls: dict[int, str] = {}

    def todo(
        self, user, due_in: timedelta | None, title: str | None = None, now: datetime | None = None
    ) -> int:
        n = next(self._ids)
        with self.app.app_context():
            t = open_todo(
                user_id=user.id,
                kind="memo",
                title=title or f"事项{n}",
                source_type="memo",
                source_id=n,
                source_url=f"/memos/{n}",
                due_at=None if due_in is None else (now or utcnow()) + due_in,
                notify_owner=False,
                announce=False,
            )
            db.session.commit()
            self.urls[t.id] = t.source_url
            return t.id

    def close(self, todo_id: int, status: TodoStatus = TodoStatus.DONE) -> None:
        with self.app.app_context():
            from office.todos.models import Todo

            t = db.session.get(Todo, todo_id)
            assert close_for_source(t.source_type, t.source_id, status=status) == 1
            db.session.commit()

    def notices(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Reminder notifications in the inboxes, oldest first."""
        with self.app.app_context():
            stmt = select(Notification).where(Notification.kind.in_(REMINDER_KINDS)).order_by(Notification.id)
            if kind:
                stmt = stmt.where(Notification.kind == kind)
            return [
                {"user_id": n.user_id, "kind": n.kind, "title": n.title, "body": n.body, "url": n.url}
                for n in db.session.scalars(stmt)
            ]

    def reminders(self) -> set[tuple[int, str]]:
        with self.app.app_context():
            return {(r.todo_id, r.kind.value) for r in db.session.scalars(select(Reminder))}

    def audit(self) -> list[dict[str, Any]]:
        with self.app.app_context():
            events = db.session.scalars(
                select(AuditEvent).where(AuditEvent.action == AUDIT_ACTION).order_by(AuditEvent.seq)
            )
            return [e.details for e in events]

    def secretary(self, secretary, leader) -> None:
        with self.app.app_context():
            db.session.add(SecretaryLink(secretary_id=secretary.id, leader_id=leader.id))
            db.session.commit()

    def delegate(self, delegator, delegate, start: timedelta, end: timedelta) -> None:
        now = utcnow()
        with self.app.app_context():
            db.session.add(
                Delegation(
                    delegator_id=delegator.id,
                    delegate_id=delegate.id,
                    starts_at=now + start,
                    ends_at=now + end,
                )
            )
            db.session.commit()


@pytest.fixture
def items(app) -> Items:
    return Items(app)
