"""HTML pages of document circulation (公文流转).

发文箱 and 收文箱, the 拟稿 form (and 拟稿 from an uploaded .docx), the document page (red-header
preview, flow progress, every opinion, the actions this person may take now, attachments,
versions and the exchange record), the version comparison, the incoming record's page, and
the flow editor for unit admins.

Views stay thin: read the form, call one service, commit, redirect with a flash message
(POST/redirect/GET). A :class:`ServiceError` re-renders the page with the message beside the
field and a 4xx status; objects the person may not read answer 404. The pages use the same
JSON shapes as the API (``documents.schemas.document_json`` / ``incoming_json``).
"""

from __future__ import annotations

import difflib
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from markupsafe import Markup, escape

from documents import schemas, sealing, services
from documents.models import (
    DIRECTION_LABELS,
    DOC_TYPE_LABELS,
    INCOMING_LABELS,
    SECRET_LABELS,
    DocType,
    IncomingStatus,
)
from documents.schemas import URGENCY_LABEL, ActionIn, DocumentIn
from office.auth.guard import login_required
from office.context import current_actor
from office.errors import ServiceError
from office.extensions import db
from office.fields import bounded_int, bounded_ints
from office.identity import access
from office.identity import services as identity
from office.identity.models import Role, Unit, UnitKind, User
from office.web.forms import parse_form, service_errors
from office.workflow import services as flow
from office.workflow.models import StepMode

bp = Blueprint("documents", __name__, url_prefix="/documents", template_folder="templates")

BEIJING = ZoneInfo("Asia/Shanghai")
PER_PAGE = 20

#: 发文箱 tabs: label per ``services.list_documents`` box.
BOXES = {"outgoing": "全部", "mine": "我起草的", "drafting": "办理中", "archived": "已归档"}
URGENCIES = [("normal", "平件"), ("urgent", "加急"), ("very_urgent", "特急")]
SECRET_CHOICES = [("none", "非密"), *((s.value, label) for s, label in SECRET_LABELS.items() if label)]

#: Labels of the flow log's actions (the engine's generic ones plus the documents' own).
ACTION_LABELS = {
    **flow.ACTION_LABELS,
    "sign_off": "签发",
    "number": "编号",
    "seal": "用印",
    "seal_agree": "同意用印",
    "distribute": "分发",
    "archive": "归档",
    "withdraw": "撤销",
    "sign_for": "签收",
    "refuse": "退文",
    "register": "登记",
    "propose": "拟办",
    "instruct": "批办",
    "handle": "承办",
    "circulate": "传阅",
    "circulate_done": "传阅完毕",
    "complete": "办结",
}
STEP_MODES = {
    StepMode.SINGLE.value: "单人办理",
    StepMode.ANY.value: "任一人办理",
    StepMode.ALL.value: "会签（全部办理）",
    StepMode.SEQUENCE.value: "依次办理",
}
CHOOSE_LABELS = {"none": "按规则确定", "optional": "可由上一环节选人", "required": "须由上一环节选人"}
FLOW_NAMES = {"outgoing": "发文流程", "incoming": "收文流程"}
#: Field names of a version snapshot, for the comparison page.
FIELD_LABELS = {
    "title": "标题",
    "doc_type": "文种",
    "direction": "行文方向",
    "main_unit_ids": "主送机关",
    "cc_unit_ids": "抄送机关",
    "main_text": "主送机关（印制）",
    "cc_text": "抄送机关（印制）",
    "signer_ids": "签发人",
    "joint_unit_ids": "联合发文单位",
    "secret_level": "密级",
    "secret_period": "保密期限",
    "urgency": "紧急程度",
    "copy_no": "份号",
    "note": "附注",
    "signature": "发文机关署名",
    "issuer_mark": "发文机关标志",
    "doc_code": "机关代字",
    "printer": "印发机关",
    "attachments": "附件",
}
OUTGOING_ACTIONS = services.OUTGOING_ACTIONS
INCOMING_ACTIONS = (*services.INCOMING_ACTIONS, "read")
LIST_FIELDS = ("main_unit_ids", "cc_unit_ids", "signer_ids", "joint_unit_ids")
#: The editable elements typed as text on the form (the lists are pickers).
TEXT_FIELDS = tuple(k for k in services.EDITABLE if k not in LIST_FIELDS)


# ---------------------------------------------------------------- template helpers


