"""Who may read what: a person of an unrelated unit gets 404 for a document and everything
hanging off it; an incoming record is for the recipient unit's office people and its handlers;
内部 documents are for those the flow involves, not for every colleague of the drafter."""

from __future__ import annotations

import io
from typing import Any

import pytest

from tests.documents.conftest import notice_payload
from tests.documents.helpers import act, advance, create, doc


def attach(
    api, who: str, did: int, name: str = "说明.txt", data: bytes | None = None, title: str | None = None
):
    form: dict[str, Any] = {"file": (io.BytesIO(data or "附件内容：试点名单。\n".encode()), name)}
    if title:
        form["title"] = title
    return api.client.post(
        f"/api/v1/documents/{did}/attachments",
        data=form,
        headers=api.auth(who),
        content_type="multipart/form-data",
    )


@pytest.fixture
def archived(docorg, api) -> dict[str, Any]:
    """A document to 东山县 only, with an attachment and two versions, archived."""
    u = docorg["units"]
    did = create(api, notice_payload(u, main_unit_ids=[u["county_a"].id], cc_unit_ids=[]))["id"]
    resp = attach(api, "zhangsan", did)
    assert resp.status_code == 201, resp.get_json()
    att = resp.get_json()["id"]
    data = advance(api, did, None)
    assert data["status"] == "archived"
    return {"doc_id": did, "attachment_id": att, "incoming_id": data["exchange"][0]["incoming_id"]}


def status(api, who: str, url: str) -> int:
    """GET and close (file downloads hold the file open until closed)."""
    resp = api.get(who, url)
    resp.close()
    return resp.status_code


def urls(did: int, att: int) -> list[str]:
    return [
        f"/api/v1/documents/{did}",
        f"/api/v1/documents/{did}/attachments/{att}",
        f"/api/v1/documents/{did}/docx",
        f"/api/v1/documents/{did}/diff?from=1&to=2",
        f"/api/v1/documents/{did}/archive",
        f"/api/v1/documents/{did}/numbers",
    ]


def test_an_unrelated_unit_gets_404_for_everything(docorg, api, archived):
    did, att = archived["doc_id"], archived["attachment_id"]
    for url in urls(did, att):
        assert status(api, "clerk", url) == 200, url
        resp = api.get("county_b", url)
        assert resp.status_code == 404, (url, resp.status_code)
        assert resp.get_json()["error"]["code"] == "not_found"
    for action in ("submit", "return", "recall", "archive"):
        assert api.post("county_b", f"/api/v1/documents/{did}/{action}", {"opinion": "x"}).status_code == 404
    assert api.patch("county_b", f"/api/v1/documents/{did}", {"title": "改"}).status_code == 404
    assert attach(api, "county_b", did).status_code == 404
    resp = api.client.delete(f"/api/v1/documents/{did}/attachments/{att}", headers=api.auth("county_b"))
    assert resp.status_code == 404
    listed = api.ok(api.get("county_b", "/api/v1/documents", query_string={"box": "all"}))
    assert listed["total"] == 0
    # the recipient's clerk reads it (received), including the attachment
    for url in urls(did, att):
        assert status(api, "county_a", url) == 200, url
    # an attachment of another document through this document's URL is 404 too
    other = create(api, notice_payload(docorg["units"]))["id"]
    assert status(api, "zhangsan", f"/api/v1/documents/{other}/attachments/{att}") == 404


def test_the_incoming_record_is_for_the_recipient_unit_and_its_handlers(docorg, api, archived):
    rid, did = archived["incoming_id"], archived["doc_id"]
    url = f"/api/v1/incoming/{rid}"
    for who in ("county_a", "county_leader", "county_admin"):
        assert api.get(who, url).status_code == 200, who
    for who in ("county_b", "city_clerk", "clerk", "zhangsan", "county_staff"):
        assert api.get(who, url).status_code == 404, who
        assert api.post(who, f"{url}/sign_for", {}).status_code == 404, who
        assert api.ok(api.get(who, "/api/v1/incoming"))["total"] == 0, who
    assert api.ok(api.get("county_a", "/api/v1/incoming"))["total"] == 1
    # a staff member of the unit sees neither the record nor the document until given a part
    assert api.get("county_staff", f"/api/v1/documents/{did}").status_code == 404
    p = docorg["people"]
    base = f"/api/v1/incoming/{rid}"
    for action in ("sign_for", "register"):
        api.ok(api.post("county_a", f"{base}/{action}", {}))
    api.ok(api.post("county_a", f"{base}/submit", {"opinion": "拟办"}))
    api.ok(
        api.post(
            "county_leader", f"{base}/submit", {"opinion": "请办理", "lead_handler": p["county_staff"].id}
        )
    )
    assert api.get("county_staff", url).status_code == 200
    assert api.get("county_staff", f"/api/v1/documents/{did}").status_code == 200
    assert api.get("county_staff2", url).status_code == 404
    # a 传阅 reader may read it too
    api.ok(api.post("county_staff", f"{base}/submit", {"opinion": "已办"}))
    api.ok(api.post("county_a", f"{base}/circulate", {"readers": [p["county_staff2"].id]}))
    assert api.get("county_staff2", url).status_code == 200
    assert status(api, "county_staff2", f"/api/v1/documents/{did}/docx") == 200


def test_internal_documents_are_for_those_involved(docorg, api, factory):
    u = docorg["units"]
    factory.user("colleague", name="同处同事", unit=u["division"], roles=("staff",))
    factory.user("officestaff", name="厅里科员", unit=u["office"], roles=("staff",))
    internal = create(api, notice_payload(u, title="内部事项的通知", secret_level="internal"))["id"]
    public = create(api, notice_payload(u, title="公开事项的通知"))["id"]
    # an ordinary document is readable by colleagues of the drafter's unit; 内部 is not
    assert api.get("colleague", f"/api/v1/documents/{public}").status_code == 200
    assert api.get("colleague", f"/api/v1/documents/{internal}").status_code == 404
    assert status(api, "colleague", f"/api/v1/documents/{internal}/docx") == 404
    titles = [
        d["title"]
        for d in api.ok(api.get("colleague", "/api/v1/documents", query_string={"box": "all"}))["items"]
    ]
    assert titles == ["公开事项的通知"]
    # the division head is not involved yet; the issuer's office people always are
    assert api.get("divhead", f"/api/v1/documents/{internal}").status_code == 404
    assert api.get("clerk", f"/api/v1/documents/{internal}").status_code == 200
    assert api.get("officestaff", f"/api/v1/documents/{public}").status_code == 404  # not the drafting unit
    act(api, "zhangsan", internal, "submit")
    assert doc(api, internal, "divhead")["secret_label"] == "内部"
    assert api.get("colleague", f"/api/v1/documents/{internal}").status_code == 404
    # once involved, always able to read the record of what one did
    act(api, "divhead", internal, "submit")
    assert api.get("divhead", f"/api/v1/documents/{internal}").status_code == 200


def test_a_secretary_reads_what_the_leader_handles(docorg, api):
    u, p = docorg["units"], docorg["people"]
    api.ok(
        api.post(
            "admin", "/api/v1/secretaries", {"secretary_id": p["secretary"].id, "leader_id": p["leader"].id}
        ),
        201,
    )
    did = create(api, notice_payload(u, secret_level="internal", signer_ids=[p["leader"].id]))["id"]
    assert api.get("secretary", f"/api/v1/documents/{did}").status_code == 404
    advance(api, did, "sign_off")
    assert api.get("secretary", f"/api/v1/documents/{did}").status_code == 200
