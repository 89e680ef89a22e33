"""Live servers for the deployment tests, and a real Socket.IO client to listen to them.

* ``embedded``: the embedded default, ``python -m office serve`` on a free port with a fresh
  SQLite instance after ``init`` and ``demo`` (as tests/browser does).
* ``scaleout_pair``: two gunicorn/gevent processes started through docker/entrypoint.sh on one
  fresh PostgreSQL database and Redis, by ``scripts/scaleout-check.sh --hold`` (the same
  machinery as the scale-out check), with three non-admin people made by ``office create-user``
  (production mode makes admins enrol two-factor first). Skipped without PostgreSQL/Redis,
  failed instead when ``OFFICE_REQUIRE_ALL=1``.

Both are module-scoped: started on first use, stopped (and the database dropped) when the
module is done; ``scaleout_launch`` starts the pair without waiting, so that a module can have
it start while its other tests run. All traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import functools
import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import socketio

from tests.conftest import require

ROOT = Path(__file__).resolve().parents[2]
SCALEOUT_SCRIPT = ROOT / "scripts" / "scaleout-check.sh"

ADMIN_PASSWORD = "Admin@2026office"
DEMO_PASSWORD = "Demo@2026office"
PAIR_PASSWORD = "Push-live-2026"  # the policy: 10+ characters, 3 character classes
#: The pair's people (username, name), all staff of the root unit 示政 so they see each other.
PAIR_PEOPLE = (("pusha", "推送甲"), ("pushb", "推送乙"), ("pushc", "推送丙"))

SERVER_START_TIMEOUT = 30.0
PAIR_START_TIMEOUT = 120.0
CONNECT_TIMEOUT = 10.0
WS_CLOSE_WAIT = 0.2

# Settings of ours that must not leak into the servers under test (they get their own).
_APP_ENV = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "PORT", "BIND", "SOCKETIO_ASYNC_MODE")


def _clean_env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if k not in _APP_ENV and not k.startswith(("OFFICE_", "FLASK_", "GUNICORN_"))
    }


def _free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), timeout=2
        ).close()
    except OSError:
        return False
    return True


# ---------------------------------------------------------------- people and the API


@dataclass(frozen=True)
class Person:
    """Someone signed in through ``POST /api/v1/auth/token``."""

    username: str
    id: int
    name: str
    token: str

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **extra}


def sign_in(url: str, username: str, password: str) -> Person:
    resp = requests.post(
        f"{url}/api/v1/auth/token", json={"username": username, "password": password}, timeout=15
    )
    assert resp.status_code == 201, f"sign-in of {username} on {url}: {resp.status_code} {resp.text[:300]}"
    body = resp.json()
    return Person(username, body["user"]["id"], body["user"]["name"], body["token"])


def send_memo(
    url: str, sender: Person, to: int, title: str, *, key: str | None = None, **fields: Any
) -> requests.Response:
    """``POST /api/v1/todos`` (交办) as ``sender``; ``key`` becomes the Idempotency-Key."""
    headers = sender.headers(**({"Idempotency-Key": key} if key else {}))
    return requests.post(
        f"{url}/api/v1/todos", json={"user_id": to, "title": title, **fields}, headers=headers, timeout=15
    )


def notifications_after(url: str, person: Person, after_id: int) -> list[dict[str, Any]]:
    """``GET /api/v1/notifications?after_id=N``: everything newer, oldest first."""
    resp = requests.get(
        f"{url}/api/v1/notifications",
        params={"after_id": after_id, "per_page": 100},
        headers=person.headers(),
        timeout=10,
    )
    assert resp.status_code == 200, resp.text[:300]
    return resp.json()["items"]


# ---------------------------------------------------------------- a real Socket.IO client


class Listener:
    """A ``socketio.Client`` (WebSocket transport, no automatic reconnection) that records
    every event it gets, in order."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.sio = socketio.Client(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self._cond = threading.Condition()
        self.sio.on("*", self._on_any)

    def _on_any(self, event: str, data: Any = None) -> None:
        with self._cond:
            self.events.append((event, data))
            self._cond.notify_all()

    def connect(self, url: str, person: Person) -> Listener:
        """Connect with the bearer token and wait for the server's ``hello``: from then on
        the connection is in the person's room."""
        self.sio.connect(
            url, auth={"token": person.token}, transports=["websocket"], wait_timeout=CONNECT_TIMEOUT
        )
        hello = self.wait("hello", timeout=CONNECT_TIMEOUT)
        assert hello is not None, f"{self.label}: no 'hello' within {CONNECT_TIMEOUT:.0f} s"
        assert hello["user_id"] == person.id, f"{self.label}: hello for the wrong person: {hello}"
        return self

    def disconnect(self) -> None:
        """Leave: the Engine.IO CLOSE packet, then the WebSocket closing handshake.

        websocket-client's ``close()`` waits up to 3 s for the server's closing frame, which
        the client's own read loop usually takes first; a short wait is plenty on 127.0.0.1.
        """
        ws = getattr(self.sio.eio, "ws", None)
        if ws is not None:
            ws.close = functools.partial(type(ws).close, ws, timeout=WS_CLOSE_WAIT)
        with suppress(Exception):  # already gone
            self.sio.disconnect()

    def mark(self) -> int:
        """A position in the event log, for :meth:`since`."""
        with self._cond:
            return len(self.events)

    def since(self, mark: int = 0, *, hello: bool = False) -> list[tuple[str, Any]]:
        with self._cond:
            return [(n, d) for n, d in self.events[mark:] if hello or n != "hello"]

    def wait(
        self, event: str, match: Callable[[Any], bool] = lambda _: True, *, timeout: float, mark: int = 0
    ) -> Any:
        """The first ``event`` (after ``mark``) whose payload satisfies ``match``, or None
        after ``timeout`` seconds."""
        found: list[Any] = []

        def seen() -> bool:
            found[:] = [d for n, d in self.events[mark:] if n == event and match(d)][:1]
            return bool(found)

        with self._cond:
            self._cond.wait_for(seen, timeout)
        return found[0] if found else None


