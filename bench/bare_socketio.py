"""A bare python-socketio server: the ceiling that bench/push.py compares the office app with.

    gunicorn -k gevent -w 1 -b 127.0.0.1:PORT bench.bare_socketio:app

The same python-socketio/python-engineio stack the office app runs under Flask-SocketIO, with
nothing else: no Flask, no database. It accepts the same clients with the same
``auth={"token": ...}``, checks the token against a dict loaded at start (no database), and
puts each connection in the same rooms as the office app does (``user:<id>``, one
``unit:<id>`` per post), then says ``hello`` like the office app. Events reach it through the
same Redis message queue (``socketio.RedisManager``), published by bench/push.py's producer.

Environment:

* ``BENCH_BARE_TOKENS``: path of a JSON file ``{sha256(token) hex: [user_id, [unit_id, ...]]}``;
* ``BENCH_BARE_REDIS_URL``: the message queue (none: the server only emits what it is told);
* ``BENCH_BARE_CHANNEL``: the Redis pub/sub channel (default ``bench-bare``; pub/sub is not
  per Redis database, so the benchmark uses its own channel name).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import socketio

_TOKENS: dict[str, list] = json.loads(Path(os.environ["BENCH_BARE_TOKENS"]).read_text())
_REDIS = os.environ.get("BENCH_BARE_REDIS_URL") or None
_CHANNEL = os.environ.get("BENCH_BARE_CHANNEL", "bench-bare")

sio = socketio.Server(
    async_mode="gevent",
    client_manager=socketio.RedisManager(_REDIS, channel=_CHANNEL) if _REDIS else None,
    cors_allowed_origins=[],
    logger=False,
    engineio_logger=False,
)


@sio.event
def connect(sid, environ, auth=None):
    token = auth.get("token") if isinstance(auth, dict) else None
    entry = _TOKENS.get(hashlib.sha256(str(token).encode()).hexdigest()) if token else None
    if entry is None:
        raise socketio.exceptions.ConnectionRefusedError("unauthorized")
    user_id, unit_ids = entry
    sio.enter_room(sid, f"user:{user_id}")
    for unit_id in unit_ids:
        sio.enter_room(sid, f"unit:{unit_id}")
    sio.emit("hello", {"user_id": user_id, "sid": sid}, to=sid)


def _ready(environ, start_response):
    if environ.get("PATH_INFO") == "/readyz":
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "15")])
        return [b'{"status":"ok"}']
    start_response("404 Not Found", [("Content-Length", "0")])
    return [b""]


app = socketio.WSGIApp(sio, _ready)
