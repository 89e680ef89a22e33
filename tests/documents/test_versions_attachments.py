"""痕迹保留 and attachments: every saved edit is a version, any two versions diff field by field
and line by line; only the current handler edits, nobody after sealing; attachments are typed
by content, size-limited, and each change to them is a version too."""

from __future__ import annotations

import io
from typing import Any

from tests.documents.conftest import notice_payload
from tests.documents.helpers import act, advance, create, doc, docx_bytes


def upload(api, who: str, url: str, name: str, data: bytes, **form: Any):
    return api.client.post(
        url,
        data={"file": (io.BytesIO(data), name), **form},
        headers=api.auth(who),
        content_type="multipart/form-data",
    )


def test_each_edit_is_a_version_and_any_two_diff(docorg, api):
    u = docorg["units"]
    did = create(api, notice_payload(u))["id"]
    base = f"/api/v1/documents/{did}"
    data = api.ok(
        api.patch(
            "zhangsan", base, {"title": "关于做好数字政府协同办公推广工作的通知", "version_note": "改标题"}
        )
    )
    assert data["version"] == 2
    body = doc(api, did)["body"].replace("各地要抓好落实。", "各地要结合实际抓好落实。") + "\n二、工作安排"
    data = api.ok(api.patch("zhangsan", base, {"body": body, "urgency": "very_urgent", "cc_unit_ids": []}))
    assert data["version"] == 3 and data["urgency"] == "very_urgent" and data["cc_units"] == []
    # saving without a change makes no version
    assert api.ok(api.patch("zhangsan", base, {"title": data["title"]}))["version"] == 3
    act(api, "zhangsan", did, "submit")
    # the division head edits in their step: a version by them, in that step
    data = api.ok(api.patch("divhead", base, {"note": "（此件公开发布）", "version_note": "处长修改"}))
    assert data["version"] == 4
    versions = [(v["number"], v["author"], v["step"], v["note"]) for v in data["versions"]]
    assert versions == [
        (1, "张三", "draft", "起草"),
        (2, "张三", "draft", "改标题"),
        (3, "张三", "draft", ""),
        (4, "周处长", "dept_review", "处长修改"),
    ]
    assert len({v["sha256"] for v in data["versions"]}) == 4

    diff = api.ok(api.get("divhead", f"{base}/diff", query_string={"from": 1, "to": 4}))
    fields = {f["field"]: (f["old"], f["new"]) for f in diff["fields"]}
    assert fields["title"] == (
        "关于做好2026年数字政府协同办公推广工作的通知",
        "关于做好数字政府协同办公推广工作的通知",
    )
    assert fields["urgency"] == (1, 2) and fields["note"] == ("", "（此件公开发布）")
    assert fields["cc_unit_ids"] == ([u["city"].id], [])
    assert fields["cc_text"] == ("示例市人民政府", "")  # the printed 抄送 follows the units
    assert "body" not in fields and "doc_type" not in fields
    ops = [(o["op"], o["old"], o["new"]) for o in diff["body"] if o["op"] != "equal"]
    assert ops == [
        ("replace", ["各地要抓好落实。"], ["各地要结合实际抓好落实。", "二、工作安排"]),
    ]
    assert [c["number"] for c in diff["changes_by"]] == [2, 3, 4]
    assert [c["author"] for c in diff["changes_by"]] == ["张三", "张三", "周处长"]

    # any two, either way round
    back = api.ok(api.get("divhead", f"{base}/diff", query_string={"from": 3, "to": 2}))
    assert [o["op"] for o in back["body"] if o["op"] != "equal"] == ["replace"]
    assert {f["field"] for f in back["fields"]} == {"urgency", "cc_unit_ids", "cc_text"}
    same = api.ok(api.get("divhead", f"{base}/diff", query_string={"from": 2, "to": 2}))
    assert same["fields"] == [] and {o["op"] for o in same["body"]} == {"equal"}
    for query, code in (
        ({"from": 1, "to": 9}, "unknown_version"),
        ({"from": 0, "to": 1}, "validation_error"),
    ):
        resp = api.get("divhead", f"{base}/diff", query_string=query)
        assert resp.status_code == 422 and resp.get_json()["error"]["code"] == code
    assert api.get("divhead", f"{base}/diff", query_string={"from": "x", "to": 1}).status_code == 422
    assert api.get("divhead", f"{base}/diff").status_code == 422


