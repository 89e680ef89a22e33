"""Schemas for the notification API."""

from __future__ import annotations

from apiflask.fields import Boolean, Integer
from apiflask.validators import Range

from office.api import PageQuery


class NotificationQuery(PageQuery):
    after_id = Integer(load_default=None, validate=Range(min=0))
    unread = Boolean(load_default=False)
