"""The row that names an uploaded file; its bytes live on disk under their SHA-256."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from office.db import Base, UTCDateTime, utcnow
from office.identity.models import User


class StoredFile(Base):
    """One upload. The same content uploaded twice is two rows (each keeps the name it came
    with) over one file on disk, so deleting a row never removes bytes another row uses."""

    __tablename__ = "stored_files"
    __table_args__ = (CheckConstraint("size >= 0", name="size_nonnegative"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: Hex SHA-256 of the content; also its path under ``<instance>/files``.
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    #: Size in bytes.
    size: Mapped[int] = mapped_column(BigInteger)
    #: MIME type sniffed from the content (never taken from the client).
    content_type: Mapped[str] = mapped_column(String(100))
    #: Sanitised original file name, its extension agreeing with the content; used for downloads.
    name: Mapped[str] = mapped_column(String(200))
    #: Who uploaded it (kept as NULL if that account is removed).
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: When it was stored (UTC).
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    created_by: Mapped[User | None] = relationship()
