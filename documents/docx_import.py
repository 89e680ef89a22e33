"""Import a .docx someone drafted in Word or WPS into the document's content (see
:mod:`documents.content`), so a clerk does not retype it.

Official documents follow GB/T 9704, which makes their parts recognisable by position and
wording: the red 发文机关标志 and the 发文字号 above the title, the centred large title, the
主送机关 line ending with a colon, then the body, 附件说明, 署名, 成文日期, 附注, and the 版记
(抄送, 印发). The importer takes those parts out so the renderer can lay them out again, and
keeps the body as blocks in document order. It reads what the document says after tracked
changes are accepted: insertions count, deletions do not.

The input is untrusted: anything python-docx cannot read is a 422, and the zip is checked
before parsing so a small upload cannot expand into gigabytes.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import TypeGuard

import docx
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Pt
from docx.table import Table
from docx.text.paragraph import Paragraph

from documents.content import Block, BlockKind, classify
from office.errors import ServiceError

#: Total uncompressed size of the package's members we agree to parse.
MAX_UNCOMPRESSED = 200 * 1024 * 1024
MAX_MEMBERS = 10_000
#: Titles are set in 二号 (22 pt); body text in 三号 (16 pt).
TITLE_MIN_SIZE = Pt(18)

_BRACKETS = r"[〔\[［（(]"
_CLOSE = r"[〕\]］）)]"
DOC_NUMBER = re.compile(rf"(?P<org>[^\s〔\[［（(]*){_BRACKETS}(?P<year>\d{{4}}){_CLOSE}(?P<seq>\d+)号")
_CN_DIGIT = {c: i for i, c in enumerate("〇一二三四五六七八九")} | {"零": 0, "○": 0, "Ｏ": 0}
_DATE = (
    r"(?P<y>\d{4}|[〇○零Ｏ一二三四五六七八九]{4})\s*年\s*"
    r"(?P<m>\d{1,2}|[一二三四五六七八九十]{1,2})\s*月\s*"
    r"(?P<d>\d{1,2}|[一二三四五六七八九十]{1,3})\s*日"
)
DATE_LINE = re.compile(rf"^{_DATE}$")
PRINT_LINE = re.compile(rf"^(?P<printer>.*?)\s*{_DATE}\s*印发$")
#: 份号, 密级 (with 保密期限) and 紧急程度 printed above the 发文机关标志.
_MARK_LINE = re.compile(r"^(\d{6}|(绝密|机密|秘密|特急|加急)(\s*★\s*\S*)?)$")
_HEADING_STYLE = re.compile(r"^(?:heading|标题)\s*([1-9])$", re.IGNORECASE)
_ATTACHMENTS = re.compile(r"^附\s*件\s*[：:]\s*(?P<rest>.*)$")
_NUMBERED = re.compile(r"^(?P<n>\d{1,2})\s*[.．、]\s*(?P<text>\S.*)$")
_CC = re.compile(r"^抄\s*送\s*[：:]\s*(?P<rest>.*)$")
_END_PUNCT = tuple("。；;，,！!？?：:")
_CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")


@dataclass
class ImportedDocx:
    """What the importer recognised; fields mirror :class:`documents.content.DocumentContent`."""

    title: str
    doc_number: str | None = None
    #: 主送机关 without the trailing colon.
    main_recipients: str = ""
    body: list[Block] = field(default_factory=list)
    #: 附件说明: attachment titles in order, numbering removed.
    attachments: list[str] = field(default_factory=list)
    #: 发文机关署名 lines above the 成文日期.
    signature_units: list[str] = field(default_factory=list)
    date: date | None = None
    #: 附注, with its brackets: "（此件公开发布）".
    note: str = ""
    #: 抄送机关, without the colon and final full stop.
    cc: str = ""
    printer: str = ""
    print_date: date | None = None


@dataclass
class _Para:
    """A paragraph reduced to what the heuristics look at."""

    text: str
    centered: bool = False
    large: bool = False
    red: bool = False
    #: Level from a heading style (Heading 2 / 标题 2 → 2), if any.
    level: int | None = None
    title_style: bool = False


_Item = _Para | Block
_LEVELS: dict[int, BlockKind] = {1: "h1", 2: "h2", 3: "h3", 4: "h4"}


def import_docx(data: bytes) -> ImportedDocx:
    """Read a .docx and recognise its parts. Raises ``ServiceError`` 422 (``invalid_docx``,
    ``docx_too_large``, ``empty_docx``) for input that is not a readable Word document."""
    _check_package(data)
    try:
        document = docx.Document(io.BytesIO(data))
        items = [item for item in _items(document) if not isinstance(item, _Para) or item.text]
    except ServiceError:
        raise
    except Exception:  # a parser of untrusted input: whatever breaks it, the file is not usable
        raise _invalid() from None
    if not items:
        raise ServiceError("empty_docx", "文档中没有可导入的内容", 422)
    return _recognise(items)


# ---------------------------------------------------------------- reading the package


def _invalid() -> ServiceError:
    return ServiceError("invalid_docx", "文件不是有效的 .docx 文档", 422)


def _check_package(data: bytes) -> None:
    """A Word package, and one whose members stay within limits once inflated (the sizes in
    the zip directory bound what zipfile will inflate, so they can be trusted here)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError, OSError):
        raise _invalid() from None
    if len(infos) > MAX_MEMBERS or sum(i.file_size for i in infos) > MAX_UNCOMPRESSED:
        raise ServiceError(
            "docx_too_large", f"文档解压后超过 {MAX_UNCOMPRESSED // 1024 // 1024} MB，无法导入", 422
        )
    if "word/document.xml" not in {i.filename for i in infos}:
        raise _invalid()


