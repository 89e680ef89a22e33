"""office.db helpers: rows by id from the session first, and kept for the session."""

from __future__ import annotations

from sqlalchemy import event

from office.context import SYSTEM
from office.db import by_ids
from office.extensions import db
from office.identity import services as identity
from office.identity.models import User
from tests.conftest import PASSWORD


def _count_selects(app) -> list[str]:
    seen: list[str] = []

    @event.listens_for(db.engine, "before_cursor_execute")
    def _count(conn, cursor, statement, *args) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    return seen


def test_by_ids_asks_only_for_what_the_session_does_not_hold(app, ctx):
    made = [
        identity.create_user(SYSTEM, username=f"byid{i}", name=f"人员{i}", password=PASSWORD, audit=False)
        for i in range(3)
    ]
    db.session.commit()
    ids = [u.id for u in made]
    db.session.expunge_all()
    selects = _count_selects(app)

    first = by_ids(User, ids[:2])
    assert sorted(first) == ids[:2] and len(selects) == 1
    again = by_ids(User, [ids[1], ids[0], ids[2], 10**6])  # two held, one to load, one nobody
    assert sorted(again) == ids and len(selects) == 2
    assert again[ids[0]] is first[ids[0]]

    db.session.commit()  # expires everything: the rows are asked for again, not trusted
    by_ids(User, ids)
    assert len(selects) == 3
    assert by_ids(User, []) == {} and len(selects) == 3
