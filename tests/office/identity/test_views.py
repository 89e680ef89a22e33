"""The HTML admin pages for units and people."""

from __future__ import annotations

import re

from sqlalchemy import select

from office.extensions import db
from office.identity.models import User
from tests.conftest import PASSWORD, web_login


def _new_user_form(org, token: str | None, username: str = "wangwu", **extra) -> dict:
    form = {
        "name": "王五",
        "username": username,
        "mobile": "13900139000",
        "password": PASSWORD,
        "unit_id": str(org["units"]["division"].id),
        "title": "科员",
        "roles": ["staff", "clerk"],
        **extra,
    }
    if token is not None:
        form["csrf_token"] = token
    return form


def test_unit_admin_opens_the_admin_pages(client, org):
    web_login(client, "unitadmin")
    units = client.get("/admin/units")
    assert units.status_code == 200
    html = units.get_data(as_text=True)
    assert "综合处" in html and "省政府办公厅" in html
    assert "东山县人民政府" not in html  # only the units they manage
    users = client.get("/admin/users")
    assert users.status_code == 200 and "张三" in users.get_data(as_text=True)
    assert client.get("/admin/users/new").status_code == 200
    assert client.get(f"/admin/units/{org['units']['division'].id}").status_code == 200
    assert client.get(f"/admin/units/{org['units']['county_a'].id}").status_code == 404


def test_plain_staff_gets_404_on_admin_pages(client, org):
    web_login(client, "zhangsan")
    for url in (
        "/admin/units",
        "/admin/users",
        "/admin/users/new",
        f"/admin/units/{org['units']['division'].id}",
    ):
        assert client.get(url).status_code == 404, url


def test_admin_pages_need_sign_in(client, org):
    resp = client.get("/admin/units")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_create_person_through_the_form(app, client, org):
    token = web_login(client, "unitadmin")
    resp = client.post("/admin/users/new", data=_new_user_form(org, token))
    assert resp.status_code == 302, resp.get_data(as_text=True)[:1000]
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "wangwu"))
        assert user is not None and user.must_change_password
        assert [(p.unit_id, p.title, sorted(p.role_codes)) for p in user.posts] == [
            (org["units"]["division"].id, "科员", ["clerk", "staff"])
        ]
        user_id = user.id
    assert resp.headers["Location"].endswith(f"/admin/users/{user_id}")
    page = client.get(resp.headers["Location"])
    assert page.status_code == 200 and "王五" in page.get_data(as_text=True)


def test_form_post_without_csrf_is_400(app, client, org):
    web_login(client, "unitadmin")
    resp = client.post("/admin/users/new", data=_new_user_form(org, None))
    assert resp.status_code == 400
    resp = client.post("/admin/users/new", data=_new_user_form(org, "forged-token"))
    assert resp.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(User).where(User.username == "wangwu")) is None


def _error_after(html: str, field: str) -> str | None:
    """The field-error message rendered right after the input named ``field``."""
    match = re.search(
        rf'name="{field}"[^>]*>[^<]*(?:</label>)?\s*<div class="field-error" role="alert">([^<]+)</div>', html
    )
    return match.group(1) if match else None


def test_form_errors_are_shown_next_to_the_field(client, org):
    token = web_login(client, "unitadmin")
    resp = client.post("/admin/users/new", data=_new_user_form(org, token, username="zhangsan"))
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert _error_after(html, "username") == "用户名已存在"
    assert 'value="王五"' in html  # what was typed is kept

    resp = client.post("/admin/users/new", data=_new_user_form(org, token, mobile="12345"))
    assert resp.status_code == 422
    assert _error_after(resp.get_data(as_text=True), "mobile") == "手机号须为11位数字"

    resp = client.post("/admin/users/new", data=_new_user_form(org, token, name=""))
    assert resp.status_code == 422
    assert _error_after(resp.get_data(as_text=True), "name") == "必填"

    resp = client.post("/admin/users/new", data=_new_user_form(org, token, password="short"))
    assert resp.status_code == 422
    assert _error_after(resp.get_data(as_text=True), "password")


def test_unit_admin_form_cannot_grant_admin(client, org):
    token = web_login(client, "unitadmin")
    resp = client.post("/admin/users/new", data=_new_user_form(org, token, roles=["admin"]))
    assert resp.status_code == 422
    assert "只有系统管理员可以授予系统管理员角色" in resp.get_data(as_text=True)


def test_create_unit_through_the_form(client, org):
    token = web_login(client, "unitadmin")
    form = {
        "name": "督查室",
        "kind": "division",
        "parent_id": str(org["units"]["office"].id),
        "csrf_token": token,
    }
    resp = client.post("/admin/units", data=form)
    assert resp.status_code == 302
    assert "督查室" in client.get("/admin/units").get_data(as_text=True)
    dup = client.post("/admin/units", data=form)
    assert dup.status_code == 422 and "同一上级下已有同名机构" in dup.get_data(as_text=True)


def test_post_actions_through_the_person_form(client, org):
    """Add, rename, make primary and remove a post from the admin's person page."""
    staff = org["people"]["staff"]
    token = web_login(client, "admin")
    url = f"/admin/users/{staff.id}"
    add = {"csrf_token": token, "action": "add_post", "unit_id": org["units"]["city"].id, "title": "联络员"}
    assert client.post(url, data=add).status_code == 302

    def posts():
        with client.application.app_context():
            user = db.session.get(User, staff.id)
            return sorted((p.title, p.is_primary) for p in user.posts), {p.title: p.id for p in user.posts}

    _, ids = posts()
    rename = {"csrf_token": token, "action": "update_post", "post_id": ids["联络员"], "title": "信息联络员"}
    assert client.post(url, data=rename).status_code == 302
    _, ids = posts()
    primary = {"csrf_token": token, "action": "primary_post", "post_id": ids["信息联络员"]}
    assert client.post(url, data=primary).status_code == 302
    state, ids = posts()
    assert ("信息联络员", True) in state and sum(p for _, p in state) == 1
    other = next(t for t in ids if t != "信息联络员")
    remove = {"csrf_token": token, "action": "remove_post", "post_id": ids[other]}
    assert client.post(url, data=remove).status_code == 302
    assert posts()[0] == [("信息联络员", True)]
    # an id that is no post of this person is refused on the page, nothing changes
    bad = {"csrf_token": token, "action": "remove_post", "post_id": "99999999999"}
    assert client.post(url, data=bad).status_code == 422
    assert posts()[0] == [("信息联络员", True)]
