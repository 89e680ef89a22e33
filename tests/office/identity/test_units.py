"""Units: who may create where, uniqueness, validation, and moving subtrees."""

from __future__ import annotations

from sqlalchemy import select

from office.extensions import db
from office.identity.models import Unit
from tests.conftest import bearer


def _create(client, headers, **body):
    return client.post("/api/v1/units", json={"kind": "department", **body}, headers=headers)


def test_admin_creates_units(app, client, org):
    headers = bearer(client, "admin")
    province = org["units"]["province"]
    resp = _create(client, headers, name="省发展改革委", parent_id=province.id, short_name="示发改")
    assert resp.status_code == 201
    body = resp.get_json()
    assert set(body) == {"id", "name", "short_name", "kind", "parent_id", "depth", "sort_order", "active"}
    assert body["name"] == "省发展改革委" and body["short_name"] == "示发改"
    assert body["parent_id"] == province.id and body["depth"] == 1 and body["active"] is True
    with app.app_context():
        unit = db.session.get(Unit, body["id"])
        assert unit.path == f"/{province.id}/{body['id']}/"
    # only a system admin may add a root
    root = _create(client, headers, name="另一省人民政府", kind="province")
    assert root.status_code == 201 and root.get_json()["parent_id"] is None and root.get_json()["depth"] == 0
    assert _create(client, bearer(client, "unitadmin"), name="第三个根").status_code == 403


def test_unit_admin_creates_only_inside_their_unit(client, org):
    headers = bearer(client, "unitadmin")
    units = org["units"]
    assert _create(client, headers, name="秘书处", parent_id=units["office"].id).status_code == 201
    sub = _create(client, headers, name="文电科", kind="division", parent_id=units["division"].id)
    assert sub.status_code == 201 and sub.get_json()["depth"] == 3

    outside = _create(client, headers, name="县办公室", parent_id=units["county_a"].id)
    assert outside.status_code == 403 and outside.get_json()["error"]["code"] == "forbidden"
    # the province itself is above their unit: not theirs to change either
    assert _create(client, headers, name="省某局", parent_id=units["province"].id).status_code == 403

    missing = _create(client, headers, name="不存在的上级下", parent_id=999999)
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"


def test_county_admin_cannot_create_in_the_other_county(client, org):
    # the other county is outside their reach: 404, as if it did not exist
    resp = _create(client, bearer(client, "county_admin"), name="x", parent_id=org["units"]["county_b"].id)
    assert resp.status_code == 404


def test_unique_short_name_and_sibling_name(client, org):
    headers = bearer(client, "admin")
    units = org["units"]
    dup_short = _create(
        client, headers, name="另一个办公室", parent_id=units["province"].id, short_name="示政办"
    )
    assert dup_short.status_code == 409
    error = dup_short.get_json()["error"]
    assert error["code"] == "short_name_taken" and "short_name" in error["details"]["fields"]

    dup_name = _create(client, headers, name="综合处", kind="division", parent_id=units["office"].id)
    assert dup_name.status_code == 409
    assert dup_name.get_json()["error"]["code"] == "unit_name_taken"
    # surrounding spaces do not make a different name
    assert _create(client, headers, name=" 综合处 ", parent_id=units["office"].id).status_code == 409
    # the same name under another parent is fine
    assert (
        _create(client, headers, name="综合处", kind="division", parent_id=units["city"].id).status_code
        == 201
    )


def test_renaming_into_a_taken_short_name_is_409(client, org):
    headers = bearer(client, "admin")
    resp = client.patch(
        f"/api/v1/units/{org['units']['city'].id}", json={"short_name": "示政"}, headers=headers
    )
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "short_name_taken"
    # keeping one's own short name is not a conflict
    same = client.patch(
        f"/api/v1/units/{org['units']['city'].id}", json={"short_name": "示市"}, headers=headers
    )
    assert same.status_code == 200


