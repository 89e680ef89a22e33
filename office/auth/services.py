"""Sign-in, lockout, tokens and sessions, and two-factor (TOTP)."""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from datetime import datetime, timedelta

import pyotp
from flask import current_app, g
from sqlalchemy import select, update
from sqlalchemy.orm import joinedload

from office import crypto
from office.audit.services import record
from office.auth import principal
from office.auth.models import AuthToken, LoginThrottle, TokenKind
from office.auth.passwords import check_policy, hash_password, needs_rehash, verify_password
from office.context import Actor
from office.db import utcnow
from office.errors import ServiceError
from office.extensions import db
from office.identity.access import is_admin
from office.identity.models import Post, User

TOUCH_INTERVAL = timedelta(seconds=60)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# ---------------------------------------------------------------- sign-in


def authenticate(actor: Actor, username: str, password: str, otp: str | None = None) -> User:
    """Check credentials. Wrong user and wrong password look the same (401); five failures
    lock the username for 15 minutes (429), whether or not it exists."""
    cfg = current_app.config
    username = (username or "").strip().lower()[:64]
    now = utcnow()
    throttle = db.session.get(LoginThrottle, username)
    if throttle and throttle.locked_until and throttle.locked_until > now:
        retry = int((throttle.locked_until - now).total_seconds()) + 1
        raise ServiceError(
            "account_locked",
            f"登录失败次数过多，账号已锁定，请 {retry // 60 + 1} 分钟后再试",
            429,
            details={"retry_after": retry},
            headers={"Retry-After": str(retry)},
        )
    user = db.session.scalar(select(User).where(User.username == username)) if username else None
    ok = verify_password(user.password_hash if user else None, password or "") and user is not None
    if not ok or not user.active:
        _fail(actor, username, user, now, cfg)
        raise ServiceError("invalid_credentials", "用户名或密码错误", 401)
    if user.totp_enabled:
        if not otp:
            # Password was right; the second factor is still missing. Not a failure.
            raise ServiceError("otp_required", "请输入动态验证码", 401, details={"otp_required": True})
        if not verify_totp(user, otp):
            _fail(actor, username, user, now, cfg)
            raise ServiceError("invalid_otp", "动态验证码错误", 401, details={"otp_required": True})
    if throttle:
        throttle.failures, throttle.locked_until = 0, None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.failed_logins = 0
    return user


def _fail(actor: Actor, username: str, user: User | None, now: datetime, cfg) -> None:
    """Count a failure in its own transaction, so it survives the 401 that follows."""
    throttle = db.session.get(LoginThrottle, username)
    if throttle is None:
        throttle = LoginThrottle(username=username, failures=0)
        db.session.add(throttle)
    throttle.failures += 1
    throttle.last_failure_at = now
    locked = throttle.failures >= cfg["LOCKOUT_THRESHOLD"]
    if locked:
        throttle.locked_until = now + timedelta(minutes=cfg["LOCKOUT_MINUTES"])
        throttle.failures = 0
    if user is not None:
        user.failed_logins += 1
    record(
        Actor(user=None, ip=actor.ip, user_agent=actor.user_agent),
        "office:auth:login_failed",
        object_type="user",
        object_id=user.id if user else None,
        details={"username": username, "locked": locked},
    )
    db.session.commit()


def password_login_needs_otp_setup(user: User) -> bool:
    return bool(current_app.config["REQUIRE_ADMIN_2FA"]) and is_admin(user) and not user.totp_enabled


# ---------------------------------------------------------------- tokens and sessions


def issue_token(actor: Actor, user: User, kind: TokenKind) -> tuple[str, AuthToken]:
    cfg = current_app.config
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    ttl = timedelta(hours=cfg["API_TOKEN_TTL_HOURS"]) if kind is TokenKind.API else timedelta(hours=12)
    tok = AuthToken(
        user_id=user.id,
        user=user,
        kind=kind,
        token_hash=_hash(secret),
        created_at=now,
        last_seen_at=now,
        expires_at=now + ttl,
        ip=actor.ip,
        user_agent=actor.user_agent,
    )
    db.session.add(tok)
    record(
        Actor(user=user, ip=actor.ip, user_agent=actor.user_agent),
        "office:auth:login" if kind is TokenKind.WEB else "office:auth:token_issue",
        tok,
        object_type="auth_token",
        details={"kind": kind.value},
    )
    return secret, tok


def _load_token(secret: str, kind: TokenKind) -> AuthToken | None:
    """The live token for ``secret`` with its person, posts, units and roles, or None if
    unknown, expired, idle, revoked or the person was deactivated."""
    if not secret or len(secret) > 200:
        return None
    # One round trip: this runs whenever the principal cache misses (bench/http.py).
    tok = (
        db.session.execute(
            select(AuthToken)
            .where(AuthToken.token_hash == _hash(secret), AuthToken.kind == kind)
            .options(
                joinedload(AuthToken.user)
                .joinedload(User.posts)
                .options(joinedload(Post.unit), joinedload(Post.roles))
            )
        )
        .unique()
        .scalar_one_or_none()
    )
    if tok is None or tok.revoked_at is not None or not tok.user.active:
        return None
    now = utcnow()
    if tok.expires_at <= now:
        return None
    if kind is TokenKind.WEB:
        idle = timedelta(minutes=current_app.config["IDLE_TIMEOUT_MINUTES"])
        if now - tok.last_seen_at > idle:
            return None
    return tok


