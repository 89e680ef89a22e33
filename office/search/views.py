"""The results page (/search) behind the search box in every page's header."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, g, render_template, request

from office.auth.guard import login_required
from office.errors import ServiceError
from office.fields import bounded_int
from office.search import services

bp = Blueprint("search", __name__, template_folder="templates")


def _int(name: str) -> int | None:
    return bounded_int(request.args.get(name))


def _date(name: str) -> date | None:
    raw = (request.args.get(name) or "").strip()
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


@bp.get("/search")
@login_required
def results():
    q = (request.args.get("q") or "").strip()
    args = {
        "doc_type": request.args.get("doc_type") or None,
        "unit_id": _int("unit_id"),
        "year": _int("year"),
        "date_from": _date("from"),
        "date_to": _date("to"),
        "sort": request.args.get("sort") if request.args.get("sort") in services.SORTS else "relevance",
        "page": _int("page") or 1,
        "per_page": 20,
    }
    result, error = None, None
    if q:
        try:
            result = services.search(g.user, q, **args)
        except ServiceError as err:
            error = err.message
    return render_template(
        "search/results.html",
        q=q,
        args=args,
        result=result,
        error=error,
        types=services.source().types(),
    ), (422 if error else 200)
