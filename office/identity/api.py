"""JSON API: units, people, posts, secretaries and delegations."""

from __future__ import annotations

from flask import g

from office.api import make_api_blueprint, page_body
from office.auth.guard import api_login_required
from office.context import current_actor
from office.db import utcnow
from office.extensions import db
from office.identity import services
from office.identity.schemas import (
    DelegationIn,
    PasswordReset,
    PostIn,
    PostPatch,
    SecretaryIn,
    UnitIn,
    UnitOut,
    UnitPatch,
    UnitQuery,
    UserIn,
    UserOut,
    UserPage,
    UserPatch,
    UserQuery,
    post_json,
    unit_json,
    unit_ref,
    user_json,
)

bp = make_api_blueprint("identity_api", __name__, tag="机构与人员")


@bp.get("/units")
@api_login_required
@bp.input(UnitQuery, location="query", arg_name="query")
@bp.doc(summary="可见机构列表（按层级排序）")
def list_units(query):
    units = services.list_units(g.user, parent_id=query.get("parent_id"), q=query.get("q"))
    items = [unit_json(u) for u in units]
    return {"items": items, "total": len(items), "page": 1, "per_page": len(items)}


@bp.get("/units/<int:unit_id>")
@api_login_required
@bp.output(UnitOut)
def get_unit(unit_id: int):
    return unit_json(services.get_unit(g.user, unit_id))


@bp.post("/units")
@api_login_required
@bp.input(UnitIn, arg_name="body")
@bp.output(UnitOut, status_code=201)
@bp.doc(summary="新建机构", responses=[403, 404, 409, 422])
def create_unit(body):
    unit = services.create_unit(current_actor(), **body)
    db.session.commit()
    return unit_json(unit)


@bp.patch("/units/<int:unit_id>")
@api_login_required
@bp.input(UnitPatch, arg_name="body")
@bp.output(UnitOut)
def update_unit(unit_id: int, body):
    unit = services.update_unit(current_actor(), unit_id, **body)
    db.session.commit()
    return unit_json(unit)


@bp.get("/users")
@api_login_required
@bp.input(UserQuery, location="query", arg_name="query")
@bp.output(UserPage)
@bp.doc(summary="人员（通讯录）：按姓名、拼音首字母、手机号搜索")
def list_users(query):
    page = services.search_users(g.user, **query)
    return page_body([user_json(u) for u in page.items], page.total, page.page, page.per_page)


@bp.get("/users/<int:user_id>")
@api_login_required
@bp.output(UserOut)
def get_user(user_id: int):
    return user_json(services.get_user(g.user, user_id))


@bp.post("/users")
@api_login_required
@bp.input(UserIn, arg_name="body")
@bp.output(UserOut, status_code=201)
@bp.doc(summary="新建人员", responses=[403, 404, 409, 422])
def create_user(body):
    user = services.create_user(current_actor(), must_change_password=True, **body)
    db.session.commit()
    return user_json(user)


@bp.patch("/users/<int:user_id>")
@api_login_required
@bp.input(UserPatch, arg_name="body")
@bp.output(UserOut)
def update_user(user_id: int, body):
    user = services.update_user(current_actor(), user_id, **body)
    db.session.commit()
    return user_json(user)


@bp.post("/users/<int:user_id>/reset-password")
@api_login_required
@bp.input(PasswordReset, arg_name="body")
@bp.output({}, status_code=204)
def reset_password(user_id: int, body):
    services.reset_password(current_actor(), user_id, body["password"])
    db.session.commit()
    return ""


@bp.post("/users/<int:user_id>/posts")
@api_login_required
@bp.input(PostIn, arg_name="body")
@bp.doc(summary="为人员增加职务（兼职）")
def add_post(user_id: int, body):
    post = services.add_post(current_actor(), user_id, body)
    db.session.commit()
    return post_json(post), 201


@bp.patch("/users/<int:user_id>/posts/<int:post_id>")
@api_login_required
@bp.input(PostPatch, arg_name="body")
def update_post(user_id: int, post_id: int, body):
    post = services.update_post(current_actor(), user_id, post_id, **body)
    db.session.commit()
    return post_json(post)


@bp.delete("/users/<int:user_id>/posts/<int:post_id>")
@api_login_required
@bp.output({}, status_code=204)
def remove_post(user_id: int, post_id: int):
    services.remove_post(current_actor(), user_id, post_id)
    db.session.commit()
    return ""


@bp.post("/secretaries")
@api_login_required
@bp.input(SecretaryIn, arg_name="body")
@bp.doc(summary="为领导配置秘书")
def link_secretary(body):
    services.link_secretary(current_actor(), body["secretary_id"], body["leader_id"])
    db.session.commit()
    return body, 201


@bp.delete("/secretaries/<int:secretary_id>/<int:leader_id>")
@api_login_required
@bp.output({}, status_code=204)
def unlink_secretary(secretary_id: int, leader_id: int):
    services.unlink_secretary(current_actor(), secretary_id, leader_id)
    db.session.commit()
    return ""


def delegation_json(d) -> dict:
    now = utcnow()
    return {
        "id": d.id,
        "delegator": unit_ref(d.delegator),
        "delegate": unit_ref(d.delegate),
        "starts_at": d.starts_at.isoformat(),
        "ends_at": d.ends_at.isoformat(),
        "reason": d.reason,
        "active": d.revoked_at is None and d.starts_at <= now < d.ends_at,
        "revoked_at": d.revoked_at.isoformat() if d.revoked_at else None,
    }


@bp.get("/delegations")
@api_login_required
@bp.doc(summary="本人的委托（委托他人与受托）")
def list_delegations():
    items = [delegation_json(d) for d in services.delegations_for(g.user)]
    return {"items": items, "total": len(items), "page": 1, "per_page": len(items)}


@bp.post("/delegations")
@api_login_required
@bp.input(DelegationIn, arg_name="body")
@bp.doc(summary="出差委托：把本人工作委托他人一段时间")
def create_delegation(body):
    d = services.create_delegation(current_actor(), **body)
    db.session.commit()
    return delegation_json(d), 201


@bp.post("/delegations/<int:delegation_id>/revoke")
@api_login_required
def revoke_delegation(delegation_id: int):
    d = services.revoke_delegation(current_actor(), delegation_id)
    db.session.commit()
    return delegation_json(d)


@bp.get("/me/principals")
@api_login_required
@bp.doc(summary="本人当前可代为办理的人员（领导或委托人）")
def my_principals():
    return {"items": [unit_ref(u) for u in services.principals_of(g.user)]}
