"""The render part of bench/documents.py: GB/T 9704 .docx renders per second.

`documents.render.render_docx` on a realistic two-page 通知 (版头 with 密级 and 紧急程度,
a two-line title, 主送机关, four levels of headings, 10 body paragraphs, a table, two
attachments, 署名 and 成文日期, 附注, 抄送 and 印发), measured in the same process and run as
python-docx's own minimal write (`Document()`, one paragraph, `save()` to memory): the
ceiling, since every render starts from the same template load and ends with the same zip
write. Both are timed in alternating halves after a warm-up, so drift on a noisy machine
falls on both alike.
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, bench/ comes first on sys.path and bench/http.py would shadow the standard
# library's `http` package (imported by werkzeug). Drop it.
if sys.path and Path(sys.path[0] or ".").resolve() == ROOT / "bench":
    del sys.path[0]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

WARMUP = 3


def notice():
    """A 通知 of about two pages, built from the editor's text form as the app stores it."""
    from documents.content import DocumentContent, parse_body

    tasks = [
        ("推进公文电子化", "实现公文起草、审核、签发、印制、分发全流程网上办理"),
    ]
    lines = ["为加快数字政府建设，推进政务协同办公，经省政府同意，现就有关事项通知如下。", "一、总体要求"]
    lines.append("坚持统筹规划、集约建设、安全可控，推动各级行政机关办公系统互联互通、数据共享、业务协同。")
    lines.append("二、主要任务")
    for n, (head, text) in zip("一", tasks, strict=True):
        lines.append(f"（{n}）{head}。各地各部门要按照统一标准，{text}，确保按期完成。")
        lines.append("1. 明确责任分工。各责任单位要细化工作方案，落实专人负责，按时报送进展情况。")
        lines.append("（1）建立月调度机制，每月5日前报送上月工作进展。")
    lines += ["| 序号 | 任务 | 责任单位 | 完成时限 |", "| 1 | 系统部署 | 省政府办公厅 | 2026年12月 |"]
    lines += ["| 2 | 人员培训 | 各市人民政府 | 2027年3月 |", "三、工作要求"]
    lines.append("各地各部门要高度重视，加强组织领导，强化经费保障，确保各项任务落到实处。")
    return DocumentContent(
        title="示例省人民政府关于加快推进数字政府协同办公建设的通知",
        issuers=["示例省人民政府"],
        body=parse_body("\n".join(lines)),
        doc_number="示政发〔2026〕15号",
        copy_no="000123",
        secret_level="秘密",
        secret_period="1年",
        urgency="加急",
        main_recipients="各市、县人民政府，省政府各部门、各直属机构",
        attachments=["数字政府协同办公建设任务分工表", "数字政府协同办公建设项目清单"],
        signature_units=["示例省人民政府"],
        date=date(2026, 11, 3),
        note="此件公开发布",
        cc="省委各部门，省人大常委会办公厅，省政协办公厅，省法院，省检察院",
        printer="示例省人民政府办公厅",
        print_date=date(2026, 11, 3),
    )


def minimal_write() -> bytes:
    """python-docx's floor: load the default template, one paragraph, write the zip."""
    from docx import Document

    doc = Document()
    doc.add_paragraph("示例")
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def _timed(fn: Callable[[], bytes], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return time.perf_counter() - start


def bench_render(n: int) -> dict[str, Any]:
    """Render the 通知 ``n`` times and write the minimal document ``n`` times, in two
    alternating halves after a warm-up; rates per second and their ratio."""
    from documents.render import render_docx

    content = notice()

    def render() -> bytes:
        return render_docx(content)

    for _ in range(WARMUP):
        size = len(render())
        minimal_write()
    half = max(n // 2, 1)
    render_s = ceiling_s = 0.0
    for count in (half, max(n - half, 1)):
        render_s += _timed(render, count)
        ceiling_s += _timed(minimal_write, count)
    runs = half + max(n - half, 1)
    render_rate, ceiling_rate = runs / render_s, runs / ceiling_s
    return {
        "renders": runs,
        "renders_per_s": round(render_rate, 1),
        "ms_per_render": round(1000 * render_s / runs, 2),
        "docx_bytes": size,
        "minimal_writes_per_s": round(ceiling_rate, 1),
        "ms_per_minimal_write": round(1000 * ceiling_s / runs, 2),
        "ratio_render_to_minimal": round(render_rate / ceiling_rate, 3),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(bench_render(int(sys.argv[1]) if len(sys.argv) > 1 else 100), indent=2))
