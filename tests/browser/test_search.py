"""全文检索 in a real browser: 综合处 staff drafts a 通知 and a 通报 (through the API), types
数字政府 协同办公 into the header's search box and presses Enter; the results page lists both
with the words marked, the 文种 filter narrows to the 通报, the date sort keeps the filter, and
the result opens the document. On a phone the header box and the results fit the screen."""

from __future__ import annotations

import re
import secrets
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from tests.browser.test_documents import _no_horizontal_scroll, _query
from tests.browser.test_seals import Api

pytestmark = pytest.mark.browser

QUERY = "数字政府 协同办公"


def _params(page) -> dict[str, list[str]]:
    parts = urlsplit(page.url)
    assert parts.path == "/search", page.url
    return parse_qs(parts.query)


def _two_documents(server) -> tuple[dict, dict]:
    """A 通知 and a 通报 drafted by staff, both about 数字政府 and 协同办公."""
    token = secrets.token_hex(2)
    api = Api(server)
    county = _query(server, "SELECT id FROM units WHERE name = '西河县人民政府'")[0]
    docs = []
    for doc_type, title, body in (
        (
            "notice",
            f"关于推进数字政府协同办公平台建设的通知（{token}）",
            "为加快数字政府建设，全面推广协同办公平台，现就有关事项通知如下。\n一、统一思想认识。",
        ),
        (
            "circular",
            f"关于数字政府协同办公工作进展情况的通报（{token}）",
            "今年以来，各地各部门扎实推进数字政府建设，协同办公平台覆盖面持续扩大。",
        ),
    ):
        docs.append(
            api.post(
                "staff",
                "/api/v1/documents",
                {
                    "title": title,
                    "doc_type": doc_type,
                    "direction": "down",
                    "main_unit_ids": [county],
                    "body": body,
                },
                status=201,
            )
        )
    return docs[0], docs[1]


def test_header_search_filters_sorts_and_opens_a_document(page, server, sign_in, shots):
    notice, circular = _two_documents(server)
    sign_in(page, "staff")

    box = page.locator("header.topbar #header-search")
    expect(box).to_be_visible()
    expect(box).to_have_attribute("placeholder", re.compile("搜索公文"))
    box.fill(QUERY)
    with page.expect_navigation():
        box.press("Enter")
    assert _params(page) == {"q": [QUERY]}
    expect(page.locator("h1")).to_have_text("全文检索")
    expect(box).to_have_value(QUERY)
    expect(page.locator("#search-q")).to_have_value(QUERY)

    hits = page.locator("ol.hits li.hit")
    notice_hit = hits.filter(has_text=notice["title"])
    circular_hit = hits.filter(has_text=circular["title"])
    expect(notice_hit).to_have_count(1)
    expect(circular_hit).to_have_count(1)
    expect(notice_hit.locator(".hit-title mark").first).to_have_text(re.compile("数字政府|协同办公"))
    expect(notice_hit.locator(".hit-snippet mark").first).to_be_visible()
    expect(notice_hit.locator(".hit-meta")).to_contain_text("通知")
    # The marks stand out: a coloured background, not the page's.
    background = notice_hit.locator(".hit-snippet mark").first.evaluate(
        "m => getComputedStyle(m).backgroundColor"
    )
    assert background not in ("rgba(0, 0, 0, 0)", "rgb(255, 255, 255)"), background
    expect(page.locator("#search-count")).to_contain_text("件相关公文")
    page.screenshot(path="/tmp/search-desktop.png", full_page=True)
    page.screenshot(path=str(shots / "desktop-search.png"), full_page=True)

    # 文种: 通报 (the count is shown beside it).
    facet = page.locator("#facet-doc_type a[data-value=circular]")
    expect(facet).to_be_visible()
    expect(facet.locator(".facet-count")).to_have_text(re.compile(r"^\d+$"))
    with page.expect_navigation():
        facet.click()
    assert _params(page) == {"q": [QUERY], "doc_type": ["circular"]}
    expect(page.locator("#facet-doc_type a.on")).to_have_attribute("data-value", "circular")
    expect(page.locator(".search-active .chip-on")).to_contain_text("通报")
    expect(hits.filter(has_text=circular["title"])).to_have_count(1)
    expect(hits.filter(has_text=notice["title"])).to_have_count(0)
    for tag in hits.locator(".hit-meta .tag").all_text_contents():
        assert tag == "通报"

    # Sorted by date: the filter stays.
    with page.expect_navigation():
        page.locator(".search-sort").get_by_role("link", name="日期").click()
    assert _params(page) == {"q": [QUERY], "doc_type": ["circular"], "sort": ["date"]}
    expect(page.locator(".search-sort a.active")).to_have_text("日期")
    expect(hits.filter(has_text=circular["title"])).to_have_count(1)

    # Removing the filter brings the 通知 back; the result opens the document.
    with page.expect_navigation():
        page.locator(".search-active .chip-on").click()
    assert _params(page) == {"q": [QUERY], "sort": ["date"]}
    expect(hits.filter(has_text=notice["title"])).to_have_count(1)
    with page.expect_navigation():
        hits.filter(has_text=circular["title"]).locator(".hit-title a").click()
    assert urlsplit(page.url).path == f"/documents/{circular['id']}"
    expect(page.locator("h1.doc-h1")).to_have_text(circular["title"])


