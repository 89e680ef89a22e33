"""Every identity change writes exactly one audit event with the right tag; failures write none;
and the chain stays verifiable."""

from __future__ import annotations

from office.audit import services as audit
from tests.conftest import PASSWORD, bearer
from tests.office.identity.conftest import window


def test_each_change_writes_exactly_one_event(app, client, org, trail):
    units, people = org["units"], org["people"]
    admin = bearer(client, "admin")
    staff = bearer(client, "zhangsan")
    steps = []

    def step(action: str, method: str, url: str, status: int, headers=admin, **kwargs):
        trail.mark()
        resp = getattr(client, method)(url, headers=headers, **kwargs)
        assert resp.status_code == status, (url, resp.get_json())
        events = trail.new()
        assert [e.action for e in events] == [action], url
        steps.append(events[0])
        return resp.get_json() if resp.data else None

    unit = step(
        "office:unit:create",
        "post",
        "/api/v1/units",
        201,
        json={"name": "信息中心", "kind": "department", "parent_id": units["office"].id},
    )
    step("office:unit:update", "patch", f"/api/v1/units/{unit['id']}", 200, json={"name": "大数据中心"})
    step(
        "office:unit:update",
        "patch",
        f"/api/v1/units/{unit['id']}",
        200,
        json={"parent_id": units["province"].id},
    )
    user = step(
        "office:user:create",
        "post",
        "/api/v1/users",
        201,
        json={
            "username": "wangwu",
            "name": "王五",
            "password": PASSWORD,
            "posts": [{"unit_id": unit["id"], "title": "工程师", "roles": ["staff"]}],
        },
    )
    step("office:user:update", "patch", f"/api/v1/users/{user['id']}", 200, json={"mobile": "13900139000"})
    post = step(
        "office:post:create",
        "post",
        f"/api/v1/users/{user['id']}/posts",
        201,
        json={"unit_id": units["city"].id, "title": "联络员", "roles": ["clerk"]},
    )
    step(
        "office:post:update",
        "patch",
        f"/api/v1/users/{user['id']}/posts/{post['id']}",
        200,
        json={"roles": ["leader"]},
    )
    step("office:post:delete", "delete", f"/api/v1/users/{user['id']}/posts/{post['id']}", 204)
    step(
        "office:user:reset_password",
        "post",
        f"/api/v1/users/{user['id']}/reset-password",
        204,
        json={"password": "Reset-pass-2026"},
    )
    step(
        "office:secretary:link",
        "post",
        "/api/v1/secretaries",
        201,
        json={"secretary_id": people["secretary"].id, "leader_id": people["leader"].id},
    )
    step(
        "office:secretary:unlink",
        "delete",
        f"/api/v1/secretaries/{people['secretary'].id}/{people['leader'].id}",
        204,
    )
    d = step(
        "office:delegation:create",
        "post",
        "/api/v1/delegations",
        201,
        headers=staff,
        json={"delegate_id": user["id"], **window()},
    )
    step("office:delegation:revoke", "post", f"/api/v1/delegations/{d['id']}/revoke", 200, headers=staff)
    step("office:user:update", "patch", f"/api/v1/users/{user['id']}", 200, json={"active": False})

    # who and what is on each record
    admin_id, staff_id = people["admin"].id, people["staff"].id
    assert [e.actor_id for e in steps] == [admin_id] * 11 + [staff_id] * 2 + [admin_id]
    assert all(e.on_behalf_of_id is None for e in steps)
    create_user = steps[3]
    assert (create_user.object_type, create_user.object_id, create_user.unit_id) == (
        "user",
        str(user["id"]),
        unit["id"],
    )
    assert create_user.details["username"] == "wangwu"
    assert "password" not in str(create_user.details) and PASSWORD not in str(create_user.details)
    assert steps[1].details == {
        "before": {"name": "信息中心", "short_name": None, "parent_id": units["office"].id},
        "after": {"name": "大数据中心", "short_name": None, "parent_id": units["office"].id},
    }
    assert steps[2].details["after"]["parent_id"] == units["province"].id

    with app.app_context():
        result = audit.verify()
    assert result.ok, result.message()
    assert result.checked == len(trail.all())


def test_refused_changes_write_nothing(app, client, org, trail):
    admin = bearer(client, "admin")
    unitadmin = bearer(client, "unitadmin")
    trail.mark()
    attempts = [
        client.post(
            "/api/v1/users",
            json={
                "username": "zhangsan",
                "name": "重名",
                "password": PASSWORD,
                "posts": [{"unit_id": org["units"]["division"].id, "title": "科员"}],
            },
            headers=admin,
        ),
        client.post(
            "/api/v1/units",
            json={"name": "综合处", "kind": "division", "parent_id": org["units"]["office"].id},
            headers=admin,
        ),
        client.post(
            "/api/v1/units",
            json={"name": "x", "kind": "department", "parent_id": org["units"]["county_a"].id},
            headers=unitadmin,
        ),
        client.post(
            "/api/v1/secretaries",
            json={"secretary_id": org["people"]["secretary"].id, "leader_id": org["people"]["staff"].id},
            headers=admin,
        ),
        client.post("/api/v1/units", json={"kind": "department"}, headers=admin),
    ]
    assert [r.status_code for r in attempts] == [409, 409, 403, 422, 422]
    assert trail.new() == []
    with app.app_context():
        assert audit.verify().ok


def test_changes_outside_a_request_are_recorded_as_the_system(app, org, trail):
    events = [e for e in trail.all() if e.action == "office:user:create"]
    assert len(events) == len(org["people"])
    assert all(e.actor_id is None and e.actor_name == "系统" for e in events)
    assert len([e for e in trail.all() if e.action == "office:unit:create"]) == len(org["units"])
