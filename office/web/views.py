"""Home (工作台) and health checks."""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, render_template
from sqlalchemy import text

from office.auth.guard import login_required
from office.extensions import db

bp = Blueprint("web", __name__)


@bp.get("/")
@login_required
def home():
    from office.db import utcnow
    from office.identity import services as identity
    from office.todos import services as todos
    from office.todos.views import KIND_LABELS

    user = g.user
    g.todo_counts = todos.counts(user)  # the header badge uses the same numbers
    return render_template(
        "home.html",
        principals=identity.principals_of(user),
        delegations=[d for d in identity.delegations_for(user) if d.revoked_at is None],
        secretaries=identity.secretaries_of(user),
        todo_counts=g.todo_counts,
        top_todos=todos.list_todos(user, status="pending", category="todo", per_page=5).items,
        kind_labels=KIND_LABELS,
        todo_json=lambda t: todos.todo_json(t, user.id),
        now=utcnow(),
    )


@bp.get("/healthz")
def healthz():
    """The process is alive (no dependencies checked)."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    """Ready to serve: the database answers and its schema is at the migrations' head."""
    try:
        db.session.execute(text("SELECT 1"))
        current = _db_revision()
    except Exception as exc:  # any database failure means "not ready", reported not raised
        db.session.rollback()
        current_app.logger.warning("readyz: database unavailable: %s", exc)
        return jsonify({"status": "unavailable", "database": "unreachable"}), 503
    head = _head_revision()
    if current != head:
        return jsonify({"status": "unavailable", "database": "ok", "migration": current, "head": head}), 503
    return jsonify({"status": "ok", "database": "ok", "migration": current})


def _db_revision() -> str | None:
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


_HEAD: list[str] = []


def _head_revision() -> str | None:
    if not _HEAD:
        from alembic.script import ScriptDirectory

        from office.extensions import migrate

        config = migrate.get_config()
        _HEAD.append(ScriptDirectory.from_config(config).get_current_head() or "")
    return _HEAD[0] or None


def feature_blueprint(name: str, import_name: str, title: str, summary: str) -> Blueprint:
    """A feature package's blueprint with its landing page. Packages whose capability has not
    landed yet show what is coming, so the shape of the suite is visible from day one."""
    fbp = Blueprint(name, import_name, url_prefix=f"/{name}", template_folder="templates")

    @fbp.get("/")
    @login_required
    def index():
        return render_template("feature_pending.html", title=title, summary=summary)

    return fbp
