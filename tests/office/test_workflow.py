"""The workflow engine on a small flow of its own: every step mode (single, 抢办, 会签, sequence),
every generic action (submit, 退回, 撤回, 转办, 加签), acting for a leader (secretary, delegate),
with the work items, the to-dos the engine opens and closes, and the flow record checked at
each step. Two people racing on one 抢办 step: exactly one wins, the other gets 409."""

from __future__ import annotations

import itertools
import threading
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from office.context import SYSTEM, Actor
from office.db import utcnow
from office.errors import ServiceError
from office.extensions import db
from office.identity import services as identity
from office.identity.models import Delegation, SecretaryLink, Unit, User
from office.todos.models import Todo, TodoCategory, TodoStatus
from office.workflow import services as flow
from office.workflow.models import FlowAction, FlowInstance, InstanceStatus, WorkItem
from tests.conftest import PASSWORD

SUBJECT_TYPE = "wf_case"

STEPS: list[dict[str, Any]] = [
    {"key": "start", "name": "发起", "mode": "single", "handlers": [{"type": "people", "key": "starter"}]},
    {"key": "grab", "name": "抢办", "mode": "any", "handlers": [{"type": "people", "key": "grabbers"}]},
    {
        "key": "pick",
        "name": "指定办理",
        "mode": "single",
        "optional": True,
        "choose": "optional",
        "handlers": [{"type": "chosen"}],
    },
    {"key": "joint", "name": "会签", "mode": "all", "handlers": [{"type": "people", "key": "signers"}]},
    {
        "key": "chain",
        "name": "依次审核",
        "mode": "sequence",
        "handlers": [{"type": "people", "key": "chain"}],
    },
    {"key": "end", "name": "办结", "mode": "single", "handlers": [{"type": "people", "key": "starter"}]},
]

flow.register_flow(
    flow.FlowSpec(
        code="wf_test",
        name="测试流程",
        default_steps=STEPS,
        required_steps=("start", "end"),
        step_actions={"end": ("close",)},
    )
)

_ids = itertools.count(1)


class Case:
    """One running flow over a fake subject; acts as a given person in a fresh transaction."""

    def __init__(self, app, unit: Unit, people: dict[str, User], roles: dict[str, list[str]]) -> None:
        self.app, self.people = app, people
        self.subject = flow.Subject(
            type=SUBJECT_TYPE,
            id=next(_ids),
            title="测试事项",
            url="/cases/1",
            todo_kind="case",
            units={"unit": unit.id},
            people={k: [people[n].id for n in v] for k, v in roles.items()},
        )
        with app.app_context():
            starter = db.session.get(User, self.subject.people["starter"][0])
            inst = flow.start(Actor(user=starter), "wf_test", db.session.get(Unit, unit.id), self.subject)
            db.session.commit()
            self.inst_id = inst.id

    def uid(self, name: str) -> int:
        return self.people[name].id

    def act(self, who: str, fn: str, *, for_: str | None = None, **kw: Any) -> SimpleNamespace:
        """Call ``flow.<fn>`` as ``who`` (explicitly for ``for_``) and commit; roll back on error.
        Returns the outcome as plain values."""
        with self.app.app_context():
            user = db.session.get(User, self.uid(who))
            principal = db.session.get(User, self.uid(for_)) if for_ else None
            try:
                inst = flow.lock(self.inst_id)
                out = getattr(flow, fn)(Actor(user=user, on_behalf_of=principal), inst, self.subject, **kw)
                result = SimpleNamespace(
                    step_before=out.step_before,
                    step_after=out.step_after,
                    finished=out.finished,
                    acting_for=out.acting_for.id if out.acting_for else None,
                    action=out.action.action,
                    details=dict(out.action.details),
                )
                db.session.commit()
            except Exception:
                db.session.rollback()
                raise
            return result

    def state(self) -> dict[str, Any]:
        with self.app.app_context():
            inst = db.session.get(FlowInstance, self.inst_id)
            return {
                "status": inst.status.value,
                "step": inst.current_step,
                "round": inst.round,
                "finished_at": inst.finished_at,
            }

    def items(self, step: str | None = None, round_: int | None = None) -> dict[int, str]:
        """{assignee: status} of the current round (or the given step's latest round)."""
        with self.app.app_context():
            inst = db.session.get(FlowInstance, self.inst_id)
            rows = db.session.scalars(
                select(WorkItem).where(WorkItem.instance_id == self.inst_id).order_by(WorkItem.id)
            ).all()
            if step is not None:
                rows = [r for r in rows if r.step_key == step]
                r = round_ if round_ is not None else max((x.round for x in rows), default=0)
            else:
                r = inst.round if round_ is None else round_
            return {x.assignee_id: x.status.value for x in rows if x.round == r}

    def item_rows(self) -> list[WorkItem]:
        with self.app.app_context():
            rows = db.session.scalars(
                select(WorkItem).where(WorkItem.instance_id == self.inst_id).order_by(WorkItem.id)
            ).all()
            db.session.expunge_all()
            return list(rows)

    def todos(self, status: str | None = "pending") -> dict[int, set[str]]:
        """{user: {todo step}} of this subject's to-dos with the given status."""
        with self.app.app_context():
            stmt = select(Todo).where(Todo.source_type == SUBJECT_TYPE, Todo.source_id == self.subject.id)
            if status:
                stmt = stmt.where(Todo.status == TodoStatus(status))
            out: dict[int, set[str]] = {}
            for t in db.session.scalars(stmt):
                out.setdefault(t.user_id, set()).add(t.step)
            return out

    def todo_rows(self) -> list[Todo]:
        with self.app.app_context():
            rows = db.session.scalars(
                select(Todo)
                .where(Todo.source_type == SUBJECT_TYPE, Todo.source_id == self.subject.id)
                .order_by(Todo.id)
            ).all()
            db.session.expunge_all()
            return list(rows)

    def log(self) -> list[FlowAction]:
        with self.app.app_context():
            rows = db.session.scalars(
                select(FlowAction).where(FlowAction.instance_id == self.inst_id).order_by(FlowAction.id)
            ).all()
            db.session.expunge_all()
            return list(rows)

    def actions_for(self, who: str) -> dict[str, Any]:
        with self.app.app_context():
            inst = db.session.get(FlowInstance, self.inst_id)
            return flow.actions_for(db.session.get(User, self.uid(who)), inst)

    def to(self, step: str) -> None:
        """Walk the default path to ``step`` with the first handler acting."""
        order = [s["key"] for s in STEPS]
        for _ in range(20):
            cur = self.state()["step"]
            if cur == step:
                return
            assert order.index(cur) < order.index(step)
            pending = [u for u, s in self.items().items() if s == "pending"]
            who = next(n for n, p in self.people.items() if p.id == pending[0])
            self.act(who, "submit", opinion="同意")
        raise AssertionError("did not reach " + step)


