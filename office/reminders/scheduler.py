"""The scheduler: a reminder pass every ``OFFICE_SCHEDULER_INTERVAL`` seconds (default 60) in
exactly one active process, elected each tick.

Where it runs:

* ``python -m office serve`` (embedded default): a background task of the server process
  (``--no-scheduler`` to leave it out);
* gunicorn (scale-out): ``wsgi.py`` starts it as a background task (a greenlet under gevent)
  in every app process, unless ``OFFICE_SCHEDULER=0``. It does not start under ``flask --app
  wsgi <command>`` (Flask's CLI sets ``FLASK_RUN_FROM_CLI``), in tests (``TESTING``), nor with
  gunicorn's ``--preload`` in the master (do not use ``--preload``);
* ``python -m office scheduler``: in the foreground, e.g. as its own container with
  ``OFFICE_SCHEDULER=0`` on the app containers; ``python -m office reminders run-once`` for
  cron or debugging (no election needed: a reminder still goes out once).

Election, so that one process sends while the others stand by:

* ``REDIS_URL`` set: a Redis lease, ``SET key token NX PX ttl``, renewed by the holder each
  tick and between batches with a compare-and-set script, deleted on stop. A dead leader's
  lease runs out after ``ttl`` (three intervals) and the next process to tick takes over;
* PostgreSQL without Redis: a session-level ``pg_try_advisory_lock`` on a dedicated
  connection, which the server releases when the holding process or connection dies;
* SQLite: an ``flock`` on ``<instance>/.scheduler.lock``, released when the process dies.

Election only keeps the work in one place: the reminder rows make each reminder go out once
even if two processes briefly both believe they lead.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import logging
import os
import socket
import threading
import uuid
from pathlib import Path
from typing import IO, Any

from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import NullPool

from office.config import TRUE
from office.extensions import db, socketio
from office.reminders.services import run_due_reminders

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 60.0
LEASE_KEY = "office:scheduler:leader"
#: pg_advisory_lock key: b"officeSC" as a signed 64-bit integer (the init lock is b"officeIN").
PG_LOCK_KEY = int.from_bytes(b"officeSC", "big", signed=True)

# Renew only our own lease: a lease that expired and was taken by another process stays theirs.
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


# ---------------------------------------------------------------- configuration


def scheduler_enabled(app: Flask) -> bool:
    value = app.config.get("OFFICE_SCHEDULER")
    if value is None:
        raw = os.environ.get("OFFICE_SCHEDULER", "")
        return raw == "" or raw.strip().lower() in TRUE
    return value.strip().lower() in TRUE if isinstance(value, str) else bool(value)


def scheduler_interval(app: Flask) -> float:
    value = app.config.get("OFFICE_SCHEDULER_INTERVAL") or os.environ.get("OFFICE_SCHEDULER_INTERVAL")
    return float(value) if value else DEFAULT_INTERVAL


def should_start_in_web_process(app: Flask) -> bool:
    """For ``wsgi.py``: on, not in tests, not under a ``flask --app wsgi`` command."""
    return (
        scheduler_enabled(app) and not app.config.get("TESTING") and not os.environ.get("FLASK_RUN_FROM_CLI")
    )


# ---------------------------------------------------------------- leader election


class Elector:
    """Decides whether this process is the active scheduler. ``hold()`` acquires or renews
    and says whether we lead now; ``release()`` gives up (idempotent); ``close()`` gives up
    for good (at exit: a tick still running in another thread cannot take it back)."""

    name = "always"

    def __init__(self) -> None:
        self.leading = False
        self.closed = False
        self._lock = threading.Lock()

    def hold(self) -> bool:
        with self._lock:
            self.leading = False if self.closed else self._hold()
            return self.leading

    def release(self) -> None:
        with self._lock:
            if self.leading:
                self.leading = False
                self._release()

    def close(self) -> None:
        with self._lock:
            self.closed = True
        self.release()

    def _hold(self) -> bool:
        return True

    def _release(self) -> None:
        pass


class RedisElector(Elector):
    """A lease in Redis: whoever set the key leads until it stops renewing for ``ttl`` s."""

    name = "redis"

    def __init__(self, url_or_client: Any, key: str = LEASE_KEY, ttl: float = 3 * DEFAULT_INTERVAL) -> None:
        super().__init__()
        import redis

        self._errors = redis.RedisError
        self.redis = (
            redis.Redis.from_url(url_or_client, socket_timeout=5, socket_connect_timeout=5)
            if isinstance(url_or_client, str)
            else url_or_client
        )
        self.key = key
        self.ttl_ms = max(int(ttl * 1000), 1)
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"
        self._renew = self.redis.register_script(_RENEW)
        self._drop = self.redis.register_script(_RELEASE)

    def _hold(self) -> bool:
        try:
            if self.leading and self._renew(keys=[self.key], args=[self.token, self.ttl_ms]) == 1:
                return True
            return bool(self.redis.set(self.key, self.token, nx=True, px=self.ttl_ms))
        except self._errors as exc:  # cannot tell who leads: stand by until Redis answers
            log.warning("scheduler: Redis unavailable (%s); standing by", exc)
            return False

    def _release(self) -> None:
        try:
            self._drop(keys=[self.key], args=[self.token])
        except self._errors as exc:
            log.warning("scheduler: could not release the Redis lease (%s); it expires by itself", exc)


class PostgresElector(Elector):
    """A session-level advisory lock held on a connection of its own (not from the app's pool,
    so it can never be handed to a request while holding the lock)."""

    name = "postgresql"

    def __init__(self, url: Any, key: int = PG_LOCK_KEY) -> None:
        super().__init__()
        self.engine: Engine = create_engine(
            make_url(url), poolclass=NullPool, connect_args={"connect_timeout": 10}
        )
        self.key = key
        self.conn: Connection | None = None

    def _hold(self) -> bool:
        try:
            if self.conn is not None and self.leading:
                self.conn.execute(text("SELECT 1"))  # the lock lives as long as this session
                return True
            if self.conn is None:
                self.conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            got = bool(self.conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar())
        except Exception as exc:  # connection lost: so is the lock
            log.warning("scheduler: advisory lock connection failed (%s); standing by", exc)
            self._close()
            return False
        if not got:
            self._close()  # do not keep an idle connection per standby process
        return got

    def _release(self) -> None:
        try:
            if self.conn is not None:
                self.conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
        except Exception as exc:
            log.warning("scheduler: advisory unlock failed (%s); closing the session releases it", exc)
        self._close()

    def _close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):  # already broken
                self.conn.close()
            self.conn = None


class FileElector(Elector):
    """An ``flock`` on a file next to the SQLite database: one scheduler per instance folder."""

    name = "file"

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        self._fh: IO[str] | None = None

    def _hold(self) -> bool:
        if self._fh is not None:
            return True
        fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (kept open while leading)
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            return False
        self._fh = fh
        return True

    def _release(self) -> None:
        if self._fh is not None:
            self._fh.close()  # closing drops the flock
            self._fh = None


def make_elector(app: Flask, ttl: float) -> Elector:
    if app.config.get("REDIS_URL"):
        return RedisElector(app.config["REDIS_URL"], ttl=ttl)
    with app.app_context():
        url = db.engine.url
    if url.get_backend_name() == "postgresql":
        return PostgresElector(url)
    return FileElector(Path(app.config["OFFICE_INSTANCE"]) / ".scheduler.lock")


# ---------------------------------------------------------------- the loop


class Scheduler:
    def __init__(self, app: Flask, interval: float | None = None, elector: Elector | None = None) -> None:
        self.app = app
        self.interval = interval or scheduler_interval(app)
        self.elector = elector or make_elector(app, ttl=max(3 * self.interval, 5.0))
        self._stop = threading.Event()

    def tick(self) -> dict[str, int] | None:
        """One election and, when leading, one reminder pass. None when standing by."""
        with self.app.app_context():
            was_leading = self.elector.leading
            if not self.elector.hold():
                if was_leading:
                    log.warning("scheduler: lost the leadership (%s); standing by", self.elector.name)
                return None
            if not was_leading:
                log.info("scheduler: this process is the active scheduler (%s)", self.elector.name)
            result = run_due_reminders(keep_going=self.elector.hold)
            if any(result.values()):
                log.info("scheduler: reminders sent %s", result)
            _drain_search()
            return result

    def run_forever(self) -> None:
        log.info("scheduler: started, every %.0f s, election by %s", self.interval, self.elector.name)
        try:
            while not self._stop.is_set():
                try:
                    self.tick()
                except Exception:  # keep ticking: the next pass retries what failed
                    log.exception("scheduler: tick failed")
                self._stop.wait(self.interval)
        finally:
            self.elector.release()
            log.info("scheduler: stopped")

    def stop(self) -> None:
        self._stop.set()

    def shutdown(self) -> None:
        """Stop and give up the leadership now (at process exit), so another takes over."""
        self.stop()
        was_leading = self.elector.leading
        self.elector.close()
        if was_leading:
            log.info("scheduler: stopped, leadership released")


def run_forever(app: Flask, interval: float | None = None, elector: Elector | None = None) -> None:
    """Run the scheduler in this thread until the process ends."""
    Scheduler(app, interval, elector).run_forever()


def start_background(app: Flask, interval: float | None = None) -> Scheduler:
    """Run the scheduler as a Socket.IO background task: a greenlet under gevent, a thread
    under the threading server of ``serve``."""
    scheduler = Scheduler(app, interval)
    socketio.start_background_task(scheduler.run_forever)
    atexit.register(scheduler.shutdown)
    return scheduler


def _drain_search() -> None:
    """Index changes still in the outbox (the worker's job in the scale-out mode; after a
    crash between commit and indexing on the embedded default)."""
    from office.search import services as search

    try:
        if search.SOURCE and (n := search.drain()):
            log.info("scheduler: applied %s search index changes", n)
    except Exception:
        log.exception("scheduler: applying search index changes failed")
