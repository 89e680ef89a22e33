"""Live pushes: a real python-socketio client against real running servers, in both modes.

* Embedded default (SQLite pass, and the PostgreSQL pass too: it needs nothing installed):
  ``python -m office serve`` with the demo data. A 交办 to-do POSTed through the API reaches
  the recipient's connection as ``todo`` + ``notification`` events, and the connections of those
  acting for them (secretary, delegate; ``todo.acting_for`` set), nobody else; requests that
  change nothing (rejected, or a retry with the same Idempotency-Key) push nothing; a client that
  was away catches up through ``GET /api/v1/notifications?after_id=N``.
* Scale-out (``postgres``): two gunicorn/gevent processes through docker/entrypoint.sh on one
  PostgreSQL database and the Redis message queue (scripts/scaleout-check.sh --hold). A to-do
  created through process A reaches a client connected to process B; a client that reconnects
  to the other process recovers what it missed; concurrent retries of one request through both
  processes create one to-do and push it once.

That events leave only after the commit (and never after a rollback) is checked in-process in
tests/office/todos/test_services.py; here it shows as "the event arrives, and what it describes
is already readable through the API".
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import requests

from tests.deploy.conftest import (
    DEMO_PASSWORD,
    Listener,
    LiveServer,
    Person,
    notifications_after,
    send_memo,
    sign_in,
)

pytestmark = pytest.mark.slow

EVENT_WAIT = 2.0  # a push must arrive within this (it is local: milliseconds in practice)
QUIET = 1.0  # how long a connection must stay silent to count as "received nothing"

Listen = Callable[[str, Person], Listener]
_seq = itertools.count(1)


def unique(title: str) -> str:
    return f"{title}（{next(_seq)}）"


def is_todo(todo_id: int, action: str = "created") -> Callable[[dict], bool]:
    return lambda d: d["action"] == action and d["todo"]["id"] == todo_id


def is_note(title: str) -> Callable[[dict], bool]:
    return lambda d: d["title"] == f"新待办：{title}"


def created(resp: requests.Response) -> int:
    assert resp.status_code == 201, f"POST /api/v1/todos: {resp.status_code} {resp.text[:300]}"
    return resp.json()["id"]


def expect(listener: Listener, event: str, match: Callable[[dict], bool], server: LiveServer, **kw) -> dict:
    got = listener.wait(event, match, timeout=EVENT_WAIT, **kw)
    assert got is not None, (
        f"{listener.label}: no matching {event!r} within {EVENT_WAIT} s; got {listener.since()}\n"
        f"{server.log_tail()}"
    )
    return got


def names(events: list[tuple[str, object]]) -> list[str]:
    return sorted(name for name, _ in events)


@pytest.fixture(scope="module", autouse=True)
def _pair_starts_early(request: pytest.FixtureRequest) -> None:
    """When this module's scale-out tests are selected, launch the pair (10-20 s to start)
    first, so that it starts while the embedded tests run."""
    if any(
        item.module is request.module and "scaleout_pair" in item.fixturenames
        for item in request.session.items
    ):
        request.getfixturevalue("scaleout_launch")


# ---------------------------------------------------------------- embedded default


@pytest.fixture(scope="module")
def demo(embedded: LiveServer) -> dict[str, Person]:
    for username in ("staff", "divhead", "county", "leader", "secretary", "supervisor", "unitadmin"):
        embedded.people[username] = sign_in(embedded.url, username, DEMO_PASSWORD)
    return embedded.people


def test_memo_reaches_the_recipient_and_nobody_else(embedded: LiveServer, demo, listen: Listen):
    url, staff, divhead, county = embedded.url, demo["staff"], demo["divhead"], demo["county"]
    to_b = listen(url, divhead)
    bystanders = [listen(url, county), listen(url, staff)]  # a third person; the sender
    title = unique("请于周五前报送季度工作总结")

    started = time.monotonic()
    todo_id = created(send_memo(url, staff, divhead.id, title, body="附件见系统", urgency="urgent"))
    event = expect(to_b, "todo", is_todo(todo_id), embedded)
    note = expect(to_b, "notification", is_note(title), embedded)
    latency = time.monotonic() - started

    todo = event["todo"]
    assert (todo["title"], todo["body"], todo["urgency"], todo["status"]) == (
        title,
        "附件见系统",
        "urgent",
        "pending",
    )
    assert todo["user"]["id"] == divhead.id and todo["sender"]["id"] == staff.id
    assert todo["acting_for"] is None  # the recipient's own item
    assert note["url"] == f"/todos/{todo_id}" and note["read"] is False and staff.name in note["body"]
    assert latency < EVENT_WAIT
    # What the events describe is committed: readable through the API once they arrive.
    resp = requests.get(f"{url}/api/v1/todos/{todo_id}", headers=divhead.headers(), timeout=10)
    assert resp.status_code == 200 and resp.json()["title"] == title
    assert notifications_after(url, divhead, note["id"] - 1)[0]["id"] == note["id"]

    time.sleep(QUIET)
    assert names(to_b.since()) == ["notification", "todo"]  # once each
    for listener in bystanders:
        assert listener.since() == [], f"{listener.label} heard of someone else's to-do"


def test_those_acting_for_the_recipient_hear_it_too(embedded: LiveServer, demo, listen: Listen):
    url, staff, leader, secretary = embedded.url, demo["staff"], demo["leader"], demo["secretary"]
    resp = requests.get(f"{url}/api/v1/me/principals", headers=leader.headers(), timeout=10)
    assert resp.status_code == 200
    (delegator,) = resp.json()["items"]  # the demo: a vice-governor on a trip delegated to leader
    to_leader, to_secretary = listen(url, leader), listen(url, secretary)

    # The secretary hears of the leader's item, marked as acting for the leader.
    title = unique("请审阅防汛工作方案")
    todo_id = created(send_memo(url, staff, leader.id, title))
    own = expect(to_leader, "todo", is_todo(todo_id), embedded)
    theirs = expect(to_secretary, "todo", is_todo(todo_id), embedded)
    assert own["todo"]["acting_for"] is None
    assert theirs["todo"]["acting_for"] == {"id": leader.id, "name": leader.name}
    assert theirs["todo"]["title"] == title and theirs["todo"]["user"]["id"] == leader.id
    expect(to_leader, "notification", is_note(title), embedded)

    # The secretary closes it for the leader: the one row closes, both hear it.
    resp = requests.post(f"{url}/api/v1/todos/{todo_id}/complete", headers=secretary.headers(), timeout=10)
    assert resp.status_code == 200 and resp.json()["done_by"]["id"] == secretary.id
    for listener in (to_leader, to_secretary):
        done = expect(listener, "todo", is_todo(todo_id, "done"), embedded)
        assert done["todo"]["status"] == "done" and done["todo"]["done_by"]["id"] == secretary.id

    # A delegation: the delegate hears of the delegator's item; the delegate's secretary,
    # who does not act for the delegator, hears nothing.
    secretary_mark = to_secretary.mark()
    title = unique("请出席省防汛会议")
    todo_id = created(send_memo(url, staff, delegator["id"], title))
    delegated = expect(to_leader, "todo", is_todo(todo_id), embedded)
    assert delegated["todo"]["acting_for"]["id"] == delegator["id"]
    time.sleep(QUIET)
    assert to_secretary.since(secretary_mark) == []


def check_recovery(
    server: LiveServer,
    listen: Listen,
    sender: Person,
    person: Person,
    *,
    send_url: str,
    first_url: str,
    again_url: str,
    last_send_url: str,
) -> None:
    """Connected to ``first_url``, then away while two to-dos are sent through ``send_url``;
    back on ``again_url``: ``after_id`` returns exactly the two missed notifications, oldest
    first, and pushes flow again (the last one sent through ``last_send_url``)."""
    first = listen(first_url, person)
    title = unique("上线时收到的交办")
    created(send_memo(send_url, sender, person.id, title))
    last_seen = expect(first, "notification", is_note(title), server)["id"]

    first.disconnect()
    assert not first.sio.connected
    away = first.mark()
    missed = [unique("离线期间的交办一"), unique("离线期间的交办二")]
    missed_ids = [created(send_memo(send_url, sender, person.id, t)) for t in missed]

    again = listen(again_url, person)
    assert first.since(away) == []  # (it was closed)
    items = notifications_after(again_url, person, last_seen)
    assert [n["title"] for n in items] == [f"新待办：{t}" for t in missed]
    assert items[0]["id"] < items[1]["id"] and not any(n["read"] for n in items)
    # ... and the to-do list has the items themselves.
    resp = requests.get(
        f"{again_url}/api/v1/todos", params={"per_page": 100}, headers=person.headers(), timeout=10
    )
    assert resp.status_code == 200
    assert set(missed_ids) <= {t["id"] for t in resp.json()["items"]}

    # Pushes reach the new connection; nothing missed is replayed on it; the pushed id is
    # the next after_id cursor.
    title = unique("重新连接后的交办")
    todo_id = created(send_memo(last_send_url, sender, person.id, title))
    expect(again, "todo", is_todo(todo_id), server)
    note = expect(again, "notification", is_note(title), server)
    assert names(again.since()) == ["notification", "todo"]
    assert [n["id"] for n in notifications_after(again_url, person, items[-1]["id"])] == [note["id"]]


def test_reconnecting_client_recovers_missed_events_through_after_id(embedded: LiveServer, demo, listen):
    url = embedded.url
    check_recovery(
        embedded,
        listen,
        demo["staff"],
        demo["supervisor"],
        send_url=url,
        first_url=url,
        again_url=url,
        last_send_url=url,
    )


def test_requests_that_change_nothing_push_nothing(embedded: LiveServer, demo, listen: Listen):
    url, staff, county, unitadmin = embedded.url, demo["staff"], demo["county"], demo["unitadmin"]
    to_b = listen(url, unitadmin)
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    rejected = [
        (staff, {"user_id": unitadmin.id, "title": ""}, 422),  # schema
        (staff, {"user_id": unitadmin.id, "title": "请办理", "urgency": "whenever"}, 422),
        (staff, {"user_id": unitadmin.id, "title": "请办理", "due_at": past}, 422),  # service
        (county, {"user_id": unitadmin.id, "title": "请办理"}, 404),  # outside the county's reach
    ]
    for sender, body, status in rejected:
        resp = requests.post(f"{url}/api/v1/todos", json=body, headers=sender.headers(), timeout=10)
        assert resp.status_code == status, f"{body}: {resp.status_code} {resp.text[:300]}"
    resp = requests.post(f"{url}/api/v1/todos", json={"user_id": unitadmin.id, "title": "请办理"}, timeout=10)
    assert resp.status_code == 401

    # A retry with the same Idempotency-Key returns the same item and pushes nothing more.
    title = unique("请核对人员名单")
    todo_id = created(send_memo(url, staff, unitadmin.id, title, key="push-live-retry-1"))
    assert created(send_memo(url, staff, unitadmin.id, title, key="push-live-retry-1")) == todo_id
    expect(to_b, "notification", is_note(title), server=embedded)
    time.sleep(QUIET)
    # Only the first accepted request was heard: nothing from the rejected ones (they came
    # first, on the same connection), one todo and one notification for the retried one.
    events = to_b.since()
    assert names(events) == ["notification", "todo"], events
    assert [d["todo"]["id"] for n, d in events if n == "todo"] == [todo_id]


# ---------------------------------------------------------------- scale-out: two processes


@pytest.mark.postgres
def test_scaleout_memo_through_a_reaches_the_client_on_b(scaleout_pair: LiveServer, listen: Listen):
    a_url, b_url = scaleout_pair.urls["A"], scaleout_pair.urls["B"]
    sender, person, other = (scaleout_pair.people[u] for u in ("pusha", "pushb", "pushc"))
    on_b = listen(b_url, person)
    on_a = listen(a_url, person)  # the same person on the other process too
    bystanders = [listen(a_url, other), listen(b_url, other), listen(b_url, sender)]

    for body in ({"user_id": person.id, "title": ""}, {"user_id": person.id, "title": "x", "urgency": "?"}):
        resp = requests.post(f"{a_url}/api/v1/todos", json=body, headers=sender.headers(), timeout=10)
        assert resp.status_code == 422, resp.text[:300]

    title = unique("跨进程交办")
    started = time.monotonic()
    todo_id = created(send_memo(a_url, sender, person.id, title))
    event = expect(on_b, "todo", is_todo(todo_id), scaleout_pair)
    note = expect(on_b, "notification", is_note(title), scaleout_pair)
    latency = time.monotonic() - started
    assert event["todo"]["title"] == title and event["todo"]["user"]["id"] == person.id
    assert latency < EVENT_WAIT
    expect(on_a, "todo", is_todo(todo_id), scaleout_pair)
    expect(on_a, "notification", is_note(title), scaleout_pair)
    # Committed before it was pushed: B reads it from the shared database.
    resp = requests.get(f"{b_url}/api/v1/todos/{todo_id}", headers=person.headers(), timeout=10)
    assert resp.status_code == 200 and resp.json()["title"] == title
    assert [n["id"] for n in notifications_after(b_url, person, note["id"] - 1)] == [note["id"]]

    time.sleep(QUIET)
    # The rejected requests (sent first) pushed nothing; the accepted one once per connection.
    assert names(on_b.since()) == names(on_a.since()) == ["notification", "todo"]
    for listener in bystanders:
        assert listener.since() == [], f"{listener.label} heard of someone else's to-do"


@pytest.mark.postgres
def test_scaleout_reconnect_to_the_other_process_recovers_through_after_id(
    scaleout_pair: LiveServer, listen: Listen
):
    a_url, b_url = scaleout_pair.urls["A"], scaleout_pair.urls["B"]
    check_recovery(
        scaleout_pair,
        listen,
        scaleout_pair.people["pusha"],
        scaleout_pair.people["pushb"],
        send_url=a_url,
        first_url=b_url,
        again_url=a_url,
        last_send_url=b_url,
    )


@pytest.mark.postgres
def test_scaleout_concurrent_retries_through_both_processes_push_once(
    scaleout_pair: LiveServer, listen: Listen
):
    """The same request (one Idempotency-Key) sent through A and B at the same moment: one
    to-do; the losing transaction rolls back its insert and pushes nothing."""
    urls = [scaleout_pair.urls["A"], scaleout_pair.urls["B"]]
    sender, person = scaleout_pair.people["pusha"], scaleout_pair.people["pushc"]
    to_c = listen(urls[1], person)
    rounds = [(unique("并发重试的交办"), f"push-live-race-{n}") for n in range(4)]
    answers: dict[tuple[str, int], requests.Response] = {}

    def post(title: str, key: str, i: int, barrier: threading.Barrier) -> None:
        barrier.wait(timeout=10)
        answers[(key, i)] = send_memo(urls[i], sender, person.id, title, key=key)

    for title, key in rounds:
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=post, args=(title, key, i, barrier)) for i in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    ids = {}
    for title, key in rounds:
        pair = [created(answers[(key, i)]) for i in (0, 1)]
        assert pair[0] == pair[1], f"{key}: two to-dos for one request: {pair}"
        ids[title] = pair[0]

    for title, todo_id in ids.items():
        expect(to_c, "todo", is_todo(todo_id), scaleout_pair)
        expect(to_c, "notification", is_note(title), scaleout_pair)
    time.sleep(QUIET)
    events = to_c.since()
    assert len(events) == 2 * len(rounds), f"pushed more than once: {events}"
    resp = requests.get(
        f"{urls[0]}/api/v1/todos", params={"per_page": 100}, headers=person.headers(), timeout=10
    )
    assert sorted(t["id"] for t in resp.json()["items"]) == sorted(ids.values())
