"""Tokens, /me, lockout, two-factor and bad input on the auth API."""

from __future__ import annotations

from datetime import timedelta

import pyotp
from sqlalchemy import select, update

from office import crypto
from office.auth.models import AuthToken
from office.context import SYSTEM
from office.db import utcnow
from office.extensions import db
from office.identity.models import User
from tests.conftest import PASSWORD, bearer


def test_token_and_me_have_the_contract_shape(client, org):
    resp = client.post("/api/v1/auth/token", json={"username": "zhangsan", "password": PASSWORD})
    assert resp.status_code == 201
    body = resp.get_json()
    assert set(body) == {"token", "expires_at", "user"}
    assert "+00:00" in body["expires_at"]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"}).get_json()
    assert me["username"] == "zhangsan" and me["name"] == "张三"
    assert me["unit"] == {"id": org["units"]["division"].id, "name": "综合处"}
    assert me["roles"] == ["staff"]
    assert me["posts"][0]["unit"]["name"] == "综合处" and me["posts"][0]["title"] == "科员"
    assert me["posts"][0]["roles"] == ["staff"]


def test_wrong_password_and_unknown_user_look_the_same(client, org):
    a = client.post("/api/v1/auth/token", json={"username": "zhangsan", "password": "wrong-Password1"})
    b = client.post("/api/v1/auth/token", json={"username": "nobody", "password": "wrong-Password1"})
    assert a.status_code == b.status_code == 401
    assert a.get_json() == b.get_json()
    assert a.get_json()["error"]["code"] == "invalid_credentials"


def test_lockout_after_five_failures_for_real_and_unknown_users(client, org):
    for name in ("zhangsan", "ghost"):
        codes = [
            client.post(
                "/api/v1/auth/token", json={"username": name, "password": "Wrong-pass-123"}
            ).status_code
            for _ in range(5)
        ]
        assert codes == [401] * 5
        locked = client.post("/api/v1/auth/token", json={"username": name, "password": PASSWORD})
        assert locked.status_code == 429
        assert locked.get_json()["error"]["code"] == "account_locked"
        assert int(locked.headers["Retry-After"]) > 800


def test_per_ip_rate_limit(app, client, org):
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    try:
        codes = [
            client.post("/api/v1/auth/token", json={"username": f"x{i}", "password": "p"}).status_code
            for i in range(4)
        ]
    finally:
        app.config["LOGIN_RATE_LIMIT"] = "1000 per minute"
    assert codes[:3] == [401, 401, 401] and codes[3] == 429
    assert client.post("/api/v1/auth/token", json={"username": "x", "password": "p"}).status_code in (
        401,
        429,
    )


