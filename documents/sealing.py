"""The 用印 step's link to the seals package, and leaders' signed opinions.

Documents opens one seal-use request per issuing unit when its flow reaches 用印; a keeper's
approval (here or in 印章管理) renders the final .docx with every seal, the seals sign it,
and the flow moves on to 分发. Rejection sends the document back with the keeper's reason.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from documents.models import Document, DocumentVersion
from office.context import Actor
from office.errors import NotFound, ServiceError
from office.extensions import db
from office.identity.models import User
from office.workflow import services as flow
from office.workflow.models import FlowInstance
from seals import services as seals
from seals.models import RequestStatus

SUBJECT = "document"


def issuing_units(doc: Document) -> list[int]:
    return list(dict.fromkeys([doc.issuer_unit_id, *doc.joint_unit_ids]))


def request_title(doc: Document) -> str:
    return f"{doc.doc_number}　{doc.title}" if doc.doc_number else doc.title


def open_for(actor: Actor, doc: Document, *, strict: bool) -> None:
    """Requests for the issuing units' seals. Not strict when the flow merely arrives at 用印
    (a unit without a seal finds out when its keeper acts, with the reason)."""
    try:
        seals.open_requests(
            actor, SUBJECT, doc.id, unit_ids=issuing_units(doc), version=doc.version, title=request_title(doc)
        )
    except ServiceError as exc:
        if strict or exc.code != "no_seal":
            raise


def after_move(actor: Actor, doc: Document, inst: FlowInstance, step_before: str | None) -> None:
    """Keep requests in line with the flow: arriving at 用印 opens them, leaving it any other
    way than sealing (退回, 撤回, 撤销) cancels the open ones."""
    now = inst.current_step
    if now == "seal" and step_before != "seal":
        open_for(actor, doc, strict=False)
    elif step_before == "seal" and now != "seal":
        seals.cancel_requests(actor, SUBJECT, doc.id, reason="公文已离开用印环节")


def seal_action(actor: Actor, me: User, doc: Document, inst: FlowInstance, payload: dict[str, Any]) -> dict:
    """用印 by a keeper, with a second factor (password, or TOTP code when they use one)."""
    if inst.current_step != "seal":
        raise ServiceError("not_your_turn", "当前不是用印环节", 409)
    if not doc.doc_number:
        raise ServiceError("not_numbered", "公文尚未编号，不能用印", 409)
    req = seals.my_pending_request(me, SUBJECT, doc.id)
    if req is None and not any(r.status is RequestStatus.PENDING for r in seals.requests_of(SUBJECT, doc.id)):
        open_for(actor, doc, strict=True)  # e.g. the seal was created after the flow arrived
        req = seals.my_pending_request(me, SUBJECT, doc.id)
    if req is None:
        raise ServiceError("not_your_turn", "您不是本公文发文单位印章的印章管理员，或已审批", 409)
    done = seals.approve(
        actor,
        req.id,
        password=payload.get("password"),
        otp=payload.get("otp"),
        opinion=str(payload.get("opinion") or "").strip(),
    )
    return {
        "action": "seal",
        "step_before": "seal",
        "step_after": inst.current_step,
        "finished": False,
        "seal_request": done.id,
        "seal_status": done.status.value,
        "sha256": done.sha256,
    }


def reject_action(actor: Actor, me: User, doc: Document, inst: FlowInstance, payload: dict[str, Any]) -> dict:
    req = seals.my_pending_request(me, SUBJECT, doc.id) if inst.current_step == "seal" else None
    if req is None:
        raise ServiceError("not_your_turn", "当前没有待您审批的用印申请", 409)
    seals.reject(actor, req.id, str(payload.get("opinion") or payload.get("reason") or ""))
    return {
        "action": "reject_seal",
        "step_before": "seal",
        "step_after": inst.current_step,
        "finished": False,
    }


# ---------------------------------------------------------------- callbacks from seals


def _doc_and_flow(doc_id: int) -> tuple[Document, FlowInstance]:
    from documents.services import _locked_instance

    doc = db.session.get(Document, doc_id)
    if doc is None:
        raise NotFound("公文不存在或无权访问")
    return doc, _locked_instance(SUBJECT, doc_id)


def _lock(doc_id: int) -> None:
    _doc_and_flow(doc_id)


def _render(doc_id: int, images: list[bytes]) -> tuple[bytes, str]:
    from documents.render import render_docx
    from documents.services import content_of, today

    doc = db.session.get(Document, doc_id)
    doc.print_date = today()
    return render_docx(content_of(doc, seals=images)), f"{doc.doc_number or doc.title}.docx"


def _preview(doc_id: int) -> str:
    """The 红头 preview of the version to be sealed, for the keeper's approval screen (drawn
    inline: the site's security policy forbids framing its own pages)."""
    from flask import render_template

    from documents.services import content_of

    return render_template("documents/_redhead.html", content=content_of(db.session.get(Document, doc_id)))


