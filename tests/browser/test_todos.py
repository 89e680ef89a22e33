"""The 待办 page in a real browser: a 交办 sent by one person appears live for another (badge,
bell, list row, no reload), is completed there and shows as done for the sender; catching up
after a dropped push connection; the phone layout."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.conftest import DEMO_PASSWORD, _watched_page, new_context

pytestmark = pytest.mark.browser


def _path(page) -> str:
    return re.sub(r"^https?://[^/]+", "", page.url)


def _int(locator) -> int:
    text = locator.text_content() or ""
    return int(text) if text.strip().isdigit() else 0


class Other:
    """A second person in their own browser context, with the same error watch as ``page``."""

    def __init__(self, browser, server, **options) -> None:
        self.context = new_context(browser, server, **options)
        self.errors: list[str] = []
        self.page = _watched_page(self.context, self.errors)

    def close(self) -> None:
        self.context.close()
        unexpected = [e for e in self.errors if not re.search(r"status of (401|422)\b", e)]
        assert not unexpected, "browser errors:\n" + "\n".join(unexpected)


@pytest.fixture
def other(browser, server):
    people: list[Other] = []

    def make(**options) -> Other:
        people.append(Other(browser, server, **options))
        return people[-1]

    yield make
    for o in people:
        o.close()


def _api_send(server, sender: str, target_username: str, title: str, **fields) -> dict:
    """A 交办 through the API (bearer token), for setting the scene."""
    with requests.Session() as http:
        resp = http.post(
            f"{server.url}/api/v1/auth/token",
            json={"username": sender, "password": DEMO_PASSWORD},
            timeout=10,
        )
        assert resp.status_code == 201, resp.text
        http.headers["Authorization"] = f"Bearer {resp.json()['token']}"
        target = server.person(target_username)
        found = http.get(f"{server.url}/api/v1/users", params={"q": target.username}, timeout=10).json()
        user_id = next(u["id"] for u in found["items"] if u["username"] == target.username)
        resp = http.post(
            f"{server.url}/api/v1/todos", json={"user_id": user_id, "title": title, **fields}, timeout=10
        )
        assert resp.status_code == 201, resp.text
        return resp.json()


def test_memo_appears_live_and_is_completed(page, other, server, sign_in, shots):
    sender, handler = server.person("divhead"), server.person("staff")
    title = f"请报送第四季度工作总结 {secrets.token_hex(2)}"

    # B (the handler) is on the 待办 page, connected.
    b = other(viewport={"width": 1280, "height": 800}).page
    sign_in(b, "staff")
    b.goto("/todos")
    expect(b.locator("h1")).to_have_text("待办")
    expect(b.locator("#push-status")).to_have_attribute("data-state", "connected", timeout=5_000)
    badge = b.locator("#todo-badge")
    pending_before = int(badge.get_attribute("data-count") or 0)
    unread_before = int(b.locator("#bell").get_attribute("data-unread") or 0)
    b.evaluate("window.__marker = 'still here'")

    # A (the sender) fills the 交办 form: the person is picked from search results.
    sign_in(page, "divhead")
    page.goto("/todos")
    page.get_by_role("link", name="交办事项").click()
    expect(page.locator("h1")).to_have_text("交办事项")
    page.locator("#memo-q").press_sequentially(handler.initials, delay=30)
    choice = page.locator("#memo-people button.choice", has_text=handler.name)
    expect(choice).to_be_visible()
    choice.click()
    expect(page.locator("[data-picker-picked]")).to_contain_text(handler.name)
    expect(page.locator("#memo-q")).to_be_hidden()
    page.locator("input[name=title]").fill(title)
    page.locator("textarea[name=body]").fill("请于本周五下班前报送办公厅综合处。")
    page.locator("select[name=urgency]").select_option(label="特急")
    due = datetime.now(UTC) + timedelta(days=3)
    page.locator("input[name=due_at]").fill((due + timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M"))
    page.screenshot(path=str(shots / "desktop-todo-new.png"), full_page=True)
    with page.expect_navigation():
        page.get_by_role("button", name="交办", exact=True).click()
    expect(page.locator(".alert-success")).to_contain_text(f"已交办给 {handler.name}")
    expect(page.locator("h1")).to_have_text(title)
    item_path = _path(page)
    assert re.fullmatch(r"/todos/\d+", item_path), item_path
    todo_id = item_path.rsplit("/", 1)[1]

    # B: badge, bell and the new row, without a reload.
    expect(badge).to_have_attribute("data-count", str(pending_before + 1))
    expect(b.locator("#bell")).to_have_attribute("data-unread", str(unread_before + 1))
    row = b.locator(f"#todo-list tr.todo-row[data-id='{todo_id}']")
    expect(row).to_be_visible()
    expect(row).to_contain_text(title)
    expect(row).to_contain_text("特急")
    expect(row).to_contain_text(sender.name)
    expect(b.locator("#todo-list tr.empty-row")).to_be_hidden()
    expect(b.locator(".toast")).to_contain_text(f"新待办：{title}")
    expect(b.locator(".tabs [data-count-of=pending]")).to_have_text(str(pending_before + 1))
    assert b.evaluate("window.__marker") == "still here", "the page reloaded"
    b.screenshot(path=str(shots / "desktop-todos-live.png"), full_page=True)

    # The bell's dropdown lists it.
    b.locator("#bell").click()
    panel = b.locator("#bell-panel")
    expect(panel).to_be_visible()
    expect(panel.locator("#bell-list li").first).to_contain_text(f"新待办：{title}")
    b.screenshot(path=str(shots / "desktop-bell.png"))
    b.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    assert b.evaluate("window.__marker") == "still here"

    # B opens it and completes it.
    with b.expect_navigation():
        row.locator("a.todo-title").click()
    assert _path(b) == item_path
    expect(b.locator("h1")).to_have_text(title)
    expect(b.locator(".todo-detail")).to_contain_text(sender.name)
    with b.expect_navigation():
        b.get_by_role("button", name="办结").click()
    expect(b.locator(".alert-success")).to_contain_text("已办结")
    expect(b.locator(".todo-detail .status")).to_have_text("已办结")
    expect(b.get_by_role("button", name="办结")).to_have_count(0)
    expect(b.locator("#todo-badge")).to_have_attribute("data-count", str(pending_before))
    b.screenshot(path=str(shots / "desktop-todo-detail.png"), full_page=True)

    # A: 我交办的 shows it done.
    page.goto("/todos?tab=sent")
    sent = page.locator(f"#sent-list tr[data-id='{todo_id}']")
    expect(sent).to_contain_text(title)
    expect(sent).to_contain_text(handler.name)
    expect(sent.locator(".status")).to_have_text("已办结")
    page.screenshot(path=str(shots / "desktop-todos-sent.png"), full_page=True)


def test_catch_up_after_the_push_connection_drops(page, server, sign_in):
    sign_in(page, "staff")
    page.goto("/todos")
    expect(page.locator("#push-status")).to_have_attribute("data-state", "connected", timeout=5_000)
    pending = int(page.locator("#todo-badge").get_attribute("data-count") or 0)
    unread = int(page.locator("#bell").get_attribute("data-unread") or 0)
    page.evaluate("window.__marker = 1; window.officePush.disconnect()")
    expect(page.locator("#push-status")).to_have_attribute("data-state", "offline")

    title = f"断线期间交办的事项 {secrets.token_hex(2)}"
    sent = _api_send(server, "divhead", "staff", title, urgency="urgent")

    page.evaluate("window.officePush.connect()")
    expect(page.locator("#push-status")).to_have_attribute("data-state", "connected", timeout=5_000)
    expect(page.locator("#bell")).to_have_attribute("data-unread", str(unread + 1))
    expect(page.locator("#todo-badge")).to_have_attribute("data-count", str(pending + 1))
    expect(page.locator(f"#todo-list tr.todo-row[data-id='{sent['id']}']")).to_contain_text(title)
    assert page.evaluate("window.__marker") == 1, "the page reloaded"

    # A second drop with nothing new changes nothing (each notification is counted once).
    page.evaluate("window.officePush.disconnect(); window.officePush.connect()")
    expect(page.locator("#push-status")).to_have_attribute("data-state", "connected", timeout=5_000)
    page.wait_for_timeout(500)
    assert int(page.locator("#bell").get_attribute("data-unread") or 0) == unread + 1


def test_phone_layout_of_the_todo_page(phone, server, sign_in, shots):
    for title, urgency, days in [
        ("请审核处室年度预算调整方案并提出意见", "very_urgent", 1),
        ("请准备周三专题会汇报材料", "urgent", 2),
        ("请整理本月来文登记台账", "normal", None),
    ]:
        fields = {"urgency": urgency}
        if days:
            fields["due_at"] = (datetime.now(UTC) + timedelta(days=days)).isoformat()
        _api_send(server, "divhead", "staff", title, **fields)

    page = phone
    sign_in(page, "staff")
    card = page.locator(".today-todos")
    expect(card).to_contain_text("请审核处室年度预算调整方案并提出意见")
    _assert_no_horizontal_scroll(page)
    page.screenshot(path=str(shots / "phone-home-todos.png"), full_page=True)

    expect(page.locator("#todo-badge")).to_be_visible()
    expect(page.locator("#bell")).to_be_visible()
    page.locator("#todo-badge").click()
    expect(page.locator("h1")).to_have_text("待办")
    expect(page.locator("#push-status")).to_have_attribute("data-state", "connected", timeout=5_000)
    rows = page.locator("#todo-list tr.todo-row")
    expect(rows.first).to_contain_text("特急")  # the most urgent first
    expect(page.locator("#todo-list thead")).to_be_hidden()  # rows become cards
    for i in range(rows.count()):
        box = rows.nth(i).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    _assert_no_horizontal_scroll(page)
    page.screenshot(path=str(shots / "phone-todos.png"), full_page=True)

    page.locator("#bell").click()
    panel = page.locator("#bell-panel")
    expect(panel).to_be_visible()
    expect(panel.locator("#bell-list li").first).not_to_have_text("加载中…")
    box = panel.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    page.screenshot(path=str(shots / "phone-bell.png"))
    page.locator("#bell").click()

    page.goto("/todos/new")
    _assert_no_horizontal_scroll(page)
    page.screenshot(path=str(shots / "phone-todo-new.png"), full_page=True)

    # The inbox: unread items marked; 全部已读 clears them and the bell.
    page.goto("/notifications")
    expect(page.locator("#notif-list li.notif.unread").first).to_be_visible()
    _assert_no_horizontal_scroll(page)
    page.screenshot(path=str(shots / "phone-notifications.png"), full_page=True)
    with page.expect_navigation():
        page.get_by_role("button", name="全部已读").click()
    expect(page.locator(".alert-success")).to_contain_text("标为已读")
    expect(page.locator("#notif-list li.notif.unread")).to_have_count(0)
    expect(page.locator("#bell")).to_have_attribute("data-unread", "0")


def _assert_no_horizontal_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"page is {width}px wide on a 390px screen"
