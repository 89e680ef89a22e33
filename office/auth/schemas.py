"""Schemas for sign-in and the account."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import AwareDateTime, Nested, String
from apiflask.validators import Length

from office.identity.schemas import UserOut


class TokenIn(Schema):
    username = String(required=True, validate=Length(1, 64))
    password = String(required=True, validate=Length(1, 200), load_only=True)
    otp = String(load_default=None, allow_none=True, validate=Length(max=10))


class TokenOut(Schema):
    token = String()
    expires_at = AwareDateTime()
    user = Nested(UserOut)


class PasswordChangeIn(Schema):
    current_password = String(required=True, validate=Length(1, 200))
    new_password = String(required=True, validate=Length(1, 200))
