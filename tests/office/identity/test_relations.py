"""The per-process snapshot of who may act for whom (office.identity.relations)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from office.db import utcnow
from office.extensions import db
from office.identity import relations
from office.identity import services as identity
from office.identity.models import SecretaryLink
from office.todos import services as todos
from tests.conftest import bearer
from tests.office.identity.conftest import window


def _principals(client, headers) -> list[str]:
    resp = client.get("/api/v1/me/principals", headers=headers)
    assert resp.status_code == 200
    return [p["name"] for p in resp.get_json()["items"]]


def _link(client, org) -> None:
    resp = client.post(
        "/api/v1/secretaries",
        json={"secretary_id": org["people"]["secretary"].id, "leader_id": org["people"]["leader"].id},
        headers=bearer(client, "admin"),
    )
    assert resp.status_code == 201, resp.get_json()


def test_the_snapshot_is_reused_until_a_link_changes(app, client, org):
    headers = bearer(client, "secretary")
    assert _principals(client, headers) == []
    first = app.extensions["identity_relations"]
    assert _principals(client, headers) == []
    assert app.extensions["identity_relations"] is first  # no change, no reload
    _link(client, org)
    assert _principals(client, headers) == ["李省长"]  # the commit bumped the generation
    assert app.extensions["identity_relations"] is not first


def test_a_delegation_window_opens_and_closes_without_a_reload(app, client, org, monkeypatch):
    staff = bearer(client, "zhangsan")
    delegate = org["people"]["secretary"]
    resp = client.post(
        "/api/v1/delegations",
        json={"delegate_id": delegate.id, **window(start_minutes=10, hours=1)},
        headers=staff,
    )
    assert resp.status_code == 201, resp.get_json()
    headers = bearer(client, "secretary")
    assert _principals(client, headers) == []  # not yet open
    snap = app.extensions["identity_relations"]
    later = utcnow() + timedelta(minutes=20)
    monkeypatch.setattr(identity, "utcnow", lambda: later)
    assert _principals(client, headers) == ["张三"]
    after = utcnow() + timedelta(hours=2)
    monkeypatch.setattr(identity, "utcnow", lambda: after)
    assert _principals(client, headers) == []
    assert app.extensions["identity_relations"] is snap


def test_a_transaction_sees_its_own_uncommitted_links(app, org):
    """The snapshot is bypassed while the session changes who acts for whom."""
    sec, lead = org["people"]["secretary"], org["people"]["leader"]
    with app.test_request_context():
        assert relations.snapshot() is not None
        db.session.add(SecretaryLink(secretary_id=sec.id, leader_id=lead.id))
        assert relations.snapshot() is None
        assert [u.id for u in identity.principals_of(db.session.merge(sec))] == [lead.id]
        assert todos.watchers_of(lead.id) == [lead.id, sec.id]
        db.session.rollback()
    with app.test_request_context():  # rolled back: nothing was ever committed
        assert relations.snapshot() is not None
        assert identity.principals_of(db.session.merge(sec)) == []
        assert todos.watchers_of(lead.id) == [lead.id]


def test_another_process_sees_a_committed_link(app, app_config, client, org):
    """Scale-out: the generation lives in Redis, so an app process that did not make the
    change reloads at its next request."""
    if not app.config.get("REDIS_URL"):
        pytest.skip("the shared generation needs REDIS_URL (the PostgreSQL + Redis pass)")
    from office import create_app

    other = create_app(app_config)
    lead = org["people"]["leader"]
    try:
        with other.test_request_context():
            assert todos.watchers_of(lead.id) == [lead.id]
        _link(client, org)
        with other.test_request_context():
            assert todos.watchers_of(lead.id) == [lead.id, org["people"]["secretary"].id]
    finally:
        with other.app_context():  # its own connection pool, closed before it is collected
            db.session.remove()
            db.engine.dispose()
