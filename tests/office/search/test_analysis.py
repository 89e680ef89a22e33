"""The indexing fast path of ``office.search.analysis`` against its plain definition: whole-text
NFKC and lower case; rjieba's words of every Chinese run, then the bigrams run by run."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
import rjieba

from office.search import analysis

CORPUS = Path(__file__).resolve().parents[3] / "documents" / "sample" / "corpus.jsonl"
EDGES = [
    "ＡＢＣ１２３　①②㈠ …ﬁ Å é ｶﾀｶﾅ 㐀 丽 Ⅻ ½",  # compatibility characters of every kind
    "单字 a 和 b 中",  # one-character runs
    "数字政府建设２０２６年第３季度",  # full-width digits inside Chinese
    "A\u030a e\u0301 ｅ\u0301",  # combining marks, also after a full-width letter
    "",
]


def _reference_terms(text: str) -> list[str]:
    norm = unicodedata.normalize("NFKC", text).lower()
    runs = analysis._RUN.findall(norm)
    han = [bool(analysis._HAN_ONLY.match(r)) for r in runs]
    out: list[str] = []
    for run, is_han in zip(runs, han, strict=True):
        if is_han:
            out.extend(rjieba.cut(run))
        else:
            out.append(run)
    for run, is_han in zip(runs, han, strict=True):
        if is_han:
            out.extend([run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)])
    return out


def _texts() -> list[str]:
    docs = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [json.dumps(d, ensure_ascii=False) for d in docs] + EDGES


@pytest.mark.parametrize("chunk", range(4))
def test_fast_path_gives_the_reference_terms(chunk):
    texts = _texts()[chunk::4]
    for text in texts:
        assert analysis.normalize(text) == unicodedata.normalize("NFKC", text).lower(), text[:40]
        assert analysis.index_terms(text, "both") == _reference_terms(text), text[:40]
