"""Demo documents: a few 公文 at different points of their flows, made through the real
services, so a new user sees to-dos, a distributed document and its incoming copies."""

from __future__ import annotations

from sqlalchemy import select

from documents import services
from documents.sample import load_corpus
from office.context import Actor
from office.demo import demo_hook
from office.extensions import db
from office.identity.models import Unit, User

BODY = """为深入推进数字政府建设，提升政务协同办公效率，经省人民政府同意，现就有关事项通知如下。
一、总体要求
坚持统筹规划、分步实施，以公文流转、会议办理、督查督办为重点，推动全省政务协同办公“一网通办”。
二、主要任务
（一）推进公文全流程电子化。
1. 各地各部门要于12月31日前全部接入政务协同办公平台。
2. 公文拟稿、核稿、签发、用印、分发全程在线办理。
（二）强化安全保障。
严格落实电子印章管理制度，做好数据备份与容灾。
| 阶段 | 时间 | 任务 |
| 试点 | 2026年11月 | 省直部门接入 |
| 推广 | 2026年12月 | 市县全面接入 |
三、工作要求
各地各部门要高度重视，明确专人负责，确保按期完成。"""


def _user(username: str) -> User | None:
    return db.session.scalar(select(User).where(User.username == username))


def _unit(name: str) -> Unit | None:
    return db.session.scalar(select(Unit).where(Unit.name == name))


def _run(doc_id: int, steps: list[tuple[User, str, dict]]) -> None:
    for who, action, payload in steps:
        services.act(Actor(user=who), doc_id, action, {"opinion": "同意", **payload})


@demo_hook
def load_documents(password: str) -> str:
    from seals.demo import load_seals

    seals_line = load_seals()
    people = {u: _user(u) for u in ("staff", "divhead", "clerk", "leader", "sealkeeper", "county")}
    if any(v is None for v in people.values()):
        return ""
    # First: the number counters move past the sample's numbers, so the demo's own documents
    # are numbered after them.
    sample = load_corpus()
    county = people["county"].posts[0].unit.parent  # 西河县人民政府 (its office's clerk signs)
    depts = db.session.scalars(
        select(Unit).where(Unit.name.in_(["示例省发展和改革委员会", "示例省财政厅", "示例省教育厅"]))
    ).all()
    mains = [county.id, *(d.id for d in depts[:1])]
    ccs = [d.id for d in depts[1:2]]
    staff, clerk = people["staff"], people["clerk"]
    base = {"doc_type": "notice", "direction": "down", "body": BODY, "signer_ids": [people["leader"].id]}
    review = [
        (staff, "submit", {}),
        (people["divhead"], "submit", {}),
        (clerk, "submit", {}),
    ]
    full = [
        *review,
        (people["leader"], "submit", {"opinion": "同意印发。"}),
        (clerk, "submit", {}),
        (clerk, "number", {}),
        (people["sealkeeper"], "seal", {"password": password}),
        (clerk, "distribute", {}),
    ]
    made = 0
    doc = services.create_document(
        Actor(user=staff),
        {
            **base,
            "title": "关于推进全省政务协同办公平台建设的通知",
            "urgency": 1,
            "main_unit_ids": mains,
            "cc_unit_ids": ccs,
        },
    )
    if seals_line.startswith("未生成"):  # no CJK font for the seal image: it waits at 用印
        full = full[: full.index((people["sealkeeper"], "seal", {"password": password}))]
    _run(doc.id, full)
    rec = next((r for r in doc.incoming if r.unit_id == county.id), None)
    if rec is not None:  # the county signs for it and registers it: its 拟办 is on the clerk's list
        actor = Actor(user=people["county"])
        services.incoming_act(actor, rec.id, "sign_for", {})
        services.incoming_act(actor, rec.id, "register", {})
    made += 1
    doc = services.create_document(
        Actor(user=staff),
        {**base, "title": "关于报送2026年度政务服务工作总结的通知", "main_unit_ids": mains},
    )
    _run(doc.id, review)  # now waiting for the leader's 签发 (the secretary sees it too)
    made += 1
    doc = services.create_document(
        Actor(user=staff),
        {
            **base,
            "title": "关于召开全省政务协同办公推广现场会的请示",
            "doc_type": "request",
            "direction": "up",
            "main_unit_ids": [],
            "main_text": "省人民政府",
            "body": "为总结推广政务协同办公经验，拟于12月中旬召开全省现场会。\n妥否，请批示。",
        },
    )
    made += 1
    db.session.commit()
    return (
        f"{seals_line}另有 {made} 件演示公文（已分发、待签发、草稿各一件）"
        f"和 {len(sample)} 件样例公文（15 个文种，2023—2026 年）。"
    )
