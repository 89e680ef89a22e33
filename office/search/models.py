"""Search bookkeeping: the outbox of index changes and which index generation readers use."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from office.db import Base, UTCDateTime, utcnow


class SearchOutbox(Base):
    """An index change waiting to be applied, written in the same transaction as the document
    change that caused it: a crash between commit and indexing loses nothing. The drain marks
    rows applied (kept a while so ``reindex`` can replay what changed during a rebuild)."""

    __tablename__ = "search_outbox"
    __table_args__ = (
        CheckConstraint("op IN ('index', 'delete')", name="op_known"),
        Index("ix_search_outbox_pending", "applied_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: The document to (re)index or delete. No foreign key: a delete outlives its document.
    doc_id: Mapped[int] = mapped_column(Integer, index=True)
    op: Mapped[str] = mapped_column(String(6), default="index")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    #: When the drain applied it to the live index (NULL: waiting).
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SearchState(Base):
    """One row per engine: the index generation readers use. ``reindex`` builds the next
    generation beside it and switches this number when done (no downtime for readers)."""

    __tablename__ = "search_state"

    backend: Mapped[str] = mapped_column(String(20), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, default=1)
    #: Generation being built by a running ``reindex`` (NULL: none).
    building: Mapped[int | None] = mapped_column(Integer)
    rebuilt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# ---------------------------------------------------------------- the postgres engine's rows
# (defined by office/search/backends/postgres.py's author below this line)

import datetime as _dt  # noqa: E402

from sqlalchemy import Date, Text  # noqa: E402
from sqlalchemy.dialects.postgresql import TSVECTOR  # noqa: E402

#: PostgreSQL's tsvector; plain text elsewhere, so the whole schema still builds on SQLite.
_TSVECTOR = TSVECTOR().with_variant(Text(), "sqlite")


class SearchEntry(Base):
    """One document in one generation of the postgres engine's index: analysed terms as a
    tsvector (built by the engine, one lexeme per term) and the filter fields. Generations
    live side by side, so ``reindex`` builds n+1 while readers use n."""

    __tablename__ = "search_entries"
    __table_args__ = (
        Index("ix_search_entries_tsv", "tsv", postgresql_using="gin"),
        Index("ix_search_entries_generation_date", "generation", "date"),
    )

    generation: Mapped[int] = mapped_column(Integer, primary_key=True)
    doc_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    #: Title terms (weight A) then text terms (weight D), positions as analysed, with a gap
    #: between the two so a phrase never spans them. What searches match.
    tsv: Mapped[str] = mapped_column(_TSVECTOR)
    #: The title terms alone: small and stored inline, a cheap first ranking pass.
    title_tsv: Mapped[str] = mapped_column(_TSVECTOR)
    doc_type: Mapped[str] = mapped_column(String(40))
    unit_id: Mapped[int] = mapped_column(Integer)
    date: Mapped[_dt.date] = mapped_column(Date)
    fingerprint: Mapped[str] = mapped_column(String(64), default="")