def test_bad_unit_input_is_422(client, org):
    headers = bearer(client, "admin")
    resp = client.post("/api/v1/units", json={"kind": "department"}, headers=headers)
    assert resp.status_code == 422
    error = resp.get_json()["error"]
    assert error["code"] == "validation_error"
    assert "name" in error["details"]["fields"] and "name" in error["message"]

    bad_kind = client.post("/api/v1/units", json={"name": "x", "kind": "ministry"}, headers=headers)
    assert bad_kind.status_code == 422 and "kind" in bad_kind.get_json()["error"]["details"]["fields"]
    long_short = _create(client, headers, name="x", short_name="代" * 21)
    assert (
        long_short.status_code == 422 and "short_name" in long_short.get_json()["error"]["details"]["fields"]
    )


def _chain(client, headers, parent_id: int) -> tuple[int, int, int]:
    a = _create(client, headers, name="甲", parent_id=parent_id).get_json()["id"]
    b = _create(client, headers, name="乙", parent_id=a).get_json()["id"]
    c = _create(client, headers, name="丙", parent_id=b).get_json()["id"]
    return a, b, c


def test_moving_a_unit_rewrites_its_subtree(app, client, org):
    headers = bearer(client, "admin")
    units = org["units"]
    a, b, c = _chain(client, headers, units["office"].id)
    with app.app_context():
        before = {u.id: (u.path, u.depth) for u in db.session.scalars(select(Unit))}
    assert before[c][1] == 4

    resp = client.patch(f"/api/v1/units/{a}", json={"parent_id": units["county_a"].id}, headers=headers)
    assert resp.status_code == 200
    assert resp.get_json()["parent_id"] == units["county_a"].id
    assert resp.get_json()["depth"] == units["county_a"].depth + 1

    county_path, county_depth = units["county_a"].path, units["county_a"].depth
    with app.app_context():
        after = {u.id: (u.path, u.depth, u.parent_id) for u in db.session.scalars(select(Unit))}
    assert after[a] == (f"{county_path}{a}/", county_depth + 1, units["county_a"].id)
    assert after[b] == (f"{county_path}{a}/{b}/", county_depth + 2, a)
    assert after[c] == (f"{county_path}{a}/{b}/{c}/", county_depth + 3, b)
    # nothing outside the moved subtree changed
    for uid, (path, depth) in before.items():
        if uid not in (a, b, c):
            assert after[uid][:2] == (path, depth)

    # the move changes reach: the county clerk now sees the grandchild, the other county does not
    assert client.get(f"/api/v1/units/{c}", headers=bearer(client, "county_a")).status_code == 200
    assert client.get(f"/api/v1/units/{c}", headers=bearer(client, "county_b")).status_code == 404


def test_moving_under_own_descendant_is_a_cycle(app, client, org):
    headers = bearer(client, "admin")
    a, b, c = _chain(client, headers, org["units"]["office"].id)
    for target in (c, b, a):
        resp = client.patch(f"/api/v1/units/{a}", json={"parent_id": target}, headers=headers)
        assert resp.status_code == 422, target
        error = resp.get_json()["error"]
        assert error["code"] == "cycle" and "parent_id" in error["details"]["fields"]
    with app.app_context():
        assert db.session.get(Unit, a).parent_id == org["units"]["office"].id


def test_unit_admin_moves_only_within_their_unit(client, org):
    units = org["units"]
    headers = bearer(client, "unitadmin")
    a, _, _ = _chain(client, headers, units["office"].id)
    ok = client.patch(f"/api/v1/units/{a}", json={"parent_id": units["division"].id}, headers=headers)
    assert ok.status_code == 200 and ok.get_json()["parent_id"] == units["division"].id
    away = client.patch(f"/api/v1/units/{a}", json={"parent_id": units["county_a"].id}, headers=headers)
    assert away.status_code == 403
    # and they cannot move a unit they do not manage
    county = client.patch(
        f"/api/v1/units/{units['county_a'].id}", json={"parent_id": units["office"].id}, headers=headers
    )
    assert county.status_code == 403


def test_moving_next_to_a_same_named_sibling_is_409(client, org):
    headers = bearer(client, "admin")
    units = org["units"]
    other = _create(client, headers, name="综合处", kind="division", parent_id=units["city"].id).get_json()[
        "id"
    ]
    resp = client.patch(f"/api/v1/units/{other}", json={"parent_id": units["office"].id}, headers=headers)
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "unit_name_taken"
