"""Text of attachments for the index: .docx (paragraphs and tables, with python-docx), .pdf
(pypdf) and plain text. Cached by content hash: an attachment is indexed again each time its
document changes, but its bytes never change."""

from __future__ import annotations

import logging
from io import BytesIO

from office.files import services as files
from office.files.models import StoredFile

log = logging.getLogger(__name__)

#: Characters of one attachment that are indexed (a 500-page annex adds little past this).
MAX_CHARS = 200_000


def text_of(f: StoredFile) -> str:
    name = (f.name or "").lower()
    kind = (
        "docx"
        if name.endswith(".docx")
        else "pdf"
        if name.endswith(".pdf")
        else "txt"
        if name.endswith((".txt", ".csv", ".md"))
        else ""
    )
    if not kind:
        return ""
    key = (f.sha256, kind)
    hit = _cache.get(key)
    if hit is not None:
        return hit
    try:
        text = _extract(files.read_bytes(f), kind)[:MAX_CHARS]
    except Exception:  # a broken attachment must not stop its document being indexed
        log.warning("search: no text from attachment %s (%s)", f.id, f.name, exc_info=True)
        return ""
    if len(_cache) > 512:
        _cache.clear()
    _cache[key] = text
    return text


_cache: dict[tuple[str, str], str] = {}


def _extract(data: bytes, kind: str) -> str:
    if kind == "docx":
        import docx

        d = docx.Document(BytesIO(data))
        parts = [p.text for p in d.paragraphs]
        for table in d.tables:
            for row in table.rows:
                parts.append(" ".join(c.text for c in row.cells))
        return "\n".join(parts)
    if kind == "pdf":
        from pypdf import PdfReader

        reader = PdfReader(BytesIO(data))
        out: list[str] = []
        size = 0
        for page in reader.pages:
            t = page.extract_text() or ""
            out.append(t)
            size += len(t)
            if size > MAX_CHARS:
                break
        return "\n".join(out)
    for enc in ("utf-8", "gb18030"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", "replace")
