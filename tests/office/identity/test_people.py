"""People and posts: creation rules, who may grant what, 兼职 posts, password resets."""

from __future__ import annotations

from office.extensions import db
from office.identity.models import User
from tests.conftest import PASSWORD, bearer, csrf_from

NEW_PASSWORD = "Reset-pass-2026"


def _user_body(org, username: str = "wangwu", **extra):
    return {
        "username": username,
        "name": "王五",
        "password": PASSWORD,
        "mobile": "13900139000",
        "posts": [{"unit_id": org["units"]["division"].id, "title": "科员", "roles": ["staff"]}],
        **extra,
    }


def test_admin_creates_a_person_with_posts(app, client, org):
    units = org["units"]
    body = _user_body(
        org,
        posts=[
            {"unit_id": units["division"].id, "title": "副处长", "roles": ["division_head", "staff"]},
            {"unit_id": units["city"].id, "title": "联络员", "roles": ["clerk"]},
        ],
    )
    resp = client.post("/api/v1/users", json=body, headers=bearer(client, "admin"))
    assert resp.status_code == 201, resp.get_json()
    user = resp.get_json()
    assert set(user) == {"id", "username", "name", "mobile", "active", "unit", "roles", "posts"}
    assert "password" not in user and "password_hash" not in user
    assert (user["username"], user["name"], user["mobile"], user["active"]) == (
        "wangwu",
        "王五",
        "13900139000",
        True,
    )
    assert user["unit"] == {"id": units["division"].id, "name": "综合处"}
    assert user["roles"] == ["clerk", "division_head", "staff"]
    assert [(p["unit"]["name"], p["title"], p["roles"], p["is_primary"]) for p in user["posts"]] == [
        ("综合处", "副处长", ["division_head", "staff"], True),
        ("示例市人民政府", "联络员", ["clerk"], False),
    ]
    with app.app_context():
        row = db.session.get(User, user["id"])
        assert row.must_change_password is True
        assert (row.pinyin, row.pinyin_initials) == ("wangwu", "ww")
        assert row.password_hash != PASSWORD
    # the new person is in the directory at once
    found = client.get("/api/v1/users?q=ww", headers=bearer(client, "leader")).get_json()
    assert "王五" in {u["name"] for u in found["items"]}


def test_username_must_be_free_and_well_formed(client, org):
    headers = bearer(client, "admin")
    for name in ("zhangsan", "ZhangSan", " zhangsan "):
        resp = client.post("/api/v1/users", json=_user_body(org, name), headers=headers)
        assert resp.status_code == 409, name
        assert resp.get_json()["error"]["code"] == "username_taken"
        assert "username" in resp.get_json()["error"]["details"]["fields"]
    bad = client.post("/api/v1/users", json=_user_body(org, "王五"), headers=headers)
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "invalid_username"


def test_weak_password_and_bad_mobile_are_422(app, client, org):
    headers = bearer(client, "admin")
    weak = client.post("/api/v1/users", json=_user_body(org, password="short"), headers=headers)
    assert weak.status_code == 422 and weak.get_json()["error"]["code"] == "weak_password"
    for mobile in ("12345", "1380013800x", "23800138000", "138001380001"):
        resp = client.post("/api/v1/users", json=_user_body(org, mobile=mobile), headers=headers)
        assert resp.status_code == 422, mobile
        assert "mobile" in resp.get_json()["error"]["details"]["fields"]
    missing_posts = client.post("/api/v1/users", json=_user_body(org, posts=[]), headers=headers)
    assert (
        missing_posts.status_code == 422 and "posts" in missing_posts.get_json()["error"]["details"]["fields"]
    )
    with app.app_context():
        assert db.session.query(User).filter_by(username="wangwu").count() == 0


