"""Chinese text analysis, done once here for every engine.

A text becomes a string of terms separated by single spaces, which the engines index as they
are (each engine's own analysis is turned off). The same function analyses documents and
queries, so both sides always agree.

Modes (``SEARCH_ANALYSIS``; measured on the quality set in ``tests/office/search``, see
``docs/search.md`` for the numbers and the decision):

``jieba``
    rjieba's search-mode segmentation (words and the shorter words inside them).
``bigram``
    overlapping character pairs of every run of Chinese, plus the Latin and digit words.
``both`` (default)
    rjieba's words, then the bigrams of every Chinese run. A word the searcher types matches
    when all its rjieba words are present *or* all its bigrams are (next to each other in a
    quoted phrase): a word rjieba cuts differently in a query than in the document is still
    found.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import rjieba

MODES = ("jieba", "bigram", "both")
DEFAULT_MODE = "both"

_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
#: Runs that carry meaning: Chinese characters, or letters and digits (one run per kind).
_RUN = re.compile(rf"[{_HAN}]+|[0-9a-z]+(?:\.[0-9]+)?")
_HAN_ONLY = re.compile(rf"^[{_HAN}]+$")
_WORDISH = re.compile(rf"[{_HAN}0-9a-z]")
_NUMBER = re.compile(rf"([{_HAN}]{{1,16}})\s*[〔\[［(（【]\s*(\d{{4}})\s*[〕\]］)）】]\s*(\d{{1,6}})\s*号?")


#: Every BMP character to its own NFKC form, where that differs (full-width ASCII and
#: punctuation above all). Mapping each character so is exact: the result has the same
#: compatibility decomposition, so its NFKC is the text's NFKC, and when it is already
#: normalised (nearly always) the slow whole-text NFKC is skipped.
_NFKC_CHARS = str.maketrans(
    {c: n for c in range(0xA0, 0x10000) if (n := unicodedata.normalize("NFKC", chr(c))) != chr(c)}
)
#: Overlapping pairs of Chinese characters in text order, and a character standing alone.
_BIGRAM = re.compile(rf"(?=([{_HAN}][{_HAN}]|(?<![{_HAN}])[{_HAN}](?![{_HAN}])))")


def normalize(text: str) -> str:
    """Full-width letters and digits to ASCII, lower case (NFKC keeps 〔〕 and Chinese)."""
    mapped = text.translate(_NFKC_CHARS)
    if not unicodedata.is_normalized("NFKC", mapped):
        mapped = unicodedata.normalize("NFKC", mapped)
    return mapped.lower()


def normalize_number(text: str) -> str | None:
    """``示政办[2026]12``, ``示政办（2026）12号`` ... -> ``示政办〔2026〕12号``; None if not one."""
    m = _NUMBER.search(unicodedata.normalize("NFKC", text or ""))
    if m is None:
        return None
    return f"{m.group(1)}〔{m.group(2)}〕{int(m.group(3))}号"


def find_number(text: str) -> tuple[str, str] | None:
    """The first document number in a query: (normalised number, the query without it)."""
    m = _NUMBER.search(unicodedata.normalize("NFKC", text or ""))
    if m is None:
        return None
    rest = unicodedata.normalize("NFKC", text)
    return f"{m.group(1)}〔{m.group(2)}〕{int(m.group(3))}号", rest[: m.start()] + " " + rest[m.end() :]


def has_words(text: str) -> bool:
    """Whether a query part has anything to search for (punctuation alone has not)."""
    return bool(_WORDISH.search(normalize(text)))


def _bigrams(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


@lru_cache(maxsize=4096)
def _cut(run: str, for_search: bool) -> tuple[str, ...]:
    return tuple(rjieba.cut_for_search(run) if for_search else rjieba.cut(run))


def _runs(text: str) -> list[str]:
    return _RUN.findall(normalize(text))


def index_terms(text: str, mode: str = DEFAULT_MODE) -> list[str]:
    """The terms a document's text is indexed with, in order."""
    if mode == "both":
        # The default, on the hot path of indexing: a run is all Chinese or all ASCII, so its
        # first character tells which; the bigrams come from one regex over the whole text.
        norm = normalize(text)
        out = []
        for run in _RUN.findall(norm):
            if run[0] >= "\u3400":
                out.extend(_cut(run, False) if len(run) < 64 else rjieba.cut(run))
            else:
                out.append(run)
        out.extend(_BIGRAM.findall(norm))
        return out
    out: list[str] = []
    runs = _runs(text)
    han = [bool(_HAN_ONLY.match(r)) for r in runs]
    if mode in ("jieba", "both"):
        for run, is_han in zip(runs, han, strict=True):
            if is_han:
                out.extend(_cut(run, mode == "jieba") if len(run) < 64 else rjieba.cut(run))
            else:
                out.append(run)
    if mode in ("bigram", "both"):
        for run, is_han in zip(runs, han, strict=True):
            if is_han:
                out.extend(_bigrams(run))
            elif mode == "bigram":
                out.append(run)
    return out


def index_text(text: str, mode: str = DEFAULT_MODE) -> str:
    """:func:`index_terms` joined by spaces: what an engine's ``title`` / ``text`` receive."""
    return " ".join(index_terms(text, mode))


def index_pair(title: str, text: str, mode: str = DEFAULT_MODE) -> tuple[str, str]:
    """A document's title and text analysed: what its ``IndexDoc`` carries."""
    return index_text(title, mode), index_text(text, mode)


def index_pairs(pairs: list[tuple[str, str]], mode: str = DEFAULT_MODE) -> list[tuple[str, str]]:
    """:func:`index_pair` of many (one task of a rebuild's analysis worker)."""
    return [index_pair(t, x, mode) for t, x in pairs]


def word_alternatives(
    word: str, mode: str = DEFAULT_MODE, *, phrase: bool = False
) -> list[tuple[tuple[str, ...], bool]]:
    """What one typed word (or quoted phrase) matches, as alternatives of (terms, adjacent).

    A word of several runs (``2026年数字政府``) needs all its runs; within a Chinese run the
    mode decides: rjieba words in any order, all its bigrams (next to each other when quoted),
    or either."""
    runs = _runs(word)
    if not runs:
        return []
    jieba_terms: list[str] = []
    bigram_terms: list[str] = []
    for run in runs:
        if _HAN_ONLY.match(run):
            jieba_terms.extend(_cut(run, False))
            bigram_terms.extend(_bigrams(run))
        else:
            jieba_terms.append(run)
            bigram_terms.append(run)
    alternatives: list[tuple[tuple[str, ...], bool]] = []
    if mode in ("jieba", "both"):
        alternatives.append((tuple(jieba_terms), phrase and len(jieba_terms) > 1))
    if mode in ("bigram", "both"):
        # A quoted phrase asks its bigrams to stand next to each other (within one run of
        # Chinese); a plain word only asks for them all: overlapping pairs such as 字政 are
        # adjacency enough, and position checks were most of a common query's time.
        alt = (tuple(bigram_terms), phrase and len(bigram_terms) > 1 and len(runs) == 1)
        # Without adjacency, bigrams that include every rjieba word add nothing: what they
        # match, the words match too (and each alternative costs the engine a pass).
        redundant = bool(alternatives) and not phrase and set(jieba_terms) <= set(bigram_terms)
        if not redundant:
            alternatives.append(alt)
    return alternatives
