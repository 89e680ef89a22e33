"""Document circulation: drafting, the outgoing flow with numbering, sealing hand-off and
distribution, the incoming flow at each recipient, versions, attachments and archiving.

Each public function takes the acting person, checks what they may do, changes the database
through the workflow engine and the to-do service, and writes one audit event last; the
caller commits. Objects the person may not read are reported as 404.
"""

from __future__ import annotations

import difflib
import hashlib
import io
import json
import zipfile
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

import documents.flows  # noqa: F401  (registers the flows and their handler rules)
from documents import sealing
from documents.access import readable_documents_clause, readable_incoming_clause
from documents.content import Block, DocumentContent, body_text, parse_body
from documents.models import (
    DOC_TYPE_LABELS,
    SECRET_LABELS,
    Direction,
    DocStatus,
    DocType,
    Document,
    DocumentAttachment,
    DocumentVersion,
    IncomingDocument,
    IncomingStatus,
    IssuedNumber,
    NumberCounter,
    NumberStatus,
    SecretLevel,
)
from office.audit.services import record
from office.context import Actor
from office.db import by_ids, dialect_insert, keep, utcnow
from office.errors import NotFound, ServiceError
from office.extensions import db
from office.files import services as files
from office.identity import services as identity
from office.identity.access import can_see_unit, reach_paths, within
from office.identity.models import Unit, UnitKind, User
from office.identity.services import Page, paginate
from office.notifications.services import notify
from office.todos import services as todos
from office.todos.models import TodoCategory, TodoStatus, Urgency
from office.workflow import services as flow
from office.workflow.models import FlowInstance, InstanceStatus
from seals import services as seals

BEIJING = ZoneInfo("Asia/Shanghai")
URGENCY_TEXT = {0: None, 1: "加急", 2: "特急"}
#: Types that need no 主送机关 (published to all).
NO_RECIPIENT_TYPES = {DocType.ANNOUNCEMENT, DocType.PUBLIC_NOTICE, DocType.COMMUNIQUE, DocType.MINUTES}
#: The elements a version snapshots (and an edit may change).
EDITABLE = (
    "title",
    "doc_type",
    "direction",
    "body",
    "main_unit_ids",
    "cc_unit_ids",
    "main_text",
    "cc_text",
    "signer_ids",
    "joint_unit_ids",
    "secret_level",
    "secret_period",
    "urgency",
    "copy_no",
    "note",
    "signature",
    "issuer_mark",
    "doc_code",
    "printer",
)
EDIT_STEPS = ("draft", "dept_review", "office_review", "countersign", "sign_off")


def today() -> date:
    return datetime.now(BEIJING).date()


def _need(actor: Actor) -> User:
    user = actor.effective
    if user is None:
        raise ServiceError("unauthorized", "请先登录", 401)
    return user


# ---------------------------------------------------------------- reading


#: Ids beyond a database integer name nothing (and SQLite cannot even bind them).
MAX_ID = 2**31 - 1


def valid_ids(ids: list[int]) -> list[int]:
    return [i for i in ids if 0 < i <= MAX_ID]


def get_document(viewer: User, doc_id: int, *, lock: bool = False) -> Document:
    if not valid_ids([doc_id]):
        raise NotFound("公文不存在或无权访问")
    stmt = select(Document).where(Document.id == doc_id, readable_documents_clause(viewer))
    doc = db.session.scalar(stmt)
    if doc is None:
        raise NotFound("公文不存在或无权访问")
    if lock:
        # Lock the document row only: its joined relations are outer joins, which PostgreSQL
        # cannot lock (FOR UPDATE of the nullable side).
        db.session.scalar(
            select(Document)
            .where(Document.id == doc.id)
            .with_for_update(of=Document)
            .execution_options(populate_existing=True)
        )
    return doc


def get_incoming(viewer: User, incoming_id: int) -> IncomingDocument:
    if not valid_ids([incoming_id]):
        raise NotFound("收文不存在或无权访问")
    rec = db.session.scalar(
        select(IncomingDocument).where(IncomingDocument.id == incoming_id, readable_incoming_clause(viewer))
    )
    if rec is None:
        raise NotFound("收文不存在或无权访问")
    return rec


BOXES = ("mine", "outgoing", "drafting", "archived", "all")


def list_documents(
    viewer: User,
    *,
    box: str = "outgoing",
    q: str | None = None,
    status: str | None = None,
    doc_type: str | None = None,
    page: int = 1,
    per_page: int = 20,
) -> Page:
    """发文箱: documents this person may read, newest first; ``mine`` = drafted by me."""
    stmt = select(Document).where(readable_documents_clause(viewer))
    if box == "mine":
        stmt = stmt.where(Document.drafter_id == viewer.id)
    elif box == "drafting":
        stmt = stmt.where(Document.status == DocStatus.DRAFTING)
    elif box == "archived":
        stmt = stmt.where(Document.status == DocStatus.ARCHIVED)
    elif box == "outgoing":
        stmt = stmt.where(Document.status != DocStatus.WITHDRAWN)
    if status:
        stmt = stmt.where(Document.status == DocStatus(status))
    if doc_type:
        stmt = stmt.where(Document.doc_type == DocType(doc_type))
    if q:
        like = f"%{q.strip()}%"
        stmt = stmt.where(Document.title.like(like) | Document.doc_number.like(like))
    return paginate(stmt.order_by(Document.updated_at.desc(), Document.id.desc()), page, per_page)


def list_incoming(
    viewer: User, *, status: str | None = None, q: str | None = None, page: int = 1, per_page: int = 20
) -> Page:
    """收文箱: incoming records this person may read."""
    stmt = select(IncomingDocument).join(Document).where(readable_incoming_clause(viewer))
    if status:
        stmt = stmt.where(IncomingDocument.status == IncomingStatus(status))
    if q:
        like = f"%{q.strip()}%"
        stmt = stmt.where(Document.title.like(like) | Document.doc_number.like(like))
    order = (IncomingDocument.created_at.desc(), IncomingDocument.id.desc())
    return paginate(stmt.order_by(*order), page, per_page)


def units_by_id(ids: list[int]) -> dict[int, Unit]:
    ids = valid_ids(ids)
    if not ids:
        return {}
    return by_ids(Unit, ids)


def users_by_id(ids: list[int]) -> dict[int, User]:
    ids = valid_ids(ids)
    if not ids:
        return {}
    return by_ids(User, ids)


