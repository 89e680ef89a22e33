"""The attachment store: types judged by content, honest names, the size limit, dedup on disk."""

from __future__ import annotations

import io
import os
import struct
import zipfile

import docx
import pytest
from werkzeug.exceptions import RequestEntityTooLarge

from office.config import load_config
from office.errors import ServiceError
from office.extensions import db
from office.files import services as files
from office.files.models import StoredFile

# ---------------------------------------------------------------- samples

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00\x00\x00\x01" * 2 + b"\x08\x02\x00\x00\x00"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
GIF = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"
RTF = rb"{\rtf1\ansi\deff0 {\fonttbl {\f0 SimSun;}} \f0 \u36890?\u30693? }"
SEVEN_Z = b"7z\xbc\xaf\x27\x1c\x00\x04" + b"\x00" * 24
RAR = b"Rar!\x1a\x07\x01\x00" + b"\x00" * 24
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 56
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48


def docx_bytes() -> bytes:
    document = docx.Document()
    document.add_paragraph("关于开展安全生产检查的通知")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def ooxml(main_part: str) -> bytes:
    return zip_bytes(
        {"[Content_Types].xml": b"<Types/>", "_rels/.rels": b"<Relationships/>", main_part: b"<x/>"}
    )


_FREE, _END, _FATSECT = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD


def ole_entry(name: str, kind: int, *, right: int = _FREE, child: int = _FREE) -> bytes:
    raw = name.encode("utf-16-le") + b"\x00\x00"
    entry = bytearray(128)
    entry[: len(raw)] = raw
    struct.pack_into("<HBB3I", entry, 0x40, len(raw), kind, 1, _FREE, right, child)
    return bytes(entry)


def ole(*entries: bytes) -> bytes:
    """A minimal compound file with 512-byte sectors: sector 0 the FAT, sector 1 the directory
    (the root entry plus up to three more)."""
    assert len(entries) <= 3
    header = bytearray(512)
    header[:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<5H", header, 0x18, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<I", header, 0x2C, 1)  # one FAT sector
    struct.pack_into("<I", header, 0x30, 1)  # directory starts at sector 1
    struct.pack_into("<3I", header, 0x38, 4096, _END, 0)
    struct.pack_into("<2I", header, 0x44, _END, 0)  # no DIFAT sectors
    struct.pack_into("<109I", header, 0x4C, 0, *[_FREE] * 108)
    fat = struct.pack("<128I", _FATSECT, _END, *[_FREE] * 126)
    directory = ole_entry("Root Entry", 5, child=1) + b"".join(entries)
    directory += ole_entry("", 0) * (4 - len(entries) - 1)
    return bytes(header) + fat + directory


def ole_streams(*names: str) -> bytes:
    """Streams side by side at the root (each the right sibling of the one before)."""
    return ole(*(ole_entry(n, 2, right=i + 2 if i + 1 < len(names) else _FREE) for i, n in enumerate(names)))


# ---------------------------------------------------------------- sniffing


@pytest.mark.parametrize(
    ("data", "name", "content_type"),
    [
        (PDF, "请示.pdf", "application/pdf"),
        (PNG, "签名.png", "image/png"),
        (JPEG, "现场照片.jpeg", "image/jpeg"),
        (JPEG, "现场照片.JPG", "image/jpeg"),
        (GIF, "动图.gif", "image/gif"),
        (RTF, "旧稿.rtf", "application/rtf"),
        (SEVEN_Z, "材料.7z", "application/x-7z-compressed"),
        (RAR, "材料.rar", "application/vnd.rar"),
        (ooxml("xl/workbook.xml"), "统计表.xlsx", files.XLSX.content_type),
        (ooxml("ppt/presentation.xml"), "汇报.pptx", files.PPTX.content_type),
        (zip_bytes({"OFD.xml": b"<ofd:OFD/>", "Doc_0/Document.xml": b"<x/>"}), "公文.ofd", "application/ofd"),
        (zip_bytes({"说明.txt": "内容".encode()}), "材料.zip", "application/zip"),
        (ole_streams("\x01CompObj", "WordDocument", "1Table"), "旧文件.doc", "application/msword"),
        (ole_streams("WordDocument"), "金山文字.wps", "application/msword"),
        (ole_streams("Workbook"), "旧表格.xls", "application/vnd.ms-excel"),
        (ole_streams("Book"), "更旧的表格.xls", "application/vnd.ms-excel"),
        (ole_streams("Current User", "PowerPoint Document"), "旧汇报.ppt", "application/vnd.ms-powerpoint"),
        ("会议纪要\n一、会议议定事项\n".encode(), "纪要.txt", "text/plain; charset=utf-8"),
        ("会议纪要\r\n二、其他\r\n".encode("gb18030"), "纪要.txt", "text/plain; charset=gb18030"),
        ("姓名,电话\n张三,13800138000\n".encode("utf-16"), "通讯录.csv", "text/plain; charset=utf-16"),
    ],
)
def test_types_are_sniffed_from_content(ctx, data, name, content_type):
    stored = files.store(data, name)
    assert (stored.content_type, stored.name, stored.size) == (content_type, name, len(data))
    db.session.commit()


