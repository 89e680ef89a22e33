"""The workflow engine: flows as data, handlers resolved from roles and units, step modes,
and the generic actions (submit, return, recall, transfer, add a handler).

Modules own their subjects and their domain actions; they call :func:`act` inside their own
service function (which checks domain rules and writes the one audit event), passing a
:class:`Subject` so the engine can open and close to-dos with the right title and link.
Every call locks the instance row first, so two people pressing the same button are
serialised: the second finds the step moved on and gets 409 ``not_your_turn``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from office.context import Actor
from office.db import by_ids, keep, utcnow
from office.errors import ServiceError
from office.extensions import db
from office.identity import services as identity
from office.identity.models import Post, PostRole, Unit, User
from office.todos import services as todos
from office.todos.models import TodoCategory, TodoStatus, Urgency
from office.txqueue import TransactionQueue
from office.workflow.models import (
    FlowAction,
    FlowDefinition,
    FlowInstance,
    InstanceStatus,
    ItemStatus,
    StepMode,
    WorkItem,
)

OPEN = (ItemStatus.PENDING, ItemStatus.WAITING)
GENERIC_ACTIONS = ("submit", "return", "recall", "transfer", "add_handler")

ACTION_LABELS = {
    "start": "发起",
    "submit": "提交",
    "return": "退回",
    "recall": "撤回",
    "transfer": "转办",
    "add_handler": "加签",
    "skip": "跳过",
    "cancel": "终止",
}


@dataclass
class Subject:
    """What a flow is about, as the engine needs it for to-dos and handler resolution."""

    type: str
    id: int
    title: str
    url: str
    todo_kind: str
    urgency: Urgency = Urgency.NORMAL
    #: Named unit ids for handler rules: ``{"unit": 5, "starter_unit": 9, "joint_units": [7]}``.
    units: dict[str, int | list[int]] = field(default_factory=dict)
    #: Named people for handler rules: ``{"starter": [3], "signers": [8]}``.
    people: dict[str, list[int]] = field(default_factory=dict)


@dataclass
class FlowSpec:
    """A flow a module registers: its default steps, the steps its domain logic needs, and
    the module's own actions per step (``{"number": ["number"]}``)."""

    code: str
    name: str
    default_steps: list[dict[str, Any]]
    required_steps: tuple[str, ...] = ()
    step_actions: dict[str, tuple[str, ...]] = field(default_factory=dict)


FLOWS: dict[str, FlowSpec] = {}
Resolver = Callable[[dict[str, Any], Subject], list[int]]
RESOLVERS: dict[str, Resolver] = {}


def register_flow(spec: FlowSpec) -> FlowSpec:
    FLOWS[spec.code] = spec
    return spec


def resolver(name: str) -> Callable[[Resolver], Resolver]:
    """Register a handler rule type usable in step definitions (``{"type": name, ...}``)."""

    def wrap(fn: Resolver) -> Resolver:
        RESOLVERS[name] = fn
        return fn

    return wrap


#: ``session.info`` key: instances locked in this session, by subject.
_LOADED = "workflow.locked"
#: (instance, action) logged in the current transaction, in order.
LOGGED = TransactionQueue("workflow.logged")
#: Instances locked in the current transaction.
LOCKED = TransactionQueue("workflow.locked_now")


def install() -> None:
    """Scope the per-transaction registries to the process-wide session's transactions."""
    LOGGED.install(db.session)
    LOCKED.install(db.session)


# ---------------------------------------------------------------- handler resolution


def users_with_role(unit_ids: Iterable[int], role: str, *, children: bool = False) -> list[int]:
    """Active people holding ``role`` in one of the units (or, with ``children``, in a direct
    child unit when the unit itself has none: a city government's clerk sits in its office)."""
    ids = [i for i in unit_ids if i]
    if not ids:
        return []

    def query(units: list[int]) -> list[int]:
        # The people themselves, not just their ids: their names go into the to-dos and the
        # response, and kept in the session they are not loaded again for each.
        stmt = (
            select(User)
            .join(Post, Post.user_id == User.id)
            .join(PostRole, PostRole.post_id == Post.id)
            .where(Post.unit_id.in_(units), PostRole.role == role, User.active.is_(True))
            .order_by(Post.unit_id, Post.sort_order, Post.user_id)
        )
        found = list(dict.fromkeys(db.session.scalars(stmt)))
        keep(*found)
        return [u.id for u in found]

    found = query(ids)
    if not found and children:
        # Only the general office (办公厅/办公室) acts for a government, not its departments or towns.
        kids = list(
            db.session.scalars(
                select(Unit.id).where(
                    Unit.parent_id.in_(ids),
                    Unit.active.is_(True),
                    Unit.name.like("%办公厅") | Unit.name.like("%办公室"),
                )
            )
        )
        found = query(kids) if kids else []
    return found