def _items(document) -> Iterator[_Item]:
    """Paragraphs and tables of the body in document order, including those wrapped in content
    controls (``w:sdt``), which python-docx's own iteration skips."""

    def walk(parent_el, parent) -> Iterator[_Item]:
        for el in parent_el.iterchildren():
            if el.tag == qn("w:p"):
                yield _para(Paragraph(el, parent))
            elif el.tag == qn("w:tbl"):
                table = _table(Table(el, parent))
                if table.rows:
                    yield table
            elif el.tag == qn("w:sdt"):
                content = el.find(qn("w:sdtContent"))
                if content is not None:
                    yield from walk(content, parent)

    yield from walk(document.element.body, document)


def _text(p_el) -> str:
    """The paragraph's text with tracked changes accepted, without text boxes anchored in it
    (those are separate frames, and Word stores each twice for compatibility)."""
    parts: list[str] = []
    runs = p_el.xpath(".//w:r[not(ancestor::w:txbxContent) and not(ancestor::w:moveFrom)]")
    for run in runs:
        for child in run.iterchildren():
            if child.tag == qn("w:t"):
                parts.append(child.text or "")
            elif child.tag == qn("w:tab"):
                parts.append(" ")
            elif child.tag in (qn("w:br"), qn("w:cr")):
                parts.append("\n")
    text = "".join(parts)
    # A manual line break is layout; Chinese joins without a space, other text with one.
    text = re.sub(
        r"\s*\n\s*",
        lambda m: "" if _CJK.match(text[m.start() - 1 : m.start()] or " ") else " ",
        text,
    )
    return text.strip()


def _para(p: Paragraph) -> _Para:
    style = p.style
    style_name = style.name if style is not None else ""
    heading = _HEADING_STYLE.match(style_name or "")
    level = int(heading.group(1)) if heading else None
    return _Para(
        text=_text(p._p),
        centered=_alignment(p) == WD_ALIGN_PARAGRAPH.CENTER,
        large=(_font_size(p) or 0) >= TITLE_MIN_SIZE,
        red=_is_red(p),
        level=level if level and level <= 4 else None,
        title_style=(style_name or "").lower() in ("title", "标题"),
    )


def _alignment(p: Paragraph):
    if p.alignment is not None:
        return p.alignment
    style = p.style
    while style is not None:
        if style.paragraph_format.alignment is not None:
            return style.paragraph_format.alignment
        style = style.base_style
    return None


