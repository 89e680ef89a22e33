"""The GB/T 9704-2012 .docx renderer and the 红头 HTML preview.

The .docx is read back with python-docx for what the file says (page, fonts, colours, rules,
fields), then laid out by LibreOffice for what the page shows: A4, the text block at
28 mm / 37 mm, 22 lines of 28 characters, the red rule, page numbers alternating sides, and
the page count of a long document. LibreOffice tests skip without ``soffice`` (and fail
with ``OFFICE_REQUIRE_ALL=1``)."""

from __future__ import annotations

import io
import math
import re
import shutil
import struct
import subprocess
import zipfile
import zlib
from datetime import date
from pathlib import Path

import docx
import pytest
from docx.enum.text import WD_PARAGRAPH_ALIGNMENT
from docx.oxml.ns import qn
from docx.shared import Emu, Mm, Pt

from documents import render
from documents.content import Block, DocumentContent, parse_body
from documents.render import render_docx, title_lines
from tests.conftest import require

BODY = """为进一步做好政务信息化工作，提升机关运行效率，经省政府同意，现就有关事项通知如下。
一、总体要求
坚持统筹规划、集约建设，推动办公系统互联互通，实现公文、会议、督办等业务全流程网上办理。
二、主要任务
（一）推进公文电子化。各地各部门要按照统一标准，实现公文起草、审核、签发全流程电子化管理。
1. 完善制度规范。建立健全系统运行维护、数据备份和应急处置制度。
（1）定期开展安全检查。
| 序号 | 任务 | 责任单位 |
| 1 | 公文系统上线 | 省政府办公厅 |
三、工作要求
各地各部门要高度重视，确保各项任务按期完成。<script>alert(1)</script>"""

#: 47 characters: 26 after the two-character indent, then 21; no punctuation at the break.
LONG_PARAGRAPH = (
    "各地各部门要高度重视政务信息化建设工作，切实加强组织领导，明确责任分工，确保各项任务按期完成。"
)


def notice(**extra) -> DocumentContent:
    """A classified, urgent 下行文 with every element the standard has."""
    fields = dict(
        title="示例省人民政府关于推进政务信息化建设的通知",
        issuers=["示例省人民政府"],
        body=parse_body(BODY),
        doc_number="示政发〔2026〕12号",
        copy_no="12",
        secret_level="秘密",
        secret_period="1年",
        urgency="特急",
        main_recipients="各市、县人民政府，省政府各部门",
        attachments=["政务信息化建设任务分工表", "政务信息化建设项目清单（按项目类别和实施年度分别列示）"],
        signature_units=["示例省人民政府"],
        date=date(2026, 11, 3),
        note="此件公开发布",
        cc="省委各部门，省人大常委会办公厅，省政协办公厅",
        printer="示例省人民政府办公厅",
        print_date=date(2026, 11, 3),
    )
    fields.update(extra)
    return DocumentContent(**fields)


def short_notice() -> DocumentContent:
    """Fits on the first page: one paragraph, the signature, the 版记."""
    return DocumentContent(
        title="示例省人民政府关于召开工作会议的通知",
        issuers=["示例省人民政府"],
        body=[Block("p", "定于2026年11月10日召开全省政务信息化工作会议，请准时参加。")],
        doc_number="示政发〔2026〕13号",
        main_recipients="各市人民政府",
        signature_units=["示例省人民政府"],
        date=date(2026, 11, 3),
        printer="示例省人民政府办公厅",
        print_date=date(2026, 11, 3),
    )


def long_notice(paragraphs: int = 60) -> DocumentContent:
    """``paragraphs`` body paragraphs of 2 lines each (2 + 47 characters)."""
    return DocumentContent(
        title="示例省人民政府关于推进政务信息化建设的通知",
        issuers=["示例省人民政府"],
        body=[Block("p", LONG_PARAGRAPH) for _ in range(paragraphs)],
        doc_number="示政发〔2026〕14号",
        main_recipients="各市人民政府",
        signature_units=["示例省人民政府"],
        date=date(2026, 11, 3),
        cc="省委各部门",
        printer="示例省人民政府办公厅",
        print_date=date(2026, 11, 3),
    )


