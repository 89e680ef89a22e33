"""Events are queued on the database session and emitted after its commit: a rolled-back
change emits nothing, and a client never hears of a row it cannot read yet.

With ``REDIS_URL`` the emit goes through the Redis message queue, so it reaches people
connected to any app process, and also works from the scheduler process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from office.extensions import db, socketio
from office.txqueue import TransactionQueue

log = logging.getLogger(__name__)
QUEUE = TransactionQueue("push_queue")


def user_room(user_id: int) -> str:
    return f"user:{user_id}"


def unit_room(unit_id: int) -> str:
    return f"unit:{unit_id}"


Payload = dict[str, Any] | Callable[[], dict[str, Any]]


def queue(event_name: str, payload: Payload, user_id: int, session: Session | None = None) -> None:
    """Emit ``event_name`` to one person's room once the current transaction commits.

    ``payload`` may be a function, called just before the commit after the session's last
    flush: a row added without a flush of its own (a notification) has its id by then, and
    the rows of one request are inserted together."""
    QUEUE.append(session or db.session(), (event_name, payload, user_id))


def _resolve(session: Session) -> None:
    pending = QUEUE.items(session)
    if not pending or not any(callable(p) for _, p, _ in pending):
        return
    session.flush()
    QUEUE.replace(session, [(e, p() if callable(p) else p, u) for e, p, u in QUEUE.items(session)])


def _flush(session: Session) -> None:
    pending = QUEUE.take(session)
    for event_name, payload, user_id in pending:
        try:
            socketio.emit(event_name, payload, to=user_room(user_id))
        except Exception:  # a push failure must not undo a committed change; the inbox has it
            log.exception("push to user %s failed", user_id)


_installed: list[bool] = []


def install() -> None:
    """Hook the process-wide session once (``db.session`` is shared by every app). Releasing
    a savepoint does not emit (the outer transaction may still roll back)."""
    if _installed:
        return
    _installed.append(True)
    QUEUE.install(db.session)

    @event.listens_for(db.session, "before_commit")
    def _before_commit(session: Session) -> None:
        _resolve(session)

    @event.listens_for(db.session, "after_commit")
    def _after_commit(session: Session) -> None:
        if session.in_nested_transaction():  # a savepoint was released, not the transaction
            return
        _flush(session)