def test_unit_admin_limits(client, org):
    headers = bearer(client, "unitadmin")
    units = org["units"]
    ok = client.post("/api/v1/users", json=_user_body(org), headers=headers)
    assert ok.status_code == 201

    grant_admin = _user_body(
        org, "zhaoliu", posts=[{"unit_id": units["office"].id, "title": "科员", "roles": ["admin"]}]
    )
    resp = client.post("/api/v1/users", json=grant_admin, headers=headers)
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "forbidden"

    in_county = _user_body(
        org, "zhaoliu", posts=[{"unit_id": units["county_a"].id, "title": "科员", "roles": []}]
    )
    resp = client.post("/api/v1/users", json=in_county, headers=headers)
    assert resp.status_code == 404

    # nor may they give an existing person a post outside their unit
    staff = org["people"]["staff"]
    resp = client.post(
        f"/api/v1/users/{staff.id}/posts",
        json={"unit_id": units["county_a"].id, "title": "挂职"},
        headers=headers,
    )
    assert resp.status_code == 404

    # a plain staff member may not create people at all
    resp = client.post("/api/v1/users", json=_user_body(org, "zhaoliu"), headers=bearer(client, "zhangsan"))
    assert resp.status_code == 403


def test_county_admin_cannot_touch_province_people(client, org):
    headers = bearer(client, "county_admin")
    staff = org["people"]["staff"]
    assert client.get(f"/api/v1/users/{staff.id}", headers=headers).status_code == 404
    assert (
        client.patch(f"/api/v1/users/{staff.id}", json={"name": "改名"}, headers=headers).status_code == 404
    )
    reset = client.post(
        f"/api/v1/users/{staff.id}/reset-password", json={"password": NEW_PASSWORD}, headers=headers
    )
    assert reset.status_code == 404
    post_id = client.get(f"/api/v1/users/{staff.id}", headers=bearer(client, "admin")).get_json()["posts"][0][
        "id"
    ]
    assert client.delete(f"/api/v1/users/{staff.id}/posts/{post_id}", headers=headers).status_code == 404
    assert client.get("/api/v1/users?q=张三", headers=headers).get_json()["total"] == 0
    # their own county people they may manage
    clerk = org["people"]["county_a"]
    resp = client.patch(f"/api/v1/users/{clerk.id}", json={"mobile": "13700137000"}, headers=headers)
    assert resp.status_code == 200 and resp.get_json()["mobile"] == "13700137000"


def test_unit_admin_cannot_modify_a_visible_person_outside_their_unit(client, org):
    # the office's unit admin sees the whole province, but manages only the office
    resp = client.patch(
        f"/api/v1/users/{org['people']['leader'].id}",
        json={"name": "改名"},
        headers=bearer(client, "unitadmin"),
    )
    assert resp.status_code == 403


def test_second_post_and_removing_posts(client, org):
    headers = bearer(client, "admin")
    staff = org["people"]["staff"]
    url = f"/api/v1/users/{staff.id}"
    only = client.get(url, headers=headers).get_json()["posts"]
    assert len(only) == 1

    last = client.delete(f"{url}/posts/{only[0]['id']}", headers=headers)
    assert last.status_code == 422 and last.get_json()["error"]["code"] == "last_post"

    resp = client.post(
        f"{url}/posts",
        json={"unit_id": org["units"]["city"].id, "title": "兼职联络员", "roles": ["clerk"]},
        headers=headers,
    )
    assert resp.status_code == 201
    post = resp.get_json()
    assert (post["unit"]["name"], post["title"], post["roles"], post["is_primary"]) == (
        "示例市人民政府",
        "兼职联络员",
        ["clerk"],
        False,
    )
    again = client.post(
        f"{url}/posts", json={"unit_id": org["units"]["city"].id, "title": "兼职联络员"}, headers=headers
    )
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "post_exists"

    user = client.get(url, headers=headers).get_json()
    assert len(user["posts"]) == 2
    assert user["unit"]["name"] == "综合处"  # the primary post stays
    assert user["roles"] == ["clerk", "staff"]

    # the new post's rights count at once: 张三 may now act as a clerk of the city
    mine = client.get("/api/v1/me", headers=bearer(client, "zhangsan")).get_json()
    assert mine["roles"] == ["clerk", "staff"]

    # removing the primary post promotes the other one
    assert client.delete(f"{url}/posts/{only[0]['id']}", headers=headers).status_code == 204
    user = client.get(url, headers=headers).get_json()
    assert [(p["title"], p["is_primary"]) for p in user["posts"]] == [("兼职联络员", True)]
    assert user["unit"]["name"] == "示例市人民政府"
    last = client.delete(f"{url}/posts/{post['id']}", headers=headers)
    assert last.status_code == 422 and last.get_json()["error"]["code"] == "last_post"


