"""Business rules for units, people, posts, secretaries and delegations.

Every write takes the acting person, checks they may do it, changes the database and writes
one audit event. Callers commit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import g, has_request_context
from pypinyin import Style, lazy_pinyin
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import selectinload

from office.audit.services import record
from office.auth.passwords import check_policy, hash_password
from office.context import Actor
from office.db import utcnow
from office.errors import Forbidden, NotFound, ServiceError
from office.extensions import db
from office.identity import access, relations
from office.identity.models import (
    Delegation,
    Post,
    PostRole,
    Role,
    SecretaryLink,
    Unit,
    UnitKind,
    User,
)

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MOBILE_RE = re.compile(r"^1\d{10}$")


def _need(actor: Actor) -> User:
    if actor.user is None:
        raise ServiceError("unauthorized", "请先登录", 401)
    return actor.effective  # type: ignore[return-value]


def _person_or_system(actor: Actor) -> User | None:
    """The acting person, or None for the system itself (CLI); anonymous callers are refused."""
    if actor.system:
        return None
    return _need(actor)


# ---------------------------------------------------------------- units


def get_unit(viewer: User, unit_id: int) -> Unit:
    unit = db.session.get(Unit, unit_id)
    if unit is None or not access.can_see_unit(viewer, unit):
        raise NotFound("机构不存在或无权访问")
    return unit


def list_units(viewer: User, parent_id: int | None = None, q: str | None = None) -> list[Unit]:
    stmt = select(Unit).where(access.path_filter(Unit.path, access.reach_paths(viewer)))
    if parent_id is not None:
        stmt = stmt.where(Unit.parent_id == parent_id)
    if q:
        stmt = stmt.where(or_(Unit.name.contains(q, autoescape=True), Unit.short_name == q))
    return list(db.session.scalars(stmt.order_by(Unit.depth, Unit.sort_order, Unit.id)))


def unit_tree(viewer: User) -> list[dict[str, Any]]:
    """The visible units as nested dicts, roots first (what the directory shows)."""
    units = list_units(viewer)
    nodes = {u.id: {"unit": u, "children": []} for u in units}
    roots = []
    for u in units:
        parent = nodes.get(u.parent_id) if u.parent_id else None
        (parent["children"] if parent else roots).append(nodes[u.id])
    return roots


def _check_short_name(short_name: str | None, unit_id: int | None = None) -> None:
    if not short_name:
        return
    stmt = select(Unit.id).where(Unit.short_name == short_name)
    if unit_id:
        stmt = stmt.where(Unit.id != unit_id)
    if db.session.scalar(stmt):
        raise ServiceError("short_name_taken", "机关代字已被其他机构使用", 409, field="short_name")


def _check_sibling_name(parent_id: int | None, name: str, unit_id: int | None = None) -> None:
    stmt = select(Unit.id).where(Unit.name == name)
    stmt = stmt.where(Unit.parent_id.is_(None) if parent_id is None else Unit.parent_id == parent_id)
    if unit_id:
        stmt = stmt.where(Unit.id != unit_id)
    if db.session.scalar(stmt):
        raise ServiceError("unit_name_taken", "同一上级下已有同名机构", 409, field="name")


def create_unit(
    actor: Actor,
    *,
    name: str,
    kind: str,
    parent_id: int | None = None,
    short_name: str | None = None,
    sort_order: int = 0,
) -> Unit:
    me = _person_or_system(actor)
    parent = None
    if parent_id is not None:
        parent = db.session.get(Unit, parent_id)
        if parent is None or (me is not None and not access.can_see_unit(me, parent)):
            raise NotFound("上级机构不存在或无权访问")
        if me is not None and not access.can_manage_unit(me, parent):
            raise Forbidden("只能在本单位管辖范围内新建机构")
    elif me is not None and not access.is_admin(me):
        raise Forbidden("只有系统管理员可以新建顶级机构")
    name, short_name = name.strip(), (short_name or "").strip() or None
    _check_sibling_name(parent_id, name)
    _check_short_name(short_name)
    unit = Unit(
        name=name,
        kind=UnitKind(kind),
        parent=parent,
        short_name=short_name,
        sort_order=sort_order,
        depth=(parent.depth + 1) if parent else 0,
    )
    db.session.add(unit)
    db.session.flush()
    unit.path = f"{parent.path if parent else '/'}{unit.id}/"
    record(actor, "office:unit:create", unit, unit_id=unit.id, details={"name": name, "parent_id": parent_id})
    return unit


def update_unit(actor: Actor, unit_id: int, **changes: Any) -> Unit:
    """Rename, re-code, re-order, (de)activate or move a unit; moving rewrites the subtree's
    paths in one statement."""
    me = _need(actor)
    unit = get_unit(me, unit_id)
    if not access.can_manage_unit(me, unit):
        raise Forbidden("无权修改该机构")
    before = {"name": unit.name, "short_name": unit.short_name, "parent_id": unit.parent_id}
    if "name" in changes and changes["name"] is not None:
        _check_sibling_name(unit.parent_id, changes["name"].strip(), unit.id)
        unit.name = changes["name"].strip()
    if "short_name" in changes:
        sn = (changes["short_name"] or "").strip() or None
        _check_short_name(sn, unit.id)
        unit.short_name = sn
    for key in ("sort_order", "active"):
        if changes.get(key) is not None:
            setattr(unit, key, changes[key])
    if changes.get("kind"):
        unit.kind = UnitKind(changes["kind"])
    if changes.get("parent_id") is not None and changes["parent_id"] != unit.parent_id:
        _move(me, unit, changes["parent_id"])
    after = {"name": unit.name, "short_name": unit.short_name, "parent_id": unit.parent_id}
    record(actor, "office:unit:update", unit, unit_id=unit.id, details={"before": before, "after": after})
    return unit


def _move(me: User, unit: Unit, new_parent_id: int) -> None:
    new_parent = db.session.get(Unit, new_parent_id)
    if new_parent is None or not access.can_see_unit(me, new_parent):
        raise NotFound("上级机构不存在或无权访问")
    if not access.can_manage_unit(me, new_parent):
        raise Forbidden("无权把机构移到该上级下")
    if new_parent.path.startswith(unit.path):
        raise ServiceError("cycle", "不能把机构移到它自己的下级之下", 422, field="parent_id")
    _check_sibling_name(new_parent.id, unit.name, unit.id)
    old_path, new_path = unit.path, f"{new_parent.path}{unit.id}/"
    delta = new_parent.depth + 1 - unit.depth
    db.session.flush()
    db.session.execute(
        update(Unit)
        .where(Unit.path.startswith(old_path, autoescape=True))
        .values(path=new_path + func.substr(Unit.path, len(old_path) + 1), depth=Unit.depth + delta)
        .execution_options(synchronize_session=False)
    )
    unit.parent_id = new_parent.id
    db.session.flush()
    db.session.expire_all()


# ---------------------------------------------------------------- people


def pinyin_of(name: str) -> tuple[str, str]:
    syllables = [s for s in lazy_pinyin(name, style=Style.NORMAL, errors="ignore") if s.isalpha()]
    return "".join(syllables).lower(), "".join(s[0] for s in syllables).lower()


def get_user(viewer: User, user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None or not access.can_see_user(viewer, user):
        raise NotFound("人员不存在或无权访问")
    return user


@dataclass
class Page:
    items: list[Any]
    total: int
    page: int
    per_page: int


def paginate(stmt: Any, page: int, per_page: int) -> Page:
    """One page of an ordered select and the total it pages over (the count drops the order)."""
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    items = db.session.scalars(stmt.offset((page - 1) * per_page).limit(per_page)).all()
    return Page(list(items), total, page, per_page)


def search_users(
    viewer: User,
    *,
    q: str | None = None,
    unit_id: int | None = None,
    role: str | None = None,
    include_subunits: bool = False,
    include_inactive: bool = False,
    page: int = 1,
    per_page: int = 20,
) -> Page:
    """Directory search: name, pinyin (full or initials), mobile or username, within reach."""
    stmt = select(User).where(access.visible_users_clause(viewer))
    if not include_inactive:
        stmt = stmt.where(User.active.is_(True))
    if q:
        q = q.strip()
        low = q.lower()
        stmt = stmt.where(
            or_(
                User.name.contains(q, autoescape=True),
                User.pinyin_initials.startswith(low, autoescape=True),
                User.pinyin.startswith(low, autoescape=True),
                User.username.startswith(low, autoescape=True),
                User.mobile.contains(q, autoescape=True),
            )
        )
    if unit_id is not None:
        unit = get_unit(viewer, unit_id)
        post_units = select(Post.user_id).join(Unit, Unit.id == Post.unit_id)
        post_units = post_units.where(
            Unit.path.startswith(unit.path, autoescape=True) if include_subunits else Unit.id == unit.id
        )
        stmt = stmt.where(User.id.in_(post_units))
    if role:
        stmt = stmt.where(User.id.in_(select(Post.user_id).join(PostRole).where(PostRole.role == Role(role))))
    return paginate(stmt.options(selectinload(User.posts)).order_by(User.pinyin, User.id), page, per_page)


def _check_username(username: str) -> str:
    username = username.strip().lower()
    if not USERNAME_RE.match(username):
        raise ServiceError(
            "invalid_username", "用户名须为2-64位小写字母、数字、点、横线或下划线", 422, field="username"
        )
    if db.session.scalar(select(User.id).where(User.username == username)):
        raise ServiceError("username_taken", "用户名已存在", 409, field="username")
    return username


def _check_mobile(mobile: str | None) -> str | None:
    mobile = (mobile or "").strip() or None
    if mobile and not MOBILE_RE.match(mobile):
        raise ServiceError("invalid_mobile", "手机号须为11位数字", 422, field="mobile")
    return mobile


def _grantable(me: User, unit: Unit, roles: list[str]) -> list[Role]:
    """Roles a manager may grant on a post in ``unit``: only within their subtree, and only a
    system admin grants the system-admin role."""
    if not access.can_manage_unit(me, unit):
        raise NotFound("机构不存在或无权管理")
    parsed = []
    for code in dict.fromkeys(roles):
        try:
            role = Role(code)
        except ValueError:
            raise ServiceError("invalid_role", f"未知角色：{code}", 422, field="roles") from None
        if role is Role.ADMIN and not access.is_admin(me):
            raise Forbidden("只有系统管理员可以授予系统管理员角色")
        parsed.append(role)
    return parsed


def create_user(
    actor: Actor,
    *,
    username: str,
    name: str,
    password: str,
    mobile: str | None = None,
    email: str | None = None,
    posts: list[dict[str, Any]] | None = None,
    must_change_password: bool = False,
    audit: bool = True,
) -> User:
    me = _person_or_system(actor)
    posts = posts or []
    if me is not None and not access.managed_paths(me):
        raise Forbidden("无权新建人员")
    if me is not None and not posts and not access.is_admin(me):
        raise ServiceError("post_required", "请至少为人员设置一个职务", 422, field="posts")
    username = _check_username(username)
    check_policy(password)
    py, initials = pinyin_of(name)
    user = User(
        username=username,
        name=name.strip(),
        pinyin=py,
        pinyin_initials=initials,
        mobile=_check_mobile(mobile),
        email=(email or "").strip() or None,
        password_hash=hash_password(password),
        must_change_password=must_change_password,
    )
    db.session.add(user)
    for i, spec in enumerate(posts):
        _add_post(me, user, spec, primary=(i == 0))
    db.session.flush()
    if audit:
        record(
            actor,
            "office:user:create",
            user,
            unit_id=user.posts[0].unit_id if user.posts else None,
            details={
                "username": username,
                "name": user.name,
                "posts": [_post_summary(p) for p in user.posts],
            },
        )
    return user


def _post_summary(p: Post) -> dict[str, Any]:
    return {"unit_id": p.unit_id, "title": p.title, "roles": p.role_codes, "primary": p.is_primary}


def _add_post(me: User | None, user: User, spec: dict[str, Any], primary: bool = False) -> Post:
    unit = db.session.get(Unit, spec["unit_id"])
    if unit is None or (me is not None and not access.can_see_unit(me, unit)):
        raise NotFound("机构不存在或无权管理")  # 404 either way: existence is not revealed
    roles = (
        _grantable(me, unit, spec.get("roles") or [])
        if me is not None
        else [Role(r) for r in spec.get("roles") or []]
    )
    title = (spec.get("title") or "").strip()
    if not title:
        raise ServiceError("title_required", "请填写职务名称", 422, field="posts")
    if any(p.unit_id == unit.id and p.title == title for p in user.posts):
        raise ServiceError("post_exists", "该人员在此机构已有同名职务", 409, field="posts")
    post = Post(unit=unit, unit_id=unit.id, title=title, is_primary=primary or not user.posts)
    post.roles = [PostRole(role=r) for r in roles]
    user.posts.append(post)
    return post


def update_user(actor: Actor, user_id: int, **changes: Any) -> User:
    me = _need(actor)
    user = get_user(me, user_id)
    if not access.can_manage_user(me, user):
        raise Forbidden("无权修改该人员")
    before = {"name": user.name, "mobile": user.mobile, "active": user.active}
    if changes.get("name"):
        user.name = changes["name"].strip()
        user.pinyin, user.pinyin_initials = pinyin_of(user.name)
    if "mobile" in changes:
        user.mobile = _check_mobile(changes["mobile"])
    if "email" in changes:
        user.email = (changes["email"] or "").strip() or None
    if changes.get("active") is not None:
        if user.id == me.id and not changes["active"]:
            raise ServiceError("cannot_deactivate_self", "不能停用自己的账号", 422, field="active")
        user.active = bool(changes["active"])
        if not user.active:
            from office.auth.services import revoke_all_tokens

            revoke_all_tokens(user)
    after = {"name": user.name, "mobile": user.mobile, "active": user.active}
    record(actor, "office:user:update", user, details={"before": before, "after": after})
    return user


def reset_password(actor: Actor, user_id: int, new_password: str) -> User:
    """An administrator sets a temporary password; the person must change it at next sign-in."""
    me = _need(actor)
    user = get_user(me, user_id)
    if not access.can_manage_user(me, user):
        raise Forbidden("无权重置该人员密码")
    check_policy(new_password)
    user.password_hash = hash_password(new_password)
    user.must_change_password = user.id != me.id
    user.password_changed_at = utcnow()
    from office.auth.services import revoke_all_tokens

    revoke_all_tokens(user)
    record(actor, "office:user:reset_password", user)
    return user


def add_post(actor: Actor, user_id: int, spec: dict[str, Any]) -> Post:
    me = _need(actor)
    user = get_user(me, user_id)
    post = _add_post(me, user, spec)
    db.session.flush()
    record(
        actor,
        "office:post:create",
        post,
        unit_id=post.unit_id,
        details={"user_id": user.id, **_post_summary(post)},
    )
    return post


def _get_post(me: User, user_id: int, post_id: int) -> tuple[User, Post]:
    user = get_user(me, user_id)
    post = next((p for p in user.posts if p.id == post_id), None)
    if post is None:
        raise NotFound("职务不存在")
    if not access.can_manage_unit(me, post.unit):
        raise Forbidden("无权修改该职务")
    return user, post


def update_post(actor: Actor, user_id: int, post_id: int, **changes: Any) -> Post:
    me = _need(actor)
    user, post = _get_post(me, user_id, post_id)
    before = _post_summary(post)
    if title := (changes.get("title") or "").strip():
        if any(p.id != post.id and p.unit_id == post.unit_id and p.title == title for p in user.posts):
            raise ServiceError("post_exists", "该人员在此机构已有同名职务", 409, field="title")
        post.title = title
    if changes.get("roles") is not None:
        roles = _grantable(me, post.unit, changes["roles"])
        if Role.ADMIN in {r.role for r in post.roles} and Role.ADMIN not in roles and not access.is_admin(me):
            raise Forbidden("只有系统管理员可以撤销系统管理员角色")
        _guard_last_admin(user, removing=Role.ADMIN not in roles and Role.ADMIN.value in post.role_codes)
        post.roles = [PostRole(role=r) for r in roles]
    if changes.get("is_primary"):
        for p in user.posts:
            p.is_primary = p.id == post.id
    record(
        actor,
        "office:post:update",
        post,
        unit_id=post.unit_id,
        details={"before": before, "after": _post_summary(post)},
    )
    return post


def remove_post(actor: Actor, user_id: int, post_id: int) -> None:
    me = _need(actor)
    user, post = _get_post(me, user_id, post_id)
    if len(user.posts) == 1:
        raise ServiceError("last_post", "人员至少保留一个职务；如已离职请停用账号", 422)
    _guard_last_admin(user, removing=Role.ADMIN.value in post.role_codes)
    summary = _post_summary(post)
    was_primary = post.is_primary
    user.posts.remove(post)
    if was_primary and user.posts:
        user.posts[0].is_primary = True
    record(
        actor,
        "office:post:delete",
        object_type="post",
        object_id=post_id,
        unit_id=summary["unit_id"],
        details={"user_id": user.id, **summary},
    )


def _guard_last_admin(user: User, removing: bool) -> None:
    if not removing:
        return
    others = db.session.scalar(
        select(func.count(func.distinct(Post.user_id)))
        .join(PostRole)
        .join(User, User.id == Post.user_id)
        .where(PostRole.role == Role.ADMIN, Post.user_id != user.id, User.active.is_(True))
    )
    if not others:
        raise ServiceError("last_admin", "不能移除最后一位系统管理员", 409)


# ---------------------------------------------------------------- secretaries and delegations


def link_secretary(actor: Actor, secretary_id: int, leader_id: int) -> SecretaryLink:
    _forget_principals()
    me = _need(actor)
    secretary, leader = get_user(me, secretary_id), get_user(me, leader_id)
    if not access.can_manage_user(me, leader):
        raise Forbidden("无权为该领导配置秘书")
    if secretary.id == leader.id:
        raise ServiceError("same_person", "秘书和领导不能是同一人", 422, field="secretary_id")
    if Role.LEADER.value not in access.roles_of(leader):
        raise ServiceError("not_a_leader", "被服务人员不是机关领导", 422, field="leader_id")
    if db.session.get(SecretaryLink, (secretary.id, leader.id)):
        raise ServiceError("already_linked", "已是该领导的秘书", 409)
    link = SecretaryLink(secretary_id=secretary.id, leader_id=leader.id)
    db.session.add(link)
    record(
        actor,
        "office:secretary:link",
        object_type="secretary_link",
        object_id=f"{secretary.id}:{leader.id}",
        details={"secretary": secretary.name, "leader": leader.name},
    )
    return link


def unlink_secretary(actor: Actor, secretary_id: int, leader_id: int) -> None:
    _forget_principals()
    me = _need(actor)
    link = db.session.get(SecretaryLink, (secretary_id, leader_id))
    if link is None or not access.can_see_user(me, link.leader):
        raise NotFound("秘书关系不存在")
    if not access.can_manage_user(me, link.leader):
        raise Forbidden("无权解除该秘书关系")
    db.session.delete(link)
    record(
        actor,
        "office:secretary:unlink",
        object_type="secretary_link",
        object_id=f"{secretary_id}:{leader_id}",
    )


def secretaries_of(leader: User) -> list[User]:
    return list(
        db.session.scalars(
            select(User)
            .join(SecretaryLink, SecretaryLink.secretary_id == User.id)
            .where(SecretaryLink.leader_id == leader.id)
        )
    )


def leaders_of(secretary: User) -> list[User]:
    return list(
        db.session.scalars(
            select(User)
            .join(SecretaryLink, SecretaryLink.leader_id == User.id)
            .where(SecretaryLink.secretary_id == secretary.id)
        )
    )


def create_delegation(
    actor: Actor,
    *,
    delegate_id: int,
    starts_at: datetime,
    ends_at: datetime,
    reason: str = "",
    delegator_id: int | None = None,
) -> Delegation:
    """A person delegates their own work (or an admin records it for them)."""
    _forget_principals()
    me = _need(actor)
    delegator = me if delegator_id in (None, me.id) else get_user(me, delegator_id)
    if delegator.id != me.id and not access.can_manage_user(me, delegator):
        raise Forbidden("只能委托本人的工作")
    delegate = get_user(me, delegate_id)
    if delegate.id == delegator.id:
        raise ServiceError("same_person", "不能委托给自己", 422, field="delegate_id")
    if not delegate.active:
        raise ServiceError("inactive_delegate", "被委托人账号已停用", 422, field="delegate_id")
    if ends_at <= starts_at:
        raise ServiceError("bad_window", "结束时间须晚于开始时间", 422, field="ends_at")
    if ends_at <= utcnow():
        raise ServiceError("window_past", "委托时段已经结束", 422, field="ends_at")
    d = Delegation(
        delegator_id=delegator.id,
        delegate_id=delegate.id,
        starts_at=starts_at,
        ends_at=ends_at,
        reason=reason.strip(),
    )
    db.session.add(d)
    record(
        actor,
        "office:delegation:create",
        d,
        details={
            "delegator": delegator.name,
            "delegate": delegate.name,
            "starts_at": starts_at,
            "ends_at": ends_at,
            "reason": d.reason,
        },
    )
    return d


def revoke_delegation(actor: Actor, delegation_id: int) -> Delegation:
    _forget_principals()
    me = _need(actor)
    d = db.session.get(Delegation, delegation_id)
    if d is None or (
        me.id not in (d.delegator_id, d.delegate_id) and not access.can_manage_user(me, d.delegator)
    ):
        raise NotFound("委托不存在")
    if me.id == d.delegate_id and not access.can_manage_user(me, d.delegator):
        raise Forbidden("被委托人不能撤销委托")
    if d.revoked_at is None:
        d.revoked_at = utcnow()
        record(actor, "office:delegation:revoke", d)
    return d


def delegations_for(user: User) -> list[Delegation]:
    return list(
        db.session.scalars(
            select(Delegation)
            .where(or_(Delegation.delegator_id == user.id, Delegation.delegate_id == user.id))
            .order_by(Delegation.starts_at.desc())
        )
    )


def _forget_principals() -> None:
    """Secretaries or delegations changed: drop this request's cached answers."""
    if has_request_context():
        g.pop("_principals", None)
        g.pop("_watchers", None)


