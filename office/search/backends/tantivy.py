"""The fast embedded engine: Tantivy (Rust) through its Python binding, a folder per generation.

Terms arrive analysed, so the text fields use a whitespace tokenizer and nothing else. Queries
are built as Tantivy query objects, never as parser strings (no escaping to get wrong). Only the
id and the fingerprint are stored; ids, dates and filters live in fast fields, so a search
reads no stored document. Sorting by date uses one fast field holding the day and the id
together, so "newest first, ties by id descending" is a single column sort.
"""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

import tantivy

from office.search.backend import Candidates, Hit, IndexDoc, Location, Query, Sort, Term

#: Tokenizer name registered on every index: the analysed terms are split on spaces only.
_TOKENIZER = "office_spaces"
#: How much a term in the title weighs against the same term in the text.
TITLE_BOOST = 3.0
#: Bits of the id inside the date sort key (day ordinal above them): ids below 2**40.
_ID_BITS = 40
_ID_MASK = (1 << _ID_BITS) - 1


def _schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_unsigned_field("id", stored=True, indexed=True, fast=True)
    sb.add_text_field("fp", stored=True, tokenizer_name="raw", index_option="basic")
    sb.add_text_field("title", tokenizer_name=_TOKENIZER, index_option="position")
    sb.add_text_field("text", tokenizer_name=_TOKENIZER, index_option="position")
    sb.add_text_field("doc_type", tokenizer_name="raw", index_option="basic", fast=True)
    sb.add_integer_field("unit_id", indexed=True, fast=True)
    #: The date as a day ordinal (range filters).
    sb.add_integer_field("day", indexed=True, fast=True)
    #: day << 40 | id: sorting by date, ties by id, in one fast-field sort.
    sb.add_integer_field("date_key", fast=True)
    return sb.build()


def _date_key(d: date, doc_id: int) -> int:
    return d.toordinal() << _ID_BITS | doc_id


