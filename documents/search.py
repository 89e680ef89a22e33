"""Documents as the search's source: what of a 公文 is indexed, who may read a hit, and
what a result shows. Registered with ``office.search`` at import (``office`` never imports
documents).

Indexed: title and document number (weighted), body text (tables included), attachment text
(.docx, .pdf, .txt), issuing and joint units, main and copy recipients, type, and the leaders'
instructions (批示) on its incoming copies. Readable: ``documents.access`` decides, in the
same query that gives the filters' facts.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from documents.access import readable_documents_clause
from documents.content import Block, body_text, body_text_of
from documents.models import DOC_TYPE_LABELS, DocType, Document, DocumentAttachment, IncomingDocument
from documents.services import BEIJING
from office.db import among
from office.identity.models import Unit, User
from office.search import services as search
from office.search.extract import text_of

#: The document's columns that feed its index entry (other changes, e.g. a flow step moving
#: its status, leave the entry as it is).
INDEXED_FIELDS = frozenset(
    {"title", "doc_number", "body", "doc_type", "issuer_unit_id", "joint_unit_ids", "main_unit_ids",
     "cc_unit_ids", "main_text", "cc_text", "written_date", "issuer_mark", "signature", "note"}
)  # fmt: skip


def _date(doc: Document) -> date:
    return doc.written_date or doc.created_at.astimezone(BEIJING).date()


def _body(doc: Document) -> str:
    return body_text([Block.from_json(b) for b in doc.body or []])


#: What a rebuild reads of a document: plain rows, not ORM objects (it reads every one).
_COLUMNS = (
    Document.id, Document.title, Document.doc_number, Document.body, Document.doc_type,
    Document.issuer_unit_id, Unit.name, Document.joint_unit_ids, Document.main_unit_ids,
    Document.cc_unit_ids, Document.main_text, Document.cc_text, Document.issuer_mark,
    Document.signature, Document.note, Document.written_date, Document.created_at,
)  # fmt: skip


def compose(s: Session, ids: list[int]) -> list[search.Entry]:
    rows = s.execute(
        select(*_COLUMNS).join(Unit, Unit.id == Document.issuer_unit_id).where(among(Document.id, ids))
    ).all()
    if not rows:
        return []
    found = [r.id for r in rows]
    attachments: dict[int, list[str]] = {}
    for a in s.scalars(
        select(DocumentAttachment)
        .where(among(DocumentAttachment.document_id, found))
        .options(selectinload(DocumentAttachment.file))
        .order_by(DocumentAttachment.document_id, DocumentAttachment.sort)
    ):
        attachments.setdefault(a.document_id, []).append(f"{a.title} {text_of(a.file)}")
    instructions: dict[int, list[str]] = {}
    for doc_id, text in s.execute(
        select(IncomingDocument.document_id, IncomingDocument.instruction).where(
            among(IncomingDocument.document_id, found), IncomingDocument.instruction != ""
        )
    ):
        instructions.setdefault(doc_id, []).append(text)
    unit_ids = {i for r in rows for i in [*r.joint_unit_ids, *r.main_unit_ids, *r.cc_unit_ids]}
    names = dict(s.execute(select(Unit.id, Unit.name).where(Unit.id.in_(unit_ids))).all()) if unit_ids else {}
    out = []
    for r in rows:
        units = [r.name, *(names.get(i, "") for i in r.joint_unit_ids)]
        recipients = [r.main_text, r.cc_text, *(names.get(i, "") for i in [*r.main_unit_ids, *r.cc_unit_ids])]
        text = "\n".join(
            [
                body_text_of(r.body),
                *attachments.get(r.id, []),
                *instructions.get(r.id, []),
                " ".join(units),
                " ".join(x for x in recipients if x),
                DOC_TYPE_LABELS[r.doc_type],
                r.issuer_mark,
                r.signature,
                r.note,
            ]
        )
        out.append(
            search.Entry(
                id=r.id,
                title=f"{r.title} {r.doc_number or ''}",
                text=text,
                doc_type=r.doc_type.value,
                unit_id=r.issuer_unit_id,
                date=r.written_date or r.created_at.astimezone(BEIJING).date(),
            )
        )
    return out


def all_ids(s: Session, size: int) -> Iterator[list[int]]:
    last = 0
    while True:
        ids = list(s.scalars(select(Document.id).where(Document.id > last).order_by(Document.id).limit(size)))
        if not ids:
            return
        yield ids
        last = ids[-1]


def readable(user: User, ids: list[int]) -> list[search.Row]:
    if not ids:
        return []
    from office.extensions import db

    rows = db.session.execute(
        select(
            Document.id,
            Document.doc_type,
            Document.issuer_unit_id,
            Unit.name,
            Document.written_date,
            Document.created_at,
        )
        .join(Unit, Unit.id == Document.issuer_unit_id)
        .where(among(Document.id, ids), readable_documents_clause(user, within=ids))
    )
    return [
        search.Row(
            id=r[0],
            doc_type=r[1].value,
            type_label=DOC_TYPE_LABELS[r[1]],
            unit_id=r[2],
            unit_name=r[3],
            date=r[4] or r[5].astimezone(BEIJING).date(),
        )
        for r in rows
    ]


def by_number(number: str) -> list[int]:
    from office.extensions import db

    return list(db.session.scalars(select(Document.id).where(Document.doc_number == number)))


def shown(ids: list[int]) -> dict[int, search.Shown]:
    from office.extensions import db

    docs = db.session.scalars(select(Document).where(among(Document.id, ids)))
    return {
        d.id: search.Shown(
            id=d.id,
            title=d.title,
            doc_number=d.doc_number,
            issuing_unit=d.issuer_unit.name,
            date=_date(d),
            doc_type=d.doc_type.value,
            type_label=DOC_TYPE_LABELS[d.doc_type],
            url=f"/documents/{d.id}",
            text=_body(d),
        )
        for d in docs
    }


def types() -> dict[str, str]:
    return {t.value: DOC_TYPE_LABELS[t] for t in DocType}


search.register(
    search.Source(
        name="document",
        watch={
            Document: (lambda d: d.id, INDEXED_FIELDS),
            DocumentAttachment: (lambda a: a.document_id, frozenset({"title", "file_id", "document_id"})),
            IncomingDocument: (lambda r: r.document_id, frozenset({"instruction"})),
        },
        removed=Document,
        compose=compose,
        all_ids=all_ids,
        readable=readable,
        by_number=by_number,
        shown=shown,
        types=types,
    )
)
