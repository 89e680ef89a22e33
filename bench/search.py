"""Full-text search benchmark: indexing throughput, index size and query latency of every search
engine, at the engine and through the HTTP API, in one run.

    .venv/bin/python bench/search.py                  # 100,000 documents (whoosh 20,000): ~20 min
    .venv/bin/python bench/search.py --quick          # 5,000 documents (whoosh 2,000): ~1 min
    .venv/bin/python bench/search.py --backends tantivy,postgres --docs 20000

The issue's measure: 100,000 documents of about 1,500 Chinese characters; indexing
throughput, index size and p50/p95 latency of at least 200 queries of 2 to 6 characters for
each engine, with tantivy as the ceiling reference and the ratios reported. Targets at
100,000 documents: **tantivy indexing >= 1,500 documents/s and engine p95 <= 5 ms; search
API p95 <= 50 ms with tantivy and <= 150 ms with postgres; whoosh at 20,000 documents p95
<= 150 ms** (rjieba analysis, no stored body, no exact count on every query: how
``office/search/backends/whoosh.py`` is built).

What it does, in one process (all figures from the same run):

1. Generates --docs documents, deterministically (--seed), that read like 公文: the units,
   places and per-subject sentences of ``scripts/make_corpus.py`` (24 subjects: aims, goals,
   tasks, facts, problems, plans, rules) composed into 通知, 请示, 报告, 函 ... of about 1,500
   Chinese characters (title, 发文字号, 主送/抄送, body with 一、（一） headings, sometimes a
   table, closing and contact line). Subjects, types and issuers are drawn with skewed weights,
   and each document names a few people, villages, companies and projects from a synthetic
   long-tail list of ~40,000 (drawn Zipf-like), so some terms are in every document and most
   in very few, as in a real archive.
2. A temporary PostgreSQL database (CREATE DATABASE on --pg-url, dropped at the end) with the
   app's schema (``office.create_app`` + ``office.cli.upgrade_db``), a temporary instance
   folder for the file indexes, and the organisation: one unit per issuer, a drafter in each,
   an admin, and the searcher: the 收发员 (clerk) of 省政府办公厅, who reads what that unit
   issued and what was sent to it (``documents.access``; the share is printed).
3. Analysis, once: ``analysis.index_text`` of the title + number and of the text as
   ``documents/search.py`` composes it (body, units, recipients, type, mark, signature):
   analysis documents/s.
4. Engine level, per engine: ``backend.index()`` in batches of --batch (1,000) of the
   analysed documents, each call committing, as the service does → engine indexing
   documents/s, and analysis + engine (1 / (1/a + 1/e)); tantivy then waits for its
   background merges (timed, reported apart); postgres gets the VACUUM ANALYZE autovacuum
   would run after a bulk load (timed apart). Index size from ``size_bytes()``. Then the
   queries (parsed once by ``query.parse``) through ``backend.search(q, limit=200)``: one
   warm-up pass, then --repeat timed passes in a shuffled order → p50/p95/p99/mean.
   whoosh is built with the first --whoosh-docs documents only, and tantivy is measured
   again at that size (a second, throw-away index) so whoosh has a ceiling of the same size.
5. Service level (API), tantivy and postgres at --docs: the documents are inserted as real
   ``documents`` rows (Core executemany: distributed, numbered, body as content blocks, their
   收文 records), the index rebuilt by ``office.search.services.reindex()`` (timed: loading
   rows, analysis, engine; the postgres one on an emptied ``search_entries``, then VACUUM
   ANALYZE), then every query through ``GET /api/v1/search?q=...`` with the Flask test
   client and a bearer token: the clerk (one line) and the admin who reads everything (a
   second line); warm-up pass, then timed passes → p50/p95. whoosh's API line uses its
   --whoosh-docs engine index (the documents' ids are the database's ids) over the full
   database.

Queries (--queries, default 200, drawn with the seed from the generated text, 2 to 6 Chinese
characters): a quarter each of common words (in >= 5 % of documents), mid words (0.2-5 %),
rare names (people, villages, companies, projects; < 0.2 %) and arbitrary 2-6 character
windows of a body (not aligned to words). Latency is reported per class in the JSON.

Prints the table and a PASS/FAIL line per target, writes bench/results/search.json, exit
status 1 when a target is missed. The load average is recorded at each phase (this 2-core VM
may be shared). "tantivy indexing" is judged on analysis + engine (documents in, index out);
the engine alone is printed beside it.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, bench/ comes first on sys.path and bench/http.py would shadow the standard
# library's `http` package (imported by werkzeug). Replace it with the repository root.
if sys.path and Path(sys.path[0] or ".").resolve() == ROOT / "bench":
    del sys.path[0]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import cProfile  # noqa: E402
import gc  # noqa: E402
import importlib.util  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import pstats  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import secrets  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import UTC, date, datetime, timedelta  # noqa: E402
from typing import Any  # noqa: E402

from bench.common import pct as percentile  # noqa: E402
from bench.common import temp_database  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "search.json"
PASSWORD = "Bench-Search-2026!"
ENGINE_LIMIT = 200
BACKENDS = ("tantivy", "postgres", "whoosh")
#: The searcher's unit (make_corpus key): its clerk is the normal user of the API lines.
READER_UNIT = "office"
TARGETS = {
    "tantivy_index_docs_s": 1500,
    "tantivy_engine_p95_ms": 5.0,
    "tantivy_api_p95_ms": 50.0,
    "postgres_api_p95_ms": 150.0,
    "whoosh_p95_ms": 150.0,
}
HAN = re.compile(r"[\u4e00-\u9fff]")
HAN_RUN = re.compile(r"[\u4e00-\u9fff]{2,}")


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def code_versions() -> dict[str, str]:
    """Short hashes of the search code measured (the engines change while the work goes on)."""
    import hashlib

    files = [*sorted((ROOT / "office" / "search").rglob("*.py")), ROOT / "documents" / "search.py"]
    return {str(f.relative_to(ROOT)): hashlib.sha256(f.read_bytes()).hexdigest()[:12] for f in files}


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


# ---------------------------------------------------------------- the corpus


def _make_corpus_module() -> Any:
    """scripts/make_corpus.py, for its units, places and per-subject sentences."""
    spec = importlib.util.spec_from_file_location("bench_make_corpus", ROOT / "scripts" / "make_corpus.py")
    if spec is None or spec.loader is None:
        raise RuntimeError("scripts/make_corpus.py not found")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


#: doc type -> (weight, label, direction, how the opening ends, closing line)
TYPES: dict[str, tuple[float, str, str, str, str]] = {
    "notice": (30, "通知", "down", "现就有关事项通知如下：", "特此通知。"),
    "report": (12, "报告", "up", "现将有关情况报告如下：", "特此报告。"),
    "request": (9, "请示", "up", "现将有关事项请示如下：", "妥否，请批示。"),
    "letter": (12, "函", "parallel", "现就有关事项函告如下：", "特此函告，请予支持为盼。"),
    "reply": (7, "批复", "down", "经研究，现批复如下：", "此复。"),
    "circular": (6, "通报", "down", "现将有关情况通报如下：", "特此通报。"),
    "opinion": (6, "意见", "down", "现提出如下意见：", "各地各部门要结合实际认真贯彻落实。"),
    "minutes": (6, "纪要", "down", "现将会议议定事项纪要如下：", "以上事项，请各有关单位抓好落实。"),
    "decision": (3, "决定", "down", "经研究，决定如下：", "特此决定。"),
    "announcement": (2, "公告", "down", "现将有关事项公告如下：", "特此公告。"),
    "public_notice": (2, "通告", "down", "现将有关事项通告如下：", "特此通告。"),
    "communique": (1, "公报", "down", "现将主要情况公报如下：", "本公报部分数据为初步统计数。"),
    "order": (1, "命令（令）", "down", "现予公布，自公布之日起施行。", "特此命令。"),
    "resolution": (1, "决议", "down", "会议决议如下：", "会议要求各地各部门认真贯彻执行。"),
    "motion": (1, "议案", "up", "现提请审议。", "请审议。"),
}
SECTION_HEADS = [
    "总体要求", "主要任务", "工作进展", "存在问题", "下一步工作安排", "保障措施", "工作目标", "重点工作",
    "职责分工", "进度安排", "有关要求", "基本情况",
]  # fmt: skip
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余于杜叶程魏苏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"  # noqa: E501
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬鹏辉晨宇航浩然欣怡梓涵子轩俊峰建国志强海燕春梅德胜振华晓东文博雅婷思远嘉伦立新永红庆丰"  # noqa: E501
PLACE = "青松柏桃李杏梅兰竹菊丰泰安宁和平兴隆富源福寿长乐永清金石玉泉龙凤鹤云霞川溪塘坝湾岭岗坪坳沟峪田园新华红星光明胜利团结跃进东西南北中上下前后"  # noqa: E501
FIRMS = [
    "科技有限公司",
    "建设工程有限公司",
    "农业专业合作社",
    "物流有限公司",
    "食品有限公司",
    "环保科技股份有限公司",
    "建材有限公司",
    "劳务派遣有限公司",
    "医药连锁有限公司",
    "文化旅游开发有限公司",
]
PROJECTS = [
    "路改造工程",
    "片区城市更新项目",
    "污水处理厂提标改造工程",
    "标准厂房建设项目",
    "高标准农田建设项目",
    "老旧小区改造项目",
    "智慧社区试点项目",
    "防洪堤加固工程",
    "中小学校舍维修项目",
    "冷链物流中心项目",
    "乡村振兴示范带项目",
    "数据中心机房项目",
]
ISSUES = [
    "拖欠农民工工资",
    "消防通道堵塞",
    "未按规定办理环评手续",
    "超范围经营",
    "安全生产主体责任落实不到位",
    "台账资料不完整",
    "违规占用耕地",
    "食品进货查验记录缺失",
    "项目进度滞后",
    "资金拨付不及时",
]
RARE_TEMPLATES = [
    "{town}{village}{project}已完成投资{n}万元，由{firm}承建，项目负责人{person}。",
    "经核查，{firm}在{village}存在{issue}问题，已责令限期整改，由{person}同志跟踪督办。",
    "{county}{town}{village}被确定为{year}年度{name}示范点，{person}同志作为联络员。",
    "请{person}同志（联系电话：0571-8{n4}）负责{project2}的协调推进工作。",
    "{village}党支部书记{person}反映，{project2}涉及群众切身利益，建议加快推进。",
    "{firm}申报的{project2}经专家评审，综合得分{n2}分，列入{year}年度重点项目库。",
    "对{village}{issue}问题，{county}已约谈{firm}主要负责人，并对{person}给予通报批评。",
    "会议听取了{person}关于{project2}前期工作情况的汇报，同意按程序报批。",
]  # fmt: skip


def han_count(text: str) -> int:
    return len(HAN.findall(text))


@dataclass
class Doc:
    """One generated document, as its ``documents`` row will hold it."""

    id: int
    doc_type: str
    direction: str
    title: str
    issuer: str  # make_corpus unit key
    recipients: list[str]
    cc: list[str]
    written: date
    doc_code: str
    year: int
    serial: int
    lines: list[str]
    secret: bool = False

    @property
    def doc_number(self) -> str:
        return f"{self.doc_code}〔{self.year}〕{self.serial}号"


@dataclass
class Corpus:
    docs: list[Doc]
    units: dict[str, tuple[str, str]]  # key -> (name, short)
    rare_words: list[str]
    seconds: float
    chars: list[int] = field(default_factory=list)


class Generator:
    """Deterministic 公文 from make_corpus's building blocks plus a long tail of names."""

    def __init__(self, seed: int) -> None:
        self.mc = _make_corpus_module()
        self.rng = random.Random(seed)
        rng = self.rng
        self.units = {k: (u.name, u.short) for k, u in self.mc.UNITS.items()}
        self.unit_keys = sorted(self.units)
        self.subjects = [s for s in self.mc.SUBJECTS if s.get("tasks") and s.get("facts")]
        order = list(range(len(self.subjects)))
        rng.shuffle(order)
        #: Subjects and issuers: Zipf-like weights (a few subjects are most of the archive).
        self.subject_w = [0.0] * len(self.subjects)
        for rank, i in enumerate(order, 1):
            self.subject_w[i] = 1 / rank**0.8
        issuers = list(self.unit_keys)
        rng.shuffle(issuers)
        self.issuer_w = {k: 1 / rank**0.7 for rank, k in enumerate(issuers, 1)}
        self.issuer_w[READER_UNIT] = max(self.issuer_w.values()) * 0.6
        self.counters: Counter[tuple[str, int]] = Counter()
        self.persons = self._names(
            14000, lambda r: r.choice(SURNAMES) + "".join(r.sample(GIVEN, r.randint(1, 2)))
        )
        self.villages = self._names(
            10000, lambda r: "".join(r.sample(PLACE, 2)) + r.choice(["村", "村", "社区", "组", "街"])
        )
        self.firms = self._names(8000, lambda r: "".join(r.sample(PLACE + GIVEN, 2)) + r.choice(FIRMS))
        self.projects = self._names(8000, lambda r: "".join(r.sample(PLACE, 2)) + r.choice(PROJECTS))
        self.pools = {
            "person": self.persons,
            "village": self.villages,
            "firm": self.firms,
            "project": self.projects,
        }
        self.rare_cum = {kind: self._zipf_cum(len(pool)) for kind, pool in self.pools.items()}
        self.type_keys = list(TYPES)
        self.type_w = [TYPES[t][0] for t in self.type_keys]

    def _names(self, n: int, make: Callable[[random.Random], str]) -> list[str]:
        out: dict[str, None] = {}
        while len(out) < n:
            out[make(self.rng)] = None
        return list(out)

    @staticmethod
    def _zipf_cum(n: int, s: float = 1.05) -> list[float]:
        acc, cum = 0.0, []
        for rank in range(1, n + 1):
            acc += 1 / rank**s
            cum.append(acc)
        return cum

    def _rare(self, kind: str, rng: random.Random) -> str:
        pool = self.pools[kind]
        cum = self.rare_cum[kind]
        return pool[min(self._bisect(cum, rng.random() * cum[-1]), len(pool) - 1)]

    @staticmethod
    def _bisect(cum: list[float], x: float) -> int:
        lo, hi = 0, len(cum)
        while lo < hi:
            mid = (lo + hi) // 2
            if cum[mid] < x:
                lo = mid + 1
            else:
                hi = mid
        return lo

    # ------------------------------------------------------------ slots

    def _ctx(self, issuer: str, subj: dict, written: date, rng: random.Random) -> dict[str, Any]:
        mc = self.mc
        u = mc.UNITS[issuer]
        counties = sorted(mc.COUNTIES)
        county = u.area if u.area in mc.COUNTIES else rng.choice(counties)
        city, towns = mc.COUNTIES[county]
        year = written.year
        level = getattr(u, "level", "province")
        return {
            "region": {"province": "全省", "city": "全市"}.get(level, "全县"),
            "area": u.area or "示例省",
            "lower": getattr(u, "lower_text", "") or "各市、县（区）人民政府",
            "gov": {"province": "省政府", "city": "市政府"}.get(level, "县政府"),
            "self": u.short,
            "name": subj["name"],
            "year": year,
            "prev": year - 1,
            "next": year + 1,
            "y2": year + 2,
            "county": county,
            "town": rng.choice(towns),
            "city": city,
            "month": written.month,
            "q": max(1, (written.month - 1) // 3),
            **{k: rng.choice(v) for k, v in mc.POOLS.items()},
        }

    _SLOT = re.compile(r"\{(\w+)(?::([^}]*))?\}")

    def fill(self, text: str, ctx: dict[str, Any], rng: random.Random, written: date) -> str:
        def one(m: re.Match) -> str:
            name, arg = m.group(1), m.group(2)
            if name == "n" and arg:
                a, b = (int(x) for x in arg.split("-"))
                return str(rng.randint(a, b))
            if name == "f" and arg:
                lo, hi = re.fullmatch(r"(-?[\d.]+)-(-?[\d.]+)", arg).groups()
                return f"{rng.uniform(float(lo), float(hi)):.1f}"
            if name == "date":
                d = written + timedelta(days=rng.randint(15, 50))
                return f"{d.month}月{d.day}日"
            return str(ctx.get(name, ""))

        return self._SLOT.sub(one, text)

    def _rare_sentence(self, ctx: dict[str, Any], rng: random.Random) -> str:
        t = rng.choice(RARE_TEMPLATES)
        project = self._rare("project", rng)
        values = {
            **ctx,
            "person": self._rare("person", rng),
            "village": self._rare("village", rng),
            "firm": self._rare("firm", rng),
            "project": project,
            "project2": project,
            "issue": rng.choice(ISSUES),
            "n": rng.randint(80, 9800),
            "n2": rng.randint(71, 96),
            "n4": rng.randint(1000000, 9999999),
        }
        return t.format(**values)

    # ------------------------------------------------------------ documents

    def _pool(self, subj: dict, key: str) -> list[str]:
        return [s for s in subj.get(key) or [] if isinstance(s, str)]

    def document(self, doc_id: int) -> Doc:
        rng = random.Random(f"{self.rng.random()}")
        mc = self.mc
        subj = rng.choices(self.subjects, self.subject_w)[0]
        dtype = rng.choices(self.type_keys, self.type_w)[0]
        _, label, direction, opening, closing = TYPES[dtype]
        owners = [k for k in subj.get("owners", []) if k in self.units]
        if owners and rng.random() < 0.7:
            issuer = rng.choice(owners)
        else:
            issuer = rng.choices(list(self.issuer_w), list(self.issuer_w.values()))[0]
        written = date(2023, 1, 3) + timedelta(days=rng.randint(0, 1418))
        ctx = self._ctx(issuer, subj, written, rng)

        def fill(s: str) -> str:
            return self.fill(s, ctx, rng, written)

        titles = subj.get("titles", {}).get(dtype) or []
        if titles and rng.random() < 0.6:
            title = fill(rng.choice(titles).split("|")[0])
        elif rng.random() < 0.25:
            title = f"关于{self._rare('village', rng)}{self._rare('project', rng)}有关问题的{label}"
        else:
            head = rng.choice([h for h, _ in subj["tasks"]])
            title = rng.choice(
                [
                    f"关于{head}的{label}",
                    f"关于{ctx['area']}{written.year}年{subj['name']}工作的{label}",
                    f"关于进一步做好{subj['name']}工作的{label}",
                ]
            )
        title = title[:190]
        self.counters[(issuer, written.year)] += 1
        target = max(1150, min(1900, int(rng.gauss(1500, 160))))

        aims = self._pool(subj, "aims") or [f"为做好{subj['name']}工作"]
        lines = [fill(rng.choice(aims)) + "，" + opening]
        heads = [h for h, _ in subj["tasks"]] + SECTION_HEADS
        rng.shuffle(heads)
        facts = self._pool(subj, "facts")
        sources = [facts, *(self._pool(subj, k) for k in ("problems", "plans", "goals", "rules", "instr"))]
        tasks = {h: ss for h, ss in subj["tasks"]}
        others = self.subjects
        section = 0
        han = han_count(lines[0])
        while han < target - 80 and section < 10:
            head = heads[section % len(heads)]
            out = [f"{mc.CN[section] if hasattr(mc, 'CN') else '一二三四五六七八九十'[section]}、{head}"]
            sentences: list[str] = list(tasks.get(head, []))
            for _ in range(rng.randint(2, 4)):
                pool = rng.choice([p for p in sources if p] or [facts])
                sentences.append(rng.choice(pool))
            if rng.random() < 0.15:  # a word on a neighbouring subject
                other = rng.choice(others)
                sentences.append(rng.choice(self._pool(other, "facts") or facts))
            para: list[str] = []
            for s in sentences:
                para.append(fill(s))
                if rng.random() < 0.35:
                    para.append(self._rare_sentence(ctx, rng))
            if rng.random() < 0.5 and len(para) > 2:
                out.append("（一）" + head + "。" + "".join(para[: len(para) // 2]))
                out.append("（二）" + "".join(para[len(para) // 2 :]))
            else:
                out.append("".join(para))
            if section == 1 and rng.random() < 0.1 and subj.get("table"):
                spec_head, cells = subj["table"]
                out.append("| " + " | ".join(fill(h) for h in spec_head) + " |")
                for county in sorted(mc.COUNTIES)[: rng.randint(2, 4)]:
                    out.append("| " + " | ".join([county, *(fill("{" + c + "}") for c in cells)]) + " |")
            lines.extend(out)
            han += sum(han_count(x) for x in out)
            section += 1
        reqs = getattr(mc, "REQUIREMENTS", [])
        if reqs and han < target:
            h, s = rng.choice(reqs)
            lines.append(f"{h}。" + fill(s))
        lines.append(closing)
        lines.append(
            f"联系人：{self._rare('person', rng)}，联系电话：0571-8{rng.randint(1000000, 9999999)}。"
        )

        if direction == "up":
            recipients = [k for k in ("gov", READER_UNIT) if k != issuer][:1]
        else:
            recipients = rng.sample([k for k in self.unit_keys if k != issuer], rng.randint(1, 3))
        cc = rng.sample([k for k in self.unit_keys if k != issuer and k not in recipients], rng.randint(0, 2))
        u = mc.UNITS[issuer]
        return Doc(
            id=doc_id,
            doc_type=dtype,
            direction=direction,
            title=title,
            issuer=issuer,
            recipients=recipients,
            cc=cc,
            written=written,
            doc_code=u.code,
            year=written.year,
            serial=self.counters[(issuer, written.year)],
            lines=lines,
            secret=rng.random() < 0.03,
        )


def generate(n: int, seed: int) -> Corpus:
    started = time.perf_counter()
    g = Generator(seed)
    docs = [g.document(i) for i in range(1, n + 1)]
    # serials per (issuer code, year) must be unique: codes are shared by no two units here
    seen: set[str] = set()
    for d in docs:
        assert d.doc_number not in seen, d.doc_number
        seen.add(d.doc_number)
    rare = g.persons[:3000] + g.villages[:3000] + [f[:6] for f in g.firms[:2000]] + g.projects[:2000]
    corpus = Corpus(docs=docs, units=g.units, rare_words=rare, seconds=time.perf_counter() - started)
    return corpus


# ---------------------------------------------------------------- what the index sees


def body_blocks(doc: Doc) -> list[dict]:
    from documents.content import parse_body

    return [b.to_json() for b in parse_body("\n".join(doc.lines))]


def indexed_text(doc: Doc, body: str, names: dict[str, str]) -> tuple[str, str]:
    """(title, text) exactly as documents/search.py ``load`` composes them for this row."""
    from documents.models import DOC_TYPE_LABELS, DocType

    title = f"{doc.title} {doc.doc_number}"
    main_text = "、".join(names[k] for k in doc.recipients)
    cc_text = "、".join(names[k] for k in doc.cc)
    units = [names[doc.issuer]]
    recipients = [main_text, cc_text, *(names[k] for k in [*doc.recipients, *doc.cc])]
    text = "\n".join(
        [
            body,
            " ".join(units),
            " ".join(r for r in recipients if r),
            DOC_TYPE_LABELS[DocType(doc.doc_type)],
            f"{names[doc.issuer]}文件",
            names[doc.issuer],
            "",
        ]
    )
    return title, text


# ---------------------------------------------------------------- queries


@dataclass
class Q:
    text: str
    kind: str  # common | mid | rare | window


def make_queries(corpus: Corpus, n: int, seed: int) -> list[Q]:
    import rjieba

    rng = random.Random(seed * 7919 + 1)
    sample = rng.sample(corpus.docs, min(len(corpus.docs), 3000))
    df: Counter[str] = Counter()
    for d in sample:
        words = set()
        for run in HAN_RUN.findall(d.title + "\n" + "\n".join(d.lines)):
            words.update(w for w in rjieba.cut(run) if 2 <= len(w) <= 6 and HAN.fullmatch(w[0]))
        df.update(words)
    size = len(sample)
    common = sorted(w for w, c in df.items() if c >= 0.05 * size and HAN_RUN.fullmatch(w))
    mid = sorted(w for w, c in df.items() if 0.002 * size <= c < 0.05 * size and HAN_RUN.fullmatch(w))
    in_corpus = set(df)
    rare = sorted(
        {w[:6] for w in corpus.rare_words if len(w[:6]) >= 2 and HAN_RUN.fullmatch(w[:6])}
        - {w for w, c in df.items() if c >= 0.002 * size}
    )
    rare = [w for w in rare if w in in_corpus or rng.random() < 0.3]  # mostly names that do occur
    quarter = max(1, n // 4)
    out = [Q(w, "common") for w in rng.sample(common, min(quarter, len(common)))]
    out += [Q(w, "mid") for w in rng.sample(mid, min(quarter, len(mid)))]
    out += [Q(w, "rare") for w in rng.sample(rare, min(quarter, len(rare)))]
    while len(out) < n:
        d = rng.choice(corpus.docs)
        runs = [r for r in HAN_RUN.findall("".join(d.lines)) if len(r) >= 2]
        run = rng.choice(runs)
        k = rng.randint(2, min(6, len(run)))
        i = rng.randint(0, len(run) - k)
        out.append(Q(run[i : i + k], "window"))
    rng.shuffle(out)
    return out


# ---------------------------------------------------------------- timing


def pct(values: list[float], p: float) -> float:
    """``bench.common.pct``, NaN when empty (the summaries round it)."""
    v = percentile(values, p)
    return float("nan") if v is None else v


def summary(ms: list[float]) -> dict[str, float]:
    return {
        "n": len(ms),
        "p50_ms": round(pct(ms, 50), 3),
        "p95_ms": round(pct(ms, 95), 3),
        "p99_ms": round(pct(ms, 99), 3),
        "mean_ms": round(statistics.fmean(ms), 3) if ms else float("nan"),
        "max_ms": round(max(ms), 3) if ms else float("nan"),
    }


def timed_passes(
    items: list[Any],
    call: Callable[[Any], Any],
    repeat: int,
    seed: int,
    profile: cProfile.Profile | None = None,
) -> tuple[list[float], dict[int, list[float]], list[Any]]:
    """One warm-up pass, then ``repeat`` shuffled timed passes: (all ms, ms per item index,
    the first timed result of each item)."""
    results: list[Any] = [None] * len(items)
    for it in items:
        call(it)
    per: dict[int, list[float]] = {i: [] for i in range(len(items))}
    order = list(range(len(items)))
    rng = random.Random(seed)
    gc.collect()
    gc.disable()
    try:
        for r in range(repeat):
            rng.shuffle(order)
            for i in order:
                if profile is not None:
                    profile.enable()
                t0 = time.perf_counter()
                res = call(items[i])
                dt = (time.perf_counter() - t0) * 1000
                if profile is not None:
                    profile.disable()
                per[i].append(dt)
                if r == 0:
                    results[i] = res
            gc.collect()
    finally:
        gc.enable()
    return [x for v in per.values() for x in v], per, results


def by_kind(queries: list[Q], per: dict[int, list[float]]) -> dict[str, dict[str, float]]:
    kinds: dict[str, list[float]] = {}
    for i, q in enumerate(queries):
        kinds.setdefault(q.kind, []).extend(per[i])
    return {k: summary(v) for k, v in sorted(kinds.items())}


def top_profile(profile: cProfile.Profile, n: int = 25) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("cumulative").print_stats(n)
    stats.sort_stats("tottime").print_stats(n)
    return out.getvalue()


# ---------------------------------------------------------------- the database and the app


def make_app(database_url: str, instance: Path):
    for name in ("DATABASE_URL", "REDIS_URL", "SEARCH_BACKEND", "SEARCH_INDEX_DIR", "SEARCH_ANALYSIS"):
        os.environ.pop(name, None)
    os.environ["OFFICE_INSTANCE"] = str(instance)
    os.environ["OFFICE_SCHEDULER"] = "0"
    from office import create_app
    from office.cli import upgrade_db

    app = create_app(
        {
            "OFFICE_INSTANCE": str(instance),
            "SQLALCHEMY_DATABASE_URI": database_url.replace("postgresql://", "postgresql+psycopg://", 1),
            "SECRET_KEY": secrets.token_urlsafe(32),
            "OFFICE_SCHEDULER": False,
            "PASSWORD_HASH_FAST": True,
            "REDIS_URL": None,
            "RATELIMIT_STORAGE_URI": "memory://",
            "RATELIMIT_ENABLED": False,
            "LOGIN_RATE_LIMIT": "100000 per minute",
            "REQUIRE_ADMIN_2FA": False,
            "SEARCH_BACKEND": "tantivy",
            "SEARCH_DRAIN": "worker",  # nothing is drained behind the benchmark's back
            "SEARCH_INDEX_DIR": str(instance / "search"),
        }
    )
    import logging

    logging.getLogger().setLevel(logging.WARNING)
    with app.app_context():
        upgrade_db()
    return app


@dataclass
class Org:
    unit_ids: dict[str, int]  # make_corpus key -> units.id
    names: dict[str, str]
    drafters: dict[str, int]  # unit key -> users.id
    reader: str
    admin: str


def make_org(app, corpus: Corpus) -> Org:
    from office.context import SYSTEM
    from office.extensions import db
    from office.identity import services as identity

    with app.app_context():
        root = identity.create_unit(SYSTEM, name="压测根机构", kind="province")
        db.session.flush()
        unit_ids: dict[str, int] = {}
        drafters: dict[str, int] = {}
        for i, (key, (name, _short)) in enumerate(sorted(corpus.units.items())):
            u = identity.create_unit(SYSTEM, name=name, kind="department", parent_id=root.id, sort_order=i)
            db.session.flush()
            unit_ids[key] = u.id
            user = identity.create_user(
                SYSTEM,
                username=f"drafter{i:02d}",
                name=f"拟稿人{i}",
                password=PASSWORD,
                audit=False,
                posts=[{"unit_id": u.id, "title": "科员", "roles": ["staff"]}],
            )
            db.session.flush()
            drafters[key] = user.id
        identity.create_user(
            SYSTEM,
            username="reader",
            name="收发员甲",
            password=PASSWORD,
            audit=False,
            posts=[{"unit_id": unit_ids[READER_UNIT], "title": "收发员", "roles": ["clerk"]}],
        )
        identity.create_user(
            SYSTEM,
            username="benchadmin",
            name="管理员",
            password=PASSWORD,
            audit=False,
            posts=[{"unit_id": root.id, "title": "管理员", "roles": ["admin"]}],
        )
        db.session.commit()
    names = {k: corpus.units[k][0] for k in unit_ids}
    return Org(unit_ids, names, drafters, "reader", "benchadmin")


def insert_documents(app, corpus: Corpus, org: Org, bodies: list[list[dict]]) -> dict[str, Any]:
    """The documents as distributed 发文 rows with their 收文 records (Core executemany)."""
    from sqlalchemy import insert, text

    from documents.models import (
        Direction,
        DocStatus,
        DocType,
        Document,
        IncomingDocument,
        IncomingStatus,
        SecretLevel,
    )
    from office.extensions import db

    started = time.perf_counter()
    with app.app_context():
        batch: list[dict] = []
        incoming: list[dict] = []

        def flush() -> None:
            if batch:
                db.session.execute(insert(Document.__table__), batch)
                batch.clear()
            if incoming:
                db.session.execute(insert(IncomingDocument.__table__), incoming)
                incoming.clear()
            db.session.commit()

        for d, body in zip(corpus.docs, bodies, strict=True):
            name = org.names[d.issuer]
            created = datetime(d.written.year, d.written.month, d.written.day, 2, tzinfo=UTC)
            batch.append({
                "id": d.id,
                "doc_type": DocType(d.doc_type),
                "direction": Direction(d.direction),
                "title": d.title,
                "status": DocStatus.DISTRIBUTED,
                "issuer_unit_id": org.unit_ids[d.issuer],
                "joint_unit_ids": [],
                "drafter_id": org.drafters[d.issuer],
                "drafter_unit_id": org.unit_ids[d.issuer],
                "issuer_mark": f"{name}文件",
                "doc_code": d.doc_code,
                "year": d.year,
                "serial": d.serial,
                "doc_number": d.doc_number,
                "copy_no": None,
                "secret_level": SecretLevel.INTERNAL if d.secret else SecretLevel.NONE,
                "secret_period": "",
                "urgency": 0,
                "signer_ids": [],
                "main_unit_ids": [org.unit_ids[k] for k in d.recipients],
                "cc_unit_ids": [org.unit_ids[k] for k in d.cc],
                "main_text": "、".join(org.names[k] for k in d.recipients),
                "cc_text": "、".join(org.names[k] for k in d.cc),
                "body": body,
                "signature": name,
                "written_date": d.written,
                "note": "",
                "printer": "",
                "print_date": d.written,
                "version": 1,
                "frozen": True,
                "final_file_id": None,
                "archive_file_id": None,
                "created_at": created,
                "updated_at": created,
                "archived_at": None,
            })  # fmt: skip
            for role, keys in (("main", d.recipients), ("cc", d.cc)):
                for k in keys:
                    incoming.append({
                        "document_id": d.id, "unit_id": org.unit_ids[k], "role": role,
                        "status": IncomingStatus.PENDING, "instruction": "", "co_handler_ids": [],
                        "refused_reason": "", "created_at": created,
                    })  # fmt: skip
            if len(batch) >= 2000:
                flush()
        flush()
        db.session.execute(
            text("SELECT setval(pg_get_serial_sequence('documents', 'id'), max(id)) FROM documents")
        )
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE documents"))
            conn.execute(text("VACUUM ANALYZE incoming_documents"))
    return {"seconds": round(time.perf_counter() - started, 1)}


def readable_share(app, username: str) -> int:
    from sqlalchemy import func, select

    from documents.access import readable_documents_clause
    from documents.models import Document
    from office.extensions import db
    from office.identity.models import User

    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        n = db.session.scalar(
            select(func.count()).select_from(Document).where(readable_documents_clause(user))
        )
        db.session.remove()
        return int(n or 0)


def vacuum(app, table: str) -> float:
    from sqlalchemy import text

    from office.extensions import db

    t0 = time.perf_counter()
    with app.app_context(), db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"VACUUM ANALYZE {table}"))
    return time.perf_counter() - t0


# ---------------------------------------------------------------- the phases


def analyse(corpus: Corpus, org: Org, mode: str) -> tuple[list, list[list[dict]], dict[str, Any]]:
    """(IndexDocs, body blocks, figures): analysis timed on its own."""
    from documents.content import Block, body_text
    from office.search import analysis
    from office.search import services as search
    from office.search.backend import IndexDoc

    bodies = [body_blocks(d) for d in corpus.docs]
    texts = []
    for d, blocks in zip(corpus.docs, bodies, strict=True):
        body = body_text([Block.from_json(b) for b in blocks])
        texts.append(indexed_text(d, body, org.names))
    chars = [han_count(t[0]) + han_count(t[1]) for t in texts]
    body_chars = [han_count("\n".join(d.lines)) for d in corpus.docs]
    analysis._cut.cache_clear()
    t0 = time.perf_counter()
    analysed = [(analysis.index_text(title, mode), analysis.index_text(text, mode)) for title, text in texts]
    seconds = time.perf_counter() - t0
    docs = []
    for d, (title, text), (a_title, a_text) in zip(corpus.docs, texts, analysed, strict=True):
        docs.append(
            IndexDoc(
                id=d.id,
                title=a_title,
                text=a_text,
                doc_type=d.doc_type,
                unit_id=org.unit_ids[d.issuer],
                date=d.written,
                fingerprint=search.fingerprint(
                    mode, title, text, d.doc_type, org.unit_ids[d.issuer], d.written
                ),
            )
        )
    terms = [len(x.title.split(" ")) + len(x.text.split(" ")) for x in docs]
    figures = {
        "seconds": round(seconds, 2),
        "docs_per_s": round(len(docs) / seconds, 1),
        "han_chars_body_mean": round(statistics.fmean(body_chars)),
        "han_chars_body_p5_p95": [round(pct(body_chars, 5)), round(pct(body_chars, 95))],
        "han_chars_indexed_mean": round(statistics.fmean(chars)),
        "terms_per_doc_mean": round(statistics.fmean(terms)),
    }
    return docs, bodies, figures


def engine_index(eng, docs: list, batch: int, label: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    for i in range(0, len(docs), batch):
        eng.index(docs[i : i + batch])
        if (i // batch) % 20 == 19:
            done = i + batch
            log(f"{label}: {done:,} indexed, {done / (time.perf_counter() - t0):.0f} docs/s")
    seconds = time.perf_counter() - t0
    return {"docs": len(docs), "seconds": round(seconds, 2), "docs_per_s": round(len(docs) / seconds, 1)}


def engine_queries(eng, parsed: list, queries: list[Q], repeat: int, seed: int) -> dict[str, Any]:
    ms, per, results = timed_passes(parsed, lambda q: eng.search(q, limit=ENGINE_LIMIT), repeat, seed)
    totals = [r.total for r in results]
    return {
        **summary(ms),
        "by_kind": by_kind(queries, per),
        "hits_median": statistics.median(totals) if totals else 0,
        "zero_hit_queries": sum(1 for t in totals if t == 0),
        "totals": totals,
        "exact": sum(1 for r in results if r.exact),
    }


def api_queries(
    app, username: str, queries: list[Q], repeat: int, seed: int, profile: bool
) -> dict[str, Any]:
    client = app.test_client()
    resp = client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    if resp.status_code != 201:
        raise RuntimeError(f"token for {username}: {resp.status_code} {resp.get_data(as_text=True)[:300]}")
    headers = {"Authorization": f"Bearer {resp.get_json()['token']}"}
    statuses: Counter[int] = Counter()

    def call(q: Q) -> tuple[int, int]:
        r = client.get("/api/v1/search", query_string={"q": q.text}, headers=headers)
        statuses[r.status_code] += 1
        if r.status_code != 200:
            raise RuntimeError(
                f"GET /api/v1/search?q={q.text}: {r.status_code} {r.get_data(as_text=True)[:300]}"
            )
        body = r.get_json()
        return body["total"], len(body["items"])

    prof = cProfile.Profile() if profile else None
    ms, per, results = timed_passes(queries, call, repeat, seed, prof)
    out = {
        **summary(ms),
        "by_kind": by_kind(queries, per),
        "readable_hits_median": statistics.median(r[0] for r in results),
        "empty_pages": sum(1 for r in results if r[1] == 0),
        "statuses": dict(statuses),
    }
    if prof is not None:
        text = top_profile(prof, 30)
        log(f"profile of the API pass ({username}):\n{text}")
        out["profile_top"] = text
    return out


# ---------------------------------------------------------------- the phases


@dataclass
class Bench:
    """What every phase shares: the queries (as typed and parsed) and the timing settings."""

    queries: list[Q]
    parsed: list
    repeat: int
    seed: int
    batch: int


def engine_phase(
    app, name: str, docs: list, an: dict[str, Any], bench: Bench, location=None
) -> dict[str, Any]:
    """Index ``docs`` with one engine (the service's generation 1, or a throw-away ``location``),
    then time the queries against it."""
    from office.search import services as search

    with app.app_context():
        if location is None:
            eng = search.engine(name, 1)
        else:
            module, cls = search.BACKENDS[name].split(":")
            eng = getattr(importlib.import_module(module), cls)(location)
        eng.clear()
        label = f"{name}@{len(docs):,}"
        log(f"{label}: indexing")
        res = engine_index(eng, docs, bench.batch, label)
        if hasattr(eng, "close"):
            t0 = time.perf_counter()
            eng.close()  # tantivy: wait for the background merges, release the writer
            res["merge_wait_s"] = round(time.perf_counter() - t0, 2)
        if name == "postgres":
            res["vacuum_analyze_s"] = round(vacuum(app, "search_entries"), 2)
        res["count"] = eng.count()
        res["size_bytes"] = eng.size_bytes()
        res["combined_docs_s"] = round(1 / (1 / an["docs_per_s"] + 1 / res["docs_per_s"]), 1)
        log(
            f"{label}: {res['docs_per_s']:,.0f} docs/s engine, {res['combined_docs_s']:,.0f} with analysis, "
            f"{res['size_bytes'] / 1e6:,.1f} MB, count {res['count']:,}; querying"
        )
        res["search"] = engine_queries(eng, bench.parsed, bench.queries, bench.repeat, bench.seed)
        res["loadavg"] = loadavg()
        s = res["search"]
        log(
            f"{label}: p50 {s['p50_ms']:.2f} ms, p95 {s['p95_ms']:.2f} ms, "
            f"median hits {s['hits_median']}, load {res['loadavg']}"
        )
        return res


def api_phase(app, name: str, n: int, org: Org, bench: Bench, profile: bool) -> dict[str, Any]:
    """Rebuild the engine's index from the rows through ``services.reindex`` (not whoosh: its
    engine-level index of the first ``n`` documents is the live one), then the queries through
    the API as the clerk and as the admin."""
    from office.extensions import db
    from office.search import services as search

    app.config["SEARCH_BACKEND"] = name
    res: dict[str, Any] = {"docs": n}
    with app.app_context():
        if name != "whoosh":
            log(f"{name}: services.reindex()")
            t0 = time.perf_counter()
            done = search.reindex(name)
            seconds = time.perf_counter() - t0
            rx = res["reindex"] = {
                "docs": done,
                "seconds": round(seconds, 1),
                "docs_per_s": round(done / seconds, 1),
                "workers": app.config["SEARCH_REINDEX_WORKERS"] if done >= search.POOL_MIN_DOCS else 0,
            }
            eng = search.engine(name)
            if hasattr(eng, "close"):
                t0 = time.perf_counter()
                eng.close()
                rx["merge_wait_s"] = round(time.perf_counter() - t0, 2)
            if name == "postgres":
                rx["vacuum_analyze_s"] = round(vacuum(app, "search_entries"), 2)
            rx["count"] = eng.count()
            log(f"{name}: reindex {done:,} docs in {seconds:.1f} s = {done / seconds:,.0f} docs/s")
        db.session.remove()
    for who, username in (("clerk", org.reader), ("admin", org.admin)):
        r = api_queries(app, username, bench.queries, bench.repeat, bench.seed, profile)
        res[who] = r
        log(
            f"{name} API ({who}): p50 {r['p50_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms, "
            f"median readable hits {r['readable_hits_median']}"
        )
    res["loadavg"] = loadavg()
    return res


# ---------------------------------------------------------------- report


def fmt(v: Any, digits: int = 1) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        if v != v:
            return "–"
        return f"{v:,.{digits}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def ratio(a: float | None, b: float | None, digits: int = 2) -> str:
    if not a or not b:
        return "–"
    return f"{a / b:.{digits}f}×"


def table(rows: list[dict[str, Any]]) -> str:
    head = ("| backend | docs | analysis docs/s | engine index docs/s | analysis+index docs/s | index MB "
            "| engine p50 / p95 ms | API p50 / p95 ms (clerk) | API p50 / p95 ms (admin) "
            "| × tantivy: index docs/s | × tantivy: engine p95 | × tantivy: API p95 |")  # fmt: skip
    lines = [head, "|" + "|".join(["---"] + ["--:"] * 11) + "|"]
    for r in rows:
        lines.append(
            "| " + " | ".join([
                r["label"], fmt(r["docs"]), fmt(r.get("analysis_docs_s"), 0), fmt(r.get("engine_docs_s"), 0),
                fmt(r.get("combined_docs_s"), 0), fmt(r.get("size_mb"), 1),
                f"{fmt(r.get('engine_p50'), 2)} / {fmt(r.get('engine_p95'), 2)}",
                f"{fmt(r.get('api_p50'), 1)} / {fmt(r.get('api_p95'), 1)}",
                f"{fmt(r.get('admin_p50'), 1)} / {fmt(r.get('admin_p95'), 1)}",
                r.get("x_index", "–"), r.get("x_p95", "–"), r.get("x_api", "–"),
            ]) + " |"
        )  # fmt: skip
    return "\n".join(lines)


# ---------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=100_000, help="documents (default 100,000)")
    ap.add_argument(
        "--whoosh-docs", type=int, default=20_000, help="documents whoosh indexes (default 20,000)"
    )
    ap.add_argument("--queries", type=int, default=200, help="queries of 2-6 characters (default 200)")
    ap.add_argument("--repeat", type=int, default=1, help="timed passes over the queries (default 1)")
    ap.add_argument("--backends", default="tantivy,postgres,whoosh", help="engines, comma-separated")
    ap.add_argument(
        "--pg-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="server to create the temporary database on",
    )
    ap.add_argument(
        "--batch", type=int, default=1000, help="documents per backend.index() call (default 1,000)"
    )
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--analysis", default=None, help="SEARCH_ANALYSIS mode (default: the app's, 'both')")
    ap.add_argument("--no-api", action="store_true", help="engine level only (no documents rows, no API)")
    ap.add_argument(
        "--profile", action="store_true", help="cProfile the timed API passes (printed, in the JSON)"
    )
    ap.add_argument("--keep", action="store_true", help="keep the temporary database and instance folder")
    ap.add_argument("--quick", action="store_true", help="smoke run: 5,000 documents, whoosh 2,000 (~1 min)")
    ap.add_argument(
        "--out", type=Path, default=RESULTS, help=f"results JSON (default {RESULTS.relative_to(ROOT)})"
    )
    args = ap.parse_args()
    if args.quick:
        args.docs = min(args.docs, 5000)
        args.whoosh_docs = min(args.whoosh_docs, 2000)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    for b in backends:
        if b not in BACKENDS:
            ap.error(f"unknown backend {b!r} (choose from {', '.join(BACKENDS)})")
    whoosh_n = min(args.whoosh_docs, args.docs)
    loads: dict[str, list[float]] = {"start": loadavg()}
    log(
        f"{args.docs:,} documents (whoosh {whoosh_n:,}), {args.queries} queries, backends {backends}, "
        f"load average {loads['start']}"
    )

    corpus = generate(args.docs, args.seed)
    log(f"generated {len(corpus.docs):,} documents in {corpus.seconds:.1f} s")
    queries = make_queries(corpus, args.queries, args.seed)
    log(
        f"{len(queries)} queries: {dict(Counter(q.kind for q in queries))}, e.g. "
        + " ".join(q.text for q in queries[:12])
    )

    instance = Path(tempfile.mkdtemp(prefix="bench_search_"))
    out: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "code": code_versions(),
        "corpus": {
            "docs": len(corpus.docs),
            "generate_s": round(corpus.seconds, 1),
            "types": dict(Counter(d.doc_type for d in corpus.docs).most_common()),
        },
        "queries": [{"q": q.text, "kind": q.kind} for q in queries],
        "engine": {},
        "api": {},
        "loadavg": loads,
    }
    try:
        with temp_database(args.pg_url, "search", args.keep) as url:
            app = make_app(url, instance)
            from office.search import analysis
            from office.search import query as qp
            from office.search import services as search
            from office.search.backend import Location

            mode = args.analysis or app.config.get("SEARCH_ANALYSIS") or analysis.DEFAULT_MODE
            app.config["SEARCH_ANALYSIS"] = mode
            out["analysis_mode"] = mode
            org = make_org(app, corpus)
            docs, bodies, an = analyse(corpus, org, mode)
            out["analysis"] = an
            out["corpus"].update({k: v for k, v in an.items() if k.startswith(("han_", "terms_"))})
            log(
                f"analysis ({mode}): {an['docs_per_s']:,.0f} docs/s; body {an['han_chars_body_mean']} "
                f"Chinese characters on average, {an['terms_per_doc_mean']} terms per document"
            )
            bench = Bench(
                queries, [qp.parse(q.text, mode=mode) for q in queries], args.repeat, args.seed, args.batch
            )
            loads["after_analysis"] = loadavg()

            if "tantivy" in backends:
                out["engine"][f"tantivy@{args.docs}"] = engine_phase(
                    app, "tantivy", docs[: args.docs], an, bench
                )
            if "whoosh" in backends:
                if whoosh_n != args.docs and "tantivy" in backends:
                    loc = Location(path=str(instance / "tantivy-ref"), generation=1)
                    out["engine"][f"tantivy@{whoosh_n}"] = engine_phase(
                        app, "tantivy", docs[:whoosh_n], an, bench, loc
                    )
                    shutil.rmtree(loc.path, ignore_errors=True)
                out["engine"][f"whoosh@{whoosh_n}"] = engine_phase(app, "whoosh", docs[:whoosh_n], an, bench)
            if "postgres" in backends:
                out["engine"][f"postgres@{args.docs}"] = engine_phase(
                    app, "postgres", docs[: args.docs], an, bench
                )
                with app.app_context():
                    from sqlalchemy import text

                    from office.extensions import db

                    db.session.execute(text("TRUNCATE search_entries"))
                    db.session.commit()
                    search._forget("postgres", 1)

            if not args.no_api:
                log("inserting the documents rows")
                ins = insert_documents(app, corpus, org, bodies)
                out["rows"] = {
                    **ins,
                    "readable_by_clerk": readable_share(app, org.reader),
                    "readable_by_admin": readable_share(app, org.admin),
                }
                log(
                    f"rows in {ins['seconds']} s; the clerk reads {out['rows']['readable_by_clerk']:,} of "
                    f"{len(corpus.docs):,}"
                )
                for name in ("whoosh", "tantivy", "postgres"):
                    if name in backends:
                        n = whoosh_n if name == "whoosh" else args.docs
                        out["api"][name] = api_phase(app, name, n, org, bench, args.profile)
    finally:
        if not args.keep:
            shutil.rmtree(instance, ignore_errors=True)
    loads["end"] = loadavg()

    # ------------------------------------------------------------ the table and the verdicts
    an = out["analysis"]
    eng = out["engine"]
    api = out["api"]
    rows = []
    for key, e in eng.items():
        name, n = key.split("@")
        a = api.get(name, {}) if (name != "tantivy" or int(n) == args.docs) else {}
        row = {
            "key": key,
            "label": name
            + (" (ceiling, same size as whoosh)" if name == "tantivy" and int(n) != args.docs else ""),
            "docs": int(n),
            "analysis_docs_s": an["docs_per_s"],
            "engine_docs_s": e["docs_per_s"],
            "combined_docs_s": e["combined_docs_s"],
            "size_mb": e["size_bytes"] / 1e6,
            "engine_p50": e["search"]["p50_ms"],
            "engine_p95": e["search"]["p95_ms"],
            "api_p50": a.get("clerk", {}).get("p50_ms"),
            "api_p95": a.get("clerk", {}).get("p95_ms"),
            "admin_p50": a.get("admin", {}).get("p50_ms"),
            "admin_p95": a.get("admin", {}).get("p95_ms"),
            "reindex_docs_s": a.get("reindex", {}).get("docs_per_s"),
        }
        ref = eng.get(f"tantivy@{n}")
        ref_api = api.get("tantivy", {}) if int(n) == args.docs else {}
        if ref is not None:
            row["x_index"] = ratio(e["combined_docs_s"], ref["combined_docs_s"])
            row["x_p95"] = ratio(e["search"]["p95_ms"], ref["search"]["p95_ms"])
        if ref_api and row["api_p95"]:
            row["x_api"] = ratio(row["api_p95"], ref_api["clerk"]["p95_ms"])
        rows.append(row)
    out["table"] = rows
    md = table(rows)
    print()
    print(
        f"Search benchmark, {args.docs:,} documents (whoosh {whoosh_n:,}), {len(queries)} queries, "
        f"analysis '{out.get('analysis_mode')}' at {an['docs_per_s']:,.0f} docs/s, "
        f"load average {loads['start']} → {loads['end']}"
    )
    print()
    print(md)
    print()
    for name, a in api.items():
        if "reindex" in a:
            r = a["reindex"]
            print(
                f"- {name}: services.reindex() {r['docs']:,} documents in {r['seconds']} s = "
                f"{r['docs_per_s']:,.0f} docs/s (rows loaded, analysed in {r['workers']} worker "
                "processes, indexed)"
            )
    if "rows" in out:
        print(
            f"- the clerk reads {out['rows']['readable_by_clerk']:,} of {len(corpus.docs):,} documents "
            f"({100 * out['rows']['readable_by_clerk'] / len(corpus.docs):.0f} %); the admin all"
        )
    print()

    verdicts: list[tuple[str, bool, str]] = []

    def verdict(target: str, ok: bool, measured: str) -> None:
        verdicts.append((target, ok, measured))

    full = args.docs >= 100_000
    t = eng.get(f"tantivy@{args.docs}")
    if t:
        goal = TARGETS["tantivy_index_docs_s"]
        reindexed = api.get("tantivy", {}).get("reindex")
        if reindexed:
            # The real path: rows read, analysed in the rebuild's worker processes, indexed.
            measured = (
                f"{reindexed['docs_per_s']:,.0f} with {reindexed['workers']} analysis workers "
                f"(engine alone {t['docs_per_s']:,.0f}; analysis then engine in one process "
                f"{t['combined_docs_s']:,.0f})"
            )
            verdict(
                f"tantivy indexing through services.reindex >= {goal:,} docs/s",
                reindexed["docs_per_s"] >= goal,
                measured,
            )
        else:
            measured = f"{t['combined_docs_s']:,.0f} (engine alone {t['docs_per_s']:,.0f})"
            verdict(
                f"tantivy indexing (analysis + engine) >= {goal:,} docs/s",
                t["combined_docs_s"] >= goal,
                measured,
            )
        goal = TARGETS["tantivy_engine_p95_ms"]
        p95 = t["search"]["p95_ms"]
        verdict(f"tantivy engine p95 <= {goal} ms", p95 <= goal, f"{p95:.2f} ms")
    for name in ("tantivy", "postgres"):
        if api.get(name):
            goal = TARGETS[f"{name}_api_p95_ms"]
            p95 = api[name]["clerk"]["p95_ms"]
            measured = f"{p95:.1f} ms (admin {api[name]['admin']['p95_ms']:.1f})"
            verdict(f"search API p95 with {name} <= {goal:.0f} ms", p95 <= goal, measured)
    w = eng.get(f"whoosh@{whoosh_n}")
    if w:
        goal = TARGETS["whoosh_p95_ms"]
        p95 = w["search"]["p95_ms"]
        wa = api.get("whoosh", {}).get("clerk", {}).get("p95_ms")
        measured = f"{p95:.1f} ms" + (f", API {wa:.1f} ms" if wa else "")
        verdict(f"whoosh at {whoosh_n:,} engine p95 <= {goal:.0f} ms", p95 <= goal, measured)
    out["verdicts"] = [{"target": v[0], "pass": v[1], "measured": v[2]} for v in verdicts]
    out["full_scale"] = full
    for target, ok, measured in verdicts:
        print(f"{'PASS' if ok else 'FAIL'}  {target}: {measured}")
    if not full:
        print(f"(targets are set at 100,000 documents; this run has {args.docs:,})")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, ensure_ascii=False, indent=1, default=str))
    log(f"results in {args.out}")
    return 0 if all(ok for _, ok, _ in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