def test_docx_is_told_from_other_zips(ctx):
    stored = files.store(docx_bytes(), "通知.docx")
    assert stored.content_type == files.DOCX.content_type
    assert files.read_bytes(stored)[:2] == b"PK"


def test_legacy_office_is_judged_by_root_streams_not_embedded_objects(tmp_path):
    # A workbook with a Word document embedded in a storage of its own is still a workbook.
    path = tmp_path / "x"
    path.write_bytes(
        ole(
            ole_entry("Workbook", 2, right=2),
            ole_entry("MBD0001", 1, child=3),
            ole_entry("WordDocument", 2),
        )
    )
    assert files.sniff(path) is files.XLS


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (ELF, "unsupported_file_type"),
        (EXE, "unsupported_file_type"),
        (bytes(range(256)) * 4, "unsupported_file_type"),
        (b"PK\x03\x04 not really a zip", "unsupported_file_type"),
        (ole_streams("SummaryInformation", "MsiTables"), "unsupported_file_type"),  # an installer
        (ole_streams("EncryptionInfo", "EncryptedPackage"), "encrypted_file"),
        (zip_bytes({"word/document.xml": b"<x/>", "word/vbaProject.bin": b"\x00"}), "macro_not_allowed"),
        (b"", "empty_file"),
    ],
)
def test_unsupported_content_is_refused(ctx, data, code):
    with pytest.raises(ServiceError) as err:
        files.store(data, "材料")
    assert (err.value.code, err.value.status) == (code, 422)
    assert db.session.query(StoredFile).count() == 0


@pytest.mark.parametrize(
    ("data", "name", "detected"),
    [
        (b"just some text, renamed", "通知.docx", "txt"),
        (PDF, "通知.docx", "pdf"),
        (docx_bytes(), "通知.pdf", "docx"),
        (ooxml("xl/workbook.xml"), "表格.docx", "xlsx"),
        (ole_streams("WordDocument"), "表格.xls", "doc"),
        (PNG, "照片.jpg", "png"),
    ],
)
def test_extension_contradicting_content_is_refused(ctx, data, name, detected):
    with pytest.raises(ServiceError) as err:
        files.store(data, name)
    assert (err.value.code, err.value.status) == ("file_type_mismatch", 422)
    assert err.value.details["detected"] == detected
    assert "与文件实际内容" in err.value.message and "不符" in err.value.message


@pytest.mark.parametrize(
    ("data", "name", "stored_as"),
    [
        (PDF, "报告", "报告.pdf"),
        (PDF, "第1.2版", "第1.2版.pdf"),
        (b"<p>plain text really</p>", "说明.html", "说明.html.txt"),
        (zip_bytes({"a.txt": b"a"}), "setup.exe", "setup.exe.zip"),
    ],
)
def test_name_gets_the_extension_of_its_content(ctx, data, name, stored_as):
    assert files.store(data, name).name == stored_as


def test_allowed_narrows_the_accepted_kinds(ctx):
    assert files.store(PDF, "a.pdf", allowed={"pdf", "docx"}).content_type == "application/pdf"
    assert files.store(JPEG, "a.jpg", allowed={".JPEG"}).content_type == "image/jpeg"
    with pytest.raises(ServiceError) as err:
        files.store(PNG, "a.png", allowed={"pdf", "docx"})
    assert err.value.code == "file_type_not_allowed" and "docx、pdf" in err.value.message


