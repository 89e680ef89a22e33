"""Who is calling: resolves the bearer token or session cookie once per request, and the
decorators views and API endpoints use to require it."""

from __future__ import annotations

from functools import wraps
from typing import Any

from flask import Flask, current_app, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError, validate_csrf
from wtforms import ValidationError

from office.auth.models import TokenKind
from office.auth.services import resolve_principal
from office.db import write_intent
from office.errors import ServiceError
from office.extensions import db
from office.fields import bounded_int
from office.identity.models import User

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class SessionInterface(SecureCookieSessionInterface):
    """Marks the cookie Secure whenever the request came over HTTPS (also behind a proxy)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure

    def open_session(self, app: Flask, request):
        # No cookie (API clients with bearer tokens): skip building the signing serializer.
        if not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


def load_identity() -> None:
    """before_request: set g.principal (cached snapshot), g.auth_via and g.on_behalf_of.
    ``g.user`` and ``g.token`` load from the database only when a view uses them."""
    write_intent.set(request.method not in SAFE_METHODS)
    g.principal = g.auth_via = g.on_behalf_of = None
    if request.endpoint in (None, "static", "health"):
        return
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        p = resolve_principal(header[7:].strip(), TokenKind.API)
        if p is None:
            g.auth_error = "invalid_token"
            return
        g.principal, g.auth_via = p, "bearer"
    elif session.get("sid"):
        p = resolve_principal(session["sid"], TokenKind.WEB)
        if p is None:
            session.pop("sid", None)
            session["expired"] = True
            g.auth_error = "session_expired"
            return
        g.principal, g.auth_via = p, "session"
    else:
        return
    obo = request.headers.get("X-On-Behalf-Of")
    if obo:
        _set_on_behalf_of(obo)


def _set_on_behalf_of(raw: str) -> None:
    from office.identity.services import can_act_for

    user_id = bounded_int(raw)
    principal = db.session.get(User, user_id) if user_id is not None else None
    if principal is None or not can_act_for(g.user, principal):
        raise ServiceError("cannot_act_for", "您无权代该人员办理", 403)
    g.on_behalf_of = principal


def current_user() -> User | None:
    return g.get("user")


def _gate_message() -> tuple[str, str] | None:
    p = g.principal
    if current_app.config["REQUIRE_ADMIN_2FA"] and p.is_admin and not p.totp_enabled:
        return "otp_setup_required", "管理员须先开启两步验证"
    if p.must_change_password:
        return "password_change_required", "请先修改初始密码"
    return None


def login_required(view):
    """For HTML views: redirect to the login page, or to the forced set-up pages."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any):
        if g.get("principal") is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        gate = _gate_message()
        if gate and request.endpoint not in (
            "auth.account",
            "auth.totp_setup",
            "auth.password",
            "auth.logout",
        ):
            return redirect(
                url_for("auth.totp_setup" if gate[0] == "otp_setup_required" else "auth.password")
            )
        return view(*args, **kwargs)

    return wrapper


def api_login_required(view):
    """For JSON endpoints: 401 without valid credentials."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any):
        if g.get("principal") is None:
            if g.get("auth_error") == "invalid_token":
                raise ServiceError(
                    "invalid_token", "令牌无效、已过期或已撤销", 401, headers={"WWW-Authenticate": "Bearer"}
                )
            raise ServiceError("unauthorized", "请先登录", 401, headers={"WWW-Authenticate": "Bearer"})
        gate = _gate_message()
        if gate and request.endpoint not in ("auth_api.me", "auth_api.revoke", "auth_api.change_password"):
            raise ServiceError(gate[0], gate[1], 403)
        return view(*args, **kwargs)

    return wrapper


def check_api_csrf() -> None:
    """API calls that ride on the browser session must carry the CSRF token in a header;
    bearer-token clients are not exposed to CSRF."""
    if request.method in SAFE_METHODS or g.get("auth_via") != "session":
        return
    try:
        validate_csrf(request.headers.get("X-CSRFToken") or request.headers.get("X-CSRF-Token"))
    except ValidationError as exc:
        raise CSRFError(str(exc)) from None
