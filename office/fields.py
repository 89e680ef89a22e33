"""Request values that must fit the database: integers within its ``integer`` columns.

A larger number in a path, a query or a body would reach the driver and fail there (SQLite:
``OverflowError``; PostgreSQL: ``NumericValueOutOfRange``), a 500 for what is bad input. The
path converter answers 404 (no such object can exist), the schema field 422 naming the field.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from apiflask.fields import Integer
from apiflask.validators import Range
from werkzeug.routing import IntegerConverter

#: PostgreSQL ``integer`` (and every id column here).
INT_MIN, INT_MAX = -(2**31), 2**31 - 1


class DbInt(Integer):
    """An integer field that rejects values outside the database's integer range (and says
    so in the OpenAPI document, as ``minimum`` and ``maximum``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.validators.insert(0, Range(min=INT_MIN, max=INT_MAX, error="数值超出范围"))


class DbIntConverter(IntegerConverter):
    """``<int:...>`` in routes: a non-negative integer no larger than the id columns hold."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", INT_MAX)
        super().__init__(map, *args, **kwargs)


def bounded_int(raw: str | None) -> int | None:
    """A form or query value as a non-negative integer the database can hold, else None."""
    raw = (raw or "").strip()
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 10:  # "²".isdigit() is True
        return None
    n = int(raw)
    return n if n <= INT_MAX else None


def bounded_ints(values: Iterable[str]) -> list[int]:
    """The valid ids among form values (``getlist``), each once, in the order given."""
    return list(dict.fromkeys(n for v in values if (n := bounded_int(v)) is not None))
