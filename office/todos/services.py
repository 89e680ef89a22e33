"""The to-do service every module uses: open, complete, cancel, list, count, urge.

Items belong to one person; that person's secretaries and, during a delegation window,
their delegates see and may close them too ("acting for"). Whoever acts, the one row closes,
so the item disappears for everyone who saw it. Changes push a ``todo`` event after commit
to everyone who can see the item.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import g, has_request_context
from sqlalchemy import case, func, select, update
from sqlalchemy.orm import joinedload

from office.audit.services import record
from office.context import Actor
from office.db import dialect_insert, utcnow
from office.errors import NotFound, ServiceError
from office.extensions import db
from office.identity import relations
from office.identity import services as identity
from office.identity.models import Delegation, SecretaryLink, User
from office.identity.services import Page, paginate
from office.notifications.services import notify
from office.push import services as push
from office.todos.models import (
    URGENCY_BY_CODE,
    URGENCY_CODES,
    URGENCY_LABELS,
    Todo,
    TodoCategory,
    TodoStatus,
    Urgency,
)

URGE_INTERVAL = timedelta(hours=1)
BEIJING = ZoneInfo("Asia/Shanghai")


# ---------------------------------------------------------------- who sees an item


def watchers_of(user_id: int, at: datetime | None = None) -> list[int]:
    """The owner plus everyone who may act for them now (secretaries, open delegations).
    Within a request the answer is fixed, so it is asked of the database once per person."""
    if at is None and has_request_context():
        cache = g.setdefault("_watchers", {})
        if user_id not in cache:
            snap = relations.snapshot()
            if snap is None:
                cache[user_id] = _watchers_at(user_id, utcnow())
            else:
                cache[user_id] = [user_id, *sorted(snap.watchers(user_id, utcnow()) - {user_id})]
        return cache[user_id]
    return _watchers_at(user_id, at or utcnow())


def _watchers_at(user_id: int, at: datetime) -> list[int]:
    secretaries = select(SecretaryLink.secretary_id).where(SecretaryLink.leader_id == user_id)
    delegates = select(Delegation.delegate_id).where(
        Delegation.delegator_id == user_id,
        Delegation.revoked_at.is_(None),
        Delegation.starts_at <= at,
        Delegation.ends_at > at,
    )
    ids = set(db.session.scalars(secretaries.union(delegates)))
    return [user_id, *sorted(ids - {user_id})]


def _owners_visible_to(user: User) -> list[int]:
    return [user.id, *[p.id for p in identity.principals_of(user)]]


def todo_json(t: Todo, viewer_id: int | None = None) -> dict[str, Any]:
    urgency = Urgency(t.urgency)
    data = {
        "id": t.id,
        "kind": t.kind,
        "category": t.category.value,
        "title": t.title,
        "body": t.body,
        "urgency": URGENCY_CODES[urgency],
        "urgency_label": URGENCY_LABELS[urgency],
        "due_at": t.due_at.isoformat() if t.due_at else None,
        "created_at": t.created_at.isoformat(),
        "status": t.status.value,
        "done_at": t.done_at.isoformat() if t.done_at else None,
        "source": {"type": t.source_type, "id": t.source_id, "url": t.source_url},
        "user": {"id": t.user_id, "name": t.user.name},
        "sender": {"id": t.sender.id, "name": t.sender.name} if t.sender else None,
        "done_by": {"id": t.done_by.id, "name": t.done_by.name} if t.done_by else None,
        "acting_for": None,
    }
    if viewer_id is not None and viewer_id not in (t.user_id, t.sender_id):
        data["acting_for"] = {"id": t.user_id, "name": t.user.name}
    return data


def _announce(t: Todo, action: str) -> None:
    """Push to the owner and those acting for them, and nobody else (the sender hears of the
    outcome through a notification)."""
    for uid in watchers_of(t.user_id):
        push.queue("todo", {"action": action, "todo": todo_json(t, uid)}, uid)


def _notify_watchers(t: Todo, title: str, body: str, kind: str) -> None:
    """The owner, and those acting for them (marked as such), get the notification."""
    for uid in watchers_of(t.user_id):
        prefix = "" if uid == t.user_id else f"（代{t.user.name}）"
        notify(uid, f"{title}{prefix}", body=body, url=t.source_url, kind=kind)


# ---------------------------------------------------------------- the module-facing API


def open_todo(
    *,
    user_id: int,
    kind: str,
    title: str,
    source_type: str,
    source_id: int,
    source_url: str,
    step: str = "",
    urgency: Urgency = Urgency.NORMAL,
    due_at: datetime | None = None,
    category: TodoCategory = TodoCategory.TODO,
    body: str = "",
    sender_id: int | None = None,
    notify_owner: bool = True,
    announce: bool = True,
) -> Todo:
    """Open an item for a person; idempotent per (person, source, step): a retry returns the
    existing item unchanged. Runs in the caller's transaction; pushes after its commit."""
    key = dict(user_id=user_id, source_type=source_type, source_id=source_id, step=step)
    row = dict(
        **key,
        kind=kind,
        title=title[:200],
        body=body,
        source_url=source_url,
        urgency=int(urgency),
        due_at=due_at,
        category=category,
        sender_id=sender_id,
        status=TodoStatus.PENDING,
        created_at=utcnow(),
    )
    # One statement: INSERT … ON CONFLICT DO NOTHING RETURNING. A retry, or a concurrent one
    # that won the race, inserts nothing, and the existing item is returned unchanged.
    stmt = dialect_insert(Todo).on_conflict_do_nothing(index_elements=list(key)).returning(Todo)
    t = db.session.scalars(stmt, [row]).first()
    if t is None:
        return db.session.scalar(select(Todo).filter_by(**key))
    if announce:
        _announce(t, "created")
    if notify_owner:
        prefix = "新待阅" if category is TodoCategory.READ else "新待办"
        notify(
            user_id,
            f"{prefix}：{t.title}",
            body=URGENCY_LABELS[Urgency(t.urgency)],
            url=source_url,
            kind="todo",
        )
    return t


