"""Checks two running app instances that share PostgreSQL, Redis and the keys.

Run by scripts/scaleout-check.sh (which starts the instances); usable on its own against any
two instances of one deployment, given the same DATABASE_URL/OFFICE_INSTANCE environment for
the ``office create-user`` call::

    python scripts/scaleout_check.py --redis-url redis://127.0.0.1:6379/5 URL_A URL_B

Prints one PASS/FAIL line per check and exits 1 if any failed. With ``--ready-only`` it only
waits for /readyz on both (scripts/scaleout-check.sh --hold, for tests/deploy).
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
        self.events: list[tuple[str, Any]] = []  # the app's own pushes: todo, notification
        self._hello = threading.Event()
        self._ping = threading.Event()
        self._event = threading.Condition()
        self.sio.on("hello", self._on_hello)
        self.sio.on("scaleout-ping", self._on_ping)
        for name in ("todo", "notification"):
            self.sio.on(name, lambda data, name=name: self._on_event(name, data))

    def _on_event(self, name: str, data: Any) -> None:
        with self._event:
            self.events.append((name, data))
            self._event.notify_all()

    def wait_event(self, name: str, match, timeout: float = EVENT_TIMEOUT) -> Any:
        """The first ``name`` event whose payload satisfies ``match``, or None."""
        with self._event:
            found: list[Any] = []

            def seen() -> bool:
                found[:] = [d for n, d in self.events if n == name and match(d)][:1]
                return bool(found)

            self._event.wait_for(seen, timeout)
            return found[0] if found else None

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
    parser.add_argument("--ready-only", action="store_true", help="only wait for /readyz on both")
    args = parser.parse_args()
    urls = {"A": args.url_a.rstrip("/"), "B": args.url_b.rstrip("/")}
    pids = [int(p) for p in args.pids.split(",") if p]
    r = Results()

    if not wait_ready(list(urls.values()), pids, args.wait):
        return 1
    if args.ready_only:
        return 0

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
            check_memo_push(r, urls, tokens, user_id, clients)
    finally:
        for client in clients.values():
            client.close()

    for pid in pids:
        r.check(f"server process {pid} still running", alive(pid))
    return finish(r)


def check_memo_push(
    r: Results, urls: dict[str, str], tokens: dict[str, str], user_id: int, clients: dict[str, Client]
) -> None:
    """The app's own push path: a 交办 to-do POSTed to A (to oneself) is emitted after its
    commit through the message queue and reaches the person's connections on every instance;
    B's inbox lists it for a client catching up with after_id."""
    auth = {"Authorization": f"Bearer {tokens['B']}"}
    resp = requests.get(f"{urls['B']}/api/v1/notifications", params={"per_page": 1}, headers=auth, timeout=10)
    items = resp.json().get("items", []) if resp.status_code == 200 else []
    last_id = items[0]["id"] if items else 0
    stamp = time.time_ns()
    title = f"扩展检查交办 {stamp}"
    resp = requests.post(
        f"{urls['A']}/api/v1/todos",
        json={"user_id": user_id, "title": title},
        headers={"Authorization": f"Bearer {tokens['A']}", "Idempotency-Key": f"scaleout-{stamp}"},
        timeout=15,
    )
    if not r.check(
        "A: POST /api/v1/todos (交办 to oneself) -> 201", resp.status_code == 201, resp.text[:200]
    ):
        return
    todo_id = resp.json()["id"]
    for name, client in clients.items():
        todo = client.wait_event("todo", lambda d: (d.get("todo") or {}).get("id") == todo_id)
        note = client.wait_event("notification", lambda d: title in (d.get("title") or ""))
        r.check(
            f"{name}: the to-do created through A arrives as 'todo' and 'notification' events",
            todo is not None and todo.get("action") == "created" and note is not None,
            f"todo={todo} notification={note}",
        )
    resp = requests.get(
        f"{urls['B']}/api/v1/notifications", params={"after_id": last_id}, headers=auth, timeout=10
    )
    titles = [n["title"] for n in resp.json().get("items", [])] if resp.status_code == 200 else []
    r.check(
        f"B: GET /api/v1/notifications?after_id={last_id} lists exactly that notification",
        len(titles) == 1 and title in titles[0],
        f"{resp.status_code} {titles or resp.text[:200]}",
    )


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
