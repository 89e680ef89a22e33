"""Search: keeping the index in step with the database, and answering queries with only what
the searcher may read.

Feature packages take part through a :class:`Source` (documents registers one; ``office``
never imports them). The path of a change:

1. a watched object is added, changed or deleted: ``after_flush`` writes a
   :class:`SearchOutbox` row in the same transaction (a crash after commit loses nothing);
2. after commit the outbox is drained: in the writing process on the embedded default
   (``SEARCH_DRAIN=inline``), by the scheduler or ``search drain --follow`` in the scale-out
   mode (``worker``). The drain loads each document afresh and gives the engine its terms;
3. ``search reindex`` builds the next index generation beside the live one, switches readers
   to it and replays what changed meanwhile; ``search verify`` lists what is missing or stale.

A query asks the engine for up to ``SEARCH_MAX_CANDIDATES`` matches, then one database query
keeps those the searcher may read and gives the filters' counts; snippets come from the
database (the index stores no bodies).
"""

from __future__ import annotations

import hashlib
import html
import logging
import multiprocessing
import re
import shutil
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import import_module
from pathlib import Path
from typing import Any

from flask import current_app
from markupsafe import Markup
from sqlalchemy import event, func, inspect, select, update
from sqlalchemy.orm import Session

from office.db import dialect_insert, utcnow
from office.errors import ServiceError
from office.extensions import db
from office.identity.models import User
from office.search import analysis
from office.search import query as qp
from office.search.backend import Backend, IndexDoc, Location
from office.search.models import SearchOutbox, SearchState

log = logging.getLogger(__name__)

BACKENDS = {
    "whoosh": "office.search.backends.whoosh:WhooshBackend",
    "tantivy": "office.search.backends.tantivy:TantivyBackend",
    "postgres": "office.search.backends.postgres:PostgresBackend",
}
SORTS = ("relevance", "date")
MAX_PER_PAGE = 100
BATCH = 500
#: Applied outbox rows are kept this long (``reindex`` replays what changed during a rebuild).
KEEP_APPLIED = timedelta(days=1)


@dataclass(frozen=True)
class Row:
    """What the database says about one candidate the searcher may read."""

    id: int
    doc_type: str
    type_label: str
    unit_id: int
    unit_name: str
    date: date | None


@dataclass(frozen=True)
class Shown:
    """What a result shows: the title, the number, and the text snippets are cut from."""

    id: int
    title: str
    doc_number: str | None
    issuing_unit: str
    date: date | None
    doc_type: str
    type_label: str
    url: str
    text: str


@dataclass(frozen=True)
class Entry:
    """One searchable object's content as plain text: the source composes it, this module
    analyses it (in worker processes during a rebuild) into the engine's :class:`IndexDoc`."""

    id: int
    #: Title and document number (weighted above the text).
    title: str
    text: str
    doc_type: str
    unit_id: int
    date: date


@dataclass
class Source:
    """How a feature package's objects are searched (documents registers the one source).

    ``watch`` maps a model class to the id of the searchable object a change of it touches
    (None: none) and the attributes whose change matters (None: any), so a flow step that
    only moves a status does not re-index; ``removed`` is the class whose deletion removes
    the entry."""

    name: str
    watch: dict[type, tuple[Callable[[Any], int | None], frozenset[str] | None]]
    removed: type
    #: ids -> their entries (ids that no longer exist are left out), in a given session.
    compose: Callable[[Session, list[int]], list[Entry]]
    #: Every id, in batches of at most the given size (reindex / verify).
    all_ids: Callable[[Session, int], Iterable[list[int]]]
    #: The given ids this user may read, with their filter facts.
    readable: Callable[[User, list[int]], list[Row]]
    #: The ids with this exact (normalised) document number.
    by_number: Callable[[str], list[int]]
    #: What to show for these ids (already known readable).
    shown: Callable[[list[int]], dict[int, Shown]]
    #: Filter values: doc types (value -> label) and the label of a unit id.
    types: Callable[[], dict[str, str]]


SOURCE: list[Source] = []


def register(source: Source) -> None:
    SOURCE[:] = [source]
    install()


def source() -> Source:
    if not SOURCE:
        raise RuntimeError("no search source registered (documents is not loaded)")
    return SOURCE[0]


# ---------------------------------------------------------------- engines and generations

_engines: dict[tuple[str, str, int], Backend] = {}
_engines_lock = threading.Lock()
_drain_lock = threading.Lock()


