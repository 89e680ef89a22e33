"""GB/T 9704-2012 (党政机关公文格式) rendering of a :class:`~documents.content.DocumentContent`
to .docx.

The layout follows the standard's 版头 / 主体 / 版记 (sections 7.2–7.4 and 7.5): A4 paper, a
156 × 225 mm text block holding 22 lines of 28 characters of 3号 仿宋, red 发文机关标志 and
separator line, numbered headings in 黑体 / 楷体 / 仿宋, 署名 and 成文日期 laid out for sealed and
unsealed documents, the 版记 at the foot of the last page and "— n —" page numbers alternating
right and left.

Everything is measured from the grid: one line is ``LINE_PT`` (225 mm / 22), one character
``CHAR_PT`` (156 mm / 28). The section declares that grid (``w:docGrid``, so Word's page
set-up shows 22 × 28), and every paragraph has that exact line height and every 3号 run the
matching character spacing, so Word and LibreOffice break lines and pages in the same places.

python-docx provides the package, the section and the footers; paragraphs, runs and tables
are written as OOXML directly with lxml (python-docx's generic child insertion scans the
siblings on every property and made a render several times slower), and so is what
python-docx has no API for: East-Asian fonts, borders, the grid, fields, frames and floating
pictures.
"""

from __future__ import annotations

import functools
import io
import math
import re
import unicodedata
from collections.abc import Iterable
from datetime import UTC, datetime

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.section import WD_SECTION
from docx.oxml import OxmlElement, parse_xml
from docx.oxml.ns import nsdecls, qn
from docx.shared import Emu, Mm, Pt
from lxml import etree

from documents.content import Block, DocumentContent, cn_date

# ---------------------------------------------------------------- geometry (GB/T 9704 §5)

PT_PER_MM = 72 / 25.4
PAGE_W_MM, PAGE_H_MM = 210, 297
TOP_MM, BOTTOM_MM, LEFT_MM, RIGHT_MM = 37, 35, 28, 26
TEXT_W_MM = PAGE_W_MM - LEFT_MM - RIGHT_MM  # 156
TEXT_H_MM = PAGE_H_MM - TOP_MM - BOTTOM_MM  # 225
LINES_PER_PAGE, CHARS_PER_LINE = 22, 28
TEXT_W_PT = TEXT_W_MM * PT_PER_MM

#: Line pitch in twips, rounded down so that 22 lines fit the block (579 tw = 28.95 pt).
LINE_TWIPS = math.floor(TEXT_H_MM * 1440 / 25.4 / LINES_PER_PAGE)
LINE_PT = LINE_TWIPS / 20
#: Character pitch: 28 characters across the block (≈ 15.79 pt, a 3号 character squeezed).
CHAR_PT = TEXT_W_PT / CHARS_PER_LINE

SIZE_BODY = 16  # 3号
SIZE_TITLE = 22  # 2号
SIZE_SMALL = 14  # 4号: 版记, page numbers, tables
CHARS_PER_LINE_SMALL = math.floor(TEXT_W_PT / SIZE_SMALL)
#: w:docGrid/@w:charSpace: pitch − font size in 1/4096 pt, rounded so 28 characters fit.
CHAR_SPACE = math.floor((CHAR_PT - SIZE_BODY) * 4096)
#: The squeeze as character spacing on every 3号 run, in twentieths of a point: the grid's
#: −0.21 pt rounded away from zero plus one twip (−0.3 pt), because LibreOffice wants about
#: a point to spare at the end of a line before it fits the 28th character.
BODY_SPACING_TWIPS = math.floor((CHAR_PT - SIZE_BODY) * 20) - 1

FONT_TITLE = "方正小标宋简体"
FONT_BODY = "仿宋_GB2312"
FONT_HEI = "黑体"
FONT_KAI = "楷体_GB2312"
FONT_SONG = "宋体"
HEADING_FONTS = {"h1": FONT_HEI, "h2": FONT_KAI, "h3": FONT_BODY, "h4": FONT_BODY}

RED = "FF0000"

#: 发文机关标志: its top edge 35 mm below the text block's; size bounds of its characters.
MARK_TOP_MM = 35
MARK_MAX_PT, MARK_MIN_PT = 52, 30
#: Share of the text block width the mark may take.
MARK_FILL = 0.92
#: Red separator: 4 mm under the 发文字号; rule width in eighths of a point.
RULE_GAP_MM = 4
RED_RULE_SZ = 12
#: 版记 separators: 0.35 mm (≈ 1 pt) outer, 0.25 mm (≈ 0.75 pt) inner, in eighths of a point.
RECORD_THICK_SZ, RECORD_THIN_SZ = 8, 6
#: Seal diameter and the gap kept between joint seals (they must not touch).
SEAL_MM, SEAL_GAP_MM = 42, 4
#: Where the seal's centre sits below the top of the 署名 line: a little above the middle of
#: 署名 + 成文日期, so that both are "居印章中心偏下".
SEAL_CENTRE_PT = 0.6 * LINE_PT
#: Page number: the em dashes 7 mm below the text block; 4号 line.
FOOTER_DISTANCE_MM = BOTTOM_MM - 7 - SIZE_SMALL / PT_PER_MM / 2

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"
_TEXT_SPLIT = re.compile(r"([\t\n])")


