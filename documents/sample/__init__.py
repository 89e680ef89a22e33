"""The sample collection of official documents (公文) written for the project.

``corpus.jsonl`` (made by ``scripts/make_corpus.py``) holds a few hundred finished documents of
the fictional province 示例省: every type of the 条例, a couple of dozen issuing units, 2023–2026.
The demo loads them all (so the document boxes and the search have something to show) and the
search quality tests load them into the test database.

:func:`load_corpus` inserts them directly as finished outgoing documents, the way the real
flow leaves them: numbered (register entry and counter), signed off, sealed (frozen), distributed
(an incoming record at every recipient, signed for and handled) and, for past years, archived.
A document's attachment is stored through the files service; a leader's instruction (批示) is
the main recipient's incoming record's ``instruction``, where the 批办 step puts it. Missing
units are created under the root unit; each issuing unit gets a drafter and a signing leader
if it has none (sample people: ``sample-…`` usernames, inactive, no usable password).

Loading is idempotent: a document whose number is already taken is not loaded again.
"""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from documents.content import parse_body
from documents.models import (
    Direction,
    DocStatus,
    DocType,
    Document,
    DocumentAttachment,
    DocumentVersion,
    IncomingDocument,
    IncomingStatus,
    IssuedNumber,
    NumberCounter,
    NumberStatus,
    SecretLevel,
)
from documents.services import snapshot_of
from office.audit.services import record
from office.context import SYSTEM
from office.demo import GIVEN_CHARS, SURNAMES
from office.extensions import db
from office.files import services as files
from office.identity.models import Post, PostRole, Role, Unit, UnitKind, User
from office.identity.services import pinyin_of

CORPUS = Path(__file__).with_name("corpus.jsonl")

#: Every unit the collection names: (name, 机关代字, kind, parent name). The parent ``None``
#: is the organisation's root unit (whatever it is called).
UNITS: list[tuple[str, str, str, str | None]] = [
    ("示例省人民政府", "示政", "province", None),
    ("示例省人民政府办公厅", "示政办", "department", "示例省人民政府"),
    ("示例省发展和改革委员会", "示发改", "department", "示例省人民政府"),
    ("示例省教育厅", "示教", "department", "示例省人民政府"),
    ("示例省财政厅", "示财", "department", "示例省人民政府"),
    ("示例省自然资源厅", "示自然资", "department", "示例省人民政府"),
    ("示例省生态环境厅", "示环", "department", "示例省人民政府"),
    ("示例省交通运输厅", "示交", "department", "示例省人民政府"),
    ("示例省农业农村厅", "示农", "department", "示例省人民政府"),
    ("示例省卫生健康委员会", "示卫健", "department", "示例省人民政府"),
    ("示例省应急管理厅", "示应急", "department", "示例省人民政府"),
    ("示例省人力资源和社会保障厅", "示人社", "department", "示例省人民政府"),
    ("示例省市场监督管理局", "示市监", "department", "示例省人民政府"),
    ("示例省大数据管理局", "示数据", "department", "示例省人民政府"),
    ("示例省水利厅", "示水", "department", "示例省人民政府"),
    ("示例省统计局", "示统", "department", "示例省人民政府"),
    ("示例省档案局", "示档", "department", "示例省人民政府"),
    ("示例市人民政府", "示市", "city", "示例省人民政府"),
    ("示例市人民政府办公室", "示市办", "department", "示例市人民政府"),
    ("示例市教育局", "示市教", "department", "示例市人民政府"),
    ("示例市财政局", "示市财", "department", "示例市人民政府"),
    ("样本市人民政府", "样市", "city", "示例省人民政府"),
    ("样本市人民政府办公室", "样市办", "department", "样本市人民政府"),
    ("样本市教育局", "样市教", "department", "样本市人民政府"),
    ("样本市财政局", "样市财", "department", "样本市人民政府"),
    ("东山区人民政府", "东区", "county", "示例市人民政府"),
    ("西河县人民政府", "西县", "county", "示例市人民政府"),
    ("西河县人民政府办公室", "西县办", "department", "西河县人民政府"),
    ("南湖区人民政府", "南区", "county", "样本市人民政府"),
    ("北岭县人民政府", "北县", "county", "样本市人民政府"),
]

#: Documents of earlier years are archived; the collection's last year's are distributed.
ARCHIVED_BEFORE = 2026
#: Sample people are recognisable by their username.
SAMPLE_USER_PREFIX = "sample-"
#: Not an Argon2 hash: no password ever verifies against it.
UNUSABLE_PASSWORD = "!sample-data-no-login"
#: Leaders' titles by unit kind (a sample signer is created only where a unit has no leader).
LEADER_TITLES = {"province": "副省长", "city": "副市长", "county": "副县长"}
#: Who drafts, best first (a government office often has no 经办人, its clerks draft).
DRAFTER_ROLES = (Role.STAFF, Role.DIVISION_HEAD, Role.CLERK, Role.UNIT_ADMIN)


