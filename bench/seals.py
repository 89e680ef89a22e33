"""Electronic seals benchmark: seal-and-sign and verify operations per second, in-process.

    .venv/bin/python bench/seals.py                      # ~40 s
    .venv/bin/python bench/seals.py --seconds 1 --size-kb 100

The issue's measure: seal-and-sign and verify operations per second in-process, single
thread, with the raw `cryptography` ECDSA sign and verify measured in the same run as the
ceiling. Target: **verify at least 500 per second for a 100 KB document**.

What it does (one process, one thread, ~40 s with the defaults):

1. A temporary instance folder with its own SQLite database: `office init` and `office demo`
   through the Flask CLI runner, in-process. The demo makes the platform root CA, three unit
   seals and one sealed 通知 (an approved seal-use request: the final .docx in the file store,
   its detached CMS signature in `seal_requests.signature`).
2. The payload: the demo 通知 rendered with its seal image and its body lengthened with
   generated paragraphs until the .docx is at least --size-kb (default 100 KB). Nothing is
   padded: it is an ordinary GB/T 9704 .docx, just a long one. Every measure below that takes
   "100 KB" uses these exact bytes.
3. The operations, all timed in one run (see OPS): the raw ECDSA P-256 sign and verify with
   SHA-256 over the payload (the ceiling); `seals.cms.sign_detached` / `verify_detached` with
   a key, a root and a CRL of --crl-entries revoked serials made at start with `seals.pki`;
   and the service path in an app context: `seals.services.verify` (the seal looked up by
   certificate serial, the use record by file hash, the current CRL) on the payload and on the
   demo's sealed file, and seal-and-sign as `seals.services._apply` does it (render the final
   .docx with the seal image, decrypt the seal key, sign with the signing time).
4. Timing: a warm-up of each operation, then two alternating halves of --seconds / 2 each
   (every operation in turn, twice), so drift on a noisy machine falls on all of them alike.
   `time.perf_counter` loops; each service call ends with `db.session.remove()`, as a request
   does, so nothing is served from the session's identity map.

Prints the table and the JSON, writes bench/results/seals.json, exit status 1 when the
service verify of the 100 KB document is under 500/s.
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
import dataclasses  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from typing import Any  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "seals.json"
TARGET_VERIFY_PER_S = 500
ADMIN_PASSWORD = "Bench-Admin-2026!"
DEMO_PASSWORD = "Demo@2026office"
WARMUP_S = 0.3
WARMUP_MIN = 3

#: name -> what it is (the table's rows, in order).
OPS = {
    "raw_sign": "cryptography ECDSA P-256 sign, SHA-256 over the payload (ceiling)",
    "raw_verify": "cryptography ECDSA P-256 verify, SHA-256 over the payload (ceiling)",
    "cms_sign": "seals.cms.sign_detached(data, key, cert, [root])",
    "cms_sign_timed": "seals.cms.sign_detached(..., signing_time=now), as the service signs",
    "cms_verify": "seals.cms.verify_detached(data, p7s, root, crl)",
    "service_verify": "seals.services.verify(docx, p7s) on the payload",
    "service_verify_demo": "seals.services.verify(docx, p7s) on the demo's sealed file",
    "render": "render_docx(content_of(doc, seals=[image])) of the demo 通知 (part of seal and sign)",
    "seal_and_sign": "render + decrypt the seal key + sign_detached(signing_time=now), as _apply",
}

PHRASES = [
    "各地各部门要", "按照统一部署", "进一步压实责任", "加强统筹协调", "完善工作机制", "强化督促检查",
    "推进政务服务标准化", "提升行政效能", "深化数据共享", "确保按期完成", "做好风险防范", "加大经费保障",
    "落实专人负责", "每月报送进展", "建立台账管理", "开展专项评估", "推动基层减负", "优化审批流程",
    "健全考核办法", "加强队伍建设", "严格保密管理", "规范公文处理", "推广电子印章", "实现全程网办",
]  # fmt: skip


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- timing


def _run_for(fn: Callable[[], object], seconds: float) -> tuple[int, float]:
    """Call ``fn`` until ``seconds`` have passed; (calls, elapsed)."""
    n = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        fn()
        n += 1
        now = time.perf_counter()
        if now >= deadline:
            return n, now - start


def measure(ops: dict[str, Callable[[], object]], seconds: float) -> dict[str, dict[str, float]]:
    """Warm each operation up, then run them in two alternating halves of ``seconds / 2``."""
    for fn in ops.values():
        n, _ = _run_for(fn, WARMUP_S)
        for _ in range(max(WARMUP_MIN - n, 0)):
            fn()
    totals = {name: [0, 0.0] for name in ops}
    for half in (1, 2):
        for name, fn in ops.items():
            n, elapsed = _run_for(fn, seconds / 2)
            totals[name][0] += n
            totals[name][1] += elapsed
            log(f"half {half}: {name:<20} {n / elapsed:9.1f}/s")
    return {
        name: {
            "ops": n,
            "seconds": round(elapsed, 3),
            "ops_per_s": round(n / elapsed, 1),
            "mean_ms": round(1000 * elapsed / n, 3),
        }
        for name, (n, elapsed) in totals.items()
    }


# ---------------------------------------------------------------- set-up


def make_app(instance: Path):
    """The office app on a fresh instance folder (SQLite there), after `init` and `demo`."""
    for name in ("DATABASE_URL", "REDIS_URL", "OFFICE_MASTER_KEY", "SECRET_KEY"):
        os.environ.pop(name, None)
    os.environ["OFFICE_INSTANCE"] = str(instance)
    os.environ["OFFICE_SCHEDULER"] = "0"
    from office import create_app

    app = create_app(
        {
            "OFFICE_SCHEDULER": False,
            "PASSWORD_HASH_FAST": True,
            "REDIS_URL": None,
            "RATELIMIT_STORAGE_URI": "memory://",
        }
    )
    runner = app.test_cli_runner()
    for args in (["init", "--admin-password", ADMIN_PASSWORD], ["demo", "--password", DEMO_PASSWORD]):
        result = runner.invoke(args=args)
        if result.exit_code != 0 or result.exception is not None:
            raise RuntimeError(f"office {args[0]} failed: {result.output}\n{result.exception!r}")
        log(f"office {args[0]}: {result.output.strip().splitlines()[-1][:160]}")
    return app


def long_docx(content: Any, size_kb: int) -> tuple[bytes, int]:
    """``content`` rendered with generated body paragraphs added until the .docx is at least
    ``size_kb`` KB; (bytes, paragraphs added). Seeded, so every run has the same document."""
    from documents.content import parse_body
    from documents.render import render_docx

    rng = random.Random(2026)
    extra: list[str] = []

    def render(n: int) -> bytes:
        while len(extra) < n:
            k = len(extra) + 1
            sentence = "，".join(rng.choice(PHRASES) for _ in range(rng.randint(6, 14)))
            extra.append(f"{k}. {sentence}，第{k}项工作于{rng.randint(1, 12)}月底前完成。")
        return render_docx(dataclasses.replace(content, body=content.body + parse_body("\n".join(extra[:n]))))

    target = size_kb * 1024
    if len(render(0)) >= target:
        return render(0), 0
    low, high = 0, 64
    while len(render(high)) < target:  # grow, then bisect to the fewest paragraphs that reach it
        low, high = high, high * 2
    while high - low > 1:
        mid = (low + high) // 2
        if len(render(mid)) >= target:
            high = mid
        else:
            low = mid
    return render(high), high


def demo_sealed() -> dict[str, Any]:
    """The demo's sealed document: its request, seals, final file and signature."""
    from sqlalchemy import select

    from documents.models import Document
    from office.extensions import db
    from office.files.models import StoredFile
    from office.files.services import read_bytes
    from seals.models import RequestStatus, SealRequest

    reqs = list(
        db.session.scalars(
            select(SealRequest)
            .where(SealRequest.status == RequestStatus.APPROVED, SealRequest.subject_type == "document")
            .order_by(SealRequest.id)
        )
    )
    if not reqs:
        raise RuntimeError("the demo made no sealed document (no approved seal request): no CJK font?")
    first = reqs[0]
    batch = [r for r in reqs if r.subject_id == first.subject_id and r.file_id == first.file_id]
    return {
        "doc_id": first.subject_id,
        "title": db.session.get(Document, first.subject_id).title,
        "seal_ids": [r.seal_id for r in batch],
        "file": read_bytes(db.session.get(StoredFile, first.file_id)),
        "p7s": bytes(first.signature),
    }