def red_circle_png(px: int = 200) -> bytes:
    """A red ring with a filled centre on a transparent ground (a stand-in seal), written
    without Pillow."""
    rows = []
    c = px / 2
    for y in range(px):
        row = bytearray([0])
        for x in range(px):
            d = math.hypot(x - c + 0.5, y - c + 0.5)
            on = c * 0.86 < d < c * 0.97 or d < c * 0.22
            row += bytes((220, 20, 20, 210) if on else (0, 0, 0, 0))
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", px, px, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + chunk(b"IEND", b"")
    )


def open_docx(c: DocumentContent) -> docx.document.Document:
    return docx.Document(io.BytesIO(render_docx(c)))


def paragraph(d, text: str, *, exact: bool = False):
    """The first body paragraph whose text contains (or, ``exact``, is) ``text``."""
    found = next((p for p in d.paragraphs if (p.text == text if exact else text in p.text)), None)
    assert found is not None, f"no paragraph with {text!r}"
    return found


def east_asia(run) -> str | None:
    rfonts = run._r.rPr.find(qn("w:rFonts"))
    return None if rfonts is None else rfonts.get(qn("w:eastAsia"))


def text_runs(p) -> list:
    return [r for r in p.runs if r.text.strip()]


# ---------------------------------------------------------------- the .docx itself


def test_page_is_a4_with_the_standard_margins_and_grid():
    s = open_docx(notice()).sections[0]
    for got, want in [
        (s.page_width, 210),
        (s.page_height, 297),
        (s.top_margin, 37),
        (s.bottom_margin, 35),
        (s.left_margin, 28),
        (s.right_margin, 26),
    ]:
        assert abs(got.mm - want) <= 0.1, (got.mm, want)
    grid = s._sectPr.find(qn("w:docGrid"))
    assert grid.get(qn("w:type")) == "linesAndChars"
    line = int(grid.get(qn("w:linePitch"))) / 20  # points
    assert 22 * line <= Mm(225).pt < 22 * (line + 0.05)  # 22 lines fill 225 mm (to a twip)
    pitch = 16 + int(grid.get(qn("w:charSpace"))) / 4096
    assert 28 * pitch <= Mm(156).pt < 28 * (pitch + 1 / 4096)  # 28 characters fill 156 mm


def test_body_lines_are_exact_and_characters_squeezed_to_28_a_line():
    d = open_docx(notice())
    p = paragraph(d, "为进一步做好政务信息化工作")
    assert p.paragraph_format.line_spacing == Pt(28.95)
    assert p.paragraph_format.first_line_indent.pt == pytest.approx(2 * render.CHAR_PT, abs=0.1)
    run = text_runs(p)[0]
    assert run.font.size == Pt(16)
    spacing = int(run._r.rPr.find(qn("w:spacing")).get(qn("w:val"))) / 20
    assert 28 * (16 + spacing) <= Mm(156).pt


def test_fonts_of_title_body_and_headings():
    d = open_docx(notice())
    title = paragraph(d, "示例省人民政府关于")
    assert title.alignment == WD_PARAGRAPH_ALIGNMENT.CENTER
    assert {(east_asia(r), r.font.size) for r in text_runs(title)} == {("方正小标宋简体", Pt(22))}
    expected = {
        "为进一步做好": "仿宋_GB2312",
        "一、总体要求": "黑体",
        "（一）推进公文电子化。": "楷体_GB2312",
        "1. 完善制度规范。": "仿宋_GB2312",
        "（1）定期开展安全检查。": "仿宋_GB2312",
    }
    for start, font in expected.items():
        first = text_runs(paragraph(d, start))[0]
        assert first.text.startswith(start)
        assert east_asia(first) == font, start
        assert first.font.size == Pt(16)
    # A heading sentence followed by text: only the heading takes the heading font.
    rest = text_runs(paragraph(d, "（一）推进公文电子化。"))[1]
    assert rest.text.startswith("各地各部门") and east_asia(rest) == "仿宋_GB2312"
    # rFonts names the font for every script (python-docx's font.name would set ascii only).
    rfonts = text_runs(title)[0]._r.rPr.find(qn("w:rFonts"))
    assert rfonts.get(qn("w:ascii")) == rfonts.get(qn("w:eastAsia")) == "方正小标宋简体"


