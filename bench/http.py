"""HTTP benchmark: GET /api/v1/me against a bare Flask JSON endpoint, same server, same run.

    .venv/bin/python bench/http.py            # or: make bench
    .venv/bin/python bench/http.py --workers 1 --connections 64 --duration 10 --rounds 3

Creates a temporary PostgreSQL database, runs `office init` and `office create-user` against
it, gets a bearer token through the API, and measures under the identical gunicorn command
(`gunicorn -k gevent -w N -b 127.0.0.1:PORT --no-control-socket MODULE:app`, no access log,
run from the repository root):

  * office  -- wsgi:app, GET /api/v1/me with `Authorization: Bearer <token>`;
  * bare    -- bench.bare_app:app, GET /api/v1/me returning a dict of the same shape and size.

Load: wrk (`--latency`, a Lua `done()` hook reports exact percentiles) after a warm-up; if
wrk is missing it is installed with apt-get when running as root, else a slower asyncio load
generator is used (flagged in the output). Rounds alternate office/bare; each figure is the
median over the rounds (this VM is noisy: runs of one server vary up to 2x). Only one server
runs at a time. All traffic stays on 127.0.0.1. Results go to bench/results/http.json. The
servers are stopped and the database dropped at the end.

Default 2 gevent workers for both apps: on this 2-core machine that gives the office app its
best figure (like the deployment: two 1-worker processes behind nginx).

Targets (the issue): office >= 0.35 x bare requests/s, and >= 1,000 requests/s.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is bench/http.py: run as a script, its folder comes first on sys.path and would
# shadow the standard library's `http` package (used by requests, urllib, ...). Drop it.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    del sys.path[0]
if str(Path(__file__).resolve().parent.parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import base64
import json
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from typing import Any

import requests

from bench.common import Server, log, office_cli, reachable, temp_database

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "http.json"
PATH = "/api/v1/me"
USERNAME = "bench"
PASSWORD = "Bench-2026-pass"
TARGET_RATIO = 0.35
TARGET_RPS = 1000.0

WRK_LUA = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "mean_us": %.1f, "errors": {"connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d}}\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def ensure_wrk(allow_install: bool) -> str | None:
    wrk = shutil.which("wrk")
    if wrk or not allow_install:
        return wrk
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log("wrk not found: apt-get install -y wrk")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        cmd = ["apt-get", "install", "-y", "-qq", "wrk"]
        if subprocess.run(cmd, env=env, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
            subprocess.run(cmd, env=env, capture_output=True)
    return shutil.which("wrk")


def run_wrk(
    wrk: str, url: str, headers: dict[str, str], args: argparse.Namespace, lua: Path
) -> dict[str, Any]:
    hdr: list[str] = []
    for k, v in headers.items():
        hdr += ["-H", f"{k}: {v}"]
    base = [wrk, "-t", str(args.threads), "-c", str(args.connections), "--timeout", "5s", *hdr]
    if args.warmup > 0:
        subprocess.run([*base, "-d", f"{args.warmup}s", url], capture_output=True, check=True)
    proc = subprocess.run(
        [*base, "-d", f"{args.duration}s", "--latency", "-s", str(lua), url],
        capture_output=True,
        text=True,
        check=True,
        timeout=args.duration + 60,
    )
    raw = json.loads(proc.stdout.strip().splitlines()[-1])
    seconds = raw["duration_us"] / 1e6
    timeouts = raw["errors"]["timeout"]
    errors = sum(raw["errors"].values()) - timeouts
    return {
        "rps": raw["requests"] / seconds,
        "requests": raw["requests"],
        "seconds": seconds,
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "mean_ms": raw["mean_us"] / 1000,
        "errors": raw["errors"],
        "error_count": errors,
        "timeouts": timeouts,
        "bytes_per_response": raw["bytes"] / max(raw["requests"], 1),
    }


async def _py_load(host: str, port: int, request: bytes, connections: int, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - t0)
                if not head.startswith(b"HTTP/1.1 200"):
                    errors += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p / 100))] * 1000

    return {
        "rps": len(latencies) / elapsed,
        "requests": len(latencies),
        "seconds": elapsed,
        "p50_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
        "max_ms": latencies[-1] * 1000,
        "mean_ms": statistics.fmean(latencies) * 1000,
        "errors": {"status": errors},
        "error_count": errors,
        "timeouts": 0,
    }


def run_python_load(url: str, headers: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    host_port = url.split("//", 1)[1]
    host, port = host_port.split(":")
    lines = [f"GET {PATH} HTTP/1.1", f"Host: {host_port}", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    request = "\r\n".join(lines).encode()
    if args.warmup > 0:
        asyncio.run(_py_load(host, int(port), request, args.connections, args.warmup))
    return asyncio.run(_py_load(host, int(port), request, args.connections, args.duration))


# ---------------------------------------------------------------- main


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Median of each figure over the rounds; errors and timeouts summed."""
    out: dict[str, Any] = {
        k: statistics.median(r[k] for r in results)
        for k in ("rps", "p50_ms", "p90_ms", "p99_ms", "max_ms", "mean_ms")
    }
    out["error_count"] = sum(r["error_count"] for r in results)
    out["timeouts"] = sum(r["timeouts"] for r in results)
    out["rps_per_round"] = [round(r["rps"], 1) for r in results]
    out["p99_ms_per_round"] = [round(r["p99_ms"], 2) for r in results]
    return out