def issuer_names(doc: Document) -> list[str]:
    units = units_by_id(doc.joint_unit_ids)
    return [doc.issuer_unit.name, *(units[i].name for i in doc.joint_unit_ids if i in units)]


def content_of(doc: Document, seals: list[bytes] | None = None) -> DocumentContent:
    """The document's elements resolved to printable text (for .docx and the preview)."""
    issuers = issuer_names(doc)
    signers = users_by_id(doc.signer_ids)
    letter_like = doc.doc_type in (DocType.LETTER, DocType.MINUTES)
    mark_suffix = "纪要" if doc.doc_type == DocType.MINUTES else ("" if letter_like else "文件")
    classified = doc.secret_level not in (SecretLevel.NONE, SecretLevel.INTERNAL)
    return DocumentContent(
        title=doc.title,
        issuers=[doc.issuer_mark] if doc.issuer_mark else issuers,
        body=[Block.from_json(b) for b in doc.body],
        doc_type=DOC_TYPE_LABELS[doc.doc_type],
        direction=doc.direction.value,
        copy_no=doc.copy_no if classified else None,
        secret_level=SECRET_LABELS[doc.secret_level] if classified else None,
        secret_period=doc.secret_period or None,
        urgency=URGENCY_TEXT.get(doc.urgency),
        mark_suffix=mark_suffix,
        doc_number=doc.doc_number,
        signers=[signers[i].name for i in doc.signer_ids if i in signers],
        main_recipients=doc.main_text,
        attachments=[a.title for a in doc.attachments],
        signature_units=[s for s in doc.signature.split("\n") if s.strip()] if doc.signature else issuers,
        date=doc.written_date,
        note=doc.note,
        cc=doc.cc_text,
        printer=doc.printer or _office_name(doc.issuer_unit),
        print_date=doc.print_date,
        seals=seals or [],
    )


def _office_name(unit: Unit) -> str:
    """印发机关: the issuer's general office (办公厅/办公室) if it has one, else the issuer."""
    if unit.name.endswith(("办公厅", "办公室")):
        return unit.name
    office = db.session.scalar(
        select(Unit)
        .where(Unit.parent_id == unit.id, Unit.name.like("%办公%"))
        .order_by(Unit.sort_order, Unit.id)
    )
    return office.name if office else unit.name


# ---------------------------------------------------------------- validation


def _issuer_for(user: User, unit_id: int | None) -> tuple[Unit, Unit]:
    """(issuing organ, drafter's unit): the organ is the nearest non-division unit above the
    post the drafter drafts in; a person with several posts may name which."""
    posts = user.posts
    if not posts:
        raise ServiceError("no_post", "您没有任职单位，无法拟稿", 403)
    post = next((p for p in posts if p.unit_id == unit_id), None) if unit_id else None
    if unit_id and post is None:
        raise ServiceError("invalid_unit", "只能以本人任职的单位拟稿", 422, field="drafter_unit_id")
    post = post or next((p for p in posts if p.is_primary), posts[0])
    unit = post.unit
    chain = units_by_id(unit.ancestor_ids())
    issuer = unit
    for uid in reversed(unit.ancestor_ids()):
        u = chain.get(uid)
        if u is not None and u.kind is not UnitKind.DIVISION:
            issuer = u
            break
    return issuer, unit


def _check_units(viewer: User, ids: list[int], field: str, label: str) -> list[Unit]:
    ids = list(dict.fromkeys(int(i) for i in ids))
    units = units_by_id(ids)
    unknown = [i for i in ids if i not in units or not units[i].active or not can_see_unit(viewer, units[i])]
    if unknown:
        raise ServiceError(
            "unknown_unit", f"{label}中有不存在或不可选的单位", 422, {"unit_ids": unknown}, field=field
        )
    return [units[i] for i in ids]


def _check_people(viewer: User, ids: list[int], field: str, label: str) -> list[User]:
    ids = list(dict.fromkeys(int(i) for i in ids))
    people = users_by_id(ids)
    paths = reach_paths(viewer)
    bad = [
        i
        for i in ids
        if i not in people
        or not people[i].active
        or not any(within(p.unit.path, paths) for p in people[i].posts)
    ]
    if bad:
        raise ServiceError(
            "unknown_user", f"{label}中有不存在或不可选的人员", 422, {"user_ids": bad}, field=field
        )
    return [people[i] for i in ids]


def _missing_elements(data: dict[str, Any]) -> dict[str, str]:
    """Required GB/T 9704 elements that are missing, keyed by field."""
    missing: dict[str, str] = {}
    if not str(data.get("title") or "").strip():
        missing["title"] = "标题"
    if not data.get("body"):
        missing["body"] = "正文"
    doc_type = DocType(data["doc_type"])
    if (
        doc_type not in NO_RECIPIENT_TYPES
        and not data.get("main_unit_ids")
        and not str(data.get("main_text") or "").strip()
    ):
        missing["main_unit_ids"] = "主送机关"
    if data.get("direction") == Direction.UP and not data.get("signer_ids"):
        missing["signer_ids"] = "签发人（上行文必填）"
    level = data.get("secret_level") or SecretLevel.NONE
    if level not in (SecretLevel.NONE, SecretLevel.INTERNAL) and not str(data.get("copy_no") or "").strip():
        missing["copy_no"] = "份号（涉密公文必填）"
    return missing


def _validate(viewer: User, data: dict[str, Any]) -> dict[str, Any]:
    """Normalise and check the editable elements; 422 naming every missing element."""
    out = dict(data)
    if isinstance(out.get("body"), str):
        out["body"] = [b.to_json() for b in parse_body(out["body"])]
    out["doc_type"] = DocType(out.get("doc_type") or DocType.NOTICE)
    out["direction"] = Direction(out.get("direction") or Direction.DOWN)
    out["secret_level"] = SecretLevel(out.get("secret_level") or SecretLevel.NONE)
    missing = _missing_elements(out)
    if missing:
        names = "、".join(missing.values())
        raise ServiceError(
            "missing_elements",
            f"缺少必备要素：{names}",
            422,
            {"missing": list(missing), "fields": {k: [f"请填写{v}"] for k, v in missing.items()}},
        )
    main = _check_units(viewer, out.get("main_unit_ids") or [], "main_unit_ids", "主送机关")
    cc = _check_units(viewer, out.get("cc_unit_ids") or [], "cc_unit_ids", "抄送机关")
    _check_units(viewer, out.get("joint_unit_ids") or [], "joint_unit_ids", "联合发文单位")
    _check_people(viewer, out.get("signer_ids") or [], "signer_ids", "签发人")
    if set(u.id for u in main) & set(u.id for u in cc):
        raise ServiceError("duplicate_recipient", "同一单位不能既是主送又是抄送", 422, field="cc_unit_ids")
    for key, units, label in (("main_text", main, "主送机关"), ("cc_text", cc, "抄送机关")):
        if not str(out.get(key) or "").strip():
            out[key] = "、".join(u.name for u in units)
        if len(out[key]) > 500:  # the printed line, made from many names, must be written short
            raise ServiceError(
                "text_too_long",
                f"{label}较多，请填写{label}的统称（如“各县人民政府”），不超过 500 字",
                422,
                field=key,
            )
    copy_no = str(out.get("copy_no") or "").strip()
    if copy_no and not (copy_no.isdigit() and len(copy_no) <= 6):
        raise ServiceError("invalid_copy_no", "份号应为不超过 6 位的数字", 422, field="copy_no")
    out["copy_no"] = copy_no.zfill(6) if copy_no else None
    out["title"] = str(out["title"]).strip()
    return out