@pytest.fixture
def listen() -> Iterator[Callable[[str, Person], Listener]]:
    """``listen(url, person)``: a connected :class:`Listener`; all closed after the test."""
    opened: list[Listener] = []

    def connect(url: str, person: Person) -> Listener:
        listener = Listener(f"{person.username}@{url}")
        opened.append(listener)
        return listener.connect(url, person)

    yield connect
    for listener in opened:
        listener.disconnect()


# ---------------------------------------------------------------- the embedded default


@dataclass
class LiveServer:
    url: str
    logs: list[Path]
    people: dict[str, Person] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)

    def log_tail(self, chars: int = 3000) -> str:
        return "\n".join(
            f"----- {p.name} -----\n{p.read_text(errors='replace')[-chars:]}" for p in self.logs if p.exists()
        )


def _office(env: dict[str, str], *args: str, log) -> None:
    subprocess.run(
        [sys.executable, "-m", "office", *args],
        cwd=ROOT,
        env=env,
        check=True,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        timeout=120,
    )


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``python -m office serve`` (SQLite, threading Socket.IO, no Redis) with the demo data."""
    instance = tmp_path_factory.mktemp("push-embedded")
    log_path = instance / "server.log"
    env = _clean_env()
    env.update(
        OFFICE_INSTANCE=str(instance),
        OFFICE_ENV="development",
        OFFICE_LOGIN_RATE_LIMIT="1000 per minute",
        PYTHONUNBUFFERED="1",
    )
    port = _free_port()
    server = LiveServer(url=f"http://127.0.0.1:{port}", logs=[log_path])
    with open(log_path, "w+b") as log:
        try:
            _office(env, "init", "--admin-password", ADMIN_PASSWORD, log=log)
            _office(env, "demo", "--password", DEMO_PASSWORD, log=log)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            log.flush()
            pytest.fail(f"embedded instance setup failed ({exc}):\n{server.log_tail()}")
        proc = subprocess.Popen(
            [sys.executable, "-m", "office", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + SERVER_START_TIMEOUT
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"embedded server exited ({proc.returncode}):\n{server.log_tail()}")
                with suppress(requests.ConnectionError):
                    if requests.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    pytest.fail(f"embedded server: no /healthz within {SERVER_START_TIMEOUT:.0f} s")
                time.sleep(0.1)
            yield server
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


# ---------------------------------------------------------------- the scale-out pair


def _pair_settings() -> tuple[str, str]:
    pg_url = os.environ.get("SCALEOUT_PG_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
    # Its own Redis database: rooms are named user:<id>, and another pair on the same
    # database (scripts/scaleout-check.sh uses 5) would deliver its pushes to our clients.
    redis_url = os.environ.get("SCALEOUT_PUSH_REDIS_URL") or "redis://127.0.0.1:6379/6"
    return pg_url, redis_url


class ScaleoutPair:
    """``scripts/scaleout-check.sh --hold``: launched, then awaited (so that the pair can start
    while other tests run), then stopped by closing its standard input."""

    def __init__(self, pg_url: str, redis_url: str, err_path: Path) -> None:
        env = _clean_env()
        env.update(
            PYTHON=sys.executable,
            SCALEOUT_PG_URL=pg_url,
            SCALEOUT_REDIS_URL=redis_url,
            SCALEOUT_TIMEOUT="60",
            OFFICE_LOGIN_RATE_LIMIT="1000 per minute",  # passed on to the instances
        )
        self.err_path = err_path
        self.out: list[str] = []
        self.server: LiveServer | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._started = time.monotonic()
        with open(err_path, "w") as err:
            self.proc = subprocess.Popen(
                ["bash", str(SCALEOUT_SCRIPT), "--hold"],
                cwd=ROOT,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def report(self) -> str:
        return "".join(self.out) + "\n" + self.err_path.read_text(errors="replace")[-6000:]

    def ready(self) -> LiveServer:
        """Wait for both instances, then create and sign in the people (once)."""
        if self.server is not None:
            return self.server
        deadline = self._started + PAIR_START_TIMEOUT
        hold = None
        while hold is None:
            try:
                line = self._lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(
                    f"scaleout-check.sh --hold: not ready in {PAIR_START_TIMEOUT:.0f} s\n{self.report()}"
                )
            if line is None:
                pytest.fail(f"scaleout-check.sh --hold exited ({self.proc.wait()}):\n{self.report()}")
            self.out.append(line)
            hold = re.search(r"HOLD url_a=(\S+) url_b=(\S+) work=(\S+)", line)
        work = Path(hold.group(3))
        server = LiveServer(
            url=hold.group(1),
            urls={"A": hold.group(1), "B": hold.group(2)},
            logs=[work / "a.log", work / "b.log"],
        )
        _create_people(work / "cli.env", server)
        self.server = server
        return server

    def stop(self) -> str | None:
        """Stop both servers and drop the database; a description of what went wrong, if any."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        with suppress(BrokenPipeError):
            self.proc.stdin.close()  # the script's EXIT trap does the rest
        try:
            rc = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.terminate()  # also runs the EXIT trap
            rc = self.proc.wait(timeout=30)
        self._reader.join(timeout=5)
        self.proc.stdout.close()
        while not self._lines.empty():
            self.out.append(self._lines.get_nowait() or "")
        tail = "".join(self.out)
        if rc != 0 or "scaleout: OK" not in tail or "could not drop database" in tail:
            return f"scale-out pair shutdown failed (exit {rc}):\n{self.report()}"
        return None


