"""One error shape for the whole suite: ``{"error": {"code", "message", "details"}}``.

Services raise :class:`ServiceError`; the API renders it as JSON and HTML views show the
message beside the field. Anything that reaches the generic handler with status 500 is a bug.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError
from werkzeug.exceptions import HTTPException

DEFAULT_MESSAGES = {
    400: ("bad_request", "请求格式错误"),
    401: ("unauthorized", "请先登录"),
    403: ("forbidden", "无权执行此操作"),
    404: ("not_found", "对象不存在或无权访问"),
    405: ("method_not_allowed", "不支持的请求方法"),
    409: ("conflict", "与现有数据冲突"),
    413: ("too_large", "上传内容过大"),
    415: ("unsupported_media_type", "不支持的内容类型"),
    422: ("invalid", "输入不合法"),
    429: ("too_many_requests", "操作过于频繁，请稍后再试"),
    500: ("internal_error", "服务器内部错误"),
}


class ServiceError(Exception):
    """A business-rule failure with a stable code, a Chinese message and an HTTP status."""

    def __init__(
        self,
        code: str,
        message: str,
        status: int = 422,
        details: dict[str, Any] | None = None,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.details = details or {}
        self.field = field
        self.headers = headers or {}
        if field and "fields" not in self.details:
            self.details = {**self.details, "fields": {field: [message]}}


class NotFound(ServiceError):
    def __init__(self, message: str = "对象不存在或无权访问") -> None:
        super().__init__("not_found", message, 404)


class Forbidden(ServiceError):
    def __init__(self, message: str = "无权执行此操作") -> None:
        super().__init__("forbidden", message, 403)


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def wants_json() -> bool:
    return request.path.startswith("/api/") or (
        request.accept_mimetypes.best == "application/json" and not request.path.startswith("/static/")
    )


def _respond(status: int, code: str, message: str, details: dict | None, headers: dict | None = None):
    if wants_json():
        resp = jsonify(error_body(code, message, details))
    else:
        resp = render_template("error.html", status=status, code=code, message=message)
    return resp, status, headers or {}


def flatten_validation(detail: dict[str, Any]) -> dict[str, list[str]]:
    """Turn APIFlask's ``{"json": {"field": [...]}}`` into ``{"field": [...]}``."""
    fields: dict[str, list[str]] = {}
    for _location, errs in (detail or {}).items():
        if isinstance(errs, dict):
            for name, msgs in errs.items():
                fields[name] = [str(m) for m in msgs] if isinstance(msgs, list) else [str(msgs)]
    return fields


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ServiceError)
    def _service_error(err: ServiceError):
        return _respond(err.status, err.code, err.message, err.details, err.headers)

    @app.errorhandler(CSRFError)
    def _csrf_error(err: CSRFError):
        return _respond(400, "csrf_failed", "表单已过期或缺少安全令牌，请刷新页面后重试", {})

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        status = err.code or 500
        code, message = DEFAULT_MESSAGES.get(status, ("http_error", err.name))
        if status == 400 and request.mimetype == "application/json":
            code, message = "malformed_json", "请求体不是合法的 JSON"
        headers = dict(err.get_headers()) if status in (405, 429) else {}
        headers.pop("Content-Type", None)
        if status == 429:
            message = f"操作过于频繁，请稍后再试（{err.description}）"
        return _respond(status, code, message, {}, headers)

    @app.errorhandler(DataError)
    @app.errorhandler(OverflowError)
    def _value_out_of_range(err: Exception):
        """The last line behind the schemas (``office.fields``): a value the database cannot
        hold (SQLSTATE class 22, or SQLite's integer overflow) is the caller's bad input.
        Logged, so the field that let it through gets its own check."""
        app.logger.warning("value rejected by the database on %s: %s", request.path, err)
        return _respond(422, "value_out_of_range", "输入的数值超出范围或格式不符", {})

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        app.logger.exception("unhandled error")
        return _respond(500, "internal_error", "服务器内部错误，已记录，请联系管理员", {})

    @app.error_processor
    def _apiflask_error(err):  # APIFlask HTTPError: validation (422), auth, abort()
        details = dict(err.detail) if isinstance(err.detail, dict) else {}
        if err.status_code == 422:
            from office.web.forms import zh

            fields = {k: [zh(m) for m in v] for k, v in flatten_validation(details).items()}
            names = "、".join(sorted(fields))
            return (
                error_body("validation_error", f"输入不合法：{names}", {"fields": fields}),
                422,
                err.headers,
            )
        code, message = DEFAULT_MESSAGES.get(err.status_code, ("http_error", err.message))
        if err.status_code == 400 and request.mimetype == "application/json":
            code, message = "malformed_json", "请求体不是合法的 JSON"
        if err.extra_data:
            code = err.extra_data.get("code", code)
            message = err.extra_data.get("message", message)
        return error_body(code, message, details), err.status_code, err.headers