# ---------------------------------------------------------------- versions


def snapshot_of(doc: Document) -> dict[str, Any]:
    snap = {k: getattr(doc, k) for k in EDITABLE}
    snap["body"] = body_text([Block.from_json(b) for b in doc.body])
    for k in ("doc_type", "direction", "secret_level"):
        snap[k] = str(snap[k].value if hasattr(snap[k], "value") else snap[k])
    snap["attachments"] = [{"title": a.title, "sha256": a.file.sha256} for a in doc.attachments]
    return snap


def _save_version(doc: Document, actor: Actor, step: str, note: str = "") -> DocumentVersion:
    snap = snapshot_of(doc)
    digest = hashlib.sha256(json.dumps(snap, ensure_ascii=False, sort_keys=True).encode()).hexdigest()
    number = (max((v.number for v in doc.versions), default=0)) + 1
    v = DocumentVersion(
        document=doc,
        number=number,
        snapshot=snap,
        sha256=digest,
        author_id=actor.user.id if actor.user else None,
        author_name=actor.user.name if actor.user else "系统",
        step=step,
        note=note[:200],  # notes quote file names and titles, which may be long
        created_at=utcnow(),
    )
    db.session.add(v)
    doc.version = number
    return v


def diff_versions(viewer: User, doc_id: int, a: int, b: int) -> dict[str, Any]:
    """痕迹保留: who changed what between two versions, field by field, body line by line."""
    doc = get_document(viewer, doc_id)
    versions = {v.number: v for v in doc.versions}
    if a not in versions or b not in versions:
        raise ServiceError("unknown_version", "版本不存在", 422, {"versions": sorted(versions)})
    old, new = versions[a].snapshot, versions[b].snapshot
    fields = []
    for key in sorted(set(old) | set(new)):
        if key == "body" or old.get(key) == new.get(key):
            continue
        fields.append({"field": key, "old": old.get(key), "new": new.get(key)})
    old_lines, new_lines = (old.get("body") or "").split("\n"), (new.get("body") or "").split("\n")
    ops = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(
        a=old_lines, b=new_lines, autojunk=False
    ).get_opcodes():
        ops.append({"op": tag, "old": old_lines[i1:i2], "new": new_lines[j1:j2]})
    authors = [
        {
            "number": v.number,
            "author": v.author_name,
            "step": v.step,
            "note": v.note,
            "created_at": v.created_at.isoformat(),
        }
        for n, v in sorted(versions.items())
        if min(a, b) < n <= max(a, b)
    ]
    return {"from": a, "to": b, "fields": fields, "body": ops, "changes_by": authors}


# ---------------------------------------------------------------- the flow subject


def subject_of(doc: Document) -> flow.Subject:
    return flow.Subject(
        type="document",
        id=doc.id,
        title=doc.title,
        url=f"/documents/{doc.id}",
        todo_kind="document",
        urgency=Urgency(doc.urgency),
        units={
            "unit": doc.issuer_unit_id,
            "starter_unit": doc.drafter_unit_id,
            "joint_units": list(doc.joint_unit_ids),
        },
        people={"starter": [doc.drafter_id], "signers": list(doc.signer_ids)},
    )


def incoming_subject(rec: IncomingDocument) -> flow.Subject:
    doc = rec.document
    return flow.Subject(
        type="incoming",
        id=rec.id,
        title=doc.title,
        url=f"/documents/incoming/{rec.id}",
        todo_kind="incoming",
        urgency=Urgency(doc.urgency),
        units={"unit": rec.unit_id},
        people={"lead": [rec.lead_handler_id] if rec.lead_handler_id else []},
    )


def instance_of(doc: Document) -> FlowInstance | None:
    return flow.instance_for("document", doc.id)


def _locked_instance(subject_type: str, subject_id: int) -> FlowInstance:
    inst = flow.lock_subject(subject_type, subject_id)
    if inst is None:
        raise ServiceError("no_flow", "该公文没有流程", 409)
    return inst


# ---------------------------------------------------------------- drafting


