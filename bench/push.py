"""Push benchmark: Socket.IO events from commit to receipt, office app against a bare server.

    .venv/bin/python bench/push.py                           # 2 alternating rounds, ~3 min
    .venv/bin/python bench/push.py --rounds 1 --client socketio --profile

The issue's measure: 1,000 connected clients; 5,000 events to single persons and 200
broadcasts to a 200-person unit room (200 x 200 = 40,000 deliveries); latency from commit to
receipt (p50, p99) and lost events (must be 0); in the same run a bare python-socketio server
sending the same payloads to the same clients, as the ceiling; the ratio of server CPU per
delivered message. Targets: p99 <= 100 ms at 4,000 deliveries/s, zero lost, CPU per delivery
<= 2 x the bare server, on the gevent server.

What runs, all on 127.0.0.1 (bench/README.md explains the choices):

  * a private redis-server on a free port (pub/sub channels are server-wide: on a shared Redis
    this run's events would reach other office servers, and theirs ours; --redis-url to use
    another) and a temporary PostgreSQL database: `office init`, then 1,000 staff members
    bulk-loaded with COPY (one shared password hash; 200 in one division, 800 in another) and
    one API token each (AuthToken rows holding the token's SHA-256, as the app issues them);
  * the server, one at a time, under the identical command
    `gunicorn -k gevent -w 1 --worker-connections 2000 ... MODULE`:
      office -- wsgi:app with REDIS_URL (Flask-SocketIO over the Redis message queue);
                connect resolves the token in the database and joins `user:<id>` and
                `unit:<id>` (office/push/sockets.py);
      bare   -- bench.bare_socketio:app: python-socketio alone, tokens checked against a dict,
                the same rooms, the same Redis message queue;
  * 1,000 websocket clients in 2 load processes (asyncio + aiohttp), each recording receipt
    time - commit time on the same clock. --client raw (default): Engine.IO 4 / Socket.IO 5
    frames spoken directly (the server sees the same frames); --client socketio:
    python-socketio's AsyncClient, which costs about twice the CPU per message and so takes
    CPU from the server on this 2-core machine;
  * 4 producer processes sharing the schedule (open loop, evenly spaced, --rate deliveries/s):
      office -- per single event, in an app context with REDIS_URL (as any app process or the
                scheduler does), `notify(user, ...)` + `db.session.commit()`: a Notification
                row is committed, and the after-commit hook (office/push/services.py)
                publishes it through Redis. The payload is stamped with the time the commit
                returned (a session `after_commit` listener inserted before the push hook).
                Per broadcast: `socketio.emit("announcement", ..., to=unit_room(id))` (the
                office has no unit-announcement service yet), stamped at emit.
      bare   -- the same payloads (same keys and sizes) published with
                `socketio.RedisManager(write_only=True).emit`, stamped just before.
  * server CPU: utime + stime of the gunicorn worker (/proc/PID/stat) from just before the
    first event to the last receipt; CPU per delivery = CPU seconds / deliveries received.

Results go to bench/results/push.json; the database is dropped and every process stopped.
Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import queue
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's folder comes first on sys.path, and bench/http.py would shadow
# the standard library's `http` (used by requests, aiohttp, ...): replace it with the root.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    del sys.path[0]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    Server,
    cpu_seconds,
    load_people_pg,
    log,
    machine_cpu,
    office_cli,
    office_env,
    pct,
    private_redis,
    reachable,
    temp_database,
    token_hash,
)

RESULTS = ROOT / "bench" / "results" / "push.json"
TARGET_P99_MS = 100.0
TARGET_RATE = 4000.0
TARGET_CPU_RATIO = 2.0
OFFICE_CHANNEL = "flask-socketio"  # Flask-SocketIO's default; the office app does not set one
GUNICORN_EXTRA = ("--worker-connections", "2000")

# Payload text: a realistic notification (Chinese title and body, a URL).
TITLE = "新待办：关于报送2026年度重点工作推进情况的通知"
BODY = "加急 · 请于本周五前办理"
ANN_TITLE = "通知：本周四下午3时在三楼会议室召开处务会"
ANN_BODY = "请全处同志准时参加，不能参加的请向处长请假。"


# ================================================================ load process (clients)


def clients_main(args: argparse.Namespace) -> int:
    return asyncio.run(_clients(args))


async def _clients(args: argparse.Namespace) -> int:
    import socketio

    entries = json.loads(Path(args.tokens).read_text())[args.first : args.first + args.count]
    events = json.loads(Path(args.schedule).read_text())["events"]
    singles_for: dict[int, set[int]] = {}
    unit_seqs: dict[int, set[int]] = {}
    for seq, _at, kind, target in events:
        (singles_for if kind == "user" else unit_seqs).setdefault(target, set()).add(seq)
    expected = 0
    for e in entries:
        expected += len(singles_for.get(e["user_id"], ()))
        expected += sum(len(unit_seqs.get(u, ())) for u in e["units"])

    lat = {"user": [], "unit": []}
    st = {"received": 0, "dup": 0, "wrong": 0, "foreign": 0, "first": None, "last": None}

    def out(**kw: Any) -> None:
        print(json.dumps(kw), flush=True)

    def make_handler(entry: dict, kind: str, seen: set[int]):
        allowed = (
            singles_for.get(entry["user_id"], set())
            if kind == "user"
            else set().union(*(unit_seqs.get(u, set()) for u in entry["units"]))
        )
        bucket = lat[kind]

        def on_event(data: Any) -> None:
            now = time.time()
            seq = data.get("bench_seq") if isinstance(data, dict) else None
            if seq is None:
                st["foreign"] += 1
                return
            if seq not in allowed:
                st["wrong"] += 1
                return
            if seq in seen:
                st["dup"] += 1
                return
            seen.add(seq)
            bucket.append((now - data["bench_ts"]) * 1000.0)
            st["received"] += 1
            if st["first"] is None:
                st["first"] = now
            st["last"] = now
            if st["received"] == expected:
                out(complete=True, at=now)

        return on_event

    clients: list[Any] = []
    failures: list[str] = []
    sem = asyncio.Semaphore(args.connect_concurrency)

    async def connect_socketio(entry: dict) -> None:
        """python-socketio's AsyncClient (websocket transport): the reference client."""
        sio = socketio.AsyncClient(reconnection=False)
        hello = asyncio.Event()
        seen: set[int] = set()
        sio.on("hello", lambda data: hello.set())
        sio.on("notification", make_handler(entry, "user", seen))
        sio.on("announcement", make_handler(entry, "unit", seen))
        async with sem:
            try:
                await sio.connect(
                    args.url, transports=["websocket"], auth={"token": entry["token"]}, wait_timeout=30
                )
                await asyncio.wait_for(hello.wait(), 30)
            except Exception as exc:  # counted and reported; the run then fails
                failures.append(f"{type(exc).__name__}: {exc}")
                with contextlib.suppress(Exception):
                    await sio.disconnect()
                return
        clients.append(sio)

    class RawClient:
        """The Engine.IO 4 / Socket.IO 5 websocket protocol spoken directly over aiohttp: the
        same frames as AsyncClient, without its per-message task and packet objects, so the
        load generator takes less of the 2 CPUs the server needs."""

        def __init__(self, ws) -> None:
            self.ws = ws
            self.task: asyncio.Task | None = None

        @property
        def connected(self) -> bool:
            return not self.ws.closed

        async def disconnect(self) -> None:
            with contextlib.suppress(Exception):
                await self.ws.send_str("41")
            await self.ws.close()
            if self.task:
                self.task.cancel()

    http = None

    async def connect_raw(entry: dict) -> None:
        nonlocal http
        import aiohttp

        if http is None:
            http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        seen: set[int] = set()
        on = {
            "notification": make_handler(entry, "user", seen),
            "announcement": make_handler(entry, "unit", seen),
        }
        url = args.url.replace("http://", "ws://", 1) + "/socket.io/?EIO=4&transport=websocket"
        ws = None
        async with sem:
            try:
                ws = await http.ws_connect(url, autoping=False, max_msg_size=0, timeout=30)
                opened = await asyncio.wait_for(ws.receive_str(), 30)
                if not opened.startswith("0"):
                    raise RuntimeError(f"unexpected open packet {opened[:40]!r}")
                await ws.send_str("40" + json.dumps({"token": entry["token"]}))
                while True:  # the namespace CONNECT answer, then the server's hello
                    m = await asyncio.wait_for(ws.receive_str(), 30)
                    if m.startswith("44"):
                        raise RuntimeError(f"connection refused: {m[2:80]}")
                    if m == "2":
                        await ws.send_str("3")
                    elif m.startswith("42") and json.loads(m[2:])[0] == "hello":
                        break
            except Exception as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
                if ws is not None:
                    with contextlib.suppress(Exception):
                        await ws.close()
                return
        client = RawClient(ws)

        async def read() -> None:
            loads = json.loads
            async for msg in ws:
                d = msg.data
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                if d.startswith("42"):
                    ev = loads(d[2:])
                    handler = on.get(ev[0])
                    if handler is not None:
                        handler(ev[1] if len(ev) > 1 else None)
                elif d == "2":
                    await ws.send_str("3")

        client.task = asyncio.create_task(read())
        clients.append(client)

    connect_one = connect_raw if args.client == "raw" else connect_socketio
    t0 = time.monotonic()
    await asyncio.gather(*(connect_one(e) for e in entries))
    out(
        connected=len(clients),
        failed=len(failures),
        errors=failures[:5],
        seconds=round(time.monotonic() - t0, 2),
        expected=expected,
    )
    usage0 = os.times()

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def progress() -> None:
        while True:
            await asyncio.sleep(1.0)
            out(received=st["received"])

    ticker = asyncio.create_task(progress())
    while True:
        line = await reader.readline()
        if not line or line.strip() == b"stop":
            break
    ticker.cancel()
    usage = os.times()
    result = {
        "expected": expected,
        "connected": len(clients),
        "connect_failed": len(failures),
        "connect_errors": failures[:5],
        "connected_lost": sum(1 for c in clients if not c.connected),
        "latencies_ms": lat,
        "cpu_s": usage.user + usage.system - usage0.user - usage0.system,
        **st,
    }
    Path(args.out).write_text(json.dumps(result))
    with contextlib.suppress(Exception):
        await asyncio.wait_for(asyncio.gather(*(c.disconnect() for c in clients), return_exceptions=True), 15)
    if http is not None:
        await http.close()
    out(done=True)
    return 0