def backend_name(name: str | None = None) -> str:
    name = (name or current_app.config.get("SEARCH_BACKEND") or "whoosh").lower()
    if name not in BACKENDS:
        raise ServiceError("unknown_backend", f"未知的检索引擎：{name}（可选 {', '.join(BACKENDS)}）", 422)
    return name


def _location(name: str, generation: int) -> Location:
    root = Path(current_app.config["SEARCH_INDEX_DIR"])
    return Location(path=str(root / name / f"g{generation}"), generation=generation)


def engine(name: str | None = None, generation: int | None = None) -> Backend:
    """The engine of ``name`` at ``generation`` (the live one by default), opened once per
    process."""
    name = backend_name(name)
    if generation is None:
        generation = _state(name)[0]
    loc = _location(name, generation)
    key = (name, loc.path, generation)
    with _engines_lock:
        found = _engines.get(key)
        if found is None:
            module, cls = BACKENDS[name].split(":")
            found = _engines[key] = getattr(import_module(module), cls)(loc)
        return found


def _forget(name: str, generation: int) -> None:
    with _engines_lock:
        for key in [k for k in _engines if k[0] == name and k[2] == generation]:
            _engines.pop(key, None)


def discard_local_indexes() -> None:
    """Close every open engine and delete the index folders (tests empty the database between
    cases; the postgres engine's rows go with the tables)."""
    with _engines_lock:
        _engines.clear()
    shutil.rmtree(current_app.config["SEARCH_INDEX_DIR"], ignore_errors=True)


def _state(name: str, session: Session | None = None) -> tuple[int, int | None]:
    """(live generation, generation being built) of an engine; 1 before the first rebuild.
    Read through the caller's session: on SQLite a second connection would wait for the
    write lock the caller's own transaction may hold."""
    row = (
        (session or db.session)
        .execute(select(SearchState.generation, SearchState.building).where(SearchState.backend == name))
        .first()
    )
    return (row[0], row[1]) if row is not None else (1, None)


def mode() -> str:
    m = current_app.config.get("SEARCH_ANALYSIS") or analysis.DEFAULT_MODE
    return m if m in analysis.MODES else analysis.DEFAULT_MODE


def fingerprint(*parts: object) -> str:
    h = hashlib.blake2b(digest_size=8)
    for p in parts:
        h.update(str(p).encode())
        h.update(b"\x1f")
    return h.hexdigest()


def entry_fingerprint(e: Entry, m: str) -> str:
    """What ``search verify`` compares: the entry's content and the analysis mode."""
    return fingerprint(m, e.title, e.text, e.doc_type, e.unit_id, e.date)


def _index_doc(e: Entry, m: str, terms: tuple[str, str]) -> IndexDoc:
    return IndexDoc(
        id=e.id,
        title=terms[0],
        text=terms[1],
        doc_type=e.doc_type,
        unit_id=e.unit_id,
        date=e.date,
        fingerprint=entry_fingerprint(e, m),
    )


def analyse(entries: list[Entry], m: str | None = None) -> list[IndexDoc]:
    """Entries as the engine indexes them, analysed in this process."""
    m = m or mode()
    return [_index_doc(e, m, analysis.index_pair(e.title, e.text, m)) for e in entries]


def load(s: Session, ids: list[int]) -> list[IndexDoc]:
    """These ids' index documents, read afresh (ids that no longer exist are left out)."""
    return analyse(source().compose(s, ids))


# ---------------------------------------------------------------- the outbox

_KEY = "search_outbox_ids"
_COMMITTED = "search_outbox_committed"
_installed: list[bool] = []


