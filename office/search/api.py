"""JSON API: full-text search over the documents the caller may read."""

from __future__ import annotations

from flask import g

from office.api import make_api_blueprint
from office.auth.guard import api_login_required
from office.search import services
from office.search.schemas import SearchQuery

bp = make_api_blueprint("search_api", __name__, tag="全文检索")


@bp.get("/search")
@api_login_required
@bp.input(SearchQuery, location="query", arg_name="query")
@bp.doc(
    summary='全文检索公文：q 支持词语（默认并且）、"短语"、OR、-排除、文号；'
    "过滤 doc_type、unit_id、year、from、to；sort=relevance|date。只返回本人有权阅读的公文"
)
def search(query):
    return services.search(g.user, query.pop("q"), **query)
