#!/usr/bin/env bash
# Runs the whole suite: lint, then pytest on SQLite, then on PostgreSQL + Redis (scale-out mode).
# A missing service or browser is a clearly reported skip, or a failure when OFFICE_REQUIRE_ALL=1.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
REQUIRE_ALL=${OFFICE_REQUIRE_ALL:-0}
PG_URL=${OFFICE_TEST_PG_URL:-postgresql://postgres@127.0.0.1:5432/postgres}
REDIS_URL_T=${OFFICE_TEST_REDIS_URL:-redis://127.0.0.1:6379/9}
skipped=()
status=0

# Debian's Chromium for the browser tests (installed when missing and we are root).
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "安装 Chromium（浏览器测试需要）..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk) >/tmp/office-apt.log 2>&1 \
    || echo "Chromium 安装失败，见 /tmp/office-apt.log"
fi

# LibreOffice, a CJK font and poppler for the GB/T 9704 layout tests (installed when missing and we are root).
if ! command -v soffice >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "安装 LibreOffice（公文版式测试需要）..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libreoffice-writer-nogui fonts-wqy-zenhei poppler-utils) >/tmp/office-apt-lo.log 2>&1 \
    || echo "LibreOffice 安装失败，见 /tmp/office-apt-lo.log"
fi

echo "== ruff"
$BIN/ruff check . || status=1

reachable() { $BIN/python - "$1" <<'PY'
import socket, sys
from urllib.parse import urlsplit
u = urlsplit(sys.argv[1])
try:
    socket.create_connection((u.hostname, u.port), timeout=2).close()
except OSError:
    sys.exit(1)
PY
}

echo "== pytest: SQLite (embedded default)"
OFFICE_TEST_DATABASE_URL= $BIN/python -m pytest -q -p no:cacheprovider -m "not postgres" "$@" || status=1

if reachable "$PG_URL" && reachable "$REDIS_URL_T"; then
  echo "== pytest: PostgreSQL + Redis (scale-out mode)"
  OFFICE_TEST_DATABASE_URL=$PG_URL OFFICE_TEST_REDIS_URL=$REDIS_URL_T \
    $BIN/python -m pytest -q -p no:cacheprovider -m "not browser" "$@" || status=1
else
  skipped+=("PostgreSQL ($PG_URL) 或 Redis ($REDIS_URL_T) 不可达：跳过 PostgreSQL + Redis 模式的测试")
fi

for s in "${skipped[@]}"; do
  echo "SKIPPED: $s"
  [ "$REQUIRE_ALL" = 1 ] && { echo "OFFICE_REQUIRE_ALL=1: 跳过视为失败"; status=1; }
done
exit $status