def _unit_ids(subject: Subject, name: str) -> list[int]:
    value = subject.units.get(name)
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [int(value)]


@resolver("role")
def _by_role(rule: dict[str, Any], subject: Subject) -> list[int]:
    return users_with_role(_unit_ids(subject, rule.get("unit", "unit")), rule["role"], children=True)


@resolver("people")
def _named_people(rule: dict[str, Any], subject: Subject) -> list[int]:
    return list(subject.people.get(rule.get("key", "starter"), []))


@resolver("users")
def _fixed_users(rule: dict[str, Any], subject: Subject) -> list[int]:
    return [int(u) for u in rule.get("ids", [])]


@resolver("chosen")
def _chosen_only(rule: dict[str, Any], subject: Subject) -> list[int]:
    return []  # filled by the previous actor's choice


def resolve_handlers(step: dict[str, Any], subject: Subject, chosen: list[int] | None) -> list[int]:
    """The step's handlers: the previous actor's choice if the step takes one, else the
    default rules (a ``fallback`` rule only when the earlier ones found nobody); rules
    marked ``always`` (e.g. a joint unit's leaders) are added either way."""
    return _resolve(step, subject, chosen)[0]


def _resolve(step: dict[str, Any], subject: Subject, chosen: list[int] | None) -> tuple[list[int], set[int]]:
    """Handlers, and those of them a role query already found active (no need to check again)."""
    always: list[int] = []
    defaults: list[int] = []
    active: set[int] = set()
    for rule in step.get("handlers", []):
        fn = RESOLVERS.get(rule.get("type", ""))
        if fn is None or (rule.get("fallback") and defaults):
            continue
        found = fn(rule, subject)
        if rule.get("type") == "role":
            active.update(found)
        (always if rule.get("always") else defaults).extend(found)
    picked = list(chosen or []) if step.get("choose", "none") != "none" else []
    if picked:
        active -= set(picked)
    return list(dict.fromkeys([*(picked or defaults), *always])), active


# ---------------------------------------------------------------- definitions


def definition_for(code: str, unit: Unit | None) -> tuple[FlowDefinition | None, list[dict[str, Any]]]:
    """The unit's own definition (nearest ancestor's first), else the shipped default."""
    ancestors = list(reversed(unit.ancestor_ids())) if unit else []
    if ancestors:
        defs = {
            d.unit_id: d
            for d in db.session.scalars(
                select(FlowDefinition).where(
                    FlowDefinition.code == code, FlowDefinition.unit_id.in_(ancestors)
                )
            )
        }
        for uid in ancestors:
            if uid in defs:
                return defs[uid], defs[uid].steps
    default = db.session.scalar(
        select(FlowDefinition).where(FlowDefinition.code == code, FlowDefinition.unit_id.is_(None))
    )
    if default is not None:
        return default, default.steps
    return None, FLOWS[code].default_steps


def _valid_rule(rule: Any) -> bool:
    """A handler rule of a known type whose parameters the resolver can use."""
    if not isinstance(rule, dict) or not isinstance(rule.get("type"), str) or rule["type"] not in RESOLVERS:
        return False
    if not isinstance(rule.get("unit", "unit"), str) or not isinstance(rule.get("key", "starter"), str):
        return False
    if rule["type"] == "role":
        return isinstance(rule.get("role"), str) and bool(rule["role"].strip())
    if rule["type"] == "users":
        found = rule.get("ids", [])
        return isinstance(found, list) and all(type(i) is int for i in found)
    return True