def test_editing_when_not_your_turn_is_409(docorg, api):
    did = create(api, notice_payload(docorg["units"]))["id"]
    base = f"/api/v1/documents/{did}"
    resp = api.patch("divhead", base, {"title": "处长抢先改"})
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "not_your_turn"
    resp = api.patch("clerk", base, {"title": "收发员改"})
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "not_your_turn"
    act(api, "zhangsan", did, "submit")
    resp = api.patch("zhangsan", base, {"title": "拟稿人再改"})
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "not_your_turn"
    assert "edit" not in doc(api, did)["actions"]
    resp = api.patch("divhead", base, {"title": " "})
    assert resp.status_code == 422 and resp.get_json()["error"]["details"]["missing"] == ["title"]
    resp = api.patch("divhead", base, {"main_unit_ids": [424_242]})
    assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "unknown_unit"
    resp = api.patch("divhead", base, {"direction": "up", "signer_ids": []})
    assert resp.status_code == 422 and resp.get_json()["error"]["details"]["missing"] == ["signer_ids"]
    resp = api.patch("divhead", base, {"version_note": "x" * 500})
    assert resp.status_code == 422
    assert doc(api, did)["version"] == 1
    advance(api, did, "recheck")
    resp = api.patch("clerk", base, {"title": "复核时改"})
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "not_your_turn"


def test_after_sealing_editing_is_read_only(docorg, api):
    did = create(api, notice_payload(docorg["units"]))["id"]
    advance(api, did, "distribute")
    base = f"/api/v1/documents/{did}"
    data = doc(api, did, "clerk")
    assert data["frozen"] is True and "edit" not in data["actions"]
    resp = api.patch("clerk", base, {"title": "用印后修改"})
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "read_only"
    resp = upload(api, "clerk", f"{base}/attachments", "补充.txt", "补充材料".encode())
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "read_only"
    resp = upload(api, "clerk", f"{base}/body", "正文.docx", docx_bytes(["新正文"]))
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "read_only"
    # the .docx is the fixed final file from now on
    first = api.get("clerk", f"{base}/docx")
    assert first.status_code == 200 and first.data[:2] == b"PK"
    assert api.get("zhangsan", f"{base}/docx").data == first.data


def test_attachments_make_versions_and_download(docorg, api):
    did = create(api, notice_payload(docorg["units"]))["id"]
    base = f"/api/v1/documents/{did}"
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    resp = upload(api, "zhangsan", f"{base}/attachments", "试点名单.pdf", pdf, title="试点单位名单")
    assert resp.status_code == 201, resp.get_json()
    first = resp.get_json()["id"]
    resp = upload(api, "zhangsan", f"{base}/attachments", "说明.txt", "填报说明".encode())
    assert resp.status_code == 201
    second = resp.get_json()["id"]
    data = doc(api, did)
    assert [(a["title"], a["content_type"]) for a in data["attachments"]] == [
        ("试点单位名单", "application/pdf"),
        ("说明", "text/plain; charset=utf-8"),
    ]
    assert data["version"] == 3 and data["versions"][-1]["note"] == "添加附件：说明"
    got = api.get("zhangsan", f"{base}/attachments/{first}")
    assert got.status_code == 200 and got.data == pdf and got.mimetype == "application/pdf"
    got.close()
    resp = api.client.delete(f"{base}/attachments/{second}", headers=api.auth("zhangsan"))
    assert resp.status_code == 204
    data = doc(api, did)
    assert [a["title"] for a in data["attachments"]] == ["试点单位名单"]
    assert data["version"] == 4 and data["versions"][-1]["note"] == "删除附件：说明"
    diff = api.ok(api.get("zhangsan", f"{base}/diff", query_string={"from": 1, "to": 3}))
    (change,) = [f for f in diff["fields"] if f["field"] == "attachments"]
    assert [a["title"] for a in change["new"]] == ["试点单位名单", "说明"] and change["old"] == []
    assert api.get("zhangsan", f"{base}/attachments/{second}").status_code == 404
    resp = api.client.delete(f"{base}/attachments/{second}", headers=api.auth("zhangsan"))
    assert resp.status_code == 404
    # not the handler: no attachments
    act(api, "zhangsan", did, "submit")
    resp = upload(api, "zhangsan", f"{base}/attachments", "再补.txt", "补充".encode())
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "not_your_turn"
    resp = api.client.delete(f"{base}/attachments/{first}", headers=api.auth("zhangsan"))
    assert resp.status_code == 409


