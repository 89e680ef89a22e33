"""Events are queued on the database session and emitted after its commit: a rolled-back
change emits nothing, and a client never hears of a row it cannot read yet.

With ``REDIS_URL`` the emit goes through the Redis message queue, so it reaches people
connected to any app process, and also works from the scheduler process.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
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


Payload = dict[str, Any] | Callable[[], dict[str, Any]]


def queue(event_name: str, payload: Payload, user_id: int, session: Session | None = None) -> None:
    """Emit ``event_name`` to one person's room once the current transaction commits.

    ``payload`` may be a function, called just before the commit after the session's last
    flush: a row added without a flush of its own (a notification) has its id by then, and
    the rows of one request are inserted together."""
    s = session or db.session()
    s.info.setdefault(_KEY, []).append((event_name, payload, user_id))


def _resolve(session: Session) -> None:
    pending = session.info.get(_KEY)
    if not pending or not any(callable(p) for _, p, _ in pending):
        return
    session.flush()
    session.info[_KEY] = [(e, p() if callable(p) else p, u) for e, p, u in pending]


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
_MARKS = "push_queue_marks"


def install() -> None:
    """Hook the process-wide session once (``db.session`` is shared by every app).

    SQLAlchemy fires ``after_commit``/``after_rollback`` for savepoints too
    (``begin_nested``): releasing a savepoint must not emit (the outer transaction may still
    roll back), and rolling one back drops only the events queued inside it.
    """
    if _installed:
        return
    _installed.append(True)

    @event.listens_for(db.session, "after_transaction_create")
    def _mark(session: Session, transaction) -> None:
        if transaction.nested:  # where this savepoint starts in the queue
            marks = session.info.setdefault(_MARKS, weakref.WeakKeyDictionary())
            marks[transaction] = len(session.info.get(_KEY, ()))

    @event.listens_for(db.session, "before_commit")
    def _before_commit(session: Session) -> None:
        _resolve(session)

    @event.listens_for(db.session, "after_commit")
    def _after_commit(session: Session) -> None:
        if session.in_nested_transaction():  # a savepoint was released, not the transaction
            return
        _flush(session)

    @event.listens_for(db.session, "after_transaction_end")
    def _after_transaction_end(session: Session, transaction) -> None:
        if transaction.parent is None:  # ended without a commit (close()): nothing to emit
            session.info.pop(_KEY, None)

    @event.listens_for(db.session, "after_soft_rollback")
    def _after_soft_rollback(session: Session, previous_transaction) -> None:
        if previous_transaction.nested:  # back to the savepoint: forget what was queued since
            mark = session.info.get(_MARKS, {}).pop(previous_transaction, None)
            if mark is not None and _KEY in session.info:
                del session.info[_KEY][mark:]
        elif previous_transaction.parent is None:
            session.info.pop(_KEY, None)
