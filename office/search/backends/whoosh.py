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
from whoosh.analysis import Token, Tokenizer
from whoosh.fields import DATETIME, ID, NUMERIC, STORED, TEXT, Schema
from whoosh.scoring import BM25F

from office.search.backend import Candidates, Hit, IndexDoc, Location, Query, Sort, Term


class _Spaces(Tokenizer):
    """Terms arrive analysed and separated by single spaces: ``str.split`` instead of a regex
    (most of whoosh's time per document was its tokenizer)."""

    def __call__(self, value, positions=False, chars=False, keeporiginal=False, removestops=True,
                 start_pos=0, start_char=0, tokenize=True, mode="", **kwargs):  # fmt: skip
        t = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        words = value.split(" ") if tokenize else [value]
        pos = start_pos
        for word in words:
            if not word:
                continue
            t.text = word
            t.boost = 1.0
            t.stopped = False
            if keeporiginal:
                t.original = word
            if word == GAP:
                pos += 1
                continue
            if positions:
                t.pos = pos
                pos += 1
            yield t


_SPACES = _Spaces()


#: Between the title's and the text's terms in ``all``: a position left empty, so a phrase
#: never spans the two.
GAP = "\x1f"


def _schema() -> Schema:
    return Schema(
        id=ID(stored=True, unique=True),
        nid=NUMERIC(int, bits=64, sortable=True),
        fp=STORED(),
        # Matching runs on one field (title and text together): one posting list per term,
        # where per-field alternatives made whoosh's pure-Python matchers the whole cost of
        # a common query. The title field only lifts the score of documents it names.
        all=TEXT(analyzer=_SPACES, phrase=True),
        title=TEXT(analyzer=_SPACES, phrase=True),
        doc_type=ID(),
        unit_id=NUMERIC(int, bits=64),
        date=DATETIME(sortable=True),
    )


def _match(t: Term) -> wq.Query:
    if len(t.terms) == 1:
        return wq.Term("all", t.terms[0])
    if t.phrase:
        return wq.Phrase("all", list(t.terms))
    return wq.And([wq.Term("all", x) for x in t.terms])


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
            # Which ids are already indexed, with one searcher for the batch (update_document
            # opens a reader per document).
            with self._ix.searcher() as s:
                existing = [d.id for d in latest if s.document_number(id=str(d.id)) is not None]
            w = self._writer()
            try:
                for i in existing:
                    w.delete_by_term("id", str(i))
                for d in latest:
                    w.add_document(
                        id=str(d.id),
                        nid=d.id,
                        fp=d.fingerprint,
                        all=f"{d.title} {GAP} {d.text}",
                        title=d.title,
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
        required: wq.Query = wq.And([wq.Or([_match(t) for t in group]) for group in query.must])
        words = sorted({x for group in query.must for t in group for x in t.terms})
        # Documents whose title has the words, the more so side by side, score higher
        # (optional clauses: evaluated only on the documents that match).
        lift: list[wq.Query] = [wq.Or([wq.Term("title", x) for x in words], boost=3.0)]
        lift += [wq.Phrase("title", list(t.terms), boost=3.0) for g in query.must for t in g
                 if len(t.terms) > 1]  # fmt: skip
        q = wq.AndMaybe(required, wq.Or(lift))
        filters: list[wq.Query] = []
        if query.doc_type:
            filters.append(wq.Term("doc_type", query.doc_type))
        if query.unit_id is not None:
            filters.append(wq.NumericRange("unit_id", query.unit_id, query.unit_id))
        if query.date_from or query.date_to:
            start = _as_dt(query.date_from) if query.date_from else None
            end = _as_dt(query.date_to) if query.date_to else None
            filters.append(wq.DateRange("date", start, end))
        allow = wq.And(filters) if filters else None
        # Exclusions as a mask: AndNot over several segments loses them at large limits.
        mask = wq.Or([_match(t) for t in query.must_not]) if query.must_not else None
        with self._lock:
            s = self._current()
            if sort == "date":
                from whoosh.sorting import FieldFacet, MultiFacet

                facet = MultiFacet([FieldFacet("date", reverse=True), FieldFacet("nid", reverse=True)])
                results = s.search(q, limit=limit, sortedby=facet, filter=allow, mask=mask)
            else:
                results = s.search(q, limit=limit, filter=allow, mask=mask)
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
