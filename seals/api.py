"""JSON API of seals (/api/v1/seals...) and the public PKI files (/pki/root.pem, /pki/crl.der)."""

from __future__ import annotations

import io

from flask import Blueprint, Response, g, request, send_file

from office.api import make_api_blueprint, page_body
from office.auth.guard import api_login_required
from office.context import current_actor
from office.errors import ServiceError
from office.extensions import db
from seals import pki, schemas
from seals import services as seals
from seals.schemas import ApproveIn, KeepersIn, RejectIn, RequestQuery, SealIn, SealQuery, StatusIn

bp = make_api_blueprint("seals_api", __name__, tag="印章")
#: Published without sign-in: anyone checking a sealed file needs the root and the CRL.
pki_bp = Blueprint("seals_pki", __name__, url_prefix="/pki")

MAX_VERIFY_BYTES = 60 * 1024 * 1024


def _seal_out(seal):
    return schemas.seal_json(seal, manageable=seals.can_manage(g.user, seal))


@bp.get("/seals")
@api_login_required
@bp.input(SealQuery, location="query", arg_name="query")
@bp.doc(summary="印章列表（本人管理的单位的印章、本人保管的印章）")
def list_seals(query):
    return {"items": [_seal_out(s) for s in seals.list_seals(g.user, **query)]}


@bp.post("/seals")
@api_login_required
@bp.input(SealIn, arg_name="body")
@bp.doc(summary="新建印章：生成密钥对、签发证书、生成印模（单位管理员）", responses=[201, 404, 409, 422])
def create_seal(body):
    seal = seals.create_seal(current_actor(), **body)
    db.session.commit()
    return _seal_out(seal), 201


@bp.get("/seals/<int:seal_id>")
@api_login_required
def get_seal(seal_id: int):
    return _seal_out(seals.get_seal(g.user, seal_id))


@bp.post("/seals/<int:seal_id>/<any(suspend, resume, revoke):action>")
@api_login_required
@bp.input(StatusIn, arg_name="body")
@bp.doc(
    summary="暂停（suspend）、恢复（resume）、注销（revoke，证书进入吊销列表）", responses=[403, 409, 422]
)
def change_status(seal_id: int, action: str, body):
    seal = seals.change_status(current_actor(), seal_id, action, body["reason"])
    db.session.commit()
    return _seal_out(seal)


@bp.put("/seals/<int:seal_id>/keepers")
@api_login_required
@bp.input(KeepersIn, arg_name="body")
@bp.doc(summary="设置印章管理员", responses=[403, 422])
def set_keepers(seal_id: int, body):
    seal = seals.set_keepers(current_actor(), seal_id, body["keeper_ids"])
    db.session.commit()
    return _seal_out(seal)


@bp.put("/seals/<int:seal_id>/image")
@api_login_required
@bp.doc(summary="上传印模（透明背景 PNG，multipart 字段 file）", responses=[403, 413, 422])
def put_image(seal_id: int):
    upload = request.files.get("file")
    if upload is None:
        raise ServiceError("file_required", "请选择印模图片（PNG）", 422, field="file")
    seal = seals.replace_image(current_actor(), seal_id, upload.read(3 * 1024 * 1024))
    db.session.commit()
    return _seal_out(seal)


@bp.get("/seals/<int:seal_id>/image.png")
@api_login_required
def seal_image(seal_id: int):
    seal = seals.get_seal(g.user, seal_id)
    return Response(seal.image, mimetype="image/png", headers={"Cache-Control": "private, max-age=300"})


@bp.get("/seals/<int:seal_id>/certificate.pem")
@api_login_required
def seal_certificate(seal_id: int):
    seal = seals.get_seal(g.user, seal_id)
    return Response(seal.cert_pem, mimetype="application/x-pem-file")


@bp.get("/seals/requests")
@api_login_required
@bp.input(RequestQuery, location="query", arg_name="query")
@bp.doc(summary="用印申请与用印记录（status=pending 为待我审批；可按印章、时间、标题筛选）")
def list_requests(query):
    page = seals.list_requests(g.user, **query)
    return page_body(
        [seals.request_json(r, g.user) for r in page.items], page.total, page.page, page.per_page
    )


@bp.get("/seals/requests/<int:request_id>")
@api_login_required
def get_request(request_id: int):
    return seals.request_json(seals.get_request(g.user, request_id), g.user)


@bp.post("/seals/requests/<int:request_id>/approve")
@api_login_required
@bp.input(ApproveIn, arg_name="body")
@bp.doc(
    summary="批准用印：须再次输入密码（已开启两步验证者输入动态验证码）；批准后生成盖章定稿并签名",
    responses=[401, 404, 409, 429],
)
def approve(request_id: int, body):
    req = seals.approve(current_actor(), request_id, **body)
    out = seals.request_json(req, g.user)
    db.session.commit()
    return out


@bp.post("/seals/requests/<int:request_id>/reject")
@api_login_required
@bp.input(RejectIn, arg_name="body")
@bp.doc(summary="驳回用印（须填理由；公文退回上一环节）", responses=[404, 409, 422])
def reject(request_id: int, body):
    req = seals.reject(current_actor(), request_id, body["reason"])
    out = seals.request_json(req, g.user)
    db.session.commit()
    return out


@bp.post("/seals/verify")
@api_login_required
@bp.doc(
    summary="验证签章文件：multipart 字段 file（.docx）与可选的 signature（.p7s）；"
    "不带 .p7s 时按文件哈希查找用印记录",
    responses=[413, 422],
)
def verify():
    upload = request.files.get("file")
    if upload is None:
        raise ServiceError("file_required", "请上传要验证的 .docx 文件", 422, field="file")
    data = upload.read(MAX_VERIFY_BYTES + 1)
    if len(data) > MAX_VERIFY_BYTES:
        raise ServiceError("file_too_large", "文件过大", 413, field="file")
    sig = request.files.get("signature")
    p7s = sig.read(1024 * 1024) if sig is not None and sig.filename else None
    if p7s is not None and not p7s:
        raise ServiceError("not_cms", "签名文件为空", 422, field="signature")
    return seals.verify(data, p7s)


@pki_bp.get("/root.pem")
def root_pem():
    data = seals.root_cert_pem()
    db.session.commit()  # the CA may have been made just now
    return send_file(io.BytesIO(data), mimetype="application/x-pem-file", download_name="root.pem")


@pki_bp.get("/crl.der")
def crl():
    data = pki.crl_to_der(seals.current_crl())
    db.session.commit()
    return Response(data, mimetype="application/pkix-crl", headers={"Cache-Control": "public, max-age=300"})


@pki_bp.get("/crl.pem")
def crl_pem():
    data = pki.crl_to_pem(seals.current_crl())
    db.session.commit()
    return Response(data, mimetype="application/x-pem-file", headers={"Cache-Control": "public, max-age=300"})