def _close(t: Todo, status: TodoStatus, by: User | None, notify_sender: bool = True) -> bool:
    if t.status is not TodoStatus.PENDING:
        return False  # already closed: completing twice is harmless
    t.status, t.done_at, t.done_by_id = status, utcnow(), by.id if by else None
    t.done_by = by
    _closed(t, by, notify_sender)
    return True


def _closed(t: Todo, by: User | None, notify_sender: bool) -> None:
    """Tell the owner's side, and the sender if they asked to hear it, that an item closed."""
    _announce(t, "done" if t.status is TodoStatus.DONE else "cancelled")
    by_id = by.id if by else None
    if notify_sender and t.status is TodoStatus.DONE and t.sender_id and t.sender_id != by_id:
        who = by.name if by else "系统"
        notify(t.sender_id, f"已办结：{t.title}", body=f"{who} 已办结", url=t.source_url, kind="done")


def close_for_source(
    source_type: str,
    source_id: int,
    *,
    step: str | None = None,
    user_id: int | None = None,
    status: TodoStatus = TodoStatus.DONE,
    by: User | None = None,
    notify_sender: bool = True,
) -> int:
    """Close a source's pending items (one step, one person, or all): how flows hand on.
    One ``UPDATE … RETURNING``: a concurrent close of the same item waits for this one and
    then finds it no longer pending, so each item closes (and is announced) once."""
    stmt = update(Todo).where(
        Todo.source_type == source_type, Todo.source_id == source_id, Todo.status == TodoStatus.PENDING
    )
    if step is not None:
        stmt = stmt.where(Todo.step == step)
    if user_id is not None:
        stmt = stmt.where(Todo.user_id == user_id)
    stmt = stmt.values(status=status, done_at=utcnow(), done_by_id=by.id if by else None).returning(Todo)
    rows = db.session.scalars(stmt.execution_options(populate_existing=True)).all()
    for t in rows:
        t.done_by = by
        _closed(t, by, notify_sender)
    return len(rows)