# ---------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\Windows\\system.ini", "system.ini"),
        ("a\x00b.docx", "ab.docx"),
        ("关于做好2026年元旦春节期间工作的通知.docx", "关于做好2026年元旦春节期间工作的通知.docx"),
        ('报告:"终稿"<1>|*?.pdf', "报告终稿1.pdf"),
        ("..hidden.pdf", "hidden.pdf"),
        (".pdf", "附件.pdf"),
        ("report\u202efdp.exe", "reportfdp.exe"),  # right-to-left override hides the real extension
        ("  纪要\t(第3次) .txt  ", "纪要 (第3次).txt"),
        ("会议\n纪要.txt", "会议 纪要.txt"),
        ("CON.txt", "_CON.txt"),
        ("", "附件"),
        ("...", "附件"),
        ("///", "附件"),
        ("\x01\x02", "附件"),
        (None, "附件"),
    ],
)
def test_names_are_sanitised(raw, clean):
    assert files.sanitize_name(raw) == clean


def test_long_names_keep_their_extension():
    name = files.sanitize_name("很" * 300 + ".docx")
    assert len(name) == files.NAME_MAX and name.endswith("很.docx")
    # a "suffix" too long to be an extension is just part of the name
    assert files.sanitize_name("a." + "b" * 300) == "a." + "b" * (files.NAME_MAX - 2)


def test_stored_name_is_sanitised(ctx):
    assert files.store(PDF, "../../../etc/请示\x00.pdf").name == "请示.pdf"


# ---------------------------------------------------------------- size limit and errors


def test_over_the_limit_is_413_and_leaves_nothing(app, ctx, monkeypatch):
    monkeypatch.setitem(app.config, "ATTACHMENT_MAX_MB", 0.001)  # 1048 bytes
    limit = int(0.001 * 1024 * 1024)
    assert files.store(b"a" * limit, "ok.txt").size == limit
    with pytest.raises(ServiceError) as err:
        files.store(io.BytesIO(b"a" * (limit + 1)), "big.txt")
    assert (err.value.code, err.value.status) == ("file_too_large", 413)
    assert err.value.message == "附件超过 0.001 MB 上限"
    assert list((files.files_root() / "tmp").iterdir()) == []
    assert db.session.query(StoredFile).count() == 1


def test_request_limit_stays_above_the_attachment_limit(tmp_path):
    base = {"OFFICE_INSTANCE": str(tmp_path), "SECRET_KEY": "x", "OFFICE_MASTER_KEY": "y"}
    config = load_config(base)
    assert config["ATTACHMENT_MAX_MB"] == 50
    assert config["MAX_CONTENT_LENGTH"] > 50 * 1024 * 1024
    config = load_config({**base, "OFFICE_ATTACHMENT_MAX_MB": "200", "OFFICE_MAX_UPLOAD_MB": "100"})
    assert config["MAX_CONTENT_LENGTH"] > 200 * 1024 * 1024


def test_both_413s_have_the_json_error_shape(app):
    with app.test_request_context("/api/v1/files", method="POST"):
        for exc, code in (
            (RequestEntityTooLarge(), "too_large"),
            (ServiceError("file_too_large", "附件超过 50 MB 上限", 413), "file_too_large"),
        ):
            resp = app.make_response(app.handle_user_exception(exc))
            assert resp.status_code == 413
            assert resp.get_json()["error"]["code"] == code
            assert set(resp.get_json()["error"]) == {"code", "message", "details"}


# ---------------------------------------------------------------- disk


def test_same_content_is_one_file_on_disk_under_two_names(ctx, org):
    staff = org["people"]["staff"]
    data = docx_bytes()
    first = files.store(data, "通知（送审稿）.docx", user=staff)
    second = files.store(io.BytesIO(data), "通知（定稿）.docx")
    db.session.commit()
    assert first.id != second.id and first.sha256 == second.sha256
    assert (first.name, second.name) == ("通知（送审稿）.docx", "通知（定稿）.docx")
    assert (first.created_by_id, second.created_by_id) == (staff.id, None)
    path = files.path_of(first)
    assert path == files.path_of(second)
    assert path.relative_to(files.files_root()).parts == (first.sha256[:2], first.sha256[2:4], first.sha256)
    assert os.stat(path).st_nlink == 1  # the temporary name is gone
    assert files.read_bytes(second) == data
    with files.open_file(first) as fh:
        assert fh.read(2) == b"PK"


def test_missing_content_is_reported_not_crashed(ctx):
    stored = files.store(b"orphan soon", "a.txt")
    stored.sha256 = "0" * 64
    with pytest.raises(ServiceError) as err:
        files.read_bytes(stored)
    assert (err.value.code, err.value.status) == ("file_missing", 404)
    stored.sha256 = "../../secret_key"
    with pytest.raises(ValueError):
        files.path_of(stored)
    db.session.rollback()
