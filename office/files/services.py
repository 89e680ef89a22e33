"""Store attachments once, by content, and refuse what we cannot vouch for.

An upload is streamed to a temporary file while it is hashed and counted, so a large file never
sits in memory and an oversized one stops at the limit. Its type is sniffed from the bytes: the
client's extension is only checked against the content, never trusted, so a download's name
always tells the truth about what it opens. The content then moves atomically to
``<OFFICE_INSTANCE>/files/ab/cd/<sha256>``: a reader never sees half a file, and identical
content is kept once however many rows name it.

The store writes no audit event of its own: storing is one step of an action (attaching a file
to a document, uploading minutes) whose service records the event with the file's id. Bytes
written for a transaction that is then rolled back stay on disk unreferenced; being content
addressed they are harmless, and a sweep can compare the directory with the table.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import os
import re
import struct
import tempfile
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from flask import current_app

from office.errors import ServiceError
from office.extensions import db
from office.files.models import StoredFile
from office.identity.models import User

CHUNK = 1024 * 1024
#: Characters kept in a file name (the column holds 200; this leaves room and stays readable).
NAME_MAX = 120
#: Longer suffixes are not treated as extensions ("报告.第二稿修改意见汇总" has none).
EXT_MAX = 10
DEFAULT_NAME = "附件"
_SHA256 = re.compile(r"[0-9a-f]{64}")


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class FileType:
    """A type we accept: what it is called, how it is served, which extensions it may carry."""

    #: Short name, also the canonical extension (``docx``); used in ``allowed`` sets.
    kind: str
    content_type: str
    #: Chinese name for messages.
    label: str
    #: Extensions a file of this type may have; the first is appended when a name has none.
    extensions: tuple[str, ...]


PDF = FileType("pdf", "application/pdf", "PDF 文档", ("pdf",))
PNG = FileType("png", "image/png", "PNG 图片", ("png",))
JPEG = FileType("jpg", "image/jpeg", "JPEG 图片", ("jpg", "jpeg", "jpe"))
GIF = FileType("gif", "image/gif", "GIF 图片", ("gif",))
DOCX = FileType(
    "docx",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "Word 文档（.docx）",
    ("docx",),
)
XLSX = FileType(
    "xlsx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "Excel 表格（.xlsx）",
    ("xlsx",),
)
PPTX = FileType(
    "pptx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "PowerPoint 演示文稿（.pptx）",
    ("pptx",),
)
# WPS Office saves its legacy formats in the same compound-file layouts as Word 97 etc.
DOC = FileType("doc", "application/msword", "Word 97-2003 文档（.doc）", ("doc", "wps"))
XLS = FileType("xls", "application/vnd.ms-excel", "Excel 97-2003 表格（.xls）", ("xls", "et"))
PPT = FileType("ppt", "application/vnd.ms-powerpoint", "PowerPoint 97-2003 演示文稿（.ppt）", ("ppt", "dps"))
OFD = FileType("ofd", "application/ofd", "OFD 版式文档", ("ofd",))
RTF = FileType("rtf", "application/rtf", "RTF 文档", ("rtf",))
ZIP = FileType("zip", "application/zip", "ZIP 压缩包", ("zip",))
SEVEN_Z = FileType("7z", "application/x-7z-compressed", "7z 压缩包", ("7z",))
RAR = FileType("rar", "application/vnd.rar", "RAR 压缩包", ("rar",))
_TEXT_EXTENSIONS = ("txt", "text", "csv", "tsv", "md", "log", "json", "xml")
TEXT_UTF8 = FileType("txt", "text/plain; charset=utf-8", "纯文本", _TEXT_EXTENSIONS)
TEXT_GB18030 = FileType("txt", "text/plain; charset=gb18030", "纯文本", _TEXT_EXTENSIONS)
TEXT_UTF16 = FileType("txt", "text/plain; charset=utf-16", "纯文本", _TEXT_EXTENSIONS)

FILE_TYPES: tuple[FileType, ...] = (
    PDF, PNG, JPEG, GIF, DOCX, XLSX, PPTX, DOC, XLS, PPT, OFD, RTF, ZIP, SEVEN_Z, RAR, TEXT_UTF8,
)  # fmt: skip
#: Every extension some accepted type uses: such an extension must agree with the content.
KNOWN_EXTENSIONS = frozenset(ext for t in FILE_TYPES for ext in t.extensions)

_RESERVED = re.compile(r'[\\/:*?"<>|]')
_WINDOWS_DEVICES = frozenset(
    ["con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))]
)
#: C0 controls that never occur in real text (tab, newlines, form feed and ESC do).
_BINARY_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f]")


# ---------------------------------------------------------------- public API


def store(
    source: bytes | bytearray | memoryview | Readable,
    filename: str,
    *,
    user: User | None = None,
    allowed: set[str] | None = None,
) -> StoredFile:
    """Save an upload and add its row to the session (flushed, not committed).

    ``source`` is bytes or a binary stream (a werkzeug ``FileStorage`` works). ``allowed``
    narrows the accepted kinds for one use (``{"pdf", "docx"}``); names are the
    :attr:`FileType.kind` values or any of their extensions.

    Raises :class:`ServiceError`: ``file_too_large`` (413), ``empty_file``,
    ``unsupported_file_type``, ``file_type_mismatch``, ``file_type_not_allowed``,
    ``macro_not_allowed``, ``encrypted_file`` (all 422).
    """
    stream: Readable = (
        io.BytesIO(bytes(source)) if isinstance(source, bytes | bytearray | memoryview) else source
    )
    name = sanitize_name(filename)
    max_mb = float(current_app.config.get("ATTACHMENT_MAX_MB", 50))
    limit = int(max_mb * 1024 * 1024)
    root = files_root()
    tmp_dir = root / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix="upload-")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise ServiceError(
                        "file_too_large", f"附件超过 {max_mb:g} MB 上限", 413, {"max_mb": max_mb}
                    )
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if size == 0:
            raise ServiceError("empty_file", "附件是空文件，请检查后重新上传", 422)
        ftype = sniff(tmp)
        name = _reconcile_extension(name, ftype)
        _check_allowed(ftype, allowed)
        sha = digest.hexdigest()
        _publish(tmp, _blob_path(root, sha), size)
    finally:
        tmp.unlink(missing_ok=True)

    row = StoredFile(
        sha256=sha,
        size=size,
        content_type=ftype.content_type,
        name=name,
        created_by_id=user.id if user is not None else None,
    )
    db.session.add(row)
    db.session.flush()
    return row


def path_of(f: StoredFile) -> Path:
    """Where the content of ``f`` lives on disk."""
    if not _SHA256.fullmatch(f.sha256 or ""):
        # A row is only ever written by `store`; anything else is tampering, not a path to follow.
        raise ValueError(f"stored file {f.id} has a malformed sha256")
    return _blob_path(files_root(), f.sha256)


def open_file(f: StoredFile) -> BinaryIO:
    """The content of ``f`` as an open binary file; the caller closes it."""
    try:
        return path_of(f).open("rb")
    except FileNotFoundError:
        current_app.logger.error("content of stored file %s (%s) is missing", f.id, f.sha256)
        raise ServiceError("file_missing", "附件内容已丢失，请联系系统管理员", 404) from None


def read_bytes(f: StoredFile) -> bytes:
    """The whole content of ``f`` (for small files: a .docx to import, a seal image)."""
    with open_file(f) as fh:
        return fh.read()


def files_root() -> Path:
    return Path(current_app.config["OFFICE_INSTANCE"]) / "files"


def sanitize_name(filename: str | None) -> str:
    """A file name safe to store and to offer as a download on any system.

    Keeps only the last path component, drops control and invisible formatting characters
    (a right-to-left override can disguise ``exe.pdf``) and the characters Windows reserves,
    strips leading dots (hidden files) and trailing dots and spaces, and shortens long names
    while keeping the extension. Chinese and other letters are kept as they are.
    """
    name = unicodedata.normalize("NFC", filename or "")
    name = re.split(r"[\\/]", name)[-1]
    name = re.sub(r"\s+", " ", name)  # tabs and newlines become spaces before controls go
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs"))
    name = _RESERVED.sub("", name).strip()
    bare = name.lstrip(". ")
    if bare != name and "." not in bare and bare.lower() in KNOWN_EXTENSIONS:
        bare = f"{DEFAULT_NAME}.{bare}"  # ".pdf" is an extension without a name
    name = bare.rstrip(". ")
    stem, ext = _split_extension(name)
    if stem.lower() in _WINDOWS_DEVICES:
        stem = f"_{stem}"
    return _fit(stem or DEFAULT_NAME, ext)


def sniff(path: Path) -> FileType:
    """The type of the file at ``path``, judged from its content alone."""
    with path.open("rb") as fh:
        head = fh.read(8192)
    if b"%PDF-" in head[:1024]:
        return PDF
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return SEVEN_Z
    if head.startswith((b"Rar!\x1a\x07\x00", b"Rar!\x1a\x07\x01\x00")):
        return RAR
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return _sniff_ole(path)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _sniff_zip(path)
    if head.startswith(b"{\\rtf"):
        return RTF
    text = _sniff_text(path, head)
    if text is not None:
        return text
    raise _unsupported()


# ---------------------------------------------------------------- names and types


def _split_extension(name: str) -> tuple[str, str]:
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or not ext or len(ext) > EXT_MAX or not ext.isalnum():
        return name, ""
    return stem, ext


def _fit(stem: str, ext: str) -> str:
    """``stem.ext`` within :data:`NAME_MAX` characters, shortening the stem only."""
    room = NAME_MAX - (len(ext) + 1 if ext else 0)
    stem = stem[:room].rstrip(". ") or DEFAULT_NAME
    return f"{stem}.{ext}" if ext else stem


def _reconcile_extension(name: str, ftype: FileType) -> str:
    """Refuse a known extension that contradicts the content; give a name without a fitting
    extension the right one (``说明.html`` holding plain text is offered as ``说明.html.txt``)."""
    stem, ext = _split_extension(name)
    lower = ext.lower()
    if lower in ftype.extensions:
        return name
    if lower in KNOWN_EXTENSIONS:
        raise ServiceError(
            "file_type_mismatch",
            f"文件扩展名 .{ext} 与文件实际内容（{ftype.label}）不符，请确认文件后重新上传",
            422,
            {"extension": lower, "detected": ftype.kind},
        )
    return _fit(name, ftype.kind) if ext else _fit(stem, ftype.kind)


def _check_allowed(ftype: FileType, allowed: set[str] | None) -> None:
    if allowed is None:
        return
    wanted = {a.lower().lstrip(".") for a in allowed}
    if ftype.kind in wanted or wanted.intersection(ftype.extensions):
        return
    raise ServiceError(
        "file_type_not_allowed",
        f"此处只接受以下格式的附件：{'、'.join(sorted(wanted))}（所传文件为{ftype.label}）",
        422,
        {"allowed": sorted(wanted), "detected": ftype.kind},
    )


def _unsupported() -> ServiceError:
    return ServiceError(
        "unsupported_file_type",
        "不支持的附件格式。可上传 PDF、OFD、Word、Excel、PowerPoint、WPS、RTF、纯文本、"
        "PNG/JPEG/GIF 图片及 ZIP/7z/RAR 压缩包",
        422,
    )


def _sniff_zip(path: Path) -> FileType:
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise _unsupported() from None
    if any(n.lower().endswith("vbaproject.bin") for n in names):
        raise ServiceError("macro_not_allowed", "不接受含宏的文档，请另存为不含宏的格式后再上传", 422)
    if "word/document.xml" in names:
        return DOCX
    if "xl/workbook.xml" in names:
        return XLSX
    if "ppt/presentation.xml" in names:
        return PPTX
    if "OFD.xml" in names:
        return OFD
    return ZIP


def _sniff_ole(path: Path) -> FileType:
    """Tell .doc, .xls and .ppt apart by the streams at the root of the compound file (the
    layout that also holds installers and mail files, which we refuse)."""
    try:
        with path.open("rb") as fh:
            streams = _ole_root_streams(fh)
    except (OSError, ValueError, struct.error, IndexError):
        raise _unsupported() from None
    if "EncryptedPackage" in streams:
        raise ServiceError("encrypted_file", "文档设有打开密码，请取消密码后再上传", 422)
    if "WordDocument" in streams:
        return DOC
    if "Workbook" in streams or "Book" in streams:
        return XLS
    if "PowerPoint Document" in streams:
        return PPT
    raise _unsupported()


_OLE_NOSTREAM = 0xFFFFFFFF
_OLE_MAXREG = 0xFFFFFFFA


def _ole_root_streams(fh: BinaryIO) -> set[str]:
    """Names of the root storage's children in a compound file ([MS-CFB]): read the FAT,
    follow the directory chain, then walk the root's red-black tree of children."""
    header = fh.read(512)
    shift = int.from_bytes(header[0x1E:0x20], "little")
    if shift not in (9, 12):
        raise ValueError("bad sector size")
    size = 1 << shift
    per_sector = size // 4
    file_sectors = os.fstat(fh.fileno()).st_size // size + 1

    def sector(n: int) -> bytes:
        if n >= file_sectors:
            raise ValueError("sector out of range")
        fh.seek((n + 1) * size)
        data = fh.read(size)
        if len(data) != size:
            raise ValueError("short sector")
        return data

    fat_sectors = list(struct.unpack("<109I", header[0x4C:0x200]))
    difat = int.from_bytes(header[0x44:0x48], "little")
    for _ in range(int.from_bytes(header[0x48:0x4C], "little")):
        if difat >= _OLE_MAXREG:
            break
        entries = struct.unpack(f"<{per_sector}I", sector(difat))
        fat_sectors.extend(entries[:-1])
        difat = entries[-1]
    fat: list[int] = []
    for s in fat_sectors:
        if s < _OLE_MAXREG:
            fat.extend(struct.unpack(f"<{per_sector}I", sector(s)))

    entries: list[tuple[str, int, int, int, int]] = []  # name, type, left, right, child
    s, seen = int.from_bytes(header[0x30:0x34], "little"), set()
    while s < _OLE_MAXREG and s not in seen:
        seen.add(s)
        data = sector(s)
        for i in range(0, size, 128):
            e = data[i : i + 128]
            length = int.from_bytes(e[0x40:0x42], "little")
            name = e[: max(length - 2, 0)].decode("utf-16-le", "replace") if length <= 64 else ""
            left, right, child = struct.unpack("<3I", e[0x44:0x50])
            entries.append((name, e[0x42], left, right, child))
        s = fat[s] if s < len(fat) else _OLE_NOSTREAM
    if not entries or entries[0][1] != 5:  # entry 0 is the root storage
        raise ValueError("no root entry")

    names: set[str] = set()
    todo, visited = [entries[0][4]], set()
    while todo:
        i = todo.pop()
        if i == _OLE_NOSTREAM or i >= len(entries) or i in visited:
            continue
        visited.add(i)
        name, kind, left, right, _child = entries[i]
        if kind in (1, 2):  # storage or stream
            names.add(name)
        todo += [left, right]
    return names


