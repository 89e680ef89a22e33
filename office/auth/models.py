"""Sign-in state kept in the database, so that logout and revocation really end access."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from office.db import Base, UTCDateTime, str_enum, utcnow
from office.identity.models import User


class TokenKind(enum.StrEnum):
    API = "api"  #: Bearer token for API clients; fixed expiry.
    WEB = "web"  #: Browser session behind the cookie; idle timeout.


class AuthToken(Base):
    """A bearer token or browser session. Only the SHA-256 of the secret is stored."""

    __tablename__ = "auth_tokens"
    __table_args__ = (CheckConstraint("expires_at > created_at", name="expiry_after_creation"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[TokenKind] = mapped_column(str_enum(TokenKind, "token_kind", 10))
    #: hex SHA-256 of the token secret.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Hard expiry (API tokens) or absolute session limit (web).
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: Last use, refreshed at most once a minute; drives the web idle timeout.
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(255))

    user: Mapped[User] = relationship()


class LoginThrottle(Base):
    """Failed sign-ins per username, kept whether or not the user exists, so lockout does
    not reveal which usernames are real."""

    __tablename__ = "login_throttle"
    __table_args__ = (CheckConstraint("failures >= 0", name="failures_nonneg"),)

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
