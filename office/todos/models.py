"""To-do items (待办 / 待阅) and the reminders already sent for them."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
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
from office.identity.models import User


class TodoStatus(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"
    CANCELLED = "cancelled"


class TodoCategory(enum.StrEnum):
    TODO = "todo"  #: 待办: something to handle
    READ = "read"  #: 待阅: something to read


class Urgency(enum.IntEnum):
    """Stored as a number so that ordering by urgency is an index scan."""

    NORMAL = 0  #: 平件
    URGENT = 1  #: 加急
    VERY_URGENT = 2  #: 特急


URGENCY_CODES = {Urgency.NORMAL: "normal", Urgency.URGENT: "urgent", Urgency.VERY_URGENT: "very_urgent"}
URGENCY_BY_CODE = {v: k for k, v in URGENCY_CODES.items()}
URGENCY_LABELS = {Urgency.NORMAL: "平件", Urgency.URGENT: "加急", Urgency.VERY_URGENT: "特急"}


class Todo(Base):
    """One item waiting for one person. Opening is idempotent per (person, source, step):
    a workflow that returns to a step opens it again under a new step key (``review#2``)."""

    __tablename__ = "todos"
    __table_args__ = (
        UniqueConstraint("user_id", "source_type", "source_id", "step"),
        CheckConstraint("urgency BETWEEN 0 AND 2", name="urgency_range"),
        CheckConstraint("(status = 'pending') = (done_at IS NULL)", name="done_at_iff_closed"),
        # The list: one person's pending items by urgency, due time, age.
        Index("ix_todos_list", "user_id", "status", "category", "urgency", "due_at", "created_at"),
        Index("ix_todos_source", "source_type", "source_id"),
        Index("ix_todos_due_pending", "status", "due_at"),
        # 已办 (closed by me) and 我交办的 (sent by me) lists.
        Index("ix_todos_done_by_id", "done_by_id"),
        Index("ix_todos_sender_id", "sender_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: Whose item it is (the handler).
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    #: Module-defined kind: ``memo``, ``document``, ``seal_request``, ``meeting`` ...
    kind: Mapped[str] = mapped_column(String(40))
    category: Mapped[TodoCategory] = mapped_column(
        str_enum(TodoCategory, "todo_category", 10), default=TodoCategory.TODO
    )
    title: Mapped[str] = mapped_column(String(200))
    #: Optional text shown with the item (a memo's content, an instruction).
    body: Mapped[str] = mapped_column(Text, default="")
    urgency: Mapped[int] = mapped_column(SmallInteger, default=int(Urgency.NORMAL))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[TodoStatus] = mapped_column(
        str_enum(TodoStatus, "todo_status", 10), default=TodoStatus.PENDING
    )
    #: The object the item is about, and where clicking it leads.
    source_type: Mapped[str] = mapped_column(String(40))
    source_id: Mapped[int] = mapped_column(Integer)
    source_url: Mapped[str] = mapped_column(String(300))
    #: Which step of the source's flow this is; part of the idempotency key.
    step: Mapped[str] = mapped_column(String(80), default="")
    #: Who sent it onward (may urge it).
    sender_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Who actually closed it (the handler, a secretary or a delegate).
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    last_urged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    sender: Mapped[User | None] = relationship(foreign_keys=[sender_id])
    done_by: Mapped[User | None] = relationship(foreign_keys=[done_by_id])


class ReminderKind(enum.StrEnum):
    DUE_SOON = "due_soon"  #: 临期: due within 24 hours
    OVERDUE = "overdue"  #: 逾期


class Reminder(Base):
    """A reminder that went out. The primary key makes each (item, kind) go out once, across
    restarts and with two schedulers racing."""

    __tablename__ = "reminders"

    todo_id: Mapped[int] = mapped_column(ForeignKey("todos.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[ReminderKind] = mapped_column(str_enum(ReminderKind, "reminder_kind", 20), primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