# ================================================================ producer process


def _notification_like(seq: int, title: str, body: str, kind: str) -> dict[str, Any]:
    """The shape of office.notifications.services.notification_json, for payloads that are
    not a committed Notification row (broadcasts, and every event of the bare run)."""
    return {
        "id": 1_000_000 + seq,
        "kind": kind,
        "title": title,
        "body": body,
        "url": f"/notifications/{1_000_000 + seq}",
        "created_at": datetime.now(UTC).isoformat(),
        "read": False,
    }


def producer_main(args: argparse.Namespace) -> int:
    events = json.loads(Path(args.schedule).read_text())["events"]
    events = events[args.slice_index :: args.slice_count]
    stamp = time.time
    if args.mode == "office":
        os.environ.setdefault("SOCKETIO_ASYNC_MODE", "threading")  # as `office serve` / CLI
        from sqlalchemy import event as sa_event

        from office import create_app
        from office.extensions import db, socketio
        from office.notifications.services import notify
        from office.push import services as push

        app = create_app()
        ctx = app.app_context()
        ctx.push()

        # Runs first among the session's after_commit listeners (insert=True), i.e. when the
        # COMMIT has returned and before the push hook publishes: the "commit" time.
        def _stamp(session) -> None:
            now = stamp()
            for _name, payload, _uid in session.info.get(push._KEY, ()):
                payload["bench_ts"] = now

        sa_event.listen(db.session, "after_commit", _stamp, insert=True)
        db.session.execute(db.text("SELECT 1"))
        db.session.rollback()
        for _ in range(20):  # warm the Redis connection and the emit path: a room nobody is in
            socketio.emit("warmup", {}, to="bench:nobody")

        def single(seq: int, user_id: int) -> None:
            notify(user_id, TITLE, body=BODY, url=f"/todos/{seq}", kind="todo")
            db.session.info[push._KEY][-1][1]["bench_seq"] = seq
            db.session.commit()

        def broadcast(seq: int, unit_id: int) -> None:
            payload = _notification_like(seq, ANN_TITLE, ANN_BODY, "announcement")
            payload["bench_seq"] = seq
            payload["bench_ts"] = stamp()
            socketio.emit("announcement", payload, to=push.unit_room(unit_id))

    else:
        import socketio

        mgr = socketio.RedisManager(args.redis_url, channel=args.channel, write_only=True)
        for _ in range(20):
            mgr.emit("warmup", {}, namespace="/", room="bench:nobody")

        def single(seq: int, user_id: int) -> None:
            payload = _notification_like(seq, TITLE, BODY, "todo")
            payload["url"] = f"/todos/{seq}"
            payload["bench_seq"] = seq
            payload["bench_ts"] = stamp()
            mgr.emit("notification", payload, namespace="/", room=f"user:{user_id}")

        def broadcast(seq: int, unit_id: int) -> None:
            payload = _notification_like(seq, ANN_TITLE, ANN_BODY, "announcement")
            payload["bench_seq"] = seq
            payload["bench_ts"] = stamp()
            mgr.emit("announcement", payload, namespace="/", room=f"unit:{unit_id}")

    print(json.dumps({"ready": True}), flush=True)
    start_at = float(sys.stdin.readline())
    usage0 = os.times()  # the schedule's CPU only, not the imports and create_app
    lag_max = 0.0
    lags = []
    first = last = None
    for seq, at, kind, target in events:
        delay = start_at + at - time.time()
        if delay > 0:
            time.sleep(delay)
        else:
            lags.append(-delay)
            lag_max = max(lag_max, -delay)
        (single if kind == "user" else broadcast)(seq, target)
        last = time.time()
        first = first or last
    usage = os.times()
    print(
        json.dumps(
            {
                "done": True,
                "sent": len(events),
                "first": first,
                "last": last,
                "late_events": len(lags),
                "lag_max_ms": round(lag_max * 1000, 1),
                "cpu_s": usage.user + usage.system - usage0.user - usage0.system,
            }
        ),
        flush=True,
    )
    return 0


