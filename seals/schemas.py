"""Request bodies and JSON shapes of the seals API."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema
from marshmallow.fields import DateTime, List, String
from marshmallow.validate import Length, OneOf

from office.api import PageQuery
from office.fields import DbInt
from seals.models import KIND_LABELS, STATUS_LABELS, RequestStatus, Seal, SealKind, SealStatus


class SealIn(Schema):
    unit_id = DbInt(required=True)
    kind = String(load_default=SealKind.OFFICIAL.value, validate=OneOf([k.value for k in SealKind]))
    name = String(load_default=None, allow_none=True, validate=Length(1, 30))
    label = String(load_default=None, allow_none=True, validate=Length(max=8))
    keeper_ids = List(DbInt(), load_default=None, allow_none=True, validate=Length(max=20))


class KeepersIn(Schema):
    keeper_ids = List(DbInt(), required=True, validate=Length(1, 20))


class StatusIn(Schema):
    reason = String(load_default="", validate=Length(max=200))


class SealQuery(Schema):
    unit_id = DbInt(load_default=None)
    status = String(load_default=None, validate=OneOf([s.value for s in SealStatus]))


class RequestQuery(PageQuery):
    status = String(load_default=None, validate=OneOf([s.value for s in RequestStatus]))
    seal_id = DbInt(load_default=None)
    since = DateTime(load_default=None)
    until = DateTime(load_default=None)
    q = String(load_default=None, validate=Length(1, 50))


class ApproveIn(Schema):
    password = String(load_default=None, allow_none=True, validate=Length(max=200))
    otp = String(load_default=None, allow_none=True, validate=Length(max=10))
    opinion = String(load_default="", validate=Length(max=500))


class RejectIn(Schema):
    reason = String(required=True, validate=Length(1, 500))


def seal_json(seal: Seal, *, manageable: bool = False) -> dict[str, Any]:
    return {
        "id": seal.id,
        "unit": {"id": seal.unit.id, "name": seal.unit.name},
        "kind": seal.kind.value,
        "kind_label": KIND_LABELS[seal.kind],
        "name": seal.name,
        "label": seal.label,
        "status": seal.status.value,
        "status_label": STATUS_LABELS[seal.status],
        "status_reason": seal.status_reason,
        "cert_serial": seal.cert_serial,
        "not_before": seal.not_before.isoformat(),
        "not_after": seal.not_after.isoformat(),
        "keepers": [{"id": k.user.id, "name": k.user.name} for k in seal.keepers],
        "created_at": seal.created_at.isoformat(),
        "revoked_at": seal.revoked_at.isoformat() if seal.revoked_at else None,
        "image_url": f"/api/v1/seals/{seal.id}/image.png",
        "certificate_url": f"/api/v1/seals/{seal.id}/certificate.pem",
        "manageable": manageable,
    }
