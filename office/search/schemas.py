"""Schemas for the search API (API.md: ``GET /api/v1/search``)."""

from __future__ import annotations

from apiflask.fields import Date, String
from apiflask.validators import OneOf, Range

from office.api import PageQuery
from office.fields import DbInt


class SearchQuery(PageQuery):
    #: Checked by the service (empty or over 200 characters: 422 with its own message).
    q = String(load_default="")
    doc_type = String(load_default=None)
    unit_id = DbInt(load_default=None, validate=Range(min=1, max=2**31 - 1))
    year = DbInt(load_default=None)
    date_from = Date(load_default=None, data_key="from")
    date_to = Date(load_default=None, data_key="to")
    sort = String(load_default="relevance", validate=OneOf(["relevance", "date"]))
