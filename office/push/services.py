"""Events are queued on the database session and emitted after its commit: a rolled-back
change emits nothing, and a client never hears of a row it cannot read yet.

With ``REDIS_URL`` the emit goes through the Redis message queue, so it reaches people
connected to any app process, and also works from the scheduler process.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from office.extensions import db, socketio

log = logging.getLogger(__name__)
_KEY = "push_queue"


def user_room(user_id: int) -> str:
    return f"user:{user_id}"


def unit_room(unit_id: int) -> str:
    return f"unit:{unit_id}"


def queue(event_name: str, payload: dict[str, Any], user_id: int, session: Session | None = None) -> None:
    """Emit ``event_name`` to one person's room once the current transaction commits."""
    s = session or db.session()
    s.info.setdefault(_KEY, []).append((event_name, payload, user_id))


def _flush(session: Session) -> None:
    pending = session.info.pop(_KEY, None)
    if not pending:
        return
    for event_name, payload, user_id in pending:
        try:
            socketio.emit(event_name, payload, to=user_room(user_id))
        except Exception:  # a push failure must not undo a committed change; the inbox has it
            log.exception("push to user %s failed", user_id)


_installed: list[bool] = []


def install() -> None:
    """Hook the process-wide session once (``db.session`` is shared by every app)."""
    if _installed:
        return
    _installed.append(True)

    @event.listens_for(db.session, "after_commit")
    def _after_commit(session: Session) -> None:
        _flush(session)

    @event.listens_for(db.session, "after_rollback")
    def _after_rollback(session: Session) -> None:
        session.info.pop(_KEY, None)
