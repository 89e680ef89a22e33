"""Shared fixtures and factories.

The suite runs against SQLite by default. With ``OFFICE_TEST_DATABASE_URL`` (PostgreSQL) and
``OFFICE_TEST_REDIS_URL`` it runs in the scale-out mode against a fresh database made for the
run. ``OFFICE_REQUIRE_ALL=1`` (set by CI) turns every "service missing" skip into a failure.
"""

from __future__ import annotations

import os
import re
import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from office import create_app
from office.cli import upgrade_db
from office.context import SYSTEM
from office.db import Base
from office.extensions import db
from office.identity import services as identity
from office.identity.models import Unit, User
from office.search import services as search

PASSWORD = "Test@2026pass"
REQUIRE_ALL = os.environ.get("OFFICE_REQUIRE_ALL") == "1"


def require(condition: bool, reason: str) -> None:
    """Skip with ``reason`` unless CI demands everything run, then fail."""
    if not condition:
        if REQUIRE_ALL:
            pytest.fail(f"OFFICE_REQUIRE_ALL=1 and {reason}")
        pytest.skip(reason)


def _make_pg_database(url: str) -> tuple[str, str]:
    name = f"office_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(
        url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return re.sub(r"/[^/]*$", f"/{name}", url), name


def _drop_pg_database(url: str, name: str) -> None:
    admin = create_engine(
        url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> Iterator[str]:
    base = os.environ.get("OFFICE_TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        return
    url, name = _make_pg_database(base)
    yield url
    _drop_pg_database(base, name)


@pytest.fixture(scope="session")
def app_config(database_url, tmp_path_factory) -> dict[str, Any]:
    return {
        "TESTING": True,
        "PASSWORD_HASH_FAST": True,
        "OFFICE_INSTANCE": str(tmp_path_factory.mktemp("instance")),
        "SQLALCHEMY_DATABASE_URI": database_url
        if database_url.startswith("sqlite")
        else database_url.replace("postgresql://", "postgresql+psycopg://", 1),
        "REDIS_URL": os.environ.get("OFFICE_TEST_REDIS_URL") or None,
        "RATELIMIT_STORAGE_URI": os.environ.get("OFFICE_TEST_REDIS_URL") or "memory://",
        "RATELIMIT_KEY_PREFIX": f"test-{secrets.token_hex(4)}",
        "LOGIN_RATE_LIMIT": "1000 per minute",
        "SECRET_KEY": secrets.token_urlsafe(32),
        "REQUIRE_ADMIN_2FA": False,
        "SERVER_NAME": None,
        # The scale-out mode searches with the postgres engine; indexing is applied right
        # after each commit in both modes, so a test can search what it just wrote.
        "SEARCH_BACKEND": "whoosh" if database_url.startswith("sqlite") else "postgres",
        "SEARCH_DRAIN": "inline",
    }


@pytest.fixture(scope="session")
def app(app_config):
    app = create_app(app_config)
    with app.app_context():
        upgrade_db()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _clean_database(request) -> Iterator[None]:
    """Each test starts from empty tables (schema stays; the audit head is reset)."""
    if "app" not in request.fixturenames:
        yield
        return
    app = request.getfixturevalue("app")
    yield
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE units SET parent_id = NULL"))
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())
            conn.execute(text("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, :h)"), {"h": "0" * 64})
        search.discard_local_indexes()
        # The rows went without the ORM (no generation bump): forget what was cached of them.
        app.extensions.pop("identity_relations", None)
        app.extensions["principal_cache"].bump()


@pytest.fixture
def ctx(app) -> Iterator[None]:
    """An application context for calling services directly."""
    with app.app_context():
        yield
        db.session.remove()


@pytest.fixture
def client(app):
    return app.test_client()


class Factory:
    """Builds units and people through the real services (as the system actor)."""

    def __init__(self, app) -> None:
        self.app = app
        self._n = 0

    def _seq(self) -> int:
        self._n += 1
        return self._n

    def unit(
        self,
        name: str | None = None,
        kind: str = "department",
        parent: Unit | None = None,
        short_name: str | None = None,
    ) -> Unit:
        with self.app.app_context():
            unit = identity.create_unit(
                SYSTEM,
                name=name or f"测试单位{self._seq()}",
                kind=kind,
                parent_id=parent.id if parent else None,
                short_name=short_name,
            )
            db.session.commit()
            db.session.refresh(unit)
            db.session.expunge(unit)
            return unit

    def user(
        self,
        username: str | None = None,
        *,
        name: str | None = None,
        unit: Unit,
        roles: tuple[str, ...] | list[str] = ("staff",),
        title: str = "科员",
        password: str = PASSWORD,
        mobile: str | None = None,
    ) -> User:
        n = self._seq()
        with self.app.app_context():
            user = identity.create_user(
                SYSTEM,
                username=username or f"user{n}",
                name=name or f"测试{n}",
                password=password,
                mobile=mobile,
                posts=[{"unit_id": unit.id, "title": title, "roles": list(roles)}],
            )
            db.session.commit()
            uid = user.id
        return self.get_user(uid)

    def get_user(self, user_id: int) -> User:
        with self.app.app_context():
            user = db.session.get(User, user_id)
            _ = [p.unit.name for p in user.posts], [p.role_codes for p in user.posts]
            db.session.expunge_all()
            return user


@pytest.fixture
def factory(app) -> Factory:
    return Factory(app)


@pytest.fixture
def org(factory) -> dict[str, Any]:
    """A small province: 省 → 办公厅 → 综合处, and two unrelated counties, with people."""
    province = factory.unit("示例省人民政府", kind="province", short_name="示政")
    office_ = factory.unit("省政府办公厅", parent=province, short_name="示政办")
    division = factory.unit("综合处", kind="division", parent=office_)
    city = factory.unit("示例市人民政府", kind="city", parent=province, short_name="示市")
    county_a = factory.unit("东山县人民政府", kind="county", parent=city, short_name="东县")
    county_b = factory.unit("西河县人民政府", kind="county", parent=city, short_name="西县")
    people = {
        "admin": factory.user("admin", name="系统管理员", unit=province, roles=("admin",), title="管理员"),
        "unitadmin": factory.user(
            "unitadmin", name="王管理", unit=office_, roles=("unit_admin",), title="信息科长"
        ),
        "leader": factory.user("leader", name="李省长", unit=province, roles=("leader",), title="副省长"),
        "secretary": factory.user(
            "secretary", name="赵秘书", unit=office_, roles=("secretary",), title="秘书"
        ),
        "staff": factory.user("zhangsan", name="张三", unit=division, roles=("staff",), mobile="13800138000"),
        "county_a": factory.user("county_a", name="陈东", unit=county_a, roles=("clerk",), title="收发员"),
        "county_b": factory.user("county_b", name="刘西", unit=county_b, roles=("clerk",), title="收发员"),
        "county_admin": factory.user("county_admin", name="周县管", unit=county_a, roles=("unit_admin",)),
    }
    return {
        "units": {
            "province": province,
            "office": office_,
            "division": division,
            "city": city,
            "county_a": county_a,
            "county_b": county_b,
        },
        "people": people,
    }


def bearer(client, username: str, password: str = PASSWORD, **extra: Any) -> dict[str, str]:
    resp = client.post("/api/v1/auth/token", json={"username": username, "password": password, **extra})
    assert resp.status_code == 201, resp.get_json()
    return {"Authorization": f"Bearer {resp.get_json()['token']}"}


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html) or re.search(
        r'name="csrf-token" content="([^"]+)"', html
    )
    assert match, "no CSRF token on page"
    return match.group(1)


def web_login(client, username: str, password: str = PASSWORD) -> str:
    """Sign in through the login form; returns a CSRF token for later posts."""
    token = csrf_from(client.get("/login").get_data(as_text=True))
    resp = client.post("/login", data={"username": username, "password": password, "csrf_token": token})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    return csrf_from(client.get("/").get_data(as_text=True))
