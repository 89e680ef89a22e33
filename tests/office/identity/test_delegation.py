"""Secretaries (秘书代办), delegations (出差委托) and acting for someone (X-On-Behalf-Of)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tests.conftest import bearer, web_login
from tests.office.identity.conftest import window


def _principals(client, headers) -> list[str]:
    resp = client.get("/api/v1/me/principals", headers=headers)
    assert resp.status_code == 200
    return [p["name"] for p in resp.get_json()["items"]]


def _link(client, org, secretary="secretary", leader="leader"):
    return client.post(
        "/api/v1/secretaries",
        json={"secretary_id": org["people"][secretary].id, "leader_id": org["people"][leader].id},
        headers=bearer(client, "admin"),
    )


def test_link_secretary_to_leader(client, org):
    sec_headers = bearer(client, "secretary")
    assert _principals(client, sec_headers) == []

    resp = _link(client, org)
    assert resp.status_code == 201
    assert resp.get_json() == {
        "secretary_id": org["people"]["secretary"].id,
        "leader_id": org["people"]["leader"].id,
    }
    assert _principals(client, sec_headers) == ["李省长"]

    again = _link(client, org)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_linked"

    not_leader = _link(client, org, leader="staff")
    assert not_leader.status_code == 422
    error = not_leader.get_json()["error"]
    assert error["code"] == "not_a_leader" and "leader_id" in error["details"]["fields"]

    same = _link(client, org, secretary="leader")
    assert same.status_code == 422 and same.get_json()["error"]["code"] == "same_person"

    # the link has a direction: the leader acts for nobody
    assert _principals(client, bearer(client, "leader")) == []


def test_unlink_secretary(client, org):
    assert _link(client, org).status_code == 201
    sec, lead = org["people"]["secretary"].id, org["people"]["leader"].id
    admin = bearer(client, "admin")
    # a unit admin who does not manage the leader cannot undo it
    assert (
        client.delete(f"/api/v1/secretaries/{sec}/{lead}", headers=bearer(client, "unitadmin")).status_code
        == 403
    )
    assert client.delete(f"/api/v1/secretaries/{sec}/{lead}", headers=admin).status_code == 204
    assert _principals(client, bearer(client, "secretary")) == []
    assert client.delete(f"/api/v1/secretaries/{sec}/{lead}", headers=admin).status_code == 404


def test_only_managers_link_secretaries(client, org):
    resp = client.post(
        "/api/v1/secretaries",
        json={"secretary_id": org["people"]["secretary"].id, "leader_id": org["people"]["leader"].id},
        headers=bearer(client, "zhangsan"),
    )
    assert resp.status_code == 403


def test_secretary_acts_for_the_leader(client, org):
    assert _link(client, org).status_code == 201
    headers = bearer(client, "secretary")
    leader = org["people"]["leader"]

    acting = client.get("/api/v1/me", headers={**headers, "X-On-Behalf-Of": str(leader.id)})
    assert acting.status_code == 200
    assert acting.get_json()["username"] == "secretary"  # /me is still the person signed in

    for principal in (org["people"]["staff"].id, org["people"]["admin"].id, 999999, "abc", "-1"):
        refused = client.get("/api/v1/me", headers={**headers, "X-On-Behalf-Of": str(principal)})
        assert refused.status_code == 403, principal
        assert refused.get_json()["error"]["code"] == "cannot_act_for"

    # a leader cannot act for their own secretary (the link has a direction)
    back = client.get(
        "/api/v1/me",
        headers={**bearer(client, "leader"), "X-On-Behalf-Of": str(org["people"]["secretary"].id)},
    )
    assert back.status_code == 403


def test_secretary_creates_a_delegation_for_the_leader(client, org, trail):
    assert _link(client, org).status_code == 201
    leader, secretary, staff = org["people"]["leader"], org["people"]["secretary"], org["people"]["staff"]
    headers = {**bearer(client, "secretary"), "X-On-Behalf-Of": str(leader.id)}
    trail.mark()
    resp = client.post("/api/v1/delegations", json={"delegate_id": staff.id, **window()}, headers=headers)
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["delegator"]["name"] == "李省长" and body["delegate"]["name"] == "张三"
    assert body["active"] is True
    (event,) = trail.new()
    assert event.action == "office:delegation:create"
    assert (event.actor_id, event.on_behalf_of_id) == (secretary.id, leader.id)
    assert event.actor_name == "赵秘书"


def test_delegation_window(client, org, factory):
    lisi = factory.user("lisi", name="李四", unit=org["units"]["division"])
    staff_headers = bearer(client, "zhangsan")
    lisi_headers = bearer(client, "lisi")
    assert _principals(client, lisi_headers) == []

    resp = client.post(
        "/api/v1/delegations",
        json={"delegate_id": lisi.id, "reason": "出差", **window()},
        headers=staff_headers,
    )
    assert resp.status_code == 201, resp.get_json()
    d = resp.get_json()
    assert set(d) == {"id", "delegator", "delegate", "starts_at", "ends_at", "reason", "active", "revoked_at"}
    assert (d["delegator"]["name"], d["delegate"]["name"], d["reason"], d["active"]) == (
        "张三",
        "李四",
        "出差",
        True,
    )
    assert d["revoked_at"] is None
    assert _principals(client, lisi_headers) == ["张三"]
    # both sides see it in their list
    for headers in (staff_headers, lisi_headers):
        assert [x["id"] for x in client.get("/api/v1/delegations", headers=headers).get_json()["items"]] == [
            d["id"]
        ]

    # the delegate may act for the delegator now
    acting = client.get(
        "/api/v1/me", headers={**lisi_headers, "X-On-Behalf-Of": str(org["people"]["staff"].id)}
    )
    assert acting.status_code == 200

    # the delegate cannot end it; the delegator can
    assert client.post(f"/api/v1/delegations/{d['id']}/revoke", headers=lisi_headers).status_code == 403
    assert (
        client.post(f"/api/v1/delegations/{d['id']}/revoke", headers=bearer(client, "leader")).status_code
        == 404
    )
    revoked = client.post(f"/api/v1/delegations/{d['id']}/revoke", headers=staff_headers)
    assert revoked.status_code == 200
    assert revoked.get_json()["active"] is False and revoked.get_json()["revoked_at"]
    assert _principals(client, lisi_headers) == []
    refused = client.get(
        "/api/v1/me", headers={**lisi_headers, "X-On-Behalf-Of": str(org["people"]["staff"].id)}
    )
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "cannot_act_for"


def test_future_and_past_windows_grant_nothing(client, org, factory):
    lisi = factory.user("lisi", name="李四", unit=org["units"]["division"])
    staff_headers = bearer(client, "zhangsan")
    future = client.post(
        "/api/v1/delegations", json={"delegate_id": lisi.id, **window(60)}, headers=staff_headers
    )
    assert future.status_code == 201 and future.get_json()["active"] is False
    assert _principals(client, bearer(client, "lisi")) == []

    start = datetime.now(UTC) - timedelta(days=2)
    past = {"starts_at": start.isoformat(), "ends_at": (start + timedelta(days=1)).isoformat()}
    resp = client.post("/api/v1/delegations", json={"delegate_id": lisi.id, **past}, headers=staff_headers)
    assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "window_past"


@pytest.mark.parametrize("hours", [0, -1])
def test_window_must_end_after_it_starts(client, org, factory, hours):
    lisi = factory.user("lisi", name="李四", unit=org["units"]["division"])
    start = datetime.now(UTC) + timedelta(hours=1)
    body = {
        "delegate_id": lisi.id,
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=hours)).isoformat(),
    }
    resp = client.post("/api/v1/delegations", json=body, headers=bearer(client, "zhangsan"))
    assert resp.status_code == 422
    error = resp.get_json()["error"]
    assert error["code"] == "bad_window" and "ends_at" in error["details"]["fields"]


def test_delegation_input_rules(client, org):
    headers = bearer(client, "zhangsan")
    me = org["people"]["staff"]
    self_ = client.post("/api/v1/delegations", json={"delegate_id": me.id, **window()}, headers=headers)
    assert self_.status_code == 422 and self_.get_json()["error"]["code"] == "same_person"

    naive = {
        "delegate_id": org["people"]["leader"].id,
        "starts_at": "2030-01-01T08:00:00",
        "ends_at": "2030-01-02T08:00:00",
    }
    resp = client.post("/api/v1/delegations", json=naive, headers=headers)
    assert resp.status_code == 422 and "starts_at" in resp.get_json()["error"]["details"]["fields"]

    missing = client.post("/api/v1/delegations", json=window(), headers=headers)
    assert missing.status_code == 422 and "delegate_id" in missing.get_json()["error"]["details"]["fields"]

    # a delegate out of reach does not exist for them
    county = bearer(client, "county_a")
    resp = client.post(
        "/api/v1/delegations", json={"delegate_id": org["people"]["county_b"].id, **window()}, headers=county
    )
    assert resp.status_code == 404

    # nobody delegates someone else's work unless they manage that person
    resp = client.post(
        "/api/v1/delegations",
        json={
            "delegate_id": org["people"]["secretary"].id,
            "delegator_id": org["people"]["leader"].id,
            **window(),
        },
        headers=headers,
    )
    assert resp.status_code == 403


def test_inactive_delegate_is_refused(client, org, factory):
    lisi = factory.user("lisi", name="李四", unit=org["units"]["division"])
    assert (
        client.patch(
            f"/api/v1/users/{lisi.id}", json={"active": False}, headers=bearer(client, "admin")
        ).status_code
        == 200
    )
    resp = client.post(
        "/api/v1/delegations", json={"delegate_id": lisi.id, **window()}, headers=bearer(client, "zhangsan")
    )
    assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "inactive_delegate"


def test_delegate_acting_for_the_delegator_is_recorded_with_both(client, org, factory, trail):
    lisi = factory.user("lisi", name="李四", unit=org["units"]["division"])
    staff, leader = org["people"]["staff"], org["people"]["leader"]
    created = client.post(
        "/api/v1/delegations", json={"delegate_id": lisi.id, **window()}, headers=bearer(client, "zhangsan")
    )
    assert created.status_code == 201

    acting = {**bearer(client, "lisi"), "X-On-Behalf-Of": str(staff.id)}
    trail.mark()
    # 李四, acting for 张三, passes 张三's work on to the leader (a change made in 张三's name)
    resp = client.post("/api/v1/delegations", json={"delegate_id": leader.id, **window()}, headers=acting)
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["delegator"]["name"] == "张三"
    (event,) = trail.new()
    assert event.action == "office:delegation:create"
    assert event.actor_id == lisi.id and event.actor_name == "李四"
    assert event.on_behalf_of_id == staff.id
    assert event.details["delegator"] == "张三" and event.details["delegate"] == "李省长"

    # without the header the same person acts as themselves
    plain = bearer(client, "lisi")
    trail.mark()
    own = client.post("/api/v1/delegations", json={"delegate_id": leader.id, **window()}, headers=plain)
    assert own.status_code == 201 and own.get_json()["delegator"]["name"] == "李四"
    (event,) = trail.new()
    assert (event.actor_id, event.on_behalf_of_id) == (lisi.id, None)


def test_windows_in_beijing_time(client, org, factory):
    """Offsets are honoured: a window given in +08:00 that began minutes ago is open now."""
    lisi = factory.user("lisi", name="李四", unit=org["units"]["division"])
    beijing = timezone(timedelta(hours=8))
    start = datetime.now(beijing) - timedelta(minutes=5)
    body = {
        "delegate_id": lisi.id,
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=2)).isoformat(),
    }
    resp = client.post("/api/v1/delegations", json=body, headers=bearer(client, "zhangsan"))
    assert resp.status_code == 201 and resp.get_json()["active"] is True
    assert resp.get_json()["starts_at"].endswith("+00:00")
    assert datetime.fromisoformat(resp.get_json()["starts_at"]) == start
    assert _principals(client, bearer(client, "lisi")) == ["张三"]


def test_delegation_form_uses_beijing_local_time(client, org, factory):
    lisi = factory.user("lisi", name="李四", unit=org["units"]["division"])
    token = web_login(client, "zhangsan")
    now_local = datetime.now(timezone(timedelta(hours=8))).replace(second=0, microsecond=0)
    form = {
        "delegate_id": str(lisi.id),
        "starts_at": (now_local - timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (now_local + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"),
        "reason": "出差",
        "csrf_token": token,
    }
    resp = client.post("/account/delegations", data=form)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:800]
    api = client.application.test_client()  # no session cookie: a plain API client
    assert _principals(api, bearer(api, "lisi")) == ["张三"]

    bad = client.post("/account/delegations", data={**form, "ends_at": form["starts_at"]})
    assert bad.status_code == 422 and "结束时间须晚于开始时间" in bad.get_data(as_text=True)