def items_for_source(source_type: str, source_id: int, *, step: str | None = None) -> list[Todo]:
    """A source's items, open and closed (e.g. who was asked to read and who has)."""
    stmt = select(Todo).where(Todo.source_type == source_type, Todo.source_id == source_id)
    if step is not None:
        stmt = stmt.where(Todo.step == step)
    return list(db.session.scalars(stmt.options(joinedload(Todo.user)).order_by(Todo.id)))


# ---------------------------------------------------------------- what a person does


def get_todo(viewer: User, todo_id: int) -> Todo:
    t = db.session.get(Todo, todo_id)
    if t is None or (t.user_id not in _owners_visible_to(viewer) and t.sender_id != viewer.id):
        raise NotFound("待办不存在或无权访问")
    return t


def complete(actor: Actor, todo_id: int) -> Todo:
    """Mark done by the owner or someone acting for them; one audit event when it changes."""
    me = actor.user
    t = get_todo(me, todo_id)
    if t.user_id not in _owners_visible_to(me):
        raise NotFound("待办不存在或无权访问")  # the sender sees it but may not close it
    db.session.refresh(t, with_for_update={"key_share": True})
    acting = Actor(
        user=me, on_behalf_of=t.user if t.user_id != me.id else None, ip=actor.ip, user_agent=actor.user_agent
    )
    if _close(t, TodoStatus.DONE, me):
        record(acting, "office:todo:complete", t, details={"title": t.title, "owner_id": t.user_id})
    return t


def send_memo(
    actor: Actor,
    *,
    user_id: int,
    title: str,
    body: str = "",
    urgency: str = "normal",
    due_at: datetime | None = None,
    request_key: str | None = None,
) -> Todo:
    """交办: a person sends another a to-do directly (a short assignment with a due time)."""
    me = actor.user
    target = identity.get_user(me, user_id)
    if not target.active:
        raise ServiceError("inactive_user", "对方账号已停用", 422, field="user_id")
    if due_at is not None and due_at <= utcnow():
        raise ServiceError("due_in_past", "办理期限须晚于当前时间", 422, field="due_at")
    # Source = the sender; the step carries the client's request key, so a retried POST
    # returns the same item instead of sending twice.
    step = f"memo:{request_key}" if request_key else f"memo:{utcnow().timestamp()}"
    t = open_todo(
        user_id=target.id,
        kind="memo",
        title=title.strip(),
        body=body.strip(),
        source_type="memo",
        source_id=me.id,
        source_url="",
        step=step,
        urgency=URGENCY_BY_CODE[urgency],
        due_at=due_at,
        sender_id=me.id,
        notify_owner=False,
        announce=False,
    )
    if not t.source_url:  # newly created: its own page is where it leads
        t.source_url = f"/todos/{t.id}"
        db.session.flush()
        _announce(t, "created")
        _notify_watchers(t, f"新待办：{t.title}", f"{me.name} 交办", "todo")
        record(
            actor, "office:todo:send", t, details={"to": target.name, "title": t.title, "urgency": urgency}
        )
    return t


