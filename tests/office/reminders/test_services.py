"""临期 and 逾期 reminders: who gets them, when, and that each goes out exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from office.db import utcnow
from office.extensions import socketio
from office.reminders import services as reminders
from office.reminders.services import run_due_reminders
from office.todos.models import TodoStatus

H = timedelta(hours=1)


def _run(app, now=None, **kw):
    with app.app_context():
        return run_due_reminders(now, **kw)


def test_due_soon_and_overdue_go_out_once(app, org, items):
    staff = org["people"]["staff"]
    due_soon = items.todo(staff, 3 * H, "审核通知稿")
    overdue = items.todo(staff, -2 * H, "报送季度材料")

    result = _run(app)
    assert result == {"errors": 0, "due_soon": 1, "overdue": 1, "notifications": 2}
    assert items.reminders() == {(due_soon, "due_soon"), (overdue, "overdue")}
    got = {n["kind"]: n for n in items.notices()}
    assert got["due_soon"]["user_id"] == got["overdue"]["user_id"] == staff.id
    assert got["due_soon"]["title"] == "临期提醒：审核通知稿"
    assert got["overdue"]["title"] == "逾期提醒：报送季度材料"
    assert got["due_soon"]["url"] == items.urls[due_soon] and got["overdue"]["url"] == items.urls[overdue]
    assert "北京时间" in got["due_soon"]["body"] and "即将到期" in got["due_soon"]["body"]
    assert "已逾期" in got["overdue"]["body"]
    assert "办理人" not in got["overdue"]["body"]  # the owner is not told their own name
    # one audit event per batch, with the counts, as the system
    assert items.audit() == [
        {"source": "todos", "kind": "overdue", "reminders": 1, "notifications": 1},
        {"source": "todos", "kind": "due_soon", "reminders": 1, "notifications": 1},
    ]

    # again (a restart, the next tick): nothing new
    assert _run(app) == {"errors": 0, "due_soon": 0, "overdue": 0, "notifications": 0}
    assert len(items.notices()) == 2 and len(items.audit()) == 2


def test_body_shows_the_due_time_in_beijing_time(app, org, items):
    due = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)  # 18:00 in Beijing
    items.todo(org["people"]["staff"], due - utcnow())
    _run(app, now=due - 2 * H)
    (notice,) = items.notices()
    assert "2026-05-01 18:00（北京时间）" in notice["body"]


def test_due_soon_then_overdue_each_once(app, org, items):
    now = utcnow()
    todo = items.todo(org["people"]["staff"], 3 * H, now=now)
    assert _run(app, now)["due_soon"] == 1
    later = now + 4 * H
    assert _run(app, later) == {"errors": 0, "due_soon": 0, "overdue": 1, "notifications": 1}
    assert _run(app, later + H)["notifications"] == 0
    assert items.reminders() == {(todo, "due_soon"), (todo, "overdue")}
    assert [n["kind"] for n in items.notices()] == ["due_soon", "overdue"]


def test_the_24_hour_window(app, org, items):
    now = utcnow()
    staff = org["people"]["staff"]
    inside = items.todo(staff, 24 * H, now=now)  # due exactly 24 h ahead: within
    items.todo(staff, 24 * H + timedelta(minutes=1), now=now)  # just outside
    items.todo(staff, timedelta(days=30), now=now)
    items.todo(staff, None)  # no due time at all
    assert _run(app, now) == {"errors": 0, "due_soon": 1, "overdue": 0, "notifications": 1}
    assert items.reminders() == {(inside, "due_soon")}


def test_first_seen_overdue_gets_only_the_overdue_notice(app, org, items):
    todo = items.todo(org["people"]["staff"], -5 * H)
    _run(app)
    _run(app)
    assert items.reminders() == {(todo, "overdue")}
    assert [n["kind"] for n in items.notices()] == ["overdue"]


@pytest.mark.parametrize("status", [TodoStatus.DONE, TodoStatus.CANCELLED])
def test_closed_items_get_nothing(app, org, items, status):
    staff = org["people"]["staff"]
    for due_in in (3 * H, -3 * H):
        items.close(items.todo(staff, due_in), status)
    assert _run(app) == {"errors": 0, "due_soon": 0, "overdue": 0, "notifications": 0}
    assert items.reminders() == set() and items.audit() == []


def test_secretaries_and_active_delegates_are_reminded_too(app, org, items):
    p = org["people"]
    leader, secretary, delegate = p["leader"], p["secretary"], p["staff"]
    items.secretary(secretary, leader)
    items.delegate(leader, delegate, start=-H, end=24 * H)
    items.delegate(leader, p["county_a"], start=-48 * H, end=-24 * H)  # over: not a watcher
    items.delegate(leader, p["county_b"], start=24 * H, end=48 * H)  # not yet
    items.todo(leader, 2 * H, "签批请示")

    assert _run(app)["notifications"] == 3
    got = {n["user_id"]: n for n in items.notices()}
    assert set(got) == {leader.id, secretary.id, delegate.id}
    assert {n["title"] for n in got.values()} == {"临期提醒：签批请示"}
    assert "办理人" not in got[leader.id]["body"]
    assert "办理人：李省长" in got[secretary.id]["body"] and "办理人：李省长" in got[delegate.id]["body"]
    assert items.audit() == [{"source": "todos", "kind": "due_soon", "reminders": 1, "notifications": 3}]


def test_batches_one_audit_event_each_and_the_backlog_empties(app, org, items):
    staff, leader = org["people"]["staff"], org["people"]["leader"]
    todos = [items.todo(staff if i % 2 else leader, -timedelta(minutes=i)) for i in range(7)]
    assert _run(app, batch_size=3) == {"errors": 0, "due_soon": 0, "overdue": 7, "notifications": 7}
    assert items.reminders() == {(t, "overdue") for t in todos}
    assert [e["reminders"] for e in items.audit()] == [3, 3, 1]


def test_batches_split_items_due_at_the_same_moment(app, org, items):
    now = utcnow()
    todos = {items.todo(org["people"]["staff"], 5 * H, now=now) for _ in range(5)}  # one due time
    assert _run(app, now, batch_size=2)["due_soon"] == 5
    assert items.reminders() == {(t, "due_soon") for t in todos}


def test_stops_between_batches_when_told(app, org, items):
    """keep_going() is asked before every batch: a scheduler that lost the leadership stops."""
    for i in range(5):
        items.todo(org["people"]["staff"], -timedelta(minutes=i + 1))
    answers = iter([True, False])
    assert _run(app, batch_size=2, keep_going=lambda: next(answers, False))["overdue"] == 2
    assert _run(app, batch_size=2)["overdue"] == 3


def test_pushes_go_out_after_commit(app, org, items, monkeypatch):
    sent = []
    monkeypatch.setattr(socketio, "emit", lambda event, payload, to=None, **kw: sent.append((event, to)))
    staff = org["people"]["staff"]
    items.todo(staff, -H)
    _run(app)
    assert sent == [("notification", f"user:{staff.id}")]


def test_more_sources_can_register(app, org, items, monkeypatch):
    monkeypatch.setattr(reminders, "_SOURCES", dict(reminders._SOURCES))
    seen = []

    @reminders.reminder_source("meetings")
    def meetings(now, batch_size, keep_going):
        seen.append((now, batch_size))
        return {"meeting_soon": 2, "notifications": 5}

    @reminders.reminder_source("broken")
    def broken(now, batch_size, keep_going):
        raise RuntimeError("boom")

    items.todo(org["people"]["staff"], -H)
    now = utcnow()
    result = _run(app, now)
    assert result == {"errors": 1, "due_soon": 0, "overdue": 1, "notifications": 6, "meeting_soon": 2}
    assert seen == [(now, reminders.BATCH_SIZE)]
    assert set(reminders.sources()) == {"todos", "meetings", "broken"}


def test_run_once_command(app, org, items):
    items.todo(org["people"]["staff"], 2 * H)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["reminders", "run-once"])
    assert result.exit_code == 0, result.output
    assert "临期提醒 1 条，逾期提醒 0 条，通知 1 条" in result.output
    later = (utcnow() + 3 * H).isoformat()
    result = runner.invoke(args=["reminders", "run-once", "--now", later])
    assert result.exit_code == 0 and "逾期提醒 1 条" in result.output
    bad = runner.invoke(args=["reminders", "run-once", "--now", "2026-05-01 09:00"])
    assert bad.exit_code == 2 and "须带时区" in bad.output
    bad = runner.invoke(args=["reminders", "run-once", "--now", "tomorrow"])
    assert bad.exit_code == 2 and "ISO 8601" in bad.output