# ---------------------------------------------------------------- the operations


def build_ops(size_kb: int, crl_entries: int) -> tuple[dict[str, Callable[[], object]], dict[str, Any]]:
    """Every operation as a no-argument callable (checked once here), and facts about the data.
    Runs in an app context."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from flask import current_app

    from documents.models import Document
    from documents.render import render_docx
    from documents.services import content_of
    from office.extensions import db
    from seals import cms, pki
    from seals import services as seal_services
    from seals.models import Seal

    demo = demo_sealed()
    master = current_app.config["OFFICE_MASTER_KEY"]
    seals = [db.session.get(Seal, i) for i in demo["seal_ids"]]
    images = [s.image for s in seals]
    seal = seals[0]
    seal_key = pki.decrypt_private_key(seal.key_enc, master)
    seal_cert = pki.load_cert(seal.cert_pem)
    service_root = seal_services.root_cert()

    log(f"rendering a >= {size_kb} KB .docx from the demo 通知 ({demo['title']})")
    content = content_of(db.session.get(Document, demo["doc_id"]), seals=images)
    payload, paragraphs = long_docx(content, size_kb)
    db.session.remove()

    # Raw ceiling: one key, the payload hashed and signed / verified by cryptography alone.
    raw_key = pki.generate_key()
    raw_public = raw_key.public_key()
    ecdsa = ec.ECDSA(hashes.SHA256())
    raw_sig = raw_key.sign(payload, ecdsa)
    raw_public.verify(raw_sig, payload, ecdsa)

    # CMS level: a root, a seal certificate and a CRL made here with seals.pki.
    root_key, root = pki.make_root_ca("基准测试 电子印章根证书", "基准测试")
    key = pki.generate_key()
    cert = pki.issue_cert(
        root_key, root, key.public_key(), common_name="公章", org="基准测试单位", kind="seal", serial=10**6
    )
    now = datetime.now(UTC)
    revoked = [(10**7 + i, now - timedelta(days=i + 1), "keyCompromise") for i in range(crl_entries)]
    crl = pki.make_crl(root_key, root, revoked)
    p7s = cms.sign_detached(payload, key, cert, [root])
    check = cms.verify_detached(payload, p7s, root, crl)
    if not check.ok:
        raise RuntimeError(f"cms verify of the payload failed: {check.message}")

    # Service level: the payload signed with the demo seal's key under the platform root.
    p7s_service = cms.sign_detached(payload, seal_key, seal_cert, [service_root], signing_time=now)
    for label, data, sig in (("payload", payload, p7s_service), ("demo file", demo["file"], demo["p7s"])):
        out = seal_services.verify(data, sig)
        if not out["valid"] or "seal" not in out:
            raise RuntimeError(f"service verify of the {label} failed: {out}")
    db.session.remove()

    def service_verify(data: bytes, sig: bytes) -> Callable[[], object]:
        def op() -> object:
            out = seal_services.verify(data, sig)
            db.session.remove()
            return out

        return op

    def render() -> bytes:
        doc = db.session.get(Document, demo["doc_id"])
        data = render_docx(content_of(doc, seals=images))
        db.session.remove()
        return data

    def seal_and_sign() -> list[bytes]:
        # seals.services._apply: render once with every seal image, then each seal signs.
        doc = db.session.get(Document, demo["doc_id"])
        batch = [db.session.get(Seal, i) for i in demo["seal_ids"]]
        data = render_docx(content_of(doc, seals=[s.image for s in batch]))
        _, ca_cert = seal_services.authority()
        when = datetime.now(UTC)
        sigs = [
            cms.sign_detached(
                data,
                pki.decrypt_private_key(s.key_enc, master),
                pki.load_cert(s.cert_pem),
                [ca_cert],
                signing_time=when,
            )
            for s in batch
        ]
        db.session.remove()
        return sigs

    ops: dict[str, Callable[[], object]] = {
        "raw_sign": lambda: raw_key.sign(payload, ecdsa),
        "raw_verify": lambda: raw_public.verify(raw_sig, payload, ecdsa),
        "cms_sign": lambda: cms.sign_detached(payload, key, cert, [root]),
        "cms_sign_timed": lambda: cms.sign_detached(payload, key, cert, [root], signing_time=now),
        "cms_verify": lambda: cms.verify_detached(payload, p7s, root, crl),
        "service_verify": service_verify(payload, p7s_service),
        "service_verify_demo": service_verify(demo["file"], demo["p7s"]),
        "render": render,
        "seal_and_sign": seal_and_sign,
    }
    facts = {
        "payload_bytes": len(payload),
        "payload_paragraphs_added": paragraphs,
        "demo_document": demo["title"],
        "demo_file_bytes": len(demo["file"]),
        "demo_seals": len(seals),
        "seal_image_bytes": [len(i) for i in images],
        "p7s_bytes": len(p7s),
        "crl_entries": crl_entries,
        "service_crl_entries": len(seal_services.current_crl()),
    }
    db.session.remove()
    return ops, facts


# ---------------------------------------------------------------- report


def table(results: dict[str, dict[str, float]], facts: dict[str, Any]) -> str:
    kb = facts["payload_bytes"] / 1024
    demo_kb = facts["demo_file_bytes"] / 1024
    rows = [
        ("raw_sign", f"raw ECDSA P-256 sign ({kb:.0f} KB, ceiling)"),
        ("cms_sign", f"cms.sign_detached ({kb:.0f} KB)"),
        ("cms_sign_timed", f"cms.sign_detached + signing_time ({kb:.0f} KB)"),
        ("render", f"render the sealed 通知 ({demo_kb:.0f} KB)"),
        ("seal_and_sign", f"seal and sign: render + key + sign ({demo_kb:.0f} KB)"),
        ("raw_verify", f"raw ECDSA P-256 verify ({kb:.0f} KB, ceiling)"),
        ("cms_verify", f"cms.verify_detached, CRL {facts['crl_entries']} ({kb:.0f} KB)"),
        ("service_verify", f"services.verify ({kb:.0f} KB)"),
        ("service_verify_demo", f"services.verify, demo file ({demo_kb:.0f} KB)"),
    ]
    sign_ceiling = results["raw_sign"]["ops_per_s"]
    verify_ceiling = results["raw_verify"]["ops_per_s"]
    lines = [
        f"| {'operation':<48} | {'ops/s':>9} | {'mean ms':>8} | {'× raw':>6} |",
        f"|{'-' * 50}|{'-' * 10}:|{'-' * 9}:|{'-' * 7}:|",
    ]
    for name, label in rows:
        rate, mean = results[name]["ops_per_s"], results[name]["mean_ms"]
        ratio = rate / (verify_ceiling if "verify" in name else sign_ceiling)
        lines.append(f"| {label:<48} | {rate:>9,.1f} | {mean:>8.3f} | {ratio:>6.3f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=2.0, help="timed seconds per operation (default 2)")
    ap.add_argument("--size-kb", type=int, default=100, help="size of the signed .docx (default 100)")
    ap.add_argument("--crl-entries", type=int, default=100, help="revoked serials in the CMS-level CRL")
    args = ap.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="office-bench-seals-") as tmp:
        log(f"office init + demo in {tmp} (SQLite)")
        app = make_app(Path(tmp) / "instance")
        with app.app_context():
            ops, facts = build_ops(args.size_kb, args.crl_entries)
            log(f"{len(ops)} operations x {args.seconds:g} s, two alternating halves")
            results = measure(ops, args.seconds)
            from office.extensions import db

            db.session.remove()
            db.engine.dispose()
    service = results["service_verify"]["ops_per_s"]

    def ratio(name: str, ceiling: str) -> float:
        return round(results[name]["ops_per_s"] / results[ceiling]["ops_per_s"], 3)

    out = {
        "at": datetime.now(UTC).isoformat(),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "seconds_per_op": args.seconds,
        "data": facts,
        "results": results,
        "what": OPS,
        "ratios": {
            "cms_sign_to_raw_sign": ratio("cms_sign", "raw_sign"),
            "cms_sign_timed_to_raw_sign": ratio("cms_sign_timed", "raw_sign"),
            "seal_and_sign_to_raw_sign": ratio("seal_and_sign", "raw_sign"),
            "cms_verify_to_raw_verify": ratio("cms_verify", "raw_verify"),
            "service_verify_to_raw_verify": ratio("service_verify", "raw_verify"),
            "service_verify_demo_to_raw_verify": ratio("service_verify_demo", "raw_verify"),
        },
        "target_verify_per_s": TARGET_VERIFY_PER_S,
        "passed": service >= TARGET_VERIFY_PER_S,
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, ensure_ascii=False, indent=2))
    print(json.dumps(out, ensure_ascii=False, indent=2))
    print()
    print(table(results, facts))
    print()
    ratio = out["ratios"]["service_verify_to_raw_verify"]
    verdict = "PASS" if out["passed"] else "FAIL"
    print(
        f"{verdict}: services.verify of a {facts['payload_bytes'] / 1024:.0f} KB .docx {service:,.1f}/s "
        f"({results['service_verify']['mean_ms']:.2f} ms), target >= {TARGET_VERIFY_PER_S}/s; "
        f"{ratio:.3f} x raw ECDSA verify ({results['raw_verify']['ops_per_s']:,.1f}/s); "
        f"seal and sign {results['seal_and_sign']['ops_per_s']:,.1f}/s "
        f"({out['ratios']['seal_and_sign_to_raw_sign']:.3f} x raw sign)"
    )
    sys.exit(0 if out["passed"] else 1)


if __name__ == "__main__":
    main()