def create_document(actor: Actor, data: dict[str, Any], *, drafter_unit_id: int | None = None) -> Document:
    """拟稿: a new draft (version 1) whose flow starts at the drafter's own 拟稿 step."""
    me = _need(actor)
    issuer, unit = _issuer_for(me, drafter_unit_id)
    clean = _validate(me, data)
    doc = Document(
        issuer_unit_id=issuer.id,
        drafter_id=me.id,
        drafter_unit_id=unit.id,
        status=DocStatus.DRAFTING,
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    for key in EDITABLE:
        if key in clean and clean[key] is not None:
            setattr(doc, key, clean[key])
    doc.doc_code = (clean.get("doc_code") or issuer.short_name or issuer.name[:4]).strip()
    doc.issuer_unit = issuer
    db.session.add(doc)
    db.session.flush()
    _save_version(doc, actor, "draft", "起草")
    flow.start(actor, "outgoing", issuer, subject_of(doc))
    record(
        actor,
        "documents:outgoing:create",
        doc,
        unit_id=issuer.id,
        details={"title": doc.title, "doc_type": doc.doc_type.value},
    )
    return doc


def _may_edit(me: User, doc: Document, inst: FlowInstance | None) -> None:
    if doc.frozen or doc.status in (DocStatus.ARCHIVED, DocStatus.WITHDRAWN):
        raise ServiceError("read_only", "公文已用印或归档，不能再修改", 409)
    if inst is None or inst.current_step not in EDIT_STEPS or flow.my_item(me, inst) is None:
        raise ServiceError("not_your_turn", "当前不是您办理，不能修改", 409)


def update_document(actor: Actor, doc_id: int, changes: dict[str, Any], note: str = "") -> Document:
    """Save an edit by the current handler (drafter, reviewers, signer): a new version."""
    me = _need(actor)
    doc = get_document(me, doc_id, lock=True)
    inst = instance_of(doc)
    _may_edit(me, doc, inst)
    current = {k: getattr(doc, k) for k in EDITABLE}
    merged = {**current, **{k: v for k, v in changes.items() if k in EDITABLE}}
    derived = []
    for ids_key, text_key in (("main_unit_ids", "main_text"), ("cc_unit_ids", "cc_text")):
        # 主送/抄送 as printed follows the chosen units unless someone wrote it by hand.
        if ids_key in changes and text_key not in changes:
            old = units_by_id(current[ids_key])
            if current[text_key] == "、".join(old[i].name for i in current[ids_key] if i in old):
                merged[text_key] = ""
                derived.append(text_key)
    clean = _validate(me, merged)
    changed = [k for k in EDITABLE if (k in changes or k in derived) and clean.get(k) != current.get(k)]
    if not changed:
        return doc
    for key in changed:
        setattr(doc, key, clean[key])
    doc.updated_at = utcnow()
    v = _save_version(doc, actor, inst.current_step or "", note)
    record(
        actor,
        "documents:outgoing:edit",
        doc,
        unit_id=doc.issuer_unit_id,
        details={"version": v.number, "fields": changed, "note": note},
    )
    return doc


def import_body(actor: Actor, doc_id: int, data: bytes, filename: str) -> Document:
    """Replace the body (and empty elements) from an uploaded .docx: a new version."""
    from documents.docx_import import import_docx

    me = _need(actor)
    if not filename.lower().endswith(".docx"):
        raise ServiceError("invalid_docx", "请上传 .docx 文档", 422, field="file")
    doc = get_document(me, doc_id, lock=True)
    _may_edit(me, doc, instance_of(doc))
    imported = import_docx(data)
    changes: dict[str, Any] = {"body": [b.to_json() for b in imported.body]}
    if imported.title and not doc.title:
        changes["title"] = imported.title
    return update_document(actor, doc_id, changes, note=f"导入正文：{filename}")


def import_new(actor: Actor, data: bytes, filename: str, defaults: dict[str, Any]) -> Document:
    """拟稿 from an uploaded .docx: title, recipients and body are read from the file."""
    from documents.docx_import import import_docx

    if not filename.lower().endswith(".docx"):
        raise ServiceError("invalid_docx", "请上传 .docx 文档", 422, field="file")
    imported = import_docx(data)
    payload = dict(defaults)
    payload.setdefault("title", imported.title)
    payload["title"] = payload.get("title") or imported.title
    payload["body"] = [b.to_json() for b in imported.body]
    if imported.main_recipients and not payload.get("main_unit_ids"):
        payload.setdefault("main_text", imported.main_recipients)
    return create_document(actor, payload, drafter_unit_id=defaults.get("drafter_unit_id"))


# ---------------------------------------------------------------- attachments


def add_attachment(
    actor: Actor, doc_id: int, stream: Any, filename: str, title: str | None = None
) -> DocumentAttachment:
    me = _need(actor)
    doc = get_document(me, doc_id, lock=True)
    _may_edit(me, doc, instance_of(doc))
    stored = files.store(stream, filename, user=me)
    sort = max((a.sort for a in doc.attachments), default=0) + 1
    att = DocumentAttachment(
        document=doc,
        file_id=stored.id,
        title=(title or stored.name.rsplit(".", 1)[0]).strip()[:200] or stored.name,
        sort=sort,
        added_by_id=me.id,
        created_at=utcnow(),
    )
    db.session.add(att)
    db.session.flush()
    db.session.refresh(doc, ["attachments"])
    v = _save_version(doc, actor, instance_of(doc).current_step or "", f"添加附件：{att.title}")
    record(
        actor,
        "documents:outgoing:attach",
        doc,
        unit_id=doc.issuer_unit_id,
        details={"attachment": att.title, "sha256": stored.sha256, "size": stored.size, "version": v.number},
    )
    return att


def remove_attachment(actor: Actor, doc_id: int, attachment_id: int) -> None:
    me = _need(actor)
    doc = get_document(me, doc_id, lock=True)
    _may_edit(me, doc, instance_of(doc))
    att = next((a for a in doc.attachments if a.id == attachment_id), None)
    if att is None:
        raise NotFound("附件不存在")
    doc.attachments.remove(att)
    db.session.flush()
    v = _save_version(doc, actor, instance_of(doc).current_step or "", f"删除附件：{att.title}")
    record(
        actor,
        "documents:outgoing:detach",
        doc,
        unit_id=doc.issuer_unit_id,
        details={"attachment": att.title, "version": v.number},
    )


def get_attachment(viewer: User, doc_id: int, attachment_id: int) -> DocumentAttachment:
    doc = get_document(viewer, doc_id)
    att = next((a for a in doc.attachments if a.id == attachment_id), None)
    if att is None:
        raise NotFound("附件不存在")
    return att


# ---------------------------------------------------------------- numbering


def _next_serial(unit_id: int, code: str, year: int) -> int:
    """Take the next serial atomically: the counter row is created if missing, then one
    UPDATE … RETURNING increments it under the row lock (serialised on both databases)."""
    ins = dialect_insert(NumberCounter)
    db.session.execute(
        ins.values(unit_id=unit_id, code=code, year=year, last_serial=0).on_conflict_do_nothing()
    )
    return db.session.execute(
        update(NumberCounter)
        .where(NumberCounter.unit_id == unit_id, NumberCounter.code == code, NumberCounter.year == year)
        .values(last_serial=NumberCounter.last_serial + 1)
        .returning(NumberCounter.last_serial)
    ).scalar_one()


def format_number(code: str, year: int, serial: int) -> str:
    return f"{code}〔{year}〕{serial}号"


def _cancel_number(doc: Document, by: User | None, reason: str) -> str | None:
    if doc.doc_number is None:
        return None
    number = doc.doc_number
    reg = db.session.scalar(select(IssuedNumber).where(IssuedNumber.number == number))
    if reg is not None:
        reg.status = NumberStatus.CANCELLED
        reg.cancelled_reason = reason[:200]
        reg.cancelled_by_id = by.id if by else None
        reg.cancelled_at = utcnow()
        # Free the unique document number but keep the register entry (and its serial).
        reg.number = f"{number}（作废#{reg.id}）"
    doc.doc_number, doc.serial, doc.year = None, None, None
    return number


def number_register(viewer: User, doc_id: int) -> list[dict[str, Any]]:
    doc = get_document(viewer, doc_id)
    rows = db.session.scalars(
        select(IssuedNumber).where(IssuedNumber.document_id == doc.id).order_by(IssuedNumber.id)
    )
    return [
        {
            "number": format_number(r.code, r.year, r.serial),
            "status": r.status.value,
            "reason": r.cancelled_reason,
            "created_at": r.created_at.isoformat(),
            "cancelled_at": r.cancelled_at.isoformat() if r.cancelled_at else None,
        }
        for r in rows
    ]


# ---------------------------------------------------------------- outgoing actions


def _sync_status(doc: Document, inst: FlowInstance, by: User | None) -> str | None:
    """Keep status, number, date and freeze in line with where the flow now is; a send-back
    or recall to before 编号 cancels the number (recorded, never reused)."""
    cancelled = None
    idx = inst.step_index(inst.current_step) if inst.status is InstanceStatus.RUNNING else len(inst.steps)

    def at_or_before(key: str) -> bool:
        return idx <= inst.step_index(key)

    if doc.doc_number and at_or_before("number"):
        cancelled = _cancel_number(doc, by, "退回或撤回后重新编号")
    if at_or_before("sign_off"):
        doc.status, doc.written_date = DocStatus.DRAFTING, None
    elif at_or_before("number"):
        doc.status = DocStatus.APPROVED
    elif at_or_before("seal"):
        doc.status = DocStatus.NUMBERED
    elif at_or_before("distribute"):
        doc.status = DocStatus.SEALED
    elif inst.status is InstanceStatus.RUNNING:
        doc.status = DocStatus.DISTRIBUTED
    doc.frozen = not at_or_before("seal")
    if not doc.frozen:
        # Back before 用印: the fixed final file (with its number and date) no longer holds.
        doc.final_file_id, doc.print_date = None, None
    doc.updated_at = utcnow()
    return cancelled


#: Flow actions the engine does the same way on 发文 and 收文.
GENERIC_ACTIONS = ("return", "recall", "transfer", "add_handler")
#: Every action each API and page accepts (``read`` is a 传阅 reader's own, see mark_read).
OUTGOING_ACTIONS = (
    "submit",
    *GENERIC_ACTIONS,
    "number",
    "seal",
    "reject_seal",
    "distribute",
    "archive",
    "withdraw",
)
INCOMING_ACTIONS = (
    "sign_for",
    "refuse",
    "register",
    "submit",
    "circulate",
    "complete",
    "archive",
    *GENERIC_ACTIONS,
)


def _generic_action(
    actor: Actor,
    me: User,
    inst: FlowInstance,
    subject: flow.Subject,
    action: str,
    opinion: str,
    payload: dict[str, Any],
) -> flow.Outcome:
    """退回, 撤回, 转办, 加签: the engine's own actions, with the people checked against reach."""
    if action == "return":
        return flow.send_back(actor, inst, subject, opinion=opinion, to_step=payload.get("to_step"))
    if action == "recall":
        return flow.recall(actor, inst, subject, opinion=opinion)
    if action == "transfer":
        if not payload.get("to_user"):
            raise ServiceError("validation_error", "请选择转办人员", 422, field="to_user")
        _check_people(me, [payload["to_user"]], "to_user", "转办人员")
        return flow.transfer(actor, inst, subject, to_user=int(payload["to_user"]), opinion=opinion)
    ids = [int(i) for i in payload.get("user_ids") or []]
    _check_people(me, ids, "user_ids", "加签人员")
    return flow.add_handlers(actor, inst, subject, user_ids=ids, opinion=opinion)


def _recorded(
    actor: Actor,
    out: flow.Outcome,
    tag: str,
    obj: Any,
    unit_id: int,
    step: str | None,
    details: dict[str, Any],
) -> dict[str, Any]:
    """The one audit event of a flow action (naming whom the actor acted for) and the result."""
    if out.acting_for:
        details["acting_for"] = out.acting_for.name
    audit_actor = (
        actor
        if actor.on_behalf_of or not out.acting_for
        else Actor(user=actor.user, on_behalf_of=out.acting_for, ip=actor.ip, user_agent=actor.user_agent)
    )
    record(audit_actor, tag, obj, unit_id=unit_id, details=details)
    return {
        "action": tag.rsplit(":", 1)[1],
        "step_before": step,
        "step_after": out.step_after,
        "finished": out.finished,
        **details,
    }


def _for_action(me: User, doc_id: int) -> tuple[Document, FlowInstance]:
    """The document and its locked flow. Whoever has the current item (or may recall) may
    read it, so the full read-permission query runs only for everyone else (404 or 409)."""
    inst = flow.lock_subject("document", doc_id) if valid_ids([doc_id]) else None
    doc = db.session.get(Document, doc_id, populate_existing=True) if inst is not None else None
    if doc is None or inst is None:
        raise NotFound("公文不存在或无权访问")
    if flow.my_item(me, inst) is None and not flow.can_recall(me, inst):
        get_document(me, doc_id)
    keep(doc)  # the response describes it after the action
    return doc, inst


def act(actor: Actor, doc_id: int, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    """One flow action on an outgoing document; returns what happened (for the response)."""
    me = _need(actor)
    doc, inst = _for_action(me, doc_id)
    subject = subject_of(doc)
    opinion = str(payload.get("opinion") or "").strip()
    choose = [int(i) for i in payload.get("choose") or []]
    if choose:
        _check_people(me, choose, "choose", "办理人")
    step = inst.current_step
    details: dict[str, Any] = {"step": step}
    tag = action

    if action == "submit":
        if (inst.step(step) or {}).get("no_submit"):
            raise ServiceError("invalid_action", "本环节请使用对应的办理按钮", 422)
        if step == "sign_off":
            tag = "sign_off"
            _sign_off(doc, me, actor)
        out = flow.submit(
            actor, inst, subject, opinion=opinion, choose=choose, log_as=tag, details={"version": doc.version}
        )
        if tag == "sign_off":
            sealing.sign(me, doc, out, "sign_off", ("document", doc.id))
    elif action in GENERIC_ACTIONS:
        out = _generic_action(actor, me, inst, subject, action, opinion, payload)
    elif action == "number":
        _check_numbering(doc, me, inst)
        out = flow.submit(actor, inst, subject, opinion=opinion, step_key="number", log_as="number")
        # Taken last: the counter row stays locked only from here to the commit, so many
        # clerks numbering at once queue for a moment, not for a whole action each.
        number = _assign_number(doc, me, inst)
        details["doc_number"] = number
        out.action.details = {**out.action.details, "doc_number": number}
    elif action == "seal":
        return sealing.seal_action(actor, me, doc, inst, payload)  # seals records the use
    elif action == "reject_seal":
        return sealing.reject_action(actor, me, doc, inst, payload)
    elif action == "distribute":
        created = _distribute(doc, actor, inst)
        details["recipients"] = created
        out = flow.submit(
            actor,
            inst,
            subject,
            opinion=opinion,
            step_key="distribute",
            log_as="distribute",
            details={"recipients": created},
        )
    elif action == "archive":
        flow.need_item(actor, inst, "archive")
        out = flow.submit(actor, inst, subject, opinion=opinion, step_key="archive", log_as="archive")
        _archive(doc, actor)
    elif action == "withdraw":
        if step != "draft" or flow.my_item(me, inst) is None:
            raise ServiceError("not_your_turn", "只有拟稿环节的拟稿人可以撤销", 409)
        flow.cancel(actor, inst, subject, opinion=opinion or "撤销", action="withdraw")
        doc.status = DocStatus.WITHDRAWN
        record(
            actor,
            "documents:outgoing:withdraw",
            doc,
            unit_id=doc.issuer_unit_id,
            details={"opinion": opinion},
        )
        return {"action": action, "step_before": step, "step_after": None, "finished": True}
    else:
        raise ServiceError("invalid_action", f"不支持的操作：{action}", 422)

    sealing.after_move(actor, doc, inst, step)
    cancelled = _sync_status(doc, inst, me) if action != "archive" else None
    if cancelled:
        details["cancelled_number"] = cancelled
    details.update(step_after=out.step_after, opinion=opinion[:200])
    return _recorded(actor, out, f"documents:outgoing:{tag}", doc, doc.issuer_unit_id, step, details)


def _sign_off(doc: Document, me: User, actor: Actor) -> None:
    """签发: the date of the document is the sign-off date; the signer is recorded as 签发人."""
    signer = actor.on_behalf_of or me
    inst = instance_of(doc)
    found = flow.my_item(me, inst) if inst else None
    if found and found[1] is not None:
        signer = found[1]  # a secretary signing for their leader: the leader is the signer
    if signer.id not in doc.signer_ids:
        doc.signer_ids = [*doc.signer_ids, signer.id]
    doc.written_date = today()
    doc.status = DocStatus.APPROVED


def _check_numbering(doc: Document, me: User, inst: FlowInstance) -> None:
    if inst.current_step != "number" or flow.my_item(me, inst) is None:
        raise ServiceError("not_your_turn", "当前不是您编号", 409)
    if doc.doc_number:
        raise ServiceError("already_numbered", "该公文已编号", 409)


def _assign_number(doc: Document, me: User, inst: FlowInstance) -> str:
    year = today().year
    serial = _next_serial(doc.issuer_unit_id, doc.doc_code, year)
    number = format_number(doc.doc_code, year, serial)
    db.session.add(
        IssuedNumber(
            unit_id=doc.issuer_unit_id,
            code=doc.doc_code,
            year=year,
            serial=serial,
            number=number,
            document_id=doc.id,
            status=NumberStatus.USED,
            created_by_id=me.id,
            created_at=utcnow(),
        )
    )
    doc.year, doc.serial, doc.doc_number = year, serial, number
    db.session.flush()
    return number


def render(doc: Document) -> bytes:
    from documents.render import render_docx

    return render_docx(content_of(doc))


def _distribute(doc: Document, actor: Actor, inst: FlowInstance) -> list[dict[str, Any]]:
    """分发: an incoming record (and its 收文 flow) at every main and copy recipient unit."""
    me = actor.user
    if inst.current_step != "distribute" or (me and flow.my_item(me, inst) is None):
        raise ServiceError("not_your_turn", "当前不是您分发", 409)
    existing = {r.unit_id for r in doc.incoming}
    targets = [(u, "main") for u in doc.main_unit_ids] + [(u, "cc") for u in doc.cc_unit_ids]
    units = units_by_id([u for u, _ in targets])
    roles: dict[int, str] = {}
    for unit_id, role in targets:
        if unit_id not in existing and unit_id in units:
            roles.setdefault(unit_id, role)
    records = [
        IncomingDocument(
            document=doc, unit_id=unit_id, role=role, status=IncomingStatus.PENDING, created_at=utcnow()
        )
        for unit_id, role in roles.items()
    ]
    db.session.add_all(records)
    db.session.flush()  # one batched insert; the flows need the records' ids
    starts = [(units[r.unit_id], incoming_subject(r), _sign_for_handlers(units[r.unit_id])) for r in records]
    flow.start_many(actor, "incoming", starts)
    return [
        {"unit_id": r.unit_id, "unit": units[r.unit_id].name, "role": roles[r.unit_id], "incoming_id": r.id}
        for r in records
    ]


def _sign_for_handlers(unit: Unit) -> list[int]:
    """Who signs for a unit's mail: its clerks, else its admins, else its leaders."""
    for role in ("clerk", "unit_admin", "leader"):
        found = flow.users_with_role([unit.id], role, children=True)
        if found:
            return found
    raise ServiceError(
        "no_receiver", f"收文单位「{unit.name}」没有收发员，无法分发", 422, {"unit_id": unit.id}
    )


def _archive(doc: Document, actor: Actor) -> None:
    """归档: read-only from now on; the archive package is built and stored."""
    doc.status = DocStatus.ARCHIVED
    doc.archived_at = utcnow()
    doc.frozen = True
    data = archive_package(doc)
    stored = files.store(data, f"{doc.doc_number or doc.id}-归档.zip", user=actor.user)
    doc.archive_file_id = stored.id


def archive_package(doc: Document) -> bytes:
    """A zip with the final .docx, attachments, every version, the flow record with opinions,
    metadata, and a SHA-256 manifest of all of it."""
    entries: dict[str, bytes] = {}
    final = files.read_bytes(doc.final_file) if doc.final_file_id else render(doc)
    entries["公文.docx"] = final
    uses = sealing.sealed_uses(doc)
    for n, use in enumerate(uses, 1):
        entries[f"签章/{n:02d}-{use.seal.name}.p7s"] = use.signature
        entries[f"签章/{n:02d}-{use.seal.name}.cer.pem"] = use.seal.cert_pem.encode()
    if uses:
        entries["签章/根证书.pem"] = seals.root_cert_pem()
    for a in doc.attachments:
        ext = a.file.name.rsplit(".", 1)[-1] if "." in a.file.name else "bin"
        entries[f"附件/{a.sort:02d}-{a.title}.{ext}"] = files.read_bytes(a.file)
    for v in doc.versions:
        entries[f"版本/v{v.number}.json"] = _json(
            {
                "number": v.number,
                "author": v.author_name,
                "step": v.step,
                "note": v.note,
                "created_at": v.created_at.isoformat(),
                "sha256": v.sha256,
                "snapshot": v.snapshot,
            }
        )
    entries["流程记录.json"] = _json(flow.timeline(instance_of(doc)))
    entries["元数据.json"] = _json(metadata_of(doc))
    manifest = {name: hashlib.sha256(data).hexdigest() for name, data in entries.items()}
    entries["manifest.json"] = _json({"algorithm": "SHA-256", "files": manifest})
    entries["SHA256SUMS"] = "".join(f"{h}  {n}\n" for n, h in manifest.items()).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name, date_time=(doc.created_at.astimezone(BEIJING).timetuple()[:6]))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return buf.getvalue()


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=str).encode()


