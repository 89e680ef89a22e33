"""One reminder pass: every registered source sends what is due, each reminder exactly once.

Exactly once, also across restarts and with two schedulers racing, comes from the database:
a source first inserts the reminder's row (``claim``: INSERT ... ON CONFLICT DO NOTHING
RETURNING, on PostgreSQL and on SQLite), and notifies only for the rows its own insert put
in, in the same transaction. A concurrent insert of the same key waits for the other
transaction and then inserts nothing (PostgreSQL), or the whole transaction waits for the
write lock (SQLite, BEGIN IMMEDIATE) and then no longer finds the item.

Work goes in batches (``BATCH_SIZE`` items, one short transaction and one audit event each),
so a backlog of 100,000 items neither holds a lock for long nor fills memory.

Sources: a function ``(now, batch_size, keep_going) -> counts`` registered with
``@reminder_source("name")``. The to-do source below sends 临期 and 逾期; meetings and
supervision add theirs from a module their package imports at start-up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from office.audit.services import record
from office.context import SYSTEM
from office.db import utcnow
from office.extensions import db
from office.identity.models import User
from office.notifications.services import notify
from office.todos.models import Reminder, ReminderKind, Todo, TodoStatus
from office.todos.services import watchers_of

log = logging.getLogger(__name__)

BEIJING = ZoneInfo("Asia/Shanghai")
DUE_SOON_WINDOW = timedelta(hours=24)
BATCH_SIZE = 500
AUDIT_ACTION = "office:reminder:send"

KeepGoing = Callable[[], bool]
Source = Callable[[datetime, int, KeepGoing], dict[str, int]]

_SOURCES: dict[str, Source] = {}


def reminder_source(name: str) -> Callable[[Source], Source]:
    """Register a reminder source under ``name`` (registering a name again replaces it).

    A source sends everything due at ``now``, at most ``batch_size`` items per transaction,
    checks ``keep_going()`` before each batch (False: this process is no longer the
    scheduler, stop), commits each batch itself and returns counts to add to the result."""

    def register(fn: Source) -> Source:
        _SOURCES[name] = fn
        return fn

    return register


def sources() -> dict[str, Source]:
    return dict(_SOURCES)


def claim(model: type, rows: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
    """Insert ``rows`` into ``model``'s table, skipping every row whose primary key exists,
    and return the primary keys this call inserted: the reminders the caller now owns.

    Rows are inserted in primary-key order, so two schedulers claiming overlapping batches
    wait for each other instead of deadlocking."""
    if not rows:
        return set()
    table = model.__table__  # type: ignore[attr-defined]
    pk = list(table.primary_key.columns)
    dialect = db.session.get_bind(mapper=model).dialect.name
    if dialect == "postgresql":
        insert = pg_insert(table)
    elif dialect == "sqlite":
        insert = sqlite_insert(table)
    else:  # pragma: no cover - only the two supported databases
        raise RuntimeError(f"reminders: unsupported database {dialect}")
    ordered = sorted(rows, key=lambda r: tuple(r[c.name] for c in pk))
    stmt = insert.values(ordered).on_conflict_do_nothing().returning(*pk)
    return {tuple(row) for row in db.session.execute(stmt)}


def beijing_time(value: datetime) -> str:
    return value.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")


def run_due_reminders(
    now: datetime | None = None,
    *,
    batch_size: int = BATCH_SIZE,
    keep_going: KeepGoing | None = None,
) -> dict[str, int]:
    """Send every reminder due at ``now`` (default: the current time) from every source.

    Returns the summed counts of the sources (for the to-do source: ``due_soon``,
    ``overdue``, ``notifications``) and ``errors``, the number of sources that failed
    (their committed batches stay sent; the rest is retried on the next pass)."""
    now = now or utcnow()
    keep_going = keep_going or (lambda: True)
    totals: dict[str, int] = {"errors": 0}
    for name, source in sources().items():
        try:
            counts = source(now, batch_size, keep_going)
        except Exception:
            db.session.rollback()
            log.exception("reminder source %s failed", name)
            totals["errors"] += 1
            continue
        for key, value in counts.items():
            totals[key] = totals.get(key, 0) + value
    return totals


# ---------------------------------------------------------------- to-do items: 临期, 逾期

_TITLES = {ReminderKind.DUE_SOON: "临期提醒", ReminderKind.OVERDUE: "逾期提醒"}
_STATES = {ReminderKind.DUE_SOON: "即将到期，请及时办理", ReminderKind.OVERDUE: "已逾期，请尽快办理"}


def _todo_body(kind: ReminderKind, due_at: datetime, owner_name: str, for_owner: bool) -> str:
    body = f"截止时间：{beijing_time(due_at)}（北京时间），{_STATES[kind]}。"
    return body if for_owner else f"{body}办理人：{owner_name}。"


def _todo_window(kind: ReminderKind, now: datetime) -> Any:
    if kind is ReminderKind.OVERDUE:
        return Todo.due_at <= now
    # Not yet due: an item first seen overdue gets only the overdue notice, no late 临期.
    return and_(Todo.due_at > now, Todo.due_at <= now + DUE_SOON_WINDOW)


def _send_todo_batch(kind: ReminderKind, rows: list[Any], now: datetime) -> tuple[int, int]:
    """One transaction: claim the batch's reminders, notify every watcher of the claimed
    items, one audit event, commit (the pushes go out after the commit)."""
    try:
        claimed = claim(Reminder, [{"todo_id": r.id, "kind": kind, "sent_at": now} for r in rows])
        new_ids = {todo_id for todo_id, _kind in claimed}
        watchers: dict[int, list[int]] = {}
        notes = 0
        for r in rows:
            if r.id not in new_ids:
                continue  # another scheduler sent it
            if r.user_id not in watchers:
                watchers[r.user_id] = watchers_of(r.user_id, now)
            for uid in watchers[r.user_id]:
                notify(
                    uid,
                    f"{_TITLES[kind]}：{r.title}",
                    body=_todo_body(kind, r.due_at, r.owner_name, uid == r.user_id),
                    url=r.source_url,
                    kind=kind.value,
                )
                notes += 1
        if new_ids:
            record(
                SYSTEM,
                AUDIT_ACTION,
                object_type="reminder",
                details={
                    "source": "todos",
                    "kind": kind.value,
                    "reminders": len(new_ids),
                    "notifications": notes,
                },
            )
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return len(new_ids), notes


@reminder_source("todos")
def todo_reminders(now: datetime, batch_size: int, keep_going: KeepGoing) -> dict[str, int]:
    """临期 for pending items due within 24 hours, 逾期 for pending items past due."""
    counts = {"due_soon": 0, "overdue": 0, "notifications": 0}
    for kind in (ReminderKind.OVERDUE, ReminderKind.DUE_SOON):
        base = (
            select(
                Todo.id, Todo.user_id, Todo.title, Todo.due_at, Todo.source_url, User.name.label("owner_name")
            )
            .join(User, User.id == Todo.user_id)
            .where(
                Todo.status == TodoStatus.PENDING,
                Todo.due_at.is_not(None),
                _todo_window(kind, now),
                ~exists().where(Reminder.todo_id == Todo.id, Reminder.kind == kind),
            )
            .order_by(Todo.due_at, Todo.id)
            .limit(batch_size)
        )
        after: tuple[datetime, int] | None = None
        while keep_going():
            stmt = base
            if after is not None:  # keyset: never rescan the items already handled
                stmt = stmt.where(
                    or_(Todo.due_at > after[0], and_(Todo.due_at == after[0], Todo.id > after[1]))
                )
            rows = db.session.execute(stmt).all()
            if not rows:
                db.session.commit()  # end the read transaction (SQLite: release the write lock)
                break
            after = (rows[-1].due_at, rows[-1].id)
            sent, notes = _send_todo_batch(kind, rows, now)
            counts[kind.value] += sent
            counts["notifications"] += notes
            if len(rows) < batch_size:
                break
    return counts