def install() -> None:
    """Watch every session (once per process): outbox rows in the flush that changes a
    watched object, and the inline drain after the commit."""
    if _installed:
        return
    _installed.append(True)

    @event.listens_for(Session, "after_flush")
    def _after_flush(session: Session, flush_context) -> None:
        # The lists still show what this flush wrote, and new rows now have their ids.
        if not SOURCE:
            return
        src = SOURCE[0]
        ops: dict[int, str] = {}
        for obj in session.deleted:
            if isinstance(obj, src.removed):
                ops[obj.id] = "delete"
            elif (w := src.watch.get(type(obj))) is not None and (i := w[0](obj)) is not None:
                ops.setdefault(i, "index")
        for obj in session.new:
            if (w := src.watch.get(type(obj))) is not None and (i := w[0](obj)) is not None:
                ops.setdefault(i, "index")
        for obj in session.dirty:
            w = src.watch.get(type(obj))
            if w is None or not _changed(obj, w[1]):
                continue
            if (i := w[0](obj)) is not None:
                ops.setdefault(i, "index")
        if ops:
            now = utcnow()
            rows = [{"doc_id": i, "op": op, "created_at": now} for i, op in ops.items()]
            session.connection().execute(SearchOutbox.__table__.insert(), rows)
            session.info[_KEY] = True

    @event.listens_for(Session, "after_commit")
    def _after_commit(session: Session) -> None:
        if not session.in_nested_transaction() and session.info.pop(_KEY, False):
            session.info[_COMMITTED] = True

    @event.listens_for(Session, "after_rollback")
    def _after_rollback(session: Session) -> None:
        session.info.pop(_KEY, None)


def init_app(app: Any) -> None:
    """Apply what this app context committed to the outbox when the context ends (a request,
    a CLI command, a ``with app.app_context()``): after the response is built and the
    session's last transaction is over, so on SQLite the drain never waits for a lock its
    own thread holds. Runs before Flask-SQLAlchemy removes the session (registered after it)."""

    @app.teardown_appcontext
    def _drain_after(exc: BaseException | None) -> None:
        info = db.session.info
        if not info.pop(_COMMITTED, False) or app.config.get("SEARCH_DRAIN", "inline") != "inline":
            return
        try:
            db.session.rollback()  # only ends reads made after the commit
            drain()
        except Exception:  # the outbox keeps it: the next drain (or the scheduler) retries
            log.exception("search: applying the outbox after commit failed")
            db.session.rollback()


def _changed(obj: Any, fields: frozenset[str] | None) -> bool:
    state = inspect(obj)
    names = fields if fields is not None else [a.key for a in state.mapper.column_attrs]
    return any(state.attrs[n].history.has_changes() for n in names if n in state.attrs)


def enqueue(doc_ids: Iterable[int], op: str = "index") -> None:
    """Queue index changes in the current transaction (for bulk writes that bypass the ORM's
    unit of work, e.g. loading the sample collection)."""
    rows = [{"doc_id": i, "op": op, "created_at": utcnow()} for i in doc_ids]
    if rows:
        db.session.execute(SearchOutbox.__table__.insert(), rows)
        db.session.info[_KEY] = True


def pending() -> int:
    return db.session.scalar(select(func.count()).where(SearchOutbox.applied_at.is_(None))) or 0


def drain(limit: int = 5000, name: str | None = None) -> int:
    """Apply waiting outbox rows to the live index (oldest first); how many were applied.

    Commits through the current session (call it between units of work). One drain at a time
    per process; across processes (scale-out) the rows are claimed with ``FOR UPDATE SKIP
    LOCKED`` so two workers never apply the same one."""
    name = backend_name(name)
    done = 0
    s = db.session
    with _drain_lock:
        while done < limit:
            q = (
                select(SearchOutbox.id, SearchOutbox.doc_id, SearchOutbox.op)
                .where(SearchOutbox.applied_at.is_(None))
                .order_by(SearchOutbox.id)
                .limit(min(BATCH, limit - done))
            )
            if s.get_bind().dialect.name == "postgresql":
                q = q.with_for_update(skip_locked=True)
            rows = s.execute(q).all()
            if not rows:
                s.commit()  # end the read: a follower must not sit idle in a transaction
                break
            _apply(s, engine(name, _state(name, s)[0]), [(r.doc_id, r.op) for r in rows])
            s.execute(
                update(SearchOutbox)
                .where(SearchOutbox.id.in_([r.id for r in rows]))
                .values(applied_at=utcnow())
            )
            s.commit()
            done += len(rows)
        if done:
            s.execute(
                SearchOutbox.__table__.delete().where(SearchOutbox.applied_at < utcnow() - KEEP_APPLIED)
            )
            s.commit()
    return done


def _apply(s: Session, eng: Backend, ops: list[tuple[int, str]]) -> None:
    last: dict[int, str] = {}
    for doc_id, op in ops:  # the last change of each document wins
        last[doc_id] = op
    wanted = [i for i, op in last.items() if op == "index"]
    docs = load(s, wanted) if wanted else []
    found = {d.id for d in docs}
    gone = [i for i, op in last.items() if op == "delete" or i not in found]
    if docs:
        eng.index(docs)
    if gone:
        eng.delete(gone)


