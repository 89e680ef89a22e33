"""The 待办 pages through the Flask test client: the list and its tabs, sending a 交办 (once
per request key), completing and urging through the forms, the inbox and the header counts."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from office.db import utcnow
from office.extensions import db
from office.notifications.models import Notification
from office.todos.models import Todo, TodoStatus
from tests.conftest import web_login


def _send(client, token, target, **fields):
    data = {"csrf_token": token, "user_id": str(target.id), "title": "请报送本周工作小结", **fields}
    return client.post("/todos/new", data=data)


def _new_key(client) -> str:
    html = client.get("/todos/new").get_data(as_text=True)
    match = re.search(r'name="request_key" value="([^"]+)"', html)
    assert match, "no request_key on the 交办 form"
    return match.group(1)


def _todos(app, **filters) -> list[Todo]:
    with app.app_context():
        items = db.session.scalars(select(Todo).filter_by(**filters).order_by(Todo.id)).all()
        db.session.expunge_all()
        return list(items)


def _badge(html: str) -> int:
    match = re.search(r'id="todo-badge"[^>]*data-count="(\d+)"', html)
    assert match, "no 待办 badge in the header"
    return int(match.group(1))


def _bell(html: str) -> tuple[int, int]:
    match = re.search(r'id="bell"[^>]*data-unread="(\d+)" data-last-id="(\d+)"', html)
    assert match, "no bell in the header"
    return int(match.group(1)), int(match.group(2))


@pytest.fixture
def people(org):
    return org["people"]


def test_pages_render_for_a_signed_in_person(client, people):
    web_login(client, "zhangsan")
    for url, text in [
        ("/todos", "暂无待办事项"),
        ("/todos?tab=read", "暂无待阅事项"),
        ("/todos?tab=done", "暂无已办事项"),
        ("/todos?tab=sent", "还没有交办过事项"),
        ("/todos?tab=bogus", "暂无待办事项"),
        ("/todos/new", "交办事项"),
        ("/notifications", "暂无通知"),
        ("/", "今日待办"),
    ]:
        resp = client.get(url)
        assert resp.status_code == 200, url
        assert text in resp.get_data(as_text=True), url
    html = client.get("/todos").get_data(as_text=True)
    for label in ("待办", "待阅", "已办", "我交办的"):
        assert f">{label}" in html
    assert 'href="/todos/new"' in html  # 交办事项
    assert 'id="todo-row-template"' in html  # live rows are cloned from it


def test_pages_need_sign_in(client, people):
    for url in ("/todos", "/todos/new", "/notifications"):
        resp = client.get(url)
        assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_send_memo_reaches_the_target(app, client, people):
    token = web_login(client, "leader")
    due = (utcnow() + timedelta(days=2)).astimezone().strftime("%Y-%m-%dT%H:%M")
    resp = _send(
        client,
        token,
        people["staff"],
        body="材料请发办公厅。",
        urgency="very_urgent",
        due_at=due,
        request_key=_new_key(client),
    )
    assert resp.status_code == 302
    [t] = _todos(app, user_id=people["staff"].id)
    assert resp.headers["Location"].endswith(f"/todos/{t.id}")
    assert (t.kind, t.sender_id, t.urgency, t.source_url) == (
        "memo",
        people["leader"].id,
        2,
        f"/todos/{t.id}",
    )
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "已交办给 张三" in page  # flash
    assert "催办" in page and "办结</button>" not in page  # the sender urges, the handler completes

    sent = client.get("/todos?tab=sent").get_data(as_text=True)
    assert "请报送本周工作小结" in sent and "张三" in sent and "待办理" in sent

    other = app.test_client()
    web_login(other, "zhangsan")
    html = other.get("/todos").get_data(as_text=True)
    assert "请报送本周工作小结" in html
    assert f'data-id="{t.id}"' in html
    assert "特急" in html and "李省长" in html
    assert _badge(html) == 1
    assert re.search(r'data-count-of="pending">1<', html)
    home = other.get("/").get_data(as_text=True)
    assert "请报送本周工作小结" in home


def test_double_submit_with_the_same_request_key_sends_once(app, client, people):
    token = web_login(client, "leader")
    key = _new_key(client)
    first = _send(client, token, people["staff"], request_key=key)
    second = _send(client, token, people["staff"], request_key=key)
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    assert len(_todos(app, user_id=people["staff"].id)) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Notification)) == 1
    # A fresh form (new key) is a new 交办.
    assert _send(client, token, people["staff"], request_key=_new_key(client)).status_code == 302
    assert len(_todos(app, user_id=people["staff"].id)) == 2


def test_validation_errors_show_beside_the_fields(app, client, people):
    token = web_login(client, "leader")
    key = _new_key(client)
    resp = _send(client, token, people["staff"], title="", request_key=key)
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert re.search(r'name="title"[^>]*></label>\s*<div class="field-error" role="alert">必填</div>', html)
    assert f'value="{key}"' in html  # the same key: a corrected resubmit still sends once
    assert "张三" in html  # the chosen person stays chosen

    resp = client.post("/todos/new", data={"csrf_token": token, "title": "无人办理", "request_key": key})
    assert resp.status_code == 422
    assert re.search(r'<div class="field-error" role="alert">必填</div>', resp.get_data(as_text=True))

    past = (utcnow() - timedelta(hours=2)).astimezone().strftime("%Y-%m-%dT%H:%M")
    resp = _send(client, token, people["staff"], due_at=past, request_key=key)
    assert resp.status_code == 422
    assert "办理期限须晚于当前时间" in resp.get_data(as_text=True)

    # Someone out of reach (another county) cannot be sent a 交办.
    county = app.test_client()
    county_token = web_login(county, "county_a")
    resp = _send(county, county_token, people["county_b"], request_key="k-out-of-reach")
    assert resp.status_code == 422
    assert "找不到该人员" in resp.get_data(as_text=True)
    assert _todos(app) == []


def test_complete_through_the_form(app, client, people):
    token = web_login(client, "leader")
    _send(client, token, people["staff"], request_key="k-complete")
    [t] = _todos(app)
    handler = app.test_client()
    handler_token = web_login(handler, "zhangsan")
    page = handler.get(f"/todos/{t.id}").get_data(as_text=True)
    assert "办结</button>" in page and "催办留言" not in page

    resp = handler.post(f"/todos/{t.id}/complete", data={"csrf_token": handler_token})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/todos/{t.id}")
    page = handler.get(resp.headers["Location"]).get_data(as_text=True)
    assert "已办结：请报送本周工作小结" in page and "办结</button>" not in page
    [t] = _todos(app)
    assert t.status is TodoStatus.DONE and t.done_by_id == people["staff"].id
    assert "请报送本周工作小结" in handler.get("/todos?tab=done").get_data(as_text=True)
    assert "暂无待办事项" in handler.get("/todos").get_data(as_text=True)
    assert "已办结" in client.get("/todos?tab=sent").get_data(as_text=True)

    # Without the CSRF token nothing happens; a foreign "next" is not followed.
    assert handler.post(f"/todos/{t.id}/complete").status_code == 400
    resp = handler.post(
        f"/todos/{t.id}/complete", data={"csrf_token": handler_token, "next": "//evil.example/x"}
    )
    assert resp.headers["Location"].endswith(f"/todos/{t.id}")
    resp = handler.post(f"/todos/{t.id}/complete", data={"csrf_token": handler_token, "next": "/todos"})
    assert resp.headers["Location"].endswith("/todos")


def test_the_sender_cannot_complete(app, client, people):
    token = web_login(client, "leader")
    _send(client, token, people["staff"], request_key="k-sender")
    [t] = _todos(app)
    assert client.post(f"/todos/{t.id}/complete", data={"csrf_token": token}).status_code == 404
    assert _todos(app)[0].status is TodoStatus.PENDING


def test_urging_twice_in_an_hour_shows_the_limit(app, client, people):
    token = web_login(client, "leader")
    _send(client, token, people["staff"], request_key="k-urge")
    [t] = _todos(app)
    resp = client.post(f"/todos/{t.id}/urge", data={"csrf_token": token, "message": "今天下班前报送"})
    assert resp.status_code == 302
    assert "已向 张三 催办" in client.get(f"/todos/{t.id}").get_data(as_text=True)
    with app.app_context():
        urges = db.session.scalars(select(Notification).filter_by(kind="urge")).all()
        assert [(n.user_id, n.body) for n in urges] == [(people["staff"].id, "今天下班前报送")]

    resp = client.post(f"/todos/{t.id}/urge", data={"csrf_token": token})
    assert resp.status_code == 302
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert re.search(r"alert-error[^>]*>每小时最多催办一次，请于 \d\d:\d\d 后再催办<", page)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Notification).filter_by(kind="urge")) == 1

    # The handler may not urge their own item.
    handler = app.test_client()
    handler_token = web_login(handler, "zhangsan")
    resp = handler.post(f"/todos/{t.id}/urge", data={"csrf_token": handler_token})
    assert "只有交办人可以催办" in handler.get(resp.headers["Location"]).get_data(as_text=True)


def test_another_units_person_cannot_open_the_item(app, client, people):
    token = web_login(client, "leader")
    _send(client, token, people["staff"], request_key="k-private")
    [t] = _todos(app)
    stranger = app.test_client()
    stranger_token = web_login(stranger, "county_b")
    assert stranger.get(f"/todos/{t.id}").status_code == 404
    assert stranger.post(f"/todos/{t.id}/complete", data={"csrf_token": stranger_token}).status_code == 404
    assert stranger.post(f"/todos/{t.id}/urge", data={"csrf_token": stranger_token}).status_code == 404
    assert "请报送本周工作小结" not in stranger.get("/todos").get_data(as_text=True)
    assert stranger.get("/todos/999999").status_code == 404


def test_header_shows_counts_and_inbox_marks_read(app, client, people):
    token = web_login(client, "leader")
    assert _badge(client.get("/").get_data(as_text=True)) == 0
    _send(client, token, people["staff"], request_key="k-a")
    _send(client, token, people["staff"], request_key="k-b", title="第二件事")

    handler = app.test_client()
    handler_token = web_login(handler, "zhangsan")
    html = handler.get("/directory").get_data(as_text=True)
    assert _badge(html) == 2
    unread, last_id = _bell(html)
    with app.app_context():
        newest = db.session.scalar(select(func.max(Notification.id)))
    assert (unread, last_id) == (2, newest)

    inbox = handler.get("/notifications").get_data(as_text=True)
    assert inbox.count('class="notif unread"') == 2
    assert "新待办：第二件事" in inbox and "李省长 交办" in inbox
    resp = handler.post("/notifications/read-all", data={"csrf_token": handler_token})
    assert resp.status_code == 302
    inbox = handler.get(resp.headers["Location"]).get_data(as_text=True)
    assert "已将 2 条通知标为已读" in inbox and 'class="notif unread"' not in inbox
    assert _bell(inbox) == (0, newest)
    assert _badge(inbox) == 2  # reading notifications does not close the items


def test_kind_filter_and_new_form_prefill(app, client, people):
    token = web_login(client, "leader")
    _send(client, token, people["staff"], request_key="k-kind")
    handler = app.test_client()
    web_login(handler, "zhangsan")
    html = handler.get("/todos").get_data(as_text=True)
    assert 'href="/todos?tab=pending&amp;kind=memo"' in html and ">交办</a>" in html
    assert "请报送本周工作小结" in handler.get("/todos?kind=memo").get_data(as_text=True)
    filtered = handler.get("/todos?kind=document").get_data(as_text=True)
    assert "请报送本周工作小结" not in filtered and 'data-kind="document"' in filtered

    html = client.get(f"/todos/new?user_id={people['staff'].id}").get_data(as_text=True)
    assert f'name="user_id" id="memo-user-id" value="{people["staff"].id}"' in html
    assert "<strong data-picker-name>张三</strong>" in html