def _schema_order(names: str) -> list[str]:
    """Child element order of a property element, as the OOXML schema fixes it."""
    return names.split()


#: Children of w:pPr in schema order (Word refuses files whose properties are out of order).
_PPR_ORDER = _schema_order(
    "pStyle keepNext keepLines pageBreakBefore framePr widowControl numPr suppressLineNumbers pBdr "
    "shd tabs suppressAutoHyphens kinsoku wordWrap overflowPunct topLinePunct autoSpaceDE "
    "autoSpaceDN bidi adjustRightInd snapToGrid spacing ind contextualSpacing mirrorIndents "
    "suppressOverlap jc textDirection textAlignment textboxTightWrap outlineLvl divId cnfStyle "
    "rPr sectPr pPrChange"
)


def render_docx(c: DocumentContent) -> bytes:
    """The document as .docx bytes, laid out to GB/T 9704-2012."""
    doc = Document(io.BytesIO(_template()))
    _head(doc, c)
    _main(doc, c)
    _record(doc, c)
    _core_properties(doc, c)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


@functools.cache
def _template() -> bytes:
    """The empty document every render starts from, built once: defaults, page, footers,
    and nothing of python-docx's template that a 公文 does not use."""
    doc = Document()
    _prune_template(doc)
    _setup_defaults(doc)
    _setup_section(doc)
    _footers(doc)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def _prune_template(doc: DocxDocument) -> None:
    """Drop what a 公文 has no use for: the thumbnail of an empty page, the Word 2010 copy of
    the styles, the bibliography item, list numbering, and the ~200 unused styles (700 kB of
    XML that every render would otherwise parse and compress)."""
    unused = ("/thumbnail", "/stylesWithEffects", "/customXml", "/numbering")
    for rels in (doc.part.package.rels, doc.part.rels):
        for r_id in [k for k, rel in rels.items() if rel.reltype.endswith(unused)]:
            rels.pop(r_id)
    styles = doc.styles.element
    for style in styles.findall(qn("w:style")):
        if style.get(qn("w:default")) != "1":
            styles.remove(style)


# ---------------------------------------------------------------- OOXML helpers


def _insert_ordered(parent, child, order: list[str]):
    """Insert ``child`` into ``parent`` in schema order, replacing one of the same tag."""
    tag = etree.QName(child).localname
    for old in parent.findall(f"{W}{tag}"):
        parent.remove(old)
    later = set(order[order.index(tag) + 1 :])
    for i, existing in enumerate(parent):
        if etree.QName(existing).localname in later:
            parent.insert(i, child)
            return child
    parent.append(child)
    return child


def _el(tag: str, **attrs: str | int):
    """A detached ``w:`` element with ``w:`` attributes."""
    el = OxmlElement(f"w:{tag}")
    for k, v in attrs.items():
        el.set(f"{W}{k}", str(v))
    return el


def _sub(parent, tag: str, **attrs: str | int):
    """Append a ``w:`` child with ``w:`` attributes."""
    el = etree.SubElement(parent, f"{W}{tag}")
    for k, v in attrs.items():
        el.set(f"{W}{k}", str(v))
    return el


def _set_fonts(rpr, font: str) -> None:
    """Name ``font`` for every script in a style's or the defaults' w:rFonts."""
    rfonts = rpr.get_or_add_rFonts()
    for attr in ("asciiTheme", "hAnsiTheme", "eastAsiaTheme", "cstheme"):
        rfonts.attrib.pop(f"{W}{attr}", None)
    for attr in ("ascii", "hAnsi", "eastAsia", "cs"):
        rfonts.set(f"{W}{attr}", font)
    rfonts.set(f"{W}hint", "eastAsia")


def text_width(text: str) -> float:
    """Width in characters: full-width CJK counts 1, Latin letters and digits ½."""
    return sum(1.0 if unicodedata.east_asian_width(ch) in "WF" else 0.5 for ch in text)


# ---------------------------------------------------------------- paragraphs and runs


def _new_p(where):
    """A new empty w:p at the end of the document body (before its w:sectPr) or of a table
    cell (a w:tc element)."""
    p = OxmlElement("w:p")
    if isinstance(where, DocxDocument):
        body = where.element.body
        if len(body) and body[-1].tag == f"{W}sectPr":
            body[-1].addprevious(p)
        else:
            body.append(p)
    else:
        where.append(p)
    return p


