"""Checks two running app instances that share PostgreSQL, Redis and the keys.

Run by scripts/scaleout-check.sh (which starts the instances); usable on its own against any
two instances of one deployment, given the same DATABASE_URL/OFFICE_INSTANCE environment for
the ``office create-user`` call::

    python scripts/scaleout_check.py --redis-url redis://127.0.0.1:6379/5 URL_A URL_B

Prints one PASS/FAIL line per check and exits 1 if any failed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import requests
import socketio

USERNAME = "scaleout"
PASSWORD = "Scale-0ut-check"  # meets the policy: 10+ characters, 3 character classes
EVENT_TIMEOUT = 10.0


class Results:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, name: str, ok: bool, detail: Any = "") -> bool:
        if ok:
            self.passed += 1
            print(f"PASS: {name}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL: {name}" + (f" -- {detail}" if detail != "" else ""), flush=True)
        return ok


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie counts as dead
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True


def wait_ready(urls: list[str], pids: list[int], timeout: float) -> bool:
    start = time.monotonic()
    pending = list(urls)
    while pending:
        for pid in pids:
            if not alive(pid):
                print(f"FAIL: server process {pid} exited before both instances were ready", flush=True)
                return False
        for url in list(pending):
            try:
                if requests.get(f"{url}/readyz", timeout=2).status_code == 200:
                    pending.remove(url)
                    print(f"ready: {url} after {time.monotonic() - start:.1f} s", flush=True)
            except requests.RequestException:
                pass
        if pending and time.monotonic() - start > timeout:
            print(f"FAIL: not ready within {timeout:.0f} s: {', '.join(pending)}", flush=True)
            return False
        if pending:
            time.sleep(0.25)
    return True


class Client:
    """A Socket.IO client (WebSocket transport only) that records the events it gets."""

    def __init__(self) -> None:
        self.sio = socketio.Client(reconnection=False)
        self.hello: dict[str, Any] | None = None
        self.pings: list[dict[str, Any]] = []
        self._hello = threading.Event()
        self._ping = threading.Event()
        self.sio.on("hello", self._on_hello)
        self.sio.on("scaleout-ping", self._on_ping)

    def _on_hello(self, data: dict[str, Any]) -> None:
        self.hello = data
        self._hello.set()

    def _on_ping(self, data: dict[str, Any]) -> None:
        self.pings.append(data)
        self._ping.set()

    def connect(
        self,
        url: str,
        auth: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        transports: tuple[str, ...] = ("websocket",),
    ) -> None:
        self.sio.connect(url, auth=auth, headers=headers or {}, transports=list(transports), wait_timeout=10)

    def wait_transport(self, name: str, timeout: float = EVENT_TIMEOUT) -> bool:
        deadline = time.monotonic() + timeout
        while self.sio.transport() != name and time.monotonic() < deadline:
            time.sleep(0.1)
        return self.sio.transport() == name

    def wait_hello(self) -> bool:
        return self._hello.wait(EVENT_TIMEOUT)

    def wait_ping(self) -> bool:
        return self._ping.wait(EVENT_TIMEOUT)

    def close(self) -> None:
        with contextlib.suppress(Exception):  # already closed
            self.sio.disconnect()


def refused(url: str, auth: dict[str, str] | None) -> tuple[bool, str]:
    client = Client()
    try:
        client.connect(url, auth=auth)
    except socketio.exceptions.ConnectionError as exc:
        return True, str(exc)
    connected = client.sio.connected
    client.close()
    return not connected, "connection was accepted"


def get_token(url: str, username: str, password: str) -> requests.Response:
    return requests.post(
        f"{url}/api/v1/auth/token", json={"username": username, "password": password}, timeout=15
    )


def create_user() -> subprocess.CompletedProcess[str]:
    cmd = [
        sys.executable, "-m", "office", "create-user",
        "--username", USERNAME, "--name", "扩展检查", "--password", PASSWORD,
        "--unit", "示政", "--title", "科员", "--role", "staff",
    ]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("url_a")
    parser.add_argument("url_b")
    parser.add_argument("--redis-url", required=True, help="the instances' REDIS_URL (message queue)")
    parser.add_argument("--wait", type=float, default=60, help="seconds to wait for /readyz on both")
    parser.add_argument("--pids", default="", help="server pids: fail fast when one exits")
    parser.add_argument("--logs", default="", help="the instances' logs: check that init ran once")
    parser.add_argument("--via", default="", help="a proxy in front of both (docker/nginx.conf)")
    args = parser.parse_args()
    urls = {"A": args.url_a.rstrip("/"), "B": args.url_b.rstrip("/")}
    pids = [int(p) for p in args.pids.split(",") if p]
    r = Results()

    if not wait_ready(list(urls.values()), pids, args.wait):
        return 1

    # -- health and readiness --------------------------------------------------------
    migrations = {}
    for name, url in urls.items():
        resp = requests.get(f"{url}/readyz", timeout=5)
        body = resp.json() if resp.headers.get("Content-Type", "").startswith("application/json") else {}
        migrations[name] = body.get("migration")
        r.check(
            f"{name}: /readyz 200 {{status: ok, database: ok}}",
            resp.status_code == 200 and body.get("status") == "ok" and body.get("database") == "ok",
            f"{resp.status_code} {resp.text[:200]}",
        )
        resp = requests.get(f"{url}/healthz", timeout=5)
        r.check(f"{name}: /healthz 200", resp.status_code == 200, resp.status_code)
    r.check(
        f"A and B report the same migration head ({migrations['A']})",
        migrations["A"] is not None and migrations["A"] == migrations["B"],
        migrations,
    )

    # -- concurrent start: init ran exactly once ---------------------------------------
    if args.logs:
        text = "".join(Path(p).read_text(errors="replace") for p in args.logs.split(","))
        created = text.count("已创建管理员")
        skipped = text.count("跳过创建管理员")
        locked = text.count("init lock acquired")
        r.check(
            "concurrent start: both took the init lock, exactly one created the admin",
            locked == 2 and created == 1 and skipped == 1,
            f"lock acquired {locked}x, admin created {created}x, skipped {skipped}x",
        )
        tracebacks = text.count("Traceback (most recent call last)")
        r.check("no tracebacks in the instance logs", tracebacks == 0, f"{tracebacks} traceback(s)")

    # -- production mode, shared database -----------------------------------------------
    admin_password = os.environ.get("OFFICE_ADMIN_PASSWORD")
    if admin_password:
        resp = get_token(urls["A"], "admin", admin_password)
        code = resp.json().get("error", {}) if resp.status_code != 201 else {}
        r.check(
            "A: OFFICE_ENV=production: admin token refused until two-factor is set up (403)",
            resp.status_code == 403 and "otp_setup_required" in resp.text,
            f"{resp.status_code} {code or resp.text[:200]}",
        )
    proc = create_user()
    if not r.check(f"`office create-user {USERNAME}` (staff)", proc.returncode == 0, proc.stderr[-500:]):
        return finish(r)

    tokens: dict[str, str] = {}
    for name, url in urls.items():
        resp = get_token(url, USERNAME, PASSWORD)
        ok = resp.status_code == 201 and "token" in resp.json()
        r.check(f"{name}: POST /api/v1/auth/token -> 201", ok, f"{resp.status_code} {resp.text[:200]}")
        if ok:
            tokens[name] = resp.json()["token"]
    if len(tokens) != 2:
        return finish(r)

    user_id = None
    for issuer, other in (("A", "B"), ("B", "A")):
        resp = requests.get(
            f"{urls[other]}/api/v1/me", headers={"Authorization": f"Bearer {tokens[issuer]}"}, timeout=10
        )
        ok = resp.status_code == 200 and resp.json().get("username") == USERNAME
        r.check(
            f"token issued by {issuer} works on {other}: GET /api/v1/me 200",
            ok,
            f"{resp.status_code} {resp.text[:200]}",
        )
        if ok:
            user_id = resp.json()["id"]

    # -- browser session signed on A, accepted on B (shared SECRET_KEY) ------------------
    web = requests.Session()
    page = web.get(f"{urls['A']}/login", timeout=10)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    session_cookie = None
    if r.check(
        "A: GET /login has a CSRF token", page.status_code == 200 and match is not None, page.status_code
    ):
        resp = web.post(
            f"{urls['A']}/login",
            data={"username": USERNAME, "password": PASSWORD, "csrf_token": match.group(1)},
            allow_redirects=False,
            timeout=15,
        )
        r.check("A: POST /login -> 302", resp.status_code == 302, f"{resp.status_code} {resp.text[:200]}")
        resp = web.get(f"{urls['B']}/", allow_redirects=False, timeout=10)
        r.check(
            "session cookie from A is valid on B: GET / 200",
            resp.status_code == 200,
            f"{resp.status_code} {resp.headers.get('Location')}",
        )
        session_cookie = "; ".join(f"{c.name}={c.value}" for c in web.cookies)

    # -- Socket.IO: hello on both, refusals, pushes via the Redis message queue ---------
    clients: dict[str, Client] = {}
    try:
        for name, url in urls.items():
            client = Client()
            try:
                client.connect(url, auth={"token": tokens[name]})
            except socketio.exceptions.ConnectionError as exc:
                r.check(f"{name}: Socket.IO (websocket) connects with auth token", False, exc)
                continue
            clients[name] = client
            got = client.wait_hello()
            hello = client.hello or {}
            r.check(
                f"{name}: Socket.IO (websocket) with token -> 'hello' for user {user_id}",
                got and hello.get("user_id") == user_id and hello.get("sid") == client.sio.get_sid("/"),
                hello if got else f"no 'hello' within {EVENT_TIMEOUT:.0f} s",
            )
        if session_cookie:
            client = Client()
            try:
                client.connect(urls["B"], headers={"Cookie": session_cookie})
                clients["B-cookie"] = client
                got = client.wait_hello()
                r.check("B: Socket.IO with the session cookie from A -> 'hello'", got, "no 'hello'")
            except socketio.exceptions.ConnectionError as exc:
                r.check("B: Socket.IO with the session cookie from A -> 'hello'", False, exc)

        for name, url in urls.items():
            ok, detail = refused(url, None)
            r.check(f"{name}: Socket.IO without credentials is refused", ok, detail)
            ok, detail = refused(url, {"token": "not-a-valid-token"})
            r.check(f"{name}: Socket.IO with an invalid token is refused", ok, detail)

        if args.via:
            clients.update(check_proxy(r, args.via.rstrip("/"), tokens["A"], user_id))

        if clients and user_id is not None:
            # An emit published on the message queue (as any instance or worker does) must
            # reach the person's connections on every instance.
            manager = socketio.RedisManager(args.redis_url, write_only=True, channel="flask-socketio")
            manager.emit("scaleout-ping", {"n": 1}, namespace="/", room=f"user:{user_id}")
            for name, client in clients.items():
                got = client.wait_ping()
                r.check(
                    f"{name}: push to room user:{user_id} via Redis reaches this connection", got, "no event"
                )
    finally:
        for client in clients.values():
            client.close()

    for pid in pids:
        r.check(f"server process {pid} still running", alive(pid))
    return finish(r)


def check_proxy(r: Results, via: str, token: str, user_id: int | None) -> dict[str, Client]:
    """The same through nginx: HTTP, Socket.IO over WebSocket (Upgrade headers), and
    long-polling then upgrade, whose several requests must reach one instance (sticky)."""
    resp = requests.get(f"{via}/readyz", timeout=5)
    r.check(
        "nginx: /readyz 200", resp.status_code == 200 and resp.json().get("status") == "ok", resp.text[:200]
    )
    resp = requests.get(f"{via}/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    r.check(
        "nginx: GET /api/v1/me with token 200",
        resp.status_code == 200,
        f"{resp.status_code} {resp.text[:200]}",
    )
    clients: dict[str, Client] = {}
    for label, transports in (("websocket", ("websocket",)), ("polling+upgrade", ("polling", "websocket"))):
        client = Client()
        name = f"nginx {label}"
        try:
            client.connect(via, auth={"token": token}, transports=transports)
        except socketio.exceptions.ConnectionError as exc:
            r.check(f"{name}: Socket.IO connects through nginx", False, exc)
            continue
        clients[name] = client
        got = client.wait_hello()
        r.check(
            f"{name}: Socket.IO through nginx -> 'hello'",
            got and (client.hello or {}).get("user_id") == user_id,
            client.hello if got else "no 'hello'",
        )
        if label != "websocket":
            r.check(
                f"{name}: upgraded to WebSocket through nginx",
                client.wait_transport("websocket"),
                f"transport is {client.sio.transport()}",
            )
    ok, detail = refused(via, None)
    r.check("nginx: Socket.IO without credentials is refused", ok, detail)
    return clients


def finish(r: Results) -> int:
    print(f"scaleout: {r.passed} passed, {r.failed} failed", flush=True)
    return 0 if r.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