def test_attachment_over_the_limit_is_413(app, docorg, api):
    did = create(api, notice_payload(docorg["units"]))["id"]
    old = app.config["ATTACHMENT_MAX_MB"]
    app.config["ATTACHMENT_MAX_MB"] = 0.01  # about 10 KB
    try:
        resp = upload(api, "zhangsan", f"/api/v1/documents/{did}/attachments", "大文件.txt", b"a" * 20_000)
        assert resp.status_code == 413, resp.get_json()
        assert resp.get_json()["error"]["code"] == "file_too_large"
        resp = upload(api, "zhangsan", f"/api/v1/documents/{did}/attachments", "小文件.txt", b"a" * 2_000)
        assert resp.status_code == 201
    finally:
        app.config["ATTACHMENT_MAX_MB"] = old
    assert [a["title"] for a in doc(api, did)["attachments"]] == ["小文件"]
    assert doc(api, did)["version"] == 2


def test_bad_attachments_are_refused(docorg, api):
    did = create(api, notice_payload(docorg["units"]))["id"]
    bad = [
        ("空.txt", b"", "empty_file"),
        ("伪装.pdf", "其实是文本".encode(), "file_type_mismatch"),
        ("程序.exe", b"MZ\x90\x00\x03" + b"\x00" * 200, "unsupported_file_type"),
    ]
    for name, data, code in bad:
        resp = upload(api, "zhangsan", f"/api/v1/documents/{did}/attachments", name, data)
        assert resp.status_code == 422, (name, resp.get_json())
        assert resp.get_json()["error"]["code"] == code, (name, resp.get_json())
    assert doc(api, did)["attachments"] == [] and doc(api, did)["version"] == 1


def test_missing_file_field_is_422(docorg, api):
    did = create(api, notice_payload(docorg["units"]))["id"]
    for url in (
        f"/api/v1/documents/{did}/attachments",
        f"/api/v1/documents/{did}/body",
        "/api/v1/documents/import",
    ):
        resp = api.client.post(url, data={}, headers=api.auth("zhangsan"), content_type="multipart/form-data")
        assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "file_required", url


# ---------------------------------------------------------------- .docx import


def test_a_fake_docx_is_422_for_import_and_body_upload(docorg, api):
    did = create(api, notice_payload(docorg["units"]))["id"]
    fakes = [
        ("通知.docx", "这不是 Word 文档".encode()),
        ("通知.docx", b"PK\x03\x04" + b"\x00" * 100),
        ("通知.docx", b"%PDF-1.4\n%%EOF\n"),
        ("通知.txt", docx_bytes(["正文"])),
    ]
    for name, data in fakes:
        resp = upload(api, "zhangsan", "/api/v1/documents/import", name, data)
        assert resp.status_code == 422, (name, data[:10], resp.get_json())
        resp = upload(api, "zhangsan", f"/api/v1/documents/{did}/body", name, data)
        assert resp.status_code == 422, (name, data[:10], resp.get_json())
    assert doc(api, did)["version"] == 1
    listed = api.ok(api.get("zhangsan", "/api/v1/documents", query_string={"box": "mine"}))
    assert listed["total"] == 1


