"""Socket.IO connections authenticate with a bearer token or the session cookie."""

from __future__ import annotations

import pytest

from office.extensions import socketio
from tests.conftest import bearer, web_login


@pytest.fixture(autouse=True)
def _bind_socketio(app):
    """Bind Socket.IO to this suite's app without a message queue: Flask-SocketIO's test
    client cannot use one. The Redis queue is exercised against real gunicorn processes in
    tests/deploy (scale-out check)."""
    socketio.server_options.pop("client_manager", None)  # drop the Redis manager of a prior init
    socketio.init_app(
        app, message_queue=None, async_mode=app.config["SOCKETIO_ASYNC_MODE"], cors_allowed_origins=[]
    )
    yield
    socketio.init_app(
        app,
        message_queue=app.config["REDIS_URL"],
        async_mode=app.config["SOCKETIO_ASYNC_MODE"],
        cors_allowed_origins=[],
    )


def test_connect_with_token_joins_private_room(app, client, org):
    token = bearer(client, "zhangsan")["Authorization"].split()[1]
    sio = socketio.test_client(app, auth={"token": token})
    assert sio.is_connected()
    hello = [m for m in sio.get_received() if m["name"] == "hello"]
    assert hello and hello[0]["args"][0]["user_id"] == org["people"]["staff"].id
    socketio.emit("notification", {"title": "测试"}, to=f"user:{org['people']['staff'].id}")
    assert any(m["name"] == "notification" for m in sio.get_received())
    sio.disconnect()


def test_connect_with_session_cookie(app, client, org):
    web_login(client, "zhangsan")
    sio = socketio.test_client(app, flask_test_client=client)
    assert sio.is_connected()
    sio.disconnect()


def test_connect_without_or_with_bad_credentials_is_refused(app, client, org):
    assert not socketio.test_client(app).is_connected()
    assert not socketio.test_client(app, auth={"token": "forged"}).is_connected()
    token = bearer(client, "zhangsan")["Authorization"].split()[1]
    client.post("/api/v1/auth/revoke", headers={"Authorization": f"Bearer {token}"})
    assert not socketio.test_client(app, auth={"token": token}).is_connected()
