"""HTML forms validated by the same marshmallow schemas as the API, so one rule set serves
both and a form shows the API's messages beside its fields."""

from __future__ import annotations

from typing import Any

from flask import request
from marshmallow import Schema, ValidationError

from office.errors import ServiceError

#: marshmallow's English messages, as users see them.
MESSAGES_ZH = {
    "Missing data for required field.": "必填",
    "Field may not be null.": "必填",
    "Not a valid integer.": "须为整数",
    "Not a valid string.": "须为文本",
    "Not a valid boolean.": "须为是/否",
    "Not a valid datetime.": "日期时间格式不正确",
    "Unknown field.": "未知字段",
}


def zh(msg: str) -> str:
    if msg in MESSAGES_ZH:
        return MESSAGES_ZH[msg]
    if msg.startswith("Must be one of"):
        return "不是允许的取值"
    if (
        msg.startswith("Length must be between")
        or msg.startswith("Shorter than")
        or msg.startswith("Longer than")
    ):
        return "长度不符合要求"
    if msg.startswith("Must be greater") or msg.startswith("Must be less"):
        return "超出允许范围"
    return msg


def parse_form(
    schema: Schema, data: dict[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Load form fields through ``schema``; empty strings count as missing."""
    raw = (
        data if data is not None else {k: v for k, v in request.form.items() if k != "csrf_token" and v != ""}
    )
    try:
        return schema.load(raw, unknown="exclude"), {}
    except ValidationError as err:
        msgs = err.messages if isinstance(err.messages, dict) else {"_": err.messages}
        return {}, {k: [zh(str(m)) for m in (v if isinstance(v, list) else [v])] for k, v in msgs.items()}


def service_errors(err: ServiceError) -> dict[str, list[str]]:
    fields = err.details.get("fields") if err.details else None
    return fields or {"_": [err.message]}
