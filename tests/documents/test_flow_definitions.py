"""Flow definitions per unit: a unit admin saves the unit's own version of 发文 (drop the optional
countersign, change a step's mode); new documents of the unit use it, running ones keep the
steps they started with; required steps stay; other units' admins cannot touch it; reset."""

from __future__ import annotations

import copy
from typing import Any

from documents.flows import OUTGOING_STEPS
from tests.documents.conftest import notice_payload
from tests.documents.helpers import act, advance, create, doc, doc_todos


def url(unit_id: int, code: str = "outgoing") -> str:
    return f"/api/v1/flows/{code}/units/{unit_id}"


def steps_without(*keys: str) -> list[dict[str, Any]]:
    return [copy.deepcopy(s) for s in OUTGOING_STEPS if s["key"] not in keys]


def put(api, who: str, unit_id: int, steps: Any):
    return api.client.put(url(unit_id), json={"steps": steps}, headers=api.auth(who))


def keys(data: dict[str, Any]) -> list[str]:
    return [s["key"] for s in data["flow"]["steps"]]


def test_default_definition(docorg, api):
    office = docorg["units"]["office"].id
    data = api.ok(api.get("unitadmin", "/api/v1/flows/outgoing", query_string={"unit_id": office}))
    assert data["own"] is False and data["version"] == 0 and data["unit_id"] is None
    assert [s["key"] for s in data["steps"]] == [s["key"] for s in OUTGOING_STEPS]
    assert data["required_steps"] == ["draft", "sign_off", "number", "seal", "distribute", "archive"]
    assert api.ok(api.get("zhangsan", "/api/v1/flows/incoming"))["name"] == "收文流程"
    resp = api.get("zhangsan", "/api/v1/flows/nothing")
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "unknown_flow"
    assert api.get("zhangsan", "/api/v1/flows/outgoing", query_string={"unit_id": 424_242}).status_code == 404
    assert api.get("zhangsan", "/api/v1/flows/outgoing", query_string={"unit_id": 2**70}).status_code == 404


def test_unit_version_applies_to_new_documents_only(docorg, api):
    u = docorg["units"]
    office = u["office"].id
    running = create(api, notice_payload(u, title="改流程前起草的通知"))["id"]
    act(api, "zhangsan", running, "submit")

    steps = steps_without("countersign", "dept_review")
    for s in steps:
        if s["key"] == "office_review":
            s["mode"] = "all"  # both clerks check
    data = api.ok(put(api, "unitadmin", office, steps))
    assert data["own"] is True and data["version"] == 1 and data["unit_id"] == office
    assert [s["key"] for s in data["steps"]] == [
        "draft",
        "office_review",
        "sign_off",
        "recheck",
        "number",
        "seal",
        "distribute",
        "archive",
    ]
    assert api.ok(put(api, "unitadmin", office, steps))["version"] == 2

    new = create(api, notice_payload(u, title="改流程后起草的通知"))["id"]
    assert keys(doc(api, new)) == [s["key"] for s in steps]
    act(api, "zhangsan", new, "submit")
    # no 部门审核 any more; 办公室核稿 is now a countersign of both clerks
    assert doc(api, new)["flow"]["step"] == "office_review"
    act(api, "clerk", new, "submit")
    assert doc(api, new)["flow"]["step"] == "office_review"
    assert doc_todos(api, "clerk", new) == [] and len(doc_todos(api, "clerk2", new)) == 1
    act(api, "clerk2", new, "submit")
    assert doc(api, new)["flow"]["step"] == "sign_off"

    # the document that was already running keeps its snapshot
    data = doc(api, running, "divhead")
    assert "countersign" in keys(data) and data["flow"]["step"] == "dept_review"
    act(api, "divhead", running, "submit")
    act(api, "clerk", running, "submit")
    assert doc(api, running)["flow"]["step"] == "sign_off"  # one clerk was enough (抢办)

    # reset: back to the shipped default for new documents
    data = api.ok(api.client.delete(url(office), headers=api.auth("unitadmin")))
    assert data["own"] is False and data["version"] == 0
    again = create(api, notice_payload(u, title="恢复默认后起草的通知"))["id"]
    assert keys(doc(api, again)) == [s["key"] for s in OUTGOING_STEPS]
    # resetting twice is harmless
    assert api.client.delete(url(office), headers=api.auth("unitadmin")).status_code == 200


def test_a_unit_version_applies_below_the_unit(docorg, api):
    """The 办公厅's version applies to documents its 综合处 drafts (issued by the 办公厅)."""
    u = docorg["units"]
    api.ok(put(api, "admin", u["province"].id, steps_without("countersign")))
    data = api.ok(api.get("zhangsan", "/api/v1/flows/outgoing", query_string={"unit_id": u["office"].id}))
    assert data["own"] is False and data["unit_id"] == u["province"].id
    did = create(api, notice_payload(u))["id"]
    assert "countersign" not in keys(doc(api, did))