def _format(
    p,
    *,
    align: str = "both",
    line_pt: float = LINE_PT,
    first: float = 0,
    left: float = 0,
    right: float = 0,
):
    """(Re)write the paragraph properties: exact line height, no space around, indents in
    points (``first`` < 0 hangs), ``align`` a w:jc value (both, left, center, right,
    distribute)."""
    for old in p.findall(f"{W}pPr"):
        p.remove(old)
    ppr = etree.Element(f"{W}pPr")
    p.insert(0, ppr)
    _sub(ppr, "spacing", before=0, after=0, line=round(line_pt * 20), lineRule="exact")
    if first or left or right:
        ind = _sub(ppr, "ind")
        for attr, pt in (("left", left), ("right", right)):
            if pt:
                ind.set(f"{W}{attr}", str(round(pt * 20)))
        if first:
            ind.set(f"{W}firstLine" if first > 0 else f"{W}hanging", str(round(abs(first) * 20)))
    _sub(ppr, "jc", val=align)
    return p


def _para(where, **fmt):
    """A new paragraph on the grid (see :func:`_format` for ``fmt``)."""
    return _format(_new_p(where), **fmt)


def _run(p, text: str, font: str = FONT_BODY, size: float = SIZE_BODY, *, color: str = "", scale=100):
    """A run in ``font`` for every script (w:rFonts with w:eastAsia: python-docx's
    ``font.name`` sets only the Latin fonts); ``color`` hex; ``scale`` (%) narrows the
    characters (w:w). Tabs and line breaks in ``text`` become w:tab and w:br."""
    r = _sub(p, "r")
    rpr = _sub(r, "rPr")
    _sub(rpr, "rFonts", ascii=font, hAnsi=font, eastAsia=font, cs=font, hint="eastAsia")
    if color:
        _sub(rpr, "color", val=color)
    if size == SIZE_BODY:
        _sub(rpr, "spacing", val=BODY_SPACING_TWIPS)
    if scale != 100:
        _sub(rpr, "w", val=scale)
    _sub(rpr, "sz", val=round(size * 2))
    _sub(rpr, "szCs", val=round(size * 2))
    for part in _TEXT_SPLIT.split(text):
        if part == "\t":
            _sub(r, "tab")
        elif part == "\n":
            _sub(r, "br")
        elif part:
            t = _sub(r, "t")
            t.text = part
            t.set(XML_SPACE, "preserve")
    return r


def _tabs(p, *stops: tuple[float, str]) -> None:
    """Tab stops at (position in points from the text block's left edge, w:val)."""
    tabs = _el("tabs")
    for pos, kind in sorted(stops):
        _sub(tabs, "tab", val=kind, pos=round(pos * 20))
    _insert_ordered(p.find(f"{W}pPr"), tabs, _PPR_ORDER)


def _blank(where, lines: int = 1) -> list:
    return [_para(where) for _ in range(lines)]


def _spacer(where, height_pt: float):
    """An empty paragraph exactly ``height_pt`` high (its mark shrunk to fit)."""
    p = _para(where, line_pt=max(height_pt, 1))
    mark = _sub(p.find(f"{W}pPr"), "rPr")
    _sub(mark, "sz", val=2)
    _sub(mark, "szCs", val=2)
    return p


def _keep_with_next(*paragraphs) -> None:
    for p in paragraphs:
        _insert_ordered(p.find(f"{W}pPr"), _el("keepNext"), _PPR_ORDER)


def _border(p, side: str, sz: int, color: str = "000000") -> None:
    """A single rule on one side of the paragraph (widths in eighths of a point)."""
    ppr = p.find(f"{W}pPr")
    pbdr = ppr.find(f"{W}pBdr")
    if pbdr is None:
        pbdr = _insert_ordered(ppr, _el("pBdr"), _PPR_ORDER)
    _sub(pbdr, side, val="single", sz=sz, space=0, color=color)


# ---------------------------------------------------------------- tables


def _table(where, rows: int, widths: list[float], *, padded: bool = False, **borders: int):
    """A centred table of ``rows`` × ``len(widths)`` with fixed column widths (pt); cells
    without side padding unless ``padded``; ``borders`` maps a side (top, left, bottom,
    right, insideH, insideV) to a single rule's width in eighths of a point, none elsewhere.
    Returns the cells, row by row (w:tc elements, each holding one empty paragraph)."""
    tbl = OxmlElement("w:tbl")
    if isinstance(where, DocxDocument):
        where.element.body[-1].addprevious(tbl)
    else:
        where.append(tbl)
    tbl_pr = _sub(tbl, "tblPr")
    _sub(tbl_pr, "tblW", w=round(sum(widths) * 20), type="dxa")
    _sub(tbl_pr, "jc", val="center")
    rules = _sub(tbl_pr, "tblBorders")
    for side in ("top", "left", "bottom", "right", "insideH", "insideV"):
        sz = borders.get(side, 0)
        rule = {"val": "single", "sz": sz, "space": 0, "color": "000000"} if sz else {"val": "nil"}
        _sub(rules, side, **rule)
    _sub(tbl_pr, "tblLayout", type="fixed")
    if not padded:
        margins = _sub(tbl_pr, "tblCellMar")
        _sub(margins, "left", w=0, type="dxa")
        _sub(margins, "right", w=0, type="dxa")
    grid = _sub(tbl, "tblGrid")
    for w in widths:
        _sub(grid, "gridCol", w=round(w * 20))
    cells = []
    for _ in range(rows):
        tr = _sub(tbl, "tr")
        row = []
        for w in widths:
            tc = _sub(tr, "tc")
            _sub(_sub(tc, "tcPr"), "tcW", w=round(w * 20), type="dxa")
            _sub(tc, "p")
            row.append(tc)
        cells.append(row)
    return cells