TEAM = {
    "starter": ("发起人", "staff"),
    **{f"g{i}": (f"抢办{i}", "staff") for i in (1, 2, 3)},
    **{f"s{i}": (f"会签{i}", "staff") for i in (1, 2, 3)},
    **{f"c{i}": (f"审核{i}", "staff") for i in (1, 2, 3)},
    "x": ("新增人", "staff"),
    "y": ("另一人", "staff"),
    "leader": ("李省长", "leader"),
    "secretary": ("赵秘书", "secretary"),
}


@pytest.fixture
def team(app) -> dict[str, Any]:
    """One unit and its people, made in one transaction (the engine needs no more)."""
    with app.app_context():
        unit = identity.create_unit(SYSTEM, name="测试厅", kind="department", short_name="测厅")
        users = {
            key: identity.create_user(
                SYSTEM,
                username=f"wf_{key}",
                name=name,
                password=PASSWORD,
                posts=[{"unit_id": unit.id, "title": "科员", "roles": [role]}],
                audit=False,
            )
            for key, (name, role) in TEAM.items()
        }
        db.session.commit()
        db.session.refresh(unit)
        for u in users.values():
            db.session.refresh(u)
        db.session.expunge_all()
    return {"unit": unit, "people": users}


DEFAULT_ROLES = {
    "starter": ["starter"],
    "grabbers": ["g1", "g2", "g3"],
    "signers": ["s1", "s2", "s3"],
    "chain": ["c1", "c2", "c3"],
}


@pytest.fixture
def case(app, team) -> Case:
    return Case(app, team["unit"], team["people"], DEFAULT_ROLES)


def make_case(app, team, **roles: list[str]) -> Case:
    return Case(app, team["unit"], team["people"], {**DEFAULT_ROLES, **roles})


def ids(case: Case, *names: str) -> set[int]:
    return {case.uid(n) for n in names}


def with_status(items: dict[int, str], status: str) -> set[int]:
    return {u for u, s in items.items() if s == status}


def error(exc_info) -> tuple[int, str]:
    return exc_info.value.status, exc_info.value.code


# ---------------------------------------------------------------- start and single


def test_start_opens_the_starters_item_and_todo(case):
    assert case.state() == {"status": "running", "step": "start", "round": 1, "finished_at": None}
    assert case.items() == {case.uid("starter"): "pending"}
    assert case.todos() == {case.uid("starter"): {"start#1"}}
    (todo,) = case.todo_rows()
    assert todo.kind == "case" and todo.title == "发起：测试事项" and todo.source_url == "/cases/1"
    assert [(a.action, a.step_key, a.actor_id) for a in case.log()] == [
        ("start", "start", case.uid("starter"))
    ]


def test_single_submit_closes_the_todo_and_opens_the_next_step(case):
    out = case.act("starter", "submit", opinion="请办理")
    assert (out.step_before, out.step_after, out.finished) == ("start", "grab", False)
    assert case.items(step="start") == {case.uid("starter"): "done"}
    assert case.todos("done") == {case.uid("starter"): {"start#1"}}
    assert case.todos() == {u: {"grab#2"} for u in ids(case, "g1", "g2", "g3")}
    assert all(t.sender_id == case.uid("starter") for t in case.todo_rows() if t.step == "grab#2")
    submit = case.log()[-1]
    assert (submit.action, submit.step_key, submit.opinion) == ("submit", "start", "请办理")
    assert submit.details["to_step"] == "grab" and submit.details["to_round"] == 2


def test_not_your_turn(case):
    with pytest.raises(ServiceError) as exc:
        case.act("g1", "submit")
    assert error(exc) == (409, "not_your_turn")
    with pytest.raises(ServiceError) as exc:  # right person, wrong step named
        case.act("starter", "submit", step_key="grab")
    assert error(exc) == (409, "not_your_turn")
    assert case.state()["step"] == "start"


# ---------------------------------------------------------------- 抢办 (any)


