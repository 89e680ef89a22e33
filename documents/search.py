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
from documents.content import Block, body_text
from documents.models import DOC_TYPE_LABELS, DocType, Document, DocumentAttachment, IncomingDocument
from documents.services import BEIJING
from office.db import among
from office.identity.models import Unit, User
from office.search import analysis
from office.search import services as search
from office.search.backend import IndexDoc
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


def load(s: Session, ids: list[int]) -> list[IndexDoc]:
    docs = list(
        s.scalars(
            select(Document)
            .where(Document.id.in_(ids))
            .options(selectinload(Document.attachments).selectinload(DocumentAttachment.file))
        )
    )
    if not docs:
        return []
    instructions: dict[int, list[str]] = {}
    for doc_id, text in s.execute(
        select(IncomingDocument.document_id, IncomingDocument.instruction).where(
            IncomingDocument.document_id.in_([d.id for d in docs]), IncomingDocument.instruction != ""
        )
    ):
        instructions.setdefault(doc_id, []).append(text)
    unit_ids = {i for d in docs for i in [*d.joint_unit_ids, *d.main_unit_ids, *d.cc_unit_ids]}
    names = dict(s.execute(select(Unit.id, Unit.name).where(Unit.id.in_(unit_ids))).all()) if unit_ids else {}
    m = search.mode()
    out = []
    for d in docs:
        title = f"{d.title} {d.doc_number or ''}"
        units = [d.issuer_unit.name, *(names.get(i, "") for i in d.joint_unit_ids)]
        recipients = [d.main_text, d.cc_text, *(names.get(i, "") for i in [*d.main_unit_ids, *d.cc_unit_ids])]
        attachments = [f"{a.title} {text_of(a.file)}" for a in sorted(d.attachments, key=lambda a: a.sort)]
        text = "\n".join(
            [
                _body(d),
                *attachments,
                *instructions.get(d.id, []),
                " ".join(units),
                " ".join(r for r in recipients if r),
                DOC_TYPE_LABELS[d.doc_type],
                d.issuer_mark,
                d.signature,
                d.note,
            ]
        )
        when = _date(d)
        out.append(
            IndexDoc(
                id=d.id,
                title=analysis.index_text(title, m),
                text=analysis.index_text(text, m),
                doc_type=d.doc_type.value,
                unit_id=d.issuer_unit_id,
                date=when,
                fingerprint=search.fingerprint(m, title, text, d.doc_type.value, d.issuer_unit_id, when),
            )
        )
    return out


def all_ids(s: Session) -> Iterator[list[int]]:
    last = 0
    while True:
        ids = list(
            s.scalars(select(Document.id).where(Document.id > last).order_by(Document.id).limit(search.BATCH))
        )
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
        load=load,
        all_ids=all_ids,
        readable=readable,
        by_number=by_number,
        shown=shown,
        types=types,
    )
)