def validate_steps(code: str, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Check an edited definition: unique keys, known modes and rules, the module's required
    steps present and in the shipped order. Returns the normalised steps."""
    spec = FLOWS.get(code)
    if spec is None:
        raise ServiceError("unknown_flow", "流程不存在", 404)
    errors: list[str] = []
    if not all(isinstance(s, dict) for s in steps):
        raise ServiceError("invalid_flow", "步骤格式无效", 422, {"errors": ["步骤格式无效"]})
    keys = [s.get("key") for s in steps]
    if not all(isinstance(k, str) and 0 < len(k.strip()) <= 40 for k in keys):
        raise ServiceError("invalid_flow", "步骤标识无效", 422, {"errors": ["步骤标识无效"]})
    if len(set(keys)) != len(keys):
        errors.append("步骤标识重复")
    missing = [k for k in spec.required_steps if k not in keys]
    if missing:
        errors.append(f"缺少必需步骤：{'、'.join(missing)}")
    order = [k for k in keys if k in spec.required_steps]
    if not missing and order != list(spec.required_steps):
        errors.append("必需步骤的顺序不能改变")
    normalised = []
    for s in steps:
        label = str(s.get("name") or s["key"])[:50]
        mode = s.get("mode", "single")
        if mode not in StepMode.__members__.values():
            errors.append(f"步骤「{label}」的办理方式无效")
        rules = s.get("handlers", [])
        for rule in rules if isinstance(rules, list) else [None]:
            if not _valid_rule(rule):
                kind = rule.get("type") if isinstance(rule, dict) else rule
                errors.append(f"步骤「{label}」的办理人规则无效：{kind}")
        if s.get("choose", "none") not in ("none", "optional", "required"):
            errors.append(f"步骤「{label}」的选人方式无效")
        name = str(s.get("name", "")).strip()
        if not name:
            errors.append(f"步骤 {s['key']} 缺少名称")
        elif len(name) > 50:
            errors.append(f"步骤「{label}」的名称过长")
        step = {**s, "mode": mode, "name": name}
        shipped = next((d for d in spec.default_steps if d["key"] == s["key"]), None)
        if s["key"] in spec.required_steps and shipped and shipped.get("no_submit"):
            step["no_submit"] = True  # its module's own action (编号, 分发 ...) cannot become a plain submit
        normalised.append(step)
    if errors:
        raise ServiceError("invalid_flow", "；".join(errors), 422, {"errors": errors})
    return normalised


# ---------------------------------------------------------------- instance internals


def _todo_step(item: WorkItem) -> str:
    return f"{item.step_key}#{item.round}"


def _open_item(inst: FlowInstance, item: WorkItem, subject: Subject, sender_id: int | None) -> None:
    step = inst.step(item.step_key) or {}
    category = TodoCategory.READ if step.get("category") == "read" else TodoCategory.TODO
    todos.open_todo(
        user_id=item.assignee_id,
        kind=subject.todo_kind,
        title=f"{step.get('name', item.step_key)}：{subject.title}",
        source_type=subject.type,
        source_id=subject.id,
        source_url=subject.url,
        step=_todo_step(item),
        urgency=subject.urgency,
        due_at=item.due_at,
        category=category,
        sender_id=sender_id,
    )


def _close_item(
    inst: FlowInstance, item: WorkItem, status: ItemStatus, by: User | None, subject: Subject
) -> None:
    item.status = status
    item.closed_at = utcnow()
    if status is ItemStatus.DONE and by is not None:
        item.acted_by_id = by.id
    todos.close_for_source(
        subject.type,
        subject.id,
        step=_todo_step(item),
        user_id=item.assignee_id,
        status=TodoStatus.DONE
        if status in (ItemStatus.DONE, ItemStatus.TRANSFERRED)
        else TodoStatus.CANCELLED,
        by=by,
        # The previous handler is the item's sender (so they may 催办), but hearing "已办结" for
        # every step the document moves on would bury their inbox; the flow record shows it.
        notify_sender=False,
    )


def _log(
    inst: FlowInstance,
    actor: Actor,
    action: str,
    *,
    step_key: str | None = None,
    opinion: str = "",
    acting_for: User | None = None,
    details: dict[str, Any] | None = None,
) -> FlowAction:
    key = step_key or inst.current_step or ""
    step = inst.step(key) or {}
    user = actor.user
    a = FlowAction(
        instance=inst,
        step_key=key,
        step_name=step.get("name", key),
        round=inst.round,
        action=action,
        actor_id=user.id if user else None,
        actor_name=user.name if user else "系统",
        on_behalf_of_id=acting_for.id if acting_for else None,
        on_behalf_of_name=acting_for.name if acting_for else None,
        opinion=opinion,
        details=details or {},
        created_at=utcnow(),
    )
    db.session.add(a)
    LOGGED.append(db.session(), (inst, a))
    return a


def _enter(
    inst: FlowInstance,
    index: int,
    subject: Subject,
    actor: Actor,
    *,
    chosen: list[int] | None = None,
    handlers: list[int] | None = None,
    due_at: datetime | None = None,
) -> list[WorkItem]:
    """Enter the step at ``index`` (skipping optional steps nobody is assigned to), or finish.
    Returns the items now pending, whose to-dos the caller opens with ``_open_items`` once
    it has finished writing the action (so the action row is inserted once, complete)."""
    with db.session.no_autoflush:
        return _enter_step(inst, index, subject, actor, chosen, handlers, due_at)


def _enter_step(
    inst: FlowInstance,
    index: int,
    subject: Subject,
    actor: Actor,
    chosen: list[int] | None,
    handlers: list[int] | None,
    due_at: datetime | None,
) -> list[WorkItem]:
    while index < len(inst.steps):
        step = inst.steps[index]
        if handlers is not None:
            ids, active = handlers, set()
        else:
            ids, active = _resolve(step, subject, chosen)
        handlers = None
        if not ids:
            if step.get("optional"):
                _log(inst, actor, "skip", step_key=step["key"], details={"reason": "no_handler"})
                index += 1
                chosen = None
                continue
            raise ServiceError(
                "no_handler",
                f"无法确定「{step['name']}」的办理人，请选择办理人",
                422,
                {"step": step["key"]},
                field="choose",
            )
        _check_assignable([i for i in ids if i not in active])
        inst.round += 1
        inst.current_step = step["key"]
        sequential = step.get("mode") == StepMode.SEQUENCE
        pending = []
        for n, uid in enumerate(ids):
            item = WorkItem(
                instance=inst,
                step_key=step["key"],
                round=inst.round,
                seq=n if sequential else 0,
                assignee_id=uid,
                status=ItemStatus.WAITING if sequential and n else ItemStatus.PENDING,
                due_at=due_at,
                created_at=utcnow(),
            )
            db.session.add(item)
            if item.status is ItemStatus.PENDING:
                pending.append(item)
        return pending
    inst.status = InstanceStatus.DONE
    inst.current_step = None
    inst.finished_at = utcnow()
    return []


def _open_items(inst: FlowInstance, items: list[WorkItem], subject: Subject, actor: Actor) -> None:
    sender = actor.user.id if actor.user else None
    for item in items:
        _open_item(inst, item, subject, sender)


def _check_assignable(ids: list[int]) -> None:
    if not ids:
        return
    valid = [i for i in ids if 0 < i < 2**31]  # larger ids name nobody (SQLite cannot bind them)
    # Kept: their names go into the to-dos and the response.
    found = {i for i, u in by_ids(User, valid).items() if u.active}
    unknown = [i for i in ids if i not in found]
    if unknown:
        raise ServiceError("unknown_user", "办理人不存在或已停用", 422, {"user_ids": unknown}, field="choose")


def _round_items(inst: FlowInstance, round_: int | None = None) -> list[WorkItem]:
    r = inst.round if round_ is None else round_
    return [i for i in inst.items if i.round == r]


def lock_subject(subject_type: str, subject_id: int) -> FlowInstance | None:
    """Load and lock a subject's instance with its work items, in two statements (none when
    this transaction holds it already)."""
    held = _held(lambda i: i.subject_type == subject_type and i.subject_id == subject_id)
    return held or _locked(FlowInstance.subject_type == subject_type, FlowInstance.subject_id == subject_id)


def lock(inst_id: int) -> FlowInstance:
    """Load and lock the instance row (SQLite: the write transaction already serialises)."""
    inst = _held(lambda i: i.id == inst_id) or _locked(FlowInstance.id == inst_id)
    if inst is None:
        raise ServiceError("not_found", "流程不存在", 404)
    return inst


def _locked(*where: Any) -> FlowInstance | None:
    # The items come in a second statement, once the lock is held: joined into the locking
    # query they would be read from the snapshot taken before waiting for the lock (READ
    # COMMITTED re-reads only the locked row), and a countersign racing another would miss
    # the other's finished item (tests: test_race_on_a_countersign_postgres).
    inst = db.session.scalar(
        select(FlowInstance)
        .where(*where)
        .options(selectinload(FlowInstance.items))
        .with_for_update(of=FlowInstance)
        .execution_options(populate_existing=True)
    )
    if inst is not None:
        # Kept for the rest of the request: the response and the module ask for it again, and
        # the identity map's weak references alone would let it be collected and reloaded.
        db.session.info.setdefault(_LOADED, {})[(inst.subject_type, inst.subject_id)] = inst
        LOCKED.append(db.session(), inst)
    return inst


def _held(match: Callable[[FlowInstance], bool]) -> FlowInstance | None:
    """An instance this transaction has locked: the lock holds until the commit, and what the
    session has in memory is the latest state (nobody else can change it meanwhile)."""
    return next((i for i in LOCKED.items(db.session()) if match(i)), None)


def my_item(user: User, inst: FlowInstance) -> tuple[WorkItem, User | None] | None:
    """This person's pending item in the current step, or one they may act on for a leader
    (secretary, delegate). Returns (item, acting_for)."""
    if inst.status is not InstanceStatus.RUNNING:
        return None
    pending = [i for i in _round_items(inst) if i.status is ItemStatus.PENDING]
    for item in pending:
        if item.assignee_id == user.id:
            return item, None
    if not pending:
        return None
    principals = {p.id: p for p in identity.principals_of(user)}
    for item in pending:
        if item.assignee_id in principals:
            return item, principals[item.assignee_id]
    return None


def need_item(actor: Actor, inst: FlowInstance, step_key: str | None = None) -> tuple[WorkItem, User | None]:
    """The actor's pending item (and whom they act for), or 409 ``not_your_turn``: the check
    a module's own step action makes before doing its domain work."""
    user = actor.effective
    if inst.status is not InstanceStatus.RUNNING:
        raise ServiceError("flow_finished", "流程已结束", 409)
    if step_key is not None and inst.current_step != step_key:
        raise ServiceError("not_your_turn", "当前不在该办理环节，可能已被他人办理", 409)
    found = my_item(user, inst) if user else None
    if found is None:
        raise ServiceError("not_your_turn", "当前不是您办理，可能已被他人办理或已撤回", 409)
    item, acting_for = found
    if actor.on_behalf_of is not None and acting_for is None:
        acting_for = actor.on_behalf_of  # the caller asked explicitly (X-On-Behalf-Of)
    return item, acting_for