# ---------------------------------------------------------------- rebuild and verify


def reindex(name: str | None = None, progress: Callable[[int, int], None] | None = None) -> int:
    """Build the next generation from the database, switch readers to it, replay changes made
    meanwhile, drop the old one. Readers keep searching the old generation until the switch."""
    name = backend_name(name)
    started = utcnow()
    s = db.session  # committed in steps: writers go on between batches
    live, _ = _state(name, s)
    new = max(live, s.scalar(select(func.max(SearchState.building))) or 0) + 1
    s.execute(dialect_insert(SearchState).values(backend=name, generation=live).on_conflict_do_nothing())
    s.execute(update(SearchState).where(SearchState.backend == name).values(building=new))
    s.commit()
    eng = engine(name, new)
    eng.clear()
    total = s.scalar(select(func.count()).select_from(source().removed)) or 0
    done = 0
    m = mode()
    workers = current_app.config.get("SEARCH_REINDEX_WORKERS", 0) if total >= POOL_MIN_DOCS else 0
    with _analysers(workers) as pool:
        # A pipeline: while the workers analyse the batches in flight, this process reads
        # the next from the database and hands the oldest finished one to the engine.
        waiting: deque[tuple[list[Entry], Callable[[], list[tuple[str, str]]]]] = deque()
        depth = POOL_DEPTH if pool is not None else 0
        for ids in source().all_ids(s, REINDEX_BATCH):
            entries = source().compose(s, ids)
            s.commit()
            waiting.append((entries, _submit(pool, entries, m)))
            while len(waiting) > depth:
                done += _index_analysed(eng, waiting.popleft(), m)
                if progress:
                    progress(done, total)
        while waiting:
            done += _index_analysed(eng, waiting.popleft(), m)
            if progress:
                progress(done, total)
    s.execute(
        update(SearchState)
        .where(SearchState.backend == name)
        .values(generation=new, building=None, rebuilt_at=utcnow())
    )
    s.commit()
    # What changed while we were building: applied to the old generation, not to this one.
    changed = s.execute(
        select(SearchOutbox.doc_id, SearchOutbox.op)
        .where(SearchOutbox.created_at >= started)
        .order_by(SearchOutbox.id)
    ).all()
    if changed:
        _apply(s, eng, [(r.doc_id, r.op) for r in changed])
    s.commit()
    _drop(name, live)
    return done


#: Below this many documents a rebuild analyses in its own process (starting workers costs
#: about a second).
POOL_MIN_DOCS = 5000
#: Entries per task sent to an analysis worker.
POOL_CHUNK = 125
#: Batches being analysed while the engine indexes an earlier one.
POOL_DEPTH = 2
#: Documents read, and committed to the engine, at a time during a rebuild (an engine commit
#: has a fixed cost: Tantivy writes a segment).
REINDEX_BATCH = 2000


@contextmanager
def _analysers(workers: int) -> Iterator[ProcessPoolExecutor | None]:
    if workers <= 0:
        yield None
        return
    # spawn, not fork: the calling process may hold database connections and threads.
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        yield pool
    finally:
        pool.shutdown(cancel_futures=True)


def _submit(
    pool: ProcessPoolExecutor | None, entries: list[Entry], m: str
) -> Callable[[], list[tuple[str, str]]]:
    """Start analysing ``entries``; the returned function waits for their terms, in order."""
    pairs = [(e.title, e.text) for e in entries]
    if pool is None:
        return lambda: [analysis.index_pair(t, x, m) for t, x in pairs]
    chunks = [pairs[i : i + POOL_CHUNK] for i in range(0, len(pairs), POOL_CHUNK)]
    futures = [pool.submit(analysis.index_pairs, chunk, m) for chunk in chunks]
    return lambda: [pair for f in futures for pair in f.result()]


def _index_analysed(
    eng: Backend, waiting: tuple[list[Entry], Callable[[], list[tuple[str, str]]]], m: str
) -> int:
    entries, ready = waiting
    eng.index([_index_doc(e, m, terms) for e, terms in zip(entries, ready(), strict=True)])
    return len(entries)


def _drop(name: str, generation: int) -> None:
    try:
        old = engine(name, generation)
        old.clear()
    except Exception:  # an old generation that cannot be opened is simply removed
        log.warning("search: could not clear generation %s of %s", generation, name)
    _forget(name, generation)
    path = Path(_location(name, generation).path)
    if path.exists():
        shutil.rmtree(path, ignore_errors=True)


