"""Flows as data: definitions (per unit, editable), running instances, work items, and the
action log that is the flow record (every opinion with name and time)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from office.db import Base, UTCDateTime, str_enum, utcnow
from office.identity.models import Unit, User


class StepMode(enum.StrEnum):
    SINGLE = "single"  #: one handler
    ANY = "any"  #: 抢办: any one of several; the first to act closes the others
    ALL = "all"  #: 会签: all in parallel
    SEQUENCE = "sequence"  #: one after another, in order


class InstanceStatus(enum.StrEnum):
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"


class ItemStatus(enum.StrEnum):
    WAITING = "waiting"  #: in a sequence, not yet this person's turn
    PENDING = "pending"  #: this person's turn
    DONE = "done"
    TRANSFERRED = "transferred"  #: handed to someone else (转办)
    CANCELLED = "cancelled"  #: closed by someone else's action (抢办, 退回, 撤回)


class FlowDefinition(Base):
    """A flow's steps as JSON. ``unit_id`` NULL is the shipped default; a unit admin may save
    a unit's own version, which then applies to flows that unit starts. Running instances keep
    the steps they started with (a snapshot), so an edit never changes a flow mid-way."""

    __tablename__ = "flow_definitions"
    __table_args__ = (
        UniqueConstraint("code", "unit_id"),
        Index(
            "uq_flow_definitions_default",
            "code",
            unique=True,
            sqlite_where=text("unit_id IS NULL"),
            postgresql_where=text("unit_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: Which flow: ``outgoing`` (发文), ``incoming`` (收文).
    code: Mapped[str] = mapped_column(String(40))
    #: The unit this version belongs to; NULL for the shipped default.
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    #: Steps in order: ``[{"key", "name", "mode", "handlers": [...], "optional", ...}]``.
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    #: Bumped on every save (shown in the editor, recorded in instances).
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    unit: Mapped[Unit | None] = relationship()


class FlowInstance(Base):
    """One run of a flow over one subject (a document, an incoming record)."""

    __tablename__ = "flow_instances"
    __table_args__ = (
        UniqueConstraint("subject_type", "subject_id"),
        CheckConstraint("(status = 'running') = (finished_at IS NULL)", name="finished_iff_closed"),
        CheckConstraint("(status = 'running') = (current_step IS NOT NULL)", name="step_iff_running"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40))
    #: The definition version it started from (for the record).
    definition_id: Mapped[int | None] = mapped_column(ForeignKey("flow_definitions.id", ondelete="SET NULL"))
    definition_version: Mapped[int] = mapped_column(Integer, default=1)
    #: The steps as they were when the flow started.
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[int] = mapped_column(Integer)
    #: The unit whose flow this is (its definition applies; its people resolve roles).
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    status: Mapped[InstanceStatus] = mapped_column(
        str_enum(InstanceStatus, "instance_status", 10), default=InstanceStatus.RUNNING
    )
    #: The step now being worked; NULL once finished.
    current_step: Mapped[str | None] = mapped_column(String(40))
    #: Each entry into a step gets a new round number, so to-do keys never collide
    #: when a flow returns to a step (``review#3``).
    round: Mapped[int] = mapped_column(Integer, default=0)
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    items: Mapped[list[WorkItem]] = relationship(
        back_populates="instance", order_by="WorkItem.id", cascade="all, delete-orphan"
    )
    actions: Mapped[list[FlowAction]] = relationship(
        back_populates="instance", order_by="FlowAction.id", cascade="all, delete-orphan"
    )

    def step(self, key: str | None) -> dict[str, Any] | None:
        return next((s for s in self.steps if s["key"] == key), None)

    def step_index(self, key: str | None) -> int:
        return next((i for i, s in enumerate(self.steps) if s["key"] == key), -1)


class WorkItem(Base):
    """One person's part in one entry of a step."""

    __tablename__ = "flow_work_items"
    __table_args__ = (
        UniqueConstraint("instance_id", "round", "assignee_id"),
        Index("ix_flow_work_items_assignee", "assignee_id", "status"),
        Index("ix_flow_work_items_instance_round", "instance_id", "round"),
        CheckConstraint(
            "(status IN ('waiting', 'pending')) = (closed_at IS NULL)", name="closed_at_iff_closed"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("flow_instances.id", ondelete="CASCADE"))
    step_key: Mapped[str] = mapped_column(String(40))
    round: Mapped[int] = mapped_column(Integer)
    #: Order within a sequence step (0 for parallel modes).
    seq: Mapped[int] = mapped_column(Integer, default=0)
    assignee_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[ItemStatus] = mapped_column(str_enum(ItemStatus, "item_status", 12))
    #: Added by 加签 (always required, even in an any-one step).
    added: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Who acted (may be a secretary or delegate acting for the assignee).
    acted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    instance: Mapped[FlowInstance] = relationship(back_populates="items")
    assignee: Mapped[User] = relationship(foreign_keys=[assignee_id], lazy="joined")


class FlowAction(Base):
    """The flow record: every action with its opinion (意见), who, for whom, and when."""

    __tablename__ = "flow_actions"
    __table_args__ = (Index("ix_flow_actions_instance_id", "instance_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("flow_instances.id", ondelete="CASCADE"))
    step_key: Mapped[str] = mapped_column(String(40))
    step_name: Mapped[str] = mapped_column(String(50))
    round: Mapped[int] = mapped_column(Integer)
    #: ``start``, ``submit``, ``return``, ``recall``, ``transfer``, ``add_handler``, or a
    #: module's own (``number``, ``distribute``, ``sign_for``, ``refuse``, ``instruct`` ...).
    action: Mapped[str] = mapped_column(String(30))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_name: Mapped[str] = mapped_column(String(50))
    #: Set when a secretary or delegate acted for this person (代…办理).
    on_behalf_of_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    on_behalf_of_name: Mapped[str | None] = mapped_column(String(50))
    opinion: Mapped[str] = mapped_column(Text, default="")
    #: Action details: target step, new handlers, document number ...
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    instance: Mapped[FlowInstance] = relationship(back_populates="actions")