# ---------------------------------------------------------------- document set-up


def _setup_defaults(doc: DocxDocument) -> None:
    """仿宋_GB2312 3号 on exact 28.95 pt lines as the document default, Chinese language.

    Paragraphs do not snap to the character grid and add no space between Chinese and Latin
    text: 3号 runs carry the grid's squeeze as character spacing instead
    (``BODY_SPACING_TWIPS``), which Word and LibreOffice lay out alike (LibreOffice's own
    snap-to-character grid puts a 16 pt character in two 15.8 pt cells)."""
    defaults = doc.styles.element.find(qn("w:docDefaults"))
    rpr = defaults.find(qn("w:rPrDefault")).find(qn("w:rPr"))
    _set_fonts(rpr, FONT_BODY)
    for tag in ("sz", "szCs"):
        rpr.find(qn(f"w:{tag}")).set(qn("w:val"), str(SIZE_BODY * 2))
    rpr.find(qn("w:lang")).set(qn("w:eastAsia"), "zh-CN")
    ppr = defaults.find(qn("w:pPrDefault")).find(qn("w:pPr"))
    spacing = ppr.find(qn("w:spacing"))
    for k, v in {"after": "0", "line": str(LINE_TWIPS), "lineRule": "exact"}.items():
        spacing.set(qn(f"w:{k}"), v)
    normal = doc.styles["Normal"]
    normal.font.size = Pt(SIZE_BODY)
    _set_fonts(normal.element.get_or_add_rPr(), FONT_BODY)
    for parent in (ppr, normal.element.get_or_add_pPr()):
        for tag in ("widowControl", "autoSpaceDE", "autoSpaceDN", "snapToGrid"):
            _insert_ordered(parent, _el(tag, val=0), _PPR_ORDER)
    theme_lang = doc.settings.element.find(qn("w:themeFontLang"))
    if theme_lang is not None:
        theme_lang.set(qn("w:eastAsia"), "zh-CN")
    doc.settings.odd_and_even_pages_header_footer = True


def _setup_section(doc: DocxDocument) -> None:
    """A4, the standard's margins, and the 22 × 28 document grid (w:docGrid)."""
    s = doc.sections[0]
    s.start_type = WD_SECTION.NEW_PAGE
    s.page_width, s.page_height = Mm(PAGE_W_MM), Mm(PAGE_H_MM)
    s.top_margin, s.bottom_margin = Mm(TOP_MM), Mm(BOTTOM_MM)
    s.left_margin, s.right_margin = Mm(LEFT_MM), Mm(RIGHT_MM)
    s.header_distance = Mm(15)
    s.footer_distance = Mm(FOOTER_DISTANCE_MM)
    s.gutter = Mm(0)
    sect = s._sectPr
    for old in sect.findall(qn("w:docGrid")):
        sect.remove(old)
    sect.append(_el("docGrid", type="linesAndChars", linePitch=LINE_TWIPS, charSpace=CHAR_SPACE))


def _footers(doc: DocxDocument) -> None:
    """Page numbers "— n —" in 4号 宋体: odd pages one character in from the right, even
    pages one in from the left (w:evenAndOddHeaders is set in the settings)."""
    s = doc.sections[0]
    _page_number(s.footer.paragraphs[0]._p, "right")
    _page_number(s.even_page_footer.paragraphs[0]._p, "left")


def _page_number(p, align: str) -> None:
    side = {"right": SIZE_SMALL} if align == "right" else {"left": SIZE_SMALL}
    _format(p, align=align, line_pt=SIZE_SMALL, **side)
    _run(p, "— ", FONT_SONG, SIZE_SMALL)
    _field(p, "PAGE", "1")
    _run(p, " —", FONT_SONG, SIZE_SMALL)