def verify(name: str | None = None) -> dict[str, Any]:
    """Documents missing from the index, stale in it (changed since indexed), or in it but
    gone from the database."""
    name = backend_name(name)
    missing: list[int] = []
    stale: list[int] = []
    seen: set[int] = set()
    s = db.session
    indexed = engine(name, _state(name, s)[0]).ids()
    waiting = s.scalar(select(func.count()).where(SearchOutbox.applied_at.is_(None))) or 0
    m = mode()
    for ids in source().all_ids(s, BATCH):
        for e in source().compose(s, ids):
            seen.add(e.id)
            fp = indexed.get(e.id)
            if fp is None:
                missing.append(e.id)
            elif fp != entry_fingerprint(e, m):
                stale.append(e.id)
    extra = sorted(set(indexed) - seen)
    return {
        "backend": name,
        "documents": len(seen),
        "indexed": len(indexed),
        "missing": missing,
        "stale": stale,
        "extra": extra,
        "pending": waiting,
        "ok": not (missing or stale or extra),
    }


# ---------------------------------------------------------------- searching


def _bad(code: str, message: str, field: str) -> ServiceError:
    return ServiceError(code, message, 422, field=field)


def search(
    user: User,
    q: str | None,
    *,
    doc_type: str | None = None,
    unit_id: int | None = None,
    year: int | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    sort: str = "relevance",
    page: int = 1,
    per_page: int = 20,
) -> dict[str, Any]:
    """The page of results this user may read, with the filters' counts."""
    text = (q or "").strip()
    if not text:
        raise _bad("query_required", "请输入检索词", "q")
    if len(text) > qp.MAX_LENGTH:
        raise _bad("query_too_long", f"检索词不能超过 {qp.MAX_LENGTH} 个字符", "q")
    if sort not in SORTS:
        raise _bad("invalid_sort", "排序方式只能是 relevance（相关度）或 date（日期）", "sort")
    if page < 1:
        raise _bad("invalid_page", "页码从 1 开始", "page")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise _bad("invalid_per_page", f"每页条数应在 1 到 {MAX_PER_PAGE} 之间", "per_page")
    if year is not None:
        if not 1900 <= year <= 2100:
            raise _bad("invalid_year", "年份应在 1900 到 2100 之间", "year")
        date_from = max(date_from or date(year, 1, 1), date(year, 1, 1))
        date_to = min(date_to or date(year, 12, 31), date(year, 12, 31))
    if date_from and date_to and date_from > date_to:
        raise _bad("invalid_date_range", "起始日期不能晚于截止日期", "from")
    src = source()
    if doc_type is not None and doc_type not in src.types():
        raise _bad("invalid_doc_type", f"未知的文种：{doc_type}", "doc_type")
    empty = {"items": [], "total": 0, "total_exact": True, "page": page, "per_page": per_page,
             "facets": {"doc_type": [], "unit": [], "year": []}}  # fmt: skip
    if not analysis.has_words(text):
        return empty

    filters = {"doc_type": doc_type, "unit_id": unit_id, "date_from": date_from, "date_to": date_to}
    query = qp.parse(text, mode=mode(), **filters)
    limit = current_app.config.get("SEARCH_MAX_CANDIDATES", 1000)
    eng = engine()
    found = eng.search(query, limit=limit, sort=sort) if query.must else None
    ids = [h.id for h in found.hits] if found else []
    scores = {h.id: h.score for h in found.hits} if found else {}
    exact = found.exact and found.total <= limit if found else True
    numbered: list[int] = []
    if query.number:
        numbered = src.by_number(query.number)
        ids = numbered + [i for i in ids if i not in numbered]
    filtered = any(v is not None for v in filters.values())
    # Counts for the filters: over every match the searcher may read, filters aside.
    if filtered and query.must:
        bare = qp.parse(text, mode=mode())
        facet_ids = [h.id for h in eng.search(bare, limit=limit, sort=sort).hits]
        facet_ids = numbered + [i for i in facet_ids if i not in numbered]
    else:
        facet_ids = ids
    rows = {r.id: r for r in src.readable(user, list(dict.fromkeys(ids + facet_ids)))}
    readable = [i for i in ids if i in rows and _passes(rows[i], filters)]
    facets = _facets([rows[i] for i in facet_ids if i in rows])
    start = (page - 1) * per_page
    page_ids = readable[start : start + per_page]
    shown = src.shown(page_ids) if page_ids else {}
    words = qp.surface_words(text)
    terms = sorted(
        {t for group in query.must for alt in group for t in alt.terms}, key=lambda t: (-len(t), t)
    )
    items = []
    for i in page_ids:
        sh = shown.get(i)
        if sh is None:
            continue
        items.append({
            "id": sh.id,
            "title": sh.title,
            "title_html": str(highlight(sh.title, words, terms)),
            "doc_number": sh.doc_number,
            "issuing_unit": sh.issuing_unit,
            "doc_type": sh.doc_type,
            "doc_type_label": sh.type_label,
            "date": sh.date.isoformat() if sh.date else None,
            "snippet": str(snippet(sh.text, words, terms)),
            "score": round(scores.get(i, 0.0) + (1000.0 if i in numbered else 0.0), 4),
            "url": sh.url,
        })  # fmt: skip
    return {
        "items": items,
        "total": len(readable),
        "total_exact": exact,
        "page": page,
        "per_page": per_page,
        "facets": facets,
    }


