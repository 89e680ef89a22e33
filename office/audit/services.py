"""Appending to and verifying the hash-chained audit trail."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache, partial
from typing import Any

from sqlalchemy import bindparam, event, func, insert, select, update
from sqlalchemy.orm import Session

from office.audit.models import GENESIS_HASH, AuditEvent, AuditHead
from office.context import Actor
from office.db import utcnow
from office.extensions import db
from office.txqueue import TransactionQueue


def _canonical(value: Any) -> Any:
    """JSON-native copy (dates as ISO strings), so what is hashed is what is stored."""
    return json.loads(json.dumps(value or {}, ensure_ascii=False, default=str, sort_keys=True))


def _ts(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_HASHED = (
    "seq", "created_at", "actor_id", "actor_name", "on_behalf_of_id", "unit_id", "action",
    "object_type", "object_id", "ip", "user_agent", "details", "prev_hash",
)  # fmt: skip


def compute_hash(ev: AuditEvent | Mapping[str, Any]) -> str:
    """SHA-256 of the event's canonical JSON (a stored row, or one about to be inserted)."""
    get = ev.get if isinstance(ev, Mapping) else partial(getattr, ev)
    payload = {k: get(k) for k in _HASHED}
    payload["created_at"] = _ts(payload["created_at"])
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


QUEUE = TransactionQueue("audit_pending")


def record(
    actor: Actor,
    action: str,
    obj: Any = None,
    *,
    object_type: str | None = None,
    object_id: Any = None,
    unit_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Record one event in the caller's transaction. It joins the chain when the transaction
    commits (:func:`_append`), so the chain's head is locked only for the commit itself and a
    rolled-back change leaves no event."""
    session = db.session()
    if obj is not None:
        object_type = object_type or obj.__tablename__.rstrip("s")
        if object_id is None and getattr(obj, "id", None) is None:
            session.flush()
        object_id = object_id if object_id is not None else getattr(obj, "id", None)
    user = actor.user
    QUEUE.append(
        session,
        {
            "created_at": utcnow(),
            "actor_id": user.id if user else None,
            "actor_name": user.name if user else "系统",
            "on_behalf_of_id": actor.on_behalf_of.id if actor.on_behalf_of else None,
            "unit_id": unit_id,
            "action": action,
            "object_type": object_type,
            "object_id": None if object_id is None else str(object_id),
            "ip": actor.ip,
            "user_agent": actor.user_agent,
            "details": _canonical(details),
        },
    )


def _append(session: Session) -> None:
    """Chain the transaction's events: flush everything else first, then lock the head, number
    and hash the events, insert them and move the head (one statement on PostgreSQL)."""
    if session.in_nested_transaction() or not QUEUE.items(session):
        return
    session.flush()
    rows = QUEUE.take(session)
    head = AuditHead.__table__
    found = session.execute(select(head.c.seq, head.c.hash).where(head.c.id == 1).with_for_update()).first()
    if found is None:
        session.execute(insert(head).values(id=1, seq=0, hash=GENESIS_HASH))
        seq, prev = 0, GENESIS_HASH
    else:
        seq, prev = found
    for row in rows:
        seq += 1
        row["seq"], row["prev_hash"] = seq, prev
        row["hash"] = prev = compute_hash(row)
    if len(rows) == 1 and session.get_bind().dialect.name == "postgresql":
        params = {f"ev_{k}": v for k, v in rows[0].items()}
        session.execute(_append_one(tuple(rows[0])), params | {"head_seq": seq, "head_hash": prev})
    else:
        session.execute(insert(AuditEvent.__table__), rows)
        session.execute(update(head).where(head.c.id == 1).values(seq=seq, hash=prev))


@cache
def _append_one(columns: tuple[str, ...]) -> Any:
    """``WITH appended AS (INSERT one event) UPDATE audit_head``: one statement, built once.
    Bound parameters keep it in SQLAlchemy's statement cache (a multi-row VALUES never is)."""
    events, head = AuditEvent.__table__, AuditHead.__table__
    row = {c: bindparam(f"ev_{c}", type_=events.c[c].type) for c in columns}
    return (
        update(head)
        .where(head.c.id == 1)
        .values(seq=bindparam("head_seq"), hash=bindparam("head_hash"))
        .add_cte(insert(events).values(row).cte("appended"))
    )


def install() -> None:
    """Chain queued events at every commit of the process-wide session (once)."""
    if QUEUE.installed:
        return
    QUEUE.install(db.session)
    event.listen(db.session, "before_commit", _append)


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str | None = None

    def message(self) -> str:
        if self.ok:
            return f"审计链完整：共校验 {self.checked} 条事件"
        return f"审计链在第 {self.first_bad_seq} 条事件处断开：{self.reason}"


def _stream(batch: int = 2000) -> Iterator[AuditEvent]:
    last = 0
    while True:
        rows = db.session.scalars(
            select(AuditEvent).where(AuditEvent.seq > last).order_by(AuditEvent.seq).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq
        db.session.expunge_all()


def verify() -> VerifyResult:
    """Walk the chain and report the first event whose content or order was changed."""
    expected_seq, prev, count = 1, GENESIS_HASH, 0
    for ev in _stream():
        if ev.seq != expected_seq:
            return VerifyResult(False, count, expected_seq, f"缺少第 {expected_seq} 条事件（被删除）")
        if ev.prev_hash != prev:
            return VerifyResult(False, count, ev.seq, "前一事件的哈希不符（事件被删除或调换）")
        if compute_hash(ev) != ev.hash:
            return VerifyResult(False, count, ev.seq, "事件内容被修改")
        prev, expected_seq, count = ev.hash, expected_seq + 1, count + 1
    head = db.session.get(AuditHead, 1)
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS_HASH)
    if head_seq != count or head_hash != prev:
        return VerifyResult(False, count, count + 1, "链尾事件被删除（与链头记录不符）")
    return VerifyResult(True, count)


def event_count() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent)) or 0
