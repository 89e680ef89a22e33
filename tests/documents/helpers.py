"""Helpers the document tests share: walking a document along the default 发文 flow, reading
each person's to-dos for one document, and the audit trail."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from sqlalchemy import select

from office.audit.models import AuditEvent
from office.extensions import db
from tests.conftest import PASSWORD

#: Who does what at each step of the shipped outgoing flow (docorg people).
OUTGOING_SCRIPT: dict[str, tuple[str, str, dict[str, Any]]] = {
    "draft": ("zhangsan", "submit", {"opinion": "请审核"}),
    "dept_review": ("divhead", "submit", {"opinion": "同意"}),
    "office_review": ("clerk", "submit", {"opinion": "核稿无误"}),
    "countersign": ("", "submit", {"opinion": "会签同意"}),
    "sign_off": ("general", "submit", {"opinion": "同意印发"}),
    "recheck": ("clerk", "submit", {"opinion": "复核无误"}),
    "number": ("clerk", "number", {}),
    "seal": ("sealkeeper", "seal", {"password": PASSWORD}),
    "distribute": ("clerk", "distribute", {}),
    "archive": ("clerk", "archive", {}),
}


def create(api, payload: dict[str, Any], who: str = "zhangsan") -> dict[str, Any]:
    return api.ok(api.post(who, "/api/v1/documents", payload), 201)


def doc(api, did: int, who: str = "zhangsan") -> dict[str, Any]:
    return api.ok(api.get(who, f"/api/v1/documents/{did}"))


def act(api, who: str, did: int, action: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    return api.ok(api.post(who, f"/api/v1/documents/{did}/{action}", body or {}))


def advance(api, did: int, until: str | None, viewer: str = "clerk") -> dict[str, Any]:
    """Walk the document along the default script until the flow stands at ``until`` (None: to
    the end), through the services in one transaction: set-up, quicker than the API (the API
    path is what test_outgoing walks step by step). Returns the document as ``viewer`` sees it."""
    walk(api.client.application, did, until)
    current = doc(api, did, viewer)
    assert current["flow"]["step"] == until, current["flow"]
    return current


def walk(app, did: int, until: str | None) -> None:
    """Act along :data:`OUTGOING_SCRIPT` through the services, in one transaction."""
    from documents import services
    from documents.models import Document
    from office.context import Actor
    from office.identity.models import User
    from office.workflow import services as flow

    with app.app_context():
        for _ in range(20):
            inst = services.instance_of(db.session.get(Document, did))
            if inst.current_step == until or inst.current_step is None:
                break
            who, action, body = OUTGOING_SCRIPT[inst.current_step]
            if who:
                people = [db.session.scalar(select(User).where(User.username == who))]
            else:  # countersign: everyone still open signs
                people = [db.session.get(User, h["id"]) for h in flow.current_handlers(inst)]
            for user in people:
                services.act(Actor(user=user), did, action, body)
        db.session.commit()


def todos(api, who: str, *, source: tuple[str, int] | None = None, **query: Any) -> list[dict[str, Any]]:
    """The person's to-do list from the API (pending 待办 by default), optionally for one source."""
    params = {"per_page": 100, **query}
    items = api.ok(api.get(who, "/api/v1/todos", query_string=params))["items"]
    if source is not None:
        items = [t for t in items if (t["source"]["type"], t["source"]["id"]) == source]
    return items


def doc_todos(api, who: str, did: int, **query: Any) -> list[dict[str, Any]]:
    return todos(api, who, source=("document", did), **query)


def audit(app, action: str | None = None, prefix: str | None = None) -> list[AuditEvent]:
    with app.app_context():
        stmt = select(AuditEvent).order_by(AuditEvent.seq)
        if action:
            stmt = stmt.where(AuditEvent.action == action)
        if prefix:
            stmt = stmt.where(AuditEvent.action.like(f"{prefix}%"))
        events = list(db.session.scalars(stmt))
        db.session.expunge_all()
        return events


def docx_bytes(paragraphs: list[str]) -> bytes:
    """A minimal valid .docx with these paragraphs (python-docx)."""
    from docx import Document as Docx

    d = Docx()
    for p in paragraphs:
        d.add_paragraph(p)
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n) for n in z.namelist()}


def docx_text(data: bytes) -> str:
    """All the text of a .docx body (runs joined), to check what a rendered file says."""
    import re

    xml = unzip(data)["word/document.xml"].decode()
    return "".join(re.findall(r"<w:t(?: [^>]*)?>([^<]*)</w:t>", xml))


def run_outgoing(app, docorg, payload: dict[str, Any], until: str | None = "archive") -> int:
    """Draft a document through the service and walk it to ``until`` (see :func:`walk`)."""
    from documents import services
    from office.context import Actor
    from office.identity.models import User

    with app.app_context():
        urgency = {"normal": 0, "urgent": 1, "very_urgent": 2}[payload.get("urgency", "normal")]
        staff = db.session.get(User, docorg["people"]["staff"].id)
        did = services.create_document(Actor(user=staff), {**payload, "urgency": urgency}).id
        db.session.commit()
    walk(app, did, until)
    return did
