"""Two schedulers racing on the same items send each reminder exactly once.

PostgreSQL: both read the same batch; the second INSERT ... ON CONFLICT DO NOTHING waits for
the first transaction and then inserts nothing. SQLite: BEGIN IMMEDIATE runs the two
transactions one after the other.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

from office.db import utcnow
from office.reminders.services import run_due_reminders

H = timedelta(hours=1)


def _race(app, n_schedulers: int, **kw) -> list[dict[str, int]]:
    start = threading.Barrier(n_schedulers)
    results: list[dict[str, int]] = []
    errors: list[BaseException] = []

    def scheduler() -> None:
        try:
            with app.app_context():  # each "process" has its own context, session, connection
                start.wait(timeout=10)
                results.append(run_due_reminders(**kw))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=scheduler) for _ in range(n_schedulers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert len(results) == n_schedulers
    return results


def test_two_schedulers_send_each_reminder_once(app, org, items):
    p = org["people"]
    items.secretary(p["secretary"], p["leader"])
    now = utcnow()
    todos = []
    for i in range(12):
        owner = p["leader"] if i % 3 == 0 else p["staff"]
        todos.append((items.todo(owner, (i + 1) * H, now=now), "due_soon"))
        todos.append((items.todo(owner, -(i + 1) * H, now=now), "overdue"))

    results = _race(app, 2, now=now, batch_size=4)

    assert items.reminders() == set(todos)
    assert sum(r["due_soon"] for r in results) == 12 and sum(r["overdue"] for r in results) == 12
    notices = items.notices()
    # 8 leader items reach the leader and the secretary; 16 staff items reach staff only
    assert len(notices) == 8 * 2 + 16 == sum(r["notifications"] for r in results)
    per_person_and_item = Counter((n["user_id"], n["title"]) for n in notices)
    assert set(per_person_and_item.values()) == {1}
    assert sum(e["reminders"] for e in items.audit()) == 24

    # and a third pass, after the race, finds nothing left
    with app.app_context():
        assert run_due_reminders(now)["notifications"] == 0


def test_three_schedulers_on_one_backlog(app, org, items):
    now = utcnow()
    todos = {
        (items.todo(org["people"]["staff"], -timedelta(minutes=i + 1), now=now), "overdue") for i in range(30)
    }
    results = _race(app, 3, now=now, batch_size=5)
    assert items.reminders() == todos
    assert sum(r["overdue"] for r in results) == 30 == len(items.notices())
