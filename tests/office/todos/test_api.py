"""The to-do and notification API (API.md contract) and its bad input."""

from __future__ import annotations

from office.extensions import db
from office.todos import services
from tests.conftest import bearer


def _send(client, headers, to_id, title="请报送年度总结", **extra):
    return client.post("/api/v1/todos", json={"user_id": to_id, "title": title, **extra}, headers=headers)


def test_send_list_counts_complete(client, org):
    sender, target = bearer(client, "unitadmin"), bearer(client, "zhangsan")
    resp = _send(
        client, sender, org["people"]["staff"].id, urgency="urgent", due_at="2099-01-01T09:00:00+08:00"
    )
    assert resp.status_code == 201
    item = resp.get_json()
    assert item["actions"] == ["urge"] and item["source"] == {
        "type": "memo",
        "id": org["people"]["unitadmin"].id,
        "url": f"/todos/{item['id']}",
    }
    listing = client.get("/api/v1/todos?status=pending", headers=target).get_json()
    assert listing["total"] == 1 and listing["page"] == 1 and listing["per_page"] == 20
    row = listing["items"][0]
    for key in ("id", "kind", "title", "urgency", "due_at", "created_at", "status", "source"):
        assert key in row
    assert row["urgency"] == "urgent" and row["due_at"].startswith("2099-01-01T01:00:00")
    assert client.get("/api/v1/todos/counts", headers=target).get_json()["pending"] == 1
    assert client.get("/api/v1/todos/counts", headers=target).get_json()["by_kind"] == {"memo": 1}
    done = client.post(f"/api/v1/todos/{item['id']}/complete", headers=target)
    assert done.status_code == 200 and done.get_json()["status"] == "done"
    assert client.post(f"/api/v1/todos/{item['id']}/complete", headers=target).status_code == 200
    assert client.get("/api/v1/todos?status=done", headers=target).get_json()["total"] == 1


def test_idempotency_key_sends_once(client, org):
    sender = bearer(client, "unitadmin")
    h = {**sender, "Idempotency-Key": "abc-123"}
    a = _send(client, h, org["people"]["staff"].id).get_json()
    b = _send(client, h, org["people"]["staff"].id).get_json()
    assert a["id"] == b["id"]
    target = bearer(client, "zhangsan")
    assert client.get("/api/v1/todos", headers=target).get_json()["total"] == 1
    assert client.get("/api/v1/notifications", headers=target).get_json()["total"] == 1


def test_urge_rules_and_429(client, org):
    sender = bearer(client, "unitadmin")
    item = _send(client, sender, org["people"]["staff"].id).get_json()
    assert client.post(f"/api/v1/todos/{item['id']}/urge", json={}, headers=sender).status_code == 200
    again = client.post(f"/api/v1/todos/{item['id']}/urge", json={}, headers=sender)
    assert again.status_code == 429
    assert (
        again.get_json()["error"]["code"] == "urge_too_often"
        and "next_allowed_at" in again.get_json()["error"]["details"]
    )
    assert int(again.headers["Retry-After"]) > 3000
    target = bearer(client, "zhangsan")
    assert client.post(f"/api/v1/todos/{item['id']}/urge", json={}, headers=target).status_code == 403
    urges = [
        n
        for n in client.get("/api/v1/notifications", headers=target).get_json()["items"]
        if n["kind"] == "urge"
    ]
    assert len(urges) == 1


def test_foreign_and_unknown_ids_are_404(client, org):
    sender = bearer(client, "unitadmin")
    item = _send(client, sender, org["people"]["staff"].id).get_json()
    other = bearer(client, "county_a")
    for path in (f"/api/v1/todos/{item['id']}", "/api/v1/todos/999999"):
        assert client.get(path, headers=other).status_code == 404
    assert client.post(f"/api/v1/todos/{item['id']}/complete", headers=other).status_code == 404
    # sending to someone outside one's reach is a 404 too
    county = bearer(client, "county_a")
    assert _send(client, county, org["people"]["staff"].id).status_code == 404
    target = bearer(client, "zhangsan")
    note_id = client.get("/api/v1/notifications", headers=target).get_json()["items"][0]["id"]
    assert client.post(f"/api/v1/notifications/{note_id}/read", headers=other).status_code == 404
    assert client.post("/api/v1/notifications/999999/read", headers=target).status_code == 404


def test_bad_input_is_422(client, org):
    h = bearer(client, "zhangsan")
    for query in ("status=bogus", "per_page=500", "page=0", "category=x"):
        assert client.get(f"/api/v1/todos?{query}", headers=h).status_code == 422, query
    for query in ("after_id=-1", "after_id=abc"):
        resp = client.get(f"/api/v1/notifications?{query}", headers=h)
        assert resp.status_code == 422 and "after_id" in resp.get_json()["error"]["details"]["fields"]
    sender = bearer(client, "unitadmin")
    assert _send(client, sender, org["people"]["staff"].id, title="").status_code == 422
    assert _send(client, sender, org["people"]["staff"].id, urgency="now").status_code == 422
    past = _send(client, sender, org["people"]["staff"].id, due_at="2001-01-01T00:00:00+08:00")
    assert past.status_code == 422 and past.get_json()["error"]["code"] == "due_in_past"
    assert client.post("/api/v1/todos", json={"title": "x"}, headers=sender).status_code == 422


def test_notifications_after_id_catch_up_and_read(client, org):
    sender = bearer(client, "unitadmin")
    target = bearer(client, "zhangsan")
    first = _send(client, sender, org["people"]["staff"].id, title="第一件").get_json()
    seen = client.get("/api/v1/notifications", headers=target).get_json()
    last_id = seen["items"][0]["id"]
    _send(client, sender, org["people"]["staff"].id, title="第二件")
    _send(client, sender, org["people"]["staff"].id, title="第三件")
    missed = client.get(f"/api/v1/notifications?after_id={last_id}", headers=target).get_json()
    assert [n["title"] for n in missed["items"]] == ["新待办：第二件", "新待办：第三件"]
    assert missed["unread"] == 3
    assert client.post(f"/api/v1/notifications/{missed['items'][0]['id']}/read", headers=target).get_json()[
        "read"
    ]
    assert client.post("/api/v1/notifications/read-all", headers=target).get_json()["unread"] == 0
    assert client.get("/api/v1/notifications?unread=true", headers=target).get_json()["total"] == 0
    assert first["title"] == "第一件"


def test_get_object_lists_actions(app, client, org):
    sender = bearer(client, "unitadmin")
    item = _send(client, sender, org["people"]["staff"].id).get_json()
    target = bearer(client, "zhangsan")
    assert client.get(f"/api/v1/todos/{item['id']}", headers=target).get_json()["actions"] == ["complete"]
    assert client.get(f"/api/v1/todos/{item['id']}", headers=sender).get_json()["actions"] == ["urge"]
    with app.app_context():
        assert (
            services.counts(db.session.get(type(org["people"]["staff"]), org["people"]["staff"].id))[
                "pending"
            ]
            == 1
        )