def _field(p, instr: str, placeholder: str) -> None:
    """A complex field (w:fldChar begin / instrText / separate / result / end)."""
    _sub(_run(p, "", FONT_SONG, SIZE_SMALL), "fldChar", fldCharType="begin")
    instr_text = _sub(_run(p, "", FONT_SONG, SIZE_SMALL), "instrText")
    instr_text.text = f" {instr} "
    instr_text.set(XML_SPACE, "preserve")
    _sub(_run(p, "", FONT_SONG, SIZE_SMALL), "fldChar", fldCharType="separate")
    _run(p, placeholder, FONT_SONG, SIZE_SMALL)
    _sub(_run(p, "", FONT_SONG, SIZE_SMALL), "fldChar", fldCharType="end")


# ---------------------------------------------------------------- 版头


def _head(doc: DocxDocument, c: DocumentContent) -> None:
    """份号, 密级, 紧急程度, 发文机关标志, 发文字号 (+ 签发人) and the red separator."""
    used = 0.0
    for text, font in _head_marks(c):
        _run(_para(doc, align="left"), text, font)
        used += LINE_PT
    names = c.issuers or [""]
    size, scale = _mark_size(names, c.mark_suffix)
    box = round(size * 1.15, 1)
    _spacer(doc, MARK_TOP_MM * PT_PER_MM - used - (box - size) / 2)
    if len(names) > 1:
        _joint_mark(doc, names, c.mark_suffix, size, scale, box)
    else:
        p = _para(doc, align="center", line_pt=box)
        _run(p, names[0] + c.mark_suffix, FONT_TITLE, size, color=RED, scale=scale)
    _blank(doc, 2)
    if c.direction == "up" and c.signers:
        _number_with_signers(doc, c)
    else:
        _run(_para(doc, align="center"), c.doc_number or "")
    _border(_spacer(doc, RULE_GAP_MM * PT_PER_MM), "bottom", RED_RULE_SZ, RED)


def _head_marks(c: DocumentContent) -> Iterable[tuple[str, str]]:
    """The lines at the top left: 份号 (6 digits), 密级★保密期限, 紧急程度."""
    if c.copy_no:
        yield (c.copy_no.zfill(6) if c.copy_no.isdigit() else c.copy_no), FONT_BODY
    if c.secret_level:
        yield c.secret_level + (f"★{c.secret_period}" if c.secret_period else ""), FONT_HEI
    if c.urgency:
        yield c.urgency, FONT_HEI


def _mark_size(names: list[str], suffix: str) -> tuple[float, int]:
    """Character size (pt) and horizontal scale (%) of the 发文机关标志: as large as the text
    block allows up to ``MARK_MAX_PT``; names too long for ``MARK_MIN_PT`` are narrowed."""
    if len(names) > 1:
        chars = max(text_width(n) for n in names) + 0.25 + text_width(suffix) + (0.5 if suffix else 0)
    else:
        chars = text_width(names[0] + suffix)
    size = min(MARK_MAX_PT, TEXT_W_PT * MARK_FILL / max(chars, 1))
    if size >= MARK_MIN_PT:
        return math.floor(size * 2) / 2, 100  # w:sz counts half points
    return MARK_MIN_PT, math.floor(size / MARK_MIN_PT * 100)


def _joint_mark(doc: DocxDocument, names: list[str], suffix: str, size: float, scale: int, box: float):
    """联合行文: the issuers stacked, each spread to the same width, and the suffix to their
    right, centred on the stack — a borderless two-column table."""
    em = size * scale / 100
    widths = [(max(text_width(n) for n in names) + 0.25) * em]  # layout engines want slack
    if suffix:
        widths.append((text_width(suffix) + 0.5) * em)
    [cells] = _table(doc, 1, widths)
    for i, name in enumerate(names):
        p = cells[0].find(f"{W}p") if i == 0 else _new_p(cells[0])
        _format(p, align="distribute", line_pt=box)
        _run(p, name, FONT_TITLE, size, color=RED, scale=scale)
    if suffix:
        _sub(cells[1].find(f"{W}tcPr"), "vAlign", val="center")
        p = _format(cells[1].find(f"{W}p"), align="right", line_pt=box)
        _run(p, suffix, FONT_TITLE, size, color=RED, scale=scale)


def _number_with_signers(doc: DocxDocument, c: DocumentContent) -> None:
    """上行文: 发文字号 one character in from the left, on the line of the last 签发人 name;
    "签发人：" in 仿宋 and the names in 楷体, two a line, one character in from the right."""
    rows = [c.signers[i : i + 2] for i in range(0, len(c.signers), 2)]
    names_w = max(text_width("　".join(r)) for r in rows) * CHAR_PT
    names_x = TEXT_W_PT - CHAR_PT - names_w
    label_x = names_x - 4.25 * CHAR_PT  # a little slack: the label must end before the names
    for i, row in enumerate(rows):
        p = _para(doc, align="left", left=CHAR_PT)
        _tabs(p, (label_x, "left"), (names_x, "left"))
        last = i == len(rows) - 1
        _run(p, ((c.doc_number or "") if last else "") + ("\t签发人：\t" if i == 0 else "\t\t"))
        _run(p, "　".join(row), FONT_KAI)