# ---------------------------------------------------------------- public operations


def start(
    actor: Actor,
    code: str,
    unit: Unit,
    subject: Subject,
    *,
    first_handlers: list[int] | None = None,
) -> FlowInstance:
    """Start a flow for a subject at its first step (the starter's own by default)."""
    return start_many(actor, code, [(unit, subject, first_handlers)])[0]


def start_many(
    actor: Actor, code: str, starts: list[tuple[Unit, Subject, list[int] | None]]
) -> list[FlowInstance]:
    """Start several flows of one kind at once (分发 to many units): every instance, action and
    item is written before the first to-do opens, so each table gets one batched insert."""
    begun = []
    with db.session.no_autoflush:
        for unit, subject, first_handlers in starts:
            inst = _begin(actor, code, unit, subject)
            handlers = first_handlers or ([actor.effective.id] if actor.effective else None)
            begun.append((inst, subject, _enter(inst, 0, subject, actor, handlers=handlers)))
    for inst, subject, pending in begun:
        _open_items(inst, pending, subject, actor)
    db.session.flush()
    return [inst for inst, _, _ in begun]


def _begin(actor: Actor, code: str, unit: Unit, subject: Subject) -> FlowInstance:
    definition, steps = definition_for(code, unit)
    starter = actor.effective
    inst = FlowInstance(
        code=code,
        definition_id=definition.id if definition else None,
        definition_version=definition.version if definition else 0,
        steps=steps,
        subject_type=subject.type,
        subject_id=subject.id,
        unit_id=unit.id,
        status=InstanceStatus.RUNNING,
        current_step=steps[0]["key"],
        round=0,
        started_by_id=starter.id if starter else None,
        started_at=utcnow(),
    )
    db.session.add(inst)
    _log(inst, actor, "start", step_key=steps[0]["key"])
    return inst


