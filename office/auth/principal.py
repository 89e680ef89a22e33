"""Who is calling, resolved without a database round trip on the hot path.

Every API call must authenticate, so resolving a token costs on every request. We cache a
small snapshot of the token and its person (the ``/me`` shape plus the flags the sign-in
gates need) keyed by the token's hash:

- embedded default: an in-process dict (one process, so invalidation is exact);
- scale-out mode: Redis, shared by every app process, so a revocation in one process takes
  effect in all of them at once.

Correctness comes from a *generation* number: every change to people, posts, units, tokens,
secretary links or delegations bumps it after its transaction commits, and a snapshot
written under an older generation is ignored. The ORM ``User`` is loaded lazily
(``g.user``) only by the views that need it.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Flask, current_app
from flask.ctx import _AppCtxGlobals
from sqlalchemy import event
from sqlalchemy.orm import Session, joinedload

#: Snapshots live at most this long (seconds); the generation makes them exact anyway.
SNAPSHOT_TTL = 300
GEN_KEY = "office:principal:gen"
KEY_PREFIX = "office:principal:t:"


@dataclass(frozen=True)
class Principal:
    token_id: int
    user_id: int
    kind: str
    expires_at: float
    last_seen_at: float
    user_json: dict[str, Any]
    is_admin: bool
    totp_enabled: bool
    must_change_password: bool

    def to_json(self, gen: int) -> str:
        return json.dumps({"gen": gen, **asdict(self)}, ensure_ascii=False, separators=(",", ":"))


class LocalCache:
    """In-process snapshots for the embedded single-process default."""

    def __init__(self, max_entries: int = 50_000) -> None:
        self._lock = threading.Lock()
        self._gen = 0
        self._data: dict[str, tuple[int, float, Principal]] = {}
        self._max = max_entries

    def get(self, key: str) -> tuple[int, Principal | None]:
        with self._lock:
            hit = self._data.get(key)
            gen = self._gen
        if hit and hit[0] == gen and hit[1] > time.monotonic():
            return gen, hit[2]
        return gen, None

    def put(self, key: str, principal: Principal, gen: int) -> None:
        with self._lock:
            if len(self._data) >= self._max:
                self._data.clear()
            self._data[key] = (gen, time.monotonic() + SNAPSHOT_TTL, principal)

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    def bump(self) -> None:
        with self._lock:
            self._gen += 1
            self._data.clear()

    def generation(self) -> int:
        with self._lock:
            return self._gen


class RedisCache:
    """Snapshots in Redis, shared by all processes: one MGET per request."""

    def __init__(self, url: str) -> None:
        import redis

        self._r = redis.Redis.from_url(url, socket_timeout=2, health_check_interval=30)

    def get(self, key: str) -> tuple[int, Principal | None]:
        raw_gen, raw = self._r.mget(GEN_KEY, KEY_PREFIX + key)
        gen = int(raw_gen or 0)
        if raw is None:
            return gen, None
        data = json.loads(raw)
        if data.pop("gen") != gen:
            return gen, None
        return gen, Principal(**data)

    def put(self, key: str, principal: Principal, gen: int) -> None:
        self._r.set(KEY_PREFIX + key, principal.to_json(gen), ex=SNAPSHOT_TTL)

    def delete(self, key: str) -> None:
        self._r.delete(KEY_PREFIX + key)

    def bump(self) -> None:
        self._r.incr(GEN_KEY)

    def generation(self) -> int:
        return int(self._r.get(GEN_KEY) or 0)


def cache() -> LocalCache | RedisCache:
    return current_app.extensions["principal_cache"]


def _ts(value: datetime) -> float:
    return value.timestamp()


def snapshot(tok) -> Principal:
    """Build the snapshot from a loaded AuthToken (with user, posts, units, roles)."""
    from office.identity.access import is_admin
    from office.identity.schemas import user_json

    user = tok.user
    return Principal(
        token_id=tok.id,
        user_id=user.id,
        kind=tok.kind.value,
        expires_at=_ts(tok.expires_at),
        last_seen_at=_ts(tok.last_seen_at),
        user_json=user_json(user),
        is_admin=is_admin(user),
        totp_enabled=user.totp_enabled,
        must_change_password=user.must_change_password,
    )


def identity_changed(session: Session) -> None:
    """Services call this when they change people, posts, units or tokens: every cached
    snapshot is dropped once (and only if) the transaction commits."""
    session.info["principal_changed"] = True


def install(app: Flask) -> None:
    url = app.config.get("REDIS_URL")
    app.extensions["principal_cache"] = RedisCache(url) if url else LocalCache()
    app.app_ctx_globals_class = Globals
    _listen_once()


_listening: list[bool] = []


def _listen_once() -> None:
    """Session events are process-wide (``db.session`` is shared by every app)."""
    if _listening:
        return
    _listening.append(True)
    from office.extensions import db

    @event.listens_for(db.session, "after_commit")
    def _after_commit(session: Session) -> None:
        if session.in_nested_transaction():  # a savepoint was released; the outer may roll back
            return
        if session.info.pop("principal_changed", False):
            cache().bump()

    @event.listens_for(db.session, "before_flush")
    def _before_flush(session: Session, _ctx: Any, _instances: Any) -> None:
        if _touches_identity(session):
            identity_changed(session)

    @event.listens_for(db.session, "after_soft_rollback")
    def _after_rollback(session: Session, previous_transaction: Any) -> None:
        # Only the outer transaction's rollback forgets the change; a savepoint rollback keeps
        # it (an extra invalidation is harmless, a missed one is not).
        if previous_transaction.parent is None:
            session.info.pop("principal_changed", None)


def _touches_identity(session: Session) -> bool:
    """Whether this flush changes anything a snapshot shows: people, posts, roles, units, or
    a token's revocation. New tokens and sign-in counters do not count."""
    from sqlalchemy import inspect

    from office.auth.models import AuthToken
    from office.identity.models import Delegation, Post, PostRole, SecretaryLink, Unit, User

    # Secretary links and delegations: office.identity.relations keeps them per process.
    structural = (Post, PostRole, Unit, SecretaryLink, Delegation)
    watched = {
        User: ("name", "mobile", "active", "must_change_password", "totp_enabled", "username"),
        AuthToken: ("revoked_at",),
    }
    for obj in (*session.new, *session.deleted):
        if isinstance(obj, structural) or (isinstance(obj, User) and obj in session.deleted):
            return True
    for obj in session.dirty:
        if isinstance(obj, structural) and session.is_modified(obj):
            return True
        attrs = watched.get(type(obj))
        if attrs:
            state = inspect(obj)
            if any(state.attrs[a].history.has_changes() for a in attrs):
                return True
    return False


def load_user(user_id: int):
    from office.extensions import db
    from office.identity.models import Post, User

    return db.session.get(
        User, user_id, options=[joinedload(User.posts).options(joinedload(Post.unit), joinedload(Post.roles))]
    )


class Globals(_AppCtxGlobals):
    """``g`` with ``user`` and ``token`` loaded from the database only when first used."""

    @property
    def user(self):
        d = self.__dict__
        if "_user" not in d:
            p = d.get("principal")
            d["_user"] = load_user(p.user_id) if p else None
        return d["_user"]

    @user.setter
    def user(self, value) -> None:
        self.__dict__["_user"] = value

    @property
    def token(self):
        d = self.__dict__
        if "_token" not in d:
            from office.auth.models import AuthToken
            from office.extensions import db

            p = d.get("principal")
            d["_token"] = db.session.get(AuthToken, p.token_id) if p else None
        return d["_token"]

    @token.setter
    def token(self, value) -> None:
        self.__dict__["_token"] = value

    def get(self, name: str, default: Any = None) -> Any:
        if name in ("user", "token"):
            return getattr(self, name)
        return self.__dict__.get(name, default)


def now_ts() -> float:
    return datetime.now(UTC).timestamp()
