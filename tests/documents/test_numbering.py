"""发文字号: numbers are consecutive per issuer, code and year; a number cancelled by a send-back
or recall is kept in the register as 作废 and never given out again; fifty clerks numbering at
once get fifty distinct consecutive numbers."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from documents import services
from documents.models import Document, IssuedNumber, NumberCounter, NumberStatus
from office.context import Actor
from office.errors import ServiceError
from office.extensions import db
from office.identity.models import User
from office.workflow import services as flow
from tests.documents.conftest import notice_payload
from tests.documents.helpers import act, advance, create, doc, docx_text

YEAR = datetime.now(ZoneInfo("Asia/Shanghai")).year


def number(n: int) -> str:
    return f"示政办〔{YEAR}〕{n}号"


def register(api, did: int, who: str = "clerk") -> list[tuple[str, str]]:
    items = api.ok(api.get(who, f"/api/v1/documents/{did}/numbers"))["items"]
    return [(r["number"], r["status"]) for r in items]


def test_numbers_are_consecutive_per_issuer(docorg, api):
    u = docorg["units"]
    first = create(api, notice_payload(u, title="第一件"))["id"]
    second = create(api, notice_payload(u, title="第二件"))["id"]
    advance(api, second, "number")
    advance(api, first, "number")
    # numbered in the order the clerk numbers them, not the order they were drafted
    assert act(api, "clerk", second, "number")["result"]["doc_number"] == number(1)
    assert act(api, "clerk2", first, "number")["result"]["doc_number"] == number(2)
    assert register(api, second) == [(number(1), "used")]
    # another 机关代字 has its own counter
    third = create(api, notice_payload(u, title="第三件", doc_code="示政办函"))["id"]
    advance(api, third, "number")
    assert act(api, "clerk", third, "number")["result"]["doc_number"] == f"示政办函〔{YEAR}〕1号"
    data = doc(api, third)
    assert data["doc_number"] == f"示政办函〔{YEAR}〕1号" and data["status"] == "numbered"
    tl = data["flow"]["timeline"][-1]
    assert tl["action"] == "number" and tl["details"]["doc_number"] == data["doc_number"]


def test_a_cancelled_number_is_recorded_and_never_reused(docorg, api):
    u = docorg["units"]
    did = create(api, notice_payload(u))["id"]
    advance(api, did, "seal")
    assert doc(api, did)["doc_number"] == number(1)
    resp = api.post("sealkeeper", f"/api/v1/documents/{did}/return", {"opinion": "", "to_step": "sign_off"})
    assert resp.status_code == 422
    out = act(
        api, "sealkeeper", did, "return", {"opinion": "成文日期有误，请重新签发", "to_step": "sign_off"}
    )
    assert out["result"]["cancelled_number"] == number(1)
    data = doc(api, did)
    assert data["doc_number"] is None and data["status"] == "drafting" and data["written_date"] is None
    assert data["frozen"] is False
    assert register(api, did) == [(number(1), "cancelled")]
    items = api.ok(api.get("clerk", f"/api/v1/documents/{did}/numbers"))["items"]
    assert items[0]["reason"] and items[0]["cancelled_at"]

    # a second document numbered meanwhile takes the next serial, not the freed one
    other = create(api, notice_payload(u, title="另一件"))["id"]
    advance(api, other, "seal")
    assert doc(api, other)["doc_number"] == number(2)
    # the first is signed and numbered again: it gets a new number
    advance(api, did, "seal")
    assert doc(api, did)["doc_number"] == number(3)
    assert register(api, did) == [(number(1), "cancelled"), (number(3), "used")]
    with api.client.application.app_context():
        rows = db.session.scalars(select(IssuedNumber).order_by(IssuedNumber.serial)).all()
        assert [(r.serial, r.status) for r in rows] == [
            (1, NumberStatus.CANCELLED),
            (2, NumberStatus.USED),
            (3, NumberStatus.USED),
        ]
        assert rows[0].cancelled_by_id == docorg["people"]["sealkeeper"].id


def test_recall_after_numbering_cancels_the_number(docorg, api):
    did = create(api, notice_payload(docorg["units"]))["id"]
    advance(api, did, "seal")
    out = act(api, "clerk", did, "recall", {"opinion": "编号有误"})
    assert out["result"]["step_after"] == "number" and out["result"]["cancelled_number"] == number(1)
    assert out["document"]["doc_number"] is None
    act(api, "clerk", did, "number")
    assert doc(api, did)["doc_number"] == number(2)
    assert register(api, did) == [(number(1), "cancelled"), (number(2), "used")]


def test_numbering_needs_the_turn(docorg, api):
    did = create(api, notice_payload(docorg["units"]))["id"]
    advance(api, did, "number")
    resp = api.post("sealkeeper", f"/api/v1/documents/{did}/number", {})
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "not_your_turn"
    resp = api.post("clerk", f"/api/v1/documents/{did}/seal", {})
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "not_your_turn"
    with api.client.application.app_context():
        assert db.session.scalars(select(NumberCounter)).all() == []


# ---------------------------------------------------------------- concurrency


def _documents_at_number(app, docorg, n: int) -> list[int]:
    """``n`` documents standing at 编号, set up in one transaction: drafted through the service,
    then moved on by the workflow engine (the unit uses a flow of the required steps only, so
    that is two submits each: 拟稿 and 签发)."""
    p = docorg["people"]
    with app.app_context():
        staff, general = (db.session.get(User, p[k].id) for k in ("staff", "general"))
        office = docorg["units"]["office"]
        spec = flow.FLOWS["outgoing"]
        steps = [s for s in spec.default_steps if s["key"] in spec.required_steps]
        services.save_flow(Actor(user=db.session.get(User, p["unitadmin"].id)), "outgoing", office.id, steps)
        ids = []
        payload = {k: v for k, v in notice_payload(docorg["units"]).items() if k != "urgency"}
        for i in range(n):
            d = services.create_document(Actor(user=staff), {**payload, "title": f"并发编号测试{i}"})
            inst, subject = services.instance_of(d), services.subject_of(d)
            flow.submit(Actor(user=staff), inst, subject, step_key="draft")
            flow.submit(Actor(user=general), inst, subject, step_key="sign_off")
            ids.append(d.id)
        db.session.commit()
        assert {services.instance_of(db.session.get(Document, i)).current_step for i in ids} == {"number"}
    return ids


def _number_all_at_once(app, docorg, n: int) -> None:
    ids = _documents_at_number(app, docorg, n)
    clerks = [docorg["people"]["clerk"].id, docorg["people"]["clerk2"].id]
    barrier = threading.Barrier(n)
    results: dict[int, Any] = {}

    def clerk(k: int, doc_id: int) -> None:
        try:
            with app.app_context():
                barrier.wait(timeout=30)  # before touching the database: SQLite writers lock it
                user = db.session.get(User, clerks[k % 2])
                try:
                    out = services.act(Actor(user=user), doc_id, "number", {})
                    db.session.commit()
                    results[doc_id] = out["doc_number"]
                except ServiceError as exc:
                    db.session.rollback()
                    results[doc_id] = exc
        except BaseException as exc:  # pragma: no cover - reported below
            results[doc_id] = exc

    threads = [threading.Thread(target=clerk, args=(k, d)) for k, d in enumerate(ids)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    errors = {k: v for k, v in results.items() if not isinstance(v, str)}
    assert not errors and len(results) == n, errors
    assert sorted(results.values(), key=lambda s: int(s.split("〕")[1][:-1])) == [
        number(i) for i in range(1, n + 1)
    ]
    with app.app_context():
        docs = db.session.scalars(select(Document).where(Document.id.in_(ids))).all()
        assert {d.doc_number for d in docs} == set(results.values())
        assert sorted(d.serial for d in docs) == list(range(1, n + 1))
        rows = db.session.scalars(select(IssuedNumber)).all()
        assert sorted(r.serial for r in rows) == list(range(1, n + 1))
        assert {r.document_id: r.number for r in rows} == results
        assert db.session.scalar(select(NumberCounter.last_serial)) == n


def _backend(app) -> str:
    with app.app_context():
        return db.engine.dialect.name


@pytest.mark.postgres
def test_fifty_documents_numbered_at_once_postgres(app, docorg):
    if _backend(app) != "postgresql":
        pytest.skip("needs OFFICE_TEST_DATABASE_URL (PostgreSQL)")
    _number_all_at_once(app, docorg, 50)


def test_documents_numbered_at_once_sqlite(app, docorg):
    if _backend(app) != "sqlite":
        pytest.skip("the PostgreSQL pass runs the postgres-marked race")
    _number_all_at_once(app, docorg, 20)


def test_send_back_after_sealing_drops_the_final_file_and_the_number(docorg, api):
    did = create(api, notice_payload(docorg["units"]))["id"]
    advance(api, did, "distribute")
    sealed = api.get("clerk", f"/api/v1/documents/{did}/docx").data
    assert number(1) in docx_text(sealed)
    out = act(api, "clerk", did, "return", {"opinion": "主送机关有误，请重新签发", "to_step": "sign_off"})
    assert out["result"]["cancelled_number"] == number(1)
    data = doc(api, did, "general")
    assert data["frozen"] is False and data["doc_number"] is None and data["print_date"] is None
    assert "edit" in data["actions"]
    # the .docx is rendered from the document again, without the cancelled number
    text = docx_text(api.get("general", f"/api/v1/documents/{did}/docx").data)
    assert number(1) not in text and data["title"] in text
    api.ok(
        api.patch("general", f"/api/v1/documents/{did}", {"main_unit_ids": [docorg["units"]["county_a"].id]})
    )
    advance(api, did, "distribute")
    text = docx_text(api.get("clerk", f"/api/v1/documents/{did}/docx").data)
    assert number(2) in text and number(1) not in text
    assert register(api, did) == [(number(1), "cancelled"), (number(2), "used")]
