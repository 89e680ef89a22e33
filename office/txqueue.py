"""Work queued on a database session for the end of its transaction.

Push events and audit events are both collected while a service runs and handled when the
transaction commits: a push must not reach anyone before the change is visible, and the
audit chain's head is locked only for the commit itself instead of for the rest of the
request. SQLAlchemy fires its transaction events for savepoints (``begin_nested``) too:
releasing a savepoint keeps the queue, rolling one back drops what was queued inside it, and
a transaction that ends without a commit drops everything.
"""

from __future__ import annotations

import weakref
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session


class TransactionQueue:
    """A list in ``session.info[key]`` that follows the session's transactions."""

    def __init__(self, key: str) -> None:
        self.key = key
        self._marks = f"{key}.marks"
        self.installed = False

    def append(self, session: Session, item: Any) -> None:
        """Queue ``item`` in the session's transaction (begun now if none is, so that a
        rollback before the first statement still drops it)."""
        if not session.in_transaction():
            session.begin()
        session.info.setdefault(self.key, []).append(item)

    def items(self, session: Session) -> list[Any]:
        return session.info.get(self.key) or []

    def replace(self, session: Session, items: list[Any]) -> None:
        session.info[self.key] = items

    def take(self, session: Session) -> list[Any]:
        return session.info.pop(self.key, None) or []

    def install(self, target: Any) -> None:
        """Follow ``target``'s transactions (a session, a sessionmaker or ``db.session``)."""
        if self.installed:
            return
        self.installed = True

        @event.listens_for(target, "after_transaction_create")
        def _mark(session: Session, transaction) -> None:
            if transaction.nested:  # where this savepoint starts in the queue
                marks = session.info.setdefault(self._marks, weakref.WeakKeyDictionary())
                marks[transaction] = len(session.info.get(self.key, ()))

        @event.listens_for(target, "after_transaction_end")
        def _end(session: Session, transaction) -> None:
            if transaction.parent is None:  # ended without a commit (close()): nothing to do
                session.info.pop(self.key, None)

        @event.listens_for(target, "after_soft_rollback")
        def _soft_rollback(session: Session, previous_transaction) -> None:
            if previous_transaction.nested:  # back to the savepoint: forget what was queued since
                mark = session.info.get(self._marks, {}).pop(previous_transaction, None)
                if mark is not None and self.key in session.info:
                    del session.info[self.key][mark:]
            elif previous_transaction.parent is None:
                session.info.pop(self.key, None)
