"""JSON API of document circulation: /api/v1/documents, /api/v1/incoming, /api/v1/flows."""

from __future__ import annotations

import io

from flask import g, request, send_file
from marshmallow import ValidationError

from documents import schemas, services
from documents.models import Document
from documents.schemas import (
    ActionIn,
    DiffQuery,
    DocumentIn,
    DocumentPatch,
    DocumentQuery,
    FlowIn,
    IncomingQuery,
)
from office.api import make_api_blueprint, page_body
from office.auth.guard import api_login_required
from office.context import current_actor
from office.errors import ServiceError
from office.extensions import db
from office.fields import bounded_int, bounded_ints
from office.web.forms import zh
from office.workflow import services as flow

bp = make_api_blueprint("documents_api", __name__, tag="公文")

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
OUTGOING_ACTIONS = services.OUTGOING_ACTIONS
INCOMING_ACTIONS = services.INCOMING_ACTIONS


def _doc(doc_id: int):
    return schemas.document_json(services.get_document(g.user, doc_id), g.user)


@bp.get("/documents")
@api_login_required
@bp.input(DocumentQuery, location="query", arg_name="query")
@bp.doc(summary="发文列表（box=outgoing|mine|drafting|archived|all），仅含本人可阅的公文")
def list_documents(query):
    page = services.list_documents(g.user, **query)
    return page_body([schemas.document_summary(d) for d in page.items], page.total, page.page, page.per_page)


@bp.post("/documents")
@api_login_required
@bp.input(DocumentIn, arg_name="body")
@bp.doc(summary="拟稿：新建公文（缺少必备要素时 422 并列出缺项）", responses=[201, 422])
def create_document(body):
    unit_id = body.get("drafter_unit_id")
    doc = services.create_document(current_actor(), schemas.to_service(body), drafter_unit_id=unit_id)
    # Described from the objects just written, before the commit expires them (the drafter
    # may read their own draft); sent only if the commit succeeds.
    data = schemas.document_json(doc, g.user)
    db.session.commit()
    return data, 201


@bp.post("/documents/import")
@api_login_required
@bp.doc(
    summary="拟稿：上传 .docx（multipart，字段 file），读取标题、主送、正文与表格", responses=[201, 413, 422]
)
def import_document():
    upload = request.files.get("file")
    if upload is None:
        raise ServiceError("file_required", "请选择要上传的 .docx 文件", 422, field="file")
    keys = ("title", "doc_type", "direction", "urgency", "secret_level")
    form = {k: v for k, v in request.form.items() if k in keys}
    try:
        defaults = schemas.to_service(DocumentIn(partial=True).load(form))
    except ValidationError as exc:  # the form is checked here, not by @bp.input: same 422 shape
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        fields = {k: [zh(str(m)) for m in (v if isinstance(v, list) else [v])] for k, v in messages.items()}
        raise ServiceError(
            "validation_error", f"输入不合法：{'、'.join(sorted(fields))}", 422, {"fields": fields}
        ) from None
    defaults.setdefault("title", "")
    for key in ("main_unit_ids", "cc_unit_ids", "signer_ids"):
        values = request.form.getlist(key)
        if values:
            defaults[key] = bounded_ints(values)
    doc = services.import_new(current_actor(), upload.read(), upload.filename or "", defaults)
    db.session.commit()
    return _doc(doc.id), 201


@bp.get("/documents/<int:doc_id>")
@api_login_required
@bp.doc(summary="公文详情：全部要素、流程记录与意见、本人当前可执行的 actions、版本、附件、交换记录")
def get_document(doc_id: int):
    return _doc(doc_id)


@bp.patch("/documents/<int:doc_id>")
@api_login_required
@bp.input(DocumentPatch, arg_name="body")
@bp.doc(summary="修改公文（当前办理人）；每次保存形成新版本", responses=[409, 422])
def update_document(doc_id: int, body):
    note = body.get("version_note", "")
    services.update_document(current_actor(), doc_id, schemas.to_service(body), note=note)
    db.session.commit()
    return _doc(doc_id)