def _on_sealed(actor: Actor, doc_id: int, stored: Any, opinion: str) -> None:
    from documents.services import _sync_status, subject_of

    doc, inst = _doc_and_flow(doc_id)
    doc.final_file_id = stored.id
    doc.frozen = True
    flow.submit(
        actor,
        inst,
        subject_of(doc),
        opinion=opinion,
        step_key="seal",
        log_as="seal",
        details={"version": doc.version, "sha256": stored.sha256},
    )
    _sync_status(doc, inst, actor.user)


def _on_partial(actor: Actor, doc_id: int, keeper_ids: list[int], opinion: str) -> None:
    from documents.services import subject_of

    doc, inst = _doc_and_flow(doc_id)
    flow.close_part(actor, inst, subject_of(doc), keeper_ids, log_as="seal_agree", opinion=opinion)


def _on_rejected(actor: Actor, doc_id: int, reason: str) -> None:
    from documents.services import _sync_status, subject_of

    doc, inst = _doc_and_flow(doc_id)
    flow.send_back(actor, inst, subject_of(doc), opinion=f"驳回用印：{reason}")
    _sync_status(doc, inst, actor.user)


seals.sealable(
    SUBJECT,
    seals.Sealable(
        lock=_lock,
        render=_render,
        on_sealed=_on_sealed,
        on_partial=_on_partial,
        on_rejected=_on_rejected,
        url=lambda doc_id: f"/documents/{doc_id}",
        preview=_preview,
    ),
)


# ---------------------------------------------------------------- signed opinions


def version_hash(doc: Document) -> str:
    """The hash an opinion is bound to: the sealed file once there is one, else the version."""
    if doc.final_file is not None:
        return doc.final_file.sha256
    return db.session.scalar(
        select(DocumentVersion.sha256).where(
            DocumentVersion.document_id == doc.id, DocumentVersion.number == doc.version
        )
    )


def sign(me: User, doc: Document, out: flow.Outcome, kind: str, subject: tuple[str, int]) -> None:
    """签发 / 批示: signed with the leader's own key (the secretary's hand is in the flow record;
    the key is the person the opinion is from)."""
    signer = out.acting_for or me
    seals.sign_opinion(
        signer,
        action_id=out.action.id,
        subject_type=subject[0],
        subject_id=subject[1],
        version_sha256=version_hash(doc),
        opinion=out.action.opinion,
        kind=kind,
    )


def opinion_checks(subject_type: str, subject_id: int, inst: FlowInstance | None, doc: Document) -> dict:
    """Signed opinions of a flow, each checked against what the page shows now."""
    if inst is None:
        return {}

    def shown() -> dict[int, tuple[str, str | None]]:
        versions = dict(
            db.session.execute(
                select(DocumentVersion.number, DocumentVersion.sha256).where(
                    DocumentVersion.document_id == doc.id
                )
            ).all()
        )
        final = doc.final_file.sha256 if doc.final_file_id else None

        def hash_at(action: Any) -> str | None:
            # 签发 was given on the version then current; 批示 on the sealed file
            version = (action.details or {}).get("version")
            return final if version is None else versions.get(int(version))

        return {a.id: (a.opinion, hash_at(a)) for a in inst.actions}

    return seals.check_opinions(subject_type, subject_id, shown)


def sealed_uses(doc: Document) -> list[Any]:
    """The seals' uses whose signatures cover the document's final file (issuer first)."""
    return seals.sealed_uses(SUBJECT, doc.id, doc.final_file_id)
