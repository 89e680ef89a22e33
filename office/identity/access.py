"""Who may see and manage what: the reach rules every package uses.

A person's *reach* is, for each post, the subtree of the nearest level of government above
(or at) the post's unit: a county clerk sees the county, a provincial office sees the province.
Managing (admin pages) is narrower: a unit admin manages the subtree of their own unit.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import g, has_request_context
from sqlalchemy import ColumnElement, false, or_, select, true

from office.extensions import db
from office.identity.models import LEVEL_KINDS, Post, Role, Unit, User


def roles_of(user: User) -> set[str]:
    return {code for post in user.posts for code in post.role_codes}


def is_admin(user: User | None) -> bool:
    return user is not None and Role.ADMIN.value in roles_of(user)


def _cached(user: User, key: str, compute) -> list[str]:
    if not has_request_context():
        return compute()
    cache = g.setdefault("_access_cache", {})
    k = (key, user.id)
    if k not in cache:
        cache[k] = compute()
    return cache[k]


def reach_paths(user: User) -> list[str]:
    """Path prefixes of the subtrees this person may see."""

    def compute() -> list[str]:
        if is_admin(user):
            return ["/"]
        ancestor_ids = {aid for post in user.posts for aid in post.unit.ancestor_ids()}
        units = {u.id: u for u in db.session.scalars(select(Unit).where(Unit.id.in_(ancestor_ids)))}
        paths = set()
        for post in user.posts:
            chain = [units[i] for i in post.unit.ancestor_ids() if i in units]
            level = next((u for u in reversed(chain) if u.kind in LEVEL_KINDS), chain[0] if chain else None)
            paths.add(level.path if level else post.unit.path)
        return _minimal(paths)

    return _cached(user, "reach", compute)


def managed_paths(user: User) -> list[str]:
    """Path prefixes of the subtrees this person administers (empty for most people)."""

    def compute() -> list[str]:
        if is_admin(user):
            return ["/"]
        return _minimal({p.unit.path for p in user.posts if Role.UNIT_ADMIN.value in p.role_codes})

    return _cached(user, "manage", compute)


def _minimal(paths: Iterable[str]) -> list[str]:
    """Drop prefixes covered by a shorter one."""
    out: list[str] = []
    for p in sorted(set(paths), key=len):
        if not any(p.startswith(q) for q in out):
            out.append(p)
    return out


def within(path: str, prefixes: list[str]) -> bool:
    return any(path.startswith(p) for p in prefixes)


def path_filter(column, prefixes: list[str]) -> ColumnElement[bool]:
    if "/" in prefixes:
        return true()
    if not prefixes:
        return false()
    return or_(*[column.startswith(p, autoescape=True) for p in prefixes])


def can_see_unit(user: User, unit: Unit) -> bool:
    return within(unit.path, reach_paths(user))


def can_manage_unit(user: User, unit: Unit) -> bool:
    return within(unit.path, managed_paths(user))


def can_see_user(viewer: User, other: User) -> bool:
    if viewer.id == other.id:
        return True
    prefixes = reach_paths(viewer)
    return any(within(p.unit.path, prefixes) for p in other.posts)


def can_manage_user(admin: User, other: User) -> bool:
    """A unit admin manages people all of whose posts lie in their subtree (or who have none
    yet); a person with posts elsewhere needs the admin of that unit or a system admin."""
    prefixes = managed_paths(admin)
    if not prefixes:
        return False
    if "/" in prefixes:
        return True
    return (
        bool(other.posts) and all(within(p.unit.path, prefixes) for p in other.posts) and not is_admin(other)
    )


def visible_users_clause(viewer: User) -> ColumnElement[bool]:
    """SQL condition: users with at least one post inside the viewer's reach."""
    prefixes = reach_paths(viewer)
    if "/" in prefixes:
        return true()
    sub = select(Post.user_id).join(Unit, Unit.id == Post.unit_id).where(path_filter(Unit.path, prefixes))
    return or_(User.id.in_(sub), User.id == viewer.id)
