"""Sign-in pages, logout and the person's own account (password, two-factor)."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import segno
from flask import Blueprint, current_app, flash, g, redirect, render_template, request, session, url_for

from office.auth import services
from office.auth.guard import login_required
from office.auth.models import TokenKind
from office.context import current_actor
from office.errors import ServiceError
from office.extensions import db, limiter
from office.identity.access import is_admin
from office.identity.models import User
from office.web.forms import service_errors

bp = Blueprint("auth", __name__, template_folder="templates")
PENDING_TTL = 300


def _safe_next(target: str | None) -> str:
    if not target:
        return url_for("web.home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("web.home")
    return target


def _start_session(user: User) -> None:
    secret, _tok = services.issue_token(current_actor(), user, TokenKind.WEB)
    db.session.commit()
    session.clear()  # a fresh session on sign-in: no fixation
    session.permanent = True
    session["sid"] = secret


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login():
    errors: dict[str, list[str]] = {}
    username = request.form.get("username", "")
    if request.method == "POST":
        try:
            user = services.authenticate(current_actor(), username, request.form.get("password", ""))
        except ServiceError as err:
            if err.code != "otp_required":
                db.session.rollback()
                errors = {"_": [err.message]}
                return render_template("auth/login.html", errors=errors, username=username), err.status
            user = db.session.query(User).filter_by(username=username.strip().lower()).one()
            session.clear()
            session["pending_uid"], session["pending_at"] = user.id, int(time.time())
            session["next"] = _safe_next(request.args.get("next"))
            return redirect(url_for("auth.login_otp"))
        _start_session(user)
        return redirect(_safe_next(request.args.get("next")))
    if session.pop("expired", False):
        errors = {"_": ["登录已超时，请重新登录"]}
    return render_template("auth/login.html", errors=errors, username=username)


@bp.route("/login/otp", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login_otp():
    uid, started = session.get("pending_uid"), session.get("pending_at", 0)
    user = db.session.get(User, uid) if uid else None
    if user is None or time.time() - started > PENDING_TTL:
        session.clear()
        return redirect(url_for("auth.login"))
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        code = request.form.get("otp", "")
        # Re-run the full check: the password step is remembered only for five minutes.
        if services.verify_totp(user, code):
            db.session.commit()
            target = session.get("next")
            _start_session(user)
            return redirect(_safe_next(target))
        db.session.rollback()
        errors = {"otp": ["动态验证码错误"]}
        session["otp_failures"] = session.get("otp_failures", 0) + 1
        if session["otp_failures"] >= 5:
            session.clear()
            return redirect(url_for("auth.login"))
        return render_template("auth/otp.html", errors=errors), 401
    return render_template("auth/otp.html", errors=errors)


@bp.post("/logout")
def logout():
    if g.get("token") is not None:
        services.revoke_token(current_actor(), g.token)
        db.session.commit()
    session.clear()
    flash("已安全退出", "info")
    return redirect(url_for("auth.login"))


@bp.get("/account")
@login_required
def account():
    return render_template("auth/account.html", errors={})


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def password():
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            services.change_password(
                current_actor(),
                g.user,
                request.form.get("current_password", ""),
                request.form.get("new_password", ""),
            )
            if request.form.get("new_password") != request.form.get("confirm_password"):
                raise ServiceError("mismatch", "两次输入的新密码不一致", 422, field="confirm_password")
            db.session.commit()
            flash("密码已修改", "success")
            return redirect(url_for("auth.account"))
        except ServiceError as err:
            db.session.rollback()
            errors = service_errors(err)
    return render_template("auth/password.html", errors=errors), (422 if errors else 200)


@bp.route("/account/totp", methods=["GET", "POST"])
@login_required
def totp_setup():
    user: User = g.user
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        action = request.form.get("action")
        try:
            if action == "begin":
                services.begin_totp_setup(current_actor(), user)
            elif action == "confirm":
                services.confirm_totp_setup(current_actor(), user, request.form.get("otp", ""))
                flash("两步验证已开启", "success")
            elif action == "disable":
                services.disable_totp(current_actor(), user, request.form.get("password", ""))
                flash("两步验证已关闭", "info")
            db.session.commit()
            return redirect(url_for("auth.totp_setup"))
        except ServiceError as err:
            db.session.rollback()
            errors = service_errors(err)
    uri = services.totp_uri(user) if not user.totp_enabled else None
    qr = segno.make(uri, error="m").svg_data_uri(scale=4) if uri else None
    secret = uri.split("secret=")[1].split("&")[0] if uri else None
    mandatory = services.password_login_needs_otp_setup(user)
    can_disable = user.totp_enabled and not (current_app.config["REQUIRE_ADMIN_2FA"] and is_admin(user))
    return render_template(
        "auth/totp.html", errors=errors, qr=qr, secret=secret, mandatory=mandatory, can_disable=can_disable
    ), (422 if errors else 200)
