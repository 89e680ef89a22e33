"""HTML pages of the seals package.

印章管理 (the seals a person keeps or manages, creating seals and changing their state, the
用印记录 with filters), the keeper's 用印审批 page (approve with a second factor, or reject
with a reason) and 验证签章 (upload a .docx and its .p7s; open to everyone signed in).

Views stay thin: read the form, call one function of :mod:`seals.services`, commit, redirect
with a flash message. A :class:`ServiceError` is shown as a message on the same page; a wrong
second factor (401 from the service) is such a message too, never a sign-out.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from markupsafe import Markup

from office.auth.guard import login_required
from office.context import current_actor
from office.errors import ServiceError
from office.extensions import db
from office.fields import bounded_int, bounded_ints
from office.identity import access
from office.identity import services as identity
from office.identity.models import Unit
from office.web.forms import parse_form, service_errors
from seals import schemas
from seals import services as seals
from seals.api import MAX_VERIFY_BYTES
from seals.models import KIND_LABELS, REQUEST_LABELS, SealKind
from seals.schemas import ApproveIn, KeepersIn, RejectIn, SealIn, StatusIn

bp = Blueprint("seals", __name__, url_prefix="/seals", template_folder="templates")

BEIJING = ZoneInfo("Asia/Shanghai")
PER_PAGE = 20
STATUS_ACTIONS = {"suspend": "暂停", "resume": "恢复", "revoke": "注销"}
#: Which check failed, as the verification page names it.
FAILED_CHECKS = {
    "no_record": "用印记录（按文件摘要查找）",
    "altered": "文件完整性（摘要与签名比对）",
    "signature": "签名值",
    "chain": "证书链（是否由本平台根证书签发）",
    "expired": "证书有效期",
    "revoked": "证书吊销状态（CRL）",
}


def _ints(name: str) -> list[int]:
    return bounded_ints(request.form.getlist(name))


def _fail(err: ServiceError) -> None:
    """Roll back; objects the person may not see stay a 404 page."""
    db.session.rollback()
    if err.status == 404 and not err.field:
        raise err


# ---------------------------------------------------------------- 印章管理


def _manageable_units() -> list[Unit]:
    """Units this person administers (system admins: every unit), for the new-seal form."""
    if not access.managed_paths(g.user):
        return []
    return [u for u in identity.list_units(g.user) if u.active and access.can_manage_unit(g.user, u)]


def _people_of(unit: Unit) -> list[dict[str, Any]]:
    """People of a unit's subtree grouped by unit (the keeper picker's options)."""
    found = identity.search_users(g.user, unit_id=unit.id, include_subunits=True, per_page=500).items
    groups: dict[int, dict[str, Any]] = {}
    for u in found:
        post = next((p for p in u.posts if p.unit.path.startswith(unit.path)), None) or (
            u.posts[0] if u.posts else None
        )
        key = post.unit_id if post else 0
        groups.setdefault(
            key,
            {"unit": post.unit.name if post else "", "path": post.unit.path if post else "", "people": []},
        )["people"].append(
            {
                "id": u.id,
                "name": u.name,
                "title": post.title if post else "",
                "initials": f"{u.pinyin_initials or ''} {u.pinyin or ''}",
            }
        )
    return sorted(groups.values(), key=lambda gr: gr["path"])


def _day(raw: str | None) -> date | None:
    try:
        return date.fromisoformat((raw or "").strip()) if raw else None
    except ValueError:
        return None


def _log_filters() -> dict[str, Any]:
    """The 用印记录 filters from the query string (dates are Beijing calendar days)."""
    status = request.args.get("status") or None
    if status not in {s.value for s in REQUEST_LABELS}:
        status = None
    since, until = _day(request.args.get("since")), _day(request.args.get("until"))
    return {
        "status": status,
        "seal_id": bounded_int(request.args.get("seal_id")),
        "since": since,
        "until": until,
        "q": (request.args.get("q") or "").strip()[:50] or None,
        "page": bounded_int(request.args.get("page")) or 1,
    }


def _usage_log(f: dict[str, Any]):
    since = datetime.combine(f["since"], time(), BEIJING) if f["since"] else None
    until = datetime.combine(f["until"] + timedelta(days=1), time(), BEIJING) if f["until"] else None
    return seals.list_requests(
        g.user,
        status=f["status"],
        seal_id=f["seal_id"],
        since=since,
        until=until,
        q=f["q"],
        page=f["page"],
        per_page=PER_PAGE,
    )


def _blank_seal_form(unit: Unit | None) -> dict[str, Any]:
    return {
        "unit_id": unit.id if unit else None,
        "kind": SealKind.OFFICIAL.value,
        "name": "",
        "label": "",
        "keeper_ids": seals.default_keepers(unit) if unit else [],
    }


def _render_index(errors: dict[str, list[str]] | None = None, form: dict[str, Any] | None = None, status=200):
    units = _manageable_units()
    wanted = (form or {}).get("unit_id") or bounded_int(request.args.get("unit_id"))
    unit = next((u for u in units if u.id == wanted), units[0] if units else None)
    form = form or _blank_seal_form(unit)
    base_depth = min((u.depth for u in units), default=0)
    rows = []
    people_cache: dict[int, list[dict[str, Any]]] = {}
    for s in seals.list_seals(g.user):
        row = schemas.seal_json(s, manageable=seals.can_manage(g.user, s))
        if row["manageable"] and row["status"] != "revoked":
            if s.unit_id not in people_cache:
                people_cache[s.unit_id] = _people_of(s.unit)
            row["people"] = people_cache[s.unit_id]
        rows.append(row)
    pending = [
        r
        for r in (
            seals.request_json(x, g.user)
            for x in seals.list_requests(g.user, status="pending", per_page=50).items
        )
        if r["may_decide"]
    ]
    f = _log_filters()
    log = _usage_log(f)
    return render_template(
        "seals/index.html",
        seals=rows,
        units=[{"id": u.id, "name": u.name, "indent": u.depth - base_depth} for u in units],
        unit=unit,
        people=_people_of(unit) if unit else [],
        kinds=[(k.value, label) for k, label in KIND_LABELS.items()],
        form=form,
        errors=errors or {},
        pending=pending,
        filters=f,
        statuses={s.value: label for s, label in REQUEST_LABELS.items()},
        log=log,
        log_rows=[seals.request_json(r, g.user) for r in log.items],
        status_actions=STATUS_ACTIONS,
    ), status


@bp.get("/")
@login_required
def index():
    return _render_index()


@bp.post("/new")
@login_required
def create():
    form = {
        "unit_id": bounded_int(request.form.get("unit_id")),
        "kind": request.form.get("kind") or SealKind.OFFICIAL.value,
        "name": request.form.get("name", "").strip(),
        "label": request.form.get("label", "").strip(),
        "keeper_ids": _ints("keeper_ids"),
    }
    raw = {k: v for k, v in form.items() if v not in (None, "")}
    raw["keeper_ids"] = form["keeper_ids"]
    data, errors = parse_form(SealIn(), raw)
    if not errors:
        try:
            seal = seals.create_seal(current_actor(), **data)
            db.session.commit()
            flash(f"已新建印章：{seal.name}（{seal.kind_label}），证书序列号 {seal.cert_serial}。", "success")
            return redirect(url_for("seals.index") + f"#seal-{seal.id}")
        except ServiceError as err:
            _fail(err)
            errors = service_errors(err)
            if "_" not in errors:
                errors["_"] = [err.message]
    return _render_index(errors, form, 422)


@bp.post("/<int:seal_id>/<any(suspend, resume, revoke):action>")
@login_required
def change_status(seal_id: int, action: str):
    data, errors = parse_form(StatusIn(), {"reason": request.form.get("reason", "").strip()})
    try:
        if errors:
            raise ServiceError("validation_error", "原因不超过 200 字", 422, field="reason")
        seal = seals.change_status(current_actor(), seal_id, action, data["reason"])
        db.session.commit()
        flash(f"已{STATUS_ACTIONS[action]}印章：{seal.name}（{seal.kind_label}）。", "success")
    except ServiceError as err:
        _fail(err)
        flash(f"{STATUS_ACTIONS[action]}失败：{err.message}", "error")
    return redirect(url_for("seals.index") + f"#seal-{seal_id}")


@bp.post("/<int:seal_id>/keepers")
@login_required
def set_keepers(seal_id: int):
    data, errors = parse_form(KeepersIn(), {"keeper_ids": _ints("keeper_ids")})
    try:
        if errors:
            raise ServiceError("keepers_required", "请至少指定一名印章管理员", 422, field="keeper_ids")
        seal = seals.set_keepers(current_actor(), seal_id, data["keeper_ids"])
        db.session.commit()
        flash(f"已更新{seal.name}（{seal.kind_label}）的印章管理员。", "success")
    except ServiceError as err:
        _fail(err)
        flash(f"设置印章管理员失败：{err.message}", "error")
    return redirect(url_for("seals.index") + f"#seal-{seal_id}")


# ---------------------------------------------------------------- 用印审批


@bp.get("/requests/<int:request_id>")
@login_required
def request_detail(request_id: int):
    req = seals.get_request(g.user, request_id)
    r = seals.request_json(req, g.user)
    spec = seals.SEALABLES.get(req.subject_type)
    preview = spec.preview(req.subject_id) if spec and spec.preview else None
    return render_template(
        "seals/request.html",
        r=r,
        preview=Markup(preview) if preview else None,
        seal=schemas.seal_json(req.seal),
        second_factor="otp" if g.user.totp_enabled else "password",
    )


def _back_to(request_id: int):
    return redirect(url_for("seals.request_detail", request_id=request_id))


@bp.post("/requests/<int:request_id>/approve")
@login_required
def approve(request_id: int):
    raw = {
        "password": request.form.get("password") or None,
        "otp": (request.form.get("otp") or "").strip() or None,
        "opinion": request.form.get("opinion", "").strip(),
    }
    data, errors = parse_form(ApproveIn(), raw)
    if errors:
        flash("用印意见不超过 500 字。", "error")
        return _back_to(request_id)
    try:
        req = seals.approve(current_actor(), request_id, **data)
        state = req.status.value
        db.session.commit()
    except ServiceError as err:
        _fail(err)
        flash(err.message, "error")
        return _back_to(request_id)
    if state == "approved":
        flash("已批准用印：已生成加盖电子印章的定稿文件并签名，公文进入下一环节。", "success")
    else:
        flash("已同意用印，待联合发文单位的印章管理员用印后生成定稿。", "success")
    return _back_to(request_id)


@bp.post("/requests/<int:request_id>/reject")
@login_required
def reject(request_id: int):
    data, errors = parse_form(RejectIn(), {"reason": request.form.get("reason", "").strip()})
    if errors:
        flash("驳回用印须填写理由（不超过 500 字）。", "error")
        return _back_to(request_id)
    try:
        seals.reject(current_actor(), request_id, data["reason"])
        db.session.commit()
    except ServiceError as err:
        _fail(err)
        flash(err.message, "error")
        return _back_to(request_id)
    flash("已驳回用印，公文已退回上一环节。", "success")
    return _back_to(request_id)


# ---------------------------------------------------------------- 验证签章


def _verify_page(result: dict[str, Any] | None = None, error: str | None = None, names=None, status=200):
    return render_template(
        "seals/verify.html",
        result=result,
        error=error,
        names=names or {},
        failed_checks=FAILED_CHECKS,
        root_url=url_for("seals_pki.root_pem", _external=True),
        crl_url=url_for("seals_pki.crl", _external=True),
    ), status


@bp.route("/verify", methods=["GET", "POST"])
@login_required
def verify():
    if request.method == "GET":
        return _verify_page()
    upload = request.files.get("file")
    sig = request.files.get("signature")
    names = {"file": upload.filename if upload else "", "signature": sig.filename if sig else ""}
    try:
        if upload is None or not upload.filename:
            raise ServiceError("file_required", "请选择要验证的 .docx 文件", 422, field="file")
        data = upload.read(MAX_VERIFY_BYTES + 1)
        if len(data) > MAX_VERIFY_BYTES:
            raise ServiceError("file_too_large", "文件过大", 413, field="file")
        p7s = sig.read(1024 * 1024) if sig is not None and sig.filename else None
        if p7s is not None and not p7s:
            raise ServiceError("not_cms", "签名文件为空", 422, field="signature")
        result = seals.verify(data, p7s)
        db.session.commit()  # the CA and CRL may have been made just now
    except ServiceError as err:
        db.session.rollback()
        return _verify_page(
            error=err.message, names=names, status=err.status if 400 <= err.status < 500 else 422
        )
    return _verify_page(result, names=names)