def test_renaming_a_post_to_a_title_the_person_has_in_that_unit_is_a_conflict(client, org):
    """Two posts of one person in one unit with one title break a unique constraint: the
    rename is refused with 409 (it used to reach the database and answer 500)."""
    headers = bearer(client, "admin")
    staff = org["people"]["staff"]
    url = f"/api/v1/users/{staff.id}"
    first = client.get(url, headers=headers).get_json()["posts"][0]
    resp = client.post(
        f"{url}/posts", json={"unit_id": org["units"]["division"].id, "title": "联络员"}, headers=headers
    )
    assert resp.status_code == 201
    second = resp.get_json()
    clash = client.patch(f"{url}/posts/{second['id']}", json={"title": first["title"]}, headers=headers)
    assert clash.status_code == 409 and clash.get_json()["error"]["code"] == "post_exists"
    titles = sorted(p["title"] for p in client.get(url, headers=headers).get_json()["posts"])
    assert titles == sorted([first["title"], "联络员"])
    # renaming a post to its own title is no change, not a conflict
    same = client.patch(f"{url}/posts/{first['id']}", json={"title": first["title"]}, headers=headers)
    assert same.status_code == 200


def test_last_admin_keeps_the_admin_role(client, org, factory):
    headers = bearer(client, "admin")
    admin = org["people"]["admin"]
    url = f"/api/v1/users/{admin.id}"
    post_id = client.get(url, headers=headers).get_json()["posts"][0]["id"]
    resp = client.patch(f"{url}/posts/{post_id}", json={"roles": ["staff"]}, headers=headers)
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "last_admin"
    assert client.get(url, headers=headers).get_json()["roles"] == ["admin"]

    # with a second admin the role may go
    factory.user("admin2", unit=org["units"]["province"], roles=("admin",))
    resp = client.patch(f"{url}/posts/{post_id}", json={"roles": ["staff"]}, headers=headers)
    assert resp.status_code == 200 and resp.get_json()["roles"] == ["staff"]


def test_deactivated_admin_does_not_count(client, org, factory):
    headers = bearer(client, "admin")
    other = factory.user("admin2", unit=org["units"]["province"], roles=("admin",))
    assert (
        client.patch(f"/api/v1/users/{other.id}", json={"active": False}, headers=headers).status_code == 200
    )
    admin = org["people"]["admin"]
    post_id = client.get(f"/api/v1/users/{admin.id}", headers=headers).get_json()["posts"][0]["id"]
    resp = client.patch(f"/api/v1/users/{admin.id}/posts/{post_id}", json={"roles": []}, headers=headers)
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "last_admin"


def test_unit_admin_cannot_grant_admin_on_an_existing_post(client, org):
    headers = bearer(client, "unitadmin")
    secretary = org["people"]["secretary"]
    post_id = client.get(f"/api/v1/users/{secretary.id}", headers=headers).get_json()["posts"][0]["id"]
    resp = client.patch(
        f"/api/v1/users/{secretary.id}/posts/{post_id}", json={"roles": ["admin"]}, headers=headers
    )
    assert resp.status_code == 403
    ok = client.patch(
        f"/api/v1/users/{secretary.id}/posts/{post_id}",
        json={"roles": ["secretary", "clerk"]},
        headers=headers,
    )
    assert ok.status_code == 200 and ok.get_json()["roles"] == ["clerk", "secretary"]


def _reset_staff(client, org) -> dict[str, str]:
    """Admin resets 张三's password; returns a fresh token signed in with the temporary one."""
    resp = client.post(
        f"/api/v1/users/{org['people']['staff'].id}/reset-password",
        json={"password": NEW_PASSWORD},
        headers=bearer(client, "admin"),
    )
    assert resp.status_code == 204
    return bearer(client, "zhangsan", NEW_PASSWORD)


