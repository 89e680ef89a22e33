"""The scale-out engine: PostgreSQL full-text search, one index shared by every app server.

Rows live in ``search_entries`` (:class:`office.search.models.SearchEntry`), keyed by the
generation, so ``reindex`` builds n+1 beside n. Terms arrive analysed; PostgreSQL's parsers
would split some of them (``x-y`` becomes three tokens, and how Chinese is read depends on
the database locale), so the engine writes each tsvector itself as a literal: every
space-separated term is one lexeme at its own position, title terms weighted A, text terms D.
Queries are tsquery literals of quoted lexemes (``&``, ``|``, ``!``, ``<->``) sent as bound
parameters.

Speed comes from never reading a large tsvector when the GIN index can answer:

* The GIN index answers plain terms exactly, but a phrase (``<->``) needs each candidate's
  tsvector (large, stored out of line, ~10 µs to read). So matches are found with phrases
  relaxed to "all terms present"; candidates are ordered by a cheap key (the rank against the
  small inline title tsvector, then the date) and read one by one in that order, checking the
  real query and ranking in full, until ``pool`` rows matched. With phrases in a large result
  the total is then estimated from the share that matched (``exact`` False).
* PostgreSQL positions stop at 16383 and a lexeme keeps 256 of them: past that a term is still
  found, only phrases there are not (a word typed unquoted also matches through its rjieba
  words, which need no positions).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import text

from office.search.backend import Candidates, Hit, IndexDoc, Location, Query, Sort, Term
from office.search.models import SearchEntry

_TABLE = SearchEntry.__tablename__
#: PostgreSQL's largest lexeme position, and how many positions one lexeme keeps.
MAX_POSITION = 16383
MAX_POSITIONS_PER_LEXEME = 256
#: The longest lexeme kept (PostgreSQL's limit is 2,047 bytes).
_MAX_LEXEME_BYTES = 2000
#: A tsvector may not exceed 1 MB: a (very) long text stops adding lexemes near that.
_MAX_LITERAL_BYTES = 900_000
#: Rows per INSERT when a batch is split to build and insert at the same time.
_CHUNK = 100
#: ts_rank weights {D, C, B, A}: the text is D, the title A (three times the text).
_WEIGHTS = "'{0.333333, 0.2, 0.4, 1.0}'"
#: At most this many times the pool is read (in the cheap order) to fill the pool.
_SCAN_FACTOR = 4
#: Normalisation 1: divide the rank by 1 + log(document length), as BM25 damps long texts.
_NORMALIZATION = 1

_INSERT = text(
    f"INSERT INTO {_TABLE} (generation, doc_id, tsv, title_tsv, doc_type, unit_id, date, fingerprint) "
    "VALUES (:generation, :doc_id, CAST(:tsv AS tsvector), CAST(:title_tsv AS tsvector), "
    ":doc_type, :unit_id, :date, :fingerprint) "
    "ON CONFLICT (generation, doc_id) DO UPDATE SET tsv = EXCLUDED.tsv, title_tsv = EXCLUDED.title_tsv, "
    "doc_type = EXCLUDED.doc_type, unit_id = EXCLUDED.unit_id, date = EXCLUDED.date, "
    "fingerprint = EXCLUDED.fingerprint"
)


def _clip(term: str) -> str:
    """PostgreSQL refuses lexemes of 2 KB or more ("word is too long"): the index and the
    queries both keep the first 2,000 bytes of such a term."""
    if len(term) <= _MAX_LEXEME_BYTES // 4:
        return term
    return term.encode()[:_MAX_LEXEME_BYTES].decode(errors="ignore")


def lexeme(term: str) -> str:
    """A term as a quoted lexeme of a tsvector or tsquery literal."""
    return "'" + _clip(term).replace("\\", "\\\\").replace("'", "''") + "'"


def tsvector_literal(title: str, text: str = "", weight: str = "A") -> str:
    """The tsvector of ``title`` (positions weighted ``weight``) then ``text`` (weight D),
    one position left empty between them so that no phrase spans both."""
    title_terms = [t for t in title.split(" ") if t]
    positions: dict[str, list[int]] = {}
    for p, term in enumerate(title_terms, 1):
        found = positions.get(term)
        if found is None:
            positions[term] = [p]
        else:
            found.append(p)
    n_title = len(title_terms)
    text_terms = [t for t in text.split(" ") if t]
    for p, term in enumerate(text_terms, n_title + 2):
        found = positions.get(term)
        if found is None:
            positions[term] = [p]
        else:
            found.append(p)
    # Past 16383 positions, or with enough text to come near 1 MB, limits must be applied.
    long = n_title + 1 + len(text_terms) > MAX_POSITION or len(title) + len(text) > _MAX_LITERAL_BYTES // 4
    escape = any(c in s for s in (title, text) for c in "'\\")
    parts: list[str] = []
    size = 0
    for term, ps in positions.items():
        if long:  # PostgreSQL would clamp these positions itself; keep the literal small
            kept = [p for p in ps if p < MAX_POSITION]
            if len(kept) < len(ps):
                kept.append(MAX_POSITION)
            ps = kept
        if len(ps) > MAX_POSITIONS_PER_LEXEME:
            ps = ps[:MAX_POSITIONS_PER_LEXEME]
        if ps[0] <= n_title:
            where = ",".join([f"{p}{weight}" if p <= n_title else str(p) for p in ps])
        else:
            where = ",".join(map(str, ps))
        quoted = lexeme(term) if escape or len(term) > _MAX_LEXEME_BYTES // 4 else "'" + term + "'"
        entry = f"{quoted}:{where}"
        if long:
            size += len(entry.encode()) + 4  # the binary form spends a little more per lexeme
            if size > _MAX_LITERAL_BYTES:
                break
        parts.append(entry)
    return " ".join(parts)


def _is_phrase(t: Term) -> bool:
    return t.phrase and sum(1 for x in t.terms if x) > 1


def _term(t: Term, relaxed: bool) -> str | None:
    words = [lexeme(x) for x in t.terms if x]
    if not words:
        return None
    if len(words) == 1:
        return words[0]
    return "(" + (" <-> " if t.phrase and not relaxed else " & ").join(words) + ")"


def _any(terms: tuple[Term, ...], relaxed: bool) -> str | None:
    parts = [p for p in (_term(t, relaxed) for t in terms) if p is not None]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else "(" + " | ".join(parts) + ")"


def tsqueries(query: Query) -> tuple[str, str, str] | None:
    """(exact match, relaxed match, rank) tsquery literals, or None when nothing is required.

    The relaxed query asks phrases for their terms only, and leaves out excluded phrases: it
    matches everything the exact one does, and the GIN index answers it without reading any
    tsvector. Exclusions say nothing about rank, so the rank query has none."""
    groups = [_any(g, relaxed=False) for g in query.must]
    if not groups or None in groups:
        return None
    rank = " & ".join(g for g in groups if g is not None)
    relaxed = " & ".join(g for g in (_any(g, relaxed=True) for g in query.must) if g is not None)
    excluded = _any(query.must_not, relaxed=False)
    excluded_plain = _any(tuple(t for t in query.must_not if not _is_phrase(t)), relaxed=False)
    return (
        f"{rank} & !{excluded}" if excluded else rank,
        f"{relaxed} & !{excluded_plain}" if excluded_plain else relaxed,
        rank,
    )


def title_adjacency(query: Query) -> str | None:
    """A word's terms side by side in the title (``a <-> b``), any word: a bonus to the rank,
    so 数字政府 in a title outranks a title with 政府 and 数字 apart."""
    parts = [
        "(" + " <-> ".join(lexeme(x) for x in t.terms if x) + ")"
        for group in query.must
        for t in group
        if sum(1 for x in t.terms if x) > 1
    ]
    return " | ".join(dict.fromkeys(parts)) or None


def _has_phrase(query: Query) -> bool:
    return any(_is_phrase(t) for group in query.must for t in group) or any(map(_is_phrase, query.must_not))


class PostgresBackend:
    """Rows of one generation in ``search_entries``, reached through ``db.engine`` (its own
    transaction per call, outside the request's session)."""

    name = "postgres"

    def __init__(self, location: Location, *, pool: int = 500) -> None:
        from office.extensions import db

        if db.engine.dialect.name != "postgresql":
            raise RuntimeError(
                f"the postgres search engine needs PostgreSQL; this database is {db.engine.dialect.name}"
            )
        self.generation = location.generation
        #: How many matches, in the cheap order, are checked and ranked in full.
        self.pool = pool

    @staticmethod
    def _engine() -> Any:
        from office.extensions import db

        return db.engine

    # ------------------------------------------------------------ writes

    def _row(self, d: IndexDoc) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "doc_id": d.id,
            "tsv": tsvector_literal(d.title, d.text),
            "title_tsv": tsvector_literal(d.title, weight=""),
            "doc_type": d.doc_type,
            "unit_id": d.unit_id,
            "date": d.date,
            "fingerprint": d.fingerprint,
        }

    def index(self, docs: list[IndexDoc]) -> None:
        if not docs:
            return
        latest = list({d.id: d for d in docs}.values())  # ON CONFLICT may touch a row once
        chunks = [latest[i : i + _CHUNK] for i in range(0, len(latest), _CHUNK)]
        with self._engine().begin() as conn:
            if len(chunks) == 1:
                conn.execute(_INSERT, [self._row(d) for d in latest])
                return
            # Building literals (Python) and inserting them (the server) take about as long:
            # a helper thread builds the next chunk while this one waits on the server.
            with ThreadPoolExecutor(1) as builder:
                pending = builder.submit(lambda chunk: [self._row(d) for d in chunk], chunks[0])
                for chunk in [*chunks[1:], None]:
                    rows = pending.result()
                    if chunk is not None:
                        pending = builder.submit(lambda chunk: [self._row(d) for d in chunk], chunk)
                    conn.execute(_INSERT, rows)

    def delete(self, ids: list[int]) -> None:
        if not ids:
            return
        with self._engine().begin() as conn:
            conn.execute(
                text(f"DELETE FROM {_TABLE} WHERE generation = :g AND doc_id = ANY(:ids)"),
                {"g": self.generation, "ids": list(set(ids))},
            )

    def clear(self) -> None:
        with self._engine().begin() as conn:
            conn.execute(text(f"DELETE FROM {_TABLE} WHERE generation = :g"), {"g": self.generation})

    # ------------------------------------------------------------ reads

    @staticmethod
    def _filters(query: Query, params: dict[str, Any]) -> str:
        sql = ""
        if query.doc_type:
            sql += " AND doc_type = :doc_type"
            params["doc_type"] = query.doc_type
        if query.unit_id is not None:
            sql += " AND unit_id = :unit_id"
            params["unit_id"] = query.unit_id
        if query.date_from:
            sql += " AND date >= :date_from"
            params["date_from"] = query.date_from
        if query.date_to:
            sql += " AND date <= :date_to"
            params["date_to"] = query.date_to
        return sql

    def search(self, query: Query, *, limit: int, sort: Sort = "relevance") -> Candidates:
        literals = tsqueries(query)
        if literals is None:
            return Candidates()
        exact_q, relaxed_q, rank_q = literals
        phrase = _has_phrase(query)
        by_date = sort == "date"
        pool = max(limit, 1) if by_date else max(self.pool, limit, 1)
        params: dict[str, Any] = {
            "g": self.generation,
            "q": exact_q,
            "relaxed": relaxed_q,
            "rq": rank_q,
            "pool": pool,
            "scan": pool * _SCAN_FACTOR,
            "limit": max(limit, 1),
        }
        order = "date DESC, doc_id DESC" if by_date else "title_rank DESC, date DESC, doc_id DESC"
        adjacency = title_adjacency(query)
        params["adj"] = adjacency
        bonus = " + CASE WHEN {t} @@ CAST(:adj AS tsquery) THEN 1.0 ELSE 0 END" if adjacency else ""
        title_rank = (
            "0" if by_date else "ts_rank(title_tsv, CAST(:rq AS tsquery))" + bonus.format(t="title_tsv")
        )
        score = (
            "0.0"
            if by_date
            else (
                f"ts_rank({_WEIGHTS}, e.tsv, CAST(:rq AS tsquery), {_NORMALIZATION})"
                + bonus.format(t="e.title_tsv")
            )
        )
        check = " AND e.tsv @@ CAST(:q AS tsquery)" if phrase else ""
        # candidates: every match of the relaxed query, from the GIN index alone (``generation
        # + 0`` keeps the planner from walking the primary key and testing every row's large
        # tsvector instead). pool: the first ``scan`` candidates in the cheap order, each read
        # (checked against the real query, ranked in full) in that order until ``pool`` matched.
        # The one-row summary makes a row come back even when the pool is empty.
        sql = text(
            f"WITH candidates AS MATERIALIZED (SELECT doc_id, date, {title_rank} AS title_rank FROM {_TABLE} "
            f"WHERE generation + 0 = :g AND tsv @@ CAST(:relaxed AS tsquery){self._filters(query, params)}), "
            "pool AS (SELECT o.doc_id, o.rn, x.score FROM (SELECT doc_id, row_number() OVER () AS rn "
            f"FROM (SELECT doc_id FROM candidates ORDER BY {order} LIMIT :scan) s) o "
            f"CROSS JOIN LATERAL (SELECT {score} AS score FROM {_TABLE} e "
            f"WHERE e.generation = :g AND e.doc_id = o.doc_id{check} LIMIT 1) x LIMIT :pool) "
            "SELECT p.doc_id, p.score, c.n, count(p.doc_id) OVER (), max(p.rn) OVER () "
            "FROM (SELECT count(*) AS n FROM candidates) c LEFT JOIN pool p ON true "
            f"ORDER BY {'p.rn' if by_date else 'p.score DESC, p.doc_id DESC'} LIMIT :limit"
        )
        with self._engine().begin() as conn:
            conn.execute(text("SET LOCAL enable_seqscan = off"))
            rows = conn.execute(sql, params).all()
            candidates, found, last = (int(v or 0) for v in rows[0][2:5])
            if found < pool < candidates and candidates > params["scan"]:
                # Phrases rejected most of the window: read on through every candidate.
                params["scan"] = candidates
                rows = conn.execute(sql, params).all()
                candidates, found, last = (int(v or 0) for v in rows[0][2:5])
        checked = last if found == pool else min(candidates, params["scan"])
        if not phrase or checked == candidates:
            total, exact = (found if phrase else candidates), True
        else:  # estimated from the share of the checked candidates that matched
            total, exact = max(found, round(candidates * found / checked)), False
        hits = [Hit(int(r[0]), float(r[1])) for r in rows if r[0] is not None] if limit > 0 else []
        return Candidates(hits=hits, total=total, exact=exact)

    def count(self) -> int:
        with self._engine().begin() as conn:
            return int(
                conn.execute(
                    text(f"SELECT count(*) FROM {_TABLE} WHERE generation = :g"), {"g": self.generation}
                ).scalar_one()
            )

    def ids(self) -> dict[int, str]:
        with self._engine().begin() as conn:
            rows = conn.execute(
                text(f"SELECT doc_id, fingerprint FROM {_TABLE} WHERE generation = :g"),
                {"g": self.generation},
            )
            return {int(doc_id): fp for doc_id, fp in rows}

    def size_bytes(self) -> int:
        """This generation's share (by rows) of the table with its TOAST and indexes."""
        with self._engine().begin() as conn:
            mine, everything, size = conn.execute(
                text(
                    f"SELECT count(*) FILTER (WHERE generation = :g), count(*), "
                    f"pg_total_relation_size('{_TABLE}') FROM {_TABLE}"
                ),
                {"g": self.generation},
            ).one()
        return int(size * mine / everything) if everything else 0