def test_any_first_submit_closes_the_others_items_and_todos(case):
    case.to("grab")
    case.act("g2", "submit", opinion="我来办")
    assert case.items(step="grab") == {
        case.uid("g1"): "cancelled",
        case.uid("g2"): "done",
        case.uid("g3"): "cancelled",
    }
    assert case.todos("cancelled") == {u: {"grab#2"} for u in ids(case, "g1", "g3")}
    assert case.todos("done")[case.uid("g2")] == {"grab#2"}
    assert case.todos() == {u: {"joint#3"} for u in ids(case, "s1", "s2", "s3")}
    # the others find the step gone
    for late in ("g1", "g3"):
        with pytest.raises(ServiceError) as exc:
            case.act(late, "submit")
        assert error(exc) == (409, "not_your_turn")
    assert [a.action for a in case.log()].count("submit") == 2


# ---------------------------------------------------------------- 会签 (all)


def test_all_completes_only_when_everyone_submitted(case):
    case.to("joint")
    case.act("s1", "submit", opinion="同意")
    assert case.state()["step"] == "joint"
    assert case.items() == {case.uid("s1"): "done", case.uid("s2"): "pending", case.uid("s3"): "pending"}
    assert set(case.todos()) == ids(case, "s2", "s3")
    with pytest.raises(ServiceError) as exc:  # done once is done
        case.act("s1", "submit")
    assert error(exc) == (409, "not_your_turn")
    out = case.act("s3", "submit", opinion="同意")
    assert out.step_after == "joint" and "to_step" not in out.details
    out = case.act("s2", "submit", opinion="原则同意")
    assert out.step_after == "chain" and out.details["to_step"] == "chain"
    assert case.items(step="joint", round_=3) == {u: "done" for u in ids(case, "s1", "s2", "s3")}
    assert [(a.actor_name, a.opinion) for a in case.log() if a.step_key == "joint"] == [
        ("会签1", "同意"),
        ("会签3", "同意"),
        ("会签2", "原则同意"),
    ]


# ---------------------------------------------------------------- sequence


def test_sequence_opens_the_next_in_order_and_the_flow_finishes(case):
    case.to("chain")
    assert case.items() == {case.uid("c1"): "pending", case.uid("c2"): "waiting", case.uid("c3"): "waiting"}
    assert set(case.todos()) == ids(case, "c1")
    with pytest.raises(ServiceError) as exc:
        case.act("c2", "submit")
    assert error(exc) == (409, "not_your_turn")
    case.act("c1", "submit")
    assert case.items() == {case.uid("c1"): "done", case.uid("c2"): "pending", case.uid("c3"): "waiting"}
    assert set(case.todos()) == ids(case, "c2")
    case.act("c2", "submit")
    assert set(case.todos()) == ids(case, "c3")
    case.act("c3", "submit")
    assert case.state()["step"] == "end"
    assert case.todos() == {case.uid("starter"): {"end#5"}}
    out = case.act("starter", "submit", opinion="办结")
    assert out.finished and out.step_after is None
    state = case.state()
    assert state["status"] == "done" and state["step"] is None and state["finished_at"] is not None
    assert case.todos() == {}
    assert case.actions_for("starter") == {"actions": [], "acting_for": None, "step": None}
    with pytest.raises(ServiceError) as exc:
        case.act("starter", "submit")
    assert error(exc) == (409, "flow_finished")


# ---------------------------------------------------------------- optional and chosen steps


def test_optional_step_is_skipped_without_a_handler_and_taken_when_chosen(app, team):
    c = make_case(app, team)
    c.to("grab")
    c.act("g1", "submit")
    assert c.state()["step"] == "joint"
    skip = [a for a in c.log() if a.action == "skip"]
    assert [(a.step_key, a.details) for a in skip] == [("pick", {"reason": "no_handler"})]

    c = make_case(app, team)
    c.to("grab")
    c.act("g1", "submit", choose=[c.uid("x")])
    assert c.state()["step"] == "pick" and c.items() == {c.uid("x"): "pending"}
    assert set(c.todos()) == {c.uid("x")}


def test_required_step_without_handlers_is_422_and_changes_nothing(app, team):
    c = make_case(app, team, signers=[])
    c.to("grab")
    with pytest.raises(ServiceError) as exc:
        c.act("g1", "submit")
    assert error(exc) == (422, "no_handler") and exc.value.details["step"] == "joint"
    assert c.state()["step"] == "grab" and with_status(c.items(), "pending") == ids(c, "g1", "g2", "g3")


def test_choosing_an_unknown_or_inactive_person_is_422(app, team, case):
    case.to("grab")
    with pytest.raises(ServiceError) as exc:
        case.act("g1", "submit", choose=[999_999])
    assert error(exc) == (422, "unknown_user")
    with app.app_context():
        db.session.get(User, case.uid("y")).active = False
        db.session.commit()
    with pytest.raises(ServiceError) as exc:
        case.act("g1", "submit", choose=[case.uid("y")])
    assert error(exc) == (422, "unknown_user")
    assert case.state()["step"] == "grab"


# ---------------------------------------------------------------- 退回


