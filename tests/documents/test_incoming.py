"""收文 over the API at a recipient unit: 签收 (the sender sees who and when), 登记 (收文编号),
拟办, 批办 (lead, co-handlers, deadline on their to-dos), 承办, 传阅 (已阅/未阅), 办结, 归档,
and 退文 with a reason. Every person's to-dos are checked at each step."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.documents.conftest import notice_payload
from tests.documents.helpers import audit, doc, run_outgoing, todos

BEIJING = ZoneInfo("Asia/Shanghai")
#: People at 东山县 (the recipient), and the sender's people who hear back.
COUNTY = ("county_a", "county_leader", "county_staff", "county_staff2", "county_admin")


@pytest.fixture
def received(docorg, api) -> dict[str, Any]:
    """A notice distributed to 东山县 (main), 西河县 (main) and the city (cc)."""
    did = run_outgoing(api.client.application, docorg, notice_payload(docorg["units"]))
    created = data = doc(api, did, "clerk")
    assert data["flow"]["step"] == "archive"
    by_unit = {e["unit"]["name"]: e["incoming_id"] for e in data["exchange"]}
    return {
        "doc_id": created["id"],
        "title": created["title"],
        "east": by_unit["东山县人民政府"],
        "west": by_unit["西河县人民政府"],
    }


def inc(api, who: str, rid: int) -> dict[str, Any]:
    return api.ok(api.get(who, f"/api/v1/incoming/{rid}"))


def do(api, who: str, rid: int, action: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    return api.ok(api.post(who, f"/api/v1/incoming/{rid}/{action}", body or {}))


def pending(api, rid: int, people=COUNTY, **query: Any) -> dict[str, list[str]]:
    """{person: [titles]} of pending items for this incoming record (their own, not acted for)."""
    out = {}
    for who in people:
        items = [t for t in todos(api, who, source=("incoming", rid), **query) if t["acting_for"] is None]
        if items:
            out[who] = [t["title"] for t in items]
    return out


def notifications(api, who: str) -> list[dict[str, Any]]:
    return api.ok(api.get(who, "/api/v1/notifications", query_string={"per_page": 100}))["items"]


def test_incoming_end_to_end(docorg, api, received):
    p = docorg["people"]
    rid, title = received["east"], received["title"]
    assert pending(api, rid) == {"county_a": [f"签收：{title}"]}
    listed = api.ok(api.get("county_a", "/api/v1/incoming"))["items"]
    assert [(r["id"], r["status"], r["role"]) for r in listed] == [(rid, "pending", "main")]
    data = inc(api, "county_a", rid)
    assert data["actions"][:2] == ["sign_for", "refuse"] and data["flow"]["step"] == "sign_for"

    # 签收: the sender sees who received it and when
    out = do(api, "county_a", rid, "sign_for")
    assert out["result"]["step_after"] == "register"
    assert out["incoming"]["signed_by"] == "陈东" and out["incoming"]["status"] == "signed"
    exchange = {e["unit"]["name"]: e for e in doc(api, received["doc_id"])["exchange"]}
    east = exchange["东山县人民政府"]
    assert east["status"] == "signed" and east["signed_by"] == "陈东" and east["signed_at"]
    assert datetime.fromisoformat(east["signed_at"]) > datetime.now(UTC) - timedelta(minutes=5)
    assert (
        exchange["西河县人民政府"]["status"] == "pending" and exchange["西河县人民政府"]["signed_at"] is None
    )
    for who in ("zhangsan", "clerk"):
        assert any(
            n["title"] == f"东山县人民政府 已签收：{title}" and "陈东" in n["body"]
            for n in notifications(api, who)
        )
    assert pending(api, rid) == {"county_a": [f"登记：{title}"]}

    # 登记: the unit's own 收文编号
    out = do(api, "county_a", rid, "register")
    year = datetime.now(BEIJING).year
    assert out["incoming"]["incoming_no"] == f"收〔{year}〕1号" and out["incoming"]["status"] == "registered"
    assert pending(api, rid) == {"county_a": [f"拟办：{title}"]}

    # 拟办
    do(api, "county_a", rid, "submit", {"opinion": "拟请冯县长阅示，由办公室牵头办理"})
    assert pending(api, rid) == {"county_leader": [f"批办：{title}"]}
    assert api.get("county_staff", f"/api/v1/incoming/{rid}").status_code == 404

    # 批办: instruction, lead, co-handlers and deadline are required / checked
    base = f"/api/v1/incoming/{rid}/submit"
    resp = api.post("county_leader", base, {"lead_handler": p["county_staff"].id})
    assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "instruction_required"
    resp = api.post("county_leader", base, {"opinion": "请办理"})
    assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "lead_required"
    yesterday = (datetime.now(BEIJING).date() - timedelta(days=1)).isoformat()
    resp = api.post(
        "county_leader",
        base,
        {"opinion": "请办理", "lead_handler": p["county_staff"].id, "deadline": yesterday},
    )
    assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "deadline_past"
    resp = api.post("county_leader", base, {"opinion": "请办理", "lead_handler": 424_242})
    assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "unknown_user"
    resp = api.post(
        "county_leader", base, {"opinion": "请办理", "lead_handler": p["county_staff"].id, "deadline": "soon"}
    )
    assert resp.status_code == 422
    deadline = datetime.now(BEIJING).date() + timedelta(days=7)
    out = do(
        api,
        "county_leader",
        rid,
        "submit",
        {
            "opinion": "请蒋科员牵头、沈科员配合，一周内办结",
            "lead_handler": p["county_staff"].id,
            "co_handlers": [p["county_staff2"].id, p["county_staff"].id],
            "deadline": deadline.isoformat(),
        },
    )
    assert out["result"]["action"] == "instruct" and out["result"]["step_after"] == "handle"
    data = out["incoming"]
    assert data["instruction"] == "请蒋科员牵头、沈科员配合，一周内办结"
    assert data["lead_handler"] == {"id": p["county_staff"].id, "name": "蒋科员"}
    assert data["co_handlers"] == [{"id": p["county_staff2"].id, "name": "沈科员"}]
    assert data["deadline"] == deadline.isoformat()
    assert pending(api, rid) == {"county_staff": [f"承办：{title}"], "county_staff2": [f"承办：{title}"]}
    due = datetime.combine(deadline, time(18, 0), tzinfo=BEIJING)
    for who in ("county_staff", "county_staff2"):
        (t,) = todos(api, who, source=("incoming", rid))
        assert datetime.fromisoformat(t["due_at"]) == due
    # the handlers may read the record and the document now
    assert inc(api, "county_staff", rid)["actions"][0] == "submit"
    assert doc(api, received["doc_id"], "county_staff")["id"] == received["doc_id"]

    # 承办: both must finish
    do(api, "county_staff2", rid, "submit", {"opinion": "配合完成"})
    assert pending(api, rid) == {"county_staff": [f"承办：{title}"]}
    do(api, "county_staff", rid, "submit", {"opinion": "已按要求落实"})
    assert pending(api, rid) == {"county_a": [f"传阅：{title}"]}

    # 传阅: readers get a 待阅 and the record shows who has read
    resp = api.post("county_a", f"/api/v1/incoming/{rid}/circulate", {"readers": []})
    assert resp.status_code == 422
    out = do(api, "county_a", rid, "circulate", {"readers": [p["county_leader"].id, p["county_admin"].id]})
    assert out["result"]["readers"] == ["冯县长", "周县管"]
    readers = {r["name"]: r["read"] for r in out["incoming"]["readers"]}
    assert readers == {"冯县长": False, "周县管": False}
    assert pending(api, rid, category="read") == {
        "county_leader": [f"传阅：{title}"],
        "county_admin": [f"传阅：{title}"],
    }
    assert "read" in inc(api, "county_admin", rid)["actions"]
    data = api.ok(api.post("county_admin", f"/api/v1/incoming/{rid}/read"))
    readers = {r["name"]: (r["read"], bool(r["read_at"])) for r in data["readers"]}
    assert readers == {"冯县长": (False, False), "周县管": (True, True)}
    assert "read" not in data["actions"]
    assert pending(api, rid, category="read") == {"county_leader": [f"传阅：{title}"]}
    do(api, "county_a", rid, "submit", {"opinion": "传阅完毕"})
    assert pending(api, rid) == {"county_staff": [f"办结：{title}"]}
    # a reader can still read after the step moved on
    api.ok(api.post("county_leader", f"/api/v1/incoming/{rid}/read"))
    assert pending(api, rid, category="read") == {}

    # 办结 by the lead handler, 归档 by the clerk
    do(api, "county_staff", rid, "complete", {"opinion": "已办结"})
    assert any(n["title"] == f"东山县人民政府 已办结：{title}" for n in notifications(api, "zhangsan"))
    assert pending(api, rid) == {"county_a": [f"归档：{title}"]}
    out = do(api, "county_a", rid, "archive")
    assert out["incoming"]["status"] == "archived" and out["incoming"]["flow"]["status"] == "done"
    assert pending(api, rid) == {}
    timeline = out["incoming"]["flow"]["timeline"]
    assert [e["action"] for e in timeline] == [
        "start",
        "sign_for",
        "register",
        "propose",
        "instruct",
        "handle",
        "handle",
        "circulate",
        "circulate_done",
        "complete",
        "archive",
    ]
    assert timeline[4]["opinion"] == "请蒋科员牵头、沈科员配合，一周内办结"
    tags = [e.action for e in audit(api.client.application, prefix="documents:incoming:")]
    assert tags == [
        "documents:incoming:sign_for",
        "documents:incoming:register",
        "documents:incoming:propose",
        "documents:incoming:instruct",
        "documents:incoming:handle",
        "documents:incoming:handle",
        "documents:incoming:circulate",
        "documents:incoming:read",
        "documents:incoming:circulate_done",
        "documents:incoming:read",
        "documents:incoming:complete",
        "documents:incoming:archive",
    ]
    resp = api.post("county_a", f"/api/v1/incoming/{rid}/archive", {})
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "flow_finished"


def test_refuse_with_a_reason_notifies_the_sender(docorg, api, received):
    rid, title = received["west"], received["title"]
    resp = api.post("county_b", f"/api/v1/incoming/{rid}/refuse", {"opinion": " "})
    assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "reason_required"
    resp = api.post("county_a", f"/api/v1/incoming/{rid}/refuse", {"opinion": "不是我县"})
    assert resp.status_code == 404  # another county's record
    out = do(api, "county_b", rid, "refuse", {"opinion": "本县不属于该文主送范围，请核实"})
    assert out["result"]["finished"] is True
    data = out["incoming"]
    assert data["status"] == "refused" and data["refused_reason"] == "本县不属于该文主送范围，请核实"
    assert data["actions"] == [] and data["flow"]["status"] == "cancelled"
    assert todos(api, "county_b", source=("incoming", rid)) == []
    exchange = {e["unit"]["name"]: e for e in doc(api, received["doc_id"])["exchange"]}
    west = exchange["西河县人民政府"]
    assert west["status"] == "refused" and west["status_label"] == "已退文"
    assert west["refused_reason"] == "本县不属于该文主送范围，请核实" and west["refused_at"]
    for who in ("zhangsan", "clerk", "clerk2"):
        notes = [n for n in notifications(api, who) if n["title"] == f"西河县人民政府 退文：{title}"]
        assert len(notes) == 1 and "本县不属于该文主送范围" in notes[0]["body"], who
    (event,) = audit(api.client.application, "documents:incoming:refuse")
    assert event.details["reason"] == "本县不属于该文主送范围，请核实"
    resp = api.post("county_b", f"/api/v1/incoming/{rid}/sign_for", {})
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "flow_finished"
    # the other recipients are unaffected
    assert inc(api, "county_a", received["east"])["flow"]["step"] == "sign_for"


def test_out_of_turn_and_wrong_actions(docorg, api, received):
    rid = received["east"]
    resp = api.post("county_leader", f"/api/v1/incoming/{rid}/sign_for", {})
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "not_your_turn"
    resp = api.post("county_a", f"/api/v1/incoming/{rid}/register", {})
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "not_your_turn"
    resp = api.post("county_a", f"/api/v1/incoming/{rid}/submit", {})
    assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "invalid_action"
    resp = api.post("county_a", f"/api/v1/incoming/{rid}/approve", {})
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "invalid_action"
    resp = api.post(
        "county_a", f"/api/v1/incoming/{rid}/circulate", {"readers": [docorg["people"]["county_staff"].id]}
    )
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "not_your_turn"
    resp = api.post("county_a", "/api/v1/incoming/999999/sign_for", {})
    assert resp.status_code == 404
    resp = api.post("county_a", f"/api/v1/incoming/{2**70}/sign_for", {})
    assert resp.status_code == 404
    assert api.get("county_a", f"/api/v1/incoming/{2**70}").status_code == 404


def test_send_back_and_transfer_in_the_incoming_flow(docorg, api, received):
    p = docorg["people"]
    rid = received["east"]
    for action in ("sign_for", "register"):
        do(api, "county_a", rid, action)
    do(api, "county_a", rid, "submit", {"opinion": "拟请阅示"})
    resp = api.post("county_leader", f"/api/v1/incoming/{rid}/return", {})
    assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "reason_required"
    out = do(api, "county_leader", rid, "return", {"opinion": "拟办意见不明确"})
    assert out["result"]["step_after"] == "propose"
    assert pending(api, rid) == {"county_a": [f"拟办：{received['title']}"]}
    do(api, "county_a", rid, "submit", {"opinion": "拟请县长批示由蒋科员办理"})
    do(api, "county_leader", rid, "submit", {"opinion": "同意", "lead_handler": p["county_staff"].id})
    assert pending(api, rid) == {"county_staff": [f"承办：{received['title']}"]}
    out = do(
        api, "county_staff", rid, "transfer", {"to_user": p["county_staff2"].id, "opinion": "请沈科员办理"}
    )
    assert pending(api, rid) == {"county_staff2": [f"承办：{received['title']}"]}
    do(api, "county_staff2", rid, "submit", {"opinion": "已办理"})
    assert inc(api, "county_a", rid)["flow"]["step"] == "circulate"


def test_each_recipient_has_its_own_counter_and_flow(docorg, api):
    u = docorg["units"]
    ids = []
    for n in range(2):
        did = run_outgoing(
            api.client.application, docorg, notice_payload(u, title=f"关于第{n + 1}批试点的通知")
        )
        ids.append({e["unit"]["name"]: e["incoming_id"] for e in doc(api, did, "clerk")["exchange"]})
    year = datetime.now(BEIJING).year
    numbers = []
    for rec in ids:
        do(api, "county_a", rec["东山县人民政府"], "sign_for")
        numbers.append(do(api, "county_a", rec["东山县人民政府"], "register")["incoming"]["incoming_no"])
    do(api, "county_b", ids[1]["西河县人民政府"], "sign_for")
    west = do(api, "county_b", ids[1]["西河县人民政府"], "register")["incoming"]["incoming_no"]
    assert numbers == [f"收〔{year}〕1号", f"收〔{year}〕2号"]
    assert west == f"收〔{year}〕1号"


def test_malformed_input_never_500(docorg, api, received):
    rid = received["east"]
    do(api, "county_a", rid, "sign_for")
    do(api, "county_a", rid, "register")
    do(api, "county_a", rid, "submit", {"opinion": "拟办"})
    bodies = [
        [],
        "x",
        {"lead_handler": 2**70, "opinion": "办"},
        {"lead_handler": -1, "opinion": "办"},
        {"lead_handler": docorg["people"]["county_staff"].id, "co_handlers": [2**70], "opinion": "办"},
        {"lead_handler": docorg["people"]["county_staff"].id, "co_handlers": ["a"], "opinion": "办"},
        {"lead_handler": docorg["people"]["county_staff"].id, "deadline": "tomorrow", "opinion": "办"},
        {"lead_handler": docorg["people"]["county_staff"].id, "deadline": 20260101, "opinion": "办"},
        {"readers": [2**70]},
        {"readers": "all"},
        {"to_user": 2**70},
        {"user_ids": [2**70]},
        {"to_step": "nowhere", "opinion": "退"},
    ]
    for action in ("submit", "circulate", "transfer", "add_handler", "refuse"):
        for body in bodies:
            resp = api.client.post(
                f"/api/v1/incoming/{rid}/{action}", json=body, headers=api.auth("county_leader")
            )
            assert 400 <= resp.status_code < 500, (action, body, resp.status_code, resp.get_json())
    assert inc(api, "county_leader", rid)["flow"]["step"] == "instruct"
    assert api.post("county_leader", f"/api/v1/incoming/{2**70}/read").status_code == 404
    assert api.post("county_staff", f"/api/v1/incoming/{rid}/read").status_code == 404


def test_a_secretary_instructs_for_the_county_leader(docorg, api, received, factory):
    p, u = docorg["people"], docorg["units"]
    sec = factory.user("county_sec", name="县长秘书", unit=u["county_a"], roles=("secretary",))
    api.ok(
        api.post(
            "admin", "/api/v1/secretaries", {"secretary_id": sec.id, "leader_id": p["county_leader"].id}
        ),
        201,
    )
    rid = received["east"]
    assert api.get("county_sec", f"/api/v1/incoming/{rid}").status_code == 404
    do(api, "county_a", rid, "sign_for")
    do(api, "county_a", rid, "register")
    do(api, "county_a", rid, "submit", {"opinion": "拟请县长批示"})
    (item,) = todos(api, "county_sec", source=("incoming", rid))
    assert item["acting_for"] == {"id": p["county_leader"].id, "name": "冯县长"}
    data = inc(api, "county_sec", rid)
    assert data["acting_for"]["name"] == "冯县长" and "submit" in data["actions"]
    out = do(
        api,
        "county_sec",
        rid,
        "submit",
        {"opinion": "请蒋科员办理（冯县长口述）", "lead_handler": p["county_staff"].id},
    )
    assert out["result"]["acting_for"] == "冯县长"
    entry = next(e for e in out["incoming"]["flow"]["timeline"] if e["action"] == "instruct")
    assert entry["actor"]["name"] == "县长秘书" and entry["on_behalf_of"]["name"] == "冯县长"
    (event,) = audit(api.client.application, "documents:incoming:instruct")
    assert (event.actor_id, event.on_behalf_of_id) == (sec.id, p["county_leader"].id)
    assert todos(api, "county_leader", source=("incoming", rid)) == []
