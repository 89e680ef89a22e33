"""The to-do service: idempotency, acting-for visibility, ordering, counts, push after commit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from office.context import Actor
from office.db import utcnow
from office.extensions import db
from office.identity.models import User
from office.identity.services import create_delegation, link_secretary
from office.todos import services
from office.todos.models import Todo, TodoCategory, TodoStatus, Urgency


def _open(user_id: int, step: str = "s", **kw):
    base = dict(
        user_id=user_id,
        kind=kw.pop("kind", "document"),
        title=kw.pop("title", "关于测试的通知"),
        source_type=kw.pop("source_type", "document"),
        source_id=kw.pop("source_id", 1),
        source_url="/documents/1",
        step=step,
    )
    return services.open_todo(**base, **kw)


def _user(uid: int) -> User:
    return db.session.get(User, uid)


@pytest.fixture
def people(org):
    return {k: v.id for k, v in org["people"].items()}


def test_open_is_idempotent_per_person_source_and_step(ctx, people):
    a = _open(people["staff"])
    b = _open(people["staff"])
    db.session.commit()
    assert a.id == b.id
    assert db.session.scalar(select(func.count()).select_from(Todo)) == 1
    c = _open(people["staff"], step="review#2")
    d = _open(people["county_a"])
    db.session.commit()
    assert len({a.id, c.id, d.id}) == 3


def test_completing_twice_is_harmless(ctx, people):
    t = _open(people["staff"])
    db.session.commit()
    actor = Actor(user=_user(people["staff"]))
    services.complete(actor, t.id)
    db.session.commit()
    first_done = t.done_at
    services.complete(actor, t.id)
    db.session.commit()
    assert t.status is TodoStatus.DONE and t.done_at == first_done


def test_secretary_sees_and_closes_the_leaders_item(ctx, people):
    link_secretary(Actor(user=_user(people["admin"])), people["secretary"], people["leader"])
    t = _open(people["leader"], title="请审阅报告")
    db.session.commit()
    secretary = _user(people["secretary"])
    page = services.list_todos(secretary)
    assert [x.id for x in page.items] == [t.id]
    assert services.todo_json(page.items[0], secretary.id)["acting_for"]["id"] == people["leader"]
    assert services.counts(secretary)["pending"] == 1
    services.complete(Actor(user=secretary), t.id)
    db.session.commit()
    assert services.list_todos(_user(people["leader"])).total == 0  # closed for everyone
    assert t.done_by_id == people["secretary"]
    from office.audit.models import AuditEvent

    ev = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "office:todo:complete"))
    assert ev.actor_id == people["secretary"] and ev.on_behalf_of_id == people["leader"]


def test_delegate_sees_items_only_during_the_window(ctx, people):
    staff = _user(people["staff"])
    now = utcnow()
    d = create_delegation(
        Actor(user=staff),
        delegate_id=people["unitadmin"],
        starts_at=now - timedelta(minutes=1),
        ends_at=now + timedelta(days=1),
    )
    _open(people["staff"])
    db.session.commit()
    delegate = _user(people["unitadmin"])
    assert services.list_todos(delegate).total == 1
    d.revoked_at = utcnow()
    db.session.commit()
    assert services.list_todos(delegate).total == 0


def test_others_cannot_see_or_close(ctx, people):
    t = _open(people["staff"])
    db.session.commit()
    from office.errors import NotFound

    with pytest.raises(NotFound):
        services.get_todo(_user(people["county_a"]), t.id)
    with pytest.raises(NotFound):
        services.complete(Actor(user=_user(people["county_a"])), t.id)


def test_ordering_urgency_then_due_then_age(ctx, people):
    uid = people["staff"]
    now = utcnow()
    late_normal = _open(uid, "a", urgency=Urgency.NORMAL, due_at=now + timedelta(days=5))
    no_due_urgent = _open(uid, "b", urgency=Urgency.URGENT)
    soon_urgent = _open(uid, "c", urgency=Urgency.URGENT, due_at=now + timedelta(hours=2))
    very = _open(uid, "d", urgency=Urgency.VERY_URGENT, due_at=now + timedelta(days=9))
    old_normal_no_due = _open(uid, "e")
    db.session.commit()
    ids = [t.id for t in services.list_todos(_user(uid)).items]
    assert ids == [very.id, soon_urgent.id, no_due_urgent.id, late_normal.id, old_normal_no_due.id]


def test_lists_and_counts_by_category_and_kind(ctx, people):
    uid = people["staff"]
    _open(uid, "a", kind="document")
    _open(uid, "b", kind="meeting")
    _open(uid, "c", kind="document", category=TodoCategory.READ)
    done = _open(uid, "d", kind="memo")
    db.session.commit()
    services.complete(Actor(user=_user(uid)), done.id)
    db.session.commit()
    me = _user(uid)
    assert services.counts(me) == {
        "pending": 2,
        "to_read": 1,
        "by_kind": {"document": 2, "meeting": 1},
        "by_category": {"todo": 2, "read": 1},
    }
    assert services.list_todos(me, kind="meeting").total == 1
    assert services.list_todos(me, category="read").total == 1
    assert [t.id for t in services.list_todos(me, status="done").items] == [done.id]


def test_close_for_source_hands_on(ctx, people):
    a = _open(people["staff"], "countersign", source_id=7)
    b = _open(people["unitadmin"], "countersign", source_id=7)
    c = _open(people["leader"], "sign", source_id=7)
    db.session.commit()
    assert services.close_for_source("document", 7, step="countersign", status=TodoStatus.CANCELLED) == 2
    db.session.commit()
    assert a.status is b.status is TodoStatus.CANCELLED and c.status is TodoStatus.PENDING


def test_events_are_queued_and_emitted_only_after_commit(app, ctx, people, monkeypatch):
    sent = []
    from office.extensions import socketio

    monkeypatch.setattr(socketio, "emit", lambda name, payload, to=None, **kw: sent.append((name, to)))
    _open(people["staff"], "x")
    assert sent == []  # nothing before commit
    db.session.rollback()
    assert sent == []  # and nothing after a rollback
    _open(people["staff"], "y")
    db.session.commit()
    assert ("todo", f"user:{people['staff']}") in sent and ("notification", f"user:{people['staff']}") in sent


def test_a_pushed_notification_carries_its_row_id(app, ctx, people, monkeypatch):
    """Notifications are not flushed one by one; their push payload is made at commit, when
    the row has its id (a client's catch-up after a reconnect starts from that id)."""
    from office.extensions import socketio
    from office.notifications.models import Notification

    sent = []
    monkeypatch.setattr(socketio, "emit", lambda name, payload, to=None, **kw: sent.append((name, payload)))
    _open(people["staff"], "p")
    _open(people["leader"], "q")
    db.session.commit()
    pushed = [p for name, p in sent if name == "notification"]
    assert len(pushed) == 2 and all(isinstance(p["id"], int) for p in pushed)
    rows = {n.id: n.title for n in db.session.scalars(select(Notification))}
    assert all(rows[p["id"]] == p["title"] for p in pushed)


def test_urge_once_an_hour(ctx, people):
    from office.errors import ServiceError

    sender = _user(people["unitadmin"])
    t = services.send_memo(Actor(user=sender), user_id=people["staff"], title="请报送材料")
    db.session.commit()
    services.urge(Actor(user=sender), t.id)
    db.session.commit()
    with pytest.raises(ServiceError) as err:
        services.urge(Actor(user=sender), t.id)
    assert err.value.status == 429 and "next_allowed_at" in err.value.details
    with pytest.raises(ServiceError) as err:
        services.urge(Actor(user=_user(people["staff"])), t.id)
    assert err.value.status == 403


def test_savepoints_neither_emit_early_nor_drop_outer_events(app, ctx, people, monkeypatch):
    """open_todo uses a savepoint; releasing it must not emit, rolling one back drops only
    what it queued."""
    from office.extensions import socketio

    sent = []
    monkeypatch.setattr(socketio, "emit", lambda name, payload, to=None, **kw: sent.append((name, to)))
    _open(people["staff"], "a")
    _open(people["leader"], "b")  # its savepoint is released here
    assert sent == []
    db.session.rollback()
    assert sent == []
    _open(people["staff"], "c")
    try:
        with db.session.begin_nested():
            _open(people["leader"], "d")
            raise RuntimeError
    except RuntimeError:
        pass
    db.session.commit()
    assert sent == [("todo", f"user:{people['staff']}"), ("notification", f"user:{people['staff']}")]