def test_send_back_needs_a_reason_and_somewhere_to_go(case):
    with pytest.raises(ServiceError) as exc:
        case.act("starter", "send_back", opinion="  ")
    assert error(exc) == (422, "reason_required")
    with pytest.raises(ServiceError) as exc:
        case.act("starter", "send_back", opinion="重写")
    assert error(exc) == (409, "cannot_return")
    case.to("grab")
    with pytest.raises(ServiceError) as exc:
        case.act("g1", "send_back", opinion="")
    assert error(exc) == (422, "reason_required")
    with pytest.raises(ServiceError) as exc:  # only steps already handled
        case.act("g1", "send_back", opinion="退", to_step="chain")
    assert error(exc)[1] == "invalid_step" and exc.value.details["allowed"] == ["start"]
    with pytest.raises(ServiceError) as exc:  # not a handler
        case.act("s1", "send_back", opinion="退")
    assert error(exc) == (409, "not_your_turn")


def test_send_back_to_the_previous_step(case):
    case.to("grab")
    out = case.act("g3", "send_back", opinion="材料不全，请补充")
    assert (out.step_before, out.step_after) == ("grab", "start")
    assert case.items(step="grab") == {u: "cancelled" for u in ids(case, "g1", "g2", "g3")}
    assert case.todos("cancelled") == {u: {"grab#2"} for u in ids(case, "g1", "g2", "g3")}
    assert case.state() == {"status": "running", "step": "start", "round": 3, "finished_at": None}
    assert case.items() == {case.uid("starter"): "pending"}
    assert case.todos() == {case.uid("starter"): {"start#3"}}
    ret = case.log()[-1]
    assert (ret.action, ret.step_key, ret.opinion, ret.actor_name) == (
        "return",
        "grab",
        "材料不全，请补充",
        "抢办3",
    )
    assert ret.details["to_step"] == "start" and ret.details["to_round"] == 3
    # sent again, the step opens afresh for all three
    case.act("starter", "submit", opinion="已补充")
    assert case.todos() == {u: {"grab#4"} for u in ids(case, "g1", "g2", "g3")}


def test_send_back_in_a_countersign_cancels_every_open_item(case):
    case.to("joint")
    case.act("s1", "submit", opinion="同意")
    out = case.act("s2", "send_back", opinion="口径不一致")
    assert out.step_after == "grab"
    # nobody's pending item is left behind in the countersign
    assert case.items(step="joint") == {
        case.uid("s1"): "done",
        case.uid("s2"): "cancelled",
        case.uid("s3"): "cancelled",
    }
    assert not any(s.startswith("joint") for steps in case.todos().values() for s in steps)
    # the earlier 抢办 step reopens for the one who handled it, not the whole group
    assert case.items() == {case.uid("g1"): "pending"}
    assert case.todos() == {case.uid("g1"): {"grab#4"}}


def test_send_back_to_any_earlier_step_and_to_a_countersign_reopens_it_for_all(case):
    case.to("chain")
    case.act("c1", "submit")
    out = case.act("c2", "send_back", opinion="请会签各方再看", to_step="joint")
    assert out.step_after == "joint"
    assert case.items() == {u: "pending" for u in ids(case, "s1", "s2", "s3")}
    assert case.items(step="chain") == {
        case.uid("c1"): "done",
        case.uid("c2"): "cancelled",
        case.uid("c3"): "cancelled",
    }
    assert set(case.todos()) == ids(case, "s1", "s2", "s3")
    for s in ("s1", "s2", "s3"):
        case.act(s, "submit")
    # the sequence starts over from its first person
    assert case.items() == {case.uid("c1"): "pending", case.uid("c2"): "waiting", case.uid("c3"): "waiting"}
    out = case.act("c1", "send_back", opinion="重新发起", to_step="start")
    assert case.items() == {case.uid("starter"): "pending"}
    assert case.todos() == {case.uid("starter"): {f"start#{case.state()['round']}"}}


# ---------------------------------------------------------------- 撤回


def test_recall_by_the_last_actor_while_the_next_has_not_acted(case):
    case.to("grab")
    case.act("g1", "submit", opinion="同意")
    assert "recall" in case.actions_for("g1")["actions"]
    assert "recall" not in case.actions_for("g2")["actions"]
    out = case.act("g1", "recall", opinion="还需修改")
    assert (out.step_before, out.step_after) == ("joint", "grab")
    assert case.items(step="joint") == {u: "cancelled" for u in ids(case, "s1", "s2", "s3")}
    assert not any(s.startswith("joint") for steps in case.todos().values() for s in steps)
    assert case.items() == {case.uid("g1"): "pending"}
    assert case.todos() == {case.uid("g1"): {"grab#4"}}
    rec = case.log()[-1]
    assert (rec.action, rec.step_key, rec.actor_name, rec.details["to_step"]) == (
        "recall",
        "joint",
        "抢办1",
        "grab",
    )
    # recalled, it cannot be recalled again (there is nothing after it)
    with pytest.raises(ServiceError) as exc:
        case.act("g1", "recall")
    assert error(exc) == (409, "cannot_recall")