def _sniff_text(path: Path, head: bytes) -> FileType | None:
    """Plain text: valid UTF-8, GB18030 or BOM-marked UTF-16 with no binary control characters,
    checked over the whole file (a binary file can start with a readable header)."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates = [("utf-16", TEXT_UTF16)]
    elif b"\x00" in head:
        return None
    else:
        candidates = [("utf-8", TEXT_UTF8), ("gb18030", TEXT_GB18030)]
    for encoding, ftype in candidates:
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with path.open("rb") as fh:
                while chunk := fh.read(CHUNK):
                    if _BINARY_CONTROLS.search(decoder.decode(chunk)):
                        return None
                if _BINARY_CONTROLS.search(decoder.decode(b"", final=True)):
                    return None
        except UnicodeDecodeError:
            continue
        return ftype
    return None


# ---------------------------------------------------------------- disk


def _blob_path(root: Path, sha: str) -> Path:
    return root / sha[:2] / sha[2:4] / sha


def _publish(tmp: Path, final: Path, size: int) -> None:
    """Put ``tmp`` at ``final`` unless the same content is already there.

    A hard link creates the name atomically only if it does not exist, so two uploads of one
    file racing each other write it once; where links are unsupported, rename (atomic too).
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(tmp, 0o440)  # content addressed: never modified once in place
    try:
        os.link(tmp, final)
    except FileExistsError:
        if final.stat().st_size == size:
            return
        os.replace(tmp, final)  # a damaged copy (restored backup, disk error): repair it
    except OSError:
        if final.exists() and final.stat().st_size == size:
            return
        os.replace(tmp, final)
    _fsync_dir(final.parent)


def _fsync_dir(path: Path) -> None:
    """Make the new directory entry durable (POSIX; a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