@dataclass
class Outcome:
    """What an action did: the log row, whether the step (or the whole flow) moved on."""

    action: FlowAction
    step_before: str | None
    step_after: str | None
    finished: bool
    acting_for: User | None = None


def submit(
    actor: Actor,
    inst: FlowInstance,
    subject: Subject,
    *,
    opinion: str = "",
    choose: list[int] | None = None,
    due_at: datetime | None = None,
    step_key: str | None = None,
    log_as: str = "submit",
    details: dict[str, Any] | None = None,
) -> Outcome:
    """Agree / hand on. In an any-one step the first submit closes the others; in a
    countersign step the step completes when everyone has submitted; in a sequence the
    next person's item opens. When the step completes the next one is entered."""
    item, acting_for = need_item(actor, inst, step_key)
    before, by = inst.current_step, actor.user
    _close_item(inst, item, ItemStatus.DONE, by, subject)
    step = inst.step(before) or {}
    mode = step.get("mode", StepMode.SINGLE)
    others = [i for i in _round_items(inst) if i is not item and i.status in OPEN]
    if mode in (StepMode.ANY, StepMode.SINGLE):
        # One of the group handles it and the rest close; an added person (加签) acting only
        # gives their own opinion: the group still has to handle the step.
        for other in others:
            if not other.added and not item.added:
                _close_item(inst, other, ItemStatus.CANCELLED, by, subject)
    elif mode == StepMode.SEQUENCE:
        waiting = sorted((i for i in others if i.status is ItemStatus.WAITING), key=lambda i: i.seq)
        if waiting and not any(i.status is ItemStatus.PENDING for i in others):
            waiting[0].status = ItemStatus.PENDING
            db.session.flush()
            _open_item(inst, waiting[0], subject, by.id if by else None)
    log_details = dict(details or {})
    log_details["assignee_id"] = item.assignee_id
    record = _log(
        inst, actor, log_as, step_key=before, opinion=opinion, acting_for=acting_for, details=log_details
    )
    if not any(i.status in OPEN for i in _round_items(inst)):
        round_before = inst.round
        opened = _enter(inst, inst.step_index(before) + 1, subject, actor, chosen=choose, due_at=due_at)
        if inst.round != round_before or inst.status is InstanceStatus.DONE:
            record.details = {**record.details, "to_round": inst.round, "to_step": inst.current_step}
        _open_items(inst, opened, subject, actor)
    db.session.flush()
    return Outcome(record, before, inst.current_step, inst.status is InstanceStatus.DONE, acting_for)