# ================================================================ orchestrator


class Child:
    """A child process speaking JSON lines on stdout; a thread queues what it says."""

    def __init__(self, label: str, cmd: list[str], env: dict[str, str], logdir: Path) -> None:
        self.label = label
        self._err = open(logdir / f"{label}.stderr", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err, text=True
        )
        self.q: queue.Queue[dict[str, Any]] = queue.Queue()
        self.last: dict[str, Any] = {}
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with contextlib.suppress(ValueError):
                msg = json.loads(line)
                self.q.put(msg)
        self.q.put({"eof": True})

    def expect(self, key: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.label}: no '{key}' within {timeout:.0f} s")
            try:
                msg = self.q.get(timeout=left)
            except queue.Empty:
                continue
            if msg.get("eof"):
                raise RuntimeError(f"{self.label} exited (rc {self.proc.poll()}): see its .stderr log")
            if "received" in msg:
                self.last = msg
            if key in msg:
                return msg

    def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        with contextlib.suppress(BrokenPipeError, OSError):
            self.proc.stdin.write(text + "\n")
            self.proc.stdin.flush()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)
        self._err.close()


def lat_summary(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "p50_ms": pct(values, 50),
        "p90_ms": pct(values, 90),
        "p99_ms": pct(values, 99),
        "max_ms": max(values) if values else None,
        "mean_ms": statistics.fmean(values) if values else None,
    }


