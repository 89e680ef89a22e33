"""To-do list benchmark: server-side p95 of the first page and of the counts, at volume.

    .venv/bin/python bench/todos.py                      # PostgreSQL 1M/100k, then SQLite 200k/20k
    .venv/bin/python bench/todos.py --only sqlite --sqlite-rows 200000 --sqlite-people 20000

The issue's measure: 1,000,000 to-do rows over 100,000 people in PostgreSQL (200,000 in
SQLite); p95 of `GET /api/v1/todos` (first page) and of `GET /api/v1/todos/counts` measured
server-side: at most 20 ms each.

What it does, per database, all local:

1. PostgreSQL: a temporary database (`office init`), people bulk-loaded with COPY (one shared
   password hash; one post each in 20 divisions), secretaries and delegations, then the to-do
   rows with COPY (foreign-key triggers off during the load: the generator keeps them
   consistent), `VACUUM ANALYZE`. SQLite: `office init` in a temporary instance folder, the
   same data (scaled) with executemany, `ANALYZE`.
2. The data (seeded): rows in creation order over the last year, so one person's rows are
   scattered over the table as in real life. 1 % of the people are "leaders" with ~15x the
   items of everyone else (lognormal), each with a secretary who sees the leader's items too;
   0.5 % have a delegation, 80 % of them open now (the delegate sees the delegator's); 10
   clerks have 5,000 items each (a fifth in SQLite), the list's worst case. Per row: 30 % pending,
   65 % done, 5 % cancelled; 75 % 待办 (todo) / 25 % 待阅 (read); 8 kinds; urgency 80/15/5 %
   normal/urgent/very urgent; half with a due time; 40 % sent by someone.
3. The app in-process (`create_app()`, the Flask test client; PostgreSQL with REDIS_URL, as
   deployed; SQLite the embedded default), bearer tokens inserted directly. Server-side time
   = a WSGI middleware around the app (request in to last body byte out), so no network and
   no test-client overhead. Per user: one untimed `GET /api/v1/me` (the principal cache is
   warm, as for any active user), then --passes passes, each `GET /api/v1/todos?status=
   pending` and `GET /api/v1/todos/counts` per user, users shuffled. SQL statements are
   counted and timed too (SQLAlchemy cursor events).
4. Users: --sample random people (uniform over everyone), and separately the heavy cases: 30
   leaders, 30 of their secretaries, 30 delegates and the clerks, reported on their own.
   --extra-users random people and the clerks also get `?status=done` and `/todos/sent` once.
5. EXPLAIN (ANALYZE, BUFFERS) (SQLite: EXPLAIN QUERY PLAN) of the SQL the two endpoints run,
   captured from the app for the median and the heaviest sampled user; saved in the results.

--variant proposed measures the next fix described in bench/README.md without changing
office/: the measuring process patches office.todos.services._ordered and replaces the
indexes after the load. (The earlier `union` variant, one IN over a UNION in
principals_of, is now the code itself.)

Results: bench/results/todos.json. Exit status 1 when a p95 is over 20 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's folder comes first on sys.path, and bench/http.py would shadow
# the standard library's `http`: replace it with the repository root.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    del sys.path[0]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    load_people_pg,
    log,
    office_cli,
    office_env,
    password_hash,
    pct,
    reachable,
    temp_database,
    token_hash,
)

RESULTS = ROOT / "bench" / "results" / "todos.json"
TARGET_P95_MS = 20.0
KINDS = ["document", "memo", "seal_request", "meeting", "supervision", "leave", "circular", "report"]
KIND_WEIGHTS = [30, 20, 8, 12, 8, 6, 10, 6]
SOURCE_OF = {
    "document": "document",
    "memo": "memo",
    "seal_request": "seal_request",
    "meeting": "meeting",
    "supervision": "supervision_task",
    "leave": "leave_request",
    "circular": "circular",
    "report": "report",
}
TITLES = [
    "关于报送2026年度重点工作推进情况的通知",
    "关于召开全省政务服务工作会议的通知",
    "用印申请：关于签订信息化运维服务合同",
    "请阅：省政府常务会议纪要（第12期）",
    "关于做好汛期安全生产工作的紧急通知",
    "督办：关于落实营商环境优化措施的情况反馈",
    "请假申请：年休假5天",
    "关于印发《机关公文处理办法》的通知",
]
LIST = "/api/v1/todos?status=pending"
COUNTS = "/api/v1/todos/counts"
#: Measured too, on fewer users (not the issue's targets): 已办 and 我交办的.
DONE = "/api/v1/todos?status=done"
SENT = "/api/v1/todos/sent"
#: --variant proposed: the index changes proposed for office/todos/models.py. ix_todos_list
#: in the order the list sorts (urgency DESC; due_at ASC, which is NULLS LAST on PostgreSQL),
#: so the first page is the first 20 entries of an index range, plus `kind` as a payload
#: column (PostgreSQL INCLUDE; SQLite has none) so the counts are an index-only scan; and
#: indexes for the 已办 (done_by_id) and 我交办的 (sender_id) lists, which scan the table.
PROPOSED_INDEXES = {
    "postgresql": [
        "DROP INDEX ix_todos_list",
        "CREATE INDEX ix_todos_list ON todos "
        "(user_id, status, category, urgency DESC, due_at, created_at, id) INCLUDE (kind)",
        "CREATE INDEX ix_todos_done_by_id ON todos (done_by_id)",
        "CREATE INDEX ix_todos_sender_id ON todos (sender_id, created_at)",
    ],
    "sqlite": [
        "DROP INDEX ix_todos_list",
        "CREATE INDEX ix_todos_list ON todos "
        "(user_id, status, category, urgency DESC, due_at, created_at, id)",
        "CREATE INDEX ix_todos_done_by_id ON todos (done_by_id)",
        "CREATE INDEX ix_todos_sender_id ON todos (sender_id, created_at)",
    ],
}


# ================================================================ data


class Plan:
    """Who exists, who is heavy, who acts for whom, and how many items each person has."""

    def __init__(self, people: int, rows: int, seed: int, clerks: int = 10, clerk_items: int = 5000) -> None:
        rng = random.Random(seed)
        self.people = people
        self.rows = rows
        n_leaders = max(10, people // 100)
        self.leaders = list(range(0, n_leaders))  # load positions
        self.secretaries = list(range(n_leaders, 2 * n_leaders))  # secretary k -> leader k
        n_deleg = max(5, people // 200)
        d0 = 2 * n_leaders
        #: (delegator position, delegate position, open now?)
        self.delegations = [(d0 + n_deleg + k, d0 + k, k % 5 != 0) for k in range(n_deleg)]
        # A few clerks (收发员) hold thousands of items each: the list's worst case.
        self.clerks = list(range(d0 + 2 * n_deleg, d0 + 2 * n_deleg + clerks))
        clerk_rows = clerks * clerk_items
        # Everyone else: lognormal, leaders ~15x; scaled so the total is exactly `rows`.
        weights = [rng.lognormvariate(0, 0.9) * (15 if i < n_leaders else 1) for i in range(people)]
        for i in self.clerks:
            weights[i] = 0.0
        scale = (rows - clerk_rows) / sum(weights)
        counts = [int(w * scale) for w in weights]
        for i in self.clerks:
            counts[i] = clerk_items
        short = rows - sum(counts)
        for i in rng.sample([i for i in range(people) if i not in set(self.clerks)], short):
            counts[i] += 1
        self.counts = counts


def todo_rows(plan: Plan, user_ids: list[int], seed: int, now: datetime):
    """Yield to-do rows (tuples in COLUMNS order) in creation order over the last 365 days."""
    rng = random.Random(seed + 1)
    owners = [i for i, c in enumerate(plan.counts) for _ in range(c)]
    rng.shuffle(owners)  # creation order: one person's rows scattered over the table
    secretary_of = {plan.leaders[k]: plan.secretaries[k] for k in range(len(plan.leaders))}
    n = len(owners)
    start = now - timedelta(days=365)
    span = 365 * 86400
    kinds = rng.choices(KINDS, KIND_WEIGHTS, k=n)
    for k, pos in enumerate(owners):
        uid = user_ids[pos]
        created = start + timedelta(seconds=span * k / n + rng.random())
        r = rng.random()
        status = "pending" if r < 0.30 else ("done" if r < 0.95 else "cancelled")
        category = "read" if rng.random() < 0.25 else "todo"
        kind = kinds[k]
        u = rng.random()
        urgency = 2 if u < 0.05 else (1 if u < 0.20 else 0)
        due = (
            created + timedelta(days=rng.randint(1, 14), hours=rng.randint(0, 23))
            if rng.random() < 0.5
            else None
        )
        sender = user_ids[rng.randrange(len(user_ids))] if rng.random() < 0.4 else None
        if status == "pending":
            done_at = done_by = None
        else:
            done_at = created + timedelta(hours=rng.randint(1, 240))
            if done_at > now:
                done_at = now
            done_by = user_ids[secretary_of[pos]] if pos in secretary_of and rng.random() < 0.5 else uid
            if status == "cancelled":
                done_by = None
        title = TITLES[k % len(TITLES)]
        body = "" if rng.random() < 0.7 else "请按要求于期限前办理并反馈。"
        source_type = SOURCE_OF[kind]
        yield (
            uid, kind, category, title, body, urgency, due, status, source_type, k + 1,
            f"/{source_type}/{k + 1}", "", sender, created, done_at, done_by,
        )  # fmt: skip


COLUMNS = (
    "user_id, kind, category, title, body, urgency, due_at, status, source_type, source_id, "
    "source_url, step, sender_id, created_at, done_at, done_by_id"
)


def sample_users(plan: Plan, n: int, seed: int) -> dict[str, list[int]]:
    rng = random.Random(seed + 2)
    heavy_leaders = rng.sample(plan.leaders, min(30, len(plan.leaders)))
    return {
        "random": rng.sample(range(plan.people), n),
        "leader": heavy_leaders,
        "secretary": [plan.secretaries[plan.leaders.index(p)] for p in heavy_leaders],
        "delegate": [d for _, d, open_ in plan.delegations if open_][:30],
        "clerk": plan.clerks,
    }


def load_pg(database_url: str, plan: Plan, sample: dict[str, list[int]], seed: int) -> dict[str, Any]:
    import psycopg

    t0 = time.monotonic()
    positions = sorted({p for ps in sample.values() for p in ps})
    with psycopg.connect(database_url) as conn:
        people = load_people_pg(conn, plan.people, [0] * 20, prefix="t", token_for=positions, token_hours=12)
        log(f"{plan.people} people loaded ({time.monotonic() - t0:.1f} s)")
        now = datetime.now(UTC)
        ids = people.user_ids
        cur = conn.cursor()
        with cur.copy("COPY secretary_links (secretary_id, leader_id, created_at) FROM STDIN") as cp:
            for k, leader in enumerate(plan.leaders):
                cp.write_row((ids[plan.secretaries[k]], ids[leader], now))
        with cur.copy(
            "COPY delegations (delegator_id, delegate_id, starts_at, ends_at, reason, created_at) FROM STDIN"
        ) as cp:
            for delegator, delegate, open_ in plan.delegations:
                start = now - timedelta(days=1 if open_ else 30)
                cp.write_row((ids[delegator], ids[delegate], start, start + timedelta(days=7), "出差", start))
        conn.commit()
        t1 = time.monotonic()
        cur.execute("SET session_replication_role = replica")  # no FK triggers during the load
        with cur.copy(f"COPY todos ({COLUMNS}) FROM STDIN") as cp:
            buf: list[str] = []
            for row in todo_rows(plan, ids, seed, now):
                buf.append("\t".join(_pg_text(v) for v in row))
                if len(buf) >= 5000:
                    cp.write("\n".join(buf) + "\n")
                    buf.clear()
            if buf:
                cp.write("\n".join(buf) + "\n")
        cur.execute("SET session_replication_role = origin")
        conn.commit()
        log(f"{plan.rows} to-do rows copied ({time.monotonic() - t1:.1f} s)")
    with psycopg.connect(database_url, autocommit=True) as conn:
        t2 = time.monotonic()
        conn.execute("VACUUM ANALYZE")
        size = conn.execute("SELECT pg_size_pretty(pg_total_relation_size('todos'))").fetchone()[0]
        log(f"VACUUM ANALYZE ({time.monotonic() - t2:.1f} s); todos with indexes: {size}")
    return {"people": people, "load_seconds": time.monotonic() - t0, "todos_size": size}


def _pg_text(v: Any) -> str:
    if v is None:
        return "\\N"
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, bool):
        return "t" if v else "f"
    return str(v)


def _sqlite_dt(v: datetime | None) -> str | None:
    # SQLAlchemy's SQLite DateTime storage format (naive UTC, as office.db.UTCDateTime stores)
    return None if v is None else v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def load_sqlite(path: Path, plan: Plan, sample: dict[str, list[int]], seed: int) -> dict[str, Any]:
    from bench.common import People

    t0 = time.monotonic()
    now = datetime.now(UTC)
    ts = _sqlite_dt(now)
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    cur = con.cursor()
    root = cur.execute("SELECT id FROM units WHERE parent_id IS NULL ORDER BY id LIMIT 1").fetchone()[0]
    unit_ids = []
    for k in range(20):
        cur.execute(
            "INSERT INTO units (parent_id, name, kind, sort_order, path, depth, active, created_at) "
            "VALUES (?, ?, 'division', ?, '/', 1, 1, ?)",
            (root, f"压测t第{k + 1}处", 100 + k, ts),
        )
        uid = cur.lastrowid
        cur.execute("UPDATE units SET path = ? WHERE id = ?", (f"/{root}/{uid}/", uid))
        unit_ids.append(uid)
    pw = password_hash()
    surnames = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨"
    cur.executemany(
        "INSERT INTO users (username, name, pinyin, pinyin_initials, password_hash, active, totp_enabled, "
        "must_change_password, failed_logins, created_at, password_changed_at) "
        "VALUES (?, ?, '', '', ?, 1, 0, 0, 0, ?, ?)",
        ((f"t{i:06d}", f"{surnames[i % 16]}测{i}", pw, ts, ts) for i in range(plan.people)),
    )
    ids = [r[0] for r in cur.execute("SELECT id FROM users WHERE username LIKE 't______' ORDER BY username")]
    unit_of = {uid: unit_ids[i % 20] for i, uid in enumerate(ids)}
    cur.executemany(
        "INSERT INTO posts (user_id, unit_id, title, is_primary, sort_order) VALUES (?, ?, '科员', 1, 0)",
        ((uid, unit_of[uid]) for uid in ids),
    )
    cur.execute(
        "INSERT INTO post_roles (post_id, role) SELECT p.id, 'staff' FROM posts p "
        "JOIN users u ON u.id = p.user_id WHERE u.username LIKE 't______'"
    )
    people = People(ids, unit_of, unit_ids)
    import secrets

    expires = _sqlite_dt(now + timedelta(hours=12))
    rows = []
    for pos in sorted({p for ps in sample.values() for p in ps}):
        secret = secrets.token_urlsafe(32)
        people.tokens[ids[pos]] = secret
        rows.append((ids[pos], "api", token_hash(secret), ts, expires, ts))
    cur.executemany(
        "INSERT INTO auth_tokens (user_id, kind, token_hash, created_at, expires_at, last_seen_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        rows,
    )
    cur.executemany(
        "INSERT INTO secretary_links (secretary_id, leader_id, created_at) VALUES (?, ?, ?)",
        ((ids[plan.secretaries[k]], ids[leader], ts) for k, leader in enumerate(plan.leaders)),
    )
    deleg = []
    for delegator, delegate, open_ in plan.delegations:
        start = now - timedelta(days=1 if open_ else 30)
        end = start + timedelta(days=7)
        deleg.append(
            (ids[delegator], ids[delegate], _sqlite_dt(start), _sqlite_dt(end), "出差", _sqlite_dt(start))
        )
    cur.executemany(
        "INSERT INTO delegations (delegator_id, delegate_id, starts_at, ends_at, reason, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        deleg,
    )
    con.commit()
    log(f"{plan.people} people loaded ({time.monotonic() - t0:.1f} s)")
    t1 = time.monotonic()
    marks = ", ".join("?" * 16)
    dt_cols = (6, 13, 14)
    cur.executemany(
        f"INSERT INTO todos ({COLUMNS}) VALUES ({marks})",
        (
            tuple(_sqlite_dt(v) if i in dt_cols else v for i, v in enumerate(row))
            for row in todo_rows(plan, ids, seed, now)
        ),
    )
    con.commit()
    log(f"{plan.rows} to-do rows inserted ({time.monotonic() - t1:.1f} s)")
    cur.execute("ANALYZE")
    con.commit()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    size = f"{path.stat().st_size / 1e6:.0f} MB (whole database)"
    return {"people": people, "load_seconds": time.monotonic() - t0, "todos_size": size}


# ================================================================ measurement (child process)


def summary(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "p50_ms": pct(values, 50),
        "p95_ms": pct(values, 95),
        "p99_ms": pct(values, 99),
        "max_ms": max(values) if values else None,
        "mean_ms": statistics.fmean(values) if values else None,
    }


def measure_main(args: argparse.Namespace) -> int:
    from sqlalchemy import event

    from office import create_app
    from office.extensions import db

    spec = json.loads(Path(args.users).read_text())
    app = create_app()
    if args.variant == "proposed":
        _patch_order_nulls_last()
    timing: dict[str, float] = {}
    inner = app.wsgi_app

    def timed(environ, start_response):
        t0 = time.perf_counter()
        body = inner(environ, start_response)
        try:
            chunks = list(body)
        finally:
            if hasattr(body, "close"):
                body.close()
        timing["ms"] = (time.perf_counter() - t0) * 1000
        return chunks

    app.wsgi_app = timed  # type: ignore[method-assign]
    sql: dict[str, Any] = {"n": 0, "ms": 0.0, "capture": None}

    with app.app_context():
        engine = db.engine
        backend = engine.dialect.name

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn, cursor, statement, parameters, context, executemany):
        conn.info["t0"] = time.perf_counter()
        if sql["capture"] is not None:
            sql["capture"].append((statement, parameters))

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn, cursor, statement, parameters, context, executemany):
        sql["n"] += 1
        sql["ms"] += (time.perf_counter() - conn.info.pop("t0", time.perf_counter())) * 1000

    client = app.test_client()
    users = spec["users"]  # [{"user_id", "token", "group", "items_seen"}]
    for u in users:  # the principal cache is warm for an active user
        r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {u['token']}"})
        if r.status_code != 200:
            raise RuntimeError(
                f"/api/v1/me for {u['user_id']}: {r.status_code} {r.get_data(as_text=True)[:200]}"
            )
    rng = random.Random(args.seed)
    records = []
    for n in range(args.passes):
        order = [(u, path) for u in users for path in (LIST, COUNTS)]
        rng.shuffle(order)
        for u, path in order:
            sql["n"], sql["ms"] = 0, 0.0
            r = client.get(path, headers={"Authorization": f"Bearer {u['token']}"})
            if r.status_code != 200:
                raise RuntimeError(
                    f"{path} for {u['user_id']}: {r.status_code} {r.get_data(as_text=True)[:300]}"
                )
            body = r.get_json()
            records.append(
                {
                    "pass": n,
                    "path": path,
                    "group": u["group"],
                    "user_id": u["user_id"],
                    "ms": timing["ms"],
                    "sql_ms": sql["ms"],
                    "queries": sql["n"],
                    "total": body.get("total") if path == LIST else body.get("pending"),
                    "items": len(body.get("items", [])) if path == LIST else None,
                }
            )

    extra_users = [u for u in users if u["group"] == "random"][: args.extra_users]
    extra_users += [u for u in users if u["group"] == "clerk"]
    for u in extra_users:
        for path in (DONE, SENT):
            sql["n"], sql["ms"] = 0, 0.0
            r = client.get(path, headers={"Authorization": f"Bearer {u['token']}"})
            if r.status_code != 200:
                raise RuntimeError(f"{path} for {u['user_id']}: {r.status_code}")
            records.append(
                {
                    "pass": 0, "path": path, "group": u["group"], "user_id": u["user_id"], "ms": timing["ms"],
                    "sql_ms": sql["ms"], "queries": sql["n"], "total": r.get_json().get("total"),
                    "items": None,
                }
            )  # fmt: skip

    # The SQL each endpoint runs, captured from the app, explained for two users: the median
    # random user by pending items and the heaviest user sampled.
    def explain_for(u: dict) -> dict[str, Any]:
        out = {}
        for path in (LIST, COUNTS, DONE):
            sql["capture"] = []
            client.get(path, headers={"Authorization": f"Bearer {u['token']}"})
            captured, sql["capture"] = sql["capture"], None
            plans = []
            with app.app_context():
                raw = db.engine.raw_connection()
                try:
                    cur = raw.cursor()
                    for statement, params in captured:
                        if not statement.lstrip().upper().startswith("SELECT"):
                            continue
                        if backend == "postgresql":
                            cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
                        else:
                            cur.execute("EXPLAIN QUERY PLAN " + statement, params)
                        plan = [" | ".join(str(c) for c in row) for row in cur.fetchall()]
                        plans.append({"sql": statement, "params": _jsonable(params), "plan": plan})
                    raw.rollback()
                finally:
                    raw.close()
            out[path] = plans
        return out

    rand = [u for u in users if u["group"] == "random"]
    by_pending = sorted(rand, key=lambda u: u["items_seen"])
    heaviest = max(users, key=lambda u: u["items_seen"])
    median = by_pending[len(by_pending) // 2]
    explains = {
        name: {"user_id": u["user_id"], "items_seen": u["items_seen"], **explain_for(u)}
        for name, u in (("median_user", median), ("heaviest_user", heaviest))
    }
    json.dump({"backend": backend, "records": records, "explain": explains}, sys.stdout)
    return 0


def _patch_order_nulls_last() -> None:
    """--variant proposed: office.todos.services._ordered with ``due_at ASC NULLS LAST`` in
    place of ``CASE WHEN due_at IS NULL THEN 1 ELSE 0 END, due_at``: the same order, but one
    an index can hold (the proposed ix_todos_list), so PostgreSQL reads the first 20 entries
    of the person's pending items in order instead of fetching and sorting all of them.
    (SQLite accepts NULLS LAST in ORDER BY since 3.30, not in an index; it sorts.)"""
    from office.todos import services
    from office.todos.models import Todo

    def _ordered(stmt):
        return stmt.order_by(Todo.urgency.desc(), Todo.due_at.asc().nulls_last(), Todo.created_at, Todo.id)

    services._ordered = _ordered


def _jsonable(params: Any) -> Any:
    if isinstance(params, dict):
        return {k: _jsonable(v) for k, v in params.items()}
    if isinstance(params, (list, tuple)):
        return [_jsonable(v) for v in params]
    if isinstance(params, (int, float, str)) or params is None:
        return params
    return str(params)


# ================================================================ orchestrator


def _apply_indexes(backend: str, where: Any) -> None:
    t0 = time.monotonic()
    if backend == "postgresql":
        import psycopg

        with psycopg.connect(where, autocommit=True) as conn:
            for ddl in PROPOSED_INDEXES[backend]:
                conn.execute(ddl)
            conn.execute("ANALYZE todos")
    else:
        con = sqlite3.connect(where)
        for ddl in PROPOSED_INDEXES[backend]:
            con.execute(ddl)
        con.execute("ANALYZE")
        con.commit()
        con.close()
    log(f"{backend}: proposed indexes created ({time.monotonic() - t0:.1f} s)")


def run_backend(backend: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    people_n, rows_n = (
        (args.people, args.rows) if backend == "postgresql" else (args.sqlite_people, args.sqlite_rows)
    )
    clerk_items = args.clerk_items if backend == "postgresql" else args.clerk_items // 5
    plan = Plan(people_n, rows_n, args.seed, args.clerks, clerk_items)
    sample = sample_users(plan, args.sample, args.seed)
    instance = tmp / f"instance-{backend}"
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        if backend == "postgresql":
            database_url = stack.enter_context(temp_database(args.pg_url, "todos", keep=args.keep_db))
            redis = args.redis_url if args.redis_url and reachable(args.redis_url, 6379) else None
            env = office_env(database_url, instance, redis)
            office_cli(env, "init", "--admin-password", "Admin-Bench-2026x9")
            loaded = load_pg(database_url, plan, sample, args.seed)
        else:
            env = office_env("", instance)
            env.pop("DATABASE_URL")
            office_cli(env, "init", "--admin-password", "Admin-Bench-2026x9")
            loaded = load_sqlite(instance / "office.db", plan, sample, args.seed)
            redis = None
        if args.variant == "proposed":
            _apply_indexes(backend, database_url if backend == "postgresql" else instance / "office.db")
        people = loaded["people"]
        # pending 待办 items each sampled user sees (own + acted for), for the report
        secretary_of = {plan.secretaries[k]: plan.leaders[k] for k in range(len(plan.leaders))}
        delegator_of = {d: g for g, d, open_ in plan.delegations if open_}
        users = []
        for group, positions in sample.items():
            for pos in positions:
                seen = [pos] + [x for x in (secretary_of.get(pos), delegator_of.get(pos)) if x is not None]
                users.append(
                    {
                        "group": group,
                        "user_id": people.user_ids[pos],
                        "token": people.tokens[people.user_ids[pos]],
                        "items_seen": sum(plan.counts[x] for x in seen),  # all statuses
                    }
                )
        spec = tmp / f"users-{backend}.json"
        spec.write_text(json.dumps({"users": users}))
        log(f"{backend}: measuring {len(users)} users x {args.passes} passes x 2 endpoints")
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--role", "measure", "--users", str(spec),
             "--passes", str(args.passes), "--seed", str(args.seed), "--variant", args.variant,
             "--extra-users", str(args.extra_users)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=args.measure_timeout,
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"measurement failed:\n{proc.stderr[-4000:]}")
        data = json.loads(proc.stdout)
    records = data["records"]
    result: dict[str, Any] = {
        "backend": backend,
        "people": people_n,
        "rows": rows_n,
        "redis": bool(redis),
        "load_seconds": round(loaded["load_seconds"], 1),
        "todos_size": loaded["todos_size"],
        "wall_seconds": round(time.monotonic() - started, 1),
    }
    for path, key in ((LIST, "list"), (COUNTS, "counts"), (DONE, "done"), (SENT, "sent")):
        for group in ("random", "leader", "secretary", "delegate", "clerk"):
            rs = [r for r in records if r["path"] == path and r["group"] == group]
            if not rs:
                continue
            s = summary([r["ms"] for r in rs])
            s["sql_ms"] = summary([r["sql_ms"] for r in rs])
            s["queries_per_request"] = statistics.median(r["queries"] for r in rs)
            s["total_p50"] = statistics.median(r["total"] for r in rs)
            s["total_max"] = max(r["total"] for r in rs)
            result.setdefault(key, {})[group] = s
        worst = sorted((r for r in records if r["path"] == path), key=lambda r: -r["ms"])[:5]
        result.setdefault("slowest", {})[key] = [
            {k: r[k] for k in ("group", "user_id", "ms", "sql_ms", "queries", "total")} for r in worst
        ]
    result["explain"] = data["explain"]
    for key in ("list", "counts"):
        s = result[key]["random"]
        h = {g: round(result[key][g]["p95_ms"], 2) for g in result[key] if g != "random"}
        log(
            f"{backend} {key:6s}: random users p50 {s['p50_ms']:.2f} ms, p95 {s['p95_ms']:.2f} ms, "
            f"p99 {s['p99_ms']:.2f} ms (SQL p95 {s['sql_ms']['p95_ms']:.2f} ms, "
            f"{s['queries_per_request']:.0f} queries); heavy p95 {h}"
        )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sqlite-people", type=int, default=20_000)
    parser.add_argument("--sqlite-rows", type=int, default=200_000)
    parser.add_argument("--sample", type=int, default=300, help="random users measured")
    parser.add_argument("--clerks", type=int, default=10, help="people with --clerk-items items each")
    parser.add_argument(
        "--clerk-items", type=int, default=5000, help="items per clerk (PostgreSQL; SQLite: a fifth)"
    )
    parser.add_argument("--passes", type=int, default=3, help="requests per user and endpoint")
    parser.add_argument(
        "--extra-users",
        type=int,
        default=50,
        help="random users for the 已办 and 交办 lists (1 request each)",
    )
    parser.add_argument("--only", choices=("postgresql", "sqlite"))
    parser.add_argument(
        "--variant",
        choices=("current", "proposed"),
        default="current",
        help="union: the principals_of fix patched in; proposed: that + the index and ORDER BY "
        "changes (bench only: office/ is not modified)",
    )
    parser.add_argument("--keep-db", action="store_true", help="keep the PostgreSQL database (for EXPLAIN)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--measure-timeout", type=float, default=600)
    parser.add_argument(
        "--pg-url", default=os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/6"))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--role", choices=("main", "measure"), default="main", help=argparse.SUPPRESS)
    parser.add_argument("--users", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "measure":
        return measure_main(args)

    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="office-bench-todos-"))
    results = {}
    try:
        for backend in ("postgresql", "sqlite"):
            if args.only and args.only != backend:
                continue
            results[backend] = run_backend(backend, args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print()
    print(
        f"{'database':24s} {'endpoint':28s} {'p50 ms':>7s} {'p95 ms':>7s} {'p99 ms':>7s} {'max ms':>7s} "
        f"{'SQL p95':>7s} {'q/req':>5s}"
    )
    ok = {}
    for backend, r in results.items():
        label = f"{backend} {r['rows'] // 1000}k/{r['people'] // 1000}k"
        for key, path in (("list", "GET /api/v1/todos"), ("counts", "GET /api/v1/todos/counts")):
            s = r[key]["random"]
            print(
                f"{label:24s} {path:28s} {s['p50_ms']:7.2f} {s['p95_ms']:7.2f} {s['p99_ms']:7.2f} "
                f"{s['max_ms']:7.1f} {s['sql_ms']['p95_ms']:7.2f} {s['queries_per_request']:5.0f}"
            )
            ok[f"{backend}_{key}"] = s["p95_ms"] <= TARGET_P95_MS
        for key, path in (("list", "  clerks: GET /api/v1/todos"), ("counts", "  clerks: .../counts"),
                          ("done", "  ?status=done"), ("sent", "  /api/v1/todos/sent")):  # fmt: skip
            s = r.get(key, {}).get("clerk" if "clerks" in path else "random")
            if s:
                print(
                    f"{'':24s} {path:28s} {s['p50_ms']:7.2f} {s['p95_ms']:7.2f} {s['p99_ms']:7.2f} "
                    f"{s['max_ms']:7.1f} {s['sql_ms']['p95_ms']:7.2f} {s['queries_per_request']:5.0f}"
                )
    print(
        f"target: p95 <= {TARGET_P95_MS:.0f} ms: "
        + ", ".join(f"{k} {'PASS' if v else 'FAIL'}" for k, v in ok.items())
    )
    report = {
        "benchmark": "todos",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "settings": {
            k: getattr(args, k)
            for k in ("people", "rows", "sqlite_people", "sqlite_rows", "sample", "passes", "seed", "variant")
        },
        "target_p95_ms": TARGET_P95_MS,
        "ok": ok,
        "results": results,
        "wall_seconds": round(time.monotonic() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(
        f"results: {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}  "
        f"({report['wall_seconds']:.0f} s)"
    )
    return 0 if all(ok.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
