"""发文 over the API: the whole flow with every person's to-dos at each step, countersign with
chosen handlers and a joint document, the generic actions (退回, 撤回, 转办, 加签), signing off
for a leader (secretary, delegate), bad input and two clerks racing for the same step."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from office.extensions import db
from tests.conftest import PASSWORD, bearer
from tests.documents.conftest import notice_payload
from tests.documents.helpers import act, advance, audit, create, doc, doc_todos, todos

#: Everyone in docorg who could see a to-do of an outgoing document.
CAST = (
    "zhangsan",
    "divhead",
    "clerk",
    "clerk2",
    "general",
    "sealkeeper",
    "leader",
    "secretary",
    "county_a",
    "county_b",
    "city_clerk",
)

#: The keeper's second factor at 用印.
SECOND_FACTOR = {"seal": {"password": PASSWORD}}


def pending_by_person(api, did: int) -> dict[str, list[str]]:
    """Who has a pending to-do for this document right now, and its titles."""
    out = {}
    for who in CAST:
        items = doc_todos(api, who, did)
        mine = [t["title"] for t in items if t["acting_for"] is None]
        if mine:
            out[who] = mine
    return out


def test_outgoing_end_to_end_with_everyones_todos(docorg, api):
    u = docorg["units"]
    created = create(api, notice_payload(u))
    did = created["id"]
    title = created["title"]
    assert created["status"] == "drafting" and created["version"] == 1
    assert created["flow"]["step"] == "draft" and created["doc_number"] is None
    assert pending_by_person(api, did) == {"zhangsan": [f"拟稿：{title}"]}
    (item,) = doc_todos(api, "zhangsan", did)
    assert item["kind"] == "document" and item["urgency"] == "urgent"
    assert item["source"] == {"type": "document", "id": did, "url": f"/documents/{did}"}

    expected = [
        ("draft", "zhangsan", "submit", "dept_review", {"divhead": "部门审核"}),
        (
            "dept_review",
            "divhead",
            "submit",
            "office_review",
            {"clerk": "办公室核稿", "clerk2": "办公室核稿"},
        ),
        ("office_review", "clerk", "submit", "sign_off", {"general": "签发"}),
        ("sign_off", "general", "submit", "recheck", {"clerk": "复核", "clerk2": "复核"}),
        ("recheck", "clerk2", "submit", "number", {"clerk": "编号", "clerk2": "编号"}),
        ("number", "clerk", "number", "seal", {"sealkeeper": "用印"}),
        ("seal", "sealkeeper", "seal", "distribute", {"clerk": "分发", "clerk2": "分发"}),
        ("distribute", "clerk", "distribute", "archive", {"clerk": "归档", "clerk2": "归档"}),
    ]
    statuses = {
        "dept_review": "drafting",
        "office_review": "drafting",
        "sign_off": "drafting",
        "recheck": "approved",
        "number": "approved",
        "seal": "numbered",
        "distribute": "sealed",
        "archive": "distributed",
    }
    for step, who, action, after, pending in expected:
        current = doc(api, did, who)
        assert current["flow"]["step"] == step
        assert action in current["actions"], (who, current["actions"])
        out = act(api, who, did, action, {"opinion": f"{step} 意见", **SECOND_FACTOR.get(action, {})})
        assert out["result"]["step_before"] == step and out["result"]["step_after"] == after
        data = out["document"]
        assert data["status"] == statuses[after], (after, data["status"])
        assert pending_by_person(api, did) == {p: [f"{n}：{title}"] for p, n in pending.items()}, after
        # the one who just acted finds it in their 已办
        done = doc_todos(api, who, did, status="done")
        assert any(t["title"].startswith(current["flow"]["step_name"]) for t in done)
        if after == "recheck":
            assert data["written_date"] is not None and doc(api, did)["signers"] == [
                {"id": docorg["people"]["general"].id, "name": "钱秘书长"}
            ]
        if after == "seal":
            assert data["doc_number"].startswith("示政办〔") and data["doc_number"].endswith("〕1号")
        if after == "distribute":
            assert data["frozen"] is True and doc(api, did)["print_date"] is not None

    # distribution: an incoming record and a 签收 to-do at each recipient
    data = doc(api, did)
    assert [(e["unit"]["name"], e["role"], e["status"]) for e in data["exchange"]] == [
        ("东山县人民政府", "main", "pending"),
        ("西河县人民政府", "main", "pending"),
        ("示例市人民政府", "cc", "pending"),
    ]
    for who, rec in zip(("county_a", "county_b", "city_clerk"), data["exchange"], strict=True):
        (t,) = todos(api, who, source=("incoming", rec["incoming_id"]))
        assert t["title"] == f"签收：{title}" and t["kind"] == "incoming"

    act(api, "clerk2", did, "archive", {"opinion": "归档"})
    final = doc(api, did, "clerk2")
    assert final["status"] == "archived" and final["flow"]["status"] == "done"
    assert final["actions"] == [] and final["archive_url"]
    assert pending_by_person(api, did) == {}
    timeline = final["flow"]["timeline"]
    assert [e["action"] for e in timeline] == [
        "start",
        "submit",
        "submit",
        "submit",
        "skip",
        "sign_off",
        "submit",
        "number",
        "seal",
        "distribute",
        "archive",
    ]
    assert [e["opinion"] for e in timeline if e["action"] == "sign_off"] == ["sign_off 意见"]
    assert timeline[7]["details"]["doc_number"] == final["doc_number"]
    # one audit event per action
    tags = [e.action for e in audit(api.client.application, prefix="documents:outgoing:")]
    assert tags == [
        "documents:outgoing:create",
        "documents:outgoing:submit",
        "documents:outgoing:submit",
        "documents:outgoing:submit",
        "documents:outgoing:sign_off",
        "documents:outgoing:submit",
        "documents:outgoing:number",
        "documents:outgoing:distribute",
        "documents:outgoing:archive",
    ]
    # 用印's one event is the seal use itself, with the sealed file's hash
    (use,) = audit(api.client.application, prefix="seals:request:")
    assert use.action == "seals:request:approve" and use.details["sha256"] == final["final_sha256"]


# ---------------------------------------------------------------- countersign and joint documents


@pytest.fixture
def heads(docorg, factory) -> dict[str, Any]:
    """Two more division heads of the 办公厅 to countersign."""
    office = docorg["units"]["office"]
    legal = factory.unit("法规处", kind="division", parent=office)
    finance = factory.unit("财务处", kind="division", parent=office)
    docorg["people"]["legal"] = factory.user("legal", name="法规处长", unit=legal, roles=("division_head",))
    docorg["people"]["finance"] = factory.user(
        "finance", name="财务处长", unit=finance, roles=("division_head",)
    )
    return docorg


def test_countersign_with_chosen_handlers(heads, api):
    p = heads["people"]
    did = create(api, notice_payload(heads["units"]))["id"]
    advance(api, did, "office_review")
    current = doc(api, did, "clerk")
    nxt = current["flow"]["next"]
    assert (nxt["key"], nxt["mode"], nxt["choose"], nxt["optional"]) == (
        "countersign",
        "all",
        "optional",
        True,
    )
    act(
        api,
        "clerk",
        did,
        "submit",
        {"opinion": "请法规、财务会签", "choose": [p["legal"].id, p["finance"].id]},
    )
    data = doc(api, did, "legal")
    assert data["flow"]["step"] == "countersign"
    assert {h["name"] for h in data["flow"]["handlers"]} == {"法规处长", "财务处长"}
    assert [t["title"][:3] for t in doc_todos(api, "legal", did)] == ["会签："]
    assert len(doc_todos(api, "finance", did)) == 1

    out = act(api, "legal", did, "submit", {"opinion": "法规处无意见"})
    assert out["result"]["step_after"] == "countersign"
    assert doc_todos(api, "legal", did) == [] and len(doc_todos(api, "finance", did)) == 1
    assert doc_todos(api, "general", did) == []
    out = act(api, "finance", did, "submit", {"opinion": "经费已落实"})
    assert out["result"]["step_after"] == "sign_off"
    assert len(doc_todos(api, "general", did)) == 1
    timeline = doc(api, did)["flow"]["timeline"]
    opinions = [(e["actor"]["name"], e["opinion"]) for e in timeline if e["step"] == "countersign"]
    assert opinions == [("法规处长", "法规处无意见"), ("财务处长", "经费已落实")]


def test_countersign_send_back_cancels_every_open_todo(heads, api):
    p = heads["people"]
    did = create(api, notice_payload(heads["units"]))["id"]
    advance(api, did, "office_review")
    act(api, "clerk2", did, "submit", {"choose": [p["legal"].id, p["finance"].id, p["divhead"].id]})
    act(api, "legal", did, "submit", {"opinion": "同意"})
    resp = api.post("finance", f"/api/v1/documents/{did}/return", {"opinion": ""})
    assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "reason_required"
    out = act(api, "finance", did, "return", {"opinion": "预算口径需与财政厅核对"})
    assert out["result"]["step_after"] == "office_review"
    # nobody keeps a countersign to-do
    for who in ("legal", "finance", "divhead"):
        assert doc_todos(api, who, did) == [], who
    cancelled = [t for t in doc_todos(api, "divhead", did, status="done")]
    assert all(not t["title"].startswith("会签") for t in cancelled)
    # 办公室核稿 reopens for the clerk who handled it, not for every clerk
    assert len(doc_todos(api, "clerk2", did)) == 1 and doc_todos(api, "clerk", did) == []
    assert [h["name"] for h in out["document"]["flow"]["handlers"]] == ["郑机要"]
    data = doc(api, did, "clerk2")
    ret = data["flow"]["timeline"][-1]
    assert (ret["action"], ret["step"], ret["opinion"], ret["details"]["to_step"]) == (
        "return",
        "countersign",
        "预算口径需与财政厅核对",
        "office_review",
    )


def test_joint_document_is_countersigned_by_the_co_issuers_leader(heads, api, factory):
    u, p = heads["units"], heads["people"]
    mayor = factory.user("mayor", name="市长", unit=u["city"], roles=("leader",))
    payload = notice_payload(
        u, joint_unit_ids=[u["city"].id], main_unit_ids=[u["county_a"].id], cc_unit_ids=[]
    )
    did = create(api, payload)["id"]
    advance(api, did, "office_review")
    nxt = doc(api, did, "clerk")["flow"]["next"]
    assert nxt["key"] == "countersign" and [c["name"] for c in nxt["candidates"]] == ["市长"]
    # the clerk chooses one more countersigner; the co-issuer's leader is added either way
    act(api, "clerk", did, "submit", {"choose": [p["legal"].id]})
    data = doc(api, did, "mayor")  # the co-issuer's leader may read it now
    assert data["flow"]["step"] == "countersign"
    assert {h["id"] for h in data["flow"]["handlers"]} == {p["legal"].id, mayor.id}
    assert data["joint_units"] == [{"id": u["city"].id, "name": "示例市人民政府"}]
    assert len(doc_todos(api, "mayor", did)) == 1
    act(api, "legal", did, "submit")
    assert doc(api, did)["flow"]["step"] == "countersign"
    act(api, "mayor", did, "submit", {"opinion": "同意联合印发"})
    assert doc(api, did)["flow"]["step"] == "sign_off"


# ---------------------------------------------------------------- 签发 for a leader


def _link_secretary(api, docorg) -> None:
    api.ok(
        api.post(
            "admin",
            "/api/v1/secretaries",
            {"secretary_id": docorg["people"]["secretary"].id, "leader_id": docorg["people"]["leader"].id},
        ),
        201,
    )


def test_secretary_signs_off_for_the_leader(docorg, api):
    u, p = docorg["units"], docorg["people"]
    _link_secretary(api, docorg)
    did = create(api, notice_payload(u, direction="up", doc_type="report", signer_ids=[p["leader"].id]))["id"]
    advance(api, did, "sign_off")
    # the leader's item shows in the secretary's list, marked as acting for the leader
    (item,) = doc_todos(api, "secretary", did)
    assert item["acting_for"] == {"id": p["leader"].id, "name": "李省长"}
    assert doc_todos(api, "general", did) == []
    view = doc(api, did, "secretary")
    assert "submit" in view["actions"] and view["acting_for"] == {"id": p["leader"].id, "name": "李省长"}

    out = act(api, "secretary", did, "submit", {"opinion": "同意。李省长（秘书代签）"})
    assert out["result"]["action"] == "sign_off" and out["result"]["acting_for"] == "李省长"
    data = doc(api, did, "secretary")
    entry = next(e for e in data["flow"]["timeline"] if e["action"] == "sign_off")
    assert entry["actor"] == {"id": p["secretary"].id, "name": "赵秘书"}
    assert entry["on_behalf_of"] == {"id": p["leader"].id, "name": "李省长"}
    assert data["signers"] == [{"id": p["leader"].id, "name": "李省长"}]
    assert data["written_date"] is not None
    (event,) = audit(api.client.application, "documents:outgoing:sign_off")
    assert (event.actor_id, event.on_behalf_of_id) == (p["secretary"].id, p["leader"].id)
    assert event.details["acting_for"] == "李省长"
    # the leader's to-do is closed, by the secretary
    assert doc_todos(api, "leader", did) == []
    done = doc_todos(api, "secretary", did, status="done")
    assert [t["done_by"]["name"] for t in done] == ["赵秘书"]


def test_secretary_signs_off_with_the_on_behalf_of_header(docorg, api):
    u, p = docorg["units"], docorg["people"]
    _link_secretary(api, docorg)
    did = create(api, notice_payload(u, signer_ids=[p["leader"].id]))["id"]
    advance(api, did, "sign_off")
    headers = {**api.auth("secretary"), "X-On-Behalf-Of": str(p["leader"].id)}
    resp = api.client.post(f"/api/v1/documents/{did}/submit", json={"opinion": "同意"}, headers=headers)
    assert resp.status_code == 200, resp.get_json()
    entry = next(e for e in doc(api, did, "secretary")["flow"]["timeline"] if e["action"] == "sign_off")
    assert entry["actor"]["name"] == "赵秘书" and entry["on_behalf_of"]["name"] == "李省长"
    (event,) = audit(api.client.application, "documents:outgoing:sign_off")
    assert (event.actor_id, event.on_behalf_of_id) == (p["secretary"].id, p["leader"].id)
    # someone who may not act for the leader is refused outright
    headers = {**api.auth("clerk"), "X-On-Behalf-Of": str(p["leader"].id)}
    resp = api.client.post(f"/api/v1/documents/{did}/submit", json={}, headers=headers)
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "cannot_act_for"


def test_a_delegate_signs_off_within_the_window_only(docorg, api):
    u, p = docorg["units"], docorg["people"]
    now = datetime.now(UTC)
    future = {
        "delegate_id": p["divhead"].id,
        "starts_at": (now + timedelta(days=1)).isoformat(),
        "ends_at": (now + timedelta(days=3)).isoformat(),
        "reason": "下周出差",
    }
    api.ok(api.post("general", "/api/v1/delegations", future), 201)
    did = create(api, notice_payload(u))["id"]
    advance(api, did, "sign_off")
    resp = api.post("divhead", f"/api/v1/documents/{did}/submit", {"opinion": "代签"})
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "not_your_turn"
    now_window = {**future, "starts_at": (now - timedelta(hours=1)).isoformat(), "reason": "出差"}
    api.ok(api.post("general", "/api/v1/delegations", now_window), 201)
    assert doc_todos(api, "divhead", did)[0]["acting_for"]["name"] == "钱秘书长"
    act(api, "divhead", did, "submit", {"opinion": "同意（受托）"})
    data = doc(api, did, "divhead")
    entry = next(e for e in data["flow"]["timeline"] if e["action"] == "sign_off")
    assert entry["actor"]["name"] == "周处长" and entry["on_behalf_of"]["name"] == "钱秘书长"
    assert data["signers"][0]["name"] == "钱秘书长"


# ---------------------------------------------------------------- 退回, 撤回, 转办, 加签


def test_send_back_to_the_previous_and_to_an_earlier_step(docorg, api):
    did = create(api, notice_payload(docorg["units"]))["id"]
    advance(api, did, "sign_off")
    resp = api.post("general", f"/api/v1/documents/{did}/return", {"opinion": "   "})
    assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "reason_required"
    resp = api.post("general", f"/api/v1/documents/{did}/return", {"opinion": "退", "to_step": "seal"})
    assert resp.status_code == 422 and resp.get_json()["error"]["details"]["allowed"] == [
        "draft",
        "dept_review",
        "office_review",
    ]
    resp = api.post("clerk", f"/api/v1/documents/{did}/return", {"opinion": "退"})
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "not_your_turn"
    data = doc(api, did, "general")
    assert [s["key"] for s in data["flow"]["return_to"]] == ["draft", "dept_review", "office_review"]
    out = act(api, "general", did, "return", {"opinion": "请重新核稿"})
    assert out["result"]["step_after"] == "office_review"
    assert doc_todos(api, "general", did) == []
    assert len(doc_todos(api, "clerk", did)) == 1 and doc_todos(api, "clerk2", did) == []
    act(api, "clerk", did, "submit")
    out = act(api, "general", did, "return", {"opinion": "标题不规范，请拟稿人修改", "to_step": "draft"})
    assert out["result"]["step_after"] == "draft"
    assert [t["title"][:3] for t in doc_todos(api, "zhangsan", did)] == ["拟稿："]
    assert "edit" in doc(api, did, "zhangsan")["actions"]


def test_recall_while_the_next_has_not_acted(docorg, api):
    did = create(api, notice_payload(docorg["units"]))["id"]
    act(api, "zhangsan", did, "submit")
    assert "recall" in doc(api, did, "zhangsan")["actions"]
    assert len(doc_todos(api, "divhead", did)) == 1
    out = act(api, "zhangsan", did, "recall", {"opinion": "还要修改"})
    assert out["result"]["step_after"] == "draft"
    assert doc_todos(api, "divhead", did) == []
    assert len(doc_todos(api, "zhangsan", did)) == 1
    act(api, "zhangsan", did, "submit")
    act(api, "divhead", did, "submit")
    resp = api.post("zhangsan", f"/api/v1/documents/{did}/recall", {})
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "cannot_recall"
    # the division head may still take it back from the clerks
    out = act(api, "divhead", did, "recall")
    assert out["result"]["step_after"] == "dept_review"
    assert doc_todos(api, "clerk", did) == [] and doc_todos(api, "clerk2", did) == []


def test_transfer_and_add_handler(docorg, api, factory):
    u, p = docorg["units"], docorg["people"]
    deputy = factory.user("deputy", name="副处长", unit=u["division"], roles=("division_head",))
    did = create(api, notice_payload(u))["id"]
    act(api, "zhangsan", did, "submit", {"choose": [p["divhead"].id]})
    resp = api.post("divhead", f"/api/v1/documents/{did}/transfer", {})
    assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "validation_error"
    resp = api.post("divhead", f"/api/v1/documents/{did}/transfer", {"to_user": 987_654})
    assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "unknown_user"
    out = act(api, "divhead", did, "transfer", {"to_user": deputy.id, "opinion": "请副处长审核"})
    assert [h["name"] for h in out["document"]["flow"]["handlers"]] == ["副处长"]
    assert doc_todos(api, "divhead", did) == [] and len(doc_todos(api, "deputy", did)) == 1

    resp = api.post("deputy", f"/api/v1/documents/{did}/add_handler", {"user_ids": []})
    assert resp.status_code == 422
    # the one who handed it on is no longer a handler but keeps their place in the record
    resp = api.post("deputy", f"/api/v1/documents/{did}/add_handler", {"user_ids": [p["divhead"].id]})
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "already_handler"
    act(api, "deputy", did, "add_handler", {"user_ids": [p["general"].id], "opinion": "请秘书长把关"})
    assert len(doc_todos(api, "general", did)) == 1
    act(api, "deputy", did, "submit", {"opinion": "同意"})
    assert doc(api, did)["flow"]["step"] == "dept_review"  # the added person has not acted yet
    assert "submit" in doc(api, did, "general")["actions"]
    act(api, "general", did, "submit", {"opinion": "同意"})
    assert doc(api, did)["flow"]["step"] == "office_review"


def test_withdraw_a_draft(docorg, api):
    did = create(api, notice_payload(docorg["units"]))["id"]
    act(api, "zhangsan", did, "submit")
    resp = api.post("zhangsan", f"/api/v1/documents/{did}/withdraw", {})
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "not_your_turn"
    act(api, "zhangsan", did, "recall")
    out = act(api, "zhangsan", did, "withdraw", {"opinion": "不再发文"})
    assert out["document"]["status"] == "withdrawn" and out["document"]["actions"] == []
    assert doc_todos(api, "zhangsan", did) == []
    resp = api.patch("zhangsan", f"/api/v1/documents/{did}", {"title": "改"})
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "read_only"


# ---------------------------------------------------------------- bad input


def test_missing_elements_are_named(docorg, api):
    u = docorg["units"]
    resp = api.post("zhangsan", "/api/v1/documents", notice_payload(u, direction="up", doc_type="request"))
    assert resp.status_code == 422
    err = resp.get_json()["error"]
    assert err["code"] == "missing_elements" and err["details"]["missing"] == ["signer_ids"]
    assert "签发人" in err["message"] and "signer_ids" in err["details"]["fields"]

    bare = {"title": " ", "body": "", "main_unit_ids": [], "secret_level": "secret"}
    err = api.post("zhangsan", "/api/v1/documents", bare).get_json()["error"]
    assert err["code"] == "missing_elements"
    assert err["details"]["missing"] == ["title", "body", "main_unit_ids", "copy_no"]

    # published types need no 主送机关
    ok = notice_payload(u, doc_type="announcement", main_unit_ids=[], cc_unit_ids=[])
    assert api.post("zhangsan", "/api/v1/documents", ok).status_code == 201

    resp = api.post("zhangsan", "/api/v1/documents", {"doc_type": "notice"})
    assert resp.status_code == 422 and "title" in resp.get_json()["error"]["details"]["fields"]


BAD_ELEMENTS = [
    ({"main_unit_ids": [424_242]}, "unknown_unit", "main_unit_ids"),
    ({"cc_unit_ids": [424_242]}, "unknown_unit", "cc_unit_ids"),
    ({"joint_unit_ids": [424_242]}, "unknown_unit", "joint_unit_ids"),
    ({"signer_ids": [424_242]}, "unknown_user", "signer_ids"),
    ({"copy_no": "12ab", "secret_level": "secret"}, "invalid_copy_no", "copy_no"),
    ({"doc_type": "memo"}, "validation_error", "doc_type"),
    ({"urgency": "asap"}, "validation_error", "urgency"),
    ({"main_unit_ids": "1,2"}, "validation_error", "main_unit_ids"),
    ({"drafter_unit_id": 424_242}, "invalid_unit", "drafter_unit_id"),
]


def test_bad_elements_are_422(docorg, api):
    for extra, code, field in BAD_ELEMENTS:
        resp = api.post("zhangsan", "/api/v1/documents", notice_payload(docorg["units"], **extra))
        assert resp.status_code == 422, (extra, resp.get_json())
        err = resp.get_json()["error"]
        assert err["code"] == code and field in err["details"]["fields"], (extra, err)
    assert api.ok(api.get("zhangsan", "/api/v1/documents", query_string={"box": "all"}))["total"] == 0


def test_units_out_of_reach_and_duplicates_are_422(docorg, api):
    u = docorg["units"]
    # a county clerk cannot address the province's own units
    resp = api.post(
        "county_a", "/api/v1/documents", notice_payload(u, main_unit_ids=[u["office"].id], cc_unit_ids=[])
    )
    assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "unknown_unit"
    both = notice_payload(u, main_unit_ids=[u["county_a"].id], cc_unit_ids=[u["county_a"].id])
    resp = api.post("zhangsan", "/api/v1/documents", both)
    assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "duplicate_recipient"


def test_acting_out_of_turn_and_unknown_actions(docorg, api):
    did = create(api, notice_payload(docorg["units"]))["id"]
    for who, action in (
        ("divhead", "submit"),
        ("clerk", "number"),
        ("sealkeeper", "seal"),
        ("clerk", "distribute"),
    ):
        resp = api.post(who, f"/api/v1/documents/{did}/{action}", {})
        assert resp.status_code == 409, (who, action, resp.get_json())
        assert resp.get_json()["error"]["code"] == "not_your_turn"
    resp = api.post("zhangsan", f"/api/v1/documents/{did}/approve", {})
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "invalid_action"
    advance(api, did, "number")
    resp = api.post("clerk", f"/api/v1/documents/{did}/submit", {})
    assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "invalid_action"
    resp = api.post("clerk", f"/api/v1/documents/{did}/archive", {})
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "not_your_turn"
    resp = api.post("clerk", f"/api/v1/documents/{did}/number", {"choose": ["x"]})
    assert resp.status_code == 422
    resp = api.post("clerk", f"/api/v1/documents/{did}/number", {"choose": [424_242]})
    assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "unknown_user"
    resp = api.client.post(
        f"/api/v1/documents/{did}/number",
        data="{not json",
        headers={**api.auth("clerk"), "Content-Type": "application/json"},
    )
    assert resp.status_code in (400, 422)
    assert doc(api, did)["flow"]["step"] == "number"


def test_unknown_document_and_huge_ids_are_404(docorg, api):
    for url in ("/api/v1/documents/999999", f"/api/v1/documents/{2**63 + 5}"):
        resp = api.get("zhangsan", url)
        assert resp.status_code == 404, resp.get_json()
    resp = api.post("zhangsan", f"/api/v1/documents/{2**70}/submit", {})
    assert resp.status_code == 404
    did = create(api, notice_payload(docorg["units"]))["id"]
    resp = api.post("zhangsan", f"/api/v1/documents/{did}/submit", {"choose": [2**70]})
    assert resp.status_code == 422, resp.get_json()
    resp = api.post("zhangsan", "/api/v1/documents", notice_payload(docorg["units"], main_unit_ids=[2**70]))
    assert resp.status_code == 422, resp.get_json()


# ---------------------------------------------------------------- racing


def _race_two_clerks(app, docorg, api) -> None:
    did = create(api, notice_payload(docorg["units"]))["id"]
    advance(api, did, "office_review")
    headers = {who: api.auth(who) for who in ("clerk", "clerk2")}
    barrier = threading.Barrier(2)
    results: dict[str, Any] = {}

    def press(who: str) -> None:
        client = app.test_client()
        try:
            barrier.wait(timeout=10)
            resp = client.post(f"/api/v1/documents/{did}/submit", json={"opinion": who}, headers=headers[who])
            results[who] = (resp.status_code, (resp.get_json().get("error") or {}).get("code"))
        except BaseException as exc:  # pragma: no cover - reported below
            results[who] = exc

    threads = [threading.Thread(target=press, args=(w,)) for w in ("clerk", "clerk2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results.values(), key=str) == [(200, None), (409, "not_your_turn")], results
    data = doc(api, did)
    assert data["flow"]["step"] == "sign_off"
    assert [e["action"] for e in data["flow"]["timeline"]].count("submit") == 3  # draft, review, one clerk
    assert doc_todos(api, "clerk", did) == [] and doc_todos(api, "clerk2", did) == []
    assert len(doc_todos(api, "general", did)) == 1
    assert len(audit(app, "documents:outgoing:submit")) == 3


def _backend(app) -> str:
    with app.app_context():
        return db.engine.dialect.name


@pytest.mark.postgres
def test_two_clerks_race_for_one_step_postgres(app, docorg, api):
    if _backend(app) != "postgresql":
        pytest.skip("needs OFFICE_TEST_DATABASE_URL (PostgreSQL)")
    _race_two_clerks(app, docorg, api)


def test_two_clerks_race_for_one_step_sqlite(app, docorg, api):
    if _backend(app) != "sqlite":
        pytest.skip("the PostgreSQL pass runs the postgres-marked race")
    _race_two_clerks(app, docorg, api)


def test_token_needed(client, docorg):
    assert client.get("/api/v1/documents").status_code == 401
    assert client.post("/api/v1/documents", json={}).status_code == 401
    headers = bearer(client, "zhangsan")
    assert client.get("/api/v1/documents", headers=headers).status_code == 200


def test_malformed_input_never_500(docorg, api):
    """Whatever a client sends, the answer is a 4xx with the error shape, never a 500."""
    u = docorg["units"]
    did = create(api, notice_payload(u))["id"]
    bodies = [
        [],
        "text",
        {"choose": [True]},
        {"choose": "1"},
        {"choose": [None]},
        {"choose": [-1]},
        {"choose": [0]},
        {"to_step": 5},
        {"to_step": ""},
        {"to_step": "x" * 100},
        {"to_user": "me"},
        {"to_user": -5},
        {"to_user": 2**70},
        {"user_ids": [2**70]},
        {"user_ids": {"a": 1}},
        {"opinion": None},
        {"opinion": ["同意"]},
        {"opinion": "x" * 5000},
        {"deadline": "2026-13-40"},
        {"lead_handler": "x"},
        {"readers": ["a"]},
        {"unknown_field": 1},
    ]
    patches = [
        [],
        {"title": None},
        {"title": 5},
        {"body": ["一、"]},
        {"main_unit_ids": [None]},
        {"main_unit_ids": [-1]},
        {"main_unit_ids": [2**70]},
        {"signer_ids": [2**70]},
        {"joint_unit_ids": ["a"]},
        {"secret_level": "top"},
        {"copy_no": "1234567"},
        {"copy_no": "-1", "secret_level": "secret"},
        {"urgency": 2},
        {"doc_type": None},
    ]
    for body in patches:
        resp = api.client.patch(f"/api/v1/documents/{did}", json=body, headers=api.auth("zhangsan"))
        assert resp.status_code == 422, (body, resp.status_code, resp.get_json())
    actions = ("submit", "return", "transfer", "add_handler")  # the ones that read these fields
    for action in actions:
        for body in bodies:
            resp = api.client.post(
                f"/api/v1/documents/{did}/{action}", json=body, headers=api.auth("zhangsan")
            )
            # fields an action does not use are ignored, so some of these succeed
            assert resp.status_code < 500, (action, body, resp.status_code, resp.get_json())
            assert resp.status_code == 200 or resp.get_json()["error"]["code"]
    for query in (
        {"box": "nope"},
        {"page": 0},
        {"page": 10**9},
        {"per_page": 1000},
        {"status": "x"},
        {"q": ""},
    ):
        resp = api.get("zhangsan", "/api/v1/documents", query_string=query)
        assert resp.status_code == 422, (query, resp.get_json())
    for query in ({"status": "x"}, {"page": -1}):
        assert api.get("zhangsan", "/api/v1/incoming", query_string=query).status_code == 422
    resp = api.client.post(
        "/api/v1/documents",
        data="not json",
        headers={**api.auth("zhangsan"), "Content-Type": "application/json"},
    )
    assert resp.status_code in (400, 422)


def test_many_recipients(docorg, api):
    """A notice to every county: the printed 主送 is made from the names when it fits, and the
    drafter is asked to write it (e.g. 各县人民政府) when it does not."""
    from office.context import SYSTEM
    from office.identity import services as identity

    app = api.client.application
    with app.app_context():
        ids = [
            identity.create_unit(
                SYSTEM,
                name=f"示例省第{i:02d}号县级行政区人民政府办公室",
                kind="county",
                parent_id=docorg["units"]["city"].id,
            ).id
            for i in range(30)
        ]
        db.session.commit()
    payload = notice_payload(docorg["units"], main_unit_ids=ids, cc_unit_ids=[])
    resp = api.post("zhangsan", "/api/v1/documents", payload)
    assert resp.status_code == 422, resp.get_json()
    assert "main_text" in resp.get_json()["error"]["details"]["fields"]
    created = create(api, {**payload, "main_text": "各县（市、区）人民政府"})
    assert created["main_text"] == "各县（市、区）人民政府" and len(created["main_units"]) == 30
    did = created["id"]
    resp = api.patch(
        "zhangsan", f"/api/v1/documents/{did}", {"cc_unit_ids": ids[:29], "main_unit_ids": ids[29:]}
    )
    assert resp.status_code == 422 and "cc_text" in resp.get_json()["error"]["details"]["fields"]