# ---------------------------------------------------------------- 主体


def _main(doc: DocxDocument, c: DocumentContent) -> None:
    """Title, 主送机关, body, 附件说明, 署名 and 成文日期 (with seals), 附注."""
    _blank(doc, 2)  # 红色分隔线下空二行
    for line in title_lines(c.title):
        _run(_para(doc, align="center"), line, FONT_TITLE, SIZE_TITLE)
    _blank(doc)
    if c.main_recipients:
        _run(_para(doc, align="left"), c.main_recipients.rstrip("：:") + "：")
    for block in c.body:
        _block(doc, block)
    if c.attachments:
        _blank(doc)
        _attachments(doc, c.attachments)
    _signature(doc, c)
    if c.note:
        note = c.note if c.note.startswith(("（", "(")) else f"（{c.note}）"
        _run(_para(doc, align="left", left=2 * CHAR_PT), note)


_NO_LINE_START = set("，。、；：？！）》」』”’〕】…—,.;:?!)")
_NO_LINE_END = set("（《「『“‘〔【(")


def title_lines(title: str) -> list[str]:
    """The title as printed lines: explicit line breaks are kept; a line too long for the
    text block (20 characters of 2号) is cut into lines of nearly equal length, so the title
    stands as a trapezoid or lozenge as §7.3.1 asks, breaking after "关于" when that is near
    and never inside a number or next to a bracket or punctuation mark."""
    per_line = math.floor(TEXT_W_PT / SIZE_TITLE)
    lines: list[str] = []
    for raw in (title or "").split("\n"):
        lines.extend(_balanced(raw.strip(), per_line))
    return lines


def _balanced(text: str, per_line: int) -> list[str]:
    width = text_width(text)
    if width <= per_line:
        return [text]
    n = math.ceil(width / per_line)
    target = round(len(text) / n)
    cut = min(range(1, len(text)), key=lambda i: _break_cost(text, i, target, per_line))
    return [text[:cut], *_balanced(text[cut:], per_line)]


def _break_cost(text: str, i: int, target: int, per_line: int) -> float:
    """How bad a line break before ``text[i]`` is: distance from the balanced length, with
    penalties for an over-long line, a split number and orphaned punctuation."""
    cost = abs(i - target)
    if text_width(text[:i]) > per_line:
        cost += 1000
    if text[i] in _NO_LINE_START or text[i - 1] in _NO_LINE_END:
        cost += 100
    if text[i].isascii() and text[i - 1].isascii() and text[i].isalnum() and text[i - 1].isalnum():
        cost += 100
    if text[:i].endswith("关于"):
        cost -= 2.5
    return cost


def _block(doc: DocxDocument, block: Block) -> None:
    if block.kind == "table":
        _body_table(doc, block.rows)
        return
    p = _para(doc, first=2 * CHAR_PT)
    if block.kind == "p":
        _run(p, block.text)
        return
    head, rest = _split_heading(block.text)
    _run(p, head, HEADING_FONTS[block.kind])
    if rest:
        _run(p, rest)


def _split_heading(text: str) -> tuple[str, str]:
    """A heading followed by text in the same paragraph ("（一）加强领导。各地要……"): only
    the heading sentence takes the heading font."""
    for stop in ("。", "："):
        i = text.find(stop)
        if 0 < i < len(text) - 1:
            return text[: i + 1], text[i + 1 :]
    return text, ""


def _body_table(doc: DocxDocument, rows: list[list[str]]) -> None:
    """A table block: ruled, 4号 仿宋 (the first row in 黑体), as wide as the text block."""
    cols = max((len(r) for r in rows), default=0)
    if not cols:
        return
    rule = 4  # ½ pt
    cells = _table(doc, len(rows), [TEXT_W_PT / cols] * cols, padded=True, top=rule, left=rule,
                   bottom=rule, right=rule, insideH=rule, insideV=rule)  # fmt: skip
    for r, (row, tcs) in enumerate(zip(rows, cells, strict=True)):
        for k, tc in enumerate(tcs):
            p = _format(tc.find(f"{W}p"), align="center", line_pt=SIZE_SMALL * 1.5)
            _run(p, row[k] if k < len(row) else "", FONT_HEI if r == 0 else FONT_BODY, SIZE_SMALL)


def _attachments(doc: DocxDocument, names: list[str]) -> None:
    """附件说明: "附件：" two characters in; several are numbered "1." and a long name wraps
    under its own first character."""
    label_w = 3 * CHAR_PT  # 附件：
    clean = [n.rstrip("。；;，,.") for n in names]
    for i, name in enumerate(clean, start=1):
        number = f"{i}." if len(clean) > 1 else ""
        number_w = (text_width(number) + 0.5) * CHAR_PT if number else 0
        left = 2 * CHAR_PT + label_w + number_w
        p = _para(doc, left=left, first=-(label_w + number_w) if i == 1 else -number_w)
        if number:
            _tabs(p, (left, "left"))
        _run(p, ("附件：" if i == 1 else "") + (f"{number}\t" if number else "") + name)


