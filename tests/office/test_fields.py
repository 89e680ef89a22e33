"""Numbers beyond what the database holds are bad input: 404 in a path, 422 in a query or a
body, never a 500 from the driver (found by schemathesis against the OpenAPI document)."""

from __future__ import annotations

import pytest

from office.fields import INT_MAX, bounded_int, bounded_ints
from tests.conftest import bearer

HUGE = 2**70


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("12", 12), (" 7 ", 7), (str(INT_MAX), INT_MAX), (str(INT_MAX + 1), None), (str(HUGE), None),
     ("²", None), ("-3", None), ("", None), (None, None), ("1e3", None)],
)  # fmt: skip
def test_bounded_int(raw, expected):
    assert bounded_int(raw) == expected


def test_bounded_ints_keeps_valid_ids_once_in_order():
    assert bounded_ints(["3", "x", "1", "3", str(HUGE), " 2 ", ""]) == [3, 1, 2]


def test_huge_ids_in_paths_are_not_found(client, org):
    headers = bearer(client, "zhangsan")
    for path in (f"/api/v1/todos/{HUGE}", f"/api/v1/units/{INT_MAX + 1}", f"/api/v1/documents/{HUGE}"):
        resp = client.get(path, headers=headers)
        assert resp.status_code == 404, path
        assert resp.get_json()["error"]["code"] == "not_found"
    # the largest id the database can hold is still looked up (and simply not there)
    assert client.get(f"/api/v1/todos/{INT_MAX}", headers=headers).status_code == 404


def test_huge_numbers_in_queries_and_bodies_are_named(client, org):
    headers = bearer(client, "zhangsan")
    resp = client.get("/api/v1/notifications", query_string={"after_id": HUGE}, headers=headers)
    assert resp.status_code == 422
    assert resp.get_json()["error"]["details"]["fields"] == {"after_id": ["数值超出范围"]}
    body = {"title": "关于测试的通知", "doc_type": "notice", "direction": "down", "main_unit_ids": [HUGE]}
    resp = client.post("/api/v1/documents", json=body, headers=headers)
    assert resp.status_code == 422 and "main_unit_ids" in resp.get_json()["error"]["details"]["fields"]
    resp = client.get("/api/v1/users", query_string={"unit_id": -HUGE}, headers=headers)
    assert resp.status_code == 422 and "unit_id" in resp.get_json()["error"]["details"]["fields"]


def test_a_huge_on_behalf_of_is_refused(client, org):
    headers = bearer(client, "zhangsan") | {"X-On-Behalf-Of": str(HUGE)}
    resp = client.get("/api/v1/me", headers=headers)
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "cannot_act_for"


@pytest.mark.parametrize("err", [OverflowError("Python int too large to convert to SQLite INTEGER")])
def test_a_value_the_database_rejects_is_422_not_500(app, err):
    """The last line behind the schemas: whatever still reaches the driver answers 422."""
    from sqlalchemy.exc import DataError

    for exc in (err, DataError("INSERT …", {}, Exception("value too long for type character varying(200)"))):
        with app.test_request_context("/api/v1/anything"):
            resp = app.make_response(app.handle_user_exception(exc))
        assert resp.status_code == 422
        assert resp.get_json()["error"]["code"] == "value_out_of_range"
