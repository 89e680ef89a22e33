"""The outgoing flow end to end over the API (smoke)."""

from tests.conftest import PASSWORD
from tests.documents.conftest import notice_payload


def test_outgoing_to_archive(docorg, api):
    u = docorg["units"]
    doc = api.ok(api.post("zhangsan", "/api/v1/documents", notice_payload(u)), 201)
    did = doc["id"]
    assert doc["flow"]["step"] == "draft"
    assert "submit" in doc["actions"]
    steps = [
        ("zhangsan", "submit", {"opinion": "请审核"}),
        ("divhead", "submit", {"opinion": "同意"}),
        ("clerk", "submit", {"opinion": "核稿无误"}),
        ("general", "submit", {"opinion": "同意印发"}),
        ("clerk", "submit", {"opinion": "复核无误"}),
        ("clerk", "number", {}),
        ("sealkeeper", "seal", {"password": PASSWORD}),
        ("clerk", "distribute", {}),
        ("clerk", "archive", {}),
    ]
    for who, action, body in steps:
        out = api.ok(api.post(who, f"/api/v1/documents/{did}/{action}", body))
        print(who, action, out["result"]["step_after"])
    final = api.ok(api.get("clerk", f"/api/v1/documents/{did}"))
    assert final["status"] == "archived"
    assert final["doc_number"].startswith("示政办〔")
    assert len(final["exchange"]) == 3