def visited_steps(inst: FlowInstance) -> list[str]:
    """Earlier steps someone completed, in flow order (targets for a send-back)."""
    current = inst.step_index(inst.current_step)
    done = {i.step_key for i in inst.items if i.status is ItemStatus.DONE}
    return [s["key"] for s in inst.steps[:current] if s["key"] in done]


def send_back(
    actor: Actor,
    inst: FlowInstance,
    subject: Subject,
    *,
    opinion: str,
    to_step: str | None = None,
) -> Outcome:
    """退回 to the previous or any earlier step, with a reason. Every open item of the current
    step closes (nobody is left with a stale to-do in a countersign); the earlier step opens
    again for the people who handled it."""
    item, acting_for = need_item(actor, inst)
    if not opinion.strip():
        raise ServiceError("reason_required", "退回必须填写理由", 422, field="opinion")
    targets = visited_steps(inst)
    if not targets:
        raise ServiceError("cannot_return", "没有可退回的环节", 409)
    target = to_step or targets[-1]
    if target not in targets:
        raise ServiceError(
            "invalid_step", "只能退回到已办理过的前序环节", 422, {"allowed": targets}, field="to_step"
        )
    before, by = inst.current_step, actor.user
    for other in _round_items(inst):
        if other.status in OPEN:
            _close_item(inst, other, ItemStatus.CANCELLED, by, subject)
    last_round = max(i.round for i in inst.items if i.step_key == target and i.status is ItemStatus.DONE)
    handlers = [
        i.assignee_id
        for i in inst.items
        if i.step_key == target and i.round == last_round and i.status is ItemStatus.DONE
    ]
    record = _log(
        inst,
        actor,
        "return",
        step_key=before,
        opinion=opinion,
        acting_for=acting_for,
        details={"to_step": target, "assignee_id": item.assignee_id},
    )
    opened = _enter(inst, inst.step_index(target), subject, actor, handlers=handlers)
    record.details = {**record.details, "to_round": inst.round}
    _open_items(inst, opened, subject, actor)
    db.session.flush()
    return Outcome(record, before, inst.current_step, False, acting_for)


def _recall_point(user: User, inst: FlowInstance) -> FlowAction | None:
    """The action that entered the current round, if this person did it and nobody in the
    round has acted since (撤回 is only fair while the next handler has not acted)."""
    if inst.status is not InstanceStatus.RUNNING:
        return None
    entering = _entering_action(inst)
    if entering is None or inst.step_index(entering.step_key) >= inst.step_index(inst.current_step):
        return None
    mine = entering.actor_id == user.id or entering.on_behalf_of_id == user.id
    if not mine:
        return None
    if any(i.status in (ItemStatus.DONE, ItemStatus.TRANSFERRED) for i in _round_items(inst)):
        return None
    return entering


def _entering_action(inst: FlowInstance) -> FlowAction | None:
    """The action that entered the current round, if only skips came after it (the next
    handler did nothing yet: no 加签, 传阅 ...). When this transaction logged an action on the
    locked instance, those are the newest and the flow record need not be loaded."""
    logged = [a for i, a in LOGGED.items(db.session()) if i is inst]
    actions = logged if any(a.action != "skip" for a in logged) else inst.actions
    last = next((a for a in reversed(actions) if a.action != "skip"), None)
    if last is None or last.action == "return" or last.details.get("to_round") != inst.round:
        return None
    return last


def can_recall(user: User, inst: FlowInstance) -> bool:
    return _recall_point(user, inst) is not None


def recall(actor: Actor, inst: FlowInstance, subject: Subject, *, opinion: str = "") -> Outcome:
    """撤回: the last actor takes the document back while the next handler has not acted."""
    user = actor.effective
    point = _recall_point(user, inst) if user else None
    if point is None:
        raise ServiceError("cannot_recall", "下一环节已办理或您不是上一环节办理人，无法撤回", 409)
    before, by = inst.current_step, actor.user
    for other in _round_items(inst):
        if other.status in OPEN:
            _close_item(inst, other, ItemStatus.CANCELLED, by, subject)
    record = _log(
        inst, actor, "recall", step_key=before, opinion=opinion, details={"to_step": point.step_key}
    )
    back_to = [point.details["assignee_id"]]
    opened = _enter(inst, inst.step_index(point.step_key), subject, actor, handlers=back_to)
    record.details = {**record.details, "to_round": inst.round}
    _open_items(inst, opened, subject, actor)
    db.session.flush()
    return Outcome(record, before, inst.current_step, False, None)