def measure(
    label: str, server: Server, headers: dict[str, str], wrk: str | None, args, lua: Path
) -> dict[str, Any]:
    url = server.url + PATH
    result = run_wrk(wrk, url, headers, args, lua) if wrk else run_python_load(server.url, headers, args)
    log(
        f"{label:6s} {result['rps']:9.0f} req/s   p99 {result['p99_ms']:7.2f} ms   "
        f"p50 {result['p50_ms']:6.2f} ms   errors {result['error_count']}   >5s {result['timeouts']}"
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10, help="measured seconds per endpoint and round")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds before each measurement")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers, the same for both apps")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the median round counts")
    parser.add_argument(
        "--pg-url", default=os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/6"),
        help="REDIS_URL for the office app (scale-out mode); empty for none",
    )
    parser.add_argument("--no-install", action="store_true", help="do not apt-get install wrk when missing")
    parser.add_argument("--python-load", action="store_true", help="use the asyncio load generator, not wrk")
    parser.add_argument(
        "--office-app",
        default="wsgi:app",
        help="WSGI app to measure as 'office' (e.g. a patched variant on PYTHONPATH)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    wrk = None if args.python_load else ensure_wrk(not args.no_install)
    generator = "wrk" if wrk else "python-asyncio"
    if not wrk:
        log("wrk unavailable: using the asyncio load generator (it saturates first; lower numbers)")

    redis_url = args.redis_url
    if redis_url and not reachable(redis_url, 6379):
        log(f"Redis at {redis_url} not reachable: running without REDIS_URL")
        redis_url = ""

    tmp = Path(tempfile.mkdtemp(prefix="office-bench-"))
    servers: list[Server] = []
    try:
        with temp_database(args.pg_url) as database_url:
            env = {
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("OFFICE_", "GUNICORN_"))
                and k not in ("DATABASE_URL", "REDIS_URL", "SOCKETIO_ASYNC_MODE")
            }
            env.update(
                DATABASE_URL=database_url,
                OFFICE_INSTANCE=str(tmp / "instance"),
                SECRET_KEY=secrets.token_urlsafe(48),
                OFFICE_MASTER_KEY=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
                OFFICE_ENV="production",
            )
            if redis_url:
                env["REDIS_URL"] = redis_url
            admin_password = "Admin-" + secrets.token_urlsafe(9) + "9"
            office_cli(env, "init", "--admin-password", admin_password)
            office_cli(
                env, "create-user", "--username", USERNAME, "--name", "压测用户", "--password", PASSWORD,
                "--unit", "示政", "--title", "科员", "--role", "staff",
            )  # fmt: skip
            log("office init + create-user done")

            lua = tmp / "report.lua"
            lua.write_text(WRK_LUA)
            bare_env = {k: v for k, v in env.items() if k not in ("DATABASE_URL", "REDIS_URL")}
            token = None
            rounds: list[dict[str, dict[str, Any]]] = []
            sizes: dict[str, int] = {}
            for n in range(args.rounds):
                this: dict[str, dict[str, Any]] = {}
                for label in ("office", "bare"):
                    module = args.office_app if label == "office" else "bench.bare_app:app"
                    server = Server(
                        label, module, env if label == "office" else bare_env, tmp, workers=args.workers
                    )
                    servers.append(server)
                    try:
                        if label == "office":
                            server.wait("/readyz")
                            if token is None:
                                resp = requests.post(
                                    server.url + "/api/v1/auth/token",
                                    json={"username": USERNAME, "password": PASSWORD},
                                    timeout=30,
                                )
                                resp.raise_for_status()
                                token = resp.json()["token"]
                            headers = {"Authorization": f"Bearer {token}"}
                        else:
                            server.wait(PATH)
                            headers = {}
                        check = requests.get(server.url + PATH, headers=headers, timeout=10)
                        if check.status_code != 200:
                            raise RuntimeError(
                                f"{label}: GET {PATH} -> {check.status_code} {check.text[:300]}"
                            )
                        sizes[label] = len(check.content)
                        this[label] = measure(f"{label}#{n + 1}", server, headers, wrk, args, lua)
                        this[label]["worker_pids"] = server.worker_pids()
                    finally:
                        server.stop()
                rounds.append(this)
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    # Per endpoint, the median over the rounds of each figure (errors: summed).
    office, bare = (summarise([r[label] for r in rounds]) for label in ("office", "bare"))
    ratio = office["rps"] / bare["rps"]
    ok_ratio = ratio >= TARGET_RATIO
    ok_rps = office["rps"] >= TARGET_RPS
    errors = office["error_count"] + bare["error_count"]

    print()
    print(
        f"GET {PATH}, gunicorn -k gevent -w {args.workers}, {generator} -t {args.threads} "
        f"-c {args.connections}, {args.duration} s after {args.warmup} s warm-up, "
        f"{args.rounds} round(s), {os.cpu_count()} CPUs"
    )
    print(
        f"{'endpoint':34s} {'req/s':>9s} {'p50 ms':>8s} {'p99 ms':>8s} {'errors':>7s} "
        f"{'>5s':>6s} {'body B':>7s}"
    )
    for label, r, what in (
        ("office", office, "office (PostgreSQL, bearer token)"),
        ("bare", bare, "bare Flask JSON"),
    ):
        print(
            f"{what:34s} {r['rps']:9.0f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} "
            f"{r['error_count']:7d} {r['timeouts']:6d} {sizes[label]:7d}"
        )
    print(f"ratio office/bare: {ratio:.3f}  (target >= {TARGET_RATIO}: {'PASS' if ok_ratio else 'FAIL'})")
    print(f"office req/s: {office['rps']:.0f}  (target >= {TARGET_RPS:.0f}: {'PASS' if ok_rps else 'FAIL'})")
    if errors:
        print(f"WARNING: {errors} socket errors or non-2xx responses during the measurement")
    timeouts = office["timeouts"] + bare["timeouts"]
    if timeouts:
        print(f"note: {timeouts} requests took longer than wrk's 5 s timeout (counted as errors by wrk)")

    report = {
        "benchmark": "http",
        "endpoint": PATH,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "server": f"gunicorn -k gevent -w {args.workers} (identical for both apps)",
        "office_app": args.office_app,
        "database": "PostgreSQL (temporary database)",
        "redis": bool(redis_url),
        "load_generator": generator,
        "settings": {
            k: getattr(args, k) for k in ("duration", "warmup", "connections", "threads", "workers", "rounds")
        },
        "office": office,
        "bare": bare,
        "response_bytes": sizes,
        "ratio": ratio,
        "targets": {"ratio": TARGET_RATIO, "rps": TARGET_RPS, "ratio_ok": ok_ratio, "rps_ok": ok_rps},
        "rounds": rounds,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"results: {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0 if (ok_ratio and ok_rps and not errors) else 1


if __name__ == "__main__":
    sys.exit(main())
