"""Official documents (公文): the outgoing document with its GB/T 9704 elements, its versions
and attachments, the number register, and the incoming records created at each recipient."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from office.db import Base, UTCDateTime, str_enum, utcnow
from office.identity.models import Unit, User


class DocType(enum.StrEnum):
    """The 15 types of the 党政机关公文处理工作条例 (art. 8)."""

    RESOLUTION = "resolution"  #: 决议
    DECISION = "decision"  #: 决定
    ORDER = "order"  #: 命令（令）
    COMMUNIQUE = "communique"  #: 公报
    ANNOUNCEMENT = "announcement"  #: 公告
    PUBLIC_NOTICE = "public_notice"  #: 通告
    OPINION = "opinion"  #: 意见
    NOTICE = "notice"  #: 通知
    CIRCULAR = "circular"  #: 通报
    REPORT = "report"  #: 报告
    REQUEST = "request"  #: 请示
    REPLY = "reply"  #: 批复
    MOTION = "motion"  #: 议案
    LETTER = "letter"  #: 函
    MINUTES = "minutes"  #: 纪要


DOC_TYPE_LABELS = {
    DocType.RESOLUTION: "决议",
    DocType.DECISION: "决定",
    DocType.ORDER: "命令（令）",
    DocType.COMMUNIQUE: "公报",
    DocType.ANNOUNCEMENT: "公告",
    DocType.PUBLIC_NOTICE: "通告",
    DocType.OPINION: "意见",
    DocType.NOTICE: "通知",
    DocType.CIRCULAR: "通报",
    DocType.REPORT: "报告",
    DocType.REQUEST: "请示",
    DocType.REPLY: "批复",
    DocType.MOTION: "议案",
    DocType.LETTER: "函",
    DocType.MINUTES: "纪要",
}


class Direction(enum.StrEnum):
    UP = "up"  #: 上行文 (to a higher organ): 签发人 required
    PARALLEL = "parallel"  #: 平行文
    DOWN = "down"  #: 下行文


DIRECTION_LABELS = {Direction.UP: "上行文", Direction.PARALLEL: "平行文", Direction.DOWN: "下行文"}


class SecretLevel(enum.StrEnum):
    NONE = "none"  #: 非密
    INTERNAL = "internal"  #: 内部: only those the flow involves may read it
    SECRET = "secret"  #: 秘密
    CONFIDENTIAL = "confidential"  #: 机密
    TOP_SECRET = "top_secret"  #: 绝密


SECRET_LABELS = {
    SecretLevel.NONE: "",
    SecretLevel.INTERNAL: "内部",
    SecretLevel.SECRET: "秘密",
    SecretLevel.CONFIDENTIAL: "机密",
    SecretLevel.TOP_SECRET: "绝密",
}


class DocStatus(enum.StrEnum):
    DRAFTING = "drafting"  #: 拟稿、审核、会签中
    APPROVED = "approved"  #: 已签发
    NUMBERED = "numbered"  #: 已编号
    SEALED = "sealed"  #: 已用印 (frozen from here on)
    DISTRIBUTED = "distributed"  #: 已分发
    ARCHIVED = "archived"  #: 已归档 (read-only)
    WITHDRAWN = "withdrawn"  #: 已撤销


STATUS_LABELS = {
    DocStatus.DRAFTING: "办理中",
    DocStatus.APPROVED: "已签发",
    DocStatus.NUMBERED: "已编号",
    DocStatus.SEALED: "已用印",
    DocStatus.DISTRIBUTED: "已分发",
    DocStatus.ARCHIVED: "已归档",
    DocStatus.WITHDRAWN: "已撤销",
}


class Document(Base):
    """An outgoing document (发文) from draft to archive."""

    __tablename__ = "documents"
    __table_args__ = (
        CheckConstraint("urgency BETWEEN 0 AND 2", name="urgency_range"),
        CheckConstraint("length(title) > 0", name="title_nonempty"),
        CheckConstraint("(doc_number IS NULL) = (serial IS NULL)", name="number_iff_serial"),
        CheckConstraint("(status = 'archived') = (archived_at IS NOT NULL)", name="archived_iff_at"),
        Index("ix_documents_issuer_status", "issuer_unit_id", "status"),
        Index("ix_documents_drafter_id", "drafter_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    doc_type: Mapped[DocType] = mapped_column(str_enum(DocType, "doc_type", 20))
    direction: Mapped[Direction] = mapped_column(str_enum(Direction, "doc_direction", 10))
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[DocStatus] = mapped_column(
        str_enum(DocStatus, "doc_status", 12), default=DocStatus.DRAFTING
    )
    #: The issuing organ (发文机关): its 机关代字, counter, clerks, leaders and seal apply.
    issuer_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"))
    #: Co-issuers of a joint document (联合行文), in printed order after the issuer.
    joint_unit_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    drafter_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    #: The post's unit the drafter drafted in (their division: its head reviews first).
    drafter_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    #: 发文机关标志 as printed (default: issuer names + 文件).
    issuer_mark: Mapped[str] = mapped_column(String(200), default="")
    #: 机关代字 used for numbering (default: the issuer's short name).
    doc_code: Mapped[str] = mapped_column(String(20))
    #: Year and serial of the 发文字号 once numbered.
    year: Mapped[int | None] = mapped_column(Integer)
    serial: Mapped[int | None] = mapped_column(Integer)
    #: 发文字号, e.g. 示政办〔2026〕12号; unique across the system.
    doc_number: Mapped[str | None] = mapped_column(String(60), unique=True)
    #: 份号 (six digits), for classified documents.
    copy_no: Mapped[str | None] = mapped_column(String(6))
    secret_level: Mapped[SecretLevel] = mapped_column(
        str_enum(SecretLevel, "secret_level", 12), default=SecretLevel.NONE
    )
    #: 保密期限 ("1年").
    secret_period: Mapped[str] = mapped_column(String(20), default="")
    #: 紧急程度: 0 平件, 1 加急, 2 特急 (the to-do urgency scale).
    urgency: Mapped[int] = mapped_column(SmallInteger, default=0)
    #: 签发人: the leaders who sign off (required for 上行文); names printed.
    signer_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    #: 主送机关 and 抄送机关: unit ids (each gets an incoming record on distribution).
    main_unit_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    cc_unit_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    #: 主送 as printed (defaults to the units' names joined with 、).
    main_text: Mapped[str] = mapped_column(String(500), default="")
    cc_text: Mapped[str] = mapped_column(String(500), default="")
    #: 正文 as blocks (see documents.content).
    body: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    #: 发文机关署名 as printed (default: issuer names).
    signature: Mapped[str] = mapped_column(String(200), default="")
    #: 成文日期: the sign-off date.
    written_date: Mapped[date | None] = mapped_column(Date)
    #: 附注.
    note: Mapped[str] = mapped_column(String(200), default="")
    #: 印发机关 (default: the issuer's office) and 印发日期 (set at sealing).
    printer: Mapped[str] = mapped_column(String(100), default="")
    print_date: Mapped[date | None] = mapped_column(Date)
    #: Current version number (each saved edit is one).
    version: Mapped[int] = mapped_column(Integer, default=1)
    #: Sealed: any change now needs a new version and a new sealing.
    frozen: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The final .docx fixed at sealing, and the archive package.
    final_file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_files.id", ondelete="SET NULL"))
    archive_file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_files.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    issuer_unit: Mapped[Unit] = relationship(foreign_keys=[issuer_unit_id], lazy="joined")
    drafter: Mapped[User] = relationship(foreign_keys=[drafter_id], lazy="joined")
    drafter_unit: Mapped[Unit] = relationship(foreign_keys=[drafter_unit_id])
    final_file = relationship("StoredFile", foreign_keys=[final_file_id])
    archive_file = relationship("StoredFile", foreign_keys=[archive_file_id])
    attachments: Mapped[list[DocumentAttachment]] = relationship(
        back_populates="document", order_by="DocumentAttachment.sort", cascade="all, delete-orphan"
    )
    versions: Mapped[list[DocumentVersion]] = relationship(
        back_populates="document", order_by="DocumentVersion.number", cascade="all, delete-orphan"
    )
    incoming: Mapped[list[IncomingDocument]] = relationship(
        back_populates="document", order_by="IncomingDocument.id"
    )


class DocumentVersion(Base):
    """A saved state of the editable elements (痕迹保留: compare any two)."""

    __tablename__ = "document_versions"
    __table_args__ = (
        UniqueConstraint("document_id", "number"),
        CheckConstraint("number >= 1", name="number_pos"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    #: The editable elements at this version (title, body text, recipients ...).
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: SHA-256 of the canonical snapshot JSON (binds opinions and seals to a version).
    sha256: Mapped[str] = mapped_column(String(64))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    author_name: Mapped[str] = mapped_column(String(50))
    #: The flow step it was saved in, and an optional note ("核稿修改").
    step: Mapped[str] = mapped_column(String(40), default="")
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    document: Mapped[Document] = relationship(back_populates="versions")


class DocumentAttachment(Base):
    __tablename__ = "document_attachments"
    __table_args__ = (UniqueConstraint("document_id", "sort"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    file_id: Mapped[int] = mapped_column(ForeignKey("stored_files.id", ondelete="RESTRICT"))
    #: 附件名称 as listed in 附件说明.
    title: Mapped[str] = mapped_column(String(200))
    sort: Mapped[int] = mapped_column(Integer)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    document: Mapped[Document] = relationship(back_populates="attachments")
    file = relationship("StoredFile", lazy="joined")


class NumberCounter(Base):
    """The last serial per (unit, 机关代字, year). Incremented under a row lock, never reset:
    numbers are never duplicated or reused."""

    __tablename__ = "doc_number_counters"
    __table_args__ = (CheckConstraint("last_serial >= 0", name="serial_nonneg"),)

    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), primary_key=True)
    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_serial: Mapped[int] = mapped_column(Integer, default=0)


class NumberStatus(enum.StrEnum):
    USED = "used"
    CANCELLED = "cancelled"  #: 作废: recorded with a reason, never given out again


class IssuedNumber(Base):
    """The number register (文号登记簿): every number given out, and its fate."""

    __tablename__ = "doc_numbers"
    __table_args__ = (
        UniqueConstraint("unit_id", "code", "year", "serial"),
        CheckConstraint("serial >= 1", name="serial_pos"),
        CheckConstraint("(status = 'cancelled') = (cancelled_at IS NOT NULL)", name="cancelled_iff_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"))
    code: Mapped[str] = mapped_column(String(20))
    year: Mapped[int] = mapped_column(Integer)
    serial: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(60), unique=True)
    #: Outgoing document (发文) or incoming record (收文) it was given to.
    document_id: Mapped[int | None] = mapped_column(
        ForeignKey("documents.id", ondelete="SET NULL"), index=True
    )
    incoming_id: Mapped[int | None] = mapped_column(ForeignKey("incoming_documents.id", ondelete="SET NULL"))
    status: Mapped[NumberStatus] = mapped_column(
        str_enum(NumberStatus, "number_status", 10), default=NumberStatus.USED
    )
    cancelled_reason: Mapped[str] = mapped_column(String(200), default="")
    cancelled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IncomingStatus(enum.StrEnum):
    PENDING = "pending"  #: 待签收
    SIGNED = "signed"  #: 已签收
    REGISTERED = "registered"  #: 已登记 (拟办、批办、承办、传阅中)
    DONE = "done"  #: 已办结
    ARCHIVED = "archived"  #: 已归档
    REFUSED = "refused"  #: 已退文


INCOMING_LABELS = {
    IncomingStatus.PENDING: "待签收",
    IncomingStatus.SIGNED: "已签收",
    IncomingStatus.REGISTERED: "办理中",
    IncomingStatus.DONE: "已办结",
    IncomingStatus.ARCHIVED: "已归档",
    IncomingStatus.REFUSED: "已退文",
}


class IncomingDocument(Base):
    """收文: a distributed document as one recipient unit receives and handles it."""

    __tablename__ = "incoming_documents"
    __table_args__ = (
        UniqueConstraint("document_id", "unit_id"),
        CheckConstraint("role IN ('main', 'cc')", name="role_valid"),
        CheckConstraint("(status = 'refused') = (refused_at IS NOT NULL)", name="refused_iff_at"),
        CheckConstraint(
            "status = 'pending' OR status = 'refused' OR signed_at IS NOT NULL", name="signed_before_on"
        ),
        Index("ix_incoming_documents_unit_status", "unit_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="RESTRICT"))
    #: The recipient unit.
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"))
    #: ``main`` (主送) or ``cc`` (抄送).
    role: Mapped[str] = mapped_column(String(4))
    status: Mapped[IncomingStatus] = mapped_column(
        str_enum(IncomingStatus, "incoming_status", 12), default=IncomingStatus.PENDING
    )
    signed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refused_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    refused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refused_reason: Mapped[str] = mapped_column(String(500), default="")
    #: 收文编号, from the unit's own counter.
    incoming_no: Mapped[str | None] = mapped_column(String(40))
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: 批示: the leader's instruction (latest).
    instruction: Mapped[str] = mapped_column(Text, default="")
    #: 承办: lead handler, co-handlers and the deadline.
    lead_handler_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    co_handler_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    deadline: Mapped[date | None] = mapped_column(Date)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    document: Mapped[Document] = relationship(back_populates="incoming", lazy="joined")
    unit: Mapped[Unit] = relationship(lazy="joined")
    signed_by: Mapped[User | None] = relationship(foreign_keys=[signed_by_id])
    refused_by: Mapped[User | None] = relationship(foreign_keys=[refused_by_id])
    lead_handler: Mapped[User | None] = relationship(foreign_keys=[lead_handler_id])