def test_recall_right_after_an_action_matches_the_flow_record(app, case):
    """In the transaction that acted, 撤回 is decided from the actions it logged; the answer
    must equal the one read from the whole flow record, for everyone, after every kind of
    action (submit, an optional step skipped, a countersign part, 加签, 退回, 撤回, 转办)."""
    script = [
        ("starter", "submit", {}, True),
        ("g1", "submit", {}, True),  # 指定办理 skipped: nobody chosen
        ("s1", "submit", {}, False),  # one part of the countersign: the step stays
        ("s2", "add_handlers", {"user_ids": None}, False),
        ("s2", "send_back", {"opinion": "退回重办"}, False),
        ("g1", "submit", {}, True),  # sent back to the one who handled 抢办
        ("g1", "recall", {}, False),
        ("g1", "transfer", {"to_user": None}, False),
    ]
    for who, fn, kw, may_recall in script:
        kw = dict(kw)
        if "user_ids" in kw:
            kw["user_ids"] = [case.uid("x")]
        if "to_user" in kw:
            kw["to_user"] = case.uid("y")
        with app.app_context():
            inst = flow.lock(case.inst_id)
            getattr(flow, fn)(Actor(user=db.session.get(User, case.uid(who))), inst, case.subject, **kw)
            people = {n: db.session.get(User, p.id) for n, p in case.people.items()}
            fast = {n: flow.can_recall(u, inst) for n, u in people.items()}
            flow.LOGGED.take(db.session())
            db.session.expire(inst, ["actions"])
            slow = {n: flow.can_recall(u, inst) for n, u in people.items()}
            assert fast == slow, (who, fn)
            assert fast[who] is may_recall, (who, fn)
            db.session.commit()


def test_recall_is_409_once_the_next_has_added_a_handler(case):
    case.to("grab")
    case.act("g1", "submit")
    case.act("s1", "add_handlers", user_ids=[case.uid("x")])
    assert "recall" not in case.actions_for("g1")["actions"]
    with pytest.raises(ServiceError) as exc:
        case.act("g1", "recall")
    assert error(exc) == (409, "cannot_recall")
    assert case.items()[case.uid("x")] == "pending"


def test_recall_is_409_once_the_next_has_acted_or_for_anyone_else(case):
    case.to("grab")
    case.act("g1", "submit")
    with pytest.raises(ServiceError) as exc:
        case.act("g2", "recall")
    assert error(exc) == (409, "cannot_recall")
    case.act("s1", "submit")  # one countersigner acted: too late
    with pytest.raises(ServiceError) as exc:
        case.act("g1", "recall")
    assert error(exc) == (409, "cannot_recall")
    assert "recall" not in case.actions_for("g1")["actions"]
    assert case.state()["step"] == "joint"


# ---------------------------------------------------------------- 转办


def test_transfer_hands_my_part_to_someone_else(case):
    case.to("joint")
    out = case.act("s2", "transfer", to_user=case.uid("x"), opinion="请新增人代为会签")
    assert out.step_after == "joint"
    assert case.items() == {
        case.uid("s1"): "pending",
        case.uid("s2"): "transferred",
        case.uid("s3"): "pending",
        case.uid("x"): "pending",
    }
    assert case.todos("done")[case.uid("s2")] == {"joint#3"}
    assert set(case.todos()) == ids(case, "s1", "s3", "x")
    log = case.log()[-1]
    assert (log.action, log.details["to_user"], log.details["assignee_id"]) == (
        "transfer",
        case.uid("x"),
        case.uid("s2"),
    )
    with pytest.raises(ServiceError) as exc:
        case.act("s2", "submit")
    assert error(exc) == (409, "not_your_turn")
    with pytest.raises(ServiceError) as exc:  # already a handler of the step
        case.act("s1", "transfer", to_user=case.uid("s3"))
    assert error(exc) == (409, "already_handler")
    with pytest.raises(ServiceError) as exc:
        case.act("s1", "transfer", to_user=999_999)
    assert error(exc) == (422, "unknown_user")
    for who in ("s1", "s3", "x"):
        case.act(who, "submit")
    assert case.state()["step"] == "chain"


def test_transfer_in_a_sequence_keeps_the_place(case):
    case.to("chain")
    case.act("c1", "transfer", to_user=case.uid("x"))
    assert case.items() == {
        case.uid("c1"): "transferred",
        case.uid("x"): "pending",
        case.uid("c2"): "waiting",
        case.uid("c3"): "waiting",
    }
    case.act("x", "submit")
    assert with_status(case.items(), "pending") == ids(case, "c2")


# ---------------------------------------------------------------- 加签


def test_add_handler_in_an_any_step_must_also_act(case):
    case.to("grab")
    out = case.act("g1", "add_handlers", user_ids=[case.uid("x"), case.uid("y")], opinion="请法规处一并把关")
    assert out.step_after == "grab"
    assert set(case.todos()) == ids(case, "g1", "g2", "g3", "x", "y")
    case.act("g1", "submit")
    # the group's other items close; the added people are still required
    assert case.items() == {
        case.uid("g1"): "done",
        case.uid("g2"): "cancelled",
        case.uid("g3"): "cancelled",
        case.uid("x"): "pending",
        case.uid("y"): "pending",
    }
    assert case.state()["step"] == "grab"
    case.act("x", "submit")
    assert case.state()["step"] == "grab"
    case.act("y", "submit")
    assert case.state()["step"] == "joint"
    added = {r.assignee_id for r in case.item_rows() if r.added}
    assert added == ids(case, "x", "y")


def test_an_added_handler_acting_first_does_not_stand_in_for_the_group(case):
    case.to("grab")
    case.act("g1", "add_handlers", user_ids=[case.uid("x")])
    case.act("x", "submit", opinion="无意见")
    # 加签 adds a required opinion: one of the group must still handle the step
    assert case.state()["step"] == "grab"
    assert with_status(case.items(), "pending") == ids(case, "g1", "g2", "g3")
    case.act("g3", "submit")
    assert case.state()["step"] == "joint"
    assert case.items(step="grab") == {
        case.uid("g1"): "cancelled",
        case.uid("g2"): "cancelled",
        case.uid("g3"): "done",
        case.uid("x"): "done",
    }


