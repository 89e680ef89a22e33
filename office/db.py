"""Database building blocks shared by every package: the declarative base, UTC times, and the
SQLite transaction mode that makes concurrent writers safe on the embedded default."""

from __future__ import annotations

import contextvars
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Enum, MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with a naming convention, so migrations name constraints the same
    way on SQLite and PostgreSQL."""

    metadata = MetaData(naming_convention=NAMING)


def dialect_insert(entity: Any) -> Any:
    """``INSERT`` with ``on_conflict_do_nothing`` / ``do_update`` for the session's database
    (both supported backends spell it the same way)."""
    from sqlalchemy.dialects import postgresql, sqlite

    from office.extensions import db

    dialect = db.session.get_bind().dialect.name
    return (postgresql if dialect == "postgresql" else sqlite).insert(entity)


def among(column: Any, ids: list[int]) -> Any:
    """``column IN ids`` for long id lists. On PostgreSQL one array parameter
    (``= ANY(:ids)``): a thousand expanded parameters cost more to render, send and plan
    than the query itself (search checks a thousand candidates on every query)."""
    from sqlalchemy import Integer, String, any_, cast, literal
    from sqlalchemy.dialects.postgresql import ARRAY

    from office.extensions import db

    if db.session.get_bind().dialect.name == "postgresql":
        # Sent as the array's text ('{1,2,3}'): psycopg's list dumper inspects every element.
        text = "{" + ",".join(str(int(i)) for i in ids) + "}"
        return column == any_(cast(literal(text, String), ARRAY(Integer)))
    return column.in_(ids)


def keep(*objs: Any) -> None:
    """Hold loaded objects for the rest of the session. The identity map keeps only weak
    references, so a clean object a service loaded can be collected before the view builds
    its response, and would then be loaded again."""
    from office.extensions import db

    db.session.info.setdefault("kept", []).extend(objs)


def by_ids(entity: Any, ids: list[int]) -> dict[int, Any]:
    """Rows of an entity with an integer ``id`` primary key, kept for the session: those the
    session already holds (loaded and not expired) come from its identity map, the rest in one
    query. Several parts of a request ask for the same people and units (validation, handlers,
    the response)."""
    from sqlalchemy import inspect, select
    from sqlalchemy.orm.util import identity_key

    from office.extensions import db

    session = db.session()
    found: dict[int, Any] = {}
    for i in dict.fromkeys(ids):
        obj = session.identity_map.get(identity_key(entity, i))
        if obj is not None and not inspect(obj).expired_attributes:
            found[i] = obj
    missing = [i for i in dict.fromkeys(ids) if i not in found]
    if missing:
        for obj in session.scalars(select(entity).where(among(entity.id, missing))):
            found[obj.id] = obj
    keep(*found.values())
    return found


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite has no time zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; store UTC-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: Whether the current unit of work may write. On SQLite a writing transaction starts with
#: BEGIN IMMEDIATE, taking the write lock up front: two clerks pressing the same button then
#: run one after the other instead of reading the same counter and colliding.
write_intent: contextvars.ContextVar[bool] = contextvars.ContextVar("write_intent", default=True)


def configure_sqlite(engine: Engine) -> None:
    """WAL, foreign keys, a busy timeout, and explicit BEGIN (IMMEDIATE for writers)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=15000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write_intent.get() else "BEGIN")


def str_enum(enum_cls: type, name: str, length: int = 20) -> Enum:
    """A portable enum column: stores the values (``"leader"``) as VARCHAR with a CHECK."""
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=length,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )
