"""The one configuration module: everything comes from the environment.

The embedded default needs nothing installed (SQLite and secrets in the instance folder);
setting ``DATABASE_URL`` and ``REDIS_URL`` switches to the scale-out mode.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path
from typing import Any

TRUE = {"1", "true", "yes", "on"}


def _flag(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    return default if raw is None or raw == "" else raw.strip().lower() in TRUE


def _secret_file(path: Path, make: Any) -> str:
    """Read a secret from ``path``, creating it with mode 0600 on first start.

    The file is created with O_EXCL so that two processes starting together agree on one key.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(make())
    return path.read_text().strip()


def load_config(env: dict[str, str] | None = None) -> dict[str, Any]:
    """Build the Flask config dict from an environment mapping (``os.environ`` by default)."""
    env = dict(os.environ if env is None else env)
    instance = Path(env.get("OFFICE_INSTANCE") or "instance").resolve()
    instance.mkdir(parents=True, exist_ok=True)
    production = env.get("OFFICE_ENV", "development").lower() == "production"

    secret_key = env.get("SECRET_KEY") or _secret_file(
        instance / "secret_key", lambda: secrets.token_urlsafe(48)
    )
    master_key = env.get("OFFICE_MASTER_KEY") or _secret_file(
        instance / "master.key", lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    )
    database_url = env.get("DATABASE_URL") or f"sqlite:///{instance / 'office.db'}"
    if database_url.startswith("postgres://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgres://") :]
    elif database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://") :]
    redis_url = env.get("REDIS_URL") or None
    attachment_mb = int(env.get("OFFICE_ATTACHMENT_MAX_MB") or 50)
    # The request limit stays above the attachment limit (multipart framing, other form fields),
    # so an oversized file reaches office.files and gets its precise message, not werkzeug's
    # generic 413. OFFICE_MAX_UPLOAD_MB can raise it, never push it below the attachment limit.
    upload_mb = max(int(env.get("OFFICE_MAX_UPLOAD_MB") or 0), attachment_mb + max(2, attachment_mb // 10))

    return {
        "OFFICE_ENV": "production" if production else "development",
        "OFFICE_INSTANCE": str(instance),
        "SECRET_KEY": secret_key,
        "OFFICE_MASTER_KEY": master_key,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True}
        if database_url.startswith("sqlite")
        else {
            # One gevent worker serves many requests at once; size the pool so they do not
            # queue for connections (instances x pool size must fit max_connections).
            "pool_pre_ping": True,
            "pool_size": int(env.get("OFFICE_DB_POOL_SIZE", "20")),
            "max_overflow": int(env.get("OFFICE_DB_MAX_OVERFLOW", "10")),
            "pool_timeout": 10,
        },
        "REDIS_URL": redis_url,
        "PORT": int(env.get("PORT", "5000")),
        # Socket.IO: None lets Flask-SocketIO pick (gevent under gunicorn, threading in `serve`).
        "SOCKETIO_ASYNC_MODE": env.get("SOCKETIO_ASYNC_MODE") or None,
        # Reminder scheduler: runs in every app process, one elected instance is active.
        "OFFICE_SCHEDULER": _flag(env, "OFFICE_SCHEDULER", True),
        "OFFICE_SCHEDULER_INTERVAL": float(env.get("OFFICE_SCHEDULER_INTERVAL") or 60),
        # Sessions and sign-in.
        "IDLE_TIMEOUT_MINUTES": int(env.get("OFFICE_IDLE_TIMEOUT_MINUTES", "30")),
        "API_TOKEN_TTL_HOURS": int(env.get("OFFICE_API_TOKEN_TTL_HOURS", "12")),
        "LOCKOUT_THRESHOLD": int(env.get("OFFICE_LOCKOUT_THRESHOLD", "5")),
        "LOCKOUT_MINUTES": int(env.get("OFFICE_LOCKOUT_MINUTES", "15")),
        "LOGIN_RATE_LIMIT": env.get("OFFICE_LOGIN_RATE_LIMIT", "30 per minute"),
        "REQUIRE_ADMIN_2FA": _flag(env, "OFFICE_REQUIRE_ADMIN_2FA", production),
        "TRUST_PROXY": _flag(env, "OFFICE_TRUST_PROXY", production),
        "SESSION_COOKIE_NAME": "office_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _flag(env, "OFFICE_COOKIE_SECURE", False),
        "WTF_CSRF_TIME_LIMIT": None,
        "WTF_CSRF_SSL_STRICT": False,
        "RATELIMIT_STORAGE_URI": redis_url or "memory://",
        "RATELIMIT_HEADERS_ENABLED": True,
        "OFFICE_DEMO_PASSWORD": env.get("OFFICE_DEMO_PASSWORD", "Demo@2026office"),
        # One attachment's limit, enforced by office.files while it streams the upload.
        "ATTACHMENT_MAX_MB": attachment_mb,
        "MAX_CONTENT_LENGTH": upload_mb * 1024 * 1024,
        # OpenAPI docs served from our own static files (no CDN reachable in government networks).
        "SWAGGER_UI_CSS": "/static/vendor/swagger-ui/swagger-ui.css",
        "SWAGGER_UI_BUNDLE_JS": "/static/vendor/swagger-ui/swagger-ui-bundle.js",
        "SWAGGER_UI_STANDALONE_PRESET_JS": "/static/vendor/swagger-ui/swagger-ui-standalone-preset.js",
        "INFO": {"description": "政务协同办公 JSON API。认证：`Authorization: Bearer <token>`。"},
        "JSON_AS_ASCII": False,
        # Full-text search (office/search): the engine, the Chinese analysis, and where index
        # changes are applied after commit: in the writing process ("inline", the embedded
        # default) or by the scheduler / `search drain --follow` ("worker", scale-out).
        "SEARCH_BACKEND": (
            env.get("SEARCH_BACKEND") or ("whoosh" if database_url.startswith("sqlite") else "postgres")
        ).lower(),
        "SEARCH_ANALYSIS": (env.get("SEARCH_ANALYSIS") or "both").lower(),
        "SEARCH_DRAIN": (env.get("SEARCH_DRAIN") or ("inline" if not redis_url else "worker")).lower(),
        # Empty: <OFFICE_INSTANCE>/search, resolved by create_app after overrides.
        "SEARCH_INDEX_DIR": env.get("SEARCH_INDEX_DIR") or "",
        #: How many matches the engine hands to the permission check per query.
        "SEARCH_MAX_CANDIDATES": int(env.get("SEARCH_MAX_CANDIDATES") or 1000),
        #: Processes that analyse text during `search reindex` (0: in the calling process).
        "SEARCH_REINDEX_WORKERS": int(env.get("SEARCH_REINDEX_WORKERS") or (os.cpu_count() or 1)),
    }
