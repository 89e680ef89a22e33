"""The document's content as plain data: what the editor saves, the .docx importer produces,
the GB/T 9704 renderer and the HTML preview consume, and versions snapshot.

The body is a list of blocks. In the browser it is edited as text, one paragraph per line;
heading levels are recognised from the numbering the standard prescribes (一、 （一） 1. （1）)
and table rows are lines of cells separated by ``|``. Keeping the text form canonical makes
versions diff line by line (痕迹保留) and keeps the editor a plain, accessible textarea.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

BlockKind = Literal["h1", "h2", "h3", "h4", "p", "table"]

#: Heading numbering of GB/T 9704-2012 §7.3.3: 一、 （一） 1. （1）
HEADING_PATTERNS: list[tuple[BlockKind, re.Pattern[str]]] = [
    ("h1", re.compile(r"^[一二三四五六七八九十百]+、")),
    ("h2", re.compile(r"^[（(][一二三四五六七八九十百]+[）)]")),
    ("h3", re.compile(r"^\d{1,3}[.．]\s*\S")),
    ("h4", re.compile(r"^[（(]\d{1,3}[）)]")),
]


@dataclass
class Block:
    kind: BlockKind
    text: str = ""
    #: Table cells, row by row (only for ``kind == "table"``).
    rows: list[list[str]] = field(default_factory=list)

    def to_json(self) -> dict:
        return (
            {"kind": self.kind, "rows": self.rows}
            if self.kind == "table"
            else {"kind": self.kind, "text": self.text}
        )

    @classmethod
    def from_json(cls, data: dict) -> Block:
        if data.get("kind") == "table":
            return cls("table", rows=[[str(c) for c in row] for row in data.get("rows", [])])
        return cls(data.get("kind", "p"), text=str(data.get("text", "")))


def classify(line: str) -> BlockKind:
    for kind, pattern in HEADING_PATTERNS:
        if pattern.match(line):
            return kind
    return "p"


def parse_body(text: str) -> list[Block]:
    """Editor text → blocks. Blank lines separate nothing (paragraphs are lines); consecutive
    ``|`` lines form one table."""
    blocks: list[Block] = []
    for raw in (text or "").replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if blocks and blocks[-1].kind == "table":
                blocks[-1].rows.append(cells)
            else:
                blocks.append(Block("table", rows=[cells]))
            continue
        blocks.append(Block(classify(line), text=line))
    return blocks


def body_text(blocks: list[Block]) -> str:
    """Blocks → editor text (the inverse of :func:`parse_body`)."""
    lines: list[str] = []
    for b in blocks:
        if b.kind == "table":
            lines.extend("| " + " | ".join(row) + " |" for row in b.rows)
        else:
            lines.append(b.text)
    return "\n".join(lines)


def body_text_of(data: list[dict]) -> str:
    """:func:`body_text` of a body as stored (JSON blocks), without building the blocks
    (the search rebuild reads every body)."""
    lines: list[str] = []
    for b in data or []:
        if b.get("kind") == "table":
            lines.extend("| " + " | ".join(str(c) for c in row) + " |" for row in b.get("rows", []))
        else:
            lines.append(str(b.get("text", "")))
    return "\n".join(lines)


@dataclass
class DocumentContent:
    """Every GB/T 9704-2012 element the renderer needs, already resolved to text."""

    title: str
    #: 发文机关标志: issuing organ names; several for a joint document (联合行文).
    issuers: list[str]
    body: list[Block] = field(default_factory=list)
    doc_type: str = "通知"
    #: ``up`` (上行文), ``parallel`` (平行文), ``down`` (下行文).
    direction: str = "down"
    #: 份号 (6 digits) — only printed for classified documents.
    copy_no: str | None = None
    #: 密级: 秘密 / 机密 / 绝密, or None; 内部 is not printed as a 密级.
    secret_level: str | None = None
    #: 保密期限, e.g. "1年".
    secret_period: str | None = None
    #: 紧急程度: 特急 / 加急, or None.
    urgency: str | None = None
    #: The "文件" suffix of 发文机关标志 (empty for 函 and 纪要 styles).
    mark_suffix: str = "文件"
    doc_number: str | None = None
    #: 签发人 names (required for 上行文; printed right of 发文字号).
    signers: list[str] = field(default_factory=list)
    #: 主送机关, already joined with 、 and ending with no colon.
    main_recipients: str = ""
    #: 附件说明: attachment titles in order.
    attachments: list[str] = field(default_factory=list)
    #: 发文机关署名 (one per issuer, in order).
    signature_units: list[str] = field(default_factory=list)
    #: 成文日期 (the sign-off date); None while drafting.
    date: date | None = None
    #: 附注 (printed in brackets, e.g. "（此件公开发布）").
    note: str = ""
    #: 抄送机关, joined with 、.
    cc: str = ""
    #: 印发机关 and 印发日期 for the 版记.
    printer: str = ""
    print_date: date | None = None
    #: Seal images (PNG bytes) to press over 署名 and 成文日期, one per issuer (issue 5).
    seals: list[bytes] = field(default_factory=list)


def cn_date(d: date | None) -> str:
    """成文日期 with Arabic numerals, as GB/T 9704-2012 §7.3.5 requires: 2026年11月3日."""
    return f"{d.year}年{d.month}月{d.day}日" if d else ""