@bp.post("/documents/<int:doc_id>/body")
@api_login_required
@bp.doc(summary="用上传的 .docx 替换正文（形成新版本）", responses=[409, 413, 422])
def import_body(doc_id: int):
    upload = request.files.get("file")
    if upload is None:
        raise ServiceError("file_required", "请选择要上传的 .docx 文件", 422, field="file")
    services.import_body(current_actor(), doc_id, upload.read(), upload.filename or "")
    db.session.commit()
    return _doc(doc_id)


@bp.get("/documents/<int:doc_id>/diff")
@api_login_required
@bp.input(DiffQuery, location="query", arg_name="query")
@bp.doc(summary="比较两个版本（痕迹保留）：?from=1&to=3")
def diff(doc_id: int, query):
    return services.diff_versions(g.user, doc_id, query["from_"], query["to"])


@bp.get("/documents/<int:doc_id>/numbers")
@api_login_required
@bp.doc(summary="文号登记：本公文领取过的文号及作废记录")
def numbers(doc_id: int):
    return {"items": services.number_register(g.user, doc_id)}


@bp.post("/documents/<int:doc_id>/attachments")
@api_login_required
@bp.doc(
    summary="上传附件（multipart，字段 file，可选 title）；按内容识别类型，超限 413",
    responses=[201, 413, 422],
)
def add_attachment(doc_id: int):
    upload = request.files.get("file")
    if upload is None:
        raise ServiceError("file_required", "请选择要上传的附件", 422, field="file")
    title = (request.form.get("title") or "").strip() or None
    att = services.add_attachment(current_actor(), doc_id, upload.stream, upload.filename or "附件", title)
    db.session.commit()
    return {"id": att.id, "title": att.title, "document": _doc(doc_id)}, 201


@bp.get("/documents/<int:doc_id>/attachments/<int:attachment_id>")
@api_login_required
@bp.doc(summary="下载附件")
def get_attachment(doc_id: int, attachment_id: int):
    from office.files import services as files

    att = services.get_attachment(g.user, doc_id, attachment_id)
    return send_file(
        files.path_of(att.file),
        mimetype=att.file.content_type,
        as_attachment=True,
        download_name=att.file.name,
    )


@bp.delete("/documents/<int:doc_id>/attachments/<int:attachment_id>")
@api_login_required
@bp.doc(summary="删除附件（当前办理人，用印前）", responses=[204, 409])
def remove_attachment(doc_id: int, attachment_id: int):
    services.remove_attachment(current_actor(), doc_id, attachment_id)
    db.session.commit()
    return "", 204


@bp.get("/documents/<int:doc_id>/docx")
@api_login_required
@bp.doc(summary="下载 GB/T 9704-2012 格式的 .docx（用印后为定稿文件）")
def docx(doc_id: int):
    data, name = services.docx_of(g.user, doc_id)
    return send_file(io.BytesIO(data), mimetype=DOCX, as_attachment=True, download_name=name)


@bp.get("/documents/<int:doc_id>/p7s")
@api_login_required
@bp.doc(
    summary="下载用印定稿的签名文件（.p7s，detached CMS，可用 openssl cms -verify 验证）", responses=[409]
)
def p7s(doc_id: int):
    data, name = services.signature_of(g.user, doc_id)
    return send_file(
        io.BytesIO(data), mimetype="application/pkcs7-signature", as_attachment=True, download_name=name
    )


@bp.get("/documents/<int:doc_id>/archive")
@api_login_required
@bp.doc(summary="下载归档包（zip：定稿、附件、各版本、流程记录、元数据、SHA-256 清单）", responses=[409])
def archive(doc_id: int):
    data, name = services.archive_file(g.user, doc_id)
    return send_file(io.BytesIO(data), mimetype="application/zip", as_attachment=True, download_name=name)


@bp.post("/documents/<int:doc_id>/<action>")
@api_login_required
@bp.input(ActionIn, arg_name="body")
@bp.doc(
    summary="流程操作：submit（同意/提交，签发环节即签发）、return（退回，须填理由）、recall（撤回）、"
    "transfer（转办）、add_handler（加签）、number（编号）、seal（用印）、distribute（分发）、"
    "archive（归档）、withdraw（撤销草稿）",
    responses=[404, 409, 422],
)
def act(doc_id: int, action: str, body):
    if action not in OUTGOING_ACTIONS:
        raise ServiceError("invalid_action", f"不支持的操作：{action}", 404)
    result = services.act(current_actor(), doc_id, action, body)
    # Built from the objects already loaded, before the commit expires them; sent only if the
    # commit succeeds. The actor just acted on the document, so no read check is needed.
    brief = schemas.document_brief(db.session.get(Document, doc_id), g.user)
    db.session.commit()
    return {"result": result, "document": brief}


