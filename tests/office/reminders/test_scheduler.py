"""The scheduler: leader election (Redis lease, PostgreSQL advisory lock, file lock), ticks,
the loop, and where it is started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import text

from office.extensions import db
from office.reminders import scheduler as sched
from office.reminders.scheduler import (
    Elector,
    FileElector,
    PostgresElector,
    RedisElector,
    Scheduler,
    make_elector,
    scheduler_enabled,
    scheduler_interval,
    should_start_in_web_process,
)
from tests.conftest import require

H = timedelta(hours=1)
ROOT = Path(__file__).resolve().parents[3]


def _wait_for(condition, timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


# ---------------------------------------------------------------- configuration


def _bare_app(**config) -> Flask:
    app = Flask("bare")
    app.config.update(config)
    return app


def test_enabled_by_default_and_switched_off_by_config_or_environment(monkeypatch):
    monkeypatch.delenv("OFFICE_SCHEDULER", raising=False)
    monkeypatch.delenv("OFFICE_SCHEDULER_INTERVAL", raising=False)
    monkeypatch.delenv("FLASK_RUN_FROM_CLI", raising=False)
    assert scheduler_enabled(_bare_app()) and scheduler_interval(_bare_app()) == 60
    assert should_start_in_web_process(_bare_app())
    assert not scheduler_enabled(_bare_app(OFFICE_SCHEDULER=False))
    assert not scheduler_enabled(_bare_app(OFFICE_SCHEDULER="0"))
    assert scheduler_interval(_bare_app(OFFICE_SCHEDULER_INTERVAL=15)) == 15
    monkeypatch.setenv("OFFICE_SCHEDULER", "0")
    monkeypatch.setenv("OFFICE_SCHEDULER_INTERVAL", "30")
    assert not scheduler_enabled(_bare_app()) and not should_start_in_web_process(_bare_app())
    assert scheduler_interval(_bare_app()) == 30
    assert scheduler_enabled(_bare_app(OFFICE_SCHEDULER=True))  # config wins


def test_not_started_from_wsgi_in_tests_or_under_flask_cli(monkeypatch):
    monkeypatch.delenv("OFFICE_SCHEDULER", raising=False)
    monkeypatch.delenv("FLASK_RUN_FROM_CLI", raising=False)
    assert not should_start_in_web_process(_bare_app(TESTING=True))
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")  # `flask --app wsgi <command>`
    assert not should_start_in_web_process(_bare_app())


def test_the_elector_follows_the_deployment(app):
    with app.app_context():
        backend = db.engine.dialect.name
    elector = make_elector(app, ttl=1)
    if app.config["REDIS_URL"]:
        assert isinstance(elector, RedisElector) and elector.ttl_ms == 1000
    elif backend == "postgresql":
        assert isinstance(elector, PostgresElector)
    else:
        assert isinstance(elector, FileElector)
        assert elector.path == Path(app.config["OFFICE_INSTANCE"]) / ".scheduler.lock"


# ---------------------------------------------------------------- electors


def test_file_elector_one_leader_then_takeover(tmp_path):
    a, b = FileElector(tmp_path / "lock"), FileElector(tmp_path / "lock")
    assert a.hold() and not b.hold()
    assert a.hold() and not b.hold()  # the holder keeps it
    a.release()
    assert b.hold() and not a.hold()
    b.release()
    b.release()  # idempotent
    a.close()  # at exit: gone for good
    assert not a.hold()
    assert b.hold()
    b.release()


def _redis_url() -> str:
    return os.environ.get("OFFICE_TEST_REDIS_URL") or "redis://127.0.0.1:6379/9"


@pytest.fixture
def redis_client():
    import redis

    client = redis.Redis.from_url(_redis_url(), socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        require(False, f"Redis at {_redis_url()} not reachable ({exc}): Redis leader election not tested")
    yield client
    client.close()


def test_redis_elector_one_leader_then_takeover_on_release(redis_client):
    key = f"office-test:scheduler:{uuid.uuid4().hex}"
    a, b = RedisElector(_redis_url(), key=key, ttl=5), RedisElector(_redis_url(), key=key, ttl=5)
    try:
        assert a.hold() and not b.hold()
        assert a.hold() and not b.hold()  # renewed, still a's
        assert redis_client.get(key).decode() == a.token
        a.release()
        assert redis_client.get(key) is None
        assert b.hold() and not a.hold()
    finally:
        b.release()
        redis_client.delete(key)


def test_redis_elector_takeover_after_the_leader_dies(redis_client):
    key = f"office-test:scheduler:{uuid.uuid4().hex}"
    dead = RedisElector(_redis_url(), key=key, ttl=0.3)
    standby = RedisElector(_redis_url(), key=key, ttl=0.3)
    try:
        assert dead.hold() and not standby.hold()
        # the leader stops renewing (the process died): its lease runs out
        assert _wait_for(standby.hold, timeout=2)
        assert 0 < redis_client.pttl(key) <= 300
        # the old leader comes back: it may not renew a lease that is no longer its own,
        # nor delete it when it stops
        assert not dead.hold()
        dead.release()
        assert redis_client.get(key).decode() == standby.token
    finally:
        standby.release()
        redis_client.delete(key)


def test_redis_elector_stands_by_when_redis_is_down():
    elector = RedisElector("redis://127.0.0.1:1/0", key="office-test:nowhere", ttl=1)
    assert not elector.hold()


def _pg_url(app):
    with app.app_context():
        url = db.engine.url
    if url.get_backend_name() != "postgresql":
        pytest.skip("the suite runs on SQLite: the advisory-lock elector is tested in the PostgreSQL pass")
    return url


@pytest.mark.postgres
def test_postgres_elector_one_leader_then_takeover(app):
    url = _pg_url(app)
    key = int.from_bytes(uuid.uuid4().bytes[:8], "big", signed=True)
    a, b = PostgresElector(url, key=key), PostgresElector(url, key=key)
    try:
        assert a.hold() and not b.hold()
        assert a.hold() and not b.hold()
        assert b.conn is None  # a standby keeps no connection open
        a.release()
        assert b.hold() and not a.hold()

        # the leader's session dies (process killed, network gone): the server frees the lock
        pid = b.conn.execute(text("SELECT pg_backend_pid()")).scalar()
        with a.engine.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        assert _wait_for(a.hold, timeout=2)
        assert not b.hold()  # b notices on its next tick and stands by
    finally:
        a.release()
        b.release()
        a.engine.dispose()
        b.engine.dispose()


# ---------------------------------------------------------------- the scheduler


def test_only_the_leader_sends(app, org, items, tmp_path):
    items.todo(org["people"]["staff"], -H)
    first = Scheduler(app, interval=1, elector=FileElector(tmp_path / "lock"))
    second = Scheduler(app, interval=1, elector=FileElector(tmp_path / "lock"))
    assert first.tick() == {"errors": 0, "due_soon": 0, "overdue": 1, "notifications": 1}
    assert second.tick() is None
    items.todo(org["people"]["staff"], -2 * H)
    first.shutdown()  # leaves: the other takes over on its next tick
    assert second.tick()["overdue"] == 1
    assert len(items.notices()) == 2
    second.shutdown()


def test_the_loop_ticks_until_stopped_and_releases(app, org, items, tmp_path):
    class Counting(FileElector):
        holds = 0

        def _hold(self):
            Counting.holds += 1
            return super()._hold()

    elector = Counting(tmp_path / "lock")
    scheduler = Scheduler(app, interval=0.05, elector=elector)
    thread = threading.Thread(target=scheduler.run_forever)
    thread.start()
    try:
        items.todo(org["people"]["staff"], 2 * H)
        assert _wait_for(lambda: len(items.notices()) == 1)
        holds = Counting.holds
        assert _wait_for(lambda: Counting.holds > holds + 2)  # still ticking
    finally:
        scheduler.stop()
        thread.join(timeout=5)
    assert not thread.is_alive()
    assert not elector.leading
    other = FileElector(tmp_path / "lock")
    assert other.hold()  # released
    other.release()
    assert len(items.notices()) == 1


def test_a_failing_tick_does_not_stop_the_loop(app, tmp_path):
    class Flaky(Elector):
        calls = 0

        def _hold(self):
            Flaky.calls += 1
            if Flaky.calls == 1:
                raise RuntimeError("boom")
            return False

    scheduler = Scheduler(app, interval=0.02, elector=Flaky())
    thread = threading.Thread(target=scheduler.run_forever)
    thread.start()
    assert _wait_for(lambda: Flaky.calls >= 3)
    scheduler.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_serve_starts_the_scheduler_unless_told_not_to(app, monkeypatch):
    from office.extensions import socketio

    started, served = [], []
    monkeypatch.setattr(sched, "start_background", lambda a: started.append(a))
    monkeypatch.setattr(socketio, "run", lambda a, **kw: served.append(kw["port"]))
    monkeypatch.delenv("OFFICE_SCHEDULER", raising=False)
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")  # serve pops it; monkeypatch restores it
    runner = app.test_cli_runner()
    assert runner.invoke(args=["serve", "--port", "5999"]).exit_code == 0
    assert runner.invoke(args=["serve", "--port", "5998", "--no-scheduler"]).exit_code == 0
    assert served == [5999, 5998] and started == [app]


def test_scheduler_command_runs_in_the_foreground_and_stops_on_sigterm(app, app_config, org, items, tmp_path):
    """`python -m office scheduler` against this suite's database, as its own process."""
    items.todo(org["people"]["staff"], -H)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OFFICE_", "FLASK_"))}
    env.update(
        OFFICE_INSTANCE=str(tmp_path),
        DATABASE_URL=app_config["SQLALCHEMY_DATABASE_URI"],
        REDIS_URL="",  # the PostgreSQL advisory lock, or the file lock on SQLite
        PYTHONUNBUFFERED="1",
    )
    env.pop("REDIS_URL")
    proc = subprocess.Popen(
        [sys.executable, "-m", "office", "scheduler", "--interval", "0.2"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert _wait_for(lambda: len(items.notices()) == 1 or proc.poll() is not None, timeout=20)
        assert proc.poll() is None, proc.stdout.read()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out
    assert "this process is the active scheduler" in out and "scheduler: stopped" in out
    assert len(items.notices()) == 1
