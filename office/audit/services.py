"""Appending to and verifying the hash-chained audit trail."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from office.audit.models import GENESIS_HASH, AuditEvent, AuditHead
from office.context import Actor
from office.db import utcnow
from office.extensions import db


def _canonical(value: Any) -> Any:
    """JSON-native copy (dates as ISO strings), so what is hashed is what is stored."""
    return json.loads(json.dumps(value or {}, ensure_ascii=False, default=str, sort_keys=True))


def _ts(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def compute_hash(ev: AuditEvent) -> str:
    payload = {
        "seq": ev.seq,
        "created_at": _ts(ev.created_at),
        "actor_id": ev.actor_id,
        "actor_name": ev.actor_name,
        "on_behalf_of_id": ev.on_behalf_of_id,
        "unit_id": ev.unit_id,
        "action": ev.action,
        "object_type": ev.object_type,
        "object_id": ev.object_id,
        "ip": ev.ip,
        "user_agent": ev.user_agent,
        "details": ev.details,
        "prev_hash": ev.prev_hash,
    }
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _locked_head() -> AuditHead:
    head = db.session.execute(
        select(AuditHead).where(AuditHead.id == 1).with_for_update()
    ).scalar_one_or_none()
    if head is None:
        head = AuditHead(id=1, seq=0, hash=GENESIS_HASH)
        db.session.add(head)
        db.session.flush()
    return head


def record(
    actor: Actor,
    action: str,
    obj: Any = None,
    *,
    object_type: str | None = None,
    object_id: Any = None,
    unit_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction. Call it last in a service function:
    the head row stays locked until commit, so appends never fork the chain."""
    if obj is not None:
        object_type = object_type or obj.__tablename__.rstrip("s")
        db.session.flush()
        object_id = object_id if object_id is not None else getattr(obj, "id", None)
    head = _locked_head()
    user = actor.user
    ev = AuditEvent(
        seq=head.seq + 1,
        created_at=utcnow(),
        actor_id=user.id if user else None,
        actor_name=user.name if user else "系统",
        on_behalf_of_id=actor.on_behalf_of.id if actor.on_behalf_of else None,
        unit_id=unit_id,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        ip=actor.ip,
        user_agent=actor.user_agent,
        details=_canonical(details),
        prev_hash=head.hash,
    )
    ev.hash = compute_hash(ev)
    db.session.add(ev)
    head.seq, head.hash = ev.seq, ev.hash
    return ev


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