def test_reset_password_revokes_tokens_and_gates_the_api(app, client, org):
    staff = org["people"]["staff"]
    old = bearer(client, "zhangsan")
    assert client.get("/api/v1/users", headers=old).status_code == 200

    fresh = _reset_staff(client, org)
    revoked = client.get("/api/v1/me", headers=old)
    assert revoked.status_code == 401 and revoked.get_json()["error"]["code"] == "invalid_token"
    assert (
        client.post("/api/v1/auth/token", json={"username": "zhangsan", "password": PASSWORD}).status_code
        == 401
    )
    with app.app_context():
        assert db.session.get(User, staff.id).must_change_password is True

    me = client.get("/api/v1/me", headers=fresh)
    assert me.status_code == 200 and me.get_json()["username"] == "zhangsan"
    for url in ("/api/v1/users", f"/api/v1/users/{staff.id}", "/api/v1/me/principals", "/api/v1/units"):
        blocked = client.get(url, headers=fresh)
        assert blocked.status_code == 403, url
        assert blocked.get_json()["error"]["code"] == "password_change_required"
    # signing out stays possible
    assert client.post("/api/v1/auth/revoke", headers=fresh).status_code == 204


def test_forced_password_change_through_the_api(app, client, org):
    """Regression: the password_change_required gate used to block POST /me/password itself."""
    fresh = _reset_staff(client, org)
    weak = client.post(
        "/api/v1/me/password", json={"current_password": NEW_PASSWORD, "new_password": "short"}, headers=fresh
    )
    assert weak.status_code == 422 and weak.get_json()["error"]["code"] == "weak_password"
    changed = client.post(
        "/api/v1/me/password",
        json={"current_password": NEW_PASSWORD, "new_password": "Own-choice-2026"},
        headers=fresh,
    )
    assert changed.status_code == 204, changed.get_json()
    assert client.get("/api/v1/users", headers=fresh).status_code == 200
    with app.app_context():
        assert db.session.get(User, org["people"]["staff"].id).must_change_password is False
    assert (
        client.post(
            "/api/v1/auth/token", json={"username": "zhangsan", "password": "Own-choice-2026"}
        ).status_code
        == 201
    )


def test_forced_password_change_through_the_web_form(client, org):
    """The HTML path works today: after changing the password the gate opens."""
    _reset_staff(client, org)
    browser = client.application.test_client()
    token = csrf_from(browser.get("/login").get_data(as_text=True))
    resp = browser.post(
        "/login", data={"username": "zhangsan", "password": NEW_PASSWORD, "csrf_token": token}
    )
    assert resp.status_code == 302
    gated = browser.get("/directory")
    assert gated.status_code == 302 and "/account/password" in gated.headers["Location"]
    page = browser.get("/account/password")
    assert page.status_code == 200 and "临时密码" in page.get_data(as_text=True)
    form = {
        "current_password": NEW_PASSWORD,
        "new_password": "Own-choice-2026",
        "confirm_password": "Own-choice-2026",
        "csrf_token": csrf_from(page.get_data(as_text=True)),
    }
    assert browser.post("/account/password", data=form).status_code == 302
    assert browser.get("/directory").status_code == 200


def test_reset_password_rules(client, org):
    headers = bearer(client, "admin")
    staff = org["people"]["staff"]
    weak = client.post(
        f"/api/v1/users/{staff.id}/reset-password", json={"password": "12345"}, headers=headers
    )
    assert weak.status_code == 422 and weak.get_json()["error"]["code"] == "weak_password"
    # a failed reset leaves the old password working
    assert (
        client.post("/api/v1/auth/token", json={"username": "zhangsan", "password": PASSWORD}).status_code
        == 201
    )
    # a unit admin may reset people of their unit only
    ua = bearer(client, "unitadmin")
    ok = client.post(f"/api/v1/users/{staff.id}/reset-password", json={"password": NEW_PASSWORD}, headers=ua)
    assert ok.status_code == 204
    leader = org["people"]["leader"]
    no = client.post(f"/api/v1/users/{leader.id}/reset-password", json={"password": NEW_PASSWORD}, headers=ua)
    assert no.status_code == 403


def test_deactivate_self_is_refused(client, org):
    headers = bearer(client, "admin")
    resp = client.patch(f"/api/v1/users/{org['people']['admin'].id}", json={"active": False}, headers=headers)
    assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "cannot_deactivate_self"
