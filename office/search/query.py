"""The query language of the search box, parsed into :class:`office.search.backend.Query`.

    数字政府 协同办公        both words (AND is the default)
    "协同办公平台"            an exact phrase (also “…” and 「…」)
    通知 OR 通报             either word (``|`` too); binds tighter than the AND between words
    数字政府 -试点            leave out documents with 试点
    示政办〔2026〕12号        a document number: that document first ([] and () work too)

Punctuation between words separates them; a query of punctuation only has nothing to search
for and finds nothing (not an error).
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date

from office.search import analysis
from office.search.backend import Query, Term

MAX_LENGTH = 200

_TOKEN = re.compile(r'(-?)(?:"([^"]*)"?|“([^”]*)”?|「([^」]*)」?|(\S+))')
_OR = {"or", "|", "或"}


def _terms(text: str, mode: str, phrase: bool) -> tuple[Term, ...]:
    return tuple(
        Term(terms, adjacent) for terms, adjacent in analysis.word_alternatives(text, mode, phrase=phrase)
    )


def parse(
    text: str,
    *,
    mode: str = analysis.DEFAULT_MODE,
    doc_type: str | None = None,
    unit_id: int | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> Query:
    """Parse what the searcher typed (length is checked by the caller)."""
    number = None
    found = analysis.find_number(text)
    if found is not None:
        number, text = found
    groups: list[list[Term]] = []
    must_not: list[Term] = []
    join_next = False
    for m in _TOKEN.finditer(text):
        minus, q1, q2, q3, bare = m.groups()
        quoted = next((q for q in (q1, q2, q3) if q is not None), None)
        if quoted is None and bare is not None and bare.lower() in _OR and not minus:
            join_next = bool(groups)
            continue
        raw = quoted if quoted is not None else bare
        # Unquoted words split at punctuation: 数字政府，协同办公 is two words.
        parts = [raw] if quoted is not None else [p for p in re.split(r"[^\w]+", raw) if p]
        for i, part in enumerate(parts):
            alternatives = _terms(part, mode, phrase=quoted is not None)
            if not alternatives:
                continue
            if minus:
                # An exclusion drops documents matching any way of reading the word.
                must_not.extend(alternatives)
                continue
            if join_next and groups and i == 0:
                groups[-1].extend(alternatives)
            else:
                groups.append(list(alternatives))
        join_next = False
    query = Query(
        must=tuple(tuple(dict.fromkeys(g)) for g in groups),
        must_not=tuple(dict.fromkeys(must_not)),
        number=number,
        doc_type=doc_type,
        unit_id=unit_id,
        date_from=date_from,
        date_to=date_to,
    )
    return query


def without_number(query: Query) -> Query:
    return replace(query, number=None)


def surface_words(text: str) -> list[str]:
    """The words as typed (no exclusions, no operators): what snippets highlight first."""
    out: list[str] = []
    for m in _TOKEN.finditer(text):
        minus, q1, q2, q3, bare = m.groups()
        if minus:
            continue
        raw = next((q for q in (q1, q2, q3, bare) if q is not None), "")
        if raw.lower() in _OR:
            continue
        out.extend(p for p in re.split(r"[^\w]+", analysis.normalize(raw)) if p)
    return list(dict.fromkeys(out))
