"""Input and output schemas for units and people (API and HTML forms share them)."""

from __future__ import annotations

from typing import Any

from apiflask import Schema
from apiflask.fields import AwareDateTime, Boolean, List, Nested, String
from apiflask.validators import Length, OneOf, Range

from office.api import PageQuery
from office.fields import DbInt
from office.identity.models import Post, Role, Unit, UnitKind, User

ROLE_CODES = [r.value for r in Role]
UNIT_KINDS = [k.value for k in UnitKind]


class UnitRef(Schema):
    id = DbInt()
    name = String()


class UnitOut(Schema):
    id = DbInt()
    name = String()
    short_name = String(allow_none=True)
    kind = String()
    parent_id = DbInt(allow_none=True)
    depth = DbInt()
    sort_order = DbInt()
    active = Boolean()


class UnitIn(Schema):
    name = String(required=True, validate=Length(1, 100))
    kind = String(required=True, validate=OneOf(UNIT_KINDS))
    parent_id = DbInt(allow_none=True, load_default=None)
    short_name = String(allow_none=True, load_default=None, validate=Length(max=20))
    sort_order = DbInt(load_default=0, validate=Range(-100000, 100000))


class UnitPatch(Schema):
    name = String(validate=Length(1, 100))
    kind = String(validate=OneOf(UNIT_KINDS))
    parent_id = DbInt()
    short_name = String(allow_none=True, validate=Length(max=20))
    sort_order = DbInt(validate=Range(-100000, 100000))
    active = Boolean()


class UnitQuery(Schema):
    parent_id = DbInt()
    q = String(validate=Length(max=50))


class PostOut(Schema):
    id = DbInt()
    unit = Nested(UnitRef)
    title = String()
    roles = List(String())
    is_primary = Boolean()


class UserOut(Schema):
    id = DbInt()
    username = String()
    name = String()
    mobile = String(allow_none=True)
    active = Boolean()
    unit = Nested(UnitRef, allow_none=True)
    roles = List(String())
    posts = List(Nested(PostOut))


class PostIn(Schema):
    unit_id = DbInt(required=True)
    title = String(required=True, validate=Length(1, 50))
    roles = List(String(validate=OneOf(ROLE_CODES)), load_default=list)


class PostPatch(Schema):
    title = String(validate=Length(1, 50))
    roles = List(String(validate=OneOf(ROLE_CODES)))
    is_primary = Boolean()


class UserIn(Schema):
    username = String(required=True, validate=Length(2, 64))
    name = String(required=True, validate=Length(1, 50))
    password = String(required=True, validate=Length(1, 200), load_only=True)
    mobile = String(allow_none=True, load_default=None, validate=Length(max=20))
    email = String(allow_none=True, load_default=None, validate=Length(max=120))
    posts = List(Nested(PostIn), required=True, validate=Length(min=1))


class UserPatch(Schema):
    name = String(validate=Length(1, 50))
    mobile = String(allow_none=True, validate=Length(max=20))
    email = String(allow_none=True, validate=Length(max=120))
    active = Boolean()


class PasswordReset(Schema):
    password = String(required=True, validate=Length(1, 200))


class UserQuery(PageQuery):
    unit_id = DbInt()
    role = String(validate=OneOf(ROLE_CODES))
    q = String(validate=Length(max=50))
    include_subunits = Boolean(load_default=False)


class UserPage(Schema):
    items = List(Nested(UserOut))
    total = DbInt()
    page = DbInt()
    per_page = DbInt()


class DelegationIn(Schema):
    delegate_id = DbInt(required=True)
    starts_at = AwareDateTime(required=True)
    ends_at = AwareDateTime(required=True)
    reason = String(load_default="", validate=Length(max=200))
    delegator_id = DbInt(load_default=None, allow_none=True)


class DelegationOut(Schema):
    id = DbInt()
    delegator = Nested(UnitRef)
    delegate = Nested(UnitRef)
    starts_at = AwareDateTime()
    ends_at = AwareDateTime()
    reason = String()
    active = Boolean()
    revoked_at = AwareDateTime(allow_none=True)


class SecretaryIn(Schema):
    secretary_id = DbInt(required=True)
    leader_id = DbInt(required=True)


def unit_ref(unit: Unit | None) -> dict[str, Any] | None:
    return None if unit is None else {"id": unit.id, "name": unit.name}


def unit_json(unit: Unit) -> dict[str, Any]:
    return {
        "id": unit.id,
        "name": unit.name,
        "short_name": unit.short_name,
        "kind": unit.kind.value,
        "parent_id": unit.parent_id,
        "depth": unit.depth,
        "sort_order": unit.sort_order,
        "active": unit.active,
    }


def post_json(post: Post) -> dict[str, Any]:
    return {
        "id": post.id,
        "unit": unit_ref(post.unit),
        "title": post.title,
        "roles": post.role_codes,
        "is_primary": post.is_primary,
    }


def user_json(user: User) -> dict[str, Any]:
    """The user shape of API.md (`/me`, `/users`)."""
    posts = user.posts
    primary = next((p for p in posts if p.is_primary), posts[0] if posts else None)
    roles = sorted({code for p in posts for code in p.role_codes})
    return {
        "id": user.id,
        "username": user.username,
        "name": user.name,
        "mobile": user.mobile,
        "active": user.active,
        "unit": unit_ref(primary.unit) if primary else None,
        "roles": roles,
        "posts": [post_json(p) for p in posts],
    }