@bp.app_template_filter("doc_time")
def doc_time(value: str | datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """An ISO timestamp (as the JSON shapes carry them) in Beijing time."""
    if not value:
        return ""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    if when.tzinfo is None:
        return when.strftime(fmt)
    return when.astimezone(BEIJING).strftime(fmt)


@bp.app_template_filter("doc_date")
def doc_date(value: str | None) -> str:
    """``2026-11-03`` → ``2026年11月3日``."""
    if not value:
        return ""
    d = datetime.fromisoformat(value).date()
    return f"{d.year}年{d.month}月{d.day}日"


def _ints(name: str) -> list[int]:
    return bounded_ints(request.form.getlist(name))


def _page_no() -> int:
    return bounded_int(request.args.get("page")) or 1


def _status_of(err: ServiceError) -> int:
    """The page's status for a failed form: a wrong second factor (401 from the service) is a
    form error like any other, not a sign-out."""
    return err.status if 400 <= err.status < 500 and err.status != 401 else 422


def _fail(err: ServiceError) -> dict[str, list[str]]:
    """Roll back and turn a service error into form errors (404 stays a 404 page)."""
    db.session.rollback()
    if err.status == 404 and not err.field:
        raise err
    return service_errors(err)


# ---------------------------------------------------------------- pickers


def _option(user: User, unit_ids: set[int] | None = None) -> dict[str, Any]:
    post = next((p for p in user.posts if unit_ids is None or p.unit_id in unit_ids), None) or (
        user.posts[0] if user.posts else None
    )
    return {
        "id": user.id,
        "name": user.name,
        "initials": f"{user.pinyin_initials or ''} {user.pinyin or ''}",
        "title": post.title if post else "",
        "unit": post.unit.name if post else "",
        "unit_id": post.unit_id if post else 0,
        "path": post.unit.path if post else "",
    }


def _grouped(options: list[dict[str, Any]], first_paths: list[str] | None = None) -> list[dict[str, Any]]:
    """Options grouped by unit; units on ``first_paths`` (nearest first) come first."""
    groups: dict[int, dict[str, Any]] = {}
    for o in options:
        groups.setdefault(o["unit_id"], {"unit": o["unit"], "path": o["path"], "people": []})[
            "people"
        ].append(o)
    rank = {p: n for n, p in enumerate(first_paths or [])}
    return sorted(groups.values(), key=lambda gr: (rank.get(gr["path"], len(rank)), gr["path"]))


def _chain_paths(unit: Unit | None) -> list[str]:
    """The unit's path and its ancestors' paths, nearest first."""
    if unit is None:
        return []
    parts = unit.path.strip("/").split("/")
    return ["/" + "/".join(parts[:n]) + "/" for n in range(len(parts), 0, -1)]


def _leaders(near: Unit | None) -> list[dict[str, Any]]:
    """Leaders this person may name (签发人), those of the issuing organ and above first."""
    found = identity.search_users(g.user, role=Role.LEADER.value, per_page=500).items
    options = []
    for u in found:
        post = next((p for p in u.posts if Role.LEADER.value in p.role_codes), None)
        options.append(_option(u, {post.unit_id} if post else None))
    return _grouped(options, _chain_paths(near))


def _unit_people(unit: Unit | None) -> list[dict[str, Any]]:
    """People of a unit's subtree (for 转办, 加签, 承办, 传阅), grouped by unit."""
    if unit is None:
        return []
    found = identity.search_users(g.user, unit_id=unit.id, include_subunits=True, per_page=500).items
    inside = {u.id for u in identity.list_units(g.user) if u.path.startswith(unit.path)}
    return _grouped([_option(u, inside) for u in found], [unit.path])


def _merge_groups(*lists: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[int] = set()
    out: list[dict[str, Any]] = []
    for groups in lists:
        for gr in groups:
            people = [p for p in gr["people"] if p["id"] not in seen]
            seen.update(p["id"] for p in people)
            if people:
                out.append({**gr, "people": people})
    return out


def _recipient_units() -> list[Unit]:
    """Organs that may receive or co-issue (内设处室 have no 收发 and receive nothing)."""
    return [u for u in identity.list_units(g.user) if u.active and u.kind is not UnitKind.DIVISION]


# ---------------------------------------------------------------- lists


@bp.get("/")
@login_required
def index():
    box = request.args.get("box", "outgoing")
    box = box if box in BOXES else "outgoing"
    q = (request.args.get("q") or "").strip()[:100] or None
    result = services.list_documents(g.user, box=box, q=q, page=_page_no(), per_page=PER_PAGE)
    rows = []
    for doc in result.items:
        row = schemas.document_summary(doc)
        inst = services.instance_of(doc)
        step = inst.step(inst.current_step) if inst and inst.current_step else None
        row["step_name"] = step["name"] if step else None
        rows.append(row)
    return render_template("documents/index.html", box=box, boxes=BOXES, q=q or "", result=result, rows=rows)


@bp.get("/incoming")
@login_required
def incoming_index():
    status = request.args.get("status") or None
    if status not in {s.value for s in IncomingStatus}:
        status = None
    q = (request.args.get("q") or "").strip()[:100] or None
    result = services.list_incoming(g.user, status=status, q=q, page=_page_no(), per_page=PER_PAGE)
    return render_template(
        "documents/incoming_index.html",
        status=status,
        statuses={s.value: label for s, label in INCOMING_LABELS.items()},
        q=q or "",
        result=result,
        rows=[schemas.incoming_summary(r) for r in result.items],
    )


# ---------------------------------------------------------------- drafting


def _posted_document() -> dict[str, Any]:
    """The 拟稿 form as posted (kept for re-display)."""
    form: dict[str, Any] = {k: request.form.get(k, "") for k in TEXT_FIELDS}
    for key in LIST_FIELDS:
        form[key] = _ints(key)
    form["drafter_unit_id"] = request.form.get("drafter_unit_id", "")
    form["version_note"] = request.form.get("version_note", "").strip()
    return form


def _document_input(form: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    raw: dict[str, Any] = {k: form[k] for k in TEXT_FIELDS if str(form.get(k, "")).strip() != ""}
    raw.update({k: form[k] for k in LIST_FIELDS})
    if bounded_int(form.get("drafter_unit_id")):
        raw["drafter_unit_id"] = bounded_int(form["drafter_unit_id"])
    data, errors = parse_form(DocumentIn(), raw)
    return data, errors


def _form_context(form: dict[str, Any], near: Unit | None) -> dict[str, Any]:
    units = _recipient_units()
    base_depth = min((u.depth for u in units), default=0)
    return {
        "form": form,
        "doc_types": [(t.value, DOC_TYPE_LABELS[t]) for t in DocType],
        "directions": [(d.value, label) for d, label in DIRECTION_LABELS.items()],
        "urgencies": URGENCIES,
        "secret_levels": SECRET_CHOICES,
        "units": [{"id": u.id, "name": u.name, "indent": u.depth - base_depth} for u in units],
        "leaders": _leaders(near),
        "posts": g.user.posts,
    }


def _blank_form() -> dict[str, Any]:
    form: dict[str, Any] = {k: "" for k in TEXT_FIELDS}
    form.update({k: [] for k in LIST_FIELDS})
    form.update(doc_type="notice", direction="down", urgency="normal", secret_level="none")
    form["drafter_unit_id"] = ""
    form["version_note"] = ""
    return form


def _issuer_guess() -> Unit | None:
    """The organ the person drafts for (to put its leaders first in the 签发人 list)."""
    post = next((p for p in g.user.posts if p.is_primary), g.user.posts[0] if g.user.posts else None)
    if post is None:
        return None
    unit = post.unit
    if unit.kind is UnitKind.DIVISION and unit.parent is not None:
        return unit.parent
    return unit


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    errors: dict[str, list[str]] = {}
    form = _blank_form()
    if request.method == "POST":
        form = _posted_document()
        data, errors = _document_input(form)
        if not errors:
            try:
                doc = services.create_document(
                    current_actor(), schemas.to_service(data), drafter_unit_id=data.get("drafter_unit_id")
                )
                db.session.commit()
                flash(f"已保存草稿：{doc.title}。请核对红头预览后提交。", "success")
                return redirect(url_for("documents.detail", doc_id=doc.id))
            except ServiceError as err:
                errors = _fail(err)
                errors.setdefault("_", [err.message])
    return render_template(
        "documents/new.html",
        errors=errors,
        import_errors={},
        mode="new",
        **_form_context(form, _issuer_guess()),
    ), (422 if errors else 200)


@bp.post("/import")
@login_required
def import_new():
    upload = request.files.get("file")
    form = _blank_form()
    defaults: dict[str, Any] = {"title": request.form.get("title", "").strip()}
    for key in ("doc_type", "direction", "urgency"):
        value = request.form.get(key, "")
        if value:
            defaults[key] = value
            form[key] = value
    signers = _ints("signer_ids")
    if signers:
        defaults["signer_ids"] = signers
    errors: dict[str, list[str]] = {}
    data, errors = parse_form(DocumentIn(partial=True), {k: v for k, v in defaults.items() if v != ""})
    if upload is None or not upload.filename:
        errors = {"file": ["请选择要上传的 .docx 文件"]}
    if not errors:
        try:
            payload = schemas.to_service(data)
            payload.setdefault("title", "")
            doc = services.import_new(current_actor(), upload.read(), upload.filename or "", payload)
            db.session.commit()
            flash(f"已从 {upload.filename} 生成草稿：{doc.title}。请核对各要素。", "success")
            return redirect(url_for("documents.detail", doc_id=doc.id))
        except ServiceError as err:
            errors = _fail(err)
            if not any(err.message in msgs for msgs in errors.values()):
                errors.setdefault("_", []).append(err.message)
    return render_template(
        "documents/new.html",
        errors={},
        import_errors=errors,
        import_form={**defaults, "signer_ids": signers},
        mode="new",
        **_form_context(_blank_form(), _issuer_guess()),
    ), 422


def _edit_form(d: dict[str, Any]) -> dict[str, Any]:
    """The edit form prefilled from the document. 主送/抄送 as printed stay blank while they
    are just the chosen units' names (so changing the units changes them too)."""
    form = _blank_form()
    for key in TEXT_FIELDS:
        value = d.get(key)
        form[key] = "" if value is None else str(value)
    form["urgency"] = d["urgency"]
    form["main_unit_ids"] = [u["id"] for u in d["main_units"]]
    form["cc_unit_ids"] = [u["id"] for u in d["cc_units"]]
    form["joint_unit_ids"] = [u["id"] for u in d["joint_units"]]
    form["signer_ids"] = [p["id"] for p in d["signers"]]
    if d["main_text"] == "、".join(u["name"] for u in d["main_units"]):
        form["main_text"] = ""
    if d["cc_text"] == "、".join(u["name"] for u in d["cc_units"]):
        form["cc_text"] = ""
    return form


@bp.route("/<int:doc_id>/edit", methods=["GET", "POST"])
@login_required
def edit(doc_id: int):
    doc = services.get_document(g.user, doc_id)
    d = schemas.document_json(doc, g.user)
    if "edit" not in d["actions"]:
        flash("当前不是您办理，或公文已用印、归档，不能修改。", "error")
        return redirect(url_for("documents.detail", doc_id=doc_id))
    errors: dict[str, list[str]] = {}
    form = _edit_form(d)
    if request.method == "POST":
        form = _posted_document()
        data, errors = _document_input(form)
        if not errors:
            changes = schemas.to_service(data)
            if not changes.get("doc_code"):
                changes.pop("doc_code", None)
            try:
                before = doc.version
                services.update_document(current_actor(), doc_id, changes, note=form["version_note"])
                db.session.commit()
                doc = services.get_document(g.user, doc_id)
                if doc.version == before:
                    flash("内容没有变化，未形成新版本。", "info")
                else:
                    flash(f"已保存为第 {doc.version} 版。", "success")
                return redirect(url_for("documents.detail", doc_id=doc_id))
            except ServiceError as err:
                errors = _fail(err)
                errors.setdefault("_", [err.message])
                doc = services.get_document(g.user, doc_id)
    return render_template(
        "documents/new.html",
        errors=errors,
        import_errors={},
        mode="edit",
        doc=d,
        **_form_context(form, doc.issuer_unit),
    ), (422 if errors else 200)


@bp.post("/<int:doc_id>/body")
@login_required
def import_body(doc_id: int):
    upload = request.files.get("file")
    try:
        if upload is None or not upload.filename:
            raise ServiceError("file_required", "请选择要上传的 .docx 文件", 422, field="file")
        services.import_body(current_actor(), doc_id, upload.read(), upload.filename)
        db.session.commit()
        flash(f"已用 {upload.filename} 替换正文，形成新版本。", "success")
    except ServiceError as err:
        _fail(err)
        flash(f"导入正文失败：{err.message}", "error")
        return redirect(url_for("documents.edit", doc_id=doc_id))
    return redirect(url_for("documents.detail", doc_id=doc_id))


# ---------------------------------------------------------------- the document page


def _progress(fl: dict[str, Any], finished: bool) -> list[dict[str, Any]]:
    """Each step with its state: done, current, skipped or to come."""
    current = fl.get("step")
    keys = [s["key"] for s in fl["steps"]]
    idx = keys.index(current) if current in keys else (len(keys) if finished else -1)
    acted = {t["step"] for t in fl["timeline"] if t["action"] not in ("skip", "start")}
    skipped = {t["step"] for t in fl["timeline"] if t["action"] == "skip"}
    out = []
    for n, s in enumerate(fl["steps"]):
        if s["key"] == current:
            state = "current"
        elif idx >= 0 and n < idx:
            state = "skipped" if s["key"] in skipped and s["key"] not in acted else "done"
        elif idx < 0:  # cancelled (撤销、退文): what happened stays visible
            state = "done" if s["key"] in acted else "todo"
        else:
            state = "todo"
        out.append({**s, "state": state, "mode_label": STEP_MODES.get(s.get("mode", ""), "")})
    return out


def _timeline(fl: dict[str, Any]) -> list[dict[str, Any]]:
    """The flow log with labels and the details worth reading (names instead of ids). An
    incoming flow is started by the sender's 分发."""
    steps = {s["key"]: s["name"] for s in fl["steps"]}
    ids: set[int] = set()
    for t in fl["timeline"]:
        det = t.get("details") or {}
        if det.get("to_user"):
            ids.add(int(det["to_user"]))
        ids.update(int(i) for i in det.get("user_ids") or [])
    names = {i: u.name for i, u in services.users_by_id(sorted(ids)).items()}
    out = []
    for t in fl["timeline"]:
        det = t.get("details") or {}
        label = ACTION_LABELS.get(t["action"], t["action_label"])
        if t["action"] == "submit":
            label = "提交" if t["step"] in ("draft", "propose") else "同意"
        if t["action"] == "start" and fl.get("code") == "incoming":
            label = "来文分发"
        notes = []
        if t["action"] == "return" and det.get("to_step"):
            notes.append(f"退回至「{steps.get(det['to_step'], det['to_step'])}」")
        if t["action"] == "recall" and det.get("to_step"):
            notes.append(f"撤回至「{steps.get(det['to_step'], det['to_step'])}」")
        if t["action"] == "transfer" and det.get("to_user"):
            notes.append(f"转办给 {names.get(int(det['to_user']), '')}")
        if t["action"] == "add_handler" and det.get("user_ids"):
            notes.append("加签：" + "、".join(names.get(int(i), "") for i in det["user_ids"]))
        if det.get("doc_number"):
            notes.append(f"文号：{det['doc_number']}")
        if det.get("incoming_no"):
            notes.append(f"收文编号：{det['incoming_no']}")
        if det.get("recipients"):
            notes.append("分发至：" + "、".join(r.get("unit", "") for r in det["recipients"]))
        if det.get("readers"):
            notes.append("传阅：" + "、".join(det["readers"]))
        if det.get("lead"):
            notes.append(f"主办：{det['lead']}")
        if t["action"] == "skip":
            notes.append("无办理人，自动跳过")
        if t["action"] == "seal" and det.get("sha256"):
            notes.append(f"定稿 SHA-256：{det['sha256'][:16]}…")
        out.append(
            {**t, "label": label, "notes": notes, "step_name": t["step_name"] or steps.get(t["step"], "")}
        )
    return out


def _submit_label(step: str | None) -> str:
    return {
        "draft": "提交",
        "sign_off": "签发",
        "propose": "提交拟办意见",
        "instruct": "批办",
        "handle": "办理完毕",
        "circulate": "传阅完毕",
    }.get(step or "", "同意")


def _seal_context(doc, actions: list[str]) -> dict[str, Any]:
    """用印: the keeper's seal waiting for them and their second factor; once sealed, the
    seals applied to the final file (whose signatures can be downloaded and verified)."""
    from seals import services as seals

    mine = seals.my_pending_request(g.user, sealing.SUBJECT, doc.id) if "seal" in actions else None
    seal = mine.seal if mine else None
    uses = [seals.request_json(r) for r in sealing.sealed_uses(doc)]
    return {
        "my_seal": {"id": seal.id, "name": seal.name, "kind": seal.kind_label} if seal else None,
        "second_factor": "otp" if g.user.totp_enabled else "password",
        "seal_uses": uses,
    }


def _detail_context(doc, errors: dict[str, list[str]] | None = None, posted: dict | None = None) -> dict:
    d = schemas.document_json(doc, g.user)
    fl = d["flow"]
    actions = d["actions"]
    need_people = bool({"transfer", "add_handler"} & set(actions)) or (
        "submit" in actions and fl["next"] and fl["next"]["choose"] != "none"
    )
    people = _merge_groups(_unit_people(doc.issuer_unit), _leaders(doc.issuer_unit)) if need_people else []
    return {
        "d": d,
        "content": services.content_of(doc),
        "progress": _progress(fl, fl["status"] == "done"),
        "timeline": _timeline(fl),
        "signed": sealing.opinion_checks(sealing.SUBJECT, doc.id, services.instance_of(doc), doc),
        "actions": actions,
        "people": people,
        "submit_label": _submit_label(fl["step"]),
        "errors": errors or {},
        "posted": posted or {},
        **_seal_context(doc, actions),
    }


@bp.get("/<int:doc_id>")
@login_required
def detail(doc_id: int):
    doc = services.get_document(g.user, doc_id)
    return render_template("documents/detail.html", **_detail_context(doc))


def _action_input() -> tuple[dict[str, Any], dict[str, list[str]], dict[str, Any]]:
    posted = {
        "opinion": request.form.get("opinion", ""),
        "to_step": request.form.get("to_step", ""),
        "choose": _ints("choose"),
        "to_user": request.form.get("to_user", ""),
        "user_ids": _ints("user_ids"),
        "readers": _ints("readers"),
        "lead_handler": request.form.get("lead_handler", ""),
        "co_handlers": _ints("co_handlers"),
        "deadline": request.form.get("deadline", ""),
        "form": request.form.get("form", ""),
    }
    raw: dict[str, Any] = {
        "opinion": posted["opinion"].strip(),
        "choose": posted["choose"],
        "user_ids": posted["user_ids"],
        "readers": posted["readers"],
        "co_handlers": posted["co_handlers"],
    }
    # 用印's second factor: passed on, never echoed back into the re-rendered form.
    for key in ("password", "otp"):
        if request.form.get(key):
            raw[key] = request.form[key] if key == "password" else request.form[key].strip()
    for key in ("to_user", "lead_handler"):
        if bounded_int(posted[key]):
            raw[key] = bounded_int(posted[key])
    for key in ("to_step", "deadline"):
        if posted[key].strip():
            raw[key] = posted[key].strip()
    data, errors = parse_form(ActionIn(), raw)
    if "deadline" in errors:
        errors["deadline"] = ["日期格式不正确"]
    return data, errors, posted


def _after_message(result: dict[str, Any], inst, done_label: str) -> str:
    """ "已签发。下一环节：复核（吴收发）" — what happened and who has it now."""
    msg = done_label
    if result.get("doc_number"):
        msg += f"，文号 {result['doc_number']}"
    if result.get("incoming_no"):
        msg += f"，收文编号 {result['incoming_no']}"
    if result.get("recipients"):
        msg += f"，已分发至 {len(result['recipients'])} 个单位"
    after = result.get("step_after")
    if result.get("finished"):
        msg += "。流程已结束。"
    elif after and inst is not None and after != result.get("step_before"):
        handlers = "、".join(h["name"] for h in flow.current_handlers(inst))
        msg += f"。下一环节：{inst.step(after)['name']}" + (f"（{handlers}）" if handlers else "")
    else:
        msg += "。"
    return msg


OUTGOING_DONE = {
    "submit": "已提交",
    "sign_off": "已签发",
    "return": "已退回",
    "recall": "已撤回",
    "transfer": "已转办",
    "add_handler": "已加签",
    "number": "已编号",
    "seal": "已用印",
    "reject_seal": "已驳回用印",
    "distribute": "已分发",
    "archive": "已归档",
    "withdraw": "已撤销",
}


@bp.post("/<int:doc_id>/act/<action>")
@login_required
def act(doc_id: int, action: str):
    if action not in OUTGOING_ACTIONS:
        abort(404)
    doc = services.get_document(g.user, doc_id)
    data, errors, posted = _action_input()
    if not errors:
        try:
            result = services.act(current_actor(), doc_id, action, data)
            db.session.commit()
            doc = services.get_document(g.user, doc_id)
            label = OUTGOING_DONE.get(result["action"], "已办理")
            if result["action"] == "submit" and result["step_before"] != "draft":
                label = "已同意"
            flash(_after_message(result, services.instance_of(doc), label), "success")
            return redirect(url_for("documents.detail", doc_id=doc_id))
        except ServiceError as err:
            status = _status_of(err)
            errors = _fail(err)
            if "_" not in errors:
                errors["_"] = [err.message]
            doc = services.get_document(g.user, doc_id)
            return render_template("documents/detail.html", **_detail_context(doc, errors, posted)), status
    return render_template("documents/detail.html", **_detail_context(doc, errors, posted)), 422


@bp.post("/<int:doc_id>/attachments")
@login_required
def add_attachment(doc_id: int):
    upload = request.files.get("file")
    try:
        if upload is None or not upload.filename:
            raise ServiceError("file_required", "请选择要上传的附件", 422, field="file")
        title = (request.form.get("title") or "").strip() or None
        att = services.add_attachment(current_actor(), doc_id, upload.stream, upload.filename, title)
        db.session.commit()
        flash(f"已添加附件：{att.title}", "success")
    except ServiceError as err:
        status = _status_of(err)
        errors = _fail(err)
        doc = services.get_document(g.user, doc_id)
        return render_template(
            "documents/detail.html",
            **_detail_context(doc, {"file": [m for msgs in errors.values() for m in msgs]}),
        ), status
    return redirect(url_for("documents.detail", doc_id=doc_id) + "#attachments")


@bp.post("/<int:doc_id>/attachments/<int:attachment_id>/delete")
@login_required
def remove_attachment(doc_id: int, attachment_id: int):
    try:
        services.remove_attachment(current_actor(), doc_id, attachment_id)
        db.session.commit()
        flash("已删除附件", "success")
    except ServiceError as err:
        _fail(err)
        flash(err.message, "error")
    return redirect(url_for("documents.detail", doc_id=doc_id) + "#attachments")


def _inline_diff(old: str, new: str) -> tuple[Markup, Markup]:
    """One changed line, character by character: deletions and insertions marked."""
    a, b = [], []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if tag == "equal":
            a.append(escape(old[i1:i2]))
            b.append(escape(new[j1:j2]))
            continue
        if i2 > i1:
            a.append(Markup("<del>{}</del>").format(old[i1:i2]))
        if j2 > j1:
            b.append(Markup("<ins>{}</ins>").format(new[j1:j2]))
    return Markup("").join(a), Markup("").join(b)


def _body_rows(ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The body diff as rows: kept lines, removed (<del>), added (<ins>), changed in place."""
    rows: list[dict[str, Any]] = []
    for op in ops:
        if op["op"] == "equal":
            lines = op["old"]
            if len(lines) > 6:  # long unchanged runs fold
                rows.extend({"kind": "same", "text": t} for t in lines[:2])
                rows.append({"kind": "fold", "text": f"（{len(lines) - 4} 行未改动）"})
                rows.extend({"kind": "same", "text": t} for t in lines[-2:])
            else:
                rows.extend({"kind": "same", "text": t} for t in lines)
        elif op["op"] == "replace":
            for old, new in zip(op["old"], op["new"], strict=False):
                a, b = _inline_diff(old, new)
                rows.append({"kind": "changed", "old": a, "new": b})
            rows.extend({"kind": "del", "text": t} for t in op["old"][len(op["new"]) :])
            rows.extend({"kind": "ins", "text": t} for t in op["new"][len(op["old"]) :])
        elif op["op"] == "delete":
            rows.extend({"kind": "del", "text": t} for t in op["old"])
        elif op["op"] == "insert":
            rows.extend({"kind": "ins", "text": t} for t in op["new"])
    return rows


def _field_value(key: str, value: Any) -> str:
    if value in (None, "", []):
        return "（空）"
    if key in ("main_unit_ids", "cc_unit_ids", "joint_unit_ids"):
        units = services.units_by_id([int(i) for i in value])
        return "、".join(units[int(i)].name for i in value if int(i) in units)
    if key == "signer_ids":
        people = services.users_by_id([int(i) for i in value])
        return "、".join(people[int(i)].name for i in value if int(i) in people)
    if key == "doc_type":
        return DOC_TYPE_LABELS.get(DocType(value), value) if value in DocType else str(value)
    if key == "direction":
        return {d.value: label for d, label in DIRECTION_LABELS.items()}.get(value, value)
    if key == "secret_level":
        return dict(SECRET_CHOICES).get(value, value)
    if key == "urgency":
        return URGENCY_LABEL.get(int(value), str(value))
    if key == "attachments":
        return "、".join(a.get("title", "") for a in value)
    return str(value)


@bp.get("/<int:doc_id>/diff")
@login_required
def diff(doc_id: int):
    doc = services.get_document(g.user, doc_id)
    numbers = [v.number for v in doc.versions]
    a = bounded_int(request.args.get("from")) or (numbers[-2] if len(numbers) > 1 else 1)
    b = bounded_int(request.args.get("to")) or numbers[-1]
    error = None
    result = None
    try:
        result = services.diff_versions(g.user, doc_id, min(a, b), max(a, b))
    except ServiceError as err:
        if err.status == 404:
            raise
        error = err.message
    fields = [
        {
            "label": FIELD_LABELS.get(f["field"], f["field"]),
            "old": _field_value(f["field"], f["old"]),
            "new": _field_value(f["field"], f["new"]),
        }
        for f in (result or {}).get("fields", [])
    ]
    return render_template(
        "documents/diff.html",
        doc=schemas.document_summary(doc),
        numbers=numbers,
        a=min(a, b),
        b=max(a, b),
        result=result,
        error=error,
        fields=fields,
        rows=_body_rows(result["body"]) if result else [],
    ), (422 if error else 200)


# ---------------------------------------------------------------- incoming


def _incoming_context(rec, errors: dict[str, list[str]] | None = None, posted: dict | None = None) -> dict:
    r = schemas.incoming_json(rec, g.user)
    inst = flow.instance_for("incoming", rec.id)
    fl = r["flow"]
    actions = r["actions"]
    wants_people = {"transfer", "add_handler", "circulate"} & set(actions) or (
        "submit" in actions and fl["step"] in ("instruct", "propose")
    )
    unit_people = _unit_people(rec.unit) if wants_people else []
    people = _merge_groups(unit_people, _leaders(rec.unit)) if wants_people else []
    return {
        "r": r,
        "doc": schemas.document_summary(rec.document),
        "content": services.content_of(rec.document),
        "progress": _progress(fl, fl["status"] == "done"),
        "timeline": _timeline(fl),
        "signed": sealing.opinion_checks("incoming", rec.id, inst, rec.document),
        "actions": actions,
        "people": people,
        "unit_people": unit_people,
        "submit_label": _submit_label(fl["step"]),
        "errors": errors or {},
        "posted": posted or {},
        "today": services.today().isoformat(),
    }


@bp.get("/incoming/<int:incoming_id>")
@login_required
def incoming_detail(incoming_id: int):
    rec = services.get_incoming(g.user, incoming_id)
    return render_template("documents/incoming.html", **_incoming_context(rec))


INCOMING_DONE = {
    "sign_for": "已签收",
    "refuse": "已退文",
    "register": "已登记",
    "propose": "已提交拟办意见",
    "instruct": "已批办",
    "handle": "已办理完毕",
    "circulate": "已送传阅",
    "circulate_done": "传阅完毕",
    "complete": "已办结",
    "archive": "已归档",
    "return": "已退回",
    "recall": "已撤回",
    "transfer": "已转办",
    "add_handler": "已加签",
    "submit": "已提交",
}


@bp.post("/incoming/<int:incoming_id>/act/<action>")
@login_required
def incoming_act(incoming_id: int, action: str):
    if action not in INCOMING_ACTIONS:
        abort(404)
    rec = services.get_incoming(g.user, incoming_id)
    if action == "read":
        if services.mark_read(current_actor(), incoming_id):
            db.session.commit()
            flash("已阅。", "success")
        else:
            flash("没有需要您阅读的传阅件。", "info")
        return redirect(url_for("documents.incoming_detail", incoming_id=incoming_id))
    data, errors, posted = _action_input()
    if not errors:
        try:
            result = services.incoming_act(current_actor(), incoming_id, action, data)
            db.session.commit()
            inst = flow.instance_for("incoming", incoming_id)
            label = INCOMING_DONE.get(result["action"], "已办理")
            if action == "circulate":
                flash(f"已送 {'、'.join(result.get('readers', []))} 传阅。", "success")
            else:
                flash(_after_message(result, inst, label), "success")
            return redirect(url_for("documents.incoming_detail", incoming_id=incoming_id))
        except ServiceError as err:
            status = _status_of(err)
            errors = _fail(err)
            if "_" not in errors:
                errors["_"] = [err.message]
            rec = services.get_incoming(g.user, incoming_id)
            return render_template(
                "documents/incoming.html", **_incoming_context(rec, errors, posted)
            ), status
    return render_template("documents/incoming.html", **_incoming_context(rec, errors, posted)), 422


# ---------------------------------------------------------------- flow editor


def _managed_units() -> list[Unit]:
    """Units whose flows this person may edit: where they are unit admin (system admins:
    every organ they reach)."""
    if not access.managed_paths(g.user):
        return []
    if access.is_admin(g.user):
        return [u for u in identity.list_units(g.user) if u.kind is not UnitKind.DIVISION]
    own = {p.unit_id for p in g.user.posts if Role.UNIT_ADMIN.value in p.role_codes}
    return [u for u in identity.list_units(g.user) if u.id in own]


def _editor_rows(code: str, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The unit's steps in order, with the shipped steps it left out (to switch back on)."""
    defaults = flow.FLOWS[code].default_steps
    required = set(flow.FLOWS[code].required_steps)
    current = {s["key"]: s for s in steps}
    rows: list[dict[str, Any]] = []
    for s in steps:
        rows.append({**s, "enabled": True})
    for n, s in enumerate(defaults):
        if s["key"] in current:
            continue
        before = [d["key"] for d in defaults[:n]]
        at = 0
        for i, row in enumerate(rows):
            if row["key"] in before:
                at = i + 1
        rows.insert(at, {**s, "enabled": False})
    for row in rows:
        row["required"] = row["key"] in required
        row.setdefault("mode", "single")
        row.setdefault("choose", "none")
    return rows


def _posted_steps(code: str, base: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The edited table → steps (handler rules and other settings kept from the base)."""
    by_key = {s["key"]: s for s in base}
    enabled = set(request.form.getlist("enabled"))
    optional = set(request.form.getlist("optional"))
    required = set(flow.FLOWS[code].required_steps)
    steps = []
    for n, key in enumerate(request.form.getlist("key")):
        if key not in by_key or (key not in enabled and key not in required):
            continue
        step = {k: v for k, v in by_key[key].items() if k not in ("enabled", "required")}
        names = request.form.getlist("name")
        modes = request.form.getlist("mode")
        chooses = request.form.getlist("choose")
        step["name"] = names[n].strip() if n < len(names) else step.get("name", "")
        step["mode"] = modes[n] if n < len(modes) else step.get("mode", "single")
        step["choose"] = chooses[n] if n < len(chooses) else step.get("choose", "none")
        if key in optional and key not in required:
            step["optional"] = True
        else:
            step.pop("optional", None)
        steps.append(step)
    return steps


@bp.route("/flows/<code>", methods=["GET", "POST"])
@login_required
def flow_editor(code: str):
    if code not in flow.FLOWS or code not in FLOW_NAMES:
        abort(404)
    units = _managed_units()
    if not units:
        abort(404)
    unit_id = bounded_int(request.values.get("unit_id")) or units[0].id
    unit = next((u for u in units if u.id == unit_id), None)
    if unit is None:
        abort(404)
    definition, steps = flow.definition_for(code, unit)
    rows = _editor_rows(code, steps)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        posted = _posted_steps(code, rows)
        try:
            d = services.save_flow(current_actor(), code, unit.id, posted)
            db.session.commit()
            flash(
                f"已保存{unit.name}的{FLOW_NAMES[code]}（第 {d.version} 版），新发起的公文按此流转。",
                "success",
            )
            return redirect(url_for("documents.flow_editor", code=code, unit_id=unit.id))
        except ServiceError as err:
            status = _status_of(err)
            _fail(err)
            errors = {"_": (err.details or {}).get("errors") or [err.message]}
            rows = _editor_rows(code, posted) if posted else rows
            return _render_editor(code, unit, units, definition, rows, errors), status
    return _render_editor(code, unit, units, definition, rows, errors)


def _render_editor(code, unit, units, definition, rows, errors):
    own = bool(definition and definition.unit_id == unit.id)
    return render_template(
        "documents/flow_editor.html",
        code=code,
        flow_names=FLOW_NAMES,
        unit=unit,
        units=units,
        definition=definition,
        own=own,
        inherited=definition.unit if definition and definition.unit_id and not own else None,
        rows=rows,
        modes=STEP_MODES,
        chooses=CHOOSE_LABELS,
        errors=errors,
    )


@bp.post("/flows/<code>/reset")
@login_required
def flow_reset(code: str):
    if code not in FLOW_NAMES:
        abort(404)
    units = _managed_units()
    unit = next((u for u in units if u.id == bounded_int(request.form.get("unit_id"))), None)
    if unit is None:
        abort(404)
    try:
        done = services.reset_flow(current_actor(), code, unit.id)
        db.session.commit()
        flash("已恢复为默认流程。" if done else "本单位使用的已是默认流程。", "success")
    except ServiceError as err:
        _fail(err)
        flash(err.message, "error")
    return redirect(url_for("documents.flow_editor", code=code, unit_id=unit.id))
