"""The embedded default engine: Whoosh, pure Python, an index folder in the instance.

Kept cheap: terms arrive analysed (a space tokenizer, no Whoosh analysis), no stored body
(only the id and the fingerprint are stored), and counting stops at the page the service asks
for (``Candidates.exact`` is False when more matched than were collected).
"""

from __future__ import annotations

import threading
from datetime import date, datetime
from pathlib import Path

from whoosh import index as windex
from whoosh import query as wq
from whoosh.analysis import RegexTokenizer
from whoosh.fields import DATETIME, ID, NUMERIC, STORED, TEXT, Schema
from whoosh.scoring import BM25F

from office.search.backend import Candidates, Hit, IndexDoc, Location, Query, Sort, Term

_SPACES = RegexTokenizer(r"[^ ]+")


def _schema() -> Schema:
    return Schema(
        id=ID(stored=True, unique=True),
        nid=NUMERIC(int, bits=64, sortable=True),
        fp=STORED(),
        title=TEXT(analyzer=_SPACES, phrase=True, field_boost=3.0),
        text=TEXT(analyzer=_SPACES, phrase=True),
        doc_type=ID(),
        unit_id=NUMERIC(int, bits=64),
        date=DATETIME(sortable=True),
    )


def _term_query(t: Term) -> wq.Query:
    per_field = []
    for field in ("title", "text"):
        if t.phrase and len(t.terms) > 1:
            per_field.append(wq.Phrase(field, list(t.terms)))
        elif len(t.terms) == 1:
            per_field.append(wq.Term(field, t.terms[0]))
        else:
            per_field.append(wq.And([wq.Term(field, x) for x in t.terms]))
    if not (t.phrase and len(t.terms) > 1) and len(t.terms) > 1:
        # The terms of a word may be split between title and text.
        per_field.append(wq.And([wq.Or([wq.Term("title", x), wq.Term("text", x)]) for x in t.terms]))
    return wq.Or(per_field)


def _as_dt(d: date) -> datetime:
    return datetime(d.year, d.month, d.day)


class WhooshBackend:
    name = "whoosh"

    def __init__(self, location: Location) -> None:
        self.path = Path(location.path)
        self.path.mkdir(parents=True, exist_ok=True)
        if windex.exists_in(str(self.path)):
            self._ix = windex.open_dir(str(self.path))
        else:
            self._ix = windex.create_in(str(self.path), _schema())
        self._lock = threading.Lock()
        self._searcher = None

    # ------------------------------------------------------------ writes

    def _writer(self):
        return self._ix.writer(limitmb=128, procs=1)

    def index(self, docs: list[IndexDoc]) -> None:
        if not docs:
            return
        latest = list({d.id: d for d in docs}.values())  # the last version of an id wins
        with self._lock:
            w = self._writer()
            try:
                for d in latest:
                    w.update_document(
                        id=str(d.id),
                        nid=d.id,
                        fp=d.fingerprint,
                        title=d.title,
                        text=d.text,
                        doc_type=d.doc_type,
                        unit_id=d.unit_id,
                        date=_as_dt(d.date),
                    )
            except BaseException:
                w.cancel()
                raise
            w.commit()
            self._refresh()

    def delete(self, ids: list[int]) -> None:
        if not ids:
            return
        with self._lock:
            w = self._writer()
            for i in ids:
                w.delete_by_term("id", str(i))
            w.commit()
            self._refresh()

    def clear(self) -> None:
        with self._lock:
            self._ix = windex.create_in(str(self.path), _schema())
            self._refresh()

    def _refresh(self) -> None:
        if self._searcher is not None:
            self._searcher.close()
        self._searcher = None

    # ------------------------------------------------------------ reads

    def _current(self):
        s = self._searcher
        if s is None:
            s = self._searcher = self._ix.searcher(weighting=BM25F())
        else:
            fresh = s.refresh()  # another writer (reindex, another process) committed
            if fresh is not s:
                s = self._searcher = fresh
        return s

    def search(self, query: Query, *, limit: int, sort: Sort = "relevance") -> Candidates:
        if not query.must:
            return Candidates()
        parts: list[wq.Query] = [wq.Or([_term_query(t) for t in group]) for group in query.must]
        if query.doc_type:
            parts.append(wq.Term("doc_type", query.doc_type))
        if query.unit_id is not None:
            parts.append(wq.NumericRange("unit_id", query.unit_id, query.unit_id))
        if query.date_from or query.date_to:
            start = _as_dt(query.date_from) if query.date_from else None
            end = _as_dt(query.date_to) if query.date_to else None
            parts.append(wq.DateRange("date", start, end))
        q: wq.Query = wq.And(parts)
        # Exclusions as a mask: AndNot over several segments loses them at large limits.
        mask = wq.Or([_term_query(t) for t in query.must_not]) if query.must_not else None
        with self._lock:
            s = self._current()
            if sort == "date":
                from whoosh.sorting import FieldFacet, MultiFacet

                facet = MultiFacet([FieldFacet("date", reverse=True), FieldFacet("nid", reverse=True)])
                results = s.search(q, limit=limit, sortedby=facet, mask=mask)
            else:
                results = s.search(q, limit=limit, mask=mask)
            by_score = sort != "date"  # sorted results carry the sort key, not a score
            hits = [Hit(int(r["id"]), float(r.score or 0.0) if by_score else 0.0) for r in results]
            exact = results.has_exact_length()
            total = len(results) if exact else max(results.estimated_length(), len(hits))
        return Candidates(hits=hits, total=total, exact=exact)

    def count(self) -> int:
        with self._lock:
            return self._current().doc_count()

    def ids(self) -> dict[int, str]:
        with self._lock:
            s = self._current()
            return {int(f["id"]): f.get("fp", "") for f in s.all_stored_fields()}

    def size_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.path.iterdir() if f.is_file())
