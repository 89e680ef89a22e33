"""The 公文 web pages through the Flask test client: who sees which page, the 拟稿 form, the
action forms moving the flow (发文 and 收文), attachments, versions and the flow editor."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta

import pytest

from documents import services
from tests.conftest import PASSWORD, web_login


class Person:
    """One signed-in browser (its own cookie jar) with its CSRF token."""

    def __init__(self, app, username: str) -> None:
        self.client = app.test_client()
        self.username = username
        self.csrf = web_login(self.client, username)

    def get(self, url: str, **kw):
        return self.client.get(url, **kw)

    def post(self, url: str, data: dict | None = None, **kw):
        return self.client.post(url, data={"csrf_token": self.csrf, **(data or {})}, **kw)


@pytest.fixture
def person(app):
    people: dict[str, Person] = {}

    def get(username: str) -> Person:
        if username not in people:
            people[username] = Person(app, username)
        return people[username]

    return get


def _text(resp) -> str:
    return resp.get_data(as_text=True)


def _flashed(p: Person, resp) -> str:
    """Follow a redirect and return the page (with its flash message)."""
    assert resp.status_code == 302, _text(resp)[:2000]
    return _text(p.get(resp.headers["Location"]))


BODY = """为推进数字政府建设，现就有关事项通知如下。
一、总体要求
（一）坚持统筹推进。
| 单位 | 时限 |
| 东山县 | 12月 |"""


def _form(units, **extra) -> dict:
    data = {
        "title": "关于做好2026年数字政府协同办公推广工作的通知",
        "doc_type": "notice",
        "direction": "down",
        "urgency": "urgent",
        "main_unit_ids": [str(units["county_a"].id)],
        "cc_unit_ids": [str(units["city"].id)],
        "body": BODY,
        "note": "此件公开发布",
    }
    data.update(extra)
    return data


def _create(person, units, who: str = "zhangsan", **extra) -> int:
    resp = person(who).post("/documents/new", _form(units, **extra))
    assert resp.status_code == 302, _text(resp)[:3000]
    match = re.search(r"/documents/(\d+)$", resp.headers["Location"])
    assert match, resp.headers["Location"]
    return int(match.group(1))


def _act(p: Person, doc_id: int, action: str, **data):
    return p.post(f"/documents/{doc_id}/act/{action}", data)


def _to_distributed(person, api, units, **extra) -> int:
    """A notice through the outgoing flow to 分发 (via the web forms)."""
    doc_id = _create(person, units, **extra)
    for who, action, data in [
        ("zhangsan", "submit", {"opinion": "请审核"}),
        ("divhead", "submit", {"opinion": "同意"}),
        ("clerk", "submit", {"opinion": "核稿无误"}),
        ("general", "submit", {"opinion": "同意印发"}),
        ("clerk", "submit", {"opinion": "复核无误"}),
        ("clerk", "number", {}),
        ("sealkeeper", "seal", {"password": PASSWORD}),
        ("clerk", "distribute", {}),
    ]:
        resp = _act(person(who), doc_id, action, **data)
        assert resp.status_code == 302, (who, action, _text(resp)[:3000])
    return doc_id


# ---------------------------------------------------------------- pages


def test_pages_render_for_the_people_involved(docorg, person):
    u = docorg["units"]
    staff = person("zhangsan")
    for url in (
        "/documents/",
        "/documents/?box=mine",
        "/documents/?box=archived",
        "/documents/incoming",
        "/documents/new",
        "/documents/incoming?status=pending",
    ):
        resp = staff.get(url)
        assert resp.status_code == 200, url
        assert "发文箱" in _text(resp) and "收文箱" in _text(resp)  # the sub-navigation
    doc_id = _create(person, u)
    page = _text(staff.get(f"/documents/{doc_id}"))
    assert "红头预览" in page or "redhead" in page
    assert "待我办理：拟稿" in page
    assert "省政府办公厅" in page and "东山县人民政府" in page
    assert f'formaction="/documents/{doc_id}/act/submit"' in page
    assert staff.get(f"/documents/{doc_id}/edit").status_code == 200
    assert staff.get(f"/documents/{doc_id}/diff").status_code == 200

    listing = _text(staff.get("/documents/?box=mine"))
    assert "关于做好2026年数字政府协同办公推广工作的通知" in listing
    assert "拟稿" in listing  # current step shown beside the status
    assert "数字政府" in _text(staff.get("/documents/?q=数字政府"))
    assert "没有找到" in _text(staff.get("/documents/?q=不存在的标题"))

    # The division head reviews next: the document is readable for them, with nothing to do yet.
    divhead = person("divhead")
    page = _text(divhead.get(f"/documents/{doc_id}"))
    assert "待我办理" not in page


def test_foreign_document_is_404_for_an_unrelated_county_clerk(docorg, person, api):
    u = docorg["units"]
    doc_id = _to_distributed(person, api, u)  # to 东山县 (主送) and 示例市 (抄送) only
    incoming = api.ok(api.get("county_a", "/api/v1/incoming"))["items"]
    assert len(incoming) == 1
    stranger = person("county_b")  # 西河县 clerk
    assert stranger.get(f"/documents/{doc_id}").status_code == 404
    assert "对象不存在" in _text(stranger.get(f"/documents/{doc_id}")) or "不存在" in _text(
        stranger.get(f"/documents/{doc_id}")
    )
    assert stranger.get(f"/documents/incoming/{incoming[0]['id']}").status_code == 404
    assert stranger.get(f"/documents/{doc_id}/diff").status_code == 404
    assert stranger.get(f"/documents/{doc_id}/edit").status_code == 404
    assert _act(stranger, doc_id, "submit", opinion="x").status_code == 404
    assert "东山县" not in _text(stranger.get("/documents/incoming"))
    # The addressee's clerk reads both.
    assert person("county_a").get(f"/documents/incoming/{incoming[0]['id']}").status_code == 200
    assert person("county_a").get(f"/documents/{doc_id}").status_code == 200


# ---------------------------------------------------------------- 拟稿


def test_the_draft_form_creates_a_document(docorg, person, app):
    u = docorg["units"]
    staff = person("zhangsan")
    form = _text(staff.get("/documents/new"))
    labels = "文种 行文方向 标题 主送机关 抄送机关 签发人 联合发文单位 密级 保密期限 份号 紧急程度 正文 附注"
    for label in [*labels.split(), "发文机关署名", "印发机关", "机关代字", "上传 .docx 起草"]:
        assert label in form, label
    assert form.count('name="doc_type"') == 2  # the form and the .docx upload
    assert "综合处" not in re.findall(r'name="main_unit_ids" value="\d+"[^>]*>\s*<span>([^<]+)', form)
    doc_id = _create(person, u)
    page = _text(staff.get(f"/documents/{doc_id}"))
    assert "已保存草稿" in page
    with app.app_context():
        from documents.models import Document
        from office.extensions import db

        doc = db.session.get(Document, doc_id)
        assert doc.title == "关于做好2026年数字政府协同办公推广工作的通知"
        assert doc.main_unit_ids == [u["county_a"].id] and doc.cc_unit_ids == [u["city"].id]
        assert doc.urgency == 1 and doc.note == "此件公开发布"
        assert [b["kind"] for b in doc.body] == ["p", "h1", "h2", "table"]
        assert doc.doc_code == "示政办"
        db.session.remove()


def test_upward_document_without_signer_shows_the_error_beside_the_field(docorg, person):
    u = docorg["units"]
    staff = person("zhangsan")
    request_form = _form(u, direction="up", doc_type="request", title="关于申请专项经费的请示")
    resp = staff.post("/documents/new", request_form)
    assert resp.status_code == 422
    page = _text(resp)
    signer_block = page[page.index('id="f-signers"') :]
    signer_block = signer_block[: signer_block.index("</fieldset>") + 200]
    assert "请填写签发人（上行文必填）" in signer_block
    assert "缺少必备要素：签发人（上行文必填）" in page
    # What was typed is kept.
    assert 'value="关于申请专项经费的请示"' in page
    assert "一、总体要求" in page
    # With a signer it saves.
    leader_id = docorg["people"]["leader"].id
    ok = staff.post("/documents/new", {**request_form, "signer_ids": [str(leader_id)]})
    assert ok.status_code == 302


def test_missing_title_and_recipients_are_shown_per_field(docorg, person):
    staff = person("zhangsan")
    resp = staff.post("/documents/new", {"doc_type": "notice", "direction": "down", "body": "正文"})
    assert resp.status_code == 422
    page = _text(resp)
    assert "必填" in page  # title (schema)
    resp = staff.post("/documents/new", {"title": "关于某事的通知", "doc_type": "notice", "body": "正文"})
    assert resp.status_code == 422
    page = _text(resp)
    main = page[page.index('id="f-main"') :]
    assert "请填写主送机关" in main[: main.index("</fieldset>") + 200]


def test_import_from_docx_creates_a_draft_and_rejects_other_files(docorg, person):
    from documents.content import DocumentContent, parse_body
    from documents.render import render_docx

    u = docorg["units"]
    data = render_docx(
        DocumentContent(
            title="关于开展安全生产大检查的通知",
            issuers=["省政府办公厅"],
            body=parse_body("各地要认真开展检查。\n一、检查范围\n全省各类企业。"),
            main_recipients="各市、县人民政府",
        )
    )
    staff = person("zhangsan")
    resp = staff.post(
        "/documents/import",
        {"file": (io.BytesIO(data), "检查通知.docx"), "doc_type": "notice", "direction": "down"},
        content_type="multipart/form-data",
    )
    page = _flashed(staff, resp)
    assert "检查通知.docx" in page
    assert "关于开展安全生产大检查的通知" in page
    bad = staff.post(
        "/documents/import",
        {"file": (io.BytesIO(b"not a docx"), "x.txt")},
        content_type="multipart/form-data",
    )
    assert bad.status_code == 422
    assert "请上传 .docx 文档" in _text(bad)
    assert u  # fixture used


# ---------------------------------------------------------------- actions


def test_action_forms_move_the_outgoing_flow(docorg, person):
    u = docorg["units"]
    doc_id = _create(person, u)
    staff, divhead = person("zhangsan"), person("divhead")

    page = _flashed(staff, _act(staff, doc_id, "submit", opinion="请审核"))
    assert "已提交。下一环节：部门审核（周处长）" in page
    assert "待我办理" not in page
    assert "请审核" in page  # the opinion in the record
    assert "撤回" in page  # the drafter may recall while nobody has acted

    todos = _text(divhead.get("/todos"))
    assert "部门审核：关于做好2026年数字政府协同办公推广工作的通知" in todos
    page = _text(divhead.get(f"/documents/{doc_id}"))
    assert "待我办理：部门审核" in page
    assert "退回至" in page and '<option value="draft"' in page
    assert f'href="/documents/{doc_id}/edit"' in page

    # 退回 needs a reason: 422 beside the opinion, nothing moves.
    resp = _act(divhead, doc_id, "return", opinion="", to_step="draft")
    assert resp.status_code == 422
    assert "退回必须填写理由" in _text(resp)
    page = _flashed(divhead, _act(divhead, doc_id, "return", opinion="请补充时限要求", to_step="draft"))
    assert "已退回。下一环节：拟稿（张三）" in page
    assert "退回至「拟稿」" in page

    # The drafter edits (a version with a note), then submits again; the reviewer agrees.
    form = _form(u, body=_form(u)["body"] + "\n二、时间安排\n2026年12月底前完成。", version_note="补充时限")
    resp = staff.post(f"/documents/{doc_id}/edit", form)
    assert "已保存为第 2 版" in _flashed(staff, resp)
    diff = _text(staff.get(f"/documents/{doc_id}/diff?from=1&to=2"))
    assert "<ins>二、时间安排</ins>" in diff
    assert "补充时限" in diff
    _flashed(staff, _act(staff, doc_id, "submit", opinion="已补充"))
    assert "部门审核：" not in _text(staff.get("/todos"))
    page = _flashed(divhead, _act(divhead, doc_id, "submit", opinion="同意"))
    assert "已同意。下一环节：办公室核稿" in page
    assert "部门审核：关于做好" not in _text(divhead.get("/todos"))  # gone from the list

    # The clerk picks the signer for 会签? No: 会签 is skipped when nobody is chosen.
    clerk = person("clerk")
    page = _text(clerk.get(f"/documents/{doc_id}"))
    assert "下一环节：会签" in page and "跳过" in page
    page = _flashed(clerk, _act(clerk, doc_id, "submit", opinion="核稿无误"))
    assert "下一环节：签发（钱秘书长）" in page
    general = person("general")
    page = _text(general.get(f"/documents/{doc_id}"))
    assert "签发意见" in page and ">签发</button>" in page
    page = _flashed(general, _act(general, doc_id, "submit", opinion="同意印发"))
    assert "已签发" in page
    _flashed(clerk, _act(clerk, doc_id, "submit", opinion="复核无误"))
    page = _flashed(clerk, _act(clerk, doc_id, "number"))
    assert re.search(r"已编号，文号 示政办〔\d{4}〕1号", page)
    # Wrong person / wrong step: 409 with the message, never a 500.
    resp = _act(clerk, doc_id, "seal")
    assert resp.status_code == 409
    assert "不是本公文发文单位印章的印章管理员" in _text(resp)
    _flashed(person("sealkeeper"), _act(person("sealkeeper"), doc_id, "seal", password=PASSWORD))
    page = _flashed(clerk, _act(clerk, doc_id, "distribute"))
    assert "已分发至 2 个单位" in page
    assert "待签收" in page  # the exchange record
    page = _flashed(clerk, _act(clerk, doc_id, "archive"))
    assert "已归档" in page and "下载归档包" in page


def test_transfer_add_handler_recall_and_withdraw(docorg, person):
    u = docorg["units"]
    p = docorg["people"]
    doc_id = _create(person, u)
    staff = person("zhangsan")
    _flashed(staff, _act(staff, doc_id, "submit", opinion="请审核"))
    page = _flashed(staff, _act(staff, doc_id, "recall", form="recall"))
    assert "已撤回" in page and "待我办理：拟稿" in page
    _flashed(staff, _act(staff, doc_id, "submit", opinion="请审核"))
    divhead = person("divhead")
    resp = _act(divhead, doc_id, "transfer", form="transfer")
    assert resp.status_code == 422 and "请选择转办人员" in _text(resp)
    resp = _act(divhead, doc_id, "add_handler", form="add_handler", user_ids=[str(p["clerk2"].id)])
    page = _flashed(divhead, resp)
    assert "已加签" in page
    assert "加签：郑机要" in page
    page = _flashed(divhead, _act(divhead, doc_id, "transfer", form="transfer", to_user=str(p["clerk"].id)))
    assert "已转办" in page and "转办给 吴收发" in page

    other = _create(person, u, title="关于临时调整办公时间的通知")
    page = _flashed(staff, _act(staff, other, "withdraw", form="withdraw"))
    assert "已撤销" in page
    assert "待我办理" not in page


def test_attachments_upload_and_delete(docorg, person):
    u = docorg["units"]
    doc_id = _create(person, u)
    staff = person("zhangsan")
    resp = staff.post(
        f"/documents/{doc_id}/attachments",
        {"file": (io.BytesIO(b"%PDF-1.4\n%test\n"), "实施方案.pdf"), "title": "实施方案"},
        content_type="multipart/form-data",
    )
    page = _flashed(staff, resp)
    assert "已添加附件：实施方案" in page
    att = re.search(rf"/api/v1/documents/{doc_id}/attachments/(\d+)", page)
    assert att
    download = staff.get(att.group(0))
    assert download.status_code == 200 and download.get_data().startswith(b"%PDF")
    download.close()
    resp = staff.post(f"/documents/{doc_id}/attachments", {}, content_type="multipart/form-data")
    assert resp.status_code == 422 and "请选择要上传的附件" in _text(resp)
    page = _flashed(staff, staff.post(f"/documents/{doc_id}/attachments/{att.group(1)}/delete"))
    assert "已删除附件" in page
    assert "无附件" in page


# ---------------------------------------------------------------- 收文


def test_incoming_flow_through_the_pages(docorg, person, api):
    u, p = docorg["units"], docorg["people"]
    doc_id = _to_distributed(person, api, u)
    clerk = person("county_a")
    listing = _text(clerk.get("/documents/incoming?status=pending"))
    assert "关于做好2026年数字政府协同办公推广工作的通知" in listing
    rec_id = int(re.search(r'href="/documents/incoming/(\d+)"', listing).group(1))
    assert "签收：关于做好" in _text(clerk.get("/todos"))

    page = _text(clerk.get(f"/documents/incoming/{rec_id}"))
    assert "待我办理：签收" in page and ">签收</button>" in page and ">退文</button>" in page
    resp = clerk.post(f"/documents/incoming/{rec_id}/act/refuse", {"opinion": ""})
    assert resp.status_code == 422 and "退文必须填写理由" in _text(resp)
    page = _flashed(clerk, clerk.post(f"/documents/incoming/{rec_id}/act/sign_for"))
    assert "已签收。下一环节：登记" in page
    assert "签收：关于做好" not in _text(clerk.get("/todos"))
    page = _flashed(clerk, clerk.post(f"/documents/incoming/{rec_id}/act/register"))
    assert re.search(r"已登记，收文编号 收〔\d{4}〕1号", page)
    page = _text(clerk.get(f"/documents/incoming/{rec_id}"))
    assert "拟办意见" in page and "下一环节：批办" in page
    page = _flashed(
        clerk,
        clerk.post(
            f"/documents/incoming/{rec_id}/act/submit",
            {"opinion": "拟请冯县长阅示", "choose": [str(p["county_leader"].id)]},
        ),
    )
    assert "已提交拟办意见。下一环节：批办（冯县长）" in page

    leader = person("county_leader")
    page = _text(leader.get(f"/documents/incoming/{rec_id}"))
    assert "待我办理：批办" in page and "主办人" in page and "协办人" in page and "办理期限" in page
    resp = leader.post(f"/documents/incoming/{rec_id}/act/submit", {"opinion": "请蒋科员牵头办理"})
    assert resp.status_code == 422 and "请指定主办人" in _text(resp)
    deadline = (date.today() + timedelta(days=10)).isoformat()
    page = _flashed(
        leader,
        leader.post(
            f"/documents/incoming/{rec_id}/act/submit",
            {
                "opinion": "请蒋科员牵头办理，按期报告。",
                "lead_handler": str(p["county_staff"].id),
                "co_handlers": [str(p["county_staff2"].id)],
                "deadline": deadline,
            },
        ),
    )
    assert "已批办。下一环节：承办（蒋科员、沈科员）" in page
    assert "请蒋科员牵头办理，按期报告。" in page

    handler, co = person("county_staff"), person("county_staff2")
    assert "承办：关于做好" in _text(handler.get("/todos"))
    _flashed(co, co.post(f"/documents/incoming/{rec_id}/act/submit", {"opinion": "已配合"}))
    resp = handler.post(f"/documents/incoming/{rec_id}/act/submit", {"opinion": "已部署落实"})
    page = _flashed(handler, resp)
    assert "已办理完毕。下一环节：传阅" in page

    resp = clerk.post(
        f"/documents/incoming/{rec_id}/act/circulate", {"readers": [str(p["county_staff2"].id)]}
    )
    page = _flashed(clerk, resp)
    assert "已送 沈科员 传阅" in page
    page = _text(co.get(f"/documents/incoming/{rec_id}"))
    assert ">已阅</button>" in page and "未阅" in page
    page = _flashed(co, co.post(f"/documents/incoming/{rec_id}/act/read"))
    assert "已阅" in page and ">已阅</button>" not in page
    page = _flashed(clerk, clerk.post(f"/documents/incoming/{rec_id}/act/submit"))
    assert "传阅完毕。下一环节：办结（蒋科员）" in page
    page = _flashed(handler, handler.post(f"/documents/incoming/{rec_id}/act/complete", {"opinion": "办结"}))
    assert "已办结" in page
    page = _flashed(clerk, clerk.post(f"/documents/incoming/{rec_id}/act/archive"))
    assert "已归档" in page and "流程已结束" in page

    # The sender sees the exchange record.
    page = _text(person("clerk").get(f"/documents/{doc_id}"))
    assert "陈东" in page  # 签收人


# ---------------------------------------------------------------- flow editor


def test_flow_editor_saves_validates_and_resets(docorg, person, app):
    from office.workflow import services as flow

    u = docorg["units"]
    staff = person("zhangsan")
    assert staff.get("/documents/flows/outgoing").status_code == 404
    admin = person("unitadmin")
    page = _text(admin.get("/documents/flows/outgoing"))
    assert "使用系统默认流程" in page and "办公室核稿" in page
    assert person("unitadmin").get("/documents/flows/nope").status_code == 404

    steps = flow.FLOWS["outgoing"].default_steps
    data = {
        "unit_id": str(u["office"].id),
        "key": [s["key"] for s in steps],
        "name": [("核稿" if s["key"] == "office_review" else s["name"]) for s in steps],
        "mode": [s.get("mode", "single") for s in steps],
        "choose": [s.get("choose", "none") for s in steps],
        "enabled": [s["key"] for s in steps if s["key"] != "countersign"],
        "optional": ["dept_review"],
    }
    page = _flashed(admin, admin.post("/documents/flows/outgoing", data))
    assert "已保存省政府办公厅的发文流程（第 1 版）" in page
    assert "本单位自定义流程" in page and 'value="核稿"' in page
    with app.app_context():
        _, saved = flow.definition_for("outgoing", services.units_by_id([u["office"].id])[u["office"].id])
        assert [s["key"] for s in saved] == [s["key"] for s in steps if s["key"] != "countersign"]
        assert next(s for s in saved if s["key"] == "office_review")["name"] == "核稿"
        from office.extensions import db

        db.session.remove()

    # New drafts use it: 核稿 in the progress, no 会签.
    doc_id = _create(person, u)
    page = _text(staff.get(f"/documents/{doc_id}"))
    assert 'data-step="office_review"' in page and ">核稿<" in page and 'data-step="countersign"' not in page

    bad = dict(data, name=["" if s["key"] == "sign_off" else s["name"] for s in steps])
    resp = admin.post("/documents/flows/outgoing", bad)
    assert resp.status_code == 422
    assert "步骤 sign_off 缺少名称" in _text(resp)

    page = _flashed(admin, admin.post("/documents/flows/outgoing/reset", {"unit_id": str(u["office"].id)}))
    assert "已恢复为默认流程" in page and "使用系统默认流程" in page