def _touch(token_id: int, now: datetime) -> None:
    """One cheap UPDATE a minute per session, in its own transaction."""
    db.session.execute(update(AuthToken).where(AuthToken.id == token_id).values(last_seen_at=now))
    db.session.commit()


def resolve_token(secret: str, kind: TokenKind) -> AuthToken | None:
    """The live token (ORM), refreshing its last use; for Socket.IO connections."""
    tok = _load_token(secret, kind)
    if tok is not None and utcnow() - tok.last_seen_at > TOUCH_INTERVAL:
        token_id = tok.id
        _touch(token_id, utcnow())
        tok = db.session.get(AuthToken, token_id)
    return tok


def resolve_principal(secret: str, kind: TokenKind) -> principal.Principal | None:
    """Who is calling: from the principal cache when fresh, else from the database (which
    also refreshes the token's last use at most once a minute)."""
    if not secret or len(secret) > 200:
        return None
    key = _hash(secret)
    store = principal.cache()
    gen, snap = store.get(key)
    g._identity_gen = gen  # office.identity.relations checks its snapshot against it
    now = principal.now_ts()
    fresh = snap is not None and now - snap.last_seen_at <= TOUCH_INTERVAL.total_seconds()
    if fresh and snap.kind == kind.value and snap.expires_at > now:
        return snap
    tok = _load_token(secret, kind)
    if tok is None:
        store.delete(key)
        return None
    stamp = utcnow()
    snap = principal.snapshot(tok)
    g.user = tok.user
    if stamp - tok.last_seen_at > TOUCH_INTERVAL:
        snap = dataclasses.replace(snap, last_seen_at=stamp.timestamp())
        _touch(tok.id, stamp)
    store.put(key, snap, gen)
    return snap


def revoke_token(actor: Actor, tok: AuthToken) -> None:
    if tok.revoked_at is None:
        tok.revoked_at = utcnow()
        record(
            actor,
            "office:auth:logout" if tok.kind is TokenKind.WEB else "office:auth:token_revoke",
            tok,
            object_type="auth_token",
        )


def revoke_all_tokens(user: User) -> None:
    principal.identity_changed(db.session)
    db.session.execute(
        update(AuthToken)
        .where(AuthToken.user_id == user.id, AuthToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def change_password(actor: Actor, user: User, current: str, new: str) -> None:
    if not verify_password(user.password_hash, current):
        raise ServiceError("wrong_password", "当前密码不正确", 422, field="current_password")
    if current == new:
        raise ServiceError("same_password", "新密码不能与当前密码相同", 422, field="new_password")
    try:
        check_policy(new)
    except ServiceError as err:
        err.field = "new_password"
        err.details = {"fields": {"new_password": [err.message]}}
        raise
    user.password_hash = hash_password(new)
    user.must_change_password = False
    user.password_changed_at = utcnow()
    record(actor, "office:user:change_password", user)


# ---------------------------------------------------------------- TOTP


def begin_totp_setup(actor: Actor, user: User) -> str:
    """Create (or re-create) a secret; it counts only after a code confirms it."""
    if user.totp_enabled:
        raise ServiceError("otp_already_enabled", "已开启两步验证", 409)
    secret = pyotp.random_base32()
    user.totp_secret_enc = crypto.encrypt(secret)
    record(actor, "office:user:totp_begin", user)
    return secret


def totp_uri(user: User) -> str | None:
    if not user.totp_secret_enc:
        return None
    return pyotp.TOTP(crypto.decrypt(user.totp_secret_enc)).provisioning_uri(
        name=user.username, issuer_name="政务协同办公"
    )


def verify_totp(user: User, code: str) -> bool:
    """Accept the current code (one step of clock drift either way), never the same step twice."""
    if not user.totp_secret_enc:
        return False
    code = (code or "").strip().replace(" ", "")
    if not code.isdigit() or len(code) != 6:
        return False
    totp = pyotp.TOTP(crypto.decrypt(user.totp_secret_enc))
    now = utcnow()
    step_now = int(now.timestamp()) // totp.interval
    for offset in (0, -1, 1):
        step = step_now + offset
        if secrets.compare_digest(totp.at(step * totp.interval), code):
            if user.totp_last_step is not None and step <= user.totp_last_step:
                return False
            user.totp_last_step = step
            return True
    return False


def confirm_totp_setup(actor: Actor, user: User, code: str) -> None:
    if user.totp_enabled:
        raise ServiceError("otp_already_enabled", "已开启两步验证", 409)
    if not verify_totp(user, code):
        raise ServiceError("invalid_otp", "动态验证码错误，请核对手机时间后重试", 422, field="otp")
    user.totp_enabled = True
    record(actor, "office:user:totp_enable", user)


def disable_totp(actor: Actor, user: User, password: str) -> None:
    if not verify_password(user.password_hash, password):
        raise ServiceError("wrong_password", "密码不正确", 422, field="password")
    if password_login_needs_otp_setup(user) or (current_app.config["REQUIRE_ADMIN_2FA"] and is_admin(user)):
        raise ServiceError("otp_mandatory", "管理员必须开启两步验证", 409)
    user.totp_enabled, user.totp_secret_enc, user.totp_last_step = False, None, None
    record(actor, "office:user:totp_disable", user)
