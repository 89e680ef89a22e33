"""Reach (who sees whom) and directory search on the API and the directory pages."""

from __future__ import annotations

import pytest

from tests.conftest import bearer, web_login


def _names(resp) -> set[str]:
    return {u["name"] for u in resp.get_json()["items"]}


def test_county_person_cannot_see_the_other_county(client, org):
    headers = bearer(client, "county_a")
    other, other_unit = org["people"]["county_b"], org["units"]["county_b"]

    for url in (f"/api/v1/users/{other.id}", f"/api/v1/units/{other_unit.id}"):
        resp = client.get(url, headers=headers)
        assert resp.status_code == 404, url  # not 403: existence is not revealed
        assert resp.get_json()["error"]["code"] == "not_found"

    # a foreign id and an id that does not exist look the same
    missing = client.get("/api/v1/users/999999", headers=headers)
    assert missing.get_json() == client.get(f"/api/v1/users/{other.id}", headers=headers).get_json()

    # their own county stays visible
    assert client.get(f"/api/v1/units/{org['units']['county_a'].id}", headers=headers).status_code == 200
    assert client.get(f"/api/v1/users/{org['people']['county_admin'].id}", headers=headers).status_code == 200


def test_county_person_lists_only_their_county(client, org):
    headers = bearer(client, "county_a")
    body = client.get("/api/v1/users?per_page=100", headers=headers).get_json()
    assert {u["name"] for u in body["items"]} == {"陈东", "周县管"}
    assert body["total"] == 2
    # searching for the foreign person by name finds nothing, and the total agrees
    body = client.get("/api/v1/users?q=刘西", headers=headers).get_json()
    assert body["items"] == [] and body["total"] == 0
    # nor do the province people show up
    assert client.get("/api/v1/users?q=张三", headers=headers).get_json()["total"] == 0

    units = client.get("/api/v1/units", headers=headers).get_json()
    assert [u["name"] for u in units["items"]] == ["东山县人民政府"]


@pytest.mark.parametrize("username", ["zhangsan", "leader"])
def test_province_people_see_the_counties(client, org, username):
    headers = bearer(client, username)
    for key in ("county_a", "county_b"):
        resp = client.get(f"/api/v1/users/{org['people'][key].id}", headers=headers)
        assert resp.status_code == 200
        assert client.get(f"/api/v1/units/{org['units'][key].id}", headers=headers).status_code == 200
    body = client.get("/api/v1/users?per_page=100", headers=headers).get_json()
    assert {"陈东", "刘西"} <= {u["name"] for u in body["items"]}


def test_admin_sees_everyone(client, org):
    headers = bearer(client, "admin")
    body = client.get("/api/v1/users?per_page=100", headers=headers).get_json()
    assert body["total"] == len(org["people"]) == len(body["items"])
    units = client.get("/api/v1/units", headers=headers).get_json()
    assert units["total"] == len(org["units"])


def test_foreign_person_page_is_404(client, org):
    web_login(client, "county_a")
    assert client.get(f"/directory/people/{org['people']['county_b'].id}").status_code == 404
    own = client.get(f"/directory/people/{org['people']['county_admin'].id}")
    assert own.status_code == 200 and "周县管" in own.get_data(as_text=True)


@pytest.mark.parametrize("q", ["zs", "ZS", "zhangs", "zhangsan", "138001", "张", "张三"])
def test_directory_search_finds_zhangsan(client, org, q):
    headers = bearer(client, "leader")
    resp = client.get("/api/v1/users", query_string={"q": q}, headers=headers)
    assert resp.status_code == 200
    body = resp.get_json()
    assert "张三" in _names(resp), q
    assert body["total"] == len(body["items"])
    hit = next(u for u in body["items"] if u["name"] == "张三")
    assert hit["mobile"] == "13800138000" and hit["unit"]["name"] == "综合处"


