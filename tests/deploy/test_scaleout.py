"""Scale-out: two gunicorn/gevent instances on one PostgreSQL + Redis (scripts/scaleout-check.sh).

The script starts real server processes through docker/entrypoint.sh, so this is the host
stand-in for docker/compose.yaml. It creates and drops its own database.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "scaleout-check.sh"


def _reachable(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError:
        return False
    return True


@pytest.mark.postgres
@pytest.mark.slow
def test_two_instances_share_database_redis_and_keys():
    if not (_reachable("127.0.0.1", 5432) and _reachable("127.0.0.1", 6379)):
        reason = "PostgreSQL/Redis not reachable: scale-out check skipped"
        if os.environ.get("OFFICE_REQUIRE_ALL") == "1":
            pytest.fail(f"OFFICE_REQUIRE_ALL=1 and {reason}")
        pytest.skip(reason)
    env = {**os.environ, "PYTHON": sys.executable}
    for name in (
        "DATABASE_URL",
        "REDIS_URL",
        "OFFICE_INSTANCE",
        "SECRET_KEY",
        "OFFICE_MASTER_KEY",
        "PORT",
        "BIND",
    ):
        env.pop(name, None)  # the script sets its own
    proc = subprocess.run(
        ["bash", str(SCRIPT)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"scripts/scaleout-check.sh failed (exit {proc.returncode}):\n{output}"
    assert "FAIL:" not in proc.stdout, output
    assert ", 0 failed" in proc.stdout, output