def test_add_handler_in_a_countersign(case):
    case.to("joint")
    case.act("s1", "add_handlers", user_ids=[case.uid("x")])
    for who in ("s1", "s2", "s3"):
        case.act(who, "submit")
    assert case.state()["step"] == "joint"
    case.act("x", "submit")
    assert case.state()["step"] == "chain"


def test_add_handler_in_a_sequence_goes_right_after_me(case):
    case.to("chain")
    case.act("c1", "add_handlers", user_ids=[case.uid("x")])
    assert case.items()[case.uid("x")] == "waiting" and set(case.todos()) == ids(case, "c1")
    case.act("c1", "submit")
    assert with_status(case.items(), "pending") == ids(case, "x")
    assert set(case.todos()) == ids(case, "x")
    case.act("x", "submit")
    assert with_status(case.items(), "pending") == ids(case, "c2")


def test_add_handler_rejects_nobody_duplicates_and_strangers(case):
    case.to("grab")
    with pytest.raises(ServiceError) as exc:
        case.act("g1", "add_handlers", user_ids=[])
    assert error(exc) == (422, "validation_error")
    with pytest.raises(ServiceError) as exc:
        case.act("g1", "add_handlers", user_ids=[case.uid("g2")])
    assert error(exc) == (409, "already_handler") and exc.value.details["user_ids"] == [case.uid("g2")]
    with pytest.raises(ServiceError) as exc:
        case.act("g1", "add_handlers", user_ids=[424_242])
    assert error(exc) == (422, "unknown_user")
    with pytest.raises(ServiceError) as exc:
        case.act("s1", "add_handlers", user_ids=[case.uid("x")])
    assert error(exc) == (409, "not_your_turn")


# ---------------------------------------------------------------- acting for a leader


def _link_secretary(app, team) -> None:
    with app.app_context():
        db.session.add(
            SecretaryLink(secretary_id=team["people"]["secretary"].id, leader_id=team["people"]["leader"].id)
        )
        db.session.commit()


def test_secretary_acts_for_the_leader(app, team):
    _link_secretary(app, team)
    c = make_case(app, team, grabbers=["leader"])
    c.to("grab")
    info = c.actions_for("secretary")
    assert "submit" in info["actions"] and info["acting_for"] == {"id": c.uid("leader"), "name": "李省长"}
    out = c.act("secretary", "submit", opinion="同意（代李省长）")
    assert out.acting_for == c.uid("leader")
    rec = next(a for a in c.log() if a.action == "submit" and a.step_key == "grab")
    assert (rec.actor_id, rec.actor_name, rec.on_behalf_of_id, rec.on_behalf_of_name) == (
        c.uid("secretary"),
        "赵秘书",
        c.uid("leader"),
        "李省长",
    )
    item = next(i for i in c.item_rows() if i.step_key == "grab")
    assert item.assignee_id == c.uid("leader") and item.acted_by_id == c.uid("secretary")
    todo = next(t for t in c.todo_rows() if t.step == "grab#2")
    assert (todo.user_id, todo.status, todo.done_by_id) == (
        c.uid("leader"),
        TodoStatus.DONE,
        c.uid("secretary"),
    )
    timeline = [e for e in flow_timeline(app, c) if e["step"] == "grab"]
    assert timeline[-1]["on_behalf_of"] == {"id": c.uid("leader"), "name": "李省长"}
    # the leader's secretary recalls it, and the leader gets it back
    c.act("secretary", "recall")
    assert c.items() == {c.uid("leader"): "pending"}


def test_acting_explicitly_on_behalf_of(app, team):
    _link_secretary(app, team)
    c = make_case(app, team, grabbers=["g1", "leader"])
    c.to("grab")
    c.act("secretary", "submit", for_="leader", opinion="代签")
    rec = next(a for a in c.log() if a.action == "submit" and a.step_key == "grab")
    assert (rec.actor_id, rec.on_behalf_of_id) == (c.uid("secretary"), c.uid("leader"))
    assert c.items(step="grab") == {c.uid("g1"): "cancelled", c.uid("leader"): "done"}


def test_a_secretary_may_not_act_for_a_leader_who_is_not_theirs(app, team):
    c = make_case(app, team, grabbers=["leader"])
    c.to("grab")
    assert c.actions_for("secretary")["actions"] == []
    with pytest.raises(ServiceError) as exc:
        c.act("secretary", "submit")
    assert error(exc) == (409, "not_your_turn")


def _delegate(app, team, delegator: str, delegate: str, starts, ends) -> None:
    with app.app_context():
        db.session.add(
            Delegation(
                delegator_id=team["people"][delegator].id,
                delegate_id=team["people"][delegate].id,
                starts_at=starts,
                ends_at=ends,
                reason="出差",
            )
        )
        db.session.commit()


def test_a_delegate_acts_within_the_window_only(app, team):
    now = utcnow()
    _delegate(app, team, "s2", "y", now - timedelta(hours=1), now + timedelta(hours=1))
    _delegate(app, team, "s3", "x", now + timedelta(days=1), now + timedelta(days=2))
    c = make_case(app, team)
    c.to("joint")
    out = c.act("y", "submit", opinion="受托会签")
    assert out.acting_for == c.uid("s2")
    assert (c.log()[-1].on_behalf_of_name, c.log()[-1].actor_name) == ("会签2", "另一人")
    with pytest.raises(ServiceError) as exc:  # the window has not opened yet
        c.act("x", "submit")
    assert error(exc) == (409, "not_your_turn")
    assert c.items()[c.uid("s3")] == "pending"


