"""Helpers shared by the identity tests: reading the audit trail and the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from office.audit.models import AuditEvent
from office.extensions import db


class Trail:
    """Reads audit events so a test can say "this call wrote exactly these events"."""

    def __init__(self, app) -> None:
        self.app = app
        self._mark = 0

    def all(self) -> list[AuditEvent]:
        with self.app.app_context():
            events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
            db.session.expunge_all()
            return list(events)

    def mark(self) -> None:
        """Remember the current end of the chain."""
        events = self.all()
        self._mark = events[-1].seq if events else 0

    def new(self) -> list[AuditEvent]:
        """Events written since the last mark (and move the mark)."""
        events = [e for e in self.all() if e.seq > self._mark]
        if events:
            self._mark = events[-1].seq
        return events

    def new_actions(self) -> list[str]:
        return [e.action for e in self.new()]


@pytest.fixture
def trail(app) -> Trail:
    return Trail(app)


def iso(dt: datetime) -> str:
    return dt.isoformat()


def window(start_minutes: float = -1, hours: float = 24) -> dict[str, Any]:
    """A delegation window (aware ISO times) starting ``start_minutes`` from now."""
    start = datetime.now(UTC) + timedelta(minutes=start_minutes)
    return {"starts_at": iso(start), "ends_at": iso(start + timedelta(hours=hours))}