class TantivyBackend:
    """One Tantivy index in ``location.path``; one writer, opened at the first write and
    kept (Tantivy allows one writer per index folder, so processes that only search never
    take its lock)."""

    name = "tantivy"

    def __init__(self, location: Location, *, heap_bytes: int = 128_000_000, threads: int = 0) -> None:
        self.path = Path(location.path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._heap_bytes = heap_bytes
        self._threads = threads
        self._schema = _schema()
        try:
            self._index = tantivy.Index(self._schema, path=str(self.path), reuse=True)
        except ValueError as exc:  # an index with another schema: built by another version
            raise RuntimeError(f"tantivy index at {self.path} has an older schema; reindex: {exc}") from exc
        self._index.register_tokenizer(
            _TOKENIZER, tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace()).build()
        )
        self._writer: tantivy.IndexWriter | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------ writes

    def _get_writer(self) -> tantivy.IndexWriter:
        if self._writer is None:
            self._writer = self._index.writer(self._heap_bytes, self._threads)
        return self._writer

    def _commit(self, writer: tantivy.IndexWriter) -> None:
        writer.commit()
        self._index.reload()  # the next search in this process sees what was just written

    def index(self, docs: list[IndexDoc]) -> None:
        if not docs:
            return
        latest = {d.id: d for d in docs}  # the last version of an id in the batch wins
        with self._lock:
            writer = self._get_writer()
            existing = self._existing(list(latest))
            if existing:
                writer.delete_documents_by_query(tantivy.Query.term_set_query(self._schema, "id", existing))
            try:
                for d in latest.values():
                    doc = tantivy.Document()
                    doc.add_unsigned("id", d.id)
                    doc.add_text("fp", d.fingerprint)
                    doc.add_text("title", d.title)
                    doc.add_text("text", d.text)
                    doc.add_text("doc_type", d.doc_type)
                    doc.add_integer("unit_id", d.unit_id)
                    doc.add_integer("day", d.date.toordinal())
                    doc.add_integer("date_key", _date_key(d.date, d.id))
                    writer.add_document(doc)
            except BaseException:
                writer.rollback()
                raise
            self._commit(writer)

    def _existing(self, ids: list[int]) -> list[int]:
        """Which of these ids are indexed: only those need a delete before being re-added."""
        searcher = self._index.searcher()
        if not searcher.num_docs:
            return []
        found = searcher.search(
            tantivy.Query.term_set_query(self._schema, "id", ids), limit=len(ids), count=False
        )
        return searcher.fast_field_values("id", [addr for _, addr in found.hits])

    def delete(self, ids: list[int]) -> None:
        if not ids:
            return
        with self._lock:
            writer = self._get_writer()
            writer.delete_documents_by_query(tantivy.Query.term_set_query(self._schema, "id", list(set(ids))))
            self._commit(writer)

    def clear(self) -> None:
        with self._lock:
            writer = self._get_writer()
            writer.delete_all_documents()
            self._commit(writer)

    def close(self) -> None:
        """Release the writer (and its lock on the folder), waiting for merges to finish."""
        with self._lock:
            if self._writer is not None:
                self._writer.wait_merging_threads()
                self._writer = None

    # ------------------------------------------------------------ reads

    def _term_query(self, t: Term) -> tantivy.Query | None:
        terms = [x for x in t.terms if x]
        if not terms:
            return None

        def in_field(field: str, words: list[str], phrase: bool) -> tantivy.Query:
            if phrase and len(words) > 1:
                q = tantivy.Query.phrase_query(self._schema, field, words)
            else:
                q = tantivy.Query.term_query(self._schema, field, words[0])
            return tantivy.Query.boost_query(q, TITLE_BOOST) if field == "title" else q

        def either_field(words: list[str], phrase: bool) -> tantivy.Query:
            return tantivy.Query.boolean_query(
                [(tantivy.Occur.Should, in_field(f, words, phrase)) for f in ("title", "text")]
            )

        if t.phrase or len(terms) == 1:
            return either_field(terms, t.phrase)
        # A word's terms are all required, each in the title or the text.
        return tantivy.Query.boolean_query([(tantivy.Occur.Must, either_field([x], False)) for x in terms])

    def _query(self, query: Query) -> tantivy.Query | None:
        schema = self._schema
        clauses: list[tuple[tantivy.Occur, tantivy.Query]] = []
        for group in query.must:
            alternatives = [q for q in map(self._term_query, group) if q is not None]
            if not alternatives:
                return None
            clauses.append(
                (
                    tantivy.Occur.Must,
                    alternatives[0]
                    if len(alternatives) == 1
                    else tantivy.Query.boolean_query([(tantivy.Occur.Should, q) for q in alternatives]),
                )
            )
        if not clauses:
            return None
        filters: list[tantivy.Query] = []
        if query.doc_type:
            filters.append(tantivy.Query.term_query(schema, "doc_type", query.doc_type))
        if query.unit_id is not None:
            filters.append(tantivy.Query.term_query(schema, "unit_id", query.unit_id))
        if query.date_from or query.date_to:
            filters.append(
                tantivy.Query.range_query(
                    schema,
                    "day",
                    tantivy.FieldType.Integer,
                    query.date_from.toordinal() if query.date_from else None,
                    query.date_to.toordinal() if query.date_to else None,
                )
            )
        # Filters narrow the matches without changing their scores.
        clauses.extend((tantivy.Occur.Must, tantivy.Query.const_score_query(f, 0.0)) for f in filters)
        for t in query.must_not:
            q = self._term_query(t)
            if q is not None:
                clauses.append((tantivy.Occur.MustNot, q))
        return tantivy.Query.boolean_query(clauses)

    def search(self, query: Query, *, limit: int, sort: Sort = "relevance") -> Candidates:
        q = self._query(query)
        if q is None:
            return Candidates()
        searcher = self._searcher()
        if limit <= 0:  # Tantivy needs a positive limit; only the count is wanted
            return Candidates(total=searcher.search(q, limit=1).count or 0)
        if sort == "date":
            result = searcher.search(q, limit=limit, order_by_field="date_key", order=tantivy.Order.Desc)
            hits = [Hit(int(key) & _ID_MASK, 0.0) for key, _ in result.hits]
        else:
            result = searcher.search(q, limit=limit)
            ids = searcher.fast_field_values("id", [addr for _, addr in result.hits])
            hits = [Hit(doc_id, float(score)) for (score, _), doc_id in zip(result.hits, ids, strict=True)]
        return Candidates(hits=hits, total=result.count or 0, exact=True)

    def _searcher(self) -> tantivy.Searcher:
        # Picks up commits of other engine objects and processes now rather than when the
        # folder watcher notices (about 30 µs when nothing changed).
        self._index.reload()
        return self._index.searcher()

    def count(self) -> int:
        return self._searcher().num_docs

    def ids(self) -> dict[int, str]:
        searcher = self._searcher()
        n = searcher.num_docs
        if not n:
            return {}
        addrs = [addr for _, addr in searcher.search(tantivy.Query.all_query(), limit=n, count=False).hits]
        ids = searcher.fast_field_values("id", addrs)
        return {
            doc_id: searcher.doc(addr).get_first("fp") or "" for doc_id, addr in zip(ids, addrs, strict=True)
        }

    def size_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())