def transfer(
    actor: Actor, inst: FlowInstance, subject: Subject, *, to_user: int, opinion: str = ""
) -> Outcome:
    """转办: hand my part of this step to someone else."""
    item, acting_for = need_item(actor, inst)
    _check_assignable([to_user])
    if any(i.assignee_id == to_user for i in _round_items(inst)):
        raise ServiceError("already_handler", "该人员已是本环节办理人", 409, field="to_user")
    by = actor.user
    _close_item(inst, item, ItemStatus.TRANSFERRED, by, subject)
    new = WorkItem(
        instance=inst,
        step_key=item.step_key,
        round=item.round,
        seq=item.seq,
        assignee_id=to_user,
        status=ItemStatus.PENDING,
        added=item.added,
        due_at=item.due_at,
        created_at=utcnow(),
    )
    db.session.add(new)
    db.session.flush()
    _open_item(inst, new, subject, by.id if by else None)
    record = _log(
        inst,
        actor,
        "transfer",
        opinion=opinion,
        acting_for=acting_for,
        details={"to_user": to_user, "assignee_id": item.assignee_id},
    )
    db.session.flush()
    return Outcome(record, inst.current_step, inst.current_step, False, acting_for)


def add_handlers(
    actor: Actor, inst: FlowInstance, subject: Subject, *, user_ids: list[int], opinion: str = ""
) -> Outcome:
    """加签: more people must also act on this step before it completes (in a sequence,
    right after me)."""
    item, acting_for = need_item(actor, inst)
    ids = list(dict.fromkeys(user_ids))
    if not ids:
        raise ServiceError("validation_error", "请选择加签人员", 422, field="user_ids")
    _check_assignable(ids)
    current = _round_items(inst)
    dup = [u for u in ids if any(i.assignee_id == u for i in current)]
    if dup:
        raise ServiceError(
            "already_handler", "所选人员已是本环节办理人", 409, {"user_ids": dup}, field="user_ids"
        )
    sequential = (inst.step(inst.current_step) or {}).get("mode") == StepMode.SEQUENCE
    by = actor.user
    if sequential:
        for later in current:
            if later.seq > item.seq:
                later.seq += len(ids)
    for n, uid in enumerate(ids):
        new = WorkItem(
            instance=inst,
            step_key=item.step_key,
            round=item.round,
            seq=item.seq + n + 1 if sequential else 0,
            assignee_id=uid,
            status=ItemStatus.WAITING if sequential else ItemStatus.PENDING,
            added=True,
            due_at=item.due_at,
            created_at=utcnow(),
        )
        db.session.add(new)
        if not sequential:
            db.session.flush()
            _open_item(inst, new, subject, by.id if by else None)
    record = _log(
        inst,
        actor,
        "add_handler",
        opinion=opinion,
        acting_for=acting_for,
        details={"user_ids": ids, "assignee_id": item.assignee_id},
    )
    db.session.flush()
    return Outcome(record, inst.current_step, inst.current_step, False, acting_for)


def log_only(
    actor: Actor, inst: FlowInstance, action: str, *, opinion: str = "", details: dict[str, Any] | None = None
) -> FlowAction:
    """Record a domain action that does not move the flow (e.g. 传阅 sent to readers) —
    only the current step's handler may do it."""
    _, acting_for = need_item(actor, inst)
    record = _log(inst, actor, action, opinion=opinion, acting_for=acting_for, details=details)
    db.session.flush()
    return record


def close_part(
    actor: Actor,
    inst: FlowInstance,
    subject: Subject,
    assignee_ids: list[int],
    *,
    log_as: str,
    opinion: str = "",
    details: dict[str, Any] | None = None,
) -> FlowAction:
    """One group's part of an any-one step is done (a joint document's seal approved by one
    unit's keeper): the actor's item and the group's others close; the step stays open for
    the rest. The actor must hold an item of the step."""
    item, acting_for = need_item(actor, inst)
    group = set(assignee_ids) | {item.assignee_id}
    for other in _round_items(inst):
        if other.status in OPEN and other.assignee_id in group:
            done = other is item
            _close_item(inst, other, ItemStatus.DONE if done else ItemStatus.CANCELLED, actor.user, subject)
    record = _log(inst, actor, log_as, opinion=opinion, acting_for=acting_for, details=details)
    db.session.flush()
    return record


def cancel(
    actor: Actor, inst: FlowInstance, subject: Subject, *, opinion: str, action: str = "cancel"
) -> FlowAction:
    """End a flow early (a refused incoming document, a withdrawn draft): every open item closes."""
    for other in inst.items:
        if other.status in OPEN:
            _close_item(inst, other, ItemStatus.CANCELLED, actor.user, subject)
    record = _log(inst, actor, action, opinion=opinion)
    inst.status = InstanceStatus.CANCELLED
    inst.current_step = None
    inst.finished_at = utcnow()
    db.session.flush()
    return record


# ---------------------------------------------------------------- reading


