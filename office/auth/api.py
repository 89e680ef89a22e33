"""JSON API: tokens and the current user."""

from __future__ import annotations

from flask import g, jsonify

from office.api import make_api_blueprint
from office.auth import services
from office.auth.guard import api_login_required
from office.auth.models import TokenKind
from office.auth.schemas import PasswordChangeIn, TokenIn, TokenOut
from office.context import current_actor
from office.errors import ServiceError
from office.extensions import db, limiter
from office.identity.schemas import UserOut, user_json

bp = make_api_blueprint("auth_api", __name__, tag="认证")


def _login_limit() -> str:
    from flask import current_app

    return current_app.config["LOGIN_RATE_LIMIT"]


@bp.post("/auth/token")
@limiter.limit(_login_limit)
@bp.input(TokenIn, arg_name="body")
@bp.output(TokenOut, status_code=201)
@bp.doc(summary="用用户名和密码换取访问令牌", responses=[401, 422, 429])
def issue_token(body):
    actor = current_actor()
    user = services.authenticate(actor, body["username"], body["password"], body.get("otp"))
    if services.password_login_needs_otp_setup(user):
        raise ServiceError("otp_setup_required", "管理员须先在网页端开启两步验证后才能使用接口", 403)
    secret, tok = services.issue_token(actor, user, TokenKind.API)
    db.session.commit()
    return {"token": secret, "expires_at": tok.expires_at, "user": user_json(user)}


@bp.post("/auth/revoke")
@api_login_required
@bp.output({}, status_code=204)
@bp.doc(summary="撤销当前令牌（退出）")
def revoke():
    services.revoke_token(current_actor(), g.token)
    db.session.commit()
    return ""


@bp.get("/me")
@api_login_required
@bp.output(UserOut)
@bp.doc(summary="当前用户", security="BearerAuth")
def me():
    # A Response skips APIFlask's output dump: the cached snapshot already has the shape.
    return jsonify(g.principal.user_json)


@bp.post("/me/password")
@api_login_required
@bp.input(PasswordChangeIn, arg_name="body")
@bp.output({}, status_code=204)
@bp.doc(summary="修改本人密码")
def change_password(body):
    services.change_password(current_actor(), g.user, body["current_password"], body["new_password"])
    db.session.commit()
    return ""
