"""归档: the archive package holds the final .docx, the attachments, every version, the flow
record with opinions, the metadata, and a SHA-256 manifest that matches every entry; an
archived document is read-only."""

from __future__ import annotations

import hashlib
import io
import json

from tests.documents.conftest import notice_payload
from tests.documents.helpers import act, advance, create, doc, unzip


def test_archive_package_contents_and_hashes(docorg, api):
    did = create(api, notice_payload(docorg["units"]))["id"]
    base = f"/api/v1/documents/{did}"
    resp = api.get("zhangsan", f"{base}/archive")
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "not_archived"
    api.ok(api.patch("zhangsan", base, {"note": "（此件公开发布）", "version_note": "加附注"}))
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    for name, data, title in (("名单.pdf", pdf, "试点单位名单"), ("说明.txt", "填报说明".encode(), None)):
        form = {"file": (io.BytesIO(data), name), **({"title": title} if title else {})}
        resp = api.client.post(
            f"{base}/attachments", data=form, headers=api.auth("zhangsan"), content_type="multipart/form-data"
        )
        assert resp.status_code == 201
    advance(api, did, "archive")
    final_docx = api.get("clerk", f"{base}/docx").data
    act(api, "clerk", did, "archive", {"opinion": "归档，保管期限永久"})
    data = doc(api, did)
    assert data["status"] == "archived" and data["archived_at"] and data["frozen"] is True
    assert data["archive_url"] == f"{base}/archive"

    resp = api.get("zhangsan", f"{base}/archive")
    assert resp.status_code == 200 and resp.mimetype == "application/zip"
    assert (
        data["doc_number"] in resp.headers["Content-Disposition"]
        or "filename*" in resp.headers["Content-Disposition"]
    )
    entries = unzip(resp.data)
    assert set(entries) == {
        "公文.docx",
        "附件/01-试点单位名单.pdf",
        "附件/02-说明.txt",
        "版本/v1.json",
        "版本/v2.json",
        "版本/v3.json",
        "版本/v4.json",
        "流程记录.json",
        "元数据.json",
        "签章/01-省政府办公厅.p7s",
        "签章/01-省政府办公厅.cer.pem",
        "签章/根证书.pem",
        "manifest.json",
        "SHA256SUMS",
    }
    assert entries["公文.docx"] == final_docx and entries["公文.docx"][:2] == b"PK"
    assert entries["附件/01-试点单位名单.pdf"] == pdf
    assert entries["附件/02-说明.txt"] == "填报说明".encode()

    # manifest and SHA256SUMS list every other entry with its real hash
    manifest = json.loads(entries["manifest.json"])
    assert manifest["algorithm"] == "SHA-256"
    others = {n: d for n, d in entries.items() if n not in ("manifest.json", "SHA256SUMS")}
    assert manifest["files"] == {n: hashlib.sha256(d).hexdigest() for n, d in others.items()}
    sums = {}
    for line in entries["SHA256SUMS"].decode().splitlines():
        digest, name = line.split("  ", 1)
        sums[name] = digest
    assert sums == manifest["files"]

    # every version, with its author, step and snapshot
    v2 = json.loads(entries["版本/v2.json"])
    assert (v2["number"], v2["author"], v2["note"]) == (2, "张三", "加附注")
    assert v2["snapshot"]["note"] == "（此件公开发布）"
    assert [v["sha256"] for v in data["versions"]] == [
        json.loads(entries[f"版本/v{n}.json"])["sha256"] for n in (1, 2, 3, 4)
    ]

    # the flow record with every opinion, name and time
    record = json.loads(entries["流程记录.json"])
    assert [(e["action"], e["actor"]["name"]) for e in record if e["action"] != "skip"] == [
        ("start", "张三"),
        ("submit", "张三"),
        ("submit", "周处长"),
        ("submit", "吴收发"),
        ("sign_off", "钱秘书长"),
        ("submit", "吴收发"),
        ("number", "吴收发"),
        ("seal", "孙印管"),
        ("distribute", "吴收发"),
        ("archive", "吴收发"),
    ]
    assert record[-1]["opinion"] == "归档，保管期限永久"
    assert next(e for e in record if e["action"] == "sign_off")["opinion"] == "同意印发"
    assert all(e["created_at"] for e in record)

    meta = json.loads(entries["元数据.json"])
    assert meta["doc_number"] == data["doc_number"] and meta["title"] == data["title"]
    assert meta["issuers"] == ["省政府办公厅"] and meta["drafter"] == "张三" and meta["version"] == 4
    assert meta["written_date"] == data["written_date"] and meta["archived_at"]
    assert [(r["unit"], r["role"]) for r in meta["recipients"]] == [
        ("东山县人民政府", "main"),
        ("西河县人民政府", "main"),
        ("示例市人民政府", "cc"),
    ]
    # the package is stored once: downloading again gives the same bytes
    assert api.get("clerk", f"{base}/archive").data == resp.data


def test_an_archived_document_is_read_only(docorg, api):
    did = create(api, notice_payload(docorg["units"]))["id"]
    advance(api, did, None)
    base = f"/api/v1/documents/{did}"
    data = doc(api, did, "clerk")
    assert data["actions"] == [] and data["flow"]["status"] == "done"
    for who in ("clerk", "zhangsan"):
        resp = api.patch(who, base, {"title": "归档后修改"})
        assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "read_only"
        resp = api.client.post(
            f"{base}/attachments",
            data={"file": (io.BytesIO(b"late"), "late.txt")},
            headers=api.auth(who),
            content_type="multipart/form-data",
        )
        assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "read_only"
    for action, body in (("archive", {}), ("submit", {}), ("return", {"opinion": "重办"}), ("recall", {})):
        resp = api.post("clerk", f"{base}/{action}", body)
        assert resp.status_code == 409, (action, resp.get_json())
        assert resp.get_json()["error"]["code"] in ("flow_finished", "cannot_recall")
    assert doc(api, did)["version"] == 1
