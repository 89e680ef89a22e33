"""Input schemas of the documents API and the JSON shapes it returns."""

from __future__ import annotations

from typing import Any

from apiflask import Schema
from apiflask.fields import Date, Dict, List, String
from apiflask.validators import Length, OneOf, Range

from documents import services
from documents.content import Block, body_text
from documents.models import (
    DIRECTION_LABELS,
    DOC_TYPE_LABELS,
    INCOMING_LABELS,
    SECRET_LABELS,
    STATUS_LABELS,
    Direction,
    DocStatus,
    DocType,
    Document,
    IncomingDocument,
    IncomingStatus,
    SecretLevel,
)
from office.api import PageQuery
from office.fields import DbInt
from office.identity.models import User
from office.workflow import services as flow
from seals import services as seals

DOC_TYPES = [t.value for t in DocType]
DIRECTIONS = [d.value for d in Direction]
SECRET_LEVELS = [s.value for s in SecretLevel]
URGENCIES = ["normal", "urgent", "very_urgent"]
URGENCY_NUM = {"normal": 0, "urgent": 1, "very_urgent": 2}
URGENCY_CODE = {v: k for k, v in URGENCY_NUM.items()}
URGENCY_LABEL = {0: "平件", 1: "加急", 2: "特急"}


class DocumentIn(Schema):
    """拟稿: every GB/T 9704 element (``body`` is editor text, one paragraph per line)."""

    title = String(required=True, validate=Length(1, 200))
    doc_type = String(load_default="notice", validate=OneOf(DOC_TYPES))
    direction = String(load_default="down", validate=OneOf(DIRECTIONS))
    body = String(load_default="", validate=Length(max=200_000))
    main_unit_ids = List(DbInt(), load_default=list, validate=Length(max=500))
    cc_unit_ids = List(DbInt(), load_default=list, validate=Length(max=500))
    main_text = String(load_default="", validate=Length(max=500))
    cc_text = String(load_default="", validate=Length(max=500))
    signer_ids = List(DbInt(), load_default=list, validate=Length(max=10))
    joint_unit_ids = List(DbInt(), load_default=list, validate=Length(max=10))
    secret_level = String(load_default="none", validate=OneOf(SECRET_LEVELS))
    secret_period = String(load_default="", validate=Length(max=20))
    urgency = String(load_default="normal", validate=OneOf(URGENCIES))
    copy_no = String(load_default="", validate=Length(max=6))
    note = String(load_default="", validate=Length(max=200))
    signature = String(load_default="", validate=Length(max=200))
    issuer_mark = String(load_default="", validate=Length(max=200))
    doc_code = String(load_default="", validate=Length(max=20))
    printer = String(load_default="", validate=Length(max=100))
    drafter_unit_id = DbInt(load_default=None, allow_none=True)


class DocumentPatch(Schema):
    """Edit: any subset of the elements; ``version_note`` describes the change."""

    title = String(validate=Length(1, 200))
    doc_type = String(validate=OneOf(DOC_TYPES))
    direction = String(validate=OneOf(DIRECTIONS))
    body = String(validate=Length(max=200_000))
    main_unit_ids = List(DbInt(), validate=Length(max=500))
    cc_unit_ids = List(DbInt(), validate=Length(max=500))
    main_text = String(validate=Length(max=500))
    cc_text = String(validate=Length(max=500))
    signer_ids = List(DbInt(), validate=Length(max=10))
    joint_unit_ids = List(DbInt(), validate=Length(max=10))
    secret_level = String(validate=OneOf(SECRET_LEVELS))
    secret_period = String(validate=Length(max=20))
    urgency = String(validate=OneOf(URGENCIES))
    copy_no = String(validate=Length(max=6))
    note = String(validate=Length(max=200))
    signature = String(validate=Length(max=200))
    issuer_mark = String(validate=Length(max=200))
    doc_code = String(validate=Length(max=20))
    printer = String(validate=Length(max=100))
    version_note = String(load_default="", validate=Length(max=200))


def to_service(data: dict[str, Any]) -> dict[str, Any]:
    """API field values → service values (urgency names to numbers)."""
    out = {k: v for k, v in data.items() if k not in ("drafter_unit_id", "version_note")}
    if "urgency" in out:
        out["urgency"] = URGENCY_NUM[out["urgency"]]
    return out


class ActionIn(Schema):
    """Body of ``POST /documents/<id>/<action>`` (fields used depend on the action)."""

    opinion = String(load_default="", validate=Length(max=2000))
    #: Handlers of the next step (when it takes a choice).
    choose = List(DbInt(), load_default=list, validate=Length(max=50))
    to_step = String(load_default=None, allow_none=True, validate=Length(1, 40))
    to_user = DbInt(load_default=None, allow_none=True)
    user_ids = List(DbInt(), load_default=list, validate=Length(max=50))
    readers = List(DbInt(), load_default=list, validate=Length(max=200))
    lead_handler = DbInt(load_default=None, allow_none=True)
    co_handlers = List(DbInt(), load_default=list, validate=Length(max=50))
    deadline = Date(load_default=None, allow_none=True)
    #: 用印: the keeper's second factor (the TOTP code when they use one, else the password).
    password = String(load_default=None, allow_none=True, validate=Length(max=200))
    otp = String(load_default=None, allow_none=True, validate=Length(max=10))