def principals_of(user: User, at: datetime | None = None) -> list[User]:
    """People this person may act for right now: leaders they are secretary to, and
    delegators whose window is open."""
    if at is None and has_request_context():
        # Asked many times per request (reach, to-dos, flows); within one request it is fixed.
        cache = g.setdefault("_principals", {})
        if user.id not in cache:
            snap = relations.snapshot()
            if snap is None:
                cache[user.id] = _principals_at(user, utcnow())
            else:
                ids = snap.principals(user.id, utcnow())
                cache[user.id] = _active_users(sorted(ids)) if ids else []
        return cache[user.id]
    return _principals_at(user, at or utcnow())


def _active_users(ids: list[int]) -> list[User]:
    stmt = select(User).where(User.active.is_(True), User.id.in_(ids)).order_by(User.id)
    return list(db.session.scalars(stmt))


def _principals_at(user: User, at: datetime) -> list[User]:
    delegators = select(Delegation.delegator_id).where(
        Delegation.delegate_id == user.id,
        Delegation.revoked_at.is_(None),
        Delegation.starts_at <= at,
        Delegation.ends_at > at,
    )
    leaders = select(SecretaryLink.leader_id).where(SecretaryLink.secretary_id == user.id)
    return list(
        db.session.scalars(
            select(User)
            # one IN over a UNION: an OR of two INs scans every user on PostgreSQL
            .where(User.active.is_(True), User.id.in_(delegators.union(leaders)))
            .order_by(User.id)
        )
    )


def can_act_for(user: User, principal: User) -> bool:
    return any(p.id == principal.id for p in principals_of(user))