def _passes(row: Row, f: dict[str, Any]) -> bool:
    """Filters again on the database's facts (the number lookup bypasses the engine)."""
    if f["doc_type"] and row.doc_type != f["doc_type"]:
        return False
    if f["unit_id"] is not None and row.unit_id != f["unit_id"]:
        return False
    if f["date_from"] and (row.date is None or row.date < f["date_from"]):
        return False
    return not (f["date_to"] and (row.date is None or row.date > f["date_to"]))


def _facets(rows: list[Row]) -> dict[str, list[dict[str, Any]]]:
    types = Counter((r.doc_type, r.type_label) for r in rows)
    units = Counter((r.unit_id, r.unit_name) for r in rows)
    years = Counter(r.date.year for r in rows if r.date)
    return {
        "doc_type": [{"value": v, "label": lb, "count": n} for (v, lb), n in types.most_common()],
        "unit": [{"value": v, "label": lb, "count": n} for (v, lb), n in units.most_common(20)],
        "year": [{"value": y, "label": f"{y}年", "count": n} for y, n in sorted(years.items(), reverse=True)],
    }


# ---------------------------------------------------------------- snippets

SNIPPET_CHARS = 120


def _pattern(words: list[str], terms: list[str]) -> re.Pattern[str] | None:
    needles = sorted({w for w in [*words, *terms] if w and analysis.has_words(w)}, key=lambda w: (-len(w), w))
    if not needles:
        return None
    return re.compile("|".join(re.escape(n) for n in needles), re.IGNORECASE)


def highlight(text: str, words: list[str], terms: list[str]) -> Markup:
    """``text`` escaped, with the matched words in ``<mark>``."""
    pattern = _pattern(words, terms)
    if pattern is None:
        return Markup(html.escape(text))
    out: list[str] = []
    last = 0
    for m in pattern.finditer(text):
        out.append(html.escape(text[last : m.start()]))
        out.append(f"<mark>{html.escape(m.group(0))}</mark>")
        last = m.end()
    out.append(html.escape(text[last:]))
    return Markup("".join(out))


def _first(low: str, words: list[str], terms: list[str]) -> int:
    """Where the first of the typed words occurs in ``low``, else the first of the terms."""
    for needles in (words, terms):
        positions = [p for p in (low.find(analysis.normalize(n)) for n in needles if n) if p >= 0]
        if positions:
            return min(positions)
    return -1


def snippet(text: str, words: list[str], terms: list[str], size: int = SNIPPET_CHARS) -> Markup:
    """A window of the text around the first place the whole typed words occur (else any of
    their terms), with the matches marked."""
    flat = re.sub(r"\s+", " ", text or "").strip()
    if not flat:
        return Markup("")
    at = _first(flat.lower(), words, terms)
    if at < 0:
        # Full-width letters or digits in the text: compare in NFKC (slow on a whole body,
        # so only when the plain lower-case text had none of the words).
        at = _first(analysis.normalize(flat), words, terms)
    start = max(0, at - size // 4) if at >= 0 else 0
    end = min(len(flat), start + size)
    piece = flat[start:end]
    return Markup(
        ("…" if start > 0 else "") + highlight(piece, words, terms) + ("…" if end < len(flat) else "")
    )