def flow_timeline(app, c: Case) -> list[dict[str, Any]]:
    with app.app_context():
        return flow.timeline(db.session.get(FlowInstance, c.inst_id))


# ---------------------------------------------------------------- reading and cancelling


def test_actions_for_lists_what_each_person_may_do(case):
    assert case.actions_for("starter") == {
        "actions": ["submit", "transfer", "add_handler"],
        "acting_for": None,
        "step": "start",
    }
    assert case.actions_for("g1")["actions"] == []
    case.to("end")
    assert case.actions_for("starter")["actions"] == ["close", "submit", "return", "transfer", "add_handler"]
    assert "recall" in case.actions_for("c3")["actions"]


def test_timeline_and_current_handlers(app, case):
    case.to("joint")
    case.act("s1", "submit", opinion="同意")
    with app.app_context():
        inst = db.session.get(FlowInstance, case.inst_id)
        handlers = flow.current_handlers(inst)
        assert {h["id"] for h in handlers} == ids(case, "s2", "s3")
        tl = flow.timeline(inst)
    assert [(e["action"], e["step"]) for e in tl] == [
        ("start", "start"),
        ("submit", "start"),
        ("submit", "grab"),
        ("skip", "pick"),
        ("submit", "joint"),
    ]
    assert tl[-1]["action_label"] == "提交" and tl[-1]["opinion"] == "同意" and tl[-1]["on_behalf_of"] is None


def test_cancel_closes_every_open_item(app, case):
    case.to("chain")
    with app.app_context():
        inst = flow.lock(case.inst_id)
        flow.cancel(
            Actor(user=db.session.get(User, case.uid("starter"))), inst, case.subject, opinion="不再办理"
        )
        db.session.commit()
    assert case.state()["status"] == "cancelled" and case.state()["step"] is None
    assert case.todos() == {}
    assert with_status(case.items(step="chain"), "cancelled") == ids(case, "c1", "c2", "c3")


def test_todo_category_read_for_read_steps(app, team):
    steps = [dict(s) for s in STEPS]
    steps[1] = {**steps[1], "category": "read"}
    flow.register_flow(flow.FlowSpec(code="wf_test_read", name="阅知", default_steps=steps))
    with app.app_context():
        starter = db.session.get(User, team["people"]["starter"].id)
        subject = flow.Subject(
            type=SUBJECT_TYPE,
            id=next(_ids),
            title="阅件",
            url="/cases/r",
            todo_kind="case",
            people={"starter": [starter.id], "grabbers": [team["people"]["g1"].id]},
        )
        inst = flow.start(Actor(user=starter), "wf_test_read", db.session.get(Unit, team["unit"].id), subject)
        flow.submit(Actor(user=starter), inst, subject)
        db.session.commit()
        t = db.session.scalar(select(Todo).where(Todo.source_id == subject.id, Todo.step == "grab#2"))
        assert t.category is TodoCategory.READ


# ---------------------------------------------------------------- definitions


def test_unit_definition_applies_to_new_flows_only(app, team):
    case_before = make_case(app, team)
    with app.app_context():
        unit = db.session.get(Unit, team["unit"].id)
        steps = [s for s in STEPS if s["key"] not in ("pick", "chain")]
        steps = [{**s, "mode": "all"} if s["key"] == "grab" else s for s in steps]
        d = flow.save_definition(SYSTEM, "wf_test", unit, steps)
        db.session.commit()
        assert d.version == 1
        # a child unit inherits its parent's version
        child = identity.create_unit(SYSTEM, name="下属处", kind="division", parent_id=unit.id)
        db.session.commit()
        found, used = flow.definition_for("wf_test", child)
        assert found.id == d.id and [s["key"] for s in used] == ["start", "grab", "joint", "end"]
    after = make_case(app, team)
    after.to("grab")
    after.act("g1", "submit")
    assert after.state()["step"] == "grab"  # now a countersign
    case_before.to("grab")
    case_before.act("g1", "submit")
    assert case_before.state()["step"] == "joint"  # its snapshot still has 抢办
    with app.app_context():
        assert flow.reset_definition(db.session.get(Unit, team["unit"].id), "wf_test")
        db.session.commit()
        assert flow.definition_for("wf_test", db.session.get(Unit, team["unit"].id))[0] is None


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([s for s in STEPS if s["key"] != "end"], "缺少必需步骤"),
        ([STEPS[-1], *STEPS[:-1]], "顺序"),
        ([*STEPS, STEPS[1]], "重复"),
        ([{**STEPS[0], "mode": "random"}, *STEPS[1:]], "办理方式无效"),
        ([{**STEPS[0], "handlers": [{"type": "nobody"}]}, *STEPS[1:]], "办理人规则无效"),
        ([{**STEPS[0], "choose": "maybe"}, *STEPS[1:]], "选人方式无效"),
        ([{**STEPS[0], "name": " "}, *STEPS[1:]], "缺少名称"),
        ([{**STEPS[0], "handlers": "starter"}, *STEPS[1:]], "办理人规则无效"),
        ([{**STEPS[0], "handlers": [{"type": "role"}]}, *STEPS[1:]], "办理人规则无效"),
        ([{**STEPS[0], "key": ["start"]}, *STEPS[1:]], "步骤标识"),
        ([{**STEPS[1], "key": ""}, *STEPS], "步骤标识"),
        (["start", *STEPS], "步骤"),
    ],
)
def test_invalid_definitions_are_422(ctx, steps, message):
    with pytest.raises(ServiceError) as exc:
        flow.validate_steps("wf_test", steps)
    assert exc.value.status == 422 and exc.value.code == "invalid_flow"
    assert message in exc.value.message