def _font_size(p: Paragraph):
    sizes = [r.font.size for r in p.runs if r.text.strip() and r.font.size]
    if sizes:
        return max(sizes)
    style = p.style
    while style is not None:
        if style.font.size:
            return style.font.size
        style = style.base_style
    return None


def _is_red(p: Paragraph) -> bool:
    runs = [r for r in p.runs if r.text.strip()]

    def red(run) -> bool:
        try:
            rgb = run.font.color.rgb
        except (AttributeError, ValueError):
            return False
        return rgb is not None and rgb[0] >= 0xC0 and rgb[1] <= 0x60 and rgb[2] <= 0x60

    return bool(runs) and all(red(r) for r in runs)


def _table(table: Table) -> Block:
    """A table as rows of cell text. The editor writes tables as ``|`` separated lines, one per
    row, so a cell's line breaks become spaces and its own ``|`` the full-width ｜."""
    rows: list[list[str]] = []
    for row in table.rows:
        cells = []
        for cell in row.cells:
            text = " ".join(t for t in (_text(p._p) for p in cell.paragraphs) if t)
            cells.append(text.replace("|", "｜"))
        if any(cells):
            rows.append(cells)
    return Block("table", rows=rows)


# ---------------------------------------------------------------- recognising the parts


def _recognise(items: list[_Item]) -> ImportedDocx:
    result = ImportedDocx(title="")
    i = _skip_header(items, result)
    i = _take_title(items, i, result)
    rest = items[i:]
    if rest and isinstance(rest[0], _Para) and _is_recipients(rest[0]):
        result.main_recipients = rest[0].text[:-1].strip()
        rest = rest[1:]
    rest = _take_colophon(rest, result)
    rest = _take_attachments(rest, result)
    rest = _take_signature(rest, result)
    result.body = [_block(item) for item in rest]
    return result


def _skip_header(items: list[_Item], result: ImportedDocx) -> int:
    """Step over the 版头: 份号, 密级, 紧急程度, the red 发文机关标志, the 发文字号 (kept) and
    签发人 lines."""
    i = 0
    while i < len(items) and isinstance(items[i], _Para):
        p = items[i]
        number = DOC_NUMBER.search(p.text)
        if number and len(p.text) <= 60 and not p.text.endswith(_END_PUNCT):
            result.doc_number = result.doc_number or _normalise_number(number)
        elif not (
            p.red
            or (p.text.endswith("文件") and len(p.text) <= 40)
            or _MARK_LINE.match(p.text)
            or p.text.startswith("签发人")
        ):
            break
        i += 1
    return i


def _normalise_number(match: re.Match[str]) -> str:
    return f"{match['org']}〔{match['year']}〕{match['seq']}号"


def _looks_like_title(p: _Para) -> bool:
    return (p.centered or p.large or p.title_style) and _title_shaped(p)


def _title_shaped(p: _Para) -> bool:
    return (
        p.level is None
        and classify(p.text) == "p"
        and not p.text.endswith(_END_PUNCT)
        and not p.text.startswith(("（", "("))
        and not DATE_LINE.match(p.text)
    )


def _take_title(items: list[_Item], start: int, result: ImportedDocx) -> int:
    """The first centred or large paragraph among the short lines that open the document, with
    the lines it wraps onto; failing that, the first paragraph. Returns where the rest begins."""
    found = None
    for j in range(start, len(items)):
        p = items[j]
        if not isinstance(p, _Para) or len(p.text) > 60 or not _title_shaped(p):
            break  # the body has begun
        if _looks_like_title(p):
            found = j
            break
    if found is None:
        first = items[start] if start < len(items) else None
        if not isinstance(first, _Para) or first.level is not None:
            return start
        result.title = first.text
        return start + 1
    head = items[found]
    assert isinstance(head, _Para)
    lines = [head.text]
    end = found + 1
    # A long title wraps onto more paragraphs set the same way.
    while end < len(items) and len(lines) < 3:
        nxt = items[end]
        if not (
            isinstance(nxt, _Para)
            and _looks_like_title(nxt)
            and (nxt.large, nxt.centered) == (head.large, head.centered)
        ):
            break
        lines.append(nxt.text)
        end += 1
    result.title = _join_lines(lines)
    return end