class DocumentQuery(PageQuery):
    box = String(load_default="outgoing", validate=OneOf(list(services.BOXES)))
    q = String(load_default=None, validate=Length(1, 100))
    status = String(load_default=None, validate=OneOf([s.value for s in DocStatus]))
    doc_type = String(load_default=None, validate=OneOf(DOC_TYPES))


class IncomingQuery(PageQuery):
    status = String(load_default=None, validate=OneOf([s.value for s in IncomingStatus]))
    q = String(load_default=None, validate=Length(1, 100))


class DiffQuery(Schema):
    from_ = DbInt(data_key="from", required=True, validate=Range(min=1))
    to = DbInt(required=True, validate=Range(min=1))


class FlowIn(Schema):
    steps = List(Dict(), required=True, validate=Length(1, 30))


# ---------------------------------------------------------------- output


def _unit_list(ids: list[int]) -> list[dict[str, Any]]:
    units = services.units_by_id(ids)
    return [{"id": i, "name": units[i].name} for i in ids if i in units]


def _people(ids: list[int]) -> list[dict[str, Any]]:
    people = services.users_by_id(ids)
    return [{"id": i, "name": people[i].name} for i in ids if i in people]


def document_summary(doc: Document) -> dict[str, Any]:
    return {
        "id": doc.id,
        "title": doc.title,
        "doc_type": doc.doc_type.value,
        "doc_type_label": DOC_TYPE_LABELS[doc.doc_type],
        "doc_number": doc.doc_number,
        "status": doc.status.value,
        "status_label": STATUS_LABELS[doc.status],
        "urgency": URGENCY_CODE[doc.urgency],
        "urgency_label": URGENCY_LABEL[doc.urgency],
        "issuing_unit": {"id": doc.issuer_unit_id, "name": doc.issuer_unit.name},
        "drafter": {"id": doc.drafter_id, "name": doc.drafter.name},
        "written_date": doc.written_date.isoformat() if doc.written_date else None,
        "created_at": doc.created_at.isoformat(),
        "updated_at": doc.updated_at.isoformat(),
        "url": f"/documents/{doc.id}",
    }


def flow_json(inst, subject, viewer: User) -> dict[str, Any]:
    step = inst.step(inst.current_step) if inst else None
    return {
        "code": inst.code if inst else None,
        "status": inst.status.value if inst else None,
        "step": inst.current_step if inst else None,
        "step_name": step["name"] if step else None,
        "steps": [{"key": s["key"], "name": s["name"], "mode": s.get("mode", "single")} for s in inst.steps]
        if inst
        else [],
        "handlers": flow.current_handlers(inst),
        "next": flow.next_step_preview(inst, subject) if inst else None,
        "return_to": [{"key": k, "name": inst.step(k)["name"]} for k in flow.visited_steps(inst)]
        if inst and inst.current_step
        else [],
        "timeline": flow.timeline(inst),
    }


def exchange_json(doc: Document) -> list[dict[str, Any]]:
    return [
        {
            "incoming_id": r.id,
            "unit": {"id": r.unit_id, "name": r.unit.name},
            "role": r.role,
            "status": r.status.value,
            "status_label": INCOMING_LABELS[r.status],
            "signed_by": r.signed_by.name if r.signed_by else None,
            "signed_at": r.signed_at.isoformat() if r.signed_at else None,
            "refused_reason": r.refused_reason or None,
            "refused_at": r.refused_at.isoformat() if r.refused_at else None,
        }
        for r in doc.incoming
    ]


def document_brief(doc: Document, viewer: User) -> dict[str, Any]:
    """What an action's response carries: where the document now is and what this person may
    do next (GET the document for versions, timeline and exchange)."""
    inst = services.instance_of(doc)
    acts = flow.actions_for(viewer, inst)
    step = inst.step(inst.current_step) if inst else None
    data = document_summary(doc)
    data.update(
        version=doc.version,
        frozen=doc.frozen,
        flow={
            "status": inst.status.value if inst else None,
            "step": inst.current_step if inst else None,
            "step_name": step["name"] if step else None,
            "handlers": flow.current_handlers(inst),
        },
        actions=acts["actions"],
        acting_for=acts["acting_for"],
    )
    return data


def seal_use_json(r: Any) -> dict[str, Any]:
    """One seal request of the document: whose seal, its state, who decided, the hash sealed."""
    return {
        "id": r.id,
        "seal": {"id": r.seal.id, "name": r.seal.name, "unit": r.seal.unit.name},
        "status": r.status.value,
        "version": r.version,
        "decided_by": r.decided_by.name if r.decided_by else None,
        "decided_at": r.decided_at.isoformat() if r.decided_at else None,
        "reason": r.reason,
        "sha256": r.sha256,
    }


