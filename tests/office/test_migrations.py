"""Migrations and models agree, on whichever database this run uses (SQLite or PostgreSQL)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from office.db import Base
from office.extensions import db


def test_migrations_produce_the_models_schema(app, ctx):
    # The session fixture built the schema with `upgrade` only; compare it with the models.
    with db.engine.connect() as conn:
        mc = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(mc, Base.metadata)
    assert diff == [], f"migrations and models differ on {db.engine.dialect.name}: {diff}"


def test_readyz_reports_head_and_healthz(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["status"] == "ok"


def test_readyz_is_503_when_schema_behind(app, client, ctx):
    from sqlalchemy import text

    with db.engine.begin() as conn:
        old = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        conn.execute(text("UPDATE alembic_version SET version_num = 'old'"))
    try:
        resp = client.get("/readyz")
        assert resp.status_code == 503 and resp.get_json()["migration"] == "old"
    finally:
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": old})


def test_openapi_document_and_docs_page(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    for path in ("/api/v1/auth/token", "/api/v1/me", "/api/v1/users", "/api/v1/units"):
        assert path in spec["paths"]
    assert "BearerAuth" in spec["components"]["securitySchemes"]
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and b"swagger-ui" in page.data