def test_directory_search_misses(client, org):
    headers = bearer(client, "leader")
    for q in ("zz", "139", "王五"):
        body = client.get("/api/v1/users", query_string={"q": q}, headers=headers).get_json()
        assert "张三" not in {u["name"] for u in body["items"]}, q
    # LIKE wildcards are taken literally
    assert client.get("/api/v1/users", query_string={"q": "%"}, headers=headers).get_json()["total"] == 0


def test_role_and_unit_filters(client, org):
    headers = bearer(client, "admin")
    units = org["units"]

    def names(**params) -> tuple[set[str], int]:
        body = client.get("/api/v1/users", query_string=params, headers=headers).get_json()
        return {u["name"] for u in body["items"]}, body["total"]

    assert names(role="leader") == ({"李省长"}, 1)
    assert names(role="clerk") == ({"陈东", "刘西"}, 2)
    assert names(role="clerk", q="刘") == ({"刘西"}, 1)
    assert names(unit_id=units["division"].id) == ({"张三"}, 1)
    assert names(unit_id=units["office"].id) == ({"王管理", "赵秘书"}, 2)
    assert names(unit_id=units["office"].id, include_subunits="true") == ({"王管理", "赵秘书", "张三"}, 3)
    assert names(unit_id=units["city"].id) == (set(), 0)
    assert names(unit_id=units["city"].id, include_subunits="true") == ({"陈东", "刘西", "周县管"}, 3)
    assert names(unit_id=units["city"].id, include_subunits="true", role="unit_admin") == ({"周县管"}, 1)


def test_unit_filter_outside_reach_is_404(client, org):
    headers = bearer(client, "county_a")
    resp = client.get("/api/v1/users", query_string={"unit_id": org["units"]["county_b"].id}, headers=headers)
    assert resp.status_code == 404


def test_pagination_shape(client, org):
    headers = bearer(client, "admin")
    first = client.get("/api/v1/users?per_page=3&page=1", headers=headers).get_json()
    assert set(first) == {"items", "total", "page", "per_page"}
    assert (first["total"], first["page"], first["per_page"], len(first["items"])) == (8, 1, 3, 3)
    pages = [
        client.get(f"/api/v1/users?per_page=3&page={n}", headers=headers).get_json()["items"]
        for n in (1, 2, 3)
    ]
    assert [len(p) for p in pages] == [3, 3, 2]
    ids = [u["id"] for p in pages for u in p]
    assert len(set(ids)) == 8  # no person on two pages, nobody left out
    beyond = client.get("/api/v1/users?per_page=3&page=4", headers=headers).get_json()
    assert beyond["items"] == [] and beyond["total"] == 8
    item = first["items"][0]
    assert set(item) == {"id", "username", "name", "mobile", "active", "unit", "roles", "posts"}


@pytest.mark.parametrize(
    ("query", "field"),
    [("per_page=101", "per_page"), ("page=0", "page"), ("role=bogus", "role"), ("unit_id=abc", "unit_id")],
)
def test_bad_directory_queries_are_422(client, org, query, field):
    resp = client.get(f"/api/v1/users?{query}", headers=bearer(client, "admin"))
    assert resp.status_code == 422
    error = resp.get_json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["details"]["fields"]


def test_directory_page_search(client, org):
    web_login(client, "leader")
    html = client.get("/directory", query_string={"q": "zs"}).get_data(as_text=True)
    assert "张三" in html

    county = client.application.test_client()
    web_login(county, "county_a")
    html = county.get("/directory", query_string={"q": "liuxi"}).get_data(as_text=True)
    assert "刘西" not in html and "西河县" not in html  # neither in the results nor in the unit tree
    html = county.get("/directory", query_string={"q": "chen"}).get_data(as_text=True)
    assert "陈东" in html


def test_directory_page_for_a_foreign_unit_is_404(client, org):
    web_login(client, "county_a")
    assert client.get("/directory", query_string={"unit_id": org["units"]["county_b"].id}).status_code == 404
    own = client.get("/directory", query_string={"unit_id": org["units"]["county_a"].id})
    assert own.status_code == 200 and "陈东" in own.get_data(as_text=True)