def test_nothing_found_and_help_on_the_results_page(page, sign_in):
    sign_in(page, "staff")
    page.goto("/search")
    expect(page.locator("#search-q")).to_be_focused()
    expect(page.locator("#search-count")).to_have_count(0)
    page.locator("#search-q").fill("，。！？")
    with page.expect_navigation():
        page.locator("form.search-main").get_by_role("button", name="搜索").click()
    expect(page.locator("#search-empty")).to_contain_text("未找到相关公文")
    expect(page.locator(".alert-error")).to_have_count(0)
    # The syntax help opens.
    help_ = page.locator("details.search-help")
    expect(help_.locator("dl")).to_be_hidden()
    help_.locator("summary").click()
    expect(help_.locator("dl")).to_contain_text("OR")
    expect(help_.locator("dl")).to_contain_text("排除")
    # The box takes no more than 200 characters.
    page.locator("#header-search").fill("字" * 250)
    assert len(page.locator("#header-search").input_value()) == 200


def test_phone_header_box_and_results_fit_the_screen(phone, server, sign_in, shots):
    notice, _circular = _two_documents(server)
    sign_in(phone, "staff")
    _no_horizontal_scroll(phone)

    box = phone.locator("#header-search")
    expect(box).to_be_visible()
    assert box.bounding_box()["width"] >= 250, box.bounding_box()
    box.tap()
    box.fill(QUERY)
    with phone.expect_navigation():
        box.press("Enter")
    hit = phone.locator("ol.hits li.hit").filter(has_text=notice["title"])
    expect(hit).to_have_count(1)
    expect(hit.locator(".hit-snippet mark").first).to_be_visible()
    _no_horizontal_scroll(phone)
    phone.screenshot(path="/tmp/search-phone.png")
    phone.screenshot(path=str(shots / "phone-search.png"), full_page=True)

    # The filters fold above the results; opened, they push the results down.
    filters = phone.locator("details.search-filters")
    facet = phone.locator("#facet-doc_type a[data-value=notice]")
    expect(facet).to_be_hidden()
    assert filters.bounding_box()["y"] < phone.locator("ol.hits").bounding_box()["y"]
    filters.locator("summary").tap()
    expect(facet).to_be_visible()
    with phone.expect_navigation():
        facet.tap()
    assert _params(phone)["doc_type"] == ["notice"]
    expect(phone.locator("ol.hits li.hit").filter(has_text=notice["title"])).to_have_count(1)
    _no_horizontal_scroll(phone)
    with phone.expect_navigation():
        phone.locator("ol.hits li.hit").filter(has_text=notice["title"]).locator(".hit-title a").tap()
    expect(phone.locator("h1.doc-h1")).to_have_text(notice["title"])