def _join_lines(lines: list[str]) -> str:
    out = lines[0]
    for line in lines[1:]:
        out += line if _CJK.match(out[-1:]) or _CJK.match(line[:1]) else f" {line}"
    return out


def _is_recipients(p: _Para) -> bool:
    return (
        p.text.endswith(("：", ":"))
        and len(p.text) <= 200
        and p.level is None
        and classify(p.text) == "p"
        and not _ATTACHMENTS.match(p.text)
    )


def _take_colophon(rest: list[_Item], result: ImportedDocx) -> list[_Item]:
    """The 版记 closes the document: 抄送 and the 印发 line."""
    kept: list[_Item] = []
    for item in rest:
        if isinstance(item, _Para):
            cc = _CC.match(item.text)
            printed = PRINT_LINE.match(item.text)
            if cc and not result.cc:
                result.cc = cc["rest"].rstrip("。.").strip()
                continue
            if printed:
                result.printer = printed["printer"].strip()
                result.print_date = _date(printed)
                continue
        kept.append(item)
    return kept


def _take_attachments(rest: list[_Item], result: ImportedDocx) -> list[_Item]:
    """附件说明: "附件：1．名称" and the numbered lines under it (or a single "附件：名称")."""
    for i, item in enumerate(rest):
        head = _ATTACHMENTS.match(item.text) if isinstance(item, _Para) else None
        if head is None:
            continue
        names: list[str] = []
        first = head["rest"].strip()
        if first:
            numbered = _NUMBERED.match(first)
            names.append(numbered["text"].strip() if numbered else first)
        end = i + 1
        if not first or _NUMBERED.match(first):
            while end < len(rest) and (numbered := _numbered(rest[end])):
                names.append(numbered["text"].strip())
                end += 1
        result.attachments = names
        return rest[:i] + rest[end:]
    return rest


def _numbered(item: _Item) -> re.Match[str] | None:
    return _NUMBERED.match(item.text) if isinstance(item, _Para) else None


def _take_signature(rest: list[_Item], result: ImportedDocx) -> list[_Item]:
    """成文日期: the first paragraph that is only a date after the body; the short unpunctuated
    lines right above it are the 署名 and a bracketed line right below it is the 附注."""
    for i, item in enumerate(rest):
        match = DATE_LINE.match(item.text) if isinstance(item, _Para) else None
        if match is None or i == 0:
            continue
        when = _date(match)
        if when is None:
            continue
        result.date = when
        start = i
        while start > 0 and len(result.signature_units) < 5 and _is_signature(above := rest[start - 1]):
            start -= 1
            result.signature_units.insert(0, above.text)
        end = i + 1
        below = rest[end] if end < len(rest) else None
        if (
            isinstance(below, _Para)
            and below.text.startswith(("（", "("))
            and below.text.endswith(("）", ")"))
        ):
            result.note = below.text
            end += 1
        return rest[:start] + rest[end:]
    return rest


def _is_signature(item: _Item) -> TypeGuard[_Para]:
    return (
        isinstance(item, _Para)
        and len(item.text) <= 40
        and item.level is None
        and classify(item.text) == "p"
        and not item.text.endswith(_END_PUNCT)
        and not re.search(r"[\d:：]", item.text)
    )


def _block(item: _Item) -> Block:
    if isinstance(item, Block):
        return item
    kind = _LEVELS[item.level] if item.level else classify(item.text)
    return Block(kind, text=item.text)


def _date(match: re.Match[str]) -> date | None:
    try:
        y = match["y"]
        year = int(y) if y.isdigit() else int("".join(str(_CN_DIGIT[c]) for c in y))  # 二〇二六
        return date(year, _cn_number(match["m"]), _cn_number(match["d"]))
    except (KeyError, ValueError):
        return None


def _cn_number(s: str) -> int:
    """1 to 31 in Arabic or Chinese numerals: "11", "十一", "二十三"."""
    if s.isdigit():
        return int(s)
    if "十" in s:
        tens, _, ones = s.partition("十")
        return (_CN_DIGIT[tens] if tens else 1) * 10 + (_CN_DIGIT[ones] if ones else 0)
    return _CN_DIGIT[s]
