"""Who may read which document, as SQL the database evaluates (lists, search, downloads).

A person may read an outgoing document if they drafted it or had a part in its flow (or act
for someone who did); if it is not 内部 or classified and was drafted in one of their units;
if they are the issuing unit's clerk, leader, admin or seal keeper; or, once distributed, if
they are such a person at a recipient unit or had a part in the recipient's handling
(including 传阅 readers). Everyone else gets 404.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, or_, select, true

from documents.models import Document, IncomingDocument, SecretLevel
from office.db import among
from office.identity import services as identity
from office.identity.access import is_admin
from office.identity.models import Role, User
from office.todos.models import Todo
from office.workflow.models import FlowInstance
from office.workflow.services import participant_subjects

#: Roles that see everything of their unit's documents.
OFFICE_ROLES = {Role.CLERK.value, Role.LEADER.value, Role.UNIT_ADMIN.value, Role.SEAL_KEEPER.value}


def _people(user: User) -> list[int]:
    return [user.id, *(p.id for p in identity.principals_of(user))]


def office_unit_ids(user: User) -> list[int]:
    """Units where this person holds an office role (and so sees all the unit's documents)."""
    return sorted({p.unit_id for p in user.posts if OFFICE_ROLES & set(p.role_codes)})


def readable_incoming_clause(user: User) -> ColumnElement[bool]:
    if is_admin(user):
        return true()
    people = _people(user)
    read_todos = select(Todo.source_id).where(Todo.source_type == "incoming", Todo.user_id.in_(people))
    return or_(
        IncomingDocument.unit_id.in_(office_unit_ids(user)),
        IncomingDocument.id.in_(participant_subjects(people, "incoming")),
        IncomingDocument.id.in_(read_todos),
    )


def readable_documents_clause(user: User, within: list[int] | None = None) -> ColumnElement[bool]:
    """``within``: the ids the caller filters on anyway (search candidates). The subqueries
    are narrowed to them, so the database looks up those documents' flows and incoming
    copies instead of every one the person ever touched."""
    if is_admin(user):
        return true()
    people = _people(user)
    offices = office_unit_ids(user)
    my_units = sorted({p.unit_id for p in user.posts})
    received = select(IncomingDocument.document_id).where(readable_incoming_clause(user))
    took_part = participant_subjects(people, "document")
    if within is not None:
        received = received.where(among(IncomingDocument.document_id, within))
        took_part = took_part.where(among(FlowInstance.subject_id, within))
    return or_(
        Document.drafter_id.in_(people),
        Document.id.in_(took_part),
        and_(Document.secret_level == SecretLevel.NONE, Document.drafter_unit_id.in_(my_units)),
        Document.issuer_unit_id.in_(offices),
        Document.id.in_(received),
    )