def _leader_title(unit: Unit) -> str:
    if unit.kind.value in LEADER_TITLES:
        return LEADER_TITLES[unit.kind.value]
    for suffix, title in (("厅", "厅长"), ("局", "局长"), ("委员会", "主任"), ("办公室", "主任")):
        if unit.name.endswith(suffix):
            return title
    return "负责人"


def read_corpus(limit: int | None = None) -> list[dict[str, Any]]:
    """The records of ``corpus.jsonl`` in key order (the first ``limit`` of them)."""
    with CORPUS.open(encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh if line.strip()]
    return records if limit is None else records[: max(0, limit)]


def _at(d: date, hour: int = 9) -> datetime:
    """A Beijing working hour on ``d`` as the UTC datetime the database stores."""
    return datetime.combine(d, time(hour)).replace(tzinfo=UTC) - timedelta(hours=8)


def load_corpus(limit: int | None = None) -> dict[str, int]:
    """Insert the sample documents not loaded yet and commit; returns key → Document.id for
    every record loaded now or before. Needs an app context and an initialised organisation
    (a root unit). A record whose document number belongs to another document is skipped."""
    records = read_corpus(limit)
    numbers = [r["doc_number"] for r in records]
    taken = {
        n: (i, t)
        for n, i, t in db.session.execute(
            select(Document.doc_number, Document.id, Document.title).where(Document.doc_number.in_(numbers))
        )
    }
    # Loaded before (same number and title); a number held by another document is skipped.
    loaded = {
        r["key"]: taken[r["doc_number"]][0]
        for r in records
        if r["doc_number"] in taken and taken[r["doc_number"]][1] == r["title"]
    }
    todo = [r for r in records if r["doc_number"] not in taken]
    if todo:
        loaded.update(_Loader(todo).run())
    return loaded


