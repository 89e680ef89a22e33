"""Shared pieces of bench/push.py and bench/todos.py: a temporary PostgreSQL database, the
office environment, gunicorn servers, bulk-loaded people and tokens, CPU counters.

(bench/http.py predates this module and keeps its own copies.)
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
#: The one password every bulk-loaded person has (hashed once).
PASSWORD = "Bench-2026-pass"


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reachable(url: str, default_port: int) -> bool:
    from urllib.parse import urlsplit

    u = urlsplit(url)
    try:
        socket.create_connection((u.hostname or "127.0.0.1", u.port or default_port), timeout=2).close()
    except OSError:
        return False
    return True


@contextlib.contextmanager
def temp_database(maintenance_url: str, tag: str = "bench", keep: bool = False) -> Iterator[str]:
    """CREATE a fresh database, yield its URL, DROP it (WITH FORCE) afterwards unless ``keep``."""
    import psycopg

    name = f"office_{tag}_{int(time.time())}_{os.getpid()}"
    with psycopg.connect(maintenance_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    log(f"database {name} created")
    url = maintenance_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        if keep:
            drop = f"""psql -h 127.0.0.1 -U postgres -c 'DROP DATABASE "{name}"'"""
            log(f"database kept: {url}  (drop it: {drop})")
        else:
            with psycopg.connect(maintenance_url, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            log(f"database {name} dropped")


def office_env(database_url: str, instance: Path, redis_url: str | None = None) -> dict[str, str]:
    """The environment of an office process (server, CLI or producer) on ``database_url``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OFFICE_", "GUNICORN_"))
        and k not in ("DATABASE_URL", "REDIS_URL", "SOCKETIO_ASYNC_MODE")
    }
    env.update(
        DATABASE_URL=database_url,
        OFFICE_INSTANCE=str(instance),
        SECRET_KEY=secrets.token_urlsafe(48),
        OFFICE_MASTER_KEY=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        OFFICE_ENV="production",
        PYTHONPATH=str(ROOT),
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def office_cli(env: dict[str, str], *args: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "office", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"office {args[0]} failed:\n{proc.stdout}\n{proc.stderr}")


# ---------------------------------------------------------------- processes


@contextlib.contextmanager
def private_redis(logdir: Path) -> Iterator[str]:
    """A throw-away redis-server on a free loopback port (no persistence), stopped after.

    Redis pub/sub channels are global to a server, not per database number: Flask-SocketIO
    always uses the channel ``flask-socketio``, so on a shared Redis a benchmark's events
    would reach other office servers (and their tests), and theirs ours."""
    import shutil

    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server not found (apt-get install redis-server), or pass --redis-url")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
         "--protected-mode", "yes", "--logfile", str(logdir / "redis.log"), "--dir", str(logdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while not reachable(f"redis://127.0.0.1:{port}", port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start: see {logdir / 'redis.log'}")
            time.sleep(0.05)
        log(f"private redis-server on 127.0.0.1:{port} (pid {proc.pid})")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process so far (its own, not its children's)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine, from /proc/stat."""
    parts = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)
    total = sum(parts[:8])
    return (total - idle) / CLK_TCK, total / CLK_TCK


class Server:
    """One gunicorn (gevent) process group, started and stopped by us."""

    def __init__(
        self, label: str, module: str, env: dict[str, str], logdir: Path, workers: int = 1, extra=()
    ) -> None:
        self.label = label
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        self.cmd = [
            gunicorn, "-k", "gevent", "-w", str(workers), "-b", f"127.0.0.1:{self.port}", *extra,
            "--no-control-socket", "--log-level", "warning", "--graceful-timeout", "3", module,
        ]  # fmt: skip
        self.log_path = logdir / f"{label}.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115  (closed in stop)
        self.proc = subprocess.Popen(
            self.cmd, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait(self, path: str = "/readyz", timeout: float = 60) -> None:
        import requests

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} server exited:\n{self.log_path.read_text()[-2000:]}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(self.url + path, timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{self.label} server not ready within {timeout:.0f} s")

    def worker_pids(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._log.close()


# ---------------------------------------------------------------- statistics


def pct(values: list[float], p: float) -> float | None:
    """The p-th percentile, interpolated between the two nearest ranks; None when empty."""
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


# ---------------------------------------------------------------- bulk people


def token_hash(secret: str) -> str:
    """As office.auth.services._hash: only the SHA-256 of a token is stored."""
    return hashlib.sha256(secret.encode()).hexdigest()


def password_hash() -> str:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from office.auth.passwords import hash_password

    return hash_password(PASSWORD)


@dataclass
class People:
    """What was loaded: ids in load order, each person's unit, and API token secrets."""

    user_ids: list[int]
    unit_of: dict[int, int]
    unit_ids: list[int]
    tokens: dict[int, str] = field(default_factory=dict)


def _copy_rows(cur, sql: str, rows: Iterable[tuple]) -> None:
    with cur.copy(sql) as cp:
        for row in rows:
            cp.write_row(row)


def load_people_pg(
    conn,
    n_people: int,
    unit_sizes: list[int],
    *,
    prefix: str = "b",
    token_for: Iterable[int] = (),
    token_hours: int = 6,
) -> People:
    """Bulk-load ``n_people`` staff members (one shared password hash, one post each with the
    role ``staff``) into ``len(unit_sizes)`` new divisions under the root unit (the first
    ``unit_sizes[0]`` people in the first, and so on; the rest spread over all of them), and
    API tokens for the people at the given load positions. PostgreSQL, COPY; one transaction."""
    now = datetime.now(UTC)
    pw = password_hash()
    cur = conn.cursor()
    root = cur.execute("SELECT id FROM units WHERE parent_id IS NULL ORDER BY id LIMIT 1").fetchone()[0]
    unit_ids = []
    for k in range(len(unit_sizes)):
        uid = cur.execute(
            "INSERT INTO units (parent_id, name, kind, sort_order, path, depth, active, created_at) "
            "VALUES (%s, %s, 'division', %s, '/', 1, true, %s) RETURNING id",
            (root, f"压测{prefix}第{k + 1}处", 100 + k, now),
        ).fetchone()[0]
        cur.execute("UPDATE units SET path = %s WHERE id = %s", (f"/{root}/{uid}/", uid))
        unit_ids.append(uid)
    surnames = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨"
    _copy_rows(
        cur,
        "COPY users (username, name, pinyin, pinyin_initials, password_hash, active, totp_enabled, "
        "must_change_password, failed_logins, created_at, password_changed_at) FROM STDIN",
        (
            (f"{prefix}{i:06d}", f"{surnames[i % 16]}测{i}", "", "", pw, True, False, False, 0, now, now)
            for i in range(n_people)
        ),
    )
    ids = [
        r[0]
        for r in cur.execute(
            "SELECT id FROM users WHERE username LIKE %s ORDER BY username", (f"{prefix}______",)
        )
    ]
    assert len(ids) == n_people, (len(ids), n_people)
    unit_of: dict[int, int] = {}
    pos = 0
    for k, size in enumerate(unit_sizes):
        for uid in ids[pos : pos + size]:
            unit_of[uid] = unit_ids[k]
        pos += size
    for i, uid in enumerate(ids[pos:]):
        unit_of[uid] = unit_ids[i % len(unit_ids)]
    _copy_rows(
        cur,
        "COPY posts (user_id, unit_id, title, is_primary, sort_order) FROM STDIN",
        ((uid, unit_of[uid], "科员", True, 0) for uid in ids),
    )
    cur.execute(
        "INSERT INTO post_roles (post_id, role) SELECT p.id, 'staff' FROM posts p "
        "JOIN users u ON u.id = p.user_id WHERE u.username LIKE %s",
        (f"{prefix}______",),
    )
    people = People(ids, unit_of, unit_ids)
    expires = now + timedelta(hours=token_hours)
    rows = []
    for i in token_for:
        secret = secrets.token_urlsafe(32)
        people.tokens[ids[i]] = secret
        rows.append((ids[i], "api", token_hash(secret), now, expires, now))
    _copy_rows(
        cur,
        "COPY auth_tokens (user_id, kind, token_hash, created_at, expires_at, last_seen_at) FROM STDIN",
        rows,
    )
    conn.commit()
    return people
