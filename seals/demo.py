"""Demo seals: the province government's and its 办公厅's 公章 (kept by sealkeeper) and 西河县's, made through
the real service, so the demo document can be sealed and verified."""

from __future__ import annotations

from sqlalchemy import select

from office.context import Actor
from office.extensions import db
from office.identity.models import Unit, User
from seals import services
from seals.image import NoCJKFont, find_cjk_font
from seals.models import Seal


def load_seals() -> str:
    """Idempotent; returns a summary line (or why there are no seals: no CJK font)."""
    admin = db.session.scalar(select(User).where(User.username == "admin"))
    if admin is None:
        return ""
    try:
        find_cjk_font()
    except NoCJKFont as exc:
        return f"未生成演示印章：{exc}"
    made = []
    county_clerk = db.session.scalar(select(User).where(User.username == "county"))
    root = db.session.scalar(select(Unit).where(Unit.parent_id.is_(None)).order_by(Unit.id))
    office = (
        db.session.scalar(select(Unit).where(Unit.parent_id == root.id, Unit.name.like("%办公厅")))
        if root
        else None
    )
    wanted = [(root, None), (office, None)]
    if county_clerk is not None:
        wanted.append((county_clerk.posts[0].unit.parent, [county_clerk.id]))
    for unit, keepers in wanted:
        if unit is None or db.session.scalar(select(Seal.id).where(Seal.unit_id == unit.id)):
            continue
        services.create_seal(
            Actor(user=admin),
            unit_id=unit.id,
            keeper_ids=keepers if keepers is not None else (services.default_keepers(unit) or [admin.id]),
        )
        made.append(unit.name)
    db.session.commit()
    return f"已为{'、'.join(made)}生成电子公章；" if made else ""
