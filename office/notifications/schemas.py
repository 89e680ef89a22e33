"""Schemas for the notification API."""

from __future__ import annotations

from apiflask.fields import Boolean
from apiflask.validators import Range

from office.api import PageQuery
from office.fields import DbInt


class NotificationQuery(PageQuery):
    after_id = DbInt(load_default=None, validate=Range(min=0))
    unread = Boolean(load_default=False)
