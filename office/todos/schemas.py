"""Schemas for the to-do API."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import AwareDateTime, String
from apiflask.validators import Length, OneOf

from office.api import PageQuery
from office.fields import DbInt


class TodoQuery(PageQuery):
    status = String(load_default="pending", validate=OneOf(["pending", "done"]))
    category = String(load_default=None, validate=OneOf(["todo", "read"]))
    kind = String(load_default=None, validate=Length(1, 40))


class MemoIn(Schema):
    user_id = DbInt(required=True)
    title = String(required=True, validate=Length(1, 200))
    body = String(load_default="", validate=Length(max=5000))
    urgency = String(load_default="normal", validate=OneOf(["normal", "urgent", "very_urgent"]))
    due_at = AwareDateTime(load_default=None, allow_none=True)


class UrgeIn(Schema):
    message = String(load_default="", validate=Length(max=200))
