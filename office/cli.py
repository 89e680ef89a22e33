"""Command line: ``python -m office <command>`` or ``flask --app wsgi <command>``.

init (database, keys, first admin), demo (demo data), serve (development server with
Socket.IO and the reminder scheduler), create-user, audit verify, scheduler (the reminder
scheduler in the foreground), reminders run-once; plus Flask-Migrate's ``db`` group.
"""

from __future__ import annotations

import os
import secrets
import sys

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy import func, select

from office.context import SYSTEM

#: Feature packages add steps to ``init`` here (office never imports them): each runs in the
#: init transaction, after the first admin exists, and returns a line to print or None.
INIT_HOOKS: list = []


def init_hook(fn):
    INIT_HOOKS.append(fn)
    return fn


def register_cli(app: Flask) -> None:
    app.cli.add_command(init_command)
    app.cli.add_command(demo_command)
    app.cli.add_command(serve_command)
    app.cli.add_command(create_user_command)
    app.cli.add_command(audit_group)
    app.cli.add_command(scheduler_command)
    app.cli.add_command(reminders_group)
    from office.search.cli import search_group

    app.cli.add_command(search_group)


def upgrade_db() -> None:
    """Bring the schema to head (Alembic), creating the database if it is empty."""
    from flask_migrate import upgrade

    upgrade(directory=current_app.extensions["migrate"].directory)


@click.command("init")
@click.option("--org-name", default="示例省人民政府", show_default=True, help="根机构全称")
@click.option("--org-short", default="示政", show_default=True, help="根机构机关代字")
@click.option("--org-kind", default="province", show_default=True)
@click.option("--admin-password", envvar="OFFICE_ADMIN_PASSWORD", default=None, help="管理员初始密码")
@with_appcontext
def init_command(org_name: str, org_short: str, org_kind: str, admin_password: str | None) -> None:
    """Create or upgrade the database, make the instance keys, and the first admin."""
    from office.audit.services import record
    from office.extensions import db
    from office.identity.models import Role, Unit, User
    from office.identity.services import create_unit, create_user

    upgrade_db()
    click.echo(f"数据库已就绪：{db.engine.url.render_as_string(hide_password=True)}")
    click.echo(f"实例目录：{current_app.config['OFFICE_INSTANCE']}（密钥文件权限 0600）")
    if db.session.scalar(select(func.count()).select_from(User)):
        click.echo("已初始化（存在用户），跳过创建管理员。")
        _run_init_hooks()
        return
    root = db.session.scalar(select(Unit).where(Unit.parent_id.is_(None)).order_by(Unit.id))
    if root is None:
        root = create_unit(SYSTEM, name=org_name, kind=org_kind, short_name=org_short)
    generated = admin_password is None
    password = admin_password or (secrets.token_urlsafe(9) + "A1!")
    create_user(
        SYSTEM,
        username="admin",
        name="系统管理员",
        password=password,
        posts=[{"unit_id": root.id, "title": "系统管理员", "roles": [Role.ADMIN.value]}],
        must_change_password=generated,
    )
    record(SYSTEM, "office:system:init", object_type="system", details={"root_unit": root.name})
    db.session.commit()
    click.echo("已创建管理员 admin" + (f"，初始密码：{password}（首次登录须修改）" if generated else "。"))
    _run_init_hooks()


def _run_init_hooks() -> None:
    from office.extensions import db

    for hook in INIT_HOOKS:
        line = hook()
        db.session.commit()
        if line:
            click.echo(line)


@click.command("demo")
@click.option("--password", envvar="OFFICE_DEMO_PASSWORD", default=None, help="所有演示账号的密码")
@with_appcontext
def demo_command(password: str | None) -> None:
    """Fill an initialised instance with the fictional province 示例省 (idempotent)."""
    from office.demo import load_demo

    password = password or current_app.config["OFFICE_DEMO_PASSWORD"]
    summary = load_demo(password)
    click.echo(summary)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=None, help="默认取 PORT 环境变量（5000）")
@click.option(
    "--scheduler/--no-scheduler",
    "with_scheduler",
    default=None,
    help="同时运行提醒调度（默认取 OFFICE_SCHEDULER，开启）",
)
@with_appcontext
def serve_command(host: str, port: int | None, with_scheduler: bool | None) -> None:
    """Development server with Socket.IO (use gunicorn in production)."""
    from office.extensions import socketio
    from office.reminders.scheduler import scheduler_enabled, start_background

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    port = port or current_app.config["PORT"]
    os.environ.pop("FLASK_RUN_FROM_CLI", None)  # let Flask-SocketIO start the server from here
    if with_scheduler if with_scheduler is not None else scheduler_enabled(app):
        start_background(app)
    click.echo(f"政务协同办公 正在运行：http://{host}:{port}/  （Ctrl+C 退出）")
    socketio.run(app, host=host, port=port, allow_unsafe_werkzeug=True)


