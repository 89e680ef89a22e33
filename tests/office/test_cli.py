"""Command line: create-user, audit verify and init."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from office.audit import services as audit
from office.audit.models import AuditEvent
from office.extensions import db
from office.identity.models import Unit, User
from tests.conftest import PASSWORD


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def _create_user(runner, *extra: str, unit: str = "示政办"):
    args = ["create-user", "--username", "wangwu", "--name", "王五", "--password", PASSWORD, "--unit", unit]
    return runner.invoke(args=[*args, *extra])


def test_create_user(app, runner, org):
    result = _create_user(
        runner, "--title", "科员", "--role", "staff", "--role", "clerk", "--mobile", "13900139000"
    )
    assert result.exit_code == 0, result.output
    assert "王五" in result.output and "省政府办公厅" in result.output
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "wangwu"))
        assert user is not None and user.mobile == "13900139000" and user.pinyin_initials == "ww"
        assert [(p.unit.name, p.title, p.role_codes) for p in user.posts] == [
            ("省政府办公厅", "科员", ["clerk", "staff"])
        ]
        event = db.session.scalar(
            select(AuditEvent)
            .where(AuditEvent.action == "office:user:create")
            .order_by(AuditEvent.seq.desc())
        )
        assert event.actor_id is None and event.object_id == str(user.id)
    # the new person can sign in
    client = app.test_client()
    assert (
        client.post("/api/v1/auth/token", json={"username": "wangwu", "password": PASSWORD}).status_code
        == 201
    )


@pytest.mark.parametrize("ref", ["id", "省政府办公厅"])
def test_create_user_finds_the_unit_by_id_or_name(app, runner, org, ref):
    unit = org["units"]["office"]
    result = _create_user(runner, unit=str(unit.id) if ref == "id" else ref)
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalar(select(User).where(User.username == "wangwu")).posts[0].unit_id == unit.id


def test_create_user_with_a_bad_unit(app, runner, org):
    for ref in ("不存在的单位", "999999"):
        result = _create_user(runner, unit=ref)
        assert result.exit_code != 0
        assert f"找不到机构：{ref}" in result.output
    with app.app_context():
        assert db.session.scalar(select(User).where(User.username == "wangwu")) is None


def test_create_user_reports_rule_failures(app, runner, org):
    taken = runner.invoke(
        args=[
            "create-user",
            "--username",
            "zhangsan",
            "--name",
            "张三",
            "--password",
            PASSWORD,
            "--unit",
            "示政",
        ]
    )
    assert taken.exit_code != 0 and "用户名已存在" in taken.output
    weak = runner.invoke(
        args=["create-user", "--username", "wangwu", "--name", "王五", "--password", "x", "--unit", "示政"]
    )
    assert weak.exit_code != 0 and "Traceback" not in weak.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == len(org["people"])


def test_audit_verify_on_a_fresh_chain(runner, app):
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "审计链完整：共校验 0 条事件" in result.output


def test_audit_verify_after_changes(app, runner, org):
    assert _create_user(runner).exit_code == 0
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        count = audit.event_count()
    assert f"共校验 {count} 条事件" in result.output


def test_audit_verify_fails_on_a_broken_chain(app, runner, org):
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.seq == 2))
        event.details = {"tampered": True}
        db.session.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1 and "第 2 条" in result.output


def test_init_is_idempotent(app, runner):
    first = runner.invoke(args=["init", "--admin-password", PASSWORD])
    assert first.exit_code == 0, first.output
    assert "已创建管理员 admin" in first.output
    with app.app_context():
        admin = db.session.scalar(select(User).where(User.username == "admin"))
        assert admin is not None and not admin.must_change_password
        assert admin.posts[0].role_codes == ["admin"] and admin.posts[0].unit.name == "示例省人民政府"
        units_before = db.session.scalar(select(func.count()).select_from(Unit))
    assert (
        app.test_client()
        .post("/api/v1/auth/token", json={"username": "admin", "password": PASSWORD})
        .status_code
        == 201
    )

    second = runner.invoke(args=["init", "--admin-password", "Other-pass-2026"])
    assert second.exit_code == 0, second.output
    assert "已初始化" in second.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 1
        assert db.session.scalar(select(func.count()).select_from(Unit)) == units_before
        actions = [e.action for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq))]
        # one init's worth of records (plus the sign-in above), none from the second run
        assert actions == [
            "office:unit:create",
            "office:user:create",
            "office:system:init",
            "seals:authority:create",
            "office:auth:token_issue",
        ]
        assert audit.verify().ok
    # the second run did not touch the password
    assert (
        app.test_client()
        .post("/api/v1/auth/token", json={"username": "admin", "password": PASSWORD})
        .status_code
        == 201
    )


def test_init_without_password_generates_one(app, runner, monkeypatch):
    monkeypatch.delenv("OFFICE_ADMIN_PASSWORD", raising=False)
    result = runner.invoke(args=["init", "--org-name", "测试省人民政府", "--org-short", "测省"])
    assert result.exit_code == 0, result.output
    assert "初始密码" in result.output
    with app.app_context():
        admin = db.session.scalar(select(User).where(User.username == "admin"))
        assert admin.must_change_password
        assert admin.posts[0].unit.name == "测试省人民政府" and admin.posts[0].unit.short_name == "测省"
