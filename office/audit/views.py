"""HTML page: browse and filter the audit trail (admins)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, g, render_template, request

from office.audit import queries, services
from office.auth.guard import login_required
from office.fields import bounded_int
from office.identity.access import is_admin, managed_paths

bp = Blueprint("audit", __name__, template_folder="templates")
BEIJING = ZoneInfo("Asia/Shanghai")


def _day(raw: str | None) -> datetime | None:
    try:
        return datetime.strptime(raw or "", "%Y-%m-%d").replace(tzinfo=BEIJING)
    except ValueError:
        return None


@bp.get("/admin/audit")
@login_required
def events():
    if not managed_paths(g.user):
        abort(404)
    page_no = bounded_int(request.args.get("page")) or 1
    until = _day(request.args.get("until"))
    filters = {
        "action": (request.args.get("action") or "").strip()[:80] or None,
        "object_type": (request.args.get("object_type") or "").strip()[:40] or None,
        "since": _day(request.args.get("since")),
        "until": until + timedelta(days=1) if until else None,
    }
    result = queries.search_events(g.user, page=page_no, per_page=50, **filters)
    chain = services.verify() if request.args.get("verify") and is_admin(g.user) else None
    return render_template("audit/events.html", result=result, chain=chain, args=request.args)
