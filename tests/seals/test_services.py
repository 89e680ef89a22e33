"""Seals through the API: a document sealed at 用印 and verified (here and with openssl),
second factors, seal states, other units' keepers, rejection, joint seals, signed opinions."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from io import BytesIO

import pytest
from sqlalchemy import select

from office.extensions import db
from seals import pki
from tests.conftest import PASSWORD, require
from tests.documents.conftest import api, docorg, make_seal, notice_payload  # noqa: F401  (fixtures)
from tests.documents.helpers import act, advance, audit, create, doc

SEAL_AT = "seal"


def _at_seal(api, docorg, **extra) -> int:  # noqa: F811
    did = create(api, notice_payload(docorg["units"], **extra))["id"]
    advance(api, did, SEAL_AT)
    return did


def _seal(api, did: int, who: str = "sealkeeper", **body):  # noqa: F811
    return api.post(who, f"/api/v1/documents/{did}/seal", {"password": PASSWORD, **body})


def _verify(api, data: bytes, p7s: bytes | None = None, who: str = "zhangsan"):  # noqa: F811
    files = {"file": (BytesIO(data), "公文.docx")}
    if p7s is not None:
        files["signature"] = (BytesIO(p7s), "公文.docx.p7s")
    return api.client.post(
        "/api/v1/seals/verify", data=files, headers=api.auth(who), content_type="multipart/form-data"
    )


def _one_byte_changed(data: bytes) -> bytes:
    """A real .docx whose text differs by one character (still a valid zip)."""
    src = zipfile.ZipFile(BytesIO(data))
    out = BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for item in src.infolist():
            body = src.read(item.filename)
            if item.filename == "word/document.xml":
                body = body.replace("总体要求".encode(), "总体安排".encode(), 1)
            z.writestr(item, body)
    return out.getvalue()


def test_sealed_document_downloads_and_verifies_here_and_with_openssl(docorg, api, tmp_path):  # noqa: F811
    did = _at_seal(api, docorg)
    out = api.ok(_seal(api, did, opinion="同意用印"))
    assert out["result"]["seal_status"] == "approved" and out["document"]["status"] == "sealed"
    assert out["document"]["flow"]["step"] == "distribute"
    data = api.client.get(f"/api/v1/documents/{did}/docx", headers=api.auth("clerk")).data
    p7s = api.client.get(f"/api/v1/documents/{did}/p7s", headers=api.auth("clerk")).data
    final = doc(api, did, "clerk")
    assert final["frozen"] and final["final_sha256"] == __import__("hashlib").sha256(data).hexdigest()
    assert [(s["seal"]["name"], s["status"], s["decided_by"]) for s in final["sealing"]] == [
        ("省政府办公厅", "approved", "孙印管")
    ]
    # the seal image sits in the final .docx
    assert any(n.startswith("word/media/") for n in zipfile.ZipFile(BytesIO(data)).namelist())

    # verification page / API: with the .p7s, and by hash alone
    for sig in (p7s, None):
        res = api.ok(_verify(api, data, sig))
        assert res["intact"] and res["valid"], res
        assert res["seal"]["unit"] == "省政府办公厅" and res["use"]["approved_by"] == "孙印管"
        assert res["chain"]["ok"] and not res["chain"]["revoked"]
    changed = _one_byte_changed(data)
    res = api.ok(_verify(api, changed, p7s))
    assert not res["intact"] and not res["valid"] and res["failed_check"]
    res = api.ok(_verify(api, changed))
    assert not res["valid"] and res["failed_check"] == "no_record"

    # anyone can repeat it with openssl and the published root certificate (no sign-in)
    require(shutil.which("openssl") is not None, "openssl not installed")
    root = api.client.get("/pki/root.pem")
    assert root.status_code == 200 and b"BEGIN CERTIFICATE" in root.data
    for name, blob in {"root.pem": root.data, "doc.docx": data, "bad.docx": changed, "doc.p7s": p7s}.items():
        (tmp_path / name).write_bytes(blob)

    def openssl(content: str) -> int:
        cmd = ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", "doc.p7s"]
        cmd += ["-content", content, "-CAfile", "root.pem", "-out", "/dev/null"]
        return subprocess.run(cmd, cwd=tmp_path, capture_output=True).returncode

    assert openssl("doc.docx") == 0
    assert openssl("bad.docx") != 0


def test_wrong_password_is_401_logged_and_nothing_sealed(docorg, api):  # noqa: F811
    did = _at_seal(api, docorg)
    resp = _seal(api, did, password="wrong-password")
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "second_factor_failed"
    (fail,) = audit(api.client.application, "seals:second_factor:fail")
    assert fail.actor_id == docorg["people"]["sealkeeper"].id
    data = doc(api, did, "sealkeeper")
    assert data["flow"]["step"] == "seal" and not data["frozen"] and data["final_sha256"] is None
    missing = api.post("sealkeeper", f"/api/v1/documents/{did}/seal", {})
    assert missing.status_code == 401
    # five wrong answers in a row lock approvals for a while
    for _ in range(3):
        _seal(api, did, password="again-wrong")
    assert _seal(api, did).status_code == 429


def test_suspended_and_revoked_seals_answer_409_with_the_reason(docorg, api):  # noqa: F811
    did = _at_seal(api, docorg)
    (seal,) = api.ok(api.get("unitadmin", "/api/v1/seals"))["items"]
    assert seal["manageable"] and seal["status"] == "active"
    no_reason = api.post("unitadmin", f"/api/v1/seals/{seal['id']}/suspend", {})
    assert no_reason.status_code == 422
    api.ok(api.post("unitadmin", f"/api/v1/seals/{seal['id']}/suspend", {"reason": "印章年检"}))
    resp = _seal(api, did)
    body = resp.get_json()["error"]
    assert resp.status_code == 409 and body["code"] == "seal_suspended" and "印章年检" in body["message"]
    api.ok(api.post("unitadmin", f"/api/v1/seals/{seal['id']}/resume", {}))
    api.ok(api.post("unitadmin", f"/api/v1/seals/{seal['id']}/revoke", {"reason": "机构调整"}))
    resp = _seal(api, did)
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "seal_revoked"
    again = api.post("unitadmin", f"/api/v1/seals/{seal['id']}/resume", {})
    assert again.status_code == 409
    # the revoked certificate is on the published CRL
    crl = pki.load_crl(api.client.get("/pki/crl.der").data)
    assert seal["cert_serial"] in {e.serial_number for e in crl}
    actions = [e.action for e in audit(api.client.application, prefix="seals:seal:")]
    assert actions == ["seals:seal:create", "seals:seal:suspend", "seals:seal:resume", "seals:seal:revoke"]


def test_keeper_of_another_unit_gets_404_and_the_clerk_409(docorg, api, factory):  # noqa: F811
    u = docorg["units"]
    other = factory.user("city_keeper", name="市印管", unit=u["city"], roles=("seal_keeper",))
    make_seal(api.client.application, u["city"], [other])
    did = _at_seal(api, docorg)
    with api.client.application.app_context():
        from seals.models import SealRequest

        (req_id,) = db.session.scalars(select(SealRequest.id).where(SealRequest.subject_id == did)).all()
    resp = api.post("city_keeper", f"/api/v1/seals/requests/{req_id}/approve", {"password": PASSWORD})
    assert resp.status_code == 404
    assert _seal(api, did, who="city_keeper").status_code in (404, 409)
    assert _seal(api, did, who="clerk").status_code == 409
    # the keeper sees it in their queue and approves it there
    queue = api.ok(api.get("sealkeeper", "/api/v1/seals/requests", query_string={"status": "pending"}))
    assert [r["id"] for r in queue["items"]] == [req_id] and queue["items"][0]["may_decide"]
    api.ok(api.post("sealkeeper", f"/api/v1/seals/requests/{req_id}/approve", {"password": PASSWORD}))
    assert doc(api, did)["status"] == "sealed"
    again = api.post("sealkeeper", f"/api/v1/seals/requests/{req_id}/approve", {"password": PASSWORD})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "not_pending"


def test_rejection_sends_the_document_back_with_the_reason(docorg, api):  # noqa: F811
    did = _at_seal(api, docorg)
    assert api.get("clerk", f"/api/v1/documents/{did}/p7s").status_code == 409  # nothing sealed yet
    empty = api.post("sealkeeper", f"/api/v1/documents/{did}/reject_seal", {"opinion": ""})
    assert empty.status_code == 422
    out = api.ok(api.post("sealkeeper", f"/api/v1/documents/{did}/reject_seal", {"opinion": "附件缺页"}))
    assert out["document"]["flow"]["step"] == "number"
    data = doc(api, did, "clerk")
    assert [(s["status"], s["reason"]) for s in data["sealing"]] == [("rejected", "附件缺页")]
    assert any("附件缺页" in (e["opinion"] or "") for e in data["flow"]["timeline"])
    # numbered again, it comes back to the keeper with a new request
    act(api, "clerk", did, "number")
    assert [s["status"] for s in doc(api, did, "clerk")["sealing"]] == ["rejected", "pending"]
    api.ok(_seal(api, did))
    assert doc(api, did)["status"] == "sealed"


def test_joint_document_gets_both_seals_side_by_side(docorg, api, factory):  # noqa: F811
    u = docorg["units"]
    mayor = factory.user("mayor", name="市长", unit=u["city"], roles=("leader",))
    keeper = factory.user("city_keeper", name="市印管", unit=u["city"], roles=("seal_keeper",))
    make_seal(api.client.application, u["city"], [keeper])
    payload = notice_payload(
        u, joint_unit_ids=[u["city"].id], main_unit_ids=[u["county_a"].id], cc_unit_ids=[]
    )
    did = create(api, payload)["id"]
    advance(api, did, "countersign")
    act(api, "mayor", did, "submit")
    assert mayor  # the co-issuer's leader countersigned
    advance(api, did, SEAL_AT)
    assert {h["name"] for h in doc(api, did)["flow"]["handlers"]} == {"孙印管", "市印管"}
    first = api.ok(_seal(api, did))
    assert first["result"]["seal_status"] == "agreed" and first["document"]["flow"]["step"] == "seal"
    assert [h["name"] for h in doc(api, did)["flow"]["handlers"]] == ["市印管"]
    api.ok(_seal(api, did, who="city_keeper"))
    final = doc(api, did, "clerk")
    assert final["status"] == "sealed"
    assert sorted(s["status"] for s in final["sealing"]) == ["approved", "approved"]
    assert len({s["sha256"] for s in final["sealing"]}) == 1
    data = api.client.get(f"/api/v1/documents/{did}/docx", headers=api.auth("clerk")).data
    media = [n for n in zipfile.ZipFile(BytesIO(data)).namelist() if n.startswith("word/media/")]
    assert len(media) == 2
    assert api.ok(_verify(api, data))["valid"]


def test_signed_sign_off_opinion_detects_tampering(docorg, api):  # noqa: F811
    from documents import sealing
    from documents.models import Document
    from office.workflow.models import FlowAction

    did = create(api, notice_payload(docorg["units"]))["id"]
    advance(api, did, "recheck")
    app = api.client.application
    with app.app_context():
        d = db.session.get(Document, did)
        inst = __import__("documents.services", fromlist=["x"]).instance_of(d)
        checks = sealing.opinion_checks("document", did, inst, d)
        (action_id,) = checks
        assert checks[action_id]["valid"] and checks[action_id]["signer"] == "钱秘书长"
        db.session.get(FlowAction, action_id).opinion = "不同意"
        db.session.commit()
    with app.app_context():
        d = db.session.get(Document, did)
        inst = __import__("documents.services", fromlist=["x"]).instance_of(d)
        assert not sealing.opinion_checks("document", did, inst, d)[action_id]["valid"]


@pytest.mark.parametrize(
    ("file", "sig", "code"),
    [(b"not a docx at all", None, "not_docx"), ("docx", b"garbage", "not_cms")],
)
def test_verify_rejects_bad_files_with_422(docorg, api, file, sig, code):  # noqa: F811
    from tests.documents.helpers import docx_bytes

    data = docx_bytes(["正文"]) if file == "docx" else file
    resp = _verify(api, data, sig)
    assert resp.status_code == 422 and resp.get_json()["error"]["code"] == code


def test_seal_management_permissions(docorg, api):  # noqa: F811
    u = docorg["units"]
    body = {"unit_id": u["office"].id, "kind": "contract", "keeper_ids": [docorg["people"]["sealkeeper"].id]}
    assert api.post("zhangsan", "/api/v1/seals", body).status_code == 404
    made = api.ok(api.post("unitadmin", "/api/v1/seals", body), 201)
    assert made["label"] == "合同专用章" and made["status"] == "active"
    cert = pki.load_cert(api.client.get(made["certificate_url"], headers=api.auth("unitadmin")).data)
    assert "省政府办公厅" in cert.subject.rfc4514_string()
    png = api.client.get(made["image_url"], headers=api.auth("sealkeeper"))
    assert png.status_code == 200 and png.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert api.get("county_admin", f"/api/v1/seals/{made['id']}").status_code == 404
    outsider = [docorg["people"]["city_clerk"].id]
    bad = api.post("unitadmin", "/api/v1/seals", {**body, "kind": "finance", "keeper_ids": outsider})
    assert bad.status_code == 422
    dup = api.post("unitadmin", "/api/v1/seals", body)
    assert dup.status_code == 409


# ---------------------------------------------------------------- racing


def _race_two_keepers(app, docorg, api, factory) -> None:  # noqa: F811
    """Two keepers of one seal approve the same request at the same moment: the document is
    sealed once, one keeper gets 200 and the other a clear 409, and one use is logged."""
    import threading

    from office.context import Actor
    from office.identity.models import User
    from seals import services as seals
    from seals.models import Seal, SealRequest

    second = factory.user(
        "sealkeeper2", name="钱印管", unit=docorg["units"]["office"], roles=("seal_keeper",)
    )
    with app.app_context():
        admin = db.session.scalar(select(User).where(User.username == "admin"))
        seal_id = db.session.scalar(select(Seal.id).where(Seal.unit_id == docorg["units"]["office"].id))
        seals.set_keepers(Actor(user=admin), seal_id, [docorg["people"]["sealkeeper"].id, second.id])
        db.session.commit()
    did = _at_seal(api, docorg)
    headers = {who: api.auth(who) for who in ("sealkeeper", "sealkeeper2")}
    barrier = threading.Barrier(2)
    results: dict[str, object] = {}

    def press(who: str) -> None:
        client = app.test_client()
        try:
            barrier.wait(timeout=10)
            resp = client.post(
                f"/api/v1/documents/{did}/seal", json={"password": PASSWORD}, headers=headers[who]
            )
            results[who] = (resp.status_code, (resp.get_json().get("error") or {}).get("code"))
        except BaseException as exc:  # pragma: no cover - reported below
            results[who] = exc

    threads = [threading.Thread(target=press, args=(w,)) for w in headers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    codes = sorted(results.values(), key=str)
    assert len(codes) == 2 and codes[0][0] == 200 and codes[1][0] == 409, results
    with app.app_context():
        reqs = list(db.session.scalars(select(SealRequest).where(SealRequest.subject_id == did)))
        assert [r.status.value for r in reqs] == ["approved"] and reqs[0].signature
    assert len(audit(app, "seals:request:approve")) == 1
    data = doc(api, did)
    assert data["frozen"] is True and data["final_sha256"] == reqs[0].sha256
    assert [e["action"] for e in data["flow"]["timeline"]].count("seal") == 1


@pytest.mark.postgres
def test_two_keepers_race_to_approve_postgres(app, docorg, api, factory):  # noqa: F811
    if db_name(app) != "postgresql":
        pytest.skip("needs OFFICE_TEST_DATABASE_URL (PostgreSQL)")
    _race_two_keepers(app, docorg, api, factory)


def test_two_keepers_race_to_approve_sqlite(app, docorg, api, factory):  # noqa: F811
    if db_name(app) != "sqlite":
        pytest.skip("the PostgreSQL pass runs the postgres-marked race")
    _race_two_keepers(app, docorg, api, factory)


def db_name(app) -> str:
    with app.app_context():
        return db.engine.dialect.name