def test_head_marks_mark_number_and_red_rule():
    d = open_docx(notice())
    texts = [p.text for p in d.paragraphs]
    assert texts[:3] == ["000012", "秘密★1年", "特急"]
    assert east_asia(paragraph(d, "秘密★1年").runs[0]) == "黑体"
    assert east_asia(paragraph(d, "特急").runs[0]) == "黑体"
    mark = paragraph(d, "示例省人民政府文件")
    assert mark.alignment == WD_PARAGRAPH_ALIGNMENT.CENTER
    run = mark.runs[0]
    assert str(run.font.color.rgb) == "FF0000"
    assert east_asia(run) == "方正小标宋简体"
    assert run.font.size.pt > 22
    number = paragraph(d, "示政发〔2026〕12号")
    assert number.alignment == WD_PARAGRAPH_ALIGNMENT.CENTER
    i = texts.index(number.text)
    assert texts[i - 2 : i] == ["", ""]  # 发文机关标志下空二行
    separator = d.paragraphs[i + 1]
    rule = separator._p.pPr.find(qn("w:pBdr")).find(qn("w:bottom"))
    assert rule.get(qn("w:color")) == "FF0000" and rule.get(qn("w:val")) == "single"
    assert separator.paragraph_format.line_spacing.mm == pytest.approx(4, abs=0.05)  # 4 mm below
    assert not separator.paragraph_format.left_indent and not separator.paragraph_format.right_indent


def test_copy_number_only_when_given():
    texts = [p.text for p in open_docx(notice(copy_no=None, secret_level=None, urgency=None)).paragraphs]
    assert "000012" not in texts and not any("★" in t for t in texts)


def test_upward_document_has_signers_in_kai_on_the_number_line():
    c = notice(direction="up", signers=["张三", "李四", "王五"], doc_number="示政〔2026〕8号")
    d = open_docx(c)
    first = paragraph(d, "签发人：")
    assert "张三　李四" in first.text
    last = paragraph(d, "示政〔2026〕8号")
    assert last.text.startswith("示政〔2026〕8号") and last.text.endswith("王五")
    assert last.paragraph_format.left_indent.pt == pytest.approx(render.CHAR_PT, abs=0.1)
    names = [r for r in first.runs + last.runs if r.text in ("张三　李四", "王五")]
    assert len(names) == 2 and {east_asia(r) for r in names} == {"楷体_GB2312"}
    label = next(r for r in first.runs if "签发人" in r.text)
    assert east_asia(label) == "仿宋_GB2312"


def test_recipients_attachments_signature_date_and_note():
    d = open_docx(notice())
    texts = [p.text for p in d.paragraphs]
    assert "各市、县人民政府，省政府各部门：" in texts
    first = paragraph(d, "附件：1.")
    second = paragraph(d, "2.\t政务信息化建设项目清单")
    assert texts[texts.index(first.text) - 1] == ""  # 正文下空一行
    # "附件" two characters in; names aligned on a hanging indent.
    ff, sf = first.paragraph_format, second.paragraph_format
    assert Emu(ff.left_indent + ff.first_line_indent).pt == pytest.approx(2 * render.CHAR_PT, abs=0.1)
    assert ff.left_indent == sf.left_indent
    sign = paragraph(d, "示例省人民政府", exact=True)
    dated = paragraph(d, "2026年11月3日", exact=True)  # Arabic numerals, no zero padding
    assert texts.index(dated.text) == texts.index(sign.text) + 1
    # Unsealed: the date starts two characters right of the 署名.
    shift = dated.paragraph_format.left_indent.pt - sign.paragraph_format.left_indent.pt
    assert shift == pytest.approx(2 * render.CHAR_PT, abs=0.1)
    # The signature stays with the date and the last lines of text (no page of it alone).
    assert sign.paragraph_format.keep_with_next
    assert paragraph(d, "2.\t政务信息化建设项目清单").paragraph_format.keep_with_next
    note = paragraph(d, "（此件公开发布）")
    assert note.paragraph_format.left_indent.pt == pytest.approx(2 * render.CHAR_PT, abs=0.1)
    assert texts.index(note.text) == texts.index(dated.text) + 1


