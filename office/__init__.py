"""政务协同办公: the application factory and the core services every feature uses."""

from __future__ import annotations

import logging
from typing import Any

from apiflask import APIFlask
from werkzeug.middleware.proxy_fix import ProxyFix

from office.config import load_config

__version__ = "0.1.0"


def create_app(config: dict[str, Any] | None = None) -> APIFlask:
    """Build the app. ``config`` overrides what the environment says (tests use it)."""
    settings = load_config()
    settings.update(config or {})
    if not settings.get("SEARCH_INDEX_DIR"):
        from pathlib import Path

        settings["SEARCH_INDEX_DIR"] = str(Path(settings["OFFICE_INSTANCE"]) / "search")
    app = APIFlask(
        __name__,
        title="政务协同办公 API",
        version=__version__,
        spec_path="/api/v1/openapi.json",
        docs_path="/api/v1/docs",
        docs_oauth2_redirect_path=None,
        json_errors=False,
        instance_path=settings["OFFICE_INSTANCE"],
        static_folder="../static",
        static_url_path="/static",
    )
    app.config.from_mapping(settings)
    from office.fields import DbIntConverter

    app.url_map.converters["int"] = DbIntConverter  # before any route: ids the database can hold
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  (Chinese stays readable)
    app.security_schemes = {"BearerAuth": {"type": "http", "scheme": "bearer"}}
    if app.config["TRUST_PROXY"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)

    if app.config.get("PASSWORD_HASH_FAST"):
        from office.auth.passwords import use_fast_hashing

        use_fast_hashing()
    _init_extensions(app)
    _register_blueprints(app)
    from office.errors import register_error_handlers
    from office.web.security import register_security

    register_error_handlers(app)
    register_security(app)
    from office.cli import register_cli

    register_cli(app)
    return app


def _init_extensions(app: APIFlask) -> None:
    from office.auth.guard import SessionInterface, load_identity
    from office.db import configure_sqlite
    from office.extensions import csrf, db, limiter, migrate, socketio

    db.init_app(app)
    # Models no blueprint imports yet must still be in the metadata that migrations check.
    import office.files.models

    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            configure_sqlite(db.engine)
    migrate.init_app(app, db, directory=str(_root() / "migrations"), render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    limiter.init_app(app)
    # We only use per-route limits (sign-in), which the @limiter.limit wrapper checks itself.
    # The extension's global before_request hook would evaluate the (empty) default limits on
    # every request, about 15% of a cached API call, so it is taken out.
    app.before_request_funcs[None] = [
        f for f in app.before_request_funcs.get(None, []) if f != limiter._check_request_limit
    ]
    # Handlers must be registered before init_app, so that every app built in this process
    # (tests build several) gets them on its own Socket.IO server.
    import office.push.sockets  # noqa: F401

    socketio.init_app(
        app,
        message_queue=app.config["REDIS_URL"],
        async_mode=app.config["SOCKETIO_ASYNC_MODE"],
        cors_allowed_origins=[],
        logger=False,
        engineio_logger=False,
    )
    app.session_interface = SessionInterface()
    from office.auth import principal

    principal.install(app)
    from office.audit import services as audit
    from office.push import services as push
    from office.workflow import services as workflow

    push.install()
    audit.install()
    workflow.install()
    from office.search import services as search

    search.init_app(app)
    app.before_request(load_identity)


def _register_blueprints(app: APIFlask) -> None:
    import documents
    import meetings
    import seals
    import supervision
    from office.audit import api as audit_api
    from office.audit import views as audit_views
    from office.auth import api as auth_api
    from office.auth import views as auth_views
    from office.identity import api as identity_api
    from office.identity import views as identity_views
    from office.notifications import api as notifications_api
    from office.search import api as search_api
    from office.search import views as search_views
    from office.todos import api as todos_api
    from office.todos import views as todos_views
    from office.web import views as web_views

    for bp in (
        web_views.bp,
        auth_views.bp,
        identity_views.bp,
        audit_views.bp,
        todos_views.bp,
        auth_api.bp,
        identity_api.bp,
        audit_api.bp,
        todos_api.bp,
        notifications_api.bp,
        search_api.bp,
        search_views.bp,
        documents.bp,
        documents.api_bp,
        seals.bp,
        seals.api_bp,
        seals.pki_bp,
        meetings.bp,
        supervision.bp,
    ):
        app.register_blueprint(bp)


def _root():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent
