"""Units (机构), people, posts (职务) with roles, secretaries and delegations."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from office.db import Base, UTCDateTime, str_enum, utcnow


class UnitKind(enum.StrEnum):
    PROVINCE = "province"
    CITY = "city"
    COUNTY = "county"
    TOWNSHIP = "township"
    DEPARTMENT = "department"
    DIVISION = "division"
    OTHER = "other"


UNIT_KIND_LABELS = {
    UnitKind.PROVINCE: "省级",
    UnitKind.CITY: "市级",
    UnitKind.COUNTY: "县级",
    UnitKind.TOWNSHIP: "乡镇（街道）",
    UnitKind.DEPARTMENT: "部门",
    UnitKind.DIVISION: "内设处室",
    UnitKind.OTHER: "其他",
}

#: Government levels: a person's reach is the subtree of the nearest such ancestor.
LEVEL_KINDS = {UnitKind.PROVINCE, UnitKind.CITY, UnitKind.COUNTY, UnitKind.TOWNSHIP}


class Role(enum.StrEnum):
    ADMIN = "admin"
    UNIT_ADMIN = "unit_admin"
    CLERK = "clerk"
    STAFF = "staff"
    DIVISION_HEAD = "division_head"
    LEADER = "leader"
    SECRETARY = "secretary"
    SUPERVISOR = "supervisor"
    SEAL_KEEPER = "seal_keeper"
    MEETING_CLERK = "meeting_clerk"


ROLE_LABELS = {
    Role.ADMIN: "系统管理员",
    Role.UNIT_ADMIN: "单位管理员",
    Role.CLERK: "收发员",
    Role.STAFF: "经办人",
    Role.DIVISION_HEAD: "处室负责人",
    Role.LEADER: "机关领导",
    Role.SECRETARY: "秘书",
    Role.SUPERVISOR: "督查员",
    Role.SEAL_KEEPER: "印章管理员",
    Role.MEETING_CLERK: "会务员",
}


class Unit(Base):
    """A node of the organisation tree. ``path`` (``/1/5/23/``) makes subtree checks one
    indexed prefix comparison instead of a recursive query on every permission check."""

    __tablename__ = "units"
    __table_args__ = (
        CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),
        CheckConstraint("depth >= 0", name="depth_nonneg"),
        UniqueConstraint("parent_id", "name"),
        Index("ix_units_path", "path"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: Parent unit; NULL for a root (the province).
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    #: Full name, e.g. 示例省人民政府办公厅.
    name: Mapped[str] = mapped_column(String(100))
    #: Short name used in document numbers (机关代字), e.g. 示政办; unique where given.
    short_name: Mapped[str | None] = mapped_column(String(20), unique=True)
    #: What kind of unit this is (level of government, department, division).
    kind: Mapped[UnitKind] = mapped_column(str_enum(UnitKind, "unit_kind", 20))
    #: Order among siblings in the directory.
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    #: Materialised path of ids from the root, ``/1/5/23/``.
    path: Mapped[str] = mapped_column(String(500), default="/")
    #: Distance from the root (root = 0).
    depth: Mapped[int] = mapped_column(Integer, default=0)
    #: Inactive units are hidden from pickers but kept for history.
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    parent: Mapped[Unit | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Unit]] = relationship(back_populates="parent", order_by="Unit.sort_order")

    def ancestor_ids(self) -> list[int]:
        return [int(x) for x in self.path.strip("/").split("/") if x]

    def __repr__(self) -> str:
        return f"<Unit {self.id} {self.name}>"


class User(Base):
    """A person. Credentials live here; what they may do comes from their posts."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint("failed_logins >= 0", name="failed_nonneg"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: Login name: lower-case letters, digits, dot, dash, underscore.
    username: Mapped[str] = mapped_column(String(64), unique=True)
    #: Real name (姓名).
    name: Mapped[str] = mapped_column(String(50))
    #: Full pinyin without tones or spaces (zhangsan), for directory search.
    pinyin: Mapped[str] = mapped_column(String(200), default="", index=True)
    #: Pinyin initials (zs), for directory search.
    pinyin_initials: Mapped[str] = mapped_column(String(50), default="", index=True)
    #: Mobile number (11 digits) or None.
    mobile: Mapped[str | None] = mapped_column(String(20), index=True)
    email: Mapped[str | None] = mapped_column(String(120))
    #: Argon2id hash.
    password_hash: Mapped[str] = mapped_column(String(255))
    #: Deactivated users cannot sign in; their history stays.
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: TOTP secret, encrypted under the master key; NULL until set up.
    totp_secret_enc: Mapped[str | None] = mapped_column(String(255))
    totp_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Last TOTP time step accepted, so a code cannot be replayed.
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    #: The user must change the password at next sign-in (set by admins on reset).
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    posts: Mapped[list[Post]] = relationship(
        back_populates="user",
        cascade="all, delete-orphan",
        order_by="(Post.is_primary.desc(), Post.sort_order, Post.id)",
    )

    def __repr__(self) -> str:
        return f"<User {self.username}>"


class Post(Base):
    """A post (职务) a person holds in a unit; a person may hold several (兼职)."""

    __tablename__ = "posts"
    __table_args__ = (UniqueConstraint("user_id", "unit_id", "title"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    #: Job title as printed, e.g. 处长, 副厅长, 科员.
    title: Mapped[str] = mapped_column(String(50))
    #: The post shown as the person's unit in `/me`; at most one per person (service rule).
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)

    user: Mapped[User] = relationship(back_populates="posts")
    unit: Mapped[Unit] = relationship(lazy="joined")
    roles: Mapped[list[PostRole]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="PostRole.role"
    )

    @property
    def role_codes(self) -> list[str]:
        return [r.role.value for r in self.roles]


class PostRole(Base):
    """One role on one post; roles are per post, so 兼职 posts carry their own rights."""

    __tablename__ = "post_roles"

    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[Role] = mapped_column(str_enum(Role, "role", 20), primary_key=True)


class SecretaryLink(Base):
    """A secretary who may act for a leader (秘书代办)."""

    __tablename__ = "secretary_links"
    __table_args__ = (CheckConstraint("secretary_id <> leader_id", name="distinct_people"),)

    secretary_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    leader_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    secretary: Mapped[User] = relationship(foreign_keys=[secretary_id])
    leader: Mapped[User] = relationship(foreign_keys=[leader_id])


class Delegation(Base):
    """A person hands their work to another for a time window (出差委托)."""

    __tablename__ = "delegations"
    __table_args__ = (
        CheckConstraint("delegator_id <> delegate_id", name="distinct_people"),
        CheckConstraint("ends_at > starts_at", name="window_order"),
        Index("ix_delegations_delegate_window", "delegate_id", "starts_at", "ends_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delegator_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    delegate_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: Why (出差、休假 ...), shown to whoever sees the delegate act.
    reason: Mapped[str] = mapped_column(String(200), default="")
    #: Set when ended early; a revoked delegation grants nothing.
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    delegator: Mapped[User] = relationship(foreign_keys=[delegator_id])
    delegate: Mapped[User] = relationship(foreign_keys=[delegate_id])