def metadata_of(doc: Document) -> dict[str, Any]:
    return {
        "id": doc.id,
        "doc_number": doc.doc_number,
        "title": doc.title,
        "doc_type": DOC_TYPE_LABELS[doc.doc_type],
        "issuers": issuer_names(doc),
        "drafter": doc.drafter.name,
        "written_date": doc.written_date.isoformat() if doc.written_date else None,
        "main": doc.main_text,
        "cc": doc.cc_text,
        "secret_level": SECRET_LABELS[doc.secret_level] or "非密",
        "version": doc.version,
        "recipients": [
            {
                "unit": r.unit.name,
                "role": r.role,
                "status": r.status.value,
                "signed_at": r.signed_at.isoformat() if r.signed_at else None,
                "refused_reason": r.refused_reason,
            }
            for r in doc.incoming
        ],
        "archived_at": doc.archived_at.isoformat() if doc.archived_at else None,
    }


def archive_file(viewer: User, doc_id: int) -> tuple[bytes, str]:
    doc = get_document(viewer, doc_id)
    if doc.archive_file_id is None:
        raise ServiceError("not_archived", "公文尚未归档", 409)
    stored = db.session.get(files.StoredFile, doc.archive_file_id)
    return files.read_bytes(stored), stored.name


def docx_of(viewer: User, doc_id: int) -> tuple[bytes, str]:
    """The .docx: the fixed final file once sealed, else rendered from the current version."""
    doc = get_document(viewer, doc_id)
    name = f"{doc.doc_number or doc.title}.docx"
    if doc.final_file_id:
        return files.read_bytes(db.session.get(files.StoredFile, doc.final_file_id)), name
    return render(doc), name