def instance_for(subject_type: str, subject_id: int) -> FlowInstance | None:
    known = db.session.info.get(_LOADED, {}).get((subject_type, subject_id))
    if known is not None and known in db.session:
        return known
    return db.session.scalar(
        select(FlowInstance).where(
            FlowInstance.subject_type == subject_type, FlowInstance.subject_id == subject_id
        )
    )


def participant_subjects(user_ids: list[int], subject_type: str):
    """A subquery of subject ids where any of these people had a part (for read access)."""
    return (
        select(FlowInstance.subject_id)
        .join(WorkItem, WorkItem.instance_id == FlowInstance.id)
        .where(FlowInstance.subject_type == subject_type, WorkItem.assignee_id.in_(user_ids))
    )


def actions_for(user: User, inst: FlowInstance | None) -> dict[str, Any]:
    """What this person may do on the flow now: generic and step actions, and for whom."""
    if inst is None or inst.status is not InstanceStatus.RUNNING:
        return {"actions": [], "acting_for": None, "step": None}
    found = my_item(user, inst)
    actions: list[str] = []
    acting_for = None
    if found is not None:
        _item, principal = found
        acting_for = {"id": principal.id, "name": principal.name} if principal else None
        spec = FLOWS.get(inst.code)
        actions.extend(spec.step_actions.get(inst.current_step or "", ()) if spec else ())
        step = inst.step(inst.current_step) or {}
        if not step.get("no_submit"):
            actions.append("submit")
        if visited_steps(inst):
            actions.append("return")
        actions.extend(["transfer", "add_handler"])
    if can_recall(user, inst):
        actions.append("recall")
    return {"actions": actions, "acting_for": acting_for, "step": inst.current_step}


def next_step_preview(inst: FlowInstance, subject: Subject) -> dict[str, Any] | None:
    """The step a submit would lead to, whether its handlers are chosen, and the default
    candidates (for the handler picker)."""
    if inst.status is not InstanceStatus.RUNNING:
        return None
    idx = inst.step_index(inst.current_step) + 1
    if idx >= len(inst.steps):
        return None
    step = inst.steps[idx]
    defaults = resolve_handlers(step, subject, None)
    by_id = by_ids(User, defaults)
    return {
        "key": step["key"],
        "name": step["name"],
        "mode": step.get("mode", "single"),
        "choose": step.get("choose", "none"),
        "optional": bool(step.get("optional")),
        "candidates": [{"id": i, "name": by_id[i].name} for i in defaults if i in by_id],
    }


def timeline(inst: FlowInstance | None) -> list[dict[str, Any]]:
    if inst is None:
        return []
    return [
        {
            "id": a.id,
            "step": a.step_key,
            "step_name": a.step_name,
            "action": a.action,
            "action_label": ACTION_LABELS.get(a.action, a.action),
            "actor": {"id": a.actor_id, "name": a.actor_name},
            "on_behalf_of": {"id": a.on_behalf_of_id, "name": a.on_behalf_of_name}
            if a.on_behalf_of_id
            else None,
            "opinion": a.opinion,
            "details": a.details,
            "created_at": a.created_at.isoformat(),
        }
        for a in inst.actions
    ]


def current_handlers(inst: FlowInstance | None) -> list[dict[str, Any]]:
    if inst is None or inst.status is not InstanceStatus.RUNNING:
        return []
    return [
        {"id": i.assignee_id, "name": i.assignee.name, "status": i.status.value}
        for i in sorted(_round_items(inst), key=lambda i: (i.seq, i.id))
        if i.status in OPEN
    ]


def save_definition(
    actor: Actor, code: str, unit: Unit | None, steps: list[dict[str, Any]], name: str | None = None
) -> FlowDefinition:
    """Save a unit's own version of a flow (unit admins for their unit; admins for the default).
    The caller checks who may; running flows keep their snapshot."""
    steps = validate_steps(code, steps)
    unit_id = unit.id if unit else None
    d = db.session.scalar(
        select(FlowDefinition).where(
            FlowDefinition.code == code,
            FlowDefinition.unit_id == unit_id if unit_id else FlowDefinition.unit_id.is_(None),
        )
    )
    if d is None:
        d = FlowDefinition(code=code, unit_id=unit_id, name=name or FLOWS[code].name, steps=steps, version=1)
        db.session.add(d)
    else:
        d.steps, d.version = steps, d.version + 1
        d.name = name or d.name
    d.updated_by_id = actor.user.id if actor.user else None
    d.updated_at = utcnow()
    db.session.flush()
    return d


def reset_definition(unit: Unit, code: str) -> bool:
    d = db.session.scalar(
        select(FlowDefinition).where(FlowDefinition.code == code, FlowDefinition.unit_id == unit.id)
    )
    if d is None:
        return False
    db.session.delete(d)
    db.session.flush()
    return True