def urge(actor: Actor, todo_id: int, message: str = "") -> Todo:
    """催办: the sender reminds the current handler; at most once an hour per item."""
    me = actor.user
    t = get_todo(me, todo_id)
    if t.sender_id != me.id:
        raise ServiceError("not_sender", "只有交办人可以催办", 403)
    if t.status is not TodoStatus.PENDING:
        raise ServiceError("already_closed", "该事项已办结，无需催办", 409)
    db.session.refresh(t, with_for_update={"key_share": True})
    now = utcnow()
    if t.last_urged_at and now - t.last_urged_at < URGE_INTERVAL:
        next_at = t.last_urged_at + URGE_INTERVAL
        retry = int((next_at - now).total_seconds()) + 1
        local = next_at.astimezone(BEIJING).strftime("%H:%M")
        raise ServiceError(
            "urge_too_often",
            f"每小时最多催办一次，请于 {local} 后再催办",
            429,
            details={"next_allowed_at": next_at.isoformat()},
            headers={"Retry-After": str(retry)},
        )
    t.last_urged_at = now
    text = message.strip() or f"{me.name} 催办：请尽快办理"
    _notify_watchers(t, f"催办：{t.title}", text, "urge")
    record(actor, "office:todo:urge", t, details={"message": text})
    return t


# ---------------------------------------------------------------- lists


def _ordered(stmt):
    nulls_last = case((Todo.due_at.is_(None), 1), else_=0)
    return stmt.order_by(Todo.urgency.desc(), nulls_last, Todo.due_at, Todo.created_at, Todo.id)


def list_todos(
    viewer: User,
    *,
    status: str = "pending",
    category: str | None = None,
    kind: str | None = None,
    page: int = 1,
    per_page: int = 20,
) -> Page:
    """待办 (pending todo), 待阅 (pending read), 已办 (done: closed by me or for me)."""
    owners = _owners_visible_to(viewer)
    if status == "done":
        stmt = select(Todo).where(
            Todo.status == TodoStatus.DONE, (Todo.user_id == viewer.id) | (Todo.done_by_id == viewer.id)
        )
        if category:
            stmt = stmt.where(Todo.category == TodoCategory(category))
        stmt = stmt.order_by(Todo.done_at.desc(), Todo.id.desc())
    else:
        stmt = select(Todo).where(
            Todo.user_id.in_(owners),
            Todo.status == TodoStatus.PENDING,
            Todo.category == TodoCategory(category or "todo"),
        )
        stmt = _ordered(stmt)
    if kind:
        stmt = stmt.where(Todo.kind == kind)
    return _page(stmt, page, per_page)


def _page(stmt, page: int, per_page: int) -> Page:
    """One page with the people each row shows loaded in the same query (no N+1)."""
    people = (joinedload(Todo.user), joinedload(Todo.sender), joinedload(Todo.done_by))
    return paginate(stmt.options(*people), page, per_page)


def counts(viewer: User) -> dict[str, Any]:
    """Pending items per kind, and per category (待办 / 待阅), including those acted for."""
    rows = db.session.execute(
        select(Todo.category, Todo.kind, func.count())
        .where(Todo.user_id.in_(_owners_visible_to(viewer)), Todo.status == TodoStatus.PENDING)
        .group_by(Todo.category, Todo.kind)
    ).all()
    by_kind: dict[str, int] = {}
    by_category = {"todo": 0, "read": 0}
    for category, kind, n in rows:
        by_kind[kind] = by_kind.get(kind, 0) + n
        by_category[category.value] += n
    return {
        "pending": by_category["todo"],
        "to_read": by_category["read"],
        "by_kind": by_kind,
        "by_category": by_category,
    }


def sent_by(viewer: User, *, page: int = 1, per_page: int = 20) -> Page:
    """Items I sent onward (for urging)."""
    stmt = (
        select(Todo)
        .where(Todo.sender_id == viewer.id)
        .order_by(Todo.status != TodoStatus.PENDING, Todo.created_at.desc())
    )
    return _page(stmt, page, per_page)


def actions_for(viewer: User, t: Todo) -> list[str]:
    """What this viewer may do with the item now (API.md: ``"actions"``)."""
    if t.status is not TodoStatus.PENDING:
        return []
    actions = []
    if t.user_id in _owners_visible_to(viewer):
        actions.append("complete")
    if t.sender_id == viewer.id:
        actions.append("urge")
    return actions
