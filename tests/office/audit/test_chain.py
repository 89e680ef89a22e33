"""The audit chain: every change is recorded, and verify catches edits and removals."""

from __future__ import annotations

import itertools

from sqlalchemy import delete, func, select, update

from office.audit import services as audit
from office.audit.models import AuditEvent
from office.context import Actor
from office.extensions import db
from tests.conftest import bearer


def _make_events(app, n: int) -> None:
    with app.app_context():
        for i in range(n):
            audit.record(
                Actor(user=None, system=True, ip="127.0.0.1"),
                "office:test:event",
                object_type="t",
                object_id=i,
                details={"i": i, "名称": "测试"},
            )
            db.session.commit()


def test_chain_verifies_and_links(app, ctx):
    _make_events(app, 5)
    result = audit.verify()
    assert result.ok and result.checked == 5
    events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
    assert events[0].prev_hash == "0" * 64
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))


def test_verify_catches_an_edited_row(app, ctx):
    _make_events(app, 6)
    db.session.execute(update(AuditEvent).where(AuditEvent.seq == 3).values(details={"i": 99}))
    db.session.commit()
    result = audit.verify()
    assert not result.ok and result.first_bad_seq == 3 and "修改" in result.reason


def test_verify_catches_an_edited_actor(app, ctx):
    _make_events(app, 4)
    db.session.execute(update(AuditEvent).where(AuditEvent.seq == 2).values(ip="10.0.0.9"))
    db.session.commit()
    assert audit.verify().first_bad_seq == 2


def test_verify_catches_a_deleted_row(app, ctx):
    _make_events(app, 6)
    db.session.execute(delete(AuditEvent).where(AuditEvent.seq == 4))
    db.session.commit()
    result = audit.verify()
    assert not result.ok and result.first_bad_seq == 4 and "删除" in result.reason


def test_verify_catches_a_deleted_last_row(app, ctx):
    _make_events(app, 3)
    db.session.execute(delete(AuditEvent).where(AuditEvent.seq == 3))
    db.session.commit()
    result = audit.verify()
    assert not result.ok and result.first_bad_seq == 3


def test_verify_catches_a_rewritten_chain_suffix(app, ctx):
    """Re-hashing a changed row is not enough: the next row's prev_hash still disagrees."""
    _make_events(app, 4)
    ev = db.session.scalar(select(AuditEvent).where(AuditEvent.seq == 2))
    ev.details = {"i": 42}
    ev.hash = audit.compute_hash(ev)
    db.session.commit()
    assert audit.verify().first_bad_seq == 3


def test_cli_audit_verify_exit_codes(app):
    _make_events(app, 2)
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["audit", "verify"])
    assert ok.exit_code == 0 and "完整" in ok.output
    with app.app_context():
        db.session.execute(update(AuditEvent).where(AuditEvent.seq == 1).values(action="office:test:forged"))
        db.session.commit()
    bad = runner.invoke(args=["audit", "verify"])
    assert bad.exit_code == 1 and "第 1 条" in bad.output


def test_login_and_changes_are_audited_with_ip_and_agent(app, client, org):
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(AuditEvent))
    headers = bearer(client, "admin") | {"User-Agent": "pytest-agent"}
    resp = client.post(
        "/api/v1/units",
        json={"name": "新设处", "kind": "division", "parent_id": org["units"]["office"].id},
        headers=headers,
    )
    assert resp.status_code == 201
    with app.app_context():
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.seq > before).order_by(AuditEvent.seq)
        ).all()
        assert [e.action for e in events] == ["office:auth:token_issue", "office:unit:create"]
        create = events[-1]
        assert create.actor_id == org["people"]["admin"].id and create.user_agent == "pytest-agent"
        assert create.ip == "127.0.0.1" and create.object_id == str(resp.get_json()["id"])
        assert audit.verify().ok


def test_audit_api_is_admin_only_and_unit_scoped(app, client, org):
    admin = bearer(client, "admin")
    client.post(
        "/api/v1/units",
        json={"name": "东山县财政局", "kind": "department", "parent_id": org["units"]["county_a"].id},
        headers=admin,
    )
    client.post(
        "/api/v1/units",
        json={"name": "西河县财政局", "kind": "department", "parent_id": org["units"]["county_b"].id},
        headers=admin,
    )
    all_events = client.get("/api/v1/audit/events?action=office:unit:create", headers=admin).get_json()
    assert all_events["total"] >= 8
    county_admin = bearer(client, "county_admin")
    scoped = client.get("/api/v1/audit/events?action=office:unit:create", headers=county_admin).get_json()
    names = {e["details"].get("name") for e in scoped["items"]}
    assert "东山县财政局" in names and "西河县财政局" not in names
    staff = bearer(client, "zhangsan")
    assert client.get("/api/v1/audit/events", headers=staff).status_code == 403
    assert client.get("/api/v1/audit/verify", headers=county_admin).status_code == 403
    assert client.get("/api/v1/audit/verify", headers=admin).get_json()["ok"] is True


def _event(i: int) -> None:
    audit.record(Actor(user=None, system=True), "office:test:event", object_type="t", object_id=i)


def test_events_join_the_chain_at_commit_in_order(app, ctx):
    _event(1)
    _event(2)
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 0  # not before the commit
    db.session.commit()
    _event(3)
    db.session.commit()
    seqs = db.session.execute(select(AuditEvent.seq, AuditEvent.object_id).order_by(AuditEvent.seq)).all()
    assert [tuple(r) for r in seqs] == [(1, "1"), (2, "2"), (3, "3")]
    assert audit.verify().ok


def test_a_rolled_back_change_leaves_no_event(app, ctx):
    _event(1)
    db.session.rollback()
    _event(2)
    with db.session.begin_nested():
        _event(3)
    nested = db.session.begin_nested()
    _event(4)
    nested.rollback()
    db.session.commit()
    ids = db.session.scalars(select(AuditEvent.object_id).order_by(AuditEvent.seq)).all()
    assert ids == ["2", "3"]
    result = audit.verify()
    assert result.ok and result.checked == 2


def test_concurrent_commits_never_fork_the_chain(app, ctx):
    """Writers in separate sessions (threads) commit at once: seq stays gap-free and linked."""
    import threading

    barrier = threading.Barrier(6)

    def writer(k: int) -> None:
        with app.app_context():
            barrier.wait()
            for i in range(5):
                _event(k * 10 + i)
                db.session.commit()
            db.session.remove()

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = audit.verify()
    assert result.ok and result.checked == 30