def test_seals_float_over_signature_and_date_without_overlapping():
    seal = red_circle_png()
    c = notice(
        issuers=["示例省人民政府", "示例省军区"],
        signature_units=["示例省人民政府", "示例省军区"],
        seals=[seal, seal],
    )
    xml = render_docx(c)
    d = docx.Document(io.BytesIO(xml))
    anchors = d.element.body.findall(".//" + qn("wp:anchor"))
    assert len(anchors) == 2
    assert all(a.get("behindDoc") == "0" for a in anchors)
    xs = sorted(int(a.find(qn("wp:positionH")).find(qn("wp:posOffset")).text) for a in anchors)
    width = int(anchors[0].find(qn("wp:extent")).get("cx"))
    assert xs[1] - xs[0] > width  # side by side, not touching
    assert xs[0] >= 0 and xs[1] + width <= Mm(156).emu  # inside the text block
    # Pressed on the 署名 line, rising above it.
    ys = {int(a.find(qn("wp:positionV")).find(qn("wp:posOffset")).text) for a in anchors}
    assert all(-width < y < 0 for y in ys)
    names = paragraph(d, "示例省军区")
    assert "示例省人民政府" in names.text  # joint 署名 side by side
    dated = paragraph(d, "2026年11月3日")
    assert dated.alignment == WD_PARAGRAPH_ALIGNMENT.RIGHT
    assert dated.paragraph_format.right_indent.pt == pytest.approx(4 * render.CHAR_PT, abs=0.1)


def test_joint_mark_stacks_issuers_with_the_suffix_beside():
    d = open_docx(notice(issuers=["示例省人民政府", "示例省军区"]))
    table = d.tables[0]
    names, suffix = table.cell(0, 0), table.cell(0, 1)
    assert [p.text for p in names.paragraphs] == ["示例省人民政府", "示例省军区"]
    assert suffix.text == "文件"
    for p in [*names.paragraphs, *suffix.paragraphs]:
        assert str(p.runs[0].font.color.rgb) == "FF0000"
        assert east_asia(p.runs[0]) == "方正小标宋简体"


def test_body_table_is_ruled_and_fits_the_text_block():
    d = open_docx(notice())
    table = d.tables[0]
    assert [c.text for c in table.rows[0].cells] == ["序号", "任务", "责任单位"]
    assert sum(col.width for col in table.columns) <= Mm(156.1)
    run = table.cell(1, 1).paragraphs[0].runs[0]
    assert east_asia(run) == "仿宋_GB2312" and run.font.size == Pt(14)
    borders = table._tbl.tblPr.find(qn("w:tblBorders"))
    assert borders.find(qn("w:insideH")).get(qn("w:val")) == "single"


def test_record_lines_between_thick_and_thin_rules():
    d = open_docx(notice())
    cc = paragraph(d, "抄送：")
    printed = paragraph(d, "2026年11月3日印发")
    assert cc.text == "抄送：省委各部门，省人大常委会办公厅，省政协办公厅"
    assert printed.text == "示例省人民政府办公厅\t2026年11月3日印发"
    for p in (cc, printed):
        assert east_asia(p.runs[0]) == "仿宋_GB2312" and p.runs[0].font.size == Pt(14)
        assert p._p.pPr.find(qn("w:framePr")) is not None  # held at the foot of the page
    cc_borders = cc._p.pPr.find(qn("w:pBdr"))
    assert cc_borders.find(qn("w:top")).get(qn("w:sz")) == "8"  # 0.35 mm
    assert cc_borders.find(qn("w:bottom")).get(qn("w:sz")) == "6"  # 0.25 mm
    assert printed._p.pPr.find(qn("w:pBdr")).find(qn("w:bottom")).get(qn("w:sz")) == "8"
    assert printed._p.pPr.find(qn("w:framePr")).get(qn("w:yAlign")) == "bottom"


