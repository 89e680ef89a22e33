"""The shipped flow definitions for 发文 and 收文 (data, editable per unit by its admin),
and the handler rules only documents need."""

from __future__ import annotations

from typing import Any

from office.workflow.services import FlowSpec, Subject, register_flow, resolver, users_with_role


def _clerks(unit: str = "unit") -> dict[str, Any]:
    return {"type": "role", "role": "clerk", "unit": unit}


OUTGOING_STEPS: list[dict[str, Any]] = [
    {
        "key": "draft",
        "name": "拟稿",
        "mode": "single",
        "handlers": [{"type": "people", "key": "starter"}],
        "choose": "none",
    },
    {
        "key": "dept_review",
        "name": "部门审核",
        "mode": "any",
        "optional": True,
        "choose": "optional",
        "handlers": [{"type": "role", "role": "division_head", "unit": "starter_unit"}],
    },
    {
        "key": "office_review",
        "name": "办公室核稿",
        "mode": "any",
        "choose": "optional",
        "handlers": [_clerks()],
    },
    {
        "key": "countersign",
        "name": "会签",
        "mode": "all",
        "optional": True,
        "choose": "optional",
        "handlers": [{"type": "chosen"}, {"type": "joint_leaders", "always": True}],
    },
    {
        "key": "sign_off",
        "name": "签发",
        "mode": "any",
        "choose": "optional",
        "handlers": [
            {"type": "people", "key": "signers"},
            {"type": "role", "role": "leader", "unit": "unit", "fallback": True},
        ],
    },
    {"key": "recheck", "name": "复核", "mode": "any", "choose": "none", "handlers": [_clerks()]},
    {
        "key": "number",
        "name": "编号",
        "mode": "any",
        "choose": "none",
        "no_submit": True,
        "handlers": [_clerks()],
    },
    {
        "key": "seal",
        "name": "用印",
        "mode": "any",
        "choose": "none",
        "no_submit": True,
        "handlers": [
            {"type": "seal_keepers"},
            {"type": "role", "role": "seal_keeper", "unit": "unit", "fallback": True},
            {**_clerks(), "fallback": True},
        ],
    },
    {
        "key": "distribute",
        "name": "分发",
        "mode": "any",
        "choose": "none",
        "no_submit": True,
        "handlers": [_clerks()],
    },
    {
        "key": "archive",
        "name": "归档",
        "mode": "any",
        "choose": "none",
        "no_submit": True,
        "handlers": [_clerks()],
    },
]

INCOMING_STEPS: list[dict[str, Any]] = [
    {
        "key": "sign_for",
        "name": "签收",
        "mode": "any",
        "choose": "none",
        "no_submit": True,
        "handlers": [_clerks()],
    },
    {
        "key": "register",
        "name": "登记",
        "mode": "any",
        "choose": "none",
        "no_submit": True,
        "handlers": [_clerks()],
    },
    {"key": "propose", "name": "拟办", "mode": "any", "choose": "none", "handlers": [_clerks()]},
    {
        "key": "instruct",
        "name": "批办",
        "mode": "any",
        "choose": "optional",
        "handlers": [{"type": "role", "role": "leader", "unit": "unit"}],
    },
    {"key": "handle", "name": "承办", "mode": "all", "choose": "required", "handlers": [{"type": "chosen"}]},
    {"key": "circulate", "name": "传阅", "mode": "any", "choose": "none", "handlers": [_clerks()]},
    {
        "key": "complete",
        "name": "办结",
        "mode": "any",
        "choose": "none",
        "no_submit": True,
        "handlers": [{"type": "people", "key": "lead"}, {**_clerks(), "fallback": True}],
    },
    {
        "key": "archive",
        "name": "归档",
        "mode": "any",
        "choose": "none",
        "no_submit": True,
        "handlers": [_clerks()],
    },
]

OUTGOING = register_flow(
    FlowSpec(
        code="outgoing",
        name="发文流程",
        default_steps=OUTGOING_STEPS,
        required_steps=("draft", "sign_off", "number", "seal", "distribute", "archive"),
        step_actions={
            "draft": ("edit", "withdraw"),
            "dept_review": ("edit",),
            "office_review": ("edit",),
            "sign_off": ("edit",),
            "number": ("number",),
            "seal": ("seal",),
            "distribute": ("distribute",),
            "archive": ("archive",),
        },
    )
)

INCOMING = register_flow(
    FlowSpec(
        code="incoming",
        name="收文流程",
        default_steps=INCOMING_STEPS,
        required_steps=("sign_for", "register", "instruct", "handle", "complete", "archive"),
        step_actions={
            "sign_for": ("sign_for", "refuse"),
            "register": ("register",),
            "circulate": ("circulate",),
            "complete": ("complete",),
            "archive": ("archive",),
        },
    )
)


@resolver("joint_leaders")
def _joint_leaders(rule: dict[str, Any], subject: Subject) -> list[int]:
    """A joint document (联合行文) is countersigned by a leader of each co-issuing unit."""
    found: list[int] = []
    for unit_id in subject.units.get("joint_units", []) or []:
        leaders = users_with_role([unit_id], "leader", children=True)
        found.extend(leaders[:1])
    return found


@resolver("seal_keepers")
def _seal_keepers(rule: dict[str, Any], subject: Subject) -> list[int]:
    """Keepers of the issuing units' 公章 (the issuer's first, then each joint unit's)."""
    from seals.services import keepers_of_units

    units = [subject.units.get("unit"), *subject.units.get("joint_units", [])]
    return keepers_of_units([u for u in dict.fromkeys(units) if u])