def _signature(doc: DocxDocument, c: DocumentContent) -> None:
    """发文机关署名 and 成文日期 (GB/T 9704 §7.3.5), with the seals when there are any."""
    units = c.signature_units or c.issuers
    date_text = cn_date(c.date)
    if not units and not date_text:
        return
    last = doc.element.body[-2]
    if last.tag == f"{W}p":  # the signature never stands on a page without text
        _keep_with_next(last)
    if c.seals:
        _sealed_signature(doc, units, date_text, c.seals)
    else:
        _unsealed_signature(doc, units, date_text)


def _unsealed_signature(doc: DocxDocument, units: list[str], date_text: str) -> None:
    """不加盖印章: one line below the text, 署名 two characters in from the right, the date on
    the next line starting two characters further right (names stacked for joint documents);
    a date longer than the name keeps two characters from the right and pushes the names."""
    _keep_with_next(*_blank(doc))
    name_w = max((text_width(u) for u in units), default=0)
    start = min(CHARS_PER_LINE - 2 - name_w, CHARS_PER_LINE - 4 - text_width(date_text))
    for unit in units:
        p = _para(doc, align="left", left=start * CHAR_PT)
        _run(p, unit)
        if date_text:
            _keep_with_next(p)
    if date_text:
        # Allowed into the right margin, so digits wider than estimated never wrap the date.
        _run(_para(doc, align="left", left=(start + 2) * CHAR_PT, right=-2 * CHAR_PT), date_text)


