"""The /search page and the header's search box, through the Flask test client: highlighted
snippets, filters with counts, sorting and paging links that keep the query, nothing shown to
someone who may not read a document, and the query's limits (empty, too long, punctuation)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import lxml.html
import pytest

from tests.conftest import web_login
from tests.documents.conftest import api, docorg, notice_payload  # noqa: F401  (fixtures)
from tests.documents.helpers import create

TITLE = "关于做好2026年数字政府协同办公推广工作的通知"


_STEP = re.compile(r"([\w-]+)|#([\w-]+)|\.([\w-]+)|\[([\w-]+)(?:=([^\]]+))?\]")


def sel(el, selector: str) -> list:
    """The elements under ``el`` matching a simple CSS selector (tag, #id, .class, [attr] and
    [attr=value] steps joined by spaces), through XPath: lxml's cssselect needs a package the
    project does not install."""
    path = "."
    for step in selector.split():
        tag, conds = "*", []
        for name, ident, cls, attr, value in _STEP.findall(step):
            if name:
                tag = name
            elif ident:
                conds.append(f"@id='{ident}'")
            elif cls:
                conds.append(f"contains(concat(' ', normalize-space(@class), ' '), ' {cls} ')")
            else:
                conds.append(f"@{attr}='{value}'" if value else f"@{attr}")
        path += f"//{tag}" + "".join(f"[{c}]" for c in conds)
    return el.xpath(path)


def page(client, **params: Any) -> tuple[int, lxml.html.HtmlElement, str]:
    resp = client.get("/search", query_string=params)
    text = resp.get_data(as_text=True)
    return resp.status_code, lxml.html.fromstring(text), text


def query_of(href: str) -> dict[str, list[str]]:
    parts = urlsplit(href)
    assert parts.path == "/search", href
    return parse_qs(parts.query)


def draft_many(app, username: str, n: int, **extra: Any) -> list[int]:
    """``n`` drafts through the service in one transaction (indexed after the commit)."""
    from documents import services
    from office.context import Actor
    from office.extensions import db
    from office.identity.models import User

    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.username == username))
        ids = []
        for i in range(n):
            data = {
                "title": f"关于协同办公平台第{i + 1}批推广事项的通知",
                "doc_type": "notice",
                "direction": "down",
                "body": "各单位要按照数字政府建设要求，做好协同办公平台推广。",
                "main_text": "各县人民政府",
                "urgency": 0,
                **extra,
            }
            ids.append(services.create_document(Actor(user=user), data).id)
        db.session.commit()
        return ids


def signed_in(app, username: str):
    """A browser of its own (the API's bearer client must not carry a session cookie)."""
    browser = app.test_client()
    web_login(browser, username)
    return browser


@pytest.fixture
def staff(app, docorg):  # noqa: F811
    return signed_in(app, "zhangsan")


def test_header_has_the_search_box_on_every_page(client, docorg):  # noqa: F811
    resp = client.get("/login")
    assert 'id="header-search"' not in resp.get_data(as_text=True)
    web_login(client, "zhangsan")
    for path in ("/", "/todos", "/documents/"):
        html = lxml.html.fromstring(client.get(path).get_data(as_text=True))
        (form,) = sel(html, "header.topbar form.hdr-search")
        assert form.get("method") == "get" and form.get("action") == "/search"
        assert form.get("role") == "search"
        (box,) = sel(form, "input#header-search")
        assert box.get("name") == "q" and box.get("maxlength") == "200"
        assert box.get("value") == ""
        assert "搜索公文" in box.get("placeholder")
        assert box.get("aria-label")
        (button,) = sel(form, "button[type=submit]")
        assert button.get("aria-label") == "搜索"


def test_results_show_the_document_with_highlights(staff, api, docorg):  # noqa: F811
    doc = create(api, notice_payload(docorg["units"]))
    status, html, text = page(staff, q="数字政府 推广")
    assert status == 200
    assert sel(html, "input#header-search")[0].get("value") == "数字政府 推广"
    assert sel(html, "input#search-q")[0].get("value") == "数字政府 推广"
    assert "1" in sel(html, "#search-count strong")[0].text_content()
    assert "约" not in sel(html, "#search-count")[0].text_content()
    (hit,) = sel(html, "ol.hits li.hit")
    link = sel(hit, ".hit-title a")[0]
    assert link.get("href") == f"/documents/{doc['id']}"
    assert link.text_content() == TITLE
    assert [m.text for m in sel(link, "mark")] == ["数字政府", "推广"]
    snippet = sel(hit, ".hit-snippet")[0]
    assert "数字政府" in [m.text for m in sel(snippet, "mark")]
    assert "<mark>数字政府</mark>" in text
    meta = sel(hit, ".hit-meta")[0].text_content()
    assert "通知" in meta and "省政府办公厅" in meta
    # Filters with counts.
    types = {
        sel(a, ".facet-label")[0].text: sel(a, ".facet-count")[0].text for a in sel(html, "#facet-doc_type a")
    }
    assert types == {"通知": "1"}
    assert sel(html, "#facet-unit a .facet-label")[0].text == "省政府办公厅"
    assert len(sel(html, "#facet-year a")) == 1
    # The result links to the document, which opens.
    assert staff.get(link.get("href")).status_code == 200


def test_markup_in_a_title_is_escaped(staff, api, docorg):  # noqa: F811
    create(api, notice_payload(docorg["units"], title="关于<script>alert(1)</script>数字政府的通知"))
    status, html, text = page(staff, q="数字政府")
    assert status == 200
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;" in text
    assert sel(html, ".hit-title a")[0].text_content() == "关于<script>alert(1)</script>数字政府的通知"


def test_someone_of_an_unrelated_unit_finds_nothing(app, api, docorg):  # noqa: F811
    create(api, notice_payload(docorg["units"]))
    assert page(signed_in(app, "zhangsan"), q="数字政府")[0] == 200
    status, html, text = page(signed_in(app, "county_b"), q="数字政府")
    assert status == 200
    assert TITLE not in text
    assert not sel(html, "li.hit")
    assert sel(html, "#search-count strong")[0].text == "0"
    assert sel(html, "#search-empty h2")[0].text == "未找到相关公文"
    # No filter counts give the document away.
    assert not sel(html, ".facet li")
    assert "省政府办公厅" not in text


@pytest.mark.parametrize("q", [None, "", "   "])
def test_an_empty_query_shows_the_search_page(staff, q):
    params = {} if q is None else {"q": q}
    status, html, _text = page(staff, **params)
    assert status == 200
    assert sel(html, "form.search-main input#search-q")
    assert not sel(html, ".alert-error")
    assert not sel(html, "#search-count")
    assert not sel(html, "li.hit")


def test_a_query_over_200_characters_is_refused(staff, api, docorg):  # noqa: F811
    create(api, notice_payload(docorg["units"]))
    status, html, _text = page(staff, q="数字政府" + "字" * 197)
    assert status == 422
    (alert,) = sel(html, "#search-error")
    assert alert.get("role") == "alert"
    assert "不能超过 200 个字符" in alert.text_content()
    assert not sel(html, "li.hit") and not sel(html, "#search-count")
    assert sel(html, "input#search-q")[0].get("aria-invalid") == "true"
    # 200 characters are still a query.
    assert page(staff, q="数字政府" + "字" * 196)[0] == 200


@pytest.mark.parametrize("q", ["，。！？", "!!! ---", "“”《》"])
def test_a_query_of_punctuation_finds_nothing_without_error(staff, api, docorg, q):  # noqa: F811
    create(api, notice_payload(docorg["units"]))
    status, html, _text = page(staff, q=q)
    assert status == 200
    assert not sel(html, ".alert-error")
    assert sel(html, "#search-count strong")[0].text == "0"
    assert sel(html, "#search-empty h2")[0].text == "未找到相关公文"
    tips = sel(html, "#search-empty")[0].text_content()
    assert "OR" in tips and "引号" in tips and "文号" in tips


def test_filters_sorting_and_paging_keep_the_query(staff, app):
    draft_many(app, "zhangsan", 23)
    draft_many(app, "zhangsan", 2, doc_type="circular", title="关于协同办公平台推广情况的通报")
    status, html, _text = page(staff, q="协同办公")
    assert status == 200
    assert sel(html, "#search-count strong")[0].text == "25"
    assert len(sel(html, "li.hit")) == 20
    counts = {
        sel(a, ".facet-label")[0].text: sel(a, ".facet-count")[0].text for a in sel(html, "#facet-doc_type a")
    }
    assert counts == {"通知": "23", "通报": "2"}

    # Paging: 上一页/下一页 and numbers, each keeping the query.
    pager = sel(html, "nav.search-pager")[0]
    assert [a.text for a in sel(pager, ".pages a")] == ["1", "2"]
    nxt = sel(pager, "a[rel=next]")[0]
    assert nxt.text == "下一页"
    assert query_of(nxt.get("href")) == {"q": ["协同办公"], "page": ["2"]}
    assert sel(pager, ".step.disabled")[0].text == "上一页"
    status, html2, _text = page(staff, **{k: v[0] for k, v in query_of(nxt.get("href")).items()})
    assert status == 200 and len(sel(html2, "li.hit")) == 5
    assert sel(html2, "ol.hits")[0].get("start") == "21"
    assert query_of(sel(html2, "nav.search-pager a[rel=prev]")[0].get("href")) == {
        "q": ["协同办公"],
        "page": ["1"],
    }

    # A 文种 filter: its link keeps the query and drops the page.
    circular = next(a for a in sel(html2, "#facet-doc_type a") if a.get("data-value") == "circular")
    assert query_of(circular.get("href")) == {"q": ["协同办公"], "doc_type": ["circular"]}
    status, html3, _text = page(staff, q="协同办公", doc_type="circular")
    assert status == 200
    assert sel(html3, "#search-count strong")[0].text == "2"
    assert {sel(h, ".tag")[0].text for h in sel(html3, "li.hit")} == {"通报"}
    assert not sel(html3, "nav.search-pager")
    # The counts stay those of the whole query; the chosen one is marked and undoes itself.
    (on,) = sel(html3, "#facet-doc_type a.on")
    assert on.get("data-value") == "circular" and on.get("aria-current") == "true"
    assert query_of(on.get("href")) == {"q": ["协同办公"]}
    assert len(sel(html3, "#facet-doc_type a")) == 2
    # The active filter is shown with a link that removes it.
    (chip,) = sel(html3, ".search-active a.chip-on")
    assert "通报" in chip.text_content()
    assert query_of(chip.get("href")) == {"q": ["协同办公"]}
    # The search form, the date range and the sort keep the filter.
    hidden = {i.get("name"): i.get("value") for i in sel(html3, "form.search-main input[type=hidden]")}
    assert hidden == {"doc_type": "circular"}
    hidden = {i.get("name"): i.get("value") for i in sel(html3, "form.date-range input[type=hidden]")}
    assert hidden == {"q": "协同办公", "doc_type": "circular"}
    by_date = next(a for a in sel(html3, ".search-sort a") if a.text == "日期")
    assert query_of(by_date.get("href")) == {"q": ["协同办公"], "doc_type": ["circular"], "sort": ["date"]}

    # Sorted by date: marked, and the paging keeps it.
    status, html4, _text = page(staff, q="协同办公", sort="date")
    assert status == 200
    assert sel(html4, ".search-sort a.active")[0].text == "日期"
    nxt = sel(html4, "nav.search-pager a[rel=next]")[0]
    assert query_of(nxt.get("href")) == {"q": ["协同办公"], "sort": ["date"], "page": ["2"]}
    ids = [int(h.get("data-id")) for h in sel(html4, "li.hit")]
    assert len(ids) == 20


def test_a_date_range_and_a_year_show_as_removable_filters(staff, app):
    draft_many(app, "zhangsan", 2)
    year = sel(lxml.html.fromstring(staff.get("/search?q=协同办公").get_data(as_text=True)), "#facet-year a")[
        0
    ]
    y = year.get("data-value")
    assert query_of(year.get("href")) == {"q": ["协同办公"], "year": [y]}
    status, html, _text = page(staff, q="协同办公", year=y, **{"from": f"{y}-01-01", "to": f"{y}-12-31"})
    assert status == 200
    assert sel(html, "#search-count strong")[0].text == "2"
    chips = {c.text_content().split("：")[0]: c.get("href") for c in sel(html, ".search-active a.chip-on")}
    assert set(chips) == {"年份", "日期"}
    assert query_of(chips["日期"]) == {"q": ["协同办公"], "year": [y]}
    assert query_of(chips["年份"]) == {"q": ["协同办公"], "from": [f"{y}-01-01"], "to": [f"{y}-12-31"]}
    clear = sel(html, ".search-active a.clear-all")[0]
    assert query_of(clear.get("href")) == {"q": ["协同办公"]}
    assert sel(html, "form.date-range input[name=from]")[0].get("value") == f"{y}-01-01"
    # A range outside every document's date: nothing, and a way back to all of them.
    status, html, _text = page(staff, q="协同办公", **{"from": "2000-01-01", "to": "2000-12-31"})
    assert status == 200
    assert sel(html, "#search-count strong")[0].text == "0"
    back = [a for a in sel(html, "#search-empty a") if "全部公文" in a.text_content()]
    assert back and query_of(back[0].get("href")) == {"q": ["协同办公"]}
    # A reversed range is the service's 422, shown on the page.
    status, html, _text = page(staff, q="协同办公", **{"from": "2026-12-31", "to": "2026-01-01"})
    assert status == 422
    assert "起始日期不能晚于截止日期" in sel(html, "#search-error")[0].text_content()
