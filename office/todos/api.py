"""JSON API: the unified to-do list (API.md: /api/v1/todos, /api/v1/todos/counts)."""

from __future__ import annotations

from flask import g, request

from office.api import make_api_blueprint, page_body
from office.auth.guard import api_login_required
from office.context import current_actor
from office.extensions import db
from office.todos import services
from office.todos.schemas import MemoIn, TodoQuery, UrgeIn

bp = make_api_blueprint("todos_api", __name__, tag="统一待办")


def _todo(t):
    data = services.todo_json(t, g.user.id)
    data["actions"] = services.actions_for(g.user, t)
    return data


@bp.get("/todos")
@api_login_required
@bp.input(TodoQuery, location="query", arg_name="query")
@bp.doc(summary="我的待办（status=pending|done，category=todo|read，kind 过滤）：按紧急程度、期限、时间排序")
def list_todos(query):
    page = services.list_todos(g.user, **query)
    return page_body(
        [services.todo_json(t, g.user.id) for t in page.items], page.total, page.page, page.per_page
    )


@bp.get("/todos/counts")
@api_login_required
@bp.doc(summary="待办数量：pending 与按类型 by_kind")
def todo_counts():
    return services.counts(g.user)


@bp.get("/todos/sent")
@api_login_required
@bp.input(TodoQuery, location="query", arg_name="query")
@bp.doc(summary="我交办的事项（可催办）")
def sent(query):
    page = services.sent_by(g.user, page=query["page"], per_page=query["per_page"])
    return page_body(
        [services.todo_json(t, g.user.id) for t in page.items], page.total, page.page, page.per_page
    )


@bp.get("/todos/<int:todo_id>")
@api_login_required
def get_todo(todo_id: int):
    return _todo(services.get_todo(g.user, todo_id))


@bp.post("/todos")
@api_login_required
@bp.input(MemoIn, arg_name="body")
@bp.doc(summary="交办：给他人发一条待办；带 Idempotency-Key 头的重试不会重复发送")
def send_memo(body):
    key = (request.headers.get("Idempotency-Key") or "").strip()[:60] or None
    t = services.send_memo(current_actor(), request_key=key, **body)
    db.session.commit()
    return _todo(t), 201


@bp.post("/todos/<int:todo_id>/complete")
@api_login_required
@bp.doc(summary="办结（本人、秘书或受托人）；重复办结无副作用")
def complete(todo_id: int):
    t = services.complete(current_actor(), todo_id)
    db.session.commit()
    return _todo(t)


@bp.post("/todos/<int:todo_id>/urge")
@api_login_required
@bp.input(UrgeIn, arg_name="body")
@bp.doc(summary="催办（交办人），每事项每小时最多一次，否则 429", responses=[403, 404, 409, 429])
def urge(todo_id: int, body):
    t = services.urge(current_actor(), todo_id, body["message"])
    db.session.commit()
    return _todo(t)