# ---------------------------------------------------------------- incoming


@bp.get("/incoming")
@api_login_required
@bp.input(IncomingQuery, location="query", arg_name="query")
@bp.doc(summary="收文列表：本人可阅的收文（本单位收发员、领导与参与办理的人）")
def list_incoming(query):
    page = services.list_incoming(g.user, **query)
    return page_body([schemas.incoming_summary(r) for r in page.items], page.total, page.page, page.per_page)


@bp.get("/incoming/<int:incoming_id>")
@api_login_required
@bp.doc(summary="收文详情：签收、登记、批示、承办、传阅（已阅/未阅）与本人可执行的 actions")
def get_incoming(incoming_id: int):
    return schemas.incoming_json(services.get_incoming(g.user, incoming_id), g.user)


@bp.post("/incoming/<int:incoming_id>/read")
@api_login_required
@bp.doc(summary="传阅：标记已阅")
def read(incoming_id: int):
    services.mark_read(current_actor(), incoming_id)
    db.session.commit()
    return schemas.incoming_json(services.get_incoming(g.user, incoming_id), g.user)


@bp.post("/incoming/<int:incoming_id>/<action>")
@api_login_required
@bp.input(ActionIn, arg_name="body")
@bp.doc(
    summary="收文操作：sign_for（签收）、refuse（退文，须填理由）、register（登记）、submit（拟办/批办/承办/传阅完成；"
    "批办须填批示并指定 lead_handler、co_handlers、deadline）、circulate（传阅，readers）、complete（办结）、"
    "archive（归档）、return、recall、transfer、add_handler",
    responses=[404, 409, 422],
)
def incoming_act(incoming_id: int, action: str, body):
    if action not in INCOMING_ACTIONS:
        raise ServiceError("invalid_action", f"不支持的操作：{action}", 404)
    result = services.incoming_act(current_actor(), incoming_id, action, body)
    db.session.commit()
    return {
        "result": result,
        "incoming": schemas.incoming_json(services.get_incoming(g.user, incoming_id), g.user),
    }


# ---------------------------------------------------------------- flow definitions


def _definition_json(code: str, unit_id: int | None):
    from office.identity import services as identity

    if unit_id is not None and not services.valid_ids([unit_id]):
        raise ServiceError("not_found", "单位不存在或无权访问", 404)
    unit = identity.get_unit(g.user, unit_id) if unit_id else None
    d, steps = flow.definition_for(code, unit)
    return {
        "code": code,
        "name": flow.FLOWS[code].name,
        "unit_id": d.unit_id if d else None,
        "own": bool(d and unit and d.unit_id == unit.id),
        "version": d.version if d else 0,
        "steps": steps,
        "required_steps": list(flow.FLOWS[code].required_steps),
    }


@bp.get("/flows/<code>")
@api_login_required
@bp.doc(summary="流程定义（?unit_id= 取该单位适用的版本）", responses=[404])
def get_flow(code: str):
    if code not in flow.FLOWS:
        raise ServiceError("unknown_flow", "流程不存在", 404)
    raw = request.args.get("unit_id")
    unit_id = bounded_int(raw)
    if raw and unit_id is None:  # not an id any unit can have
        raise ServiceError("not_found", "单位不存在或无权访问", 404)
    return _definition_json(code, unit_id)


@bp.put("/flows/<code>/units/<int:unit_id>")
@api_login_required
@bp.input(FlowIn, arg_name="body")
@bp.doc(summary="单位管理员保存本单位的流程版本（运行中的流程不受影响）", responses=[403, 404, 422])
def save_flow(code: str, unit_id: int, body):
    services.save_flow(current_actor(), code, unit_id, body["steps"])
    db.session.commit()
    return _definition_json(code, unit_id)


@bp.delete("/flows/<code>/units/<int:unit_id>")
@api_login_required
@bp.doc(summary="恢复为默认流程", responses=[403, 404])
def reset_flow(code: str, unit_id: int):
    services.reset_flow(current_actor(), code, unit_id)
    db.session.commit()
    return _definition_json(code, unit_id)
