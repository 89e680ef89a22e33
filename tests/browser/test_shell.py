"""The application shell in a real browser: sign-in, live push, directory search (htmx),
sign-out, the phone layout and the admin's new-person flow with the forced password change."""

from __future__ import annotations

import re
import secrets

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ADMIN_PASSWORD, new_context

pytestmark = pytest.mark.browser


def _path(page) -> str:
    return re.sub(r"^https?://[^/]+", "", page.url)


def test_sign_in_shows_home_with_name_and_live_push(page, server, sign_in):
    leader = server.person("leader")
    sign_in(page, "leader")

    assert _path(page) == "/"
    expect(page.locator("h1")).to_have_text("工作台")
    expect(page).to_have_title(re.compile("工作台"))
    expect(page.locator("header.topbar .usermenu .me")).to_have_text(leader.name)
    # Socket.IO over the session cookie: the status dot turns green.
    expect(page.locator("#push-status")).to_have_attribute("data-state", "connected", timeout=5_000)
    # The demo leader acts for the other vice-governor, who is away (出差委托).
    expect(page.get_by_role("heading", name="我的职务")).to_be_visible()
    expect(page.get_by_role("heading", name="可代为办理")).to_be_visible()


def test_directory_search_by_pinyin_initials_without_reload(page, server, sign_in, shots):
    target = server.person("divhead")
    sign_in(page, "leader")
    page.get_by_role("link", name="通讯录", exact=True).first.click()
    expect(page.locator("h1")).to_have_text("通讯录")
    assert _path(page) == "/directory"

    # A marker on window survives htmx swaps but not a full page load.
    page.evaluate("window.__noReload = true")
    results = page.locator("#people")

    page.locator("#dir-q").press_sequentially(target.initials, delay=40)
    expect(results.get_by_role("link", name=target.name)).to_be_visible()
    assert page.evaluate("window.__noReload === true"), "typing in the search box reloaded the page"
    expect(page).to_have_url(re.compile(rf"[?&]q={target.initials}\b"))  # hx-push-url

    # The 搜索 button works the same way: a different query, still no reload.
    other = server.person("staff")
    page.locator("#dir-q").fill(other.name)
    page.locator("form.searchbar").get_by_role("button", name="搜索").click()
    expect(results.get_by_role("link", name=other.name)).to_be_visible()
    assert page.evaluate("window.__noReload === true"), "the 搜索 button reloaded the page"
    page.screenshot(path=str(shots / "desktop-directory.png"))

    # Nothing found: a friendly message.
    page.locator("#dir-q").fill("zzzzqqqq")
    page.locator("form.searchbar").get_by_role("button", name="搜索").click()
    expect(results).to_contain_text("没有找到匹配的人员")


def test_sign_out_returns_to_login_and_guards_home(page, sign_in):
    sign_in(page, "secretary")
    expect(page.locator("h1")).to_have_text("工作台")

    with page.expect_navigation():
        page.locator("header.topbar").get_by_role("button", name="退出").click()
    assert _path(page).startswith("/login")
    expect(page.get_by_role("button", name="登录")).to_be_visible()
    expect(page.locator("header.topbar")).to_have_count(0)

    page.goto("/")
    assert _path(page).startswith("/login"), page.url
    expect(page.locator("input[name=username]")).to_be_visible()


def test_wrong_password_shows_chinese_error(page):
    page.goto("/login")
    page.fill("input[name=username]", "supervisor")
    page.fill("input[name=password]", "Wrong@2026password")
    with page.expect_navigation():
        page.get_by_role("button", name="登录").click()

    expect(page.get_by_role("alert")).to_contain_text("用户名或密码错误")
    assert _path(page).startswith("/login")
    # The username is kept, the password is not.
    expect(page.locator("input[name=username]")).to_have_value("supervisor")
    expect(page.locator("input[name=password]")).to_have_value("")