@pytest.fixture(scope="module")
def scaleout_launch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScaleoutPair | None]:
    """Start the pair without waiting for it (None when PostgreSQL or Redis is unreachable).
    A module that wants the pair early (it takes 10-20 s) requests this first."""
    pg_url, redis_url = _pair_settings()
    if not (_reachable(pg_url, 5432) and _reachable(redis_url, 6379)):
        yield None
        return
    pair = ScaleoutPair(pg_url, redis_url, tmp_path_factory.mktemp("push-scaleout") / "scaleout-check.err")
    try:
        yield pair
    finally:
        problem = pair.stop()
    # A pair that never became ready has already failed its tests with this report.
    assert problem is None or pair.server is None, problem


@pytest.fixture(scope="module")
def scaleout_pair(scaleout_launch: ScaleoutPair | None) -> LiveServer:
    """Processes A and B (``urls["A"]``, ``urls["B"]``; ``url`` is A) on one fresh PostgreSQL
    database and Redis; ``people`` holds pusha, pushb and pushc, signed in on A."""
    pg_url, redis_url = _pair_settings()
    require(
        scaleout_launch is not None,
        f"PostgreSQL ({pg_url}) or Redis ({redis_url}) not reachable: scale-out push tests skipped",
    )
    assert scaleout_launch is not None
    return scaleout_launch.ready()


def _create_people(cli_env: Path, pair: LiveServer) -> None:
    """``office create-user`` for the pair's people (in parallel), then sign them in on A."""
    env = _clean_env()
    env.update(line.split("=", 1) for line in cli_env.read_text().splitlines() if "=" in line)
    options = ["--password", PAIR_PASSWORD, "--unit", "示政", "--title", "科员", "--role", "staff"]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "office", "create-user", "--username", username, "--name", name, *options],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for username, name in PAIR_PEOPLE
    ]
    failures = []
    for (username, _), proc in zip(PAIR_PEOPLE, procs, strict=True):
        output, _ = proc.communicate(timeout=60)
        if proc.returncode != 0:
            failures.append(f"create-user {username} (exit {proc.returncode}): {output[-1000:]}")
    assert not failures, "\n".join(failures)
    for username, _ in PAIR_PEOPLE:
        pair.people[username] = sign_in(pair.urls["A"], username, PAIR_PASSWORD)
