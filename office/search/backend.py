"""The one small interface every search engine implements, and the values that cross it.

Engines see only analysed terms (space-separated, from :mod:`office.search.analysis`) and a
few filter fields; they never see bodies in clear, never store them, and know nothing about
permissions. The service asks an engine for candidates (ids with scores, best first), then the
database keeps the ones the searcher may read: the database decides who reads what.

Three implementations pass the same test suite (``tests/office/search/test_backends.py``):
``whoosh`` (embedded default, pure Python), ``tantivy`` (fast embedded), ``postgres`` (the
scale-out mode: one index shared by every app server, committed with the data).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal, Protocol

Sort = Literal["relevance", "date"]


@dataclass(frozen=True, slots=True)
class IndexDoc:
    """One document as an engine indexes it. ``title`` and ``text`` are analysed terms joined
    by single spaces (an engine splits on spaces and nothing else); the rest are filters."""

    id: int
    #: Terms of the title and the document number (weighted above the text). A query that
    #: is a whole document number is answered from the database first (``Query.number``).
    title: str
    #: Terms of everything else searchable: body, attachments, instructions, recipients,
    #: issuing unit, type.
    text: str
    doc_type: str
    unit_id: int
    #: 成文日期 (or the creation date when there is none yet).
    date: date
    #: A short hash of everything above: ``search verify`` compares it with the database's.
    fingerprint: str = ""


@dataclass(frozen=True, slots=True)
class Term:
    """One thing the searcher typed: a word (its terms all required, in any order) or a
    phrase in quotes (its terms required next to each other, in order)."""

    terms: tuple[str, ...]
    phrase: bool = False


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query. Every group in ``must`` must match (AND); a group matches when any of
    its alternatives does (``OR``). A document matching any of ``must_not`` is left out.
    ``number``: a document number the query held; the service looks it up in the database
    and ranks it first, engines ignore it."""

    must: tuple[tuple[Term, ...], ...] = ()
    must_not: tuple[Term, ...] = ()
    number: str | None = None
    doc_type: str | None = None
    unit_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None

    @property
    def empty(self) -> bool:
        return not self.must and not self.number


@dataclass(frozen=True, slots=True)
class Hit:
    id: int
    score: float


@dataclass(slots=True)
class Candidates:
    """The best ``limit`` matches, best first (by score, or newest first when sorting by
    date, ties by id descending), and how many matched in all (``exact`` False when the
    engine stopped counting: cheap engines need not count every match)."""

    hits: list[Hit] = field(default_factory=list)
    total: int = 0
    exact: bool = True


@dataclass(frozen=True, slots=True)
class Location:
    """Where one generation of an index lives. ``reindex`` builds generation n+1 beside the
    live one n and then switches readers to it, so searching never stops. File engines keep
    generation n in ``path`` (a folder made for it); the postgres engine keys its rows by
    ``generation`` and reaches the database through ``office.extensions.db.engine``."""

    path: str
    generation: int


class Backend(Protocol):
    """What the service needs from an engine, constructed as ``Engine(location)``. Writes are
    batched by the caller; an engine commits each call (what one call indexed is visible to
    the next search in this process). One process writes at a time (the caller serialises)."""

    name: str

    def index(self, docs: list[IndexDoc]) -> None:
        """Add or replace these documents (by id)."""

    def delete(self, ids: list[int]) -> None:
        """Remove these ids (unknown ids are ignored)."""

    def search(self, query: Query, *, limit: int, sort: Sort = "relevance") -> Candidates:
        """The best ``limit`` matches of ``query`` with its filters applied."""

    def count(self) -> int:
        """How many documents the index holds."""

    def ids(self) -> dict[int, str]:
        """Every indexed id with the fingerprint it was indexed with (``search verify``)."""

    def clear(self) -> None:
        """Remove everything (the start of a rebuild)."""

    def size_bytes(self) -> int:
        """Space the index takes (for the benchmark and ``search verify``)."""