def test_phone_layout(phone, server, sign_in, shots):
    page = phone
    page.goto("/login")
    expect(page.get_by_role("button", name="登录")).to_be_visible()
    page.screenshot(path=str(shots / "phone-login.png"), full_page=True)

    sign_in(page, "leader")
    expect(page.locator("h1")).to_have_text("工作台")
    expect(page.locator("#push-status")).to_have_attribute("data-state", "connected", timeout=5_000)
    _assert_no_horizontal_scroll(page)
    page.screenshot(path=str(shots / "phone-home.png"), full_page=True)

    # The nav is folded behind ☰ on a phone.
    nav = page.locator("#mainnav")
    toggle = page.locator(".nav-toggle")
    expect(toggle).to_be_visible()
    expect(nav).to_be_hidden()
    toggle.click()
    expect(nav).to_be_visible()
    expect(nav.get_by_role("link", name="通讯录", exact=True)).to_be_visible()
    page.screenshot(path=str(shots / "phone-nav-open.png"))
    toggle.click()
    expect(nav).to_be_hidden()

    # Directory results are cards, readable within the screen width.
    toggle.click()
    nav.get_by_role("link", name="通讯录", exact=True).click()
    expect(page.locator("h1")).to_have_text("通讯录")
    target = server.person("divhead")
    page.locator("#dir-q").fill(target.initials)
    page.locator("form.searchbar").get_by_role("button", name="搜索").click()
    link = page.locator("#people").get_by_role("link", name=target.name)
    expect(link).to_be_visible()
    box = link.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    expect(page.locator("#people table.list thead")).to_be_hidden()  # rows become cards
    _assert_no_horizontal_scroll(page)
    page.locator("#people").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "phone-directory.png"), full_page=True)


def _assert_no_horizontal_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"page is {width}px wide on a 390px screen"


def test_admin_creates_person_who_must_change_password(page, sign_in, browser, server, shots):
    sign_in(page, "admin", ADMIN_PASSWORD)
    expect(page.locator("h1")).to_have_text("工作台")

    page.goto("/admin/users")
    expect(page.locator("h1")).to_have_text("人员管理")
    page.get_by_role("link", name="新建人员").click()
    expect(page.locator("h1")).to_have_text("新建人员")
    assert _path(page) == "/admin/users/new"

    suffix = secrets.token_hex(3)
    username = f"xinren{suffix}"
    name = "欧阳新人"
    temp_password = "Temp@2026start"
    form = page.locator("form.stack")
    form.locator("input[name=name]").fill(name)
    form.locator("input[name=username]").fill(username)
    form.locator("input[name=mobile]").fill(f"19900{int(suffix, 16) % 1_000_000:06d}")
    form.locator("input[name=password]").fill(temp_password)
    form.locator("select[name=unit_id]").select_option(label="示例省人民政府")
    form.locator("input[name=title]").fill("科员")
    expect(form.locator("input[name=roles][value=staff]")).to_be_checked()  # the default
    form.locator("input[name=roles][value=clerk]").check()
    page.screenshot(path=str(shots / "desktop-admin-user-new.png"), full_page=True)
    with page.expect_navigation():
        form.get_by_role("button", name="新建").click()

    expect(page.locator(".alert-success")).to_contain_text(f"已新建人员：{name}")
    page.goto(f"/admin/users?q={username}")
    row = page.locator("table.list tbody tr", has_text=username)
    expect(row).to_have_count(1)
    page.screenshot(path=str(shots / "desktop-admin-users.png"))
    expect(row).to_contain_text(name)
    expect(row).to_contain_text("示例省人民政府 · 科员")
    expect(row).to_contain_text("正常")

    # The new person signs in (own browser context) and is sent to change the password first.
    context = new_context(browser, server)
    try:
        newbie = context.new_page()
        sign_in(newbie, username, temp_password)
        assert _path(newbie) == "/account/password", newbie.url
        expect(newbie.locator(".alert-info")).to_contain_text("请先修改密码")
        newbie.screenshot(path=str(shots / "desktop-forced-password.png"))
        newbie.goto("/directory")  # every page is gated until the password is changed
        assert _path(newbie) == "/account/password", newbie.url

        new_password = "Mine@2026secret"
        newbie.fill("input[name=current_password]", temp_password)
        newbie.fill("input[name=new_password]", new_password)
        newbie.fill("input[name=confirm_password]", new_password)
        with newbie.expect_navigation():
            newbie.get_by_role("button", name="保存").click()
        assert _path(newbie) != "/account/password", newbie.url
        newbie.goto("/")
        expect(newbie.locator("h1")).to_have_text("工作台")
        expect(newbie.locator("header .me")).to_have_text(name)
    finally:
        context.close()
