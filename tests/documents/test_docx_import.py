"""Importing a .docx drafted in Word or WPS: the GB/T 9704 parts are recognised, the body keeps
its order, and anything that is not a readable Word document is a 422."""

from __future__ import annotations

import io
import zipfile
from datetime import date

import docx
import pytest
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls
from docx.shared import Pt, RGBColor

from documents import docx_import
from documents.content import Block, body_text, body_text_of, parse_body
from documents.docx_import import import_docx
from office.errors import ServiceError


def para(document, text: str, *, center=False, size=None, red=False, style=None, right=False):
    p = document.add_paragraph(style=style)
    run = p.add_run(text)
    if center:
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    if right:
        p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    if size:
        run.font.size = Pt(size)
    if red:
        run.font.color.rgb = RGBColor(0xE6, 0x00, 0x12)
    return p


def save(document) -> bytes:
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def official_notice() -> bytes:
    """A 下行文 laid out as GB/T 9704 prescribes, as a clerk would type it in Word."""
    d = docx.Document()
    d.styles.add_style("标题 3", WD_STYLE_TYPE.PARAGRAPH)
    para(d, "示例省人民政府文件", center=True, size=36, red=True)
    para(d, "")
    para(d, "示政发〔2026〕12号", center=True, size=16)
    para(d, "")
    # The title wraps onto a second centred line.
    para(d, "关于开展2026年安全生产", center=True, size=22)
    para(d, "大检查的通知", center=True, size=22)
    para(d, "")
    para(d, "各市、县人民政府，省政府各部门：", size=16)
    para(d, "为切实做好今冬明春安全生产工作，经省政府同意，现将有关事项通知如下。", size=16)
    para(d, "一、总体要求", size=16)
    para(d, "坚持人民至上、生命至上，全面排查整治各类风险隐患。", size=16)
    d.add_heading("检查范围", level=2)
    para(d, "检查重点", style="标题 3")
    table = d.add_table(rows=3, cols=3)
    cells = [["单位", "联系人", "电话"], ["办公厅", "张三|李四", "1234"], ["应急厅", "王五", ""]]
    for r, row in enumerate(cells):
        for c, text in enumerate(row):
            table.cell(r, c).text = text
    table.cell(2, 2).paragraphs[0].add_run("5678")
    table.cell(2, 2).add_paragraph("转 9")
    para(d, "二、工作要求", size=16)
    para(d, "（一）加强组织领导。", size=16)
    para(d, "请各单位于2026年11月30日前报送检查情况。", size=16)
    para(d, "")
    para(d, "附件：1．安全生产检查清单", size=16)
    para(d, "2．联系人名单", size=16)
    para(d, "")
    para(d, "示例省人民政府", right=True, size=16)
    para(d, "2026年11月3日", right=True, size=16)
    para(d, "（此件公开发布）", size=16)
    para(d, "")
    para(d, "抄送：省委办公厅，省人大常委会办公厅。", size=14)
    para(d, "示例省人民政府办公厅          2026年11月3日印发", size=14)
    return save(d)


def test_official_document_parts_are_recognised():
    result = import_docx(official_notice())
    assert result.title == "关于开展2026年安全生产大检查的通知"
    assert result.doc_number == "示政发〔2026〕12号"
    assert result.main_recipients == "各市、县人民政府，省政府各部门"
    assert result.attachments == ["安全生产检查清单", "联系人名单"]
    assert result.signature_units == ["示例省人民政府"]
    assert result.date == date(2026, 11, 3)
    assert result.note == "（此件公开发布）"
    assert result.cc == "省委办公厅，省人大常委会办公厅"
    assert (result.printer, result.print_date) == ("示例省人民政府办公厅", date(2026, 11, 3))
    # "|" inside a cell becomes "｜"; a cell's two paragraphs share one line
    rows = [["单位", "联系人", "电话"], ["办公厅", "张三｜李四", "1234"], ["应急厅", "王五", "5678 转 9"]]
    assert result.body == [
        Block("p", "为切实做好今冬明春安全生产工作，经省政府同意，现将有关事项通知如下。"),
        Block("h1", "一、总体要求"),
        Block("p", "坚持人民至上、生命至上，全面排查整治各类风险隐患。"),
        Block("h2", "检查范围"),  # Word's built-in Heading 2
        Block("h3", "检查重点"),  # WPS's Chinese-named 标题 3
        Block("table", rows=rows),
        Block("h1", "二、工作要求"),
        Block("h2", "（一）加强组织领导。"),
        Block("p", "请各单位于2026年11月30日前报送检查情况。"),
    ]


def test_table_cells_survive_the_editor_text_form():
    body = import_docx(official_notice()).body
    table = next(b for b in body if b.kind == "table")
    assert parse_body(body_text([table])) == [table]


def test_body_text_of_stored_json_equals_the_blocks_text():
    """The search rebuild reads stored bodies without building blocks; same text."""
    body = import_docx(official_notice()).body
    stored = [b.to_json() for b in body] + [{"text": 12}, {"kind": "table", "rows": [[1, "二"]]}]
    assert body_text_of(stored) == body_text([Block.from_json(b) for b in stored])