class _Loader:
    """One load: units, people, then every document with its rows, flushed in bulk."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records

    # -------------------------------------------------------------- units

    def _units(self) -> dict[str, Unit]:
        root = db.session.scalar(select(Unit).where(Unit.parent_id.is_(None)).order_by(Unit.id))
        if root is None:
            raise RuntimeError("the organisation has no root unit: run `office init` first")
        names, shorts = [w[0] for w in UNITS], [w[1] for w in UNITS]
        by_name: dict[str, Unit] = {}
        for u in db.session.scalars(select(Unit).where(Unit.name.in_(names)).order_by(Unit.depth, Unit.id)):
            by_name.setdefault(u.name, u)
        by_short = {
            u.short_name: u for u in db.session.scalars(select(Unit).where(Unit.short_name.in_(shorts)))
        }
        out: dict[str, Unit] = {}
        for name, short, kind, parent in UNITS:  # parents come before their children
            if parent is None:
                out[name] = root
                continue
            unit = by_name.get(name) or by_short.get(short)
            if unit is None:
                above = out[parent]
                unit = Unit(
                    name=name,
                    kind=UnitKind(kind),
                    parent_id=above.id,
                    short_name=short,
                    sort_order=100 + len(out),
                    depth=above.depth + 1,
                )
                db.session.add(unit)
                db.session.flush()
                unit.path = f"{above.path}{unit.id}/"
                self.created_units += 1
            out[name] = unit
        return out

    # -------------------------------------------------------------- people

    def _person(self, unit: Unit, title: str, role: Role, kind: str) -> User:
        rng = random.Random(f"{unit.name}|{kind}")
        name = ""
        while not name or name in self.names:  # unique, like the demo's people
            name = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN_CHARS, k=rng.choice([1, 2, 2])))
        mobile = ""
        while not mobile or mobile in self.mobiles:
            mobile = f"1{rng.choice('358')}{rng.randrange(10**9):09d}"
        self.names.add(name)
        self.mobiles.add(mobile)
        py, initials = pinyin_of(name)
        user = User(
            username=f"{SAMPLE_USER_PREFIX}{unit.id}-{kind}",
            name=name,
            pinyin=py,
            pinyin_initials=initials,
            mobile=mobile,
            password_hash=UNUSABLE_PASSWORD,
            active=False,
        )
        post = Post(unit=unit, title=title, is_primary=True, sort_order=0)
        post.roles = [PostRole(role=role)]
        user.posts.append(post)
        db.session.add(user)
        self.created_people += 1
        return user

    def _people(self, issuers: list[Unit]) -> dict[int, tuple[User, int, User]]:
        """Issuer id → (drafter, the unit they draft in, signing leader). A drafter is a member
        of staff of the unit or of its divisions; a government's documents are drafted in its
        general office (办公厅/办公室). The signer is a leader of the unit itself."""
        self.names = set(db.session.scalars(select(User.name)))
        self.mobiles = set(db.session.scalars(select(User.mobile).where(User.mobile.is_not(None))))

        ids = [u.id for u in issuers]
        governments = [u.id for u in issuers if u.kind is not UnitKind.DEPARTMENT]
        offices = db.session.execute(
            select(Unit.id, Unit.parent_id).where(
                Unit.parent_id.in_(governments), Unit.name.like("%办公厅") | Unit.name.like("%办公室")
            )
        ).all()
        homes: dict[int, list[int]] = {u: [u] for u in ids}  # unit → the issuers it drafts for
        for office, government in offices:
            homes.setdefault(office, []).append(government)
        divisions = db.session.execute(
            select(Unit.id, Unit.parent_id).where(
                Unit.parent_id.in_(list(homes)), Unit.kind == UnitKind.DIVISION
            )
        ).all()
        for division, parent in divisions:
            homes.setdefault(division, []).extend(homes[parent])
        rows = db.session.execute(
            select(Post.unit_id, PostRole.role, User)
            .join(PostRole, PostRole.post_id == Post.id)
            .join(User, User.id == Post.user_id)
            .where(
                Post.unit_id.in_(list(homes)),
                User.active.is_(True) | User.username.startswith(SAMPLE_USER_PREFIX),
            )
            .order_by(User.id)
        ).all()
        staff: dict[int, tuple[User, int]] = {}
        leaders: dict[int, User] = {}
        rank = {r: i for i, r in enumerate(DRAFTER_ROLES)}
        best: dict[int, int] = {}
        for unit_id, role, user in rows:
            for issuer in homes[unit_id]:
                if role is Role.LEADER:
                    if unit_id == issuer:
                        leaders.setdefault(issuer, user)
                elif role in rank and rank[role] < best.get(issuer, len(rank)):
                    staff[issuer], best[issuer] = (user, unit_id), rank[role]
        out = {}
        for unit in issuers:
            if unit.id not in staff:
                staff[unit.id] = (self._person(unit, "一级主任科员", Role.STAFF, "staff"), unit.id)
            if unit.id not in leaders:
                leaders[unit.id] = self._person(unit, _leader_title(unit), Role.LEADER, "leader")
            out[unit.id] = (*staff[unit.id], leaders[unit.id])
        db.session.flush()
        return out

    # -------------------------------------------------------------- documents

    def run(self) -> dict[str, int]:
        self.created_units = self.created_people = 0
        units = self._units()
        issuers = {units[r["issuer"]].id: units[r["issuer"]] for r in self.records}
        people = self._people(list(issuers.values()))

        # Attachment files first: storing one flushes the session.
        attachments: dict[str, tuple[Any, str]] = {}
        for rec in self.records:
            if rec.get("attachment_text"):
                title = (rec.get("attachment_title") or "附件")[:200]
                drafter = people[units[rec["issuer"]].id][0]
                stored = files.store(rec["attachment_text"].encode("utf-8"), f"{title}.txt", user=drafter)
                attachments[rec["key"]] = (stored, title)
        docs: list[tuple[dict[str, Any], Document]] = []
        for rec in self.records:
            issuer = units[rec["issuer"]]
            drafter, drafter_unit_id, leader = people[issuer.id]
            written = date.fromisoformat(rec["written_date"])
            rng = random.Random(rec["key"])
            printed = written + timedelta(days=rng.randint(1, 3))
            archived = int(rec["year"]) < ARCHIVED_BEFORE
            mains = [units[n] for n in rec["main_units"]]
            ccs = [units[n] for n in rec["cc_units"]]
            doc = Document(
                doc_type=DocType(rec["doc_type"]),
                direction=Direction(rec["direction"]),
                title=rec["title"],
                status=DocStatus.ARCHIVED if archived else DocStatus.DISTRIBUTED,
                issuer_unit_id=issuer.id,
                joint_unit_ids=[],
                drafter_id=drafter.id,
                drafter_unit_id=drafter_unit_id,
                issuer_mark=issuer.name,
                doc_code=rec["doc_code"],
                year=int(rec["year"]),
                serial=int(rec["serial"]),
                doc_number=rec["doc_number"],
                secret_level=SecretLevel.INTERNAL if rec.get("secret_level") == "内部" else SecretLevel.NONE,
                secret_period="",
                urgency=0,
                signer_ids=[leader.id],
                main_unit_ids=[u.id for u in mains],
                cc_unit_ids=[u.id for u in ccs],
                main_text=rec.get("main_text") or "、".join(u.name for u in mains),
                cc_text="、".join(u.name for u in ccs),
                body=[b.to_json() for b in parse_body(rec["body"])],
                signature=issuer.name,
                written_date=written,
                note="",
                printer="",
                print_date=printed,
                version=1,
                frozen=True,
                created_at=_at(written - timedelta(days=rng.randint(2, 9))),
                updated_at=_at(printed + timedelta(days=90) if archived else printed, 16),
                archived_at=_at(printed + timedelta(days=90), 16) if archived else None,
            )
            doc.issuer_unit = issuer
            doc.drafter = drafter
            doc.attachments = []
            if rec["key"] in attachments:
                stored, title = attachments[rec["key"]]
                doc.attachments.append(
                    DocumentAttachment(
                        file_id=stored.id, file=stored, title=title, sort=1, added_by_id=drafter.id,
                        created_at=doc.created_at,
                    )
                )  # fmt: skip
            db.session.add(doc)
            docs.append((rec, doc))
        db.session.flush()

        # Last serials per (unit, code, year): the numbers used, and each recipient's 收文 count.
        counters = self._counters(docs)
        incoming = 0
        for rec, doc in docs:
            snap = snapshot_of(doc)
            digest = hashlib.sha256(json.dumps(snap, ensure_ascii=False, sort_keys=True).encode()).hexdigest()
            db.session.add(
                DocumentVersion(
                    document_id=doc.id, number=1, snapshot=snap, sha256=digest, author_id=doc.drafter_id,
                    author_name=doc.drafter.name, step="draft", note="起草", created_at=doc.created_at,
                )
            )  # fmt: skip
            db.session.add(
                IssuedNumber(
                    unit_id=doc.issuer_unit_id, code=doc.doc_code, year=doc.year, serial=doc.serial,
                    number=doc.doc_number, document_id=doc.id, status=NumberStatus.USED,
                    created_by_id=doc.drafter_id, created_at=_at(doc.written_date, 15),
                )
            )  # fmt: skip
            key = (doc.issuer_unit_id, doc.doc_code, doc.year)
            counters[key] = max(counters.get(key, 0), doc.serial)
            targets = [(u, "main") for u in doc.main_unit_ids] + [(u, "cc") for u in doc.cc_unit_ids]
            for i, (unit_id, role) in enumerate(targets):
                signed = doc.print_date + timedelta(days=1)
                ckey = (unit_id, "收文", signed.year)
                counters[ckey] = counters.get(ckey, 0) + 1
                done = _at(signed + timedelta(days=7), 17)
                db.session.add(
                    IncomingDocument(
                        document_id=doc.id,
                        unit_id=unit_id,
                        role=role,
                        status=IncomingStatus.ARCHIVED if doc.archived_at else IncomingStatus.DONE,
                        signed_at=_at(signed, 10),
                        incoming_no=f"收〔{signed.year}〕{counters[ckey]}号",
                        registered_at=_at(signed, 11),
                        # 批示: the leader of the main recipient instructs on its record.
                        instruction=rec.get("instruction", "") if i == 0 and role == "main" else "",
                        completed_at=done,
                        archived_at=done + timedelta(days=60) if doc.archived_at else None,
                        created_at=_at(doc.print_date, 17),
                    )
                )
                incoming += 1
        self._save_counters(counters)
        record(
            SYSTEM,
            "documents:sample:load",
            object_type="system",
            details={
                "documents": len(docs),
                "units_created": self.created_units,
                "people_created": self.created_people,
                "incoming_records": incoming,
            },
        )
        loaded = {rec["key"]: doc.id for rec, doc in docs}  # before the commit expires them
        db.session.commit()
        return loaded

    def _counters(self, docs: list[tuple[dict[str, Any], Document]]) -> dict[tuple[int, str, int], int]:
        units = {d.issuer_unit_id for _, d in docs} | {
            u for _, d in docs for u in d.main_unit_ids + d.cc_unit_ids
        }
        rows = db.session.scalars(select(NumberCounter).where(NumberCounter.unit_id.in_(units)))
        self.existing = {(r.unit_id, r.code, r.year): r for r in rows}
        return {k: r.last_serial for k, r in self.existing.items()}

    def _save_counters(self, counters: dict[tuple[int, str, int], int]) -> None:
        """Numbers are never given out twice: each counter moves past what the sample used."""
        for (unit_id, code, year), last in sorted(counters.items()):
            row = self.existing.get((unit_id, code, year))
            if row is None:
                db.session.add(NumberCounter(unit_id=unit_id, code=code, year=year, last_serial=last))
            elif row.last_serial < last:
                row.last_serial = last
