"""Socket.IO connections: authenticated connections join a private room per person (and one
per unit of their posts, for unit-wide announcements)."""

from __future__ import annotations

from typing import Any

from flask import request, session
from flask_socketio import ConnectionRefusedError, join_room

from office.auth.models import TokenKind
from office.auth.services import resolve_token
from office.db import write_intent
from office.extensions import db, socketio
from office.push.services import unit_room, user_room


@socketio.on("connect")
def on_connect(auth: Any = None):
    """Accept a session cookie or ``auth={"token": ...}``; refuse anything else."""
    write_intent.set(False)
    try:
        tok = None
        if isinstance(auth, dict) and auth.get("token"):
            tok = resolve_token(str(auth["token"]), TokenKind.API)
        elif session.get("sid"):
            tok = resolve_token(session["sid"], TokenKind.WEB)
        if tok is None:
            raise ConnectionRefusedError("unauthorized")
        join_room(user_room(tok.user_id))
        for post in tok.user.posts:  # unit-wide announcements go to these rooms
            join_room(unit_room(post.unit_id))
        socketio.emit("hello", {"user_id": tok.user_id, "sid": request.sid}, to=request.sid)
    finally:
        db.session.remove()
