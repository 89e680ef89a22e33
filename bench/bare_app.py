"""The baseline for bench/http.py: a bare Flask app with one JSON endpoint.

Its body has the shape and about the size of GET /api/v1/me (one user with one post), so the
ratio in the benchmark shows what the application adds on top of Flask + gunicorn + gevent:
token lookup, loading the person, the schema, the database round trips.

    gunicorn -k gevent -w 1 bench.bare_app:app      (from the repository root)
"""

from __future__ import annotations

from flask import Flask, jsonify

app = Flask(__name__)
app.json.ensure_ascii = False  # type: ignore[attr-defined]  (as the office app)

ME = {
    "id": 2,
    "username": "bench",
    "name": "压测用户",
    "mobile": None,
    "active": True,
    "unit": {"id": 1, "name": "示例省人民政府"},
    "roles": ["staff"],
    "posts": [
        {
            "id": 2,
            "unit": {"id": 1, "name": "示例省人民政府"},
            "title": "科员",
            "roles": ["staff"],
            "is_primary": True,
        }
    ],
}


@app.get("/api/v1/me")
def me():
    return jsonify(ME)
