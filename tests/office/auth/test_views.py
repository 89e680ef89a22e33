"""Web sign-in: cookie flags, CSRF, idle timeout, logout, forced password change, headers."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from office.auth import principal
from office.auth.models import AuthToken
from office.db import utcnow
from office.extensions import db
from tests.conftest import PASSWORD, csrf_from, web_login


def test_login_page_sets_a_hardened_session(client, org):
    token = csrf_from(client.get("/login").get_data(as_text=True))
    resp = client.post(
        "/login?next=/directory", data={"username": "zhangsan", "password": PASSWORD, "csrf_token": token}
    )
    assert resp.status_code == 302 and resp.headers["Location"] == "/directory"
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    home = client.get("/")
    assert (
        home.status_code == 200
        and "工作台" in home.get_data(as_text=True)
        and "张三" in home.get_data(as_text=True)
    )


def test_cookie_is_secure_behind_https(client, org):
    token = csrf_from(client.get("/login", base_url="https://localhost").get_data(as_text=True))
    resp = client.post(
        "/login",
        data={"username": "zhangsan", "password": PASSWORD, "csrf_token": token},
        base_url="https://localhost",
    )
    assert "Secure" in resp.headers["Set-Cookie"]


def test_open_redirect_is_refused(client, org):
    token = csrf_from(client.get("/login").get_data(as_text=True))
    resp = client.post(
        "/login?next=//evil.example/x",
        data={"username": "zhangsan", "password": PASSWORD, "csrf_token": token},
    )
    assert resp.headers["Location"] == "/"


def test_wrong_password_shows_message(client, org):
    token = csrf_from(client.get("/login").get_data(as_text=True))
    resp = client.post("/login", data={"username": "zhangsan", "password": "nope", "csrf_token": token})
    assert resp.status_code == 401 and "用户名或密码错误" in resp.get_data(as_text=True)


def test_form_without_csrf_token_is_400(client, org):
    resp = client.post("/login", data={"username": "zhangsan", "password": PASSWORD})
    assert resp.status_code == 400 and "安全令牌" in resp.get_data(as_text=True)


def test_pages_need_login(client):
    for path in ("/", "/directory", "/admin/users", "/documents/"):
        resp = client.get(path)
        assert resp.status_code == 302 and resp.headers["Location"].startswith("/login")


def test_idle_timeout_ends_the_session(app, client, org):
    web_login(client, "zhangsan")
    assert client.get("/").status_code == 200
    with app.app_context():
        db.session.execute(update(AuthToken).values(last_seen_at=utcnow() - timedelta(minutes=31)))
        db.session.commit()
        # 31 real minutes would also age out the cached snapshot (re-checked every minute)
        principal.cache().bump()
    resp = client.get("/")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert "登录已超时" in client.get(resp.headers["Location"]).get_data(as_text=True)


def test_logout_revokes_the_session(app, client, org):
    csrf = web_login(client, "zhangsan")
    cookie = client.get_cookie("office_session").value
    resp = client.post("/logout", data={"csrf_token": csrf})
    assert resp.status_code == 302
    # replaying the old cookie does not bring the session back
    client.set_cookie("office_session", cookie)
    assert client.get("/").status_code == 302
    with app.app_context():
        assert db.session.query(AuthToken).filter(AuthToken.revoked_at.is_(None)).count() == 0


def test_session_cookie_reaches_the_api_with_csrf_header(client, org):
    csrf = web_login(client, "zhangsan")
    assert client.get("/api/v1/me").get_json()["username"] == "zhangsan"
    body = {"current_password": PASSWORD, "new_password": "Another-pass-9"}
    assert client.post("/api/v1/me/password", json=body).status_code == 400
    assert client.post("/api/v1/me/password", json=body, headers={"X-CSRFToken": csrf}).status_code == 204


def test_forced_password_change_after_reset(app, client, org):
    admin = client.post("/api/v1/auth/token", json={"username": "admin", "password": PASSWORD}).get_json()[
        "token"
    ]
    resp = client.post(
        f"/api/v1/users/{org['people']['staff'].id}/reset-password",
        json={"password": "Temp-pass-2026"},
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert resp.status_code == 204
    web_client = app.test_client()
    token = csrf_from(web_client.get("/login").get_data(as_text=True))
    web_client.post(
        "/login", data={"username": "zhangsan", "password": "Temp-pass-2026", "csrf_token": token}
    )
    resp = web_client.get("/directory")
    assert resp.status_code == 302 and resp.headers["Location"] == "/account/password"
    page = web_client.get("/account/password").get_data(as_text=True)
    resp = web_client.post(
        "/account/password",
        data={
            "current_password": "Temp-pass-2026",
            "new_password": "Mine-pass-2026",
            "confirm_password": "Mine-pass-2026",
            "csrf_token": csrf_from(page),
        },
    )
    assert resp.status_code == 302
    assert web_client.get("/directory").status_code == 200


def test_security_headers_on_every_page(client, org):
    for resp in (client.get("/login"), client.get("/healthz"), client.get("/api/v1/me")):
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_html_errors_are_chinese_pages(client, org):
    web_login(client, "zhangsan")
    resp = client.get("/directory/people/999999")
    assert resp.status_code == 404 and "不存在或无权访问" in resp.get_data(as_text=True)


def test_two_factor_web_login(app, client, org):
    import pyotp

    from office.auth import services
    from office.context import SYSTEM
    from office.identity.models import User

    with app.app_context():
        user = db.session.get(User, org["people"]["staff"].id)
        totp = pyotp.TOTP(services.begin_totp_setup(SYSTEM, user))
        services.confirm_totp_setup(SYSTEM, user, totp.now())
        user.totp_last_step = None
        db.session.commit()
    token = csrf_from(client.get("/login").get_data(as_text=True))
    resp = client.post("/login", data={"username": "zhangsan", "password": PASSWORD, "csrf_token": token})
    assert resp.headers["Location"] == "/login/otp"
    assert client.get("/").status_code == 302  # not signed in yet
    page = client.get("/login/otp").get_data(as_text=True)
    bad = client.post("/login/otp", data={"otp": "000000", "csrf_token": csrf_from(page)})
    assert bad.status_code == 401
    ok = client.post("/login/otp", data={"otp": totp.now(), "csrf_token": csrf_from(page)})
    assert ok.status_code == 302 and client.get("/").status_code == 200