def test_page_numbers_alternate_sides_with_page_fields():
    d = open_docx(notice())
    assert d.settings.odd_and_even_pages_header_footer
    s = d.sections[0]
    for footer, align in [
        (s.footer, WD_PARAGRAPH_ALIGNMENT.RIGHT),
        (s.even_page_footer, WD_PARAGRAPH_ALIGNMENT.LEFT),
    ]:
        p = footer.paragraphs[0]
        assert p.alignment == align
        instr = "".join(t.text for t in p._p.iter(qn("w:instrText")))
        assert instr.strip() == "PAGE"
        assert [f.get(qn("w:fldCharType")) for f in p._p.iter(qn("w:fldChar"))] == [
            "begin",
            "separate",
            "end",
        ]
        assert p.text.startswith("— ") and p.text.endswith(" —")
        assert {east_asia(r) for r in text_runs(p)} == {"宋体"}
        assert {r.font.size for r in text_runs(p)} == {Pt(14)}


def test_core_properties_name_only_title_and_issuer():
    data = render_docx(notice())
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert "docProps/thumbnail.jpeg" not in names  # python-docx's picture of an empty page
    props = docx.Document(io.BytesIO(data)).core_properties
    assert props.title == "示例省人民政府关于推进政务信息化建设的通知"
    assert props.author == props.last_modified_by == "示例省人民政府"
    assert "python-docx" not in f"{props.author}{props.comments}{props.last_modified_by}"
    assert props.comments == ""


def test_minimal_content_renders():
    d = open_docx(DocumentContent(title="草稿", issuers=[]))
    assert any(p.text == "草稿" for p in d.paragraphs)


@pytest.mark.parametrize(
    ("title", "lines"),
    [
        ("关于召开工作会议的通知", ["关于召开工作会议的通知"]),
        ("示例省人民政府关于推进政务信息化建设的通知", ["示例省人民政府关于", "推进政务信息化建设的通知"]),
        ("第一行\n第二行", ["第一行", "第二行"]),
    ],
)
def test_title_lines_are_balanced(title, lines):
    assert title_lines(title) == lines


def test_long_title_never_breaks_before_punctuation_or_inside_numbers():
    title = "示例省人民政府办公厅关于印发《示例省2026年政务信息化建设工作要点》和相关配套制度的通知"
    lines = title_lines(title)
    assert "".join(lines) == title and len(lines) == 3
    assert all(len(line) <= 20 for line in lines)
    assert not any(line[0] in "，。、》）" or line[-1] in "《（" for line in lines)
    assert any("2026" in line for line in lines)


# ---------------------------------------------------------------- laid out by LibreOffice

A4_PT = (595.28, 841.89)
LEFT_PT, TOP_PT = Mm(28).pt, Mm(37).pt
RIGHT_PT, BOTTOM_PT = A4_PT[0] - Mm(26).pt, A4_PT[1] - Mm(35).pt