@click.command("create-user")
@click.option("--username", required=True)
@click.option("--name", required=True, help="姓名")
@click.option("--password", required=True, prompt=True, hide_input=True)
@click.option("--unit", "unit_ref", required=True, help="机构 id、全称或机关代字")
@click.option("--title", default="工作人员", show_default=True, help="职务")
@click.option("--role", "roles", multiple=True, help="角色代码，可重复：admin, clerk, leader ...")
@click.option("--mobile", default=None)
@with_appcontext
def create_user_command(username, name, password, unit_ref, title, roles, mobile) -> None:
    """Create a person with one post."""
    from office.errors import ServiceError
    from office.extensions import db
    from office.identity.models import Unit
    from office.identity.services import create_user

    unit = db.session.scalar(
        select(Unit).where(
            (Unit.id == int(unit_ref))
            if unit_ref.isdigit()
            else (Unit.name == unit_ref) | (Unit.short_name == unit_ref)
        )
    )
    if unit is None:
        raise click.ClickException(f"找不到机构：{unit_ref}")
    try:
        user = create_user(
            SYSTEM,
            username=username,
            name=name,
            password=password,
            mobile=mobile,
            posts=[{"unit_id": unit.id, "title": title, "roles": list(roles)}],
        )
        db.session.commit()
    except ServiceError as err:
        db.session.rollback()
        raise click.ClickException(err.message) from None
    click.echo(f"已创建 {user.name}（{user.username}），机构：{unit.name}")


@click.group("audit")
def audit_group() -> None:
    """Audit trail tools."""


@audit_group.command("verify")
@with_appcontext
def audit_verify() -> None:
    """Check the hash chain; exit 1 at the first changed, removed or reordered event."""
    from office.audit.services import verify

    result = verify()
    click.echo(result.message())
    if not result.ok:
        sys.exit(1)


@click.command("scheduler")
@click.option("--interval", type=float, default=None, help="间隔秒数（默认取 OFFICE_SCHEDULER_INTERVAL，60）")
@with_appcontext
def scheduler_command(interval: float | None) -> None:
    """Run the reminder scheduler in the foreground (one active process across instances)."""
    import contextlib
    import signal

    from office.reminders.scheduler import run_forever

    def _terminate(signum, frame):  # SIGTERM (docker stop): leave through the loop's finally
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _terminate)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl+C
        run_forever(current_app._get_current_object(), interval=interval)  # type: ignore[attr-defined]


@click.group("reminders")
def reminders_group() -> None:
    """Reminders (临期 / 逾期)."""


@reminders_group.command("run-once")
@click.option("--now", "at", default=None, help="按此时刻计算（ISO 8601，带时区；默认当前时间）")
@with_appcontext
def reminders_run_once(at: str | None) -> None:
    """Send what is due now, once, without election (for cron and debugging)."""
    from datetime import datetime

    from office.reminders.services import run_due_reminders

    now = None
    if at:
        try:
            now = datetime.fromisoformat(at)
        except ValueError:
            hint = "须为 ISO 8601 时间，如 2026-05-01T09:00:00+08:00"
            raise click.BadParameter(hint, param_hint="--now") from None
        if now.tzinfo is None:
            raise click.BadParameter("须带时区，如 +08:00", param_hint="--now")
    result = run_due_reminders(now)
    click.echo(
        f"临期提醒 {result.get('due_soon', 0)} 条，逾期提醒 {result.get('overdue', 0)} 条，"
        f"通知 {result.get('notifications', 0)} 条"
    )
    if result.get("errors"):
        click.echo(f"{result['errors']} 个提醒来源出错，详见日志", err=True)
        sys.exit(1)


def main() -> None:
    """Entry point: the Flask CLI bound to our factory. ``serve`` uses threads, so that the
    development server needs no monkey-patching."""
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        os.environ.setdefault("SOCKETIO_ASYNC_MODE", "threading")

    def factory():
        from office import create_app

        return create_app()

    FlaskGroup(create_app=factory, add_default_commands=True, help="政务协同办公 命令行")(prog_name="office")