def run_one(
    label: str, args: argparse.Namespace, env: dict[str, str], files: dict[str, Path], tmp: Path, n: int
) -> dict[str, Any]:
    module = "wsgi:app" if label == "office" else "bench.bare_socketio:app"
    schedule_s = json.loads(files["schedule"].read_text())["duration_s"]
    server = Server(f"{label}{n}", module, env, tmp, workers=1, extra=GUNICORN_EXTRA)
    children: list[Child] = []
    try:
        server.wait("/readyz")
        workers = server.worker_pids()
        if len(workers) != 1:
            raise RuntimeError(f"{label}: expected one gunicorn worker, found {workers}")
        worker = workers[0]
        py = sys.executable
        me = str(Path(__file__).resolve())
        per = (args.clients + args.load_procs - 1) // args.load_procs
        cpu_conn0 = cpu_seconds(worker)
        t_conn = time.monotonic()
        loaders = []
        for k in range(args.load_procs):
            cmd = [
                py, me, "--role", "clients", "--url", server.url, "--tokens", str(files["tokens"]),
                "--schedule", str(files["schedule"]), "--first", str(k * per), "--count", str(per),
                "--out", str(tmp / f"{label}{n}-clients{k}.json"),
                "--connect-concurrency", str(args.connect_concurrency), "--client", args.client,
            ]  # fmt: skip
            loaders.append(Child(f"{label}{n}-clients{k}", cmd, env, tmp))
        children += loaders
        conn = [c.expect("connected", 120) for c in loaders]
        connect_s = time.monotonic() - t_conn
        connect_cpu = cpu_seconds(worker) - cpu_conn0
        connected = sum(c["connected"] for c in conn)
        failed = sum(c["failed"] for c in conn)
        expected = sum(c["expected"] for c in conn)
        log(f"{label}#{n}: {connected} clients connected in {connect_s:.1f} s ({failed} failed)")
        if failed:
            log(f"{label}#{n}: connect errors: {[e for c in conn for e in c['errors']][:3]}")

        producers = []
        for k in range(args.producers):
            cmd = [
                py, me, "--role", "producer", "--mode", label, "--schedule", str(files["schedule"]),
                "--slice-index", str(k), "--slice-count", str(args.producers),
                "--redis-url", args.redis_url, "--channel", env.get("BENCH_BARE_CHANNEL", OFFICE_CHANNEL),
            ]  # fmt: skip
            producers.append(Child(f"{label}{n}-producer{k}", cmd, env, tmp))
        children += producers
        for p in producers:
            p.expect("ready", 60)
        time.sleep(1.0)  # let the connect burst settle (PostgreSQL, the worker's GC)

        start_at = time.time() + 0.5
        spy = None
        if args.profile:
            # py-spy (pip install py-spy) samples the worker for the event phase; raw folded
            # stacks, one file per server and round, next to --out.
            folded = args.out.with_name(f"push-{label}{n}.folded")
            spy = subprocess.Popen(
                [str(Path(sys.executable).with_name("py-spy")), "record", "-p", str(worker), "-r", "250",
                 "-f", "raw", "-o", str(folded), "-d", str(int(schedule_s + 3))],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            time.sleep(0.4)
        cpu0, mach0 = cpu_seconds(worker), machine_cpu()
        for p in producers:
            p.send(repr(start_at))
        prod = [p.expect("done", args.duration_limit) for p in producers]
        log(f"{label}#{n}: producer done ({sum(p['sent'] for p in prod)} events)")
        # Every load process says `complete` when it has all it expects; else drain timeout.
        deadline = time.monotonic() + args.drain
        complete = []
        for c in loaders:
            try:
                complete.append(c.expect("complete", max(0.1, deadline - time.monotonic())))
            except TimeoutError:
                log(f"{label}#{n}: {c.label} incomplete after the {args.drain:.0f} s drain")
        cpu1, mach1 = cpu_seconds(worker), machine_cpu()
        if spy is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                spy.wait(max(1.0, start_at + schedule_s + 5 - time.time()))
            if spy.poll() is None:
                spy.send_signal(2)
                spy.wait(10)
        for c in loaders:
            c.send("stop")
        for c in loaders:
            c.expect("done", 60)
        parts = [json.loads((tmp / f"{c.label}.json").read_text()) for c in loaders]
    finally:
        for c in children:
            c.kill()
        server.stop()

    lat_user = [x for p in parts for x in p["latencies_ms"]["user"]]
    lat_unit = [x for p in parts for x in p["latencies_ms"]["unit"]]
    received = sum(p["received"] for p in parts)
    last_recv = max((p["last"] for p in parts if p["last"]), default=start_at)
    first_sent = min(p["first"] for p in prod if p["first"])
    span = max(last_recv - start_at, 1e-9)
    cpu = cpu1 - cpu0
    busy = mach1[0] - mach0[0]
    wall = mach1[1] - mach0[1]
    result = {
        "server": label,
        "module": module,
        "clients_connected": connected,
        "connect_failed": failed,
        "connect_seconds": round(connect_s, 2),
        "connect_cpu_s": round(connect_cpu, 2),
        "expected_deliveries": expected,
        "deliveries": received,
        "lost": expected - received,
        "duplicates": sum(p["dup"] for p in parts),
        "misdelivered": sum(p["wrong"] for p in parts),
        "disconnected_during_run": sum(p["connected_lost"] for p in parts),
        "latency_all": lat_summary(lat_user + lat_unit),
        "latency_single": lat_summary(lat_user),
        "latency_broadcast": lat_summary(lat_unit),
        "seconds": span,
        "deliveries_per_s": received / span,
        "producer_seconds": max(p["last"] for p in prod) - first_sent,
        "producer_late_events": sum(p["late_events"] for p in prod),
        "producer_lag_max_ms": max(p["lag_max_ms"] for p in prod),
        "server_cpu_s": cpu,
        "server_cpu_us_per_delivery": cpu / max(received, 1) * 1e6,
        "server_cpu_util": cpu / span,
        "producer_cpu_s": sum(p["cpu_s"] for p in prod),
        "producer_cpu_ms_per_event": 1000
        * sum(p["cpu_s"] for p in prod)
        / max(sum(p["sent"] for p in prod), 1),
        "clients_cpu_s": sum(p["cpu_s"] for p in parts),
        "machine_busy_fraction": busy / wall if wall else None,
        "worker_pid": worker,
    }
    a = result["latency_all"]
    log(
        f"{label}#{n}: {received}/{expected} delivered ({result['lost']} lost) in {span:.2f} s = "
        f"{result['deliveries_per_s']:.0f}/s; p50 {a['p50_ms']:.1f} ms p99 {a['p99_ms']:.1f} ms; "
        f"server CPU {cpu:.2f} s = {result['server_cpu_us_per_delivery']:.1f} us/delivery; "
        f"machine busy {100 * (result['machine_busy_fraction'] or 0):.0f}%"
    )
    return result


def make_schedule(args: argparse.Namespace, user_ids: list[int], unit_id: int) -> dict[str, Any]:
    """Open-loop, evenly spaced: singles and broadcasts interleaved so that deliveries arrive at
    --rate per second on average (a broadcast is 200 deliveries at once)."""
    rng = random.Random(args.seed)
    deliveries = args.singles + args.broadcasts * args.unit_size
    duration = deliveries / args.rate
    events = [[i, i * duration / args.singles, "user", rng.choice(user_ids)] for i in range(args.singles)]
    events += [
        [args.singles + j, (j + 0.5) * duration / args.broadcasts, "unit", unit_id]
        for j in range(args.broadcasts)
    ]
    events.sort(key=lambda e: (e[1], e[0]))
    return {"duration_s": duration, "deliveries": deliveries, "events": events}


def summarise(rounds: list[dict[str, Any]], key: str) -> dict[str, Any]:
    rs = [r[key] for r in rounds]
    med = statistics.median
    return {
        "p50_ms": med(r["latency_all"]["p50_ms"] for r in rs),
        "p99_ms": med(r["latency_all"]["p99_ms"] for r in rs),
        "max_ms": max(r["latency_all"]["max_ms"] for r in rs),
        "single_p99_ms": med(r["latency_single"]["p99_ms"] for r in rs),
        "broadcast_p99_ms": med(r["latency_broadcast"]["p99_ms"] for r in rs),
        "deliveries_per_s": med(r["deliveries_per_s"] for r in rs),
        "lost": sum(r["lost"] for r in rs),
        "duplicates": sum(r["duplicates"] for r in rs),
        "misdelivered": sum(r["misdelivered"] for r in rs),
        "connect_failed": sum(r["connect_failed"] for r in rs),
        "server_cpu_us_per_delivery": med(r["server_cpu_us_per_delivery"] for r in rs),
        "server_cpu_util": med(r["server_cpu_util"] for r in rs),
        "machine_busy_fraction": med(r["machine_busy_fraction"] for r in rs),
        "connect_seconds": med(r["connect_seconds"] for r in rs),
        "connect_cpu_ms_per_client": med(
            1000 * r["connect_cpu_s"] / max(r["clients_connected"], 1) for r in rs
        ),
        "p99_ms_per_round": [round(r["latency_all"]["p99_ms"], 1) for r in rs],
        "cpu_us_per_delivery_per_round": [round(r["server_cpu_us_per_delivery"], 1) for r in rs],
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--unit-size", type=int, default=200, help="members of the broadcast unit room")
    parser.add_argument("--singles", type=int, default=5000, help="events to single persons")
    parser.add_argument("--broadcasts", type=int, default=200, help="events to the unit room")
    parser.add_argument("--rate", type=float, default=TARGET_RATE, help="offered deliveries per second")
    parser.add_argument("--rounds", type=int, default=2, help="alternating office/bare rounds (median)")
    parser.add_argument(
        "--client",
        choices=("socketio", "raw"),
        default="raw",
        help="raw: the Socket.IO protocol over aiohttp (light); socketio: python-socketio AsyncClient",
    )
    parser.add_argument("--load-procs", type=int, default=2, help="client processes")
    parser.add_argument("--producers", type=int, default=4, help="producer processes (schedule split)")
    parser.add_argument(
        "--connect-concurrency", type=int, default=50, help="connects in flight per load process"
    )
    parser.add_argument("--drain", type=float, default=15.0, help="seconds to wait for stragglers")
    parser.add_argument("--duration-limit", type=float, default=120.0, help="producer time limit (s)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--profile", action="store_true", help="py-spy the worker (folded stacks)")
    parser.add_argument("--only", choices=("office", "bare"), help="run one server only (no ratio)")
    parser.add_argument(
        "--pg-url", default=os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL") or None,
        help="use this Redis (default: a private redis-server on a free port; pub/sub channels are "
        "server-wide, so a shared Redis would mix this run's events with other office servers')",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    # internal: the child processes
    parser.add_argument(
        "--role", choices=("main", "clients", "producer"), default="main", help=argparse.SUPPRESS
    )
    for name in ("--url", "--tokens", "--schedule", "--mode", "--channel"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    for name in ("--first", "--count", "--slice-index", "--slice-count"):
        parser.add_argument(name, type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "clients":
        return clients_main(args)
    if args.role == "producer":
        return producer_main(args)

    started = time.monotonic()
    import psycopg

    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="office-bench-push-"))
    rounds: list[dict[str, Any]] = []
    try:
        with contextlib.ExitStack() as stack:
            if args.redis_url:
                if not reachable(args.redis_url, 6379):
                    log(f"Redis at {args.redis_url} is not reachable: the push path needs the message queue")
                    return 2
            else:
                args.redis_url = stack.enter_context(private_redis(tmp))
            database_url = stack.enter_context(temp_database(args.pg_url, "push"))
            env = office_env(database_url, tmp / "instance", args.redis_url)
            env["BENCH_BARE_REDIS_URL"] = args.redis_url
            env["BENCH_BARE_CHANNEL"] = f"bench-bare-{os.getpid()}"
            env["BENCH_BARE_TOKENS"] = str(tmp / "bare_tokens.json")
            office_cli(env, "init", "--admin-password", "Admin-Bench-2026x9")
            others = args.clients - args.unit_size
            with psycopg.connect(database_url) as conn:
                people = load_people_pg(
                    conn, args.clients, [args.unit_size, others], prefix="p", token_for=range(args.clients)
                )
            log(f"office init + {args.clients} people and tokens loaded ({time.monotonic() - started:.1f} s)")
            broadcast_unit = people.unit_ids[0]
            tokens = [
                {"token": people.tokens[u], "user_id": u, "units": [people.unit_of[u]]}
                for u in people.user_ids
            ]
            files = {"tokens": tmp / "tokens.json", "schedule": tmp / "schedule.json"}
            files["tokens"].write_text(json.dumps(tokens))
            (tmp / "bare_tokens.json").write_text(
                json.dumps({token_hash(t["token"]): [t["user_id"], t["units"]] for t in tokens})
            )
            schedule = make_schedule(args, people.user_ids, broadcast_unit)
            files["schedule"].write_text(json.dumps(schedule))
            labels = [args.only] if args.only else ["office", "bare"]
            for n in range(args.rounds):
                this = {}
                for label in labels:
                    this[label] = run_one(label, args, env, files, tmp, n + 1)
                rounds.append(this)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    summary = {label: summarise(rounds, label) for label in rounds[0]}
    office, bare = summary.get("office"), summary.get("bare")
    ratio = (
        office["server_cpu_us_per_delivery"] / bare["server_cpu_us_per_delivery"] if office and bare else None
    )
    print()
    print(
        f"{args.clients} clients, {args.singles} single events + {args.broadcasts} broadcasts x "
        f"{args.unit_size} = {schedule['deliveries']} deliveries offered at {args.rate:.0f}/s, "
        f"gunicorn -k gevent -w 1, {args.rounds} round(s), {os.cpu_count()} CPUs"
    )
    print(
        f"{'server':8s} {'deliv/s':>8s} {'p50 ms':>7s} {'p99 ms':>7s} {'max ms':>7s} {'lost':>5s} "
        f"{'us CPU/deliv':>12s} {'srv CPU':>7s} {'machine':>7s}"
    )
    for label, s in summary.items():
        print(
            f"{label:8s} {s['deliveries_per_s']:8.0f} {s['p50_ms']:7.1f} {s['p99_ms']:7.1f} "
            f"{s['max_ms']:7.0f} {s['lost']:5d} {s['server_cpu_us_per_delivery']:12.1f} "
            f"{100 * s['server_cpu_util']:6.0f}% {100 * (s['machine_busy_fraction'] or 0):6.0f}%"
        )
    ok = {}
    if office:
        ok["p99"] = office["p99_ms"] <= TARGET_P99_MS
        ok["lost"] = office["lost"] == 0 and office["connect_failed"] == 0 and office["misdelivered"] == 0
        ok["rate"] = office["deliveries_per_s"] >= 0.95 * TARGET_RATE
    if ratio is not None:
        ok["cpu_ratio"] = ratio <= TARGET_CPU_RATIO
        print(f"CPU per delivery office/bare: {ratio:.2f}  (target <= {TARGET_CPU_RATIO}: "
              f"{'PASS' if ok['cpu_ratio'] else 'FAIL'})")  # fmt: skip
    if office:
        print(f"office p99 {office['p99_ms']:.1f} ms (target <= {TARGET_P99_MS:.0f}: "
              f"{'PASS' if ok['p99'] else 'FAIL'}); lost {office['lost']} "
              f"({'PASS' if ok['lost'] else 'FAIL'}); {office['deliveries_per_s']:.0f} deliveries/s "
              f"(target {TARGET_RATE:.0f}: {'PASS' if ok['rate'] else 'FAIL'})")  # fmt: skip
    report = {
        "benchmark": "push",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "server_command": "gunicorn -k gevent -w 1 --worker-connections 2000 (identical for both)",
        "settings": {
            k: getattr(args, k)
            for k in (
                "clients",
                "unit_size",
                "singles",
                "broadcasts",
                "rate",
                "rounds",
                "load_procs",
                "producers",
                "client",
            )
        },
        "offered_deliveries": schedule["deliveries"],
        "offered_seconds": schedule["duration_s"],
        "summary": summary,
        "cpu_ratio_office_over_bare": ratio,
        "targets": {"p99_ms": TARGET_P99_MS, "rate": TARGET_RATE, "cpu_ratio": TARGET_CPU_RATIO, "ok": ok},
        "rounds": rounds,
        "wall_seconds": round(time.monotonic() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"results: {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}  "
          f"({report['wall_seconds']:.0f} s)")  # fmt: skip
    return 0 if all(ok.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