def signature_of(viewer: User, doc_id: int) -> tuple[bytes, str]:
    """The issuing seal's detached signature over the sealed .docx (joint seals each sign it;
    the issuer's is the one downloaded, the others are in the archive package)."""
    doc = get_document(viewer, doc_id)
    uses = sealing.sealed_uses(doc)
    if not uses:
        raise ServiceError("not_sealed", "公文尚未用印，没有签名文件", 409)
    return uses[0].signature, f"{doc.doc_number or doc.title}.docx.p7s"


# ---------------------------------------------------------------- incoming actions


def _deadline_due(d: date | None) -> datetime | None:
    if d is None:
        return None
    return datetime.combine(d, time(18, 0), tzinfo=BEIJING).astimezone(UTC)


def _notify_sender(rec: IncomingDocument, title: str, body: str) -> None:
    doc = rec.document
    people = {doc.drafter_id, *flow.users_with_role([doc.issuer_unit_id], "clerk", children=True)}
    for uid in sorted(people):
        notify(uid, title, body=body, url=f"/documents/{doc.id}", kind="document")


def incoming_act(actor: Actor, incoming_id: int, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    """One flow action on an incoming record (签收, 退文, 登记, 拟办, 批办, 承办, 传阅, 办结, 归档)."""
    me = _need(actor)
    rec = get_incoming(me, incoming_id)
    inst = _locked_instance("incoming", rec.id)
    db.session.refresh(rec)
    subject = incoming_subject(rec)
    opinion = str(payload.get("opinion") or "").strip()
    choose = [int(i) for i in payload.get("choose") or []]
    if choose:
        _check_people(me, choose, "choose", "办理人")
    step = inst.current_step
    details: dict[str, Any] = {"step": step, "unit_id": rec.unit_id}
    tag = action

    if action == "sign_for":
        flow.need_item(actor, inst, "sign_for")
        rec.status, rec.signed_by_id, rec.signed_at = IncomingStatus.SIGNED, me.id, utcnow()
        out = flow.submit(actor, inst, subject, opinion=opinion, step_key="sign_for", log_as="sign_for")
        _notify_sender(rec, f"{rec.unit.name} 已签收：{rec.document.title}", f"签收人：{me.name}")
    elif action == "refuse":
        flow.need_item(actor, inst, "sign_for")
        if not opinion:
            raise ServiceError("reason_required", "退文必须填写理由", 422, field="opinion")
        flow.cancel(actor, inst, subject, opinion=opinion, action="refuse")
        rec.status, rec.refused_by_id, rec.refused_at, rec.refused_reason = (
            IncomingStatus.REFUSED,
            me.id,
            utcnow(),
            opinion[:500],
        )
        _notify_sender(rec, f"{rec.unit.name} 退文：{rec.document.title}", f"退文理由：{opinion}")
        record(
            actor,
            "documents:incoming:refuse",
            rec,
            unit_id=rec.unit_id,
            details={"document_id": rec.document_id, "reason": opinion},
        )
        return {"action": action, "step_before": step, "step_after": None, "finished": True}
    elif action == "register":
        flow.need_item(actor, inst, "register")
        if not rec.incoming_no:  # registered again after a recall: the record keeps its number
            year = today().year
            serial = _next_serial(rec.unit_id, "收文", year)
            rec.incoming_no = f"收〔{year}〕{serial}号"
        rec.registered_at, rec.status = utcnow(), IncomingStatus.REGISTERED
        details["incoming_no"] = rec.incoming_no
        out = flow.submit(
            actor,
            inst,
            subject,
            opinion=opinion,
            step_key="register",
            log_as="register",
            details={"incoming_no": rec.incoming_no},
        )
    elif action == "submit" and step == "instruct":
        out = _instruct(actor, me, rec, inst, subject, opinion, payload, details)
        tag = "instruct"
    elif action == "submit":
        if (inst.step(step) or {}).get("no_submit"):
            raise ServiceError("invalid_action", "本环节请使用对应的办理按钮", 422)
        tag = {"propose": "propose", "handle": "handle", "circulate": "circulate_done"}.get(
            step or "", "submit"
        )
        out = flow.submit(actor, inst, subject, opinion=opinion, choose=choose, log_as=tag)
    elif action == "circulate":
        flow.need_item(actor, inst, "circulate")
        readers = [int(i) for i in payload.get("readers") or payload.get("user_ids") or []]
        if not readers:
            raise ServiceError("validation_error", "请选择传阅人员", 422, field="readers")
        people = _check_people(me, readers, "readers", "传阅人员")
        flow.log_only(
            actor, inst, "circulate", opinion=opinion, details={"readers": [p.name for p in people]}
        )
        for p in people:
            todos.open_todo(
                user_id=p.id,
                kind="incoming",
                title=f"传阅：{rec.document.title}",
                source_type="incoming",
                source_id=rec.id,
                source_url=subject.url,
                step="read",
                urgency=subject.urgency,
                category=TodoCategory.READ,
                sender_id=me.id,
            )
        details["readers"] = [p.name for p in people]
        record(actor, "documents:incoming:circulate", rec, unit_id=rec.unit_id, details=details)
        return {"action": action, "step_before": step, "step_after": step, "finished": False, **details}
    elif action == "complete":
        flow.need_item(actor, inst, "complete")
        rec.status, rec.completed_at = IncomingStatus.DONE, utcnow()
        out = flow.submit(actor, inst, subject, opinion=opinion, step_key="complete", log_as="complete")
        _notify_sender(rec, f"{rec.unit.name} 已办结：{rec.document.title}", opinion or "已办结")
    elif action == "archive":
        flow.need_item(actor, inst, "archive")
        rec.status, rec.archived_at = IncomingStatus.ARCHIVED, utcnow()
        out = flow.submit(actor, inst, subject, opinion=opinion, step_key="archive", log_as="archive")
    elif action in GENERIC_ACTIONS:
        out = _generic_action(actor, me, inst, subject, action, opinion, payload)
    else:
        raise ServiceError("invalid_action", f"不支持的操作：{action}", 422)

    details.update(step_after=out.step_after, opinion=opinion[:200])
    return _recorded(actor, out, f"documents:incoming:{tag}", rec, rec.unit_id, step, details)


def _instruct(actor, me, rec, inst, subject, opinion, payload, details):
    """批办: the leader's instruction (批示) names the lead handler, co-handlers and deadline."""
    if not opinion:
        raise ServiceError("instruction_required", "请填写批示意见", 422, field="opinion")
    lead = payload.get("lead_handler")
    if not lead:
        raise ServiceError("lead_required", "请指定主办人", 422, field="lead_handler")
    co = [int(i) for i in payload.get("co_handlers") or [] if int(i) != int(lead)]
    people = _check_people(me, [int(lead), *co], "lead_handler", "承办人")
    deadline = payload.get("deadline")
    if deadline is not None and deadline < today():
        raise ServiceError("deadline_past", "办理期限不能早于今天", 422, field="deadline")
    rec.instruction = opinion
    rec.lead_handler_id, rec.co_handler_ids, rec.deadline = int(lead), co, deadline
    subject.people["lead"] = [int(lead)]
    details.update(
        lead=people[0].name,
        co=[p.name for p in people[1:]],
        deadline=deadline.isoformat() if deadline else None,
    )
    out = flow.submit(
        actor,
        inst,
        subject,
        opinion=opinion,
        choose=[int(lead), *co],
        log_as="instruct",
        due_at=_deadline_due(deadline),
        details={"lead": people[0].name},
    )
    sealing.sign(me, rec.document, out, "instruct", ("incoming", rec.id))
    return out


def mark_read(actor: Actor, incoming_id: int) -> bool:
    """传阅 reader: mark as read (closes the 待阅 item; the page lists who has read)."""
    me = _need(actor)
    rec = get_incoming(me, incoming_id)
    closed = todos.close_for_source("incoming", rec.id, step="read", user_id=me.id, by=me)
    if closed:
        record(actor, "documents:incoming:read", rec, unit_id=rec.unit_id, details={"reader": me.name})
    return bool(closed)


def readers_of(rec: IncomingDocument) -> list[dict[str, Any]]:
    """Who was asked to read, and whether and when they have."""
    rows = todos.items_for_source("incoming", rec.id, step="read")
    return [
        {
            "id": t.user_id,
            "name": t.user.name,
            "read": t.status is TodoStatus.DONE,
            "read_at": t.done_at.isoformat() if t.done_at else None,
        }
        for t in rows
    ]


# ---------------------------------------------------------------- flow definitions


def save_flow(actor: Actor, code: str, unit_id: int, steps: list[dict[str, Any]]) -> Any:
    """A unit admin's own version of a flow (running flows keep theirs)."""
    from office.identity.access import can_manage_unit

    me = _need(actor)
    if not valid_ids([unit_id]):
        raise NotFound("单位不存在或无权访问")
    unit = identity.get_unit(me, unit_id)
    if not can_manage_unit(me, unit):
        raise ServiceError("forbidden", "只有本单位管理员可以修改流程", 403)
    d = flow.save_definition(actor, code, unit, steps)
    record(
        actor,
        f"office:flow:{code}:save",
        d,
        unit_id=unit.id,
        details={"version": d.version, "steps": [s["key"] for s in d.steps]},
    )
    return d


def reset_flow(actor: Actor, code: str, unit_id: int) -> bool:
    from office.identity.access import can_manage_unit

    me = _need(actor)
    if not valid_ids([unit_id]):
        raise NotFound("单位不存在或无权访问")
    unit = identity.get_unit(me, unit_id)
    if not can_manage_unit(me, unit):
        raise ServiceError("forbidden", "只有本单位管理员可以修改流程", 403)
    if code not in flow.FLOWS:
        raise ServiceError("unknown_flow", "流程不存在", 404)
    done = flow.reset_definition(unit, code)
    if done:
        record(actor, f"office:flow:{code}:reset", unit, unit_id=unit.id)
    return done
