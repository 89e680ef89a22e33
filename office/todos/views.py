"""HTML pages: the 待办 page (tabs 待办 / 待阅 / 已办 / 我交办的), an item's page, sending a
交办, and the notification inbox."""

from __future__ import annotations

import secrets
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from office.auth.guard import login_required
from office.context import current_actor
from office.db import utcnow
from office.errors import ServiceError
from office.extensions import db
from office.fields import bounded_int
from office.identity import services as identity
from office.notifications import services as notifications
from office.todos import services
from office.todos.models import URGENCY_CODES, URGENCY_LABELS, Urgency
from office.todos.schemas import MemoIn
from office.web.forms import parse_form, service_errors

bp = Blueprint("todos", __name__, template_folder="templates")

TABS = {"pending": "待办", "read": "待阅", "done": "已办", "sent": "我交办的"}
#: Labels of the kinds modules open items under; unknown kinds show as they are.
KIND_LABELS = {
    "memo": "交办",
    "document": "发文",
    "incoming": "收文",
    "seal_request": "用印",
    "meeting": "会议",
    "supervision": "督办",
}
STATUS_LABELS = {"pending": "待办理", "done": "已办结", "cancelled": "已撤销"}
PER_PAGE = 20
BEIJING = ZoneInfo("Asia/Shanghai")


def _page_no() -> int:
    return bounded_int(request.args.get("page")) or 1


def _counts() -> dict:
    """The viewer's to-do counts, computed once per request (the header badge reuses them)."""
    if "todo_counts" not in g:
        g.todo_counts = services.counts(g.user)
    return g.todo_counts


def _safe_next(target: str | None, default: str) -> str:
    """Only same-site paths: a posted ``next`` must not send people elsewhere."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


@bp.get("/todos")
@login_required
def index():
    tab = request.args.get("tab", "pending")
    tab = tab if tab in TABS else "pending"
    kind = (request.args.get("kind") or "").strip()[:40] or None
    if tab == "sent":
        kind = None  # what I sent is all 交办
        result = services.sent_by(g.user, page=_page_no(), per_page=PER_PAGE)
    else:
        status = "done" if tab == "done" else "pending"
        category = "read" if tab == "read" else (None if tab == "done" else "todo")
        result = services.list_todos(
            g.user, status=status, category=category, kind=kind, page=_page_no(), per_page=PER_PAGE
        )
    counts = _counts()
    kinds = sorted(counts["by_kind"], key=lambda k: (k not in KIND_LABELS, k))
    if kind and kind not in kinds:
        kinds.append(kind)
    return render_template(
        "todos/index.html",
        tab=tab,
        tabs=TABS,
        kind=kind,
        kinds=kinds,
        kind_labels=KIND_LABELS,
        status_labels=STATUS_LABELS,
        result=result,
        counts=counts,
        now=utcnow(),
        todo_json=lambda t: services.todo_json(t, g.user.id),
    )


@bp.get("/todos/<int:todo_id>")
@login_required
def detail(todo_id: int):
    t = services.get_todo(g.user, todo_id)
    actions = services.actions_for(g.user, t)
    data = services.todo_json(t, g.user.id)
    # todo_json names the owner as "acting_for" for every viewer but the owner, the sender
    # too; here it is only someone handling the item for the owner (secretary, delegate).
    acting_for = None
    if t.user_id != g.user.id and any(p.id == t.user_id for p in identity.principals_of(g.user)):
        acting_for = t.user
    return render_template(
        "todos/detail.html",
        t=t,
        data=data,
        actions=actions,
        acting_for=acting_for,
        kind_labels=KIND_LABELS,
        status_labels=STATUS_LABELS,
        own_url=url_for("todos.detail", todo_id=t.id),
        now=utcnow(),
    )


@bp.post("/todos/<int:todo_id>/complete")
@login_required
def complete(todo_id: int):
    t = services.complete(current_actor(), todo_id)
    db.session.commit()
    flash(f"已办结：{t.title}", "success")
    return redirect(_safe_next(request.form.get("next"), url_for("todos.detail", todo_id=t.id)))


@bp.post("/todos/<int:todo_id>/urge")
@login_required
def urge(todo_id: int):
    try:
        t = services.urge(current_actor(), todo_id, request.form.get("message", "")[:200])
        db.session.commit()
        flash(f"已向 {t.user.name} 催办", "success")
    except ServiceError as err:
        db.session.rollback()
        if err.status == 404:
            raise
        flash(_urge_message(err), "error")
    return redirect(url_for("todos.detail", todo_id=todo_id))


def _urge_message(err: ServiceError) -> str:
    """The service words the once-an-hour limit with a UTC timestamp; say it in Beijing time."""
    next_at = (err.details or {}).get("next_allowed_at")
    if err.code == "urge_too_often" and next_at:
        when = datetime.fromisoformat(next_at).astimezone(BEIJING)
        return f"每小时最多催办一次，请于 {when:%H:%M} 后再催办"
    return err.message


def _urgencies() -> list[tuple[str, str]]:
    return [
        (URGENCY_CODES[u], URGENCY_LABELS[u]) for u in (Urgency.NORMAL, Urgency.URGENT, Urgency.VERY_URGENT)
    ]


def _chosen_person(raw: str | None):
    """The person already chosen (a re-shown form, or ``?user_id=`` from a person's page)."""
    user_id = bounded_int(raw)
    if user_id is None:
        return None
    try:
        return identity.get_user(g.user, user_id)
    except ServiceError:
        return None


@bp.route("/todos/new", methods=["GET", "POST"])
@login_required
def new():
    errors: dict[str, list[str]] = {}
    form = request.form.to_dict() if request.method == "POST" else {}
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
                if err.status == 404 and not err.field:
                    errors = {"user_id": ["找不到该人员或无权向其交办"]}
                else:
                    errors = service_errors(err)
    else:
        form["user_id"] = request.args.get("user_id", "")
    return render_template(
        "todos/new.html",
        errors=errors,
        form=form,
        person=_chosen_person(form.get("user_id")),
        request_key=form.get("request_key") or secrets.token_urlsafe(12),
        urgencies=_urgencies(),
    ), (422 if errors else 200)


@bp.get("/notifications")
@login_required
def inbox():
    result = notifications.list_for(g.user, page=_page_no(), per_page=30)
    return render_template("todos/notifications.html", result=result)


@bp.post("/notifications/read-all")
@login_required
def read_all():
    count = notifications.mark_all_read(g.user)
    db.session.commit()
    flash(f"已将 {count} 条通知标为已读" if count else "没有未读通知", "success")
    return redirect(url_for("todos.inbox"))
