"""The demo province: size, shape, roles, secretaries, 兼职, fixed accounts, idempotence."""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import func, select

from office import create_app
from office.audit.models import AuditEvent
from office.audit.services import verify
from office.auth.passwords import verify_password
from office.cli import upgrade_db
from office.demo import ALREADY_LOADED, DEMO_ACCOUNTS
from office.extensions import db
from office.identity.models import Delegation, Post, PostRole, Role, SecretaryLink, Unit, UnitKind, User

DEMO_PASSWORD = "Demo@2026office"


@pytest.fixture
def demo_app(tmp_path):
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/t.db",
            "OFFICE_INSTANCE": str(tmp_path),
            "TESTING": True,
        }
    )
    with app.app_context():
        upgrade_db()
        yield app
        db.session.remove()
        db.engine.dispose()


def _invoke(app, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_demo_loads_a_four_level_province(demo_app):
    _invoke(demo_app, "init", "--admin-password", "Admin@12345x")
    started = time.perf_counter()
    output = _invoke(demo_app, "demo", "--password", DEMO_PASSWORD)
    elapsed = time.perf_counter() - started
    assert "已载入演示数据" in output
    assert elapsed < 10  # one password hash, direct inserts

    units = db.session.scalars(select(Unit)).all()
    assert len(units) >= 40
    assert max(u.depth for u in units) >= 3
    by_id = {u.id: u for u in units}
    for u in units:  # materialised paths agree with parent links
        if u.parent_id is None:
            assert u.path == f"/{u.id}/" and u.depth == 0
        else:
            parent = by_id[u.parent_id]
            assert u.path == f"{parent.path}{u.id}/" and u.depth == parent.depth + 1
    kinds = {u.kind for u in units}
    assert {UnitKind.PROVINCE, UnitKind.CITY, UnitKind.COUNTY, UnitKind.TOWNSHIP} <= kinds
    assert {UnitKind.DEPARTMENT, UnitKind.DIVISION} <= kinds
    township = next(u for u in units if u.kind is UnitKind.TOWNSHIP)
    assert [by_id[i].kind for i in township.ancestor_ids()[:3]] == [
        UnitKind.PROVINCE,
        UnitKind.CITY,
        UnitKind.COUNTY,
    ]
    shorts = [u.short_name for u in units if u.short_name]
    assert len(shorts) == len(set(shorts))

    users = db.session.scalars(select(User)).all()
    assert len(users) >= 200
    assert set(db.session.scalars(select(PostRole.role).distinct())) == set(Role)
    assert _count(SecretaryLink) >= 3
    for link in db.session.scalars(select(SecretaryLink)):
        assert Role.LEADER.value in {c for p in link.leader.posts for c in p.role_codes}
        assert Role.SECRETARY.value in {c for p in link.secretary.posts for c in p.role_codes}
    assert any(len(u.posts) >= 2 for u in users)
    assert all(sum(p.is_primary for p in u.posts) == 1 for u in users)

    # The sample collection's drafters and signers (sample-…) are not demo accounts.
    demo_users = [u for u in users if u.username != "admin" and not u.username.startswith("sample-")]
    assert len({u.name for u in demo_users}) == len(demo_users)
    mobiles = [u.mobile for u in demo_users]
    assert len(set(mobiles)) == len(mobiles)
    assert all(re.fullmatch(r"1[358]\d{9}", m) for m in mobiles)
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9._-]{1,63}", u.username) for u in users)
    assert all(u.pinyin and u.pinyin_initials for u in demo_users)

    by_username = {u.username: u for u in users}
    for username, _label, _desc in DEMO_ACCOUNTS:
        assert username in by_username, username
    roles = {u: {c for p in by_username[u].posts for c in p.role_codes} for u, _, _ in DEMO_ACCOUNTS}
    assert roles["leader"] == {"leader"} and roles["divhead"] == {"division_head"}
    assert roles["county"] == {"clerk"} and roles["sealkeeper"] == {"seal_keeper"}
    assert db.session.get(SecretaryLink, (by_username["secretary"].id, by_username["leader"].id))
    county_unit = by_username["county"].posts[0].unit
    assert county_unit.short_name == "西县办"

    delegation = db.session.scalar(select(Delegation))
    assert delegation.delegate_id == by_username["leader"].id
    assert delegation.starts_at.tzinfo is not None and delegation.ends_at > delegation.starts_at

    assert verify_password(by_username["clerk"].password_hash, DEMO_PASSWORD)
    assert not verify_password(by_username["clerk"].password_hash, "wrong-password")
    assert verify_password(by_username["admin"].password_hash, "Admin@12345x")

    demo_events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "office:system:demo")
    ).all()
    assert len(demo_events) == 1
    assert demo_events[0].details["users"] == len(demo_users)
    assert verify().ok


def test_demo_twice_changes_nothing(demo_app):
    _invoke(demo_app, "init", "--admin-password", "Admin@12345x")
    _invoke(demo_app, "demo", "--password", DEMO_PASSWORD)
    counts = [_count(m) for m in (Unit, User, Post, SecretaryLink, Delegation, AuditEvent)]
    output = _invoke(demo_app, "demo", "--password", DEMO_PASSWORD)
    assert ALREADY_LOADED in output
    assert [_count(m) for m in (Unit, User, Post, SecretaryLink, Delegation, AuditEvent)] == counts
    assert verify().ok


def test_demo_rejects_a_weak_password(demo_app):
    _invoke(demo_app, "init", "--admin-password", "Admin@12345x")
    result = demo_app.test_cli_runner().invoke(args=["demo", "--password", "short"])
    assert result.exit_code != 0
    assert "密码" in result.output
    assert _count(User) == 1


def test_demo_without_init_creates_the_root_and_an_admin(demo_app):
    output = _invoke(demo_app, "demo", "--password", DEMO_PASSWORD)
    assert "已载入演示数据" in output
    root = db.session.scalar(select(Unit).where(Unit.parent_id.is_(None)))
    assert (root.name, root.short_name, root.kind, root.path) == (
        "示例省人民政府",
        "示政",
        UnitKind.PROVINCE,
        f"/{root.id}/",
    )
    admin = db.session.scalar(select(User).where(User.username == "admin"))
    assert admin.posts[0].role_codes == ["admin"]
    assert verify_password(admin.password_hash, DEMO_PASSWORD)
    assert verify().ok