def test_plain_document_takes_its_first_paragraph_as_title():
    d = docx.Document()
    para(d, "")
    para(d, "2026年第四季度工作安排")
    para(d, "本季度重点推进以下工作，请各处室抓好落实，并于每月底报送进展情况。")
    d.add_heading("重点工作", level=1)
    d.add_heading("细项", level=5)  # below h4: judged by its text
    para(d, "1. 完成年度考核")
    result = import_docx(save(d))
    assert result.title == "2026年第四季度工作安排"
    assert (result.doc_number, result.main_recipients, result.attachments) == (None, "", [])
    assert [(b.kind, b.text) for b in result.body] == [
        ("p", "本季度重点推进以下工作，请各处室抓好落实，并于每月底报送进展情况。"),
        ("h1", "重点工作"),
        ("p", "细项"),
        ("h3", "1. 完成年度考核"),
    ]


def test_letter_header_without_wenjian_and_title_style():
    d = docx.Document()
    para(d, "000123")
    para(d, "机密★1年")
    para(d, "特急")
    para(d, "示例省人民政府办公厅", center=True, size=30, red=True)  # 函 style: no "文件"
    para(d, "示政办函[2026]3号\t签发人：李四")
    d.add_heading("关于商请支持数字政府建设的函", level=0)  # Word's Title style
    para(d, "省数据局：")
    para(d, "现就有关事项函商如下。")
    para(d, "附件：数字政府建设方案")
    para(d, "示例省人民政府办公厅")
    para(d, "示例市人民政府办公室")
    para(d, "二〇二六年十一月三日")
    para(d, "联系人：张三，电话：0000-1234567")
    result = import_docx(save(d))
    assert result.doc_number == "示政办函〔2026〕3号"
    assert result.title == "关于商请支持数字政府建设的函"
    assert result.main_recipients == "省数据局"
    assert result.attachments == ["数字政府建设方案"]
    assert result.signature_units == ["示例省人民政府办公厅", "示例市人民政府办公室"]
    assert result.date == date(2026, 11, 3)
    assert [b.text for b in result.body] == ["现就有关事项函商如下。", "联系人：张三，电话：0000-1234567"]


def test_tracked_changes_content_controls_and_line_breaks():
    d = docx.Document()
    para(d, "关于调整会议时间的通知", center=True)
    p = para(d, "会议改在")
    tracked = f'{nsdecls("w")} w:id="1" w:author="张三"'
    p._p.append(parse_xml(f"<w:ins {tracked}><w:r><w:t>周四</w:t></w:r></w:ins>"))
    p._p.append(parse_xml(f"<w:del {tracked}><w:r><w:delText>周三</w:delText></w:r></w:del>"))
    p.add_run("上午召开。")
    wrapped = para(d, "第一行")
    wrapped.runs[0].add_break()
    wrapped.add_run("第二行")
    sdt = parse_xml(
        f"<w:sdt {nsdecls('w')}><w:sdtContent><w:p><w:r><w:t>控件里的段落</w:t></w:r></w:p>"
        "</w:sdtContent></w:sdt>"
    )
    d.element.body.insert(len(d.element.body) - 1, sdt)  # before the section properties
    result = import_docx(save(d))
    assert [b.text for b in result.body] == ["会议改在周四上午召开。", "第一行第二行", "控件里的段落"]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        "这是一个纯文本文件，只是改了扩展名。".encode(),
        b"PK\x03\x04 broken zip",
        b"%PDF-1.7\n%%EOF",
        official_notice()[:2000],  # truncated upload
    ],
)
def test_what_is_not_a_docx_is_422(data):
    with pytest.raises(ServiceError) as err:
        import_docx(data)
    assert (err.value.code, err.value.status, err.value.message) == (
        "invalid_docx",
        422,
        "文件不是有效的 .docx 文档",
    )


def test_other_office_packages_and_broken_parts_are_422():
    workbook = io.BytesIO()
    with zipfile.ZipFile(workbook, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
    broken = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(official_notice())) as src, zipfile.ZipFile(broken, "w") as dst:
        for info in src.infolist():
            data = b"<w:document><unclosed>" if info.filename == "word/document.xml" else src.read(info)
            dst.writestr(info, data)
    for data in (workbook.getvalue(), broken.getvalue()):
        with pytest.raises(ServiceError) as err:
            import_docx(data)
        assert err.value.code == "invalid_docx"


def test_zip_bomb_is_refused_before_parsing(monkeypatch):
    monkeypatch.setattr(docx_import, "MAX_UNCOMPRESSED", 1024 * 1024)
    bomb = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(official_notice())) as src,
        zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
        dst.writestr("word/media/padding.bin", b"\x00" * (2 * 1024 * 1024))
    assert len(bomb.getvalue()) < 100 * 1024  # small on the wire, large once inflated
    with pytest.raises(ServiceError) as err:
        import_docx(bomb.getvalue())
    assert (err.value.code, err.value.status) == ("docx_too_large", 422)


def test_empty_document_is_422():
    with pytest.raises(ServiceError) as err:
        import_docx(save(docx.Document()))
    assert err.value.code == "empty_docx"