def test_body_upload_and_import(docorg, api):
    u = docorg["units"]
    did = create(api, notice_payload(u))["id"]
    data = docx_bytes(["各有关单位：", "一、总体要求", "现将有关事项通知如下。"])
    resp = upload(api, "zhangsan", f"/api/v1/documents/{did}/body", "新正文.docx", data)
    assert resp.status_code == 200, resp.get_json()
    current = doc(api, did)
    assert current["version"] == 2 and current["versions"][-1]["note"] == "导入正文：新正文.docx"
    assert "一、总体要求" in current["body"]
    resp = upload(
        api,
        "zhangsan",
        "/api/v1/documents/import",
        "关于开展调研的通知.docx",
        docx_bytes(["关于开展调研的通知", "各县人民政府：", "现就调研事项通知如下。"]),
        title="关于开展调研的通知",
        main_unit_ids=str(u["county_a"].id),
    )
    assert resp.status_code == 201, resp.get_json()
    created = resp.get_json()
    assert created["title"] == "关于开展调研的通知" and created["flow"]["step"] == "draft"
    assert created["main_units"] == [{"id": u["county_a"].id, "name": "东山县人民政府"}]
    resp = upload(
        api, "zhangsan", "/api/v1/documents/import", "x.docx", docx_bytes(["x"]), main_unit_ids="9" * 30
    )
    assert resp.status_code == 422, resp.get_json()


def test_printed_recipients_follow_the_units_unless_written_by_hand(docorg, api):
    u = docorg["units"]
    auto = create(api, notice_payload(u))["id"]
    data = api.ok(api.patch("zhangsan", f"/api/v1/documents/{auto}", {"main_unit_ids": [u["county_a"].id]}))
    assert data["version"] == 2
    assert doc(api, auto)["main_text"] == "东山县人民政府"
    typed = create(api, notice_payload(u, main_text="各县（市、区）人民政府"))["id"]
    api.ok(api.patch("zhangsan", f"/api/v1/documents/{typed}", {"main_unit_ids": [u["county_a"].id]}))
    assert doc(api, typed)["main_text"] == "各县（市、区）人民政府"


def test_import_with_bad_form_fields_is_422(docorg, api):
    data = docx_bytes(["关于开展调研的通知", "各县人民政府：", "现就调研事项通知如下。"])
    for form in ({"doc_type": "memo"}, {"urgency": "asap"}, {"title": "x" * 300}, {"direction": "sideways"}):
        resp = upload(api, "zhangsan", "/api/v1/documents/import", "通知.docx", data, **form)
        assert resp.status_code == 422, (form, resp.get_json())
        assert form.keys() <= resp.get_json()["error"]["details"]["fields"].keys()
    for form in (
        {"main_unit_ids": "abc"},
        {"signer_ids": "-3"},
        {"cc_unit_ids": "424242"},
        {"main_unit_ids": "²"},
    ):
        resp = upload(api, "zhangsan", "/api/v1/documents/import", "通知.docx", data, **form)
        assert resp.status_code in (201, 422), (form, resp.get_json())


def test_long_names_and_titles_fit(docorg, api):
    """Version notes quote file names and attachment titles: long ones must still save."""
    did = create(api, notice_payload(docorg["units"]))["id"]
    base = f"/api/v1/documents/{did}"
    resp = upload(
        api, "zhangsan", f"{base}/attachments", "附" * 150 + ".txt", "内容".encode(), title="题" * 200
    )
    assert resp.status_code == 201, resp.get_json()
    resp = upload(api, "zhangsan", f"{base}/attachments", "件" * 300 + ".txt", "内容二".encode())
    assert resp.status_code == 201, resp.get_json()
    body = docx_bytes(["各有关单位：", "现将有关事项通知如下。"])
    resp = upload(api, "zhangsan", f"{base}/body", "正" * 250 + ".docx", body)
    assert resp.status_code == 200, resp.get_json()
    data = doc(api, did)
    assert data["version"] == 4 and all(len(v["note"]) <= 200 for v in data["versions"])
    assert data["attachments"][0]["title"] == "题" * 200
    resp = api.client.delete(
        f"{base}/attachments/{data['attachments'][0]['id']}", headers=api.auth("zhangsan")
    )
    assert resp.status_code == 204