def _require_office() -> None:
    missing = [tool for tool in ("soffice", "pdfinfo", "pdftotext", "pdftoppm") if not shutil.which(tool)]
    require(
        not missing,
        f"{', '.join(missing)} not installed "
        "(apt-get install libreoffice-writer-nogui fonts-wqy-zenhei poppler-utils)",
    )


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory) -> dict[str, Path]:
    """The sample documents laid out by LibreOffice (one soffice run, its own profile)."""
    _require_office()
    work = tmp_path_factory.mktemp("render")
    docs = {"notice": notice(), "short": short_notice(), "long": long_notice()}
    for name, c in docs.items():
        (work / f"{name}.docx").write_bytes(render_docx(c))
    profile = work / "profile"
    subprocess.run(
        ["soffice", f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore",
         "--convert-to", "pdf", "--outdir", str(work), *(str(work / f"{n}.docx") for n in docs)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return {name: work / f"{name}.pdf" for name in docs}


def pdf_info(pdf: Path) -> dict[str, str]:
    out = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True, timeout=30).stdout
    return dict(line.split(":", 1) for line in out.splitlines() if ":" in line)


def page_size(pdf: Path) -> tuple[float, float]:
    w, h = re.match(r"\s*([\d.]+) x ([\d.]+) pts", pdf_info(pdf)["Page size"]).groups()
    return float(w), float(h)


def words(pdf: Path, page: int) -> list[tuple[float, float, float, float, str]]:
    """(xMin, yMin, xMax, yMax, text) of every word on one page, in points from the top left."""
    out = subprocess.run(
        ["pdftotext", "-f", str(page), "-l", str(page), "-bbox", str(pdf), "-"],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    pattern = r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>'
    return [(float(a), float(b), float(c), float(d), t) for a, b, c, d, t in re.findall(pattern, out)]


def lines_of(ws: list[tuple[float, float, float, float, str]]) -> list[str]:
    """Words grouped into text lines by their baseline, top to bottom (page number excluded)."""
    rows: dict[int, list] = {}
    for w in ws:
        if w[1] < BOTTOM_PT:
            rows.setdefault(round(w[3]), []).append(w)
    return ["".join(w[4] for w in sorted(row)) for _, row in sorted(rows.items())]


def red_rows(pdf: Path, page: int, tmp: Path) -> list[tuple[int, int, int]]:
    """(y, first x, last x) of the pixel rows at 72 dpi (1 px = 1 pt) that are mostly red."""
    subprocess.run(
        ["pdftoppm", "-r", "72", "-f", str(page), "-l", str(page), "-singlefile", str(pdf), str(tmp / "p")],
        check=True,
        timeout=60,
    )
    data = (tmp / "p.ppm").read_bytes()
    magic, size, _maxval, pixels = data.split(b"\n", 3)
    assert magic == b"P6"
    width, height = map(int, size.split())
    found = []
    for y in range(height):
        row = pixels[y * width * 3 : (y + 1) * width * 3]
        xs = [
            x
            for x, (r, g, b) in enumerate(zip(row[0::3], row[1::3], row[2::3], strict=True))
            if r > 180 and g < 90 and b < 90
        ]
        if len(xs) > width / 2:
            found.append((y, xs[0], xs[-1]))
    return found


@pytest.mark.slow
def test_pdf_pages_are_a4(pdfs):
    for pdf in pdfs.values():
        w, h = page_size(pdf)
        assert abs(w - A4_PT[0]) <= 1 and abs(h - A4_PT[1]) <= 1, (pdf.name, w, h)


@pytest.mark.slow
def test_pdf_short_document_is_one_page(pdfs):
    assert pdf_info(pdfs["short"])["Pages"].strip() == "1"
    text = " ".join(w[4] for w in words(pdfs["short"], 1))
    assert "示例省人民政府办公厅" in text and "印发" in text  # the 版记 on the same page


@pytest.mark.slow
def test_pdf_long_document_page_count_follows_the_line_grid(pdfs):
    # First page: 35 mm to the mark, the mark (at most 52 pt), two blank lines, 发文字号, 4 mm
    # to the red rule, two blank lines, the title, a blank line, 主送机关. Then 60 paragraphs
    # of two lines, a blank line, 署名 and date, and the two-line 版记 at the foot.
    line = render.LINE_PT
    head = Mm(35 + 4).pt + render.MARK_MAX_PT * 1.15 + line * (2 + 1 + 2 + 1 + 1 + 1)
    total = head + line * (60 * 2 + 3 + 2)
    expected = math.ceil(total / (22 * line))
    pages = int(pdf_info(pdfs["long"])["Pages"])
    assert abs(pages - expected) <= 1, (pages, expected)


@pytest.mark.slow
def test_pdf_full_page_has_22_lines_of_28_characters(pdfs):
    lines = lines_of(words(pdfs["long"], 2))
    assert len(lines) == 22, lines
    # A paragraph's first line is indented two characters, its second line holds the rest.
    widths = sorted({len(line) for line in lines})
    assert widths == [21, 26], widths  # 26 + 2 indent = 28 characters; 47 − 26 = 21


@pytest.mark.slow
def test_pdf_text_block_starts_at_28_mm_left_and_37_mm_top(pdfs):
    first_page = words(pdfs["notice"], 1)
    top = min(w[1] for w in first_page)
    assert TOP_PT - 1 <= top <= TOP_PT + render.LINE_PT  # inside the first line of the block
    assert min(w[0] for w in first_page) == pytest.approx(LEFT_PT, abs=2)
    body = [w for w in words(pdfs["long"], 2) if w[1] < BOTTOM_PT]
    assert min(w[0] for w in body) == pytest.approx(LEFT_PT, abs=2)
    assert max(w[2] for w in body) <= RIGHT_PT + 2
    mark = next(w for w in first_page if w[4] == "示例省人民政府文件")
    assert mark[1] == pytest.approx(TOP_PT + Mm(35).pt, abs=8)  # 35 mm below the block's top
    assert (mark[0] - LEFT_PT) == pytest.approx(RIGHT_PT - mark[2], abs=2)  # centred


@pytest.mark.slow
def test_pdf_red_rule_spans_the_text_block_4_mm_under_the_number(pdfs, tmp_path):
    rows = red_rows(pdfs["notice"], 1, tmp_path)
    assert rows, "no red rule on page 1"
    y, x0, x1 = rows[0]
    assert x0 == pytest.approx(LEFT_PT, abs=2) and x1 == pytest.approx(RIGHT_PT, abs=2)
    number = next(w for w in words(pdfs["notice"], 1) if "示政发" in w[4])
    assert 0 < y - number[3] <= Mm(4).pt + 2


@pytest.mark.slow
def test_pdf_page_numbers_odd_right_even_left(pdfs):
    def number_words(page: int):
        return [w for w in words(pdfs["long"], page) if w[1] > BOTTOM_PT]

    odd, even = number_words(1), number_words(2)
    assert "".join(w[4] for w in odd) == "—1—" and "".join(w[4] for w in even) == "—2—"
    em = render.SIZE_SMALL
    assert max(w[2] for w in odd) == pytest.approx(RIGHT_PT - em, abs=2)
    assert min(w[0] for w in even) == pytest.approx(LEFT_PT + em, abs=2)
    dash_middle = (odd[0][1] + odd[0][3]) / 2
    assert dash_middle - BOTTOM_PT == pytest.approx(Mm(7).pt, abs=4)  # 一字线 7 mm under the block


@pytest.mark.slow
def test_pdf_record_sits_on_the_last_page_foot(pdfs):
    pages = int(pdf_info(pdfs["long"])["Pages"])
    last = [w for w in words(pdfs["long"], pages) if w[1] < BOTTOM_PT]
    printed = [w for w in last if "印发" in w[4]]
    assert printed and printed[0][3] == pytest.approx(BOTTOM_PT, abs=render.LINE_PT / 2)


# ---------------------------------------------------------------- HTML preview


def test_html_preview_shows_the_red_header_layout(app):
    html = app.jinja_env.get_template("documents/_redhead.html").render(content=notice())
    for text in (
        "示例省人民政府文件",
        "示政发〔2026〕12号",
        "示例省人民政府关于推进政务信息化建设的通知",
        "各市、县人民政府，省政府各部门：",
        "000012",
        "秘密★1年",
        "一、总体要求",
        "政务信息化建设任务分工表",
        "2026年11月3日",
        "（此件公开发布）",
        "抄送：",
        "2026年11月3日印发",
        '<th scope="col">责任单位</th>',
    ):
        assert text in html, text
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'class="rh-p rh-h1"' in html and 'class="rh-p rh-h2"' in html


def test_html_preview_of_joint_upward_document_with_seals(app):
    c = notice(
        issuers=["示例省人民政府", "示例省军区"],
        signature_units=["示例省人民政府", "示例省军区"],
        direction="up",
        signers=["张三", "李四", "王五"],
        seals=[b"x", b"y"],
    )
    html = app.jinja_env.get_template("documents/_redhead.html").render(
        content=c, seal_urls=["data:image/png;base64,AAAA", "data:image/png;base64,BBBB"]
    )
    assert "rh-mark-joint" in html and html.count('class="rh-seal"') == 2
    assert "签发人：" in html and "张三　李四" in html and "王五" in html


def test_html_preview_breaks_the_title_like_the_docx_when_given_the_lines(app):
    c = notice()
    html = app.jinja_env.get_template("documents/_redhead.html").render(
        content=c, title_lines=title_lines(c.title)
    )
    assert "<span>示例省人民政府关于</span><span>推进政务信息化建设的通知</span>" in html
