"""Fixtures for document tests: the `org` province plus the people a document flow needs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import bearer


@pytest.fixture
def docorg(org, factory) -> dict[str, Any]:
    """综合处 staff drafts; its head reviews; 办公厅 clerk checks, numbers, distributes and
    archives; 秘书长 signs off; the seal keeper seals; two counties and a city receive."""
    u, p = org["units"], org["people"]
    p["divhead"] = factory.user(
        "divhead", name="周处长", unit=u["division"], roles=("division_head",), title="处长"
    )
    p["clerk"] = factory.user("clerk", name="吴收发", unit=u["office"], roles=("clerk",), title="收发员")
    p["clerk2"] = factory.user("clerk2", name="郑机要", unit=u["office"], roles=("clerk",), title="机要员")
    p["general"] = factory.user(
        "general", name="钱秘书长", unit=u["office"], roles=("leader",), title="秘书长"
    )
    p["sealkeeper"] = factory.user("sealkeeper", name="孙印管", unit=u["office"], roles=("seal_keeper",))
    p["county_leader"] = factory.user("county_leader", name="冯县长", unit=u["county_a"], roles=("leader",))
    p["county_staff"] = factory.user("county_staff", name="蒋科员", unit=u["county_a"], roles=("staff",))
    p["county_staff2"] = factory.user("county_staff2", name="沈科员", unit=u["county_a"], roles=("staff",))
    p["city_clerk"] = factory.user("city_clerk", name="韩收发", unit=u["city"], roles=("clerk",))
    make_seal(factory.app, u["office"], [p["sealkeeper"]])
    return org


def make_seal(app, unit, keepers, *, kind: str = "official") -> int:
    """A unit seal through the service (keys and certificate made here, never committed files)."""
    from office.context import Actor
    from office.extensions import db
    from office.identity.models import User
    from seals import services as seals

    with app.app_context():
        admin = db.session.scalar(db.select(User).where(User.username == "admin"))
        seal = seals.create_seal(
            Actor(user=admin), unit_id=unit.id, kind=kind, keeper_ids=[k.id for k in keepers]
        )
        db.session.commit()
        return seal.id


class Api:
    """A tiny client per person: tokens cached, JSON in, JSON out."""

    def __init__(self, client) -> None:
        self.client = client
        self.tokens: dict[str, dict[str, str]] = {}

    def auth(self, username: str) -> dict[str, str]:
        if username not in self.tokens:
            self.tokens[username] = bearer(self.client, username)
        return self.tokens[username]

    def get(self, username: str, url: str, **kw):
        return self.client.get(url, headers=self.auth(username), **kw)

    def post(self, username: str, url: str, json: Any = None, **kw):
        return self.client.post(url, json=json if json is not None else {}, headers=self.auth(username), **kw)

    def patch(self, username: str, url: str, json: Any):
        return self.client.patch(url, json=json, headers=self.auth(username))

    def ok(self, resp, status: int = 200) -> Any:
        assert resp.status_code == status, resp.get_json()
        return resp.get_json()


@pytest.fixture
def api(client) -> Api:
    return Api(client)


def notice_payload(units: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "title": "关于做好2026年数字政府协同办公推广工作的通知",
        "doc_type": "notice",
        "direction": "down",
        "main_unit_ids": [units["county_a"].id, units["county_b"].id],
        "cc_unit_ids": [units["city"].id],
        "body": "\n".join(
            [
                "为推进数字政府建设，现就有关事项通知如下。",
                "一、总体要求",
                "（一）坚持统筹推进。",
                "1. 明确责任分工。",
                "各地要抓好落实。",
            ]
        ),
        "urgency": "urgent",
        **extra,
    }