def document_json(doc: Document, viewer: User) -> dict[str, Any]:
    inst = services.instance_of(doc)
    subject = services.subject_of(doc)
    acts = flow.actions_for(viewer, inst)
    if "edit" in acts["actions"] and doc.frozen:
        acts["actions"].remove("edit")
    data = document_summary(doc)
    data.update(
        direction=doc.direction.value,
        direction_label=DIRECTION_LABELS[doc.direction],
        secret_level=doc.secret_level.value,
        secret_label=SECRET_LABELS[doc.secret_level] or "非密",
        secret_period=doc.secret_period,
        copy_no=doc.copy_no,
        issuer_mark=doc.issuer_mark,
        doc_code=doc.doc_code,
        joint_units=_unit_list(doc.joint_unit_ids),
        signers=_people(doc.signer_ids),
        main_units=_unit_list(doc.main_unit_ids),
        cc_units=_unit_list(doc.cc_unit_ids),
        main_text=doc.main_text,
        cc_text=doc.cc_text,
        body=body_text([Block.from_json(b) for b in doc.body]),
        blocks=doc.body,
        signature=doc.signature,
        note=doc.note,
        printer=doc.printer,
        print_date=doc.print_date.isoformat() if doc.print_date else None,
        version=doc.version,
        frozen=doc.frozen,
        archived_at=doc.archived_at.isoformat() if doc.archived_at else None,
        attachments=[
            {
                "id": a.id,
                "title": a.title,
                "name": a.file.name,
                "size": a.file.size,
                "sha256": a.file.sha256,
                "content_type": a.file.content_type,
                "url": f"/api/v1/documents/{doc.id}/attachments/{a.id}",
            }
            for a in doc.attachments
        ],
        versions=[
            {
                "number": v.number,
                "author": v.author_name,
                "step": v.step,
                "note": v.note,
                "sha256": v.sha256,
                "created_at": v.created_at.isoformat(),
            }
            for v in doc.versions
        ],
        flow=flow_json(inst, subject, viewer),
        exchange=exchange_json(doc),
        actions=acts["actions"],
        acting_for=acts["acting_for"],
        docx_url=f"/api/v1/documents/{doc.id}/docx",
        archive_url=f"/api/v1/documents/{doc.id}/archive" if doc.archive_file_id else None,
        final_sha256=doc.final_file.sha256 if doc.final_file_id else None,
        p7s_url=f"/api/v1/documents/{doc.id}/p7s" if doc.final_file_id else None,
        sealing=[seal_use_json(r) for r in seals.requests_of("document", doc.id)],
    )
    return data


def incoming_summary(rec: IncomingDocument) -> dict[str, Any]:
    doc = rec.document
    return {
        "id": rec.id,
        "document_id": doc.id,
        "title": doc.title,
        "doc_number": doc.doc_number,
        "doc_type_label": DOC_TYPE_LABELS[doc.doc_type],
        "issuing_unit": {"id": doc.issuer_unit_id, "name": doc.issuer_unit.name},
        "unit": {"id": rec.unit_id, "name": rec.unit.name},
        "role": rec.role,
        "status": rec.status.value,
        "status_label": INCOMING_LABELS[rec.status],
        "urgency": URGENCY_CODE[doc.urgency],
        "urgency_label": URGENCY_LABEL[doc.urgency],
        "incoming_no": rec.incoming_no,
        "deadline": rec.deadline.isoformat() if rec.deadline else None,
        "created_at": rec.created_at.isoformat(),
        "url": f"/documents/incoming/{rec.id}",
    }


def incoming_json(rec: IncomingDocument, viewer: User) -> dict[str, Any]:
    inst = flow.instance_for("incoming", rec.id)
    subject = services.incoming_subject(rec)
    acts = flow.actions_for(viewer, inst)
    readers = services.readers_of(rec)
    if any(r["id"] == viewer.id and not r["read"] for r in readers):
        acts["actions"].append("read")
    data = incoming_summary(rec)
    data.update(
        signed_by=rec.signed_by.name if rec.signed_by else None,
        signed_at=rec.signed_at.isoformat() if rec.signed_at else None,
        refused_reason=rec.refused_reason or None,
        registered_at=rec.registered_at.isoformat() if rec.registered_at else None,
        instruction=rec.instruction,
        lead_handler={"id": rec.lead_handler_id, "name": rec.lead_handler.name} if rec.lead_handler else None,
        co_handlers=_people(rec.co_handler_ids),
        completed_at=rec.completed_at.isoformat() if rec.completed_at else None,
        readers=readers,
        flow=flow_json(inst, subject, viewer),
        actions=acts["actions"],
        acting_for=acts["acting_for"],
        document_url=f"/documents/{rec.document_id}",
        docx_url=f"/api/v1/documents/{rec.document_id}/docx",
    )
    return data
