"""The floor for bench/documents.py: the least a flow action can do, on the same stack.

Each write does only what every 发文 action must do in one transaction, written as hand-tuned
SQLAlchemy Core statements on a five-table schema, with no ORM, no schema validation, no
permission rules, no flow definitions, no rendering and no Argon2:

    bearer token -> person (one Redis GET, as the scale-out principal cache)
    SELECT the flow instance FOR UPDATE
    close the acting person's to-do (UPDATE ... RETURNING)
    INSERT the action with its opinion
    UPDATE the instance (next step)
    INSERT the next person's to-do, INSERT their notification
    INSERT the search outbox row
    append one audit event to the hash chain (lock the head, INSERT, UPDATE the head)
    用印 only: one Argon2id verify of the keeper's password (the suite's parameters) and one
    GB/T 9704 render of the document (documents.render), as the real seal step must do
    COMMIT, then PUBLISH the push to Redis
    answer with a document-sized JSON body (about 3 KB)

Everything else a seal adds (the seal image, the CMS signature) is left out. The engine has
the office app's pool settings (pre-ping, 20 + 10 connections) and runs under
the identical gunicorn command (gevent, 2 workers). So what this app costs per flow is what
the office app could cost at best if every rule it keeps were free: a lower bound, not a
design to copy.

    gunicorn -k gevent -w 2 bench.floor_app:app      (DATABASE_URL, REDIS_URL set)
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime

import redis
from flask import Flask, abort, jsonify, request
from sqlalchemy import create_engine, text

from bench.documents_render_part import notice
from documents.render import render_docx
from office.auth.passwords import hash_password, verify_password

app = Flask(__name__)
app.json.ensure_ascii = False  # type: ignore[attr-defined]  (as the office app)
engine = create_engine(
    os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1),
    pool_pre_ping=True,
    pool_size=20,
    max_overflow=10,
    pool_timeout=10,
)
cache = redis.Redis.from_url(os.environ["REDIS_URL"])
KEEPER = hash_password(os.environ.get("FLOOR_PASSWORD", "Demo@2026office"))
CONTENT = notice()

SCHEMA = """
CREATE TABLE IF NOT EXISTS floor_instance (id serial PRIMARY KEY, step int NOT NULL DEFAULT 0,
    status text NOT NULL DEFAULT 'running', title text NOT NULL, body text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS floor_action (id serial PRIMARY KEY, instance_id int NOT NULL
    REFERENCES floor_instance(id), step int NOT NULL, user_id int NOT NULL, opinion text NOT NULL,
    at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS floor_todo (id serial PRIMARY KEY, instance_id int NOT NULL
    REFERENCES floor_instance(id), step int NOT NULL, user_id int NOT NULL, title text NOT NULL,
    status text NOT NULL, created_at timestamptz NOT NULL, done_at timestamptz,
    UNIQUE (user_id, instance_id, step));
CREATE INDEX IF NOT EXISTS ix_floor_todo_instance ON floor_todo (instance_id, status);
CREATE TABLE IF NOT EXISTS floor_notification (id serial PRIMARY KEY, user_id int NOT NULL,
    title text NOT NULL, created_at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS floor_outbox (id serial PRIMARY KEY, doc_id int NOT NULL,
    created_at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS floor_audit (seq bigint PRIMARY KEY, action text NOT NULL,
    object_id int NOT NULL, at timestamptz NOT NULL, prev_hash text NOT NULL, hash text NOT NULL);
CREATE TABLE IF NOT EXISTS floor_audit_head (id int PRIMARY KEY, seq bigint NOT NULL, hash text NOT NULL);
INSERT INTO floor_audit_head VALUES (1, 0, '') ON CONFLICT DO NOTHING;
"""


def init_schema() -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(SCHEMA)


def _person() -> int:
    token = request.headers.get("Authorization", "").removeprefix("Bearer ")
    uid = cache.get(f"floor:token:{hashlib.sha256(token.encode()).hexdigest()}")
    if uid is None:
        abort(401)
    return int(uid)


def _audit(conn, action: str, object_id: int, now: datetime) -> None:
    head = conn.execute(text("SELECT seq, hash FROM floor_audit_head WHERE id = 1 FOR UPDATE")).one()
    digest = hashlib.sha256(f"{head.hash}|{head.seq + 1}|{action}|{object_id}|{now}".encode()).hexdigest()
    conn.execute(
        text("INSERT INTO floor_audit VALUES (:seq, :action, :oid, :at, :prev, :hash)"),
        dict(seq=head.seq + 1, action=action, oid=object_id, at=now, prev=head.hash, hash=digest),
    )
    conn.execute(text("UPDATE floor_audit_head SET seq = :seq, hash = :hash WHERE id = 1"),
                 dict(seq=head.seq + 1, hash=digest))  # fmt: skip


def _answer(row, actions: list) -> dict:
    return {
        "document": {"id": row.id, "title": row.title, "body": row.body, "step": row.step,
                     "status": row.status, "updated_at": row.updated_at.isoformat()},
        "flow": [{"step": a.step, "user_id": a.user_id, "opinion": a.opinion, "at": a.at.isoformat()}
                 for a in actions],
    }  # fmt: skip


@app.get("/readyz")
def ready():
    return {"ok": True}


@app.post("/floor/documents")
def create():
    uid = _person()
    data = request.get_json()
    now = datetime.now(UTC)
    with engine.begin() as conn:
        row = conn.execute(
            text("INSERT INTO floor_instance (title, body) VALUES (:t, :b) RETURNING *"),
            dict(t=data["title"], b=data["body"]),
        ).one()
        conn.execute(
            text("INSERT INTO floor_todo (instance_id, step, user_id, title, status, created_at) "
                 "VALUES (:i, 0, :u, :t, 'pending', :now)"),
            dict(i=row.id, u=uid, t=row.title, now=now),
        )  # fmt: skip
        conn.execute(
            text("INSERT INTO floor_outbox (doc_id, created_at) VALUES (:i, :now)"), dict(i=row.id, now=now)
        )
        _audit(conn, "create", row.id, now)
    cache.publish("floor", json.dumps({"todo": row.id, "user": uid}))
    return jsonify(_answer(row, []))


@app.post("/floor/documents/<int:doc_id>/act")
def act(doc_id: int):
    uid = _person()
    data = request.get_json()
    nxt = int(data.get("next_user_id", uid))
    if "password" in data:  # 用印: the keeper's second factor, then the sealed file
        if not verify_password(KEEPER, data["password"]):  # as the office app: off the event loop
            abort(403)
        render_docx(CONTENT)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        inst = conn.execute(
            text("SELECT id, step FROM floor_instance WHERE id = :i FOR UPDATE"), dict(i=doc_id)
        ).one()
        conn.execute(
            text("UPDATE floor_todo SET status = 'done', done_at = :now "
                 "WHERE instance_id = :i AND step = :s AND status = 'pending' RETURNING id"),
            dict(i=doc_id, s=inst.step, now=now),
        ).all()  # fmt: skip
        conn.execute(
            text(
                "INSERT INTO floor_action (instance_id, step, user_id, opinion, at) "
                "VALUES (:i, :s, :u, :o, :now)"
            ),
            dict(i=doc_id, s=inst.step, u=uid, o=data.get("opinion", ""), now=now),
        )
        row = conn.execute(
            text("UPDATE floor_instance SET step = step + 1, updated_at = :now WHERE id = :i RETURNING *"),
            dict(i=doc_id, now=now),
        ).one()
        conn.execute(
            text("INSERT INTO floor_todo (instance_id, step, user_id, title, status, created_at) "
                 "VALUES (:i, :s, :u, :t, 'pending', :now)"),
            dict(i=doc_id, s=row.step, u=nxt, t=row.title, now=now),
        )  # fmt: skip
        conn.execute(
            text("INSERT INTO floor_notification (user_id, title, created_at) VALUES (:u, :t, :now)"),
            dict(u=nxt, t=row.title, now=now),
        )
        conn.execute(
            text("INSERT INTO floor_outbox (doc_id, created_at) VALUES (:i, :now)"), dict(i=doc_id, now=now)
        )
        _audit(conn, "act", doc_id, now)
        actions = conn.execute(
            text("SELECT step, user_id, opinion, at FROM floor_action WHERE instance_id = :i ORDER BY id"),
            dict(i=doc_id),
        ).all()
    cache.publish("floor", json.dumps({"todo": doc_id, "user": nxt}))
    return jsonify(_answer(row, actions))