def _sealed_signature(doc: DocxDocument, units: list[str], date_text: str, seals: list[bytes]):
    """加盖印章: the date four characters in from the right; each 署名 centred under its seal,
    the last one centred on the date; joint seals side by side in rows that stay inside the
    text block, never touching. Two blank lines above keep the first seals' top within one
    line of the text."""
    date_w = text_width(date_text) if date_text else 6.5
    date_centre = (CHARS_PER_LINE - 4 - date_w / 2) * CHAR_PT
    seal_pt = SEAL_MM * PT_PER_MM
    widest = max((text_width(u) for u in units), default=0) * CHAR_PT
    pitch = max(seal_pt, widest) + SEAL_GAP_MM * PT_PER_MM
    per_row = max(1, int((date_centre - seal_pt / 2) // pitch) + 1)
    _keep_with_next(*_blank(doc, 2))
    for r, row in enumerate(_rows_from_end(list(range(len(units))), per_row)):
        if r:
            _keep_with_next(*_blank(doc, math.ceil(pitch / LINE_PT) - 1))
        centres = [date_centre - (len(row) - 1 - k) * pitch for k in range(len(row))]
        p = _para(doc, align="left")
        if date_text:
            _keep_with_next(p)
        _tabs(p, *((x, "center") for x in centres))
        _run(p, "".join("\t" + units[i] for i in row))
        for i, x in zip(row, centres, strict=True):
            if i < len(seals):
                _float_picture(doc, p, seals[i], seal_pt, x - seal_pt / 2, SEAL_CENTRE_PT - seal_pt / 2)
    if date_text:
        _run(_para(doc, align="right", right=4 * CHAR_PT), date_text)


def _rows_from_end(items: list[int], per_row: int) -> list[list[int]]:
    """Split into rows of ``per_row``, the short row first, so the last row ends on the date."""
    head = len(items) % per_row
    rows = [items[:head]] if head else []
    rows += [items[i : i + per_row] for i in range(head, len(items), per_row)]
    return rows


_ANCHOR_XML = (
    '<wp:anchor {ns} distT="0" distB="0" distL="0" distR="0" simplePos="0" relativeHeight="{z}" '
    'behindDoc="0" locked="0" layoutInCell="1" allowOverlap="1">'
    '<wp:simplePos x="0" y="0"/>'
    '<wp:positionH relativeFrom="margin"><wp:posOffset>{x}</wp:posOffset></wp:positionH>'
    '<wp:positionV relativeFrom="paragraph"><wp:posOffset>{y}</wp:posOffset></wp:positionV>'
    '<wp:extent cx="{cx}" cy="{cy}"/><wp:effectExtent l="0" t="0" r="0" b="0"/><wp:wrapNone/>'
    "</wp:anchor>"
)


def _float_picture(doc: DocxDocument, p, png: bytes, size_pt: float, x_pt: float, y_pt: float):
    """A picture floating in front of the text (wp:anchor, no wrapping), ``x_pt`` from the
    left edge of the text block and ``y_pt`` from the top of paragraph ``p`` (negative:
    above). python-docx makes the inline picture; its parts are moved into an anchor."""
    inline = doc.part.new_pic_inline(io.BytesIO(png), Pt(size_pt), Pt(size_pt))
    extent = inline.find(qn("wp:extent"))
    anchor = parse_xml(
        _ANCHOR_XML.format(
            ns=nsdecls("wp"),
            z=251659264 + len(p.findall(".//" + qn("wp:anchor"))),
            x=int(Emu(Pt(x_pt))),
            y=int(Emu(Pt(y_pt))),
            cx=extent.get("cx"),
            cy=extent.get("cy"),
        )
    )
    for tag in ("wp:docPr", "wp:cNvGraphicFramePr", "a:graphic"):
        anchor.append(inline.find(qn(tag)))
    _sub(_sub(p, "r"), "drawing").append(anchor)


# ---------------------------------------------------------------- 版记


def _record(doc: DocxDocument, c: DocumentContent) -> None:
    """版记: 抄送 and 印发机关 + 印发日期 in 4号 仿宋 under a thick rule, a thin rule between them
    and a thick rule below, held at the foot of the text block of the page they fall on (the
    last rule on the block's lower edge).

    Each line is its own frame (w:framePr): the last aligned to the bottom of the text block,
    the ones above at computed heights. One frame per paragraph because LibreOffice only
    converts a multi-paragraph frame when its paragraphs carry no borders, and a floating
    table as wide as the text block is laid inline by both Word and LibreOffice."""
    rows = _record_rows(c)
    tops: list[float | None] = []
    bottom = TEXT_H_MM * PT_PER_MM
    for r in reversed(range(len(rows))):
        label, text, _tail = rows[r]
        last = r == len(rows) - 1
        bottom -= _record_lines(label, text) * LINE_PT + (RECORD_THICK_SZ if r == 0 else 0) / 8
        bottom -= (RECORD_THICK_SZ if last else RECORD_THIN_SZ) / 8
        tops.insert(0, None if last else bottom)
    for r, ((label, text, tail), top) in enumerate(zip(rows, tops, strict=True)):
        p = _record_line(doc, label, text, tail)
        _frame(p, top)
        if r == 0:
            _border(p, "top", RECORD_THICK_SZ)
        _border(p, "bottom", RECORD_THICK_SZ if r == len(rows) - 1 else RECORD_THIN_SZ)
    if rows:
        _spacer(doc, 1)  # the frames' anchor: a document ends with a paragraph


def _record_rows(c: DocumentContent) -> list[tuple[str, str, str]]:
    """(label, text, right-hand text) of each 版记 line."""
    rows = []
    if c.cc:
        rows.append(("抄送：", c.cc.rstrip("。"), ""))
    if c.printer or c.print_date:
        rows.append(("", c.printer, f"{cn_date(c.print_date)}印发" if c.print_date else ""))
    return rows


def _record_lines(label: str, text: str) -> int:
    """Lines a 版记 entry takes: 4号 characters between one-character side margins, wrapped
    lines indented past the label."""
    first = CHARS_PER_LINE_SMALL - 2 - text_width(label)
    rest = max(text_width(text) - first, 0)
    return 1 + math.ceil(rest / first)


def _record_line(doc: DocxDocument, label: str, text: str, tail: str):
    """One 版记 line, a 4号 character in from each side; a wrapped 抄送 list aligns under the
    first name, the 印发日期 sits flush right."""
    em = SIZE_SMALL
    label_w = text_width(label) * em
    p = _para(doc, align="left", left=em + label_w, first=-label_w, right=em)
    if tail:
        _tabs(p, (TEXT_W_PT - em, "right"))
    _run(p, label + text + (f"\t{tail}" if tail else ""), FONT_BODY, SIZE_SMALL)
    return p


def _frame(p, top_pt: float | None) -> None:
    """Make ``p`` a frame as wide as the text block, ``top_pt`` below its top edge, or on its
    bottom edge when None; body text does not flow beside it."""
    pos = {"yAlign": "bottom"} if top_pt is None else {"y": round(top_pt * 20)}
    frame = _el("framePr", w=round(TEXT_W_PT * 20), wrap="notBeside", vAnchor="margin",
                hAnchor="margin", xAlign="center", **pos)  # fmt: skip
    _insert_ordered(p.find(f"{W}pPr"), frame, _PPR_ORDER)


# ---------------------------------------------------------------- properties


def _core_properties(doc: DocxDocument, c: DocumentContent) -> None:
    """Title and issuer only: nothing of python-docx's template or the drafting machine."""
    cp = doc.core_properties
    issuer = "、".join(c.issuers)
    cp.title = c.title
    cp.subject = c.doc_type
    cp.author = issuer
    cp.last_modified_by = issuer
    cp.comments = ""
    cp.keywords = c.doc_number or ""
    cp.category = ""
    cp.revision = 1
    when = c.date or c.print_date
    stamp = datetime(when.year, when.month, when.day, tzinfo=UTC) if when else datetime.now(UTC)
    cp.created = cp.modified = stamp.replace(tzinfo=None)
