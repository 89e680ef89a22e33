#!/usr/bin/env bash
# Scale-out check: the CI stand-in for docker/compose.yaml, on the host, without Docker.
#
# Creates a fresh PostgreSQL database, starts docker/entrypoint.sh TWICE at the same moment
# (two gunicorn/gevent processes on two free ports, sharing the database, Redis and the
# SECRET_KEY/OFFICE_MASTER_KEY, each with its own instance folder), waits for /readyz on both,
# then runs scripts/scaleout_check.py (tokens, sessions and Socket.IO across the instances,
# pushes through the Redis message queue -- including a to-do created through A reaching the
# person's connections on both -- refusals without credentials, init ran once).
# When nginx is installed, docker/nginx.conf is run in front of both instances as well and
# the API and Socket.IO (WebSocket, and long-polling + upgrade, which needs the sticky
# sessions) are checked through it.
# Finally stops both servers and drops the database. Exit status 0 only if every check passed.
#
# With --hold (tests/deploy/conftest.py) it runs no checks and no nginx: once both answer
# /readyz it prints one line
#   scaleout: HOLD url_a=http://127.0.0.1:PORT url_b=http://127.0.0.1:PORT work=DIR
# where DIR holds a.log, b.log and cli.env (mode 0600: the DATABASE_URL, keys and instance
# folder for `python -m office ...` calls against this pair, e.g. create-user), and keeps the
# pair running until its standard input closes or it gets SIGTERM/SIGINT, then stops both
# servers and drops the database as usual.
#
# Needs: PostgreSQL (trust or password in the URL) and Redis; the venv (.venv) set up.
#   scripts/scaleout-check.sh [--hold]
# Settings (environment):
#   SCALEOUT_PG_URL     maintenance DB URL    [postgresql://postgres@127.0.0.1:5432/postgres]
#   SCALEOUT_REDIS_URL  Redis URL incl. db    [redis://127.0.0.1:6379/5]
#   SCALEOUT_TIMEOUT    seconds to wait for /readyz on both instances [60]
#   SCALEOUT_VERBOSE=1  show the end of both instance logs even when everything passed
#   SCALEOUT_NGINX_CONF nginx config to test in front of both [docker/nginx.conf]
#   PYTHON              interpreter of the venv [.venv/bin/python]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

HOLD=0
case "${1:-}" in
  "") ;;
  --hold) HOLD=1 ;;
  *) printf 'usage: %s [--hold]\n' "$0" >&2; exit 2 ;;
esac

PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
PG_URL=${SCALEOUT_PG_URL:-postgresql://postgres@127.0.0.1:5432/postgres}
REDIS=${SCALEOUT_REDIS_URL:-redis://127.0.0.1:6379/5}
TIMEOUT=${SCALEOUT_TIMEOUT:-60}

say() { printf 'scaleout: %s\n' "$*"; }
die() { printf 'scaleout: FAIL: %s\n' "$*" >&2; exit 1; }

[ -x "$PYTHON" ] || die "no Python at $PYTHON (create the venv first: make setup)"
command -v setsid >/dev/null || die "setsid (util-linux) is required"
# The entrypoint runs `python` and `gunicorn` from PATH, as in the image.
VENV_BIN=$(dirname "$PYTHON")
export PATH="$VENV_BIN:$PATH"
[ -x "$VENV_BIN/gunicorn" ] || die "gunicorn not found next to $PYTHON"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/office-scaleout.XXXXXX")
DB_NAME="office_scaleout_$(date +%s)_$$"
DB_CREATED=0
PIDS=()

# pg <sql>: run one statement on the maintenance database (autocommit).
pg() {
  "$PYTHON" - "$PG_URL" "$1" <<'PY'
import sys

import psycopg

with psycopg.connect(sys.argv[1], autocommit=True, connect_timeout=5) as conn:
    conn.execute(sys.argv[2])
PY
}

stop_servers() {
  local pid i
  for pid in "${PIDS[@]}"; do
    # Each server runs in its own session/process group (setsid): signal the whole group.
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for ((i = 0; i < 100; i++)); do
      kill -0 -- "-$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_servers
  if [ "$rc" -ne 0 ] || [ "${SCALEOUT_VERBOSE:-0}" = 1 ]; then
    for name in a b nginx; do
      if [ -s "$WORK/$name.log" ]; then
        printf '\n----- last lines of instance %s log -----\n' "$name" >&2
        tail -n 40 "$WORK/$name.log" >&2
      fi
    done
  fi
  if [ "$DB_CREATED" = 1 ]; then
    pg "DROP DATABASE IF EXISTS \"$DB_NAME\" WITH (FORCE)" || say "warning: could not drop database $DB_NAME"
  fi
  rm -rf "$WORK"
  if [ "$rc" -eq 0 ]; then say "OK"; else say "FAILED (exit $rc)"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

SECONDS=0

# ---------------------------------------------------------------- database, keys, environment
pg "CREATE DATABASE \"$DB_NAME\"" || die "cannot create a database via $PG_URL (is PostgreSQL running?)"
DB_CREATED=1
say "database $DB_NAME created"

# Shared secrets, generated for this run only (mode 0600 in the temp dir; never committed).
(
  umask 077
  "$PYTHON" - "$WORK/keys.env" <<'PY'
import base64
import secrets
import sys

with open(sys.argv[1], "w") as fh:
    fh.write(f"SECRET_KEY={secrets.token_urlsafe(48)}\n")
    fh.write(f"OFFICE_MASTER_KEY={base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()}\n")
PY
)
set -a
# shellcheck disable=SC1091  # generated just above
. "$WORK/keys.env"
set +a

read -r PORT_A PORT_B PORT_N < <("$PYTHON" - <<'PY'
import socket

socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
for s in socks:
    s.close()
PY
)

export DATABASE_URL="${PG_URL%/*}/$DB_NAME"
export REDIS_URL="$REDIS"
export OFFICE_ENV=production
OFFICE_ADMIN_PASSWORD="Admin-$("$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(12))')9"
export OFFICE_ADMIN_PASSWORD
export OFFICE_LOAD_DEMO=0
export GUNICORN_CMD_ARGS="--graceful-timeout 5"
# For the CLI calls of the check (create-user); each server gets its own folder below.
export OFFICE_INSTANCE="$WORK/instance-cli"
unset SOCKETIO_ASYNC_MODE PORT BIND

# ---------------------------------------------------------------- two instances, same moment
start_instance() {  # name port
  local name=$1 port=$2
  OFFICE_INSTANCE="$WORK/instance-$name" PORT=$port BIND="127.0.0.1:$port" \
    setsid docker/entrypoint.sh >"$WORK/$name.log" 2>&1 </dev/null &
  PIDS+=("$!")
}
start_instance a "$PORT_A"
start_instance b "$PORT_B"
say "started docker/entrypoint.sh twice: A on 127.0.0.1:$PORT_A (pid ${PIDS[0]}), B on 127.0.0.1:$PORT_B (pid ${PIDS[1]})"

# ---------------------------------------------------------------- nginx in front (optional)
# docker/nginx.conf itself, with the compose service names replaced by the two local ports.
VIA=()
if [ "$HOLD" = 1 ]; then
  : # the held pair is used directly
elif command -v nginx >/dev/null; then
  mkdir -p "$WORK/nginx/logs"
  sed -e "s|server app1:5000|server 127.0.0.1:$PORT_A|" \
    -e "s|server app2:5000|server 127.0.0.1:$PORT_B|" \
    -e "s|listen 80;|listen 127.0.0.1:$PORT_N;|" \
    -e "s|^pid .*;|pid $WORK/nginx/nginx.pid;|" \
    "${SCALEOUT_NGINX_CONF:-docker/nginx.conf}" >"$WORK/nginx/nginx.conf"
  for want in "127.0.0.1:$PORT_A" "127.0.0.1:$PORT_B" "listen 127.0.0.1:$PORT_N" "$WORK/nginx/nginx.pid"; do
    grep -qF "$want" "$WORK/nginx/nginx.conf" || die "docker/nginx.conf changed shape: cannot point it at the local instances ($want)"
  done
  nginx -q -t -e stderr -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" || die "docker/nginx.conf fails nginx -t"
  setsid nginx -e stderr -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' \
    >"$WORK/nginx.log" 2>&1 </dev/null &
  PIDS+=("$!")
  VIA=(--via "http://127.0.0.1:$PORT_N")
  say "nginx (${SCALEOUT_NGINX_CONF:-docker/nginx.conf}) in front of both on 127.0.0.1:$PORT_N (pid ${PIDS[2]})"
else
  say "nginx not installed: the checks through docker/nginx.conf are skipped (apt-get install nginx-light)"
fi

# ---------------------------------------------------------------- held for tests/deploy
if [ "$HOLD" = 1 ]; then
  "$PYTHON" scripts/scaleout_check.py --ready-only --wait "$TIMEOUT" --redis-url "$REDIS_URL" \
    --pids "$(IFS=,; echo "${PIDS[*]}")" \
    "http://127.0.0.1:$PORT_A" "http://127.0.0.1:$PORT_B" >&2 \
    || die "the instances did not become ready"
  (
    umask 077
    for name in DATABASE_URL REDIS_URL OFFICE_ENV OFFICE_INSTANCE SECRET_KEY OFFICE_MASTER_KEY; do
      printf '%s=%s\n' "$name" "${!name}"
    done >"$WORK/cli.env"
  )
  say "HOLD url_a=http://127.0.0.1:$PORT_A url_b=http://127.0.0.1:$PORT_B work=$WORK"
  # Until the caller closes our standard input (or signals us); then the EXIT trap cleans up.
  while IFS= read -r _; do :; done
  say "stdin closed after ${SECONDS} s: stopping"
  exit 0
fi

# ---------------------------------------------------------------- checks
"$PYTHON" scripts/scaleout_check.py \
  --wait "$TIMEOUT" \
  --pids "$(IFS=,; echo "${PIDS[*]}")" \
  --logs "$WORK/a.log,$WORK/b.log" \
  --redis-url "$REDIS_URL" \
  ${VIA[@]+"${VIA[@]}"} \
  "http://127.0.0.1:$PORT_A" "http://127.0.0.1:$PORT_B"

say "all checks passed in ${SECONDS} s"
