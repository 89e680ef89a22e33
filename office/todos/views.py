"""HTML pages: the 待办 page (tabs 待办 / 已办 / 待阅 / 我交办的), an item's page, sending a
交办, and the notification inbox."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from office.auth.guard import login_required
from office.context import current_actor
from office.errors import ServiceError
from office.extensions import db
from office.notifications import services as notifications
from office.todos import services
from office.todos.models import URGENCY_LABELS, Urgency
from office.todos.schemas import MemoIn
from office.web.forms import parse_form, service_errors

bp = Blueprint("todos", __name__, template_folder="templates")

TABS = {"pending": "待办", "read": "待阅", "done": "已办", "sent": "我交办的"}


def _page_no() -> int:
    raw = request.args.get("page", "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else 1


@bp.get("/todos")
@login_required
def index():
    tab = request.args.get("tab", "pending")
    tab = tab if tab in TABS else "pending"
    kind = (request.args.get("kind") or "").strip()[:40] or None
    if tab == "sent":
        result = services.sent_by(g.user, page=_page_no())
    else:
        status = "done" if tab == "done" else "pending"
        category = "read" if tab == "read" else (None if tab == "done" else "todo")
        result = services.list_todos(g.user, status=status, category=category, kind=kind, page=_page_no())
    return render_template(
        "todos/index.html",
        tab=tab,
        tabs=TABS,
        kind=kind,
        result=result,
        counts=services.counts(g.user),
        todo_json=lambda t: services.todo_json(t, g.user.id),
    )


@bp.get("/todos/<int:todo_id>")
@login_required
def detail(todo_id: int):
    t = services.get_todo(g.user, todo_id)
    return render_template(
        "todos/detail.html",
        t=t,
        data=services.todo_json(t, g.user.id),
        actions=services.actions_for(g.user, t),
    )


@bp.post("/todos/<int:todo_id>/complete")
@login_required
def complete(todo_id: int):
    t = services.complete(current_actor(), todo_id)
    db.session.commit()
    flash("已办结", "success")
    return redirect(request.form.get("next") or url_for("todos.detail", todo_id=t.id))


@bp.post("/todos/<int:todo_id>/urge")
@login_required
def urge(todo_id: int):
    try:
        services.urge(current_actor(), todo_id, request.form.get("message", ""))
        db.session.commit()
        flash("已催办", "success")
    except ServiceError as err:
        db.session.rollback()
        flash(err.message, "error")
    return redirect(url_for("todos.detail", todo_id=todo_id))


@bp.route("/todos/new", methods=["GET", "POST"])
@login_required
def new():
    errors: dict[str, list[str]] = {}
    form = request.form.to_dict()
    if request.method == "POST":
        raw = {k: v for k, v in form.items() if k not in ("csrf_token", "request_key") and v != ""}
        if raw.get("due_at") and "+" not in raw["due_at"]:
            raw["due_at"] += ":00+08:00" if len(raw["due_at"]) == 16 else "+08:00"
        data, errors = parse_form(MemoIn(), raw)
        if not errors:
            try:
                t = services.send_memo(current_actor(), request_key=form.get("request_key") or None, **data)
                db.session.commit()
                flash(f"已交办给 {t.user.name}", "success")
                return redirect(url_for("todos.detail", todo_id=t.id))
            except ServiceError as err:
                db.session.rollback()
                errors = service_errors(err)
    import secrets

    return render_template(
        "todos/new.html",
        errors=errors,
        form=form,
        request_key=form.get("request_key") or secrets.token_urlsafe(12),
        urgencies=[
            (code, URGENCY_LABELS[u])
            for u, code in (
                (Urgency.NORMAL, "normal"),
                (Urgency.URGENT, "urgent"),
                (Urgency.VERY_URGENT, "very_urgent"),
            )
        ],
    ), (422 if errors else 200)


@bp.get("/notifications")
@login_required
def inbox():
    result = notifications.list_for(g.user, page=_page_no(), per_page=30)
    return render_template("todos/notifications.html", result=result)


@bp.post("/notifications/read-all")
@login_required
def read_all():
    notifications.mark_all_read(g.user)
    db.session.commit()
    return redirect(url_for("todos.inbox"))
