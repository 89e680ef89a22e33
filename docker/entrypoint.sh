#!/usr/bin/env bash
# 政务协同办公 container entrypoint (also used on a plain host by scripts/scaleout-check.sh).
#
#   1. wait for the database (up to DB_WAIT_SECONDS, default 60);
#   2. `python -m office init` (Alembic upgrade to head + first admin, password from
#      OFFICE_ADMIN_PASSWORD if set) and, when OFFICE_LOAD_DEMO=1, `python -m office demo`;
#   3. exec gunicorn (gevent, one worker: Socket.IO needs sticky sessions, so scale out with
#      more processes/containers behind nginx, never with -w > 1).
#
# Several instances may start at the same moment against one PostgreSQL database: step 2 runs
# while holding a PostgreSQL session-level advisory lock taken on its own connection, so the
# migrations and the first admin are created exactly once and the others wait, then find
# everything done (init is idempotent). The lock dies with the holding process, so a crashed
# start never leaves it behind. On SQLite (no DATABASE_URL) an flock on the instance folder
# plays the same role.
#
# On the host: run from anywhere with the venv's python and gunicorn first on PATH, e.g.
#   PATH="$PWD/.venv/bin:$PATH" DATABASE_URL=postgresql://... PORT=5001 docker/entrypoint.sh
# Arguments, if any, replace the gunicorn command (e.g. `docker run IMAGE python -m office shell`).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

: "${DB_WAIT_SECONDS:=60}"
: "${INIT_LOCK_TIMEOUT_SECONDS:=300}"
export DB_WAIT_SECONDS INIT_LOCK_TIMEOUT_SECONDS

log() { printf '[entrypoint %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

log "waiting for the database, then init (OFFICE_LOAD_DEMO=${OFFICE_LOAD_DEMO:-0}) under the init lock"
python - <<'PY'
"""Wait for the database, then run `office init` (and `office demo`) holding the init lock."""

import fcntl
import os
import subprocess
import sys
import time

from sqlalchemy import create_engine, text

from office.config import load_config

# pg_advisory_lock key: b"officeIN" as a signed 64-bit integer. Any constant works as long
# as every instance uses the same one.
LOCK_KEY = int.from_bytes(b"officeIN", "big", signed=True)

cfg = load_config()  # same URL rewriting as the app (postgresql:// -> postgresql+psycopg://)
url = cfg["SQLALCHEMY_DATABASE_URI"]
wait = float(os.environ["DB_WAIT_SECONDS"])
lock_timeout = int(os.environ["INIT_LOCK_TIMEOUT_SECONDS"])
engine = create_engine(url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
safe_url = engine.url.render_as_string(hide_password=True)


def log(msg: str) -> None:
    print(f"[entrypoint] {msg}", file=sys.stderr, flush=True)


deadline = time.monotonic() + wait
while True:
    try:
        conn = engine.connect()
        conn.execute(text("SELECT 1"))
        break
    except Exception as exc:  # OperationalError while PostgreSQL is still starting, DNS, ...
        if time.monotonic() >= deadline:
            log(f"database {safe_url} not reachable after {wait:.0f} s: {exc}")
            sys.exit(1)
        log(f"database {safe_url} not ready yet ({type(exc).__name__}); retrying")
        time.sleep(1)
log(f"database {safe_url} is reachable")

lock_file = None
if engine.dialect.name == "postgresql":
    # Session-level lock on this dedicated connection; released by the unlock below or when
    # this process exits, whichever comes first.
    conn.execute(text(f"SET lock_timeout = '{lock_timeout}s'"))
    conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": LOCK_KEY})
else:
    conn.close()
    lock_file = open(os.path.join(cfg["OFFICE_INSTANCE"], ".init.lock"), "w")  # noqa: SIM115
    fcntl.flock(lock_file, fcntl.LOCK_EX)
log("init lock acquired")

steps = [[sys.executable, "-m", "office", "init"]]
if os.environ.get("OFFICE_LOAD_DEMO", "0") == "1":
    steps.append([sys.executable, "-m", "office", "demo"])
try:
    for cmd in steps:
        log("running: " + " ".join(cmd[1:]))
        rc = subprocess.run(cmd, stdin=subprocess.DEVNULL).returncode
        if rc != 0:
            log(f"`{' '.join(cmd[1:])}` failed with exit status {rc}")
            sys.exit(rc)
finally:
    if lock_file is None:
        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
        conn.close()
    else:
        lock_file.close()
    engine.dispose()
log("init lock released")
PY

if [ "$#" -gt 0 ]; then
  exec "$@"
fi

BIND="${BIND:-0.0.0.0:${PORT:-5000}}"
# gunicorn >= 25 opens a control socket at one fixed per-user path ($HOME/.gunicorn/gunicorn.ctl),
# which several instances on one host (or sharing a home) would fight over: off unless a
# per-instance path is given.
if [ -n "${GUNICORN_CONTROL_SOCKET:-}" ]; then
  control=(--control-socket "${GUNICORN_CONTROL_SOCKET}")
else
  control=(--no-control-socket)
fi
log "starting gunicorn (gevent, 1 worker) on ${BIND}"
# Extra options (timeouts, --forwarded-allow-ips, ...) come from GUNICORN_CMD_ARGS, which
# gunicorn reads itself.
exec gunicorn -k gevent -w 1 --worker-connections "${WORKER_CONNECTIONS:-4000}" -b "${BIND}" --access-logfile - "${control[@]}" wsgi:app
