"""Seals, their keys and certificates, seal-use requests and signed opinions.

Private keys are stored only encrypted under ``OFFICE_MASTER_KEY`` (see ``seals.pki``); the
database alone cannot sign anything.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from office.db import Base, UTCDateTime, str_enum, utcnow
from office.identity.models import Unit, User


class SealKind(enum.StrEnum):
    OFFICIAL = "official"  #: 公章 (the unit's seal on its official documents)
    DEPARTMENT = "department"  #: 部门章
    CONTRACT = "contract"  #: 合同专用章
    FINANCE = "finance"  #: 财务专用章


KIND_LABELS = {
    SealKind.OFFICIAL: "公章",
    SealKind.DEPARTMENT: "部门章",
    SealKind.CONTRACT: "合同专用章",
    SealKind.FINANCE: "财务专用章",
}


class SealStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"  #: 暂停: may be resumed
    REVOKED = "revoked"  #: 注销: final; its certificate is on the CRL


STATUS_LABELS = {SealStatus.ACTIVE: "启用", SealStatus.SUSPENDED: "暂停", SealStatus.REVOKED: "注销"}


class RequestStatus(enum.StrEnum):
    PENDING = "pending"
    AGREED = "agreed"  #: approved by its keeper, waiting for the other issuing units' seals
    APPROVED = "approved"  #: approved and applied: the sealed file and signature exist
    REJECTED = "rejected"
    CANCELLED = "cancelled"  #: the document left the 用印 step another way (send-back, recall)


REQUEST_LABELS = {
    RequestStatus.PENDING: "待审批",
    RequestStatus.AGREED: "已同意，待联合发文单位用印",
    RequestStatus.APPROVED: "已用印",
    RequestStatus.REJECTED: "已驳回",
    RequestStatus.CANCELLED: "已取消",
}


class Authority(Base):
    """The platform root certificate authority: one row, made at ``init`` (or first use)."""

    __tablename__ = "pki_authority"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cert_pem: Mapped[str] = mapped_column(Text)
    #: PKCS#8 key encrypted under the master key.
    key_enc: Mapped[bytes] = mapped_column(LargeBinary)
    #: Serial numbers of end-entity certificates are drawn from this counter (never reused).
    next_serial: Mapped[int] = mapped_column(Integer, default=2)
    #: Bumped by every revocation: the published CRL is re-signed when it changes.
    revocations: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Seal(Base):
    """One unit seal: a key pair, a certificate naming the unit, an image, and its keepers."""

    __tablename__ = "seals"
    __table_args__ = (
        #: One live seal per unit, kind and name; a revoked one may be replaced.
        Index(
            "uq_seals_live",
            "unit_id",
            "kind",
            "name",
            unique=True,
            sqlite_where=text("status != 'revoked'"),
            postgresql_where=text("status != 'revoked'"),
        ),
        CheckConstraint("(status = 'revoked') = (revoked_at IS NOT NULL)", name="revoked_at_iff_revoked"),
        CheckConstraint("status = 'active' OR status_reason IS NOT NULL", name="reason_when_not_active"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    kind: Mapped[SealKind] = mapped_column(str_enum(SealKind, "seal_kind", 12))
    #: As carved on the seal: the unit's full name (along the arc).
    name: Mapped[str] = mapped_column(String(60))
    #: The words under the star (合同专用章 ...); none for a 公章.
    label: Mapped[str | None] = mapped_column(String(12))
    status: Mapped[SealStatus] = mapped_column(
        str_enum(SealStatus, "seal_status", 10), default=SealStatus.ACTIVE
    )
    status_reason: Mapped[str | None] = mapped_column(String(200))
    #: PNG on a transparent background (generated, or uploaded by the unit admin).
    image: Mapped[bytes] = mapped_column(LargeBinary)
    key_enc: Mapped[bytes] = mapped_column(LargeBinary)
    cert_pem: Mapped[str] = mapped_column(Text)
    cert_serial: Mapped[int] = mapped_column(Integer, unique=True)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime)
    not_after: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    unit: Mapped[Unit] = relationship(lazy="joined")
    keepers: Mapped[list[SealKeeper]] = relationship(
        back_populates="seal", cascade="all, delete-orphan", order_by="SealKeeper.user_id"
    )

    @property
    def kind_label(self) -> str:
        return KIND_LABELS[self.kind]


class SealKeeper(Base):
    """印章管理员: who may approve this seal's use."""

    __tablename__ = "seal_keepers"

    seal_id: Mapped[int] = mapped_column(ForeignKey("seals.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )

    seal: Mapped[Seal] = relationship(back_populates="keepers")
    user: Mapped[User] = relationship(lazy="joined")


class PersonalCert(Base):
    """A signing leader's key pair and certificate (made at their first signed opinion)."""

    __tablename__ = "personal_certs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    key_enc: Mapped[bytes] = mapped_column(LargeBinary)
    cert_pem: Mapped[str] = mapped_column(Text)
    cert_serial: Mapped[int] = mapped_column(Integer, unique=True)
    not_after: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(lazy="joined")


class SealRequest(Base):
    """用印申请 and, once approved, the use itself: what was sealed, its hash and signature."""

    __tablename__ = "seal_requests"
    __table_args__ = (
        Index(
            "uq_seal_requests_one_pending",
            "seal_id",
            "subject_type",
            "subject_id",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_seal_requests_subject", "subject_type", "subject_id"),
        Index("ix_seal_requests_sha256", "sha256"),
        CheckConstraint(
            "status != 'approved' OR (sha256 IS NOT NULL AND signature IS NOT NULL "
            "AND decided_by_id IS NOT NULL)",
            name="approved_has_signature",
        ),
        CheckConstraint("status != 'rejected' OR reason IS NOT NULL", name="rejected_has_reason"),
        CheckConstraint("status != 'agreed' OR decided_by_id IS NOT NULL", name="agreed_has_approver"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seal_id: Mapped[int] = mapped_column(ForeignKey("seals.id", ondelete="RESTRICT"), index=True)
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[int] = mapped_column(Integer)
    #: What the keeper sees in the list (the document's title and number).
    title: Mapped[str] = mapped_column(String(300))
    #: The document version being sealed.
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[RequestStatus] = mapped_column(
        str_enum(RequestStatus, "seal_request_status", 10), default=RequestStatus.PENDING
    )
    requester_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(String(500))
    #: The sealed file (stored) and the SHA-256 of its bytes, which the signature covers.
    file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_files.id", ondelete="RESTRICT"))
    sha256: Mapped[str | None] = mapped_column(String(64))
    #: Detached CMS (DER) over the sealed file.
    signature: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    seal: Mapped[Seal] = relationship(lazy="joined")
    requester: Mapped[User | None] = relationship(foreign_keys=[requester_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])


class OpinionSignature(Base):
    """A leader's signature over an opinion (签发, 批示) bound to the document version's hash."""

    __tablename__ = "opinion_signatures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: The flow action that carries the opinion.
    action_id: Mapped[int] = mapped_column(ForeignKey("flow_actions.id", ondelete="CASCADE"), unique=True)
    cert_id: Mapped[int] = mapped_column(ForeignKey("personal_certs.id", ondelete="RESTRICT"))
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[int] = mapped_column(Integer)
    #: The exact bytes signed (canonical JSON: subject, version hash, opinion, signer, time).
    payload: Mapped[str] = mapped_column(Text)
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    cert: Mapped[PersonalCert] = relationship(lazy="joined")