def test_unknown_flow_is_404(ctx):
    with pytest.raises(ServiceError) as exc:
        flow.validate_steps("nope", STEPS)
    assert error(exc) == (404, "unknown_flow")


# ---------------------------------------------------------------- racing


def _press_at_once(app, c: Case, names: tuple[str, ...]) -> dict[str, Any]:
    """Each person submits in their own thread, session and transaction, all at once."""
    barrier = threading.Barrier(len(names))
    results: dict[str, Any] = {}

    def worker(name: str) -> None:
        try:
            with app.app_context():
                barrier.wait(timeout=10)  # before touching the database: SQLite writers lock it
                user = db.session.get(User, c.uid(name))
                try:
                    inst = flow.lock(c.inst_id)
                    flow.submit(Actor(user=user), inst, c.subject, opinion=f"{name} 办理")
                    db.session.commit()
                    results[name] = "ok"
                except ServiceError as exc:
                    db.session.rollback()
                    results[name] = (exc.status, exc.code)
        except BaseException as exc:  # pragma: no cover - reported below
            results[name] = exc

    threads = [threading.Thread(target=worker, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def _race_on_any_step(app, team) -> None:
    c = make_case(app, team)
    c.to("grab")
    results = _press_at_once(app, c, ("g1", "g2", "g3"))
    assert sorted(map(str, results.values())) == sorted(
        ["ok", str((409, "not_your_turn")), str((409, "not_your_turn"))]
    ), results
    winner = next(n for n, r in results.items() if r == "ok")
    assert c.items(step="grab") == {
        c.uid(n): ("done" if n == winner else "cancelled") for n in ("g1", "g2", "g3")
    }
    assert c.state()["step"] == "joint"
    assert [a.action for a in c.log()].count("submit") == 2  # the starter's and the winner's
    assert c.todos() == {u: {"joint#3"} for u in ids(c, "s1", "s2", "s3")}


def _race_on_a_countersign(app, team) -> None:
    """All countersign at once: everyone succeeds and the step completes exactly once."""
    c = make_case(app, team)
    c.to("joint")
    results = _press_at_once(app, c, ("s1", "s2", "s3"))
    assert results == {"s1": "ok", "s2": "ok", "s3": "ok"}, results
    assert c.items(step="joint") == {u: "done" for u in ids(c, "s1", "s2", "s3")}
    assert c.state() == {"status": "running", "step": "chain", "round": 4, "finished_at": None}
    assert c.items() == {c.uid("c1"): "pending", c.uid("c2"): "waiting", c.uid("c3"): "waiting"}
    assert c.todos() == {c.uid("c1"): {"chain#4"}}
    moved = [a for a in c.log() if a.step_key == "joint" and a.details.get("to_step") == "chain"]
    assert len(moved) == 1


def _backend(app) -> str:
    with app.app_context():
        return db.engine.dialect.name


@pytest.mark.postgres
def test_race_on_an_any_step_postgres(app, team):
    if _backend(app) != "postgresql":
        pytest.skip("needs OFFICE_TEST_DATABASE_URL (PostgreSQL)")
    _race_on_any_step(app, team)


def test_race_on_an_any_step_sqlite(app, team):
    if _backend(app) != "sqlite":
        pytest.skip("the PostgreSQL pass runs the postgres-marked race")
    _race_on_any_step(app, team)


@pytest.mark.postgres
def test_race_on_a_countersign_postgres(app, team):
    if _backend(app) != "postgresql":
        pytest.skip("needs OFFICE_TEST_DATABASE_URL (PostgreSQL)")
    _race_on_a_countersign(app, team)


def test_race_on_a_countersign_sqlite(app, team):
    if _backend(app) != "sqlite":
        pytest.skip("the PostgreSQL pass runs the postgres-marked race")
    _race_on_a_countersign(app, team)


def test_instance_status_enum_is_closed(case):
    assert {s.value for s in InstanceStatus} == {"running", "done", "cancelled"}


def test_an_instance_is_locked_once_per_transaction(app, case):
    """Locking again in the same transaction reuses the held instance (no statement); after
    the commit the next lock reads and locks afresh, and a rollback forgets it too."""
    from sqlalchemy import event

    with app.app_context():
        seen: list[str] = []

        @event.listens_for(db.engine, "before_cursor_execute")
        def _count(conn, cursor, statement, *args) -> None:
            seen.append(statement)

        try:
            inst = flow.lock(case.inst_id)
            n = len(seen)
            assert n >= 2  # the instance, then its items
            assert flow.lock(case.inst_id) is inst
            assert flow.lock_subject(SUBJECT_TYPE, case.subject.id) is inst
            assert len(seen) == n
            db.session.commit()
            flow.lock(case.inst_id)
            assert len(seen) > n
            m = len(seen)
            db.session.rollback()
            flow.lock_subject(SUBJECT_TYPE, case.subject.id)
            assert len(seen) > m
            db.session.rollback()
        finally:
            event.remove(db.engine, "before_cursor_execute", _count)