def test_revoked_and_expired_tokens_are_refused(app, client, org):
    headers = bearer(client, "zhangsan")
    assert client.post("/api/v1/auth/revoke", headers=headers).status_code == 204
    resp = client.get("/api/v1/me", headers=headers)
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "invalid_token"

    headers = bearer(client, "zhangsan")
    with app.app_context():
        db.session.execute(
            update(AuthToken).values(
                expires_at=utcnow() + timedelta(seconds=1), created_at=utcnow() - timedelta(hours=1)
            )
        )
        db.session.execute(update(AuthToken).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_deactivated_user_loses_access(app, client, org):
    headers = bearer(client, "zhangsan")
    admin = bearer(client, "admin")
    resp = client.patch(f"/api/v1/users/{org['people']['staff'].id}", json={"active": False}, headers=admin)
    assert resp.status_code == 200
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    assert (
        client.post("/api/v1/auth/token", json={"username": "zhangsan", "password": PASSWORD}).status_code
        == 401
    )


def test_bad_input(client, org):
    resp = client.post("/api/v1/auth/token", data="{not json", content_type="application/json")
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "malformed_json"
    resp = client.post("/api/v1/auth/token", json={"username": "zhangsan"})
    assert resp.status_code == 422
    assert "password" in resp.get_json()["error"]["details"]["fields"]
    assert "password" in resp.get_json()["error"]["message"]
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer nonsense"}).status_code == 401


def _enable_totp(app, user_id: int) -> pyotp.TOTP:
    from office.auth import services

    with app.app_context():
        user = db.session.get(User, user_id)
        secret = services.begin_totp_setup(SYSTEM, user)
        totp = pyotp.TOTP(secret)
        services.confirm_totp_setup(SYSTEM, user, totp.now())
        user.totp_last_step = None
        db.session.commit()
        assert crypto.decrypt(user.totp_secret_enc) == secret
        return totp


def test_two_factor_token(app, client, org):
    totp = _enable_totp(app, org["people"]["staff"].id)
    resp = client.post("/api/v1/auth/token", json={"username": "zhangsan", "password": PASSWORD})
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "otp_required"
    resp = client.post(
        "/api/v1/auth/token", json={"username": "zhangsan", "password": PASSWORD, "otp": "000000"}
    )
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "invalid_otp"
    code = totp.now()
    assert (
        client.post(
            "/api/v1/auth/token", json={"username": "zhangsan", "password": PASSWORD, "otp": code}
        ).status_code
        == 201
    )
    # the same code cannot be replayed
    replay = client.post(
        "/api/v1/auth/token", json={"username": "zhangsan", "password": PASSWORD, "otp": code}
    )
    assert replay.status_code == 401


def test_admin_two_factor_mandatory_setting(app, client, org):
    app.config["REQUIRE_ADMIN_2FA"] = True
    try:
        resp = client.post("/api/v1/auth/token", json={"username": "admin", "password": PASSWORD})
        assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "otp_setup_required"
        assert (
            client.post("/api/v1/auth/token", json={"username": "zhangsan", "password": PASSWORD}).status_code
            == 201
        )
        totp = _enable_totp(app, org["people"]["admin"].id)
        ok = client.post(
            "/api/v1/auth/token", json={"username": "admin", "password": PASSWORD, "otp": totp.now()}
        )
        assert ok.status_code == 201
    finally:
        app.config["REQUIRE_ADMIN_2FA"] = False


def test_change_password_policy(client, org):
    headers = bearer(client, "zhangsan")
    weak = client.post(
        "/api/v1/me/password", json={"current_password": PASSWORD, "new_password": "short"}, headers=headers
    )
    assert weak.status_code == 422 and weak.get_json()["error"]["code"] == "weak_password"
    two_classes = client.post(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "abcdefghij12"},
        headers=headers,
    )
    assert two_classes.status_code == 422
    ok = client.post(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "New-pass-2026"},
        headers=headers,
    )
    assert ok.status_code == 204
    assert (
        client.post(
            "/api/v1/auth/token", json={"username": "zhangsan", "password": "New-pass-2026"}
        ).status_code
        == 201
    )


def test_tokens_store_only_hashes(app, client, org):
    token = bearer(client, "zhangsan")["Authorization"].split()[1]
    with app.app_context():
        stored = db.session.scalars(select(AuthToken.token_hash)).all()
    assert token not in stored and all(len(h) == 64 for h in stored)


def test_cached_identity_follows_changes_at_once(app, client, org):
    """/me is served from the principal cache, yet changes show on the very next call."""
    headers = bearer(client, "zhangsan")
    admin = bearer(client, "admin")
    assert client.get("/api/v1/me", headers=headers).get_json()["name"] == "张三"
    uid = org["people"]["staff"].id
    assert client.patch(f"/api/v1/users/{uid}", json={"name": "张三丰"}, headers=admin).status_code == 200
    assert client.get("/api/v1/me", headers=headers).get_json()["name"] == "张三丰"
    post_id = client.get("/api/v1/me", headers=headers).get_json()["posts"][0]["id"]
    resp = client.patch(
        f"/api/v1/users/{uid}/posts/{post_id}", json={"roles": ["staff", "clerk"]}, headers=admin
    )
    assert resp.status_code == 200
    assert client.get("/api/v1/me", headers=headers).get_json()["roles"] == ["clerk", "staff"]
    client.patch(f"/api/v1/units/{org['units']['division'].id}", json={"name": "综合一处"}, headers=admin)
    assert client.get("/api/v1/me", headers=headers).get_json()["unit"]["name"] == "综合一处"
    assert client.patch(f"/api/v1/users/{uid}", json={"active": False}, headers=admin).status_code == 200
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_a_failed_change_does_not_invalidate(app, client, org):
    from office.auth import principal

    headers = bearer(client, "zhangsan")
    client.get("/api/v1/me", headers=headers)
    with app.app_context():
        gen_before = principal.cache().get("x")[0]
    admin = bearer(client, "admin")
    dup = client.post(
        "/api/v1/users",
        json={
            "username": "zhangsan",
            "name": "重名",
            "password": PASSWORD,
            "posts": [{"unit_id": org["units"]["division"].id, "title": "科员"}],
        },
        headers=admin,
    )
    assert dup.status_code == 409
    with app.app_context():
        assert principal.cache().get("x")[0] == gen_before