INVALID = [
    (steps_without("sign_off"), "缺少必需步骤"),
    (steps_without("archive", "number"), "缺少必需步骤"),
    ([*steps_without("draft", "archive"), OUTGOING_STEPS[-1], OUTGOING_STEPS[0]], "顺序"),
    ([{**s, "mode": "vote"} if s["key"] == "seal" else s for s in OUTGOING_STEPS], "办理方式无效"),
    (
        [{**s, "handlers": [{"type": "magic"}]} if s["key"] == "seal" else s for s in OUTGOING_STEPS],
        "办理人规则无效",
    ),
    (
        [{**s, "handlers": [{"type": "role"}]} if s["key"] == "seal" else s for s in OUTGOING_STEPS],
        "办理人规则无效",
    ),
    ([{**s, "handlers": "clerk"} if s["key"] == "seal" else s for s in OUTGOING_STEPS], "办理人规则无效"),
    (
        [
            {**s, "handlers": [{"type": "users", "ids": ["a"]}]} if s["key"] == "seal" else s
            for s in OUTGOING_STEPS
        ],
        "办理人规则无效",
    ),
    ([{**s, "name": ""} if s["key"] == "seal" else s for s in OUTGOING_STEPS], "缺少名称"),
    ([{**s, "name": "用" * 60} if s["key"] == "seal" else s for s in OUTGOING_STEPS], "名称过长"),
    ([{**s, "key": 5} if s["key"] == "recheck" else s for s in OUTGOING_STEPS], "步骤标识无效"),
    ([{**s, "key": "k" * 41} if s["key"] == "recheck" else s for s in OUTGOING_STEPS], "步骤标识无效"),
    ([*OUTGOING_STEPS, OUTGOING_STEPS[5]], "重复"),
]


def test_invalid_definitions_are_422(docorg, api):
    for steps, needle in INVALID:
        resp = put(api, "unitadmin", docorg["units"]["office"].id, steps)
        assert resp.status_code == 422, (needle, resp.get_json())
        err = resp.get_json()["error"]
        assert err["code"] == "invalid_flow" and needle in err["message"] and err["details"]["errors"], err
    for body in ({}, {"steps": []}, {"steps": "draft"}, {"steps": [1, 2]}, {"steps": [None]}, []):
        resp = api.client.put(url(docorg["units"]["office"].id), json=body, headers=api.auth("unitadmin"))
        assert resp.status_code == 422, (body, resp.get_json())
    data = api.ok(
        api.get("unitadmin", "/api/v1/flows/outgoing", query_string={"unit_id": docorg["units"]["office"].id})
    )
    assert data["own"] is False


def test_only_the_units_own_admin(docorg, api):
    u = docorg["units"]
    steps = steps_without("countersign")
    # another county's admin cannot even see the 办公厅
    resp = put(api, "county_admin", u["office"].id, steps)
    assert resp.status_code in (403, 404) and resp.status_code == 404
    assert api.client.delete(url(u["office"].id), headers=api.auth("county_admin")).status_code == 404
    # people who see the unit but do not administer it
    for who in ("zhangsan", "clerk", "general"):
        resp = put(api, who, u["office"].id, steps)
        assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "forbidden", who
        assert api.client.delete(url(u["office"].id), headers=api.auth(who)).status_code == 403
    # a unit admin manages below their unit, not above or beside it
    assert put(api, "unitadmin", u["province"].id, steps).status_code == 403
    assert put(api, "county_admin", u["county_a"].id, steps).status_code == 200
    assert put(api, "unitadmin", 2**70, steps).status_code == 404
    assert put(api, "unitadmin", 424_242, steps).status_code == 404
    resp = api.client.put(
        f"/api/v1/flows/nothing/units/{u['office'].id}",
        json={"steps": steps},
        headers=api.auth("unitadmin"),
    )
    assert resp.status_code == 404
    data = api.ok(api.get("unitadmin", "/api/v1/flows/outgoing", query_string={"unit_id": u["office"].id}))
    assert data["own"] is False


def test_incoming_flow_for_a_county(docorg, api):
    """A county drops 传阅 from its 收文 flow; its records follow it from distribution on."""
    from documents.flows import INCOMING_STEPS

    u = docorg["units"]
    steps = [copy.deepcopy(s) for s in INCOMING_STEPS if s["key"] != "circulate"]
    api.ok(
        api.client.put(
            url(u["county_a"].id, "incoming"), json={"steps": steps}, headers=api.auth("county_admin")
        )
    )
    resp = api.client.put(
        url(u["county_a"].id, "incoming"),
        json={"steps": [s for s in steps if s["key"] != "handle"]},
        headers=api.auth("county_admin"),
    )
    assert resp.status_code == 422
    did = create(api, notice_payload(u))["id"]
    data = advance(api, did, "archive")
    by_unit = {e["unit"]["name"]: e["incoming_id"] for e in data["exchange"]}
    east = api.ok(api.get("county_a", f"/api/v1/incoming/{by_unit['东山县人民政府']}"))
    west = api.ok(api.get("county_b", f"/api/v1/incoming/{by_unit['西河县人民政府']}"))
    assert "circulate" not in [s["key"] for s in east["flow"]["steps"]]
    assert "circulate" in [s["key"] for s in west["flow"]["steps"]]


def test_required_domain_steps_keep_their_own_action(docorg, api):
    """Editing cannot turn 编号 or 分发 into a plain 提交 that would skip numbering or sending."""
    u = docorg["units"]
    steps = steps_without("countersign")
    for s in steps:
        if s["key"] in ("number", "distribute", "archive"):
            s.pop("no_submit", None)
    data = api.ok(put(api, "unitadmin", u["office"].id, steps))
    assert all(s.get("no_submit") for s in data["steps"] if s["key"] in ("number", "distribute", "archive"))
    did = create(api, notice_payload(u))["id"]
    advance(api, did, "number")
    resp = api.post("clerk", f"/api/v1/documents/{did}/submit", {})
    assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "invalid_action"
    assert doc(api, did)["flow"]["step"] == "number"
