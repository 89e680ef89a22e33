"""公文 in a real browser, with the demo's people, each in their own browser context: a 通知
drafted by 综合处 staff goes 部门审核 → 办公室核稿 → 签发 (the named leader, on a phone) →
复核 → 编号 → 用印 → 分发 → 归档; then its copy at 西河县人民政府 is 签收, 登记, 拟办 (choosing
the 县长), 批办 (naming a handler and a deadline), 承办, 传阅完毕 and 办结. Every step's to-do
shows in the next person's 待办 list, and is gone once they have acted."""

from __future__ import annotations

import re
import secrets
import sqlite3
from contextlib import closing
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DEMO_PASSWORD, _sign_in, _watched_page, new_context

pytestmark = pytest.mark.browser

DESKTOP = {"viewport": {"width": 1280, "height": 800}}
PHONE = {
    "viewport": {"width": 375, "height": 812},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}


class People:
    """One browser context per person, signed in once; console errors fail the test."""

    def __init__(self, browser, server) -> None:
        self.browser, self.server = browser, server
        self.contexts: list = []
        self.errors: list[str] = []
        self.pages: dict[str, object] = {}

    def __call__(self, username: str, **options):
        if username not in self.pages:
            context = new_context(self.browser, self.server, **(options or DESKTOP))
            self.contexts.append(context)
            page = _watched_page(context, self.errors)
            _sign_in(page, username)
            self.pages[username] = page
        return self.pages[username]

    def close(self) -> None:
        for context in self.contexts:
            context.close()
        unexpected = [e for e in self.errors if not re.search(r"status of (401|422)\b", e)]
        assert not unexpected, "browser errors:\n" + "\n".join(unexpected)


@pytest.fixture
def people(browser, server):
    crowd = People(browser, server)
    yield crowd
    crowd.close()


def _query(server, sql: str, *args):
    with closing(sqlite3.connect(f"file:{server.instance / 'office.db'}?mode=ro", uri=True)) as conn:
        return conn.execute(sql, args).fetchone()


def _open_todo(page, title: str) -> None:
    """The item is in the 待办 list; open it (the document or incoming page)."""
    page.goto("/todos")
    row = page.locator("#todo-list tr.todo-row", has_text=title)
    expect(row).to_have_count(1)
    with page.expect_navigation():
        row.locator("a.todo-title").click()


def _no_todo(page, title: str) -> None:
    page.goto("/todos")
    expect(page.locator("#todo-list tr.todo-row", has_text=title)).to_have_count(0)


def _press(page, button: str, opinion: str | None = None) -> None:
    if opinion is not None:
        page.locator("#action-form textarea[name=opinion]").fill(opinion)
    with page.expect_navigation():
        page.locator(f"#action-form #{button}").click()


def _no_horizontal_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.viewport_size["width"]
    assert width <= viewport, f"page is {width}px wide on a {viewport}px screen"


def test_notice_from_draft_to_archive_and_its_incoming_copy_to_done(people, server, shots):
    token = secrets.token_hex(2)
    title = f"关于开展政务公开专项检查的通知（{token}）"
    leader = server.person("leader")
    county_gov = "西河县人民政府"
    county_head = _query(
        server,
        "SELECT u.username, u.name FROM users u JOIN posts p ON p.user_id = u.id "
        "JOIN units n ON n.id = p.unit_id WHERE n.name = ? AND p.title = '县长'",
        county_gov,
    )
    handler = _query(
        server,
        "SELECT u.id, u.username, u.name FROM users u JOIN posts p ON p.user_id = u.id "
        "JOIN units n ON n.id = p.unit_id JOIN units up ON up.id = n.parent_id "
        "WHERE n.name = '预算股' AND up.name = '西河县财政局' AND p.title <> '股长' ORDER BY u.id",
    )
    assert county_head and handler

    # ---------------------------------------------------------------- 拟稿 (staff)
    staff = people("staff")
    staff.goto("/documents/")
    staff.locator(".subnav").get_by_role("link", name="拟稿").click()
    expect(staff.locator("h1")).to_have_text("拟稿")
    staff.locator("#f-title").fill(title)
    staff.locator("#f-urgency").select_option(label="加急")
    main = staff.locator("#f-main label.check-row").filter(has=staff.get_by_text(county_gov, exact=True))
    main.locator("input").check()
    staff.locator("#f-signers label.check-row", has_text=leader.name).locator("input").check()
    expect(staff.locator("#f-signers [data-checklist-picked]")).to_contain_text(leader.name)
    staff.locator("#f-body").fill(
        "为深入推进政务公开工作，现就开展专项检查有关事项通知如下。\n"
        "一、检查内容\n（一）政府信息主动公开情况。\n（二）依申请公开办理情况。\n"
        "二、时间安排\n| 阶段 | 时间 |\n| 自查 | 12月上旬 |\n| 抽查 | 12月下旬 |\n"
        "请各地按时报送自查报告。"
    )
    staff.locator("input[name=note]").fill("此件公开发布")
    staff.screenshot(path=str(shots / "desktop-documents-new.png"), full_page=True)
    with staff.expect_navigation():
        staff.get_by_role("button", name="保存草稿").click()
    expect(staff.locator(".alert-success")).to_contain_text("已保存草稿")
    expect(staff.locator("h1.doc-h1")).to_have_text(title)
    doc_path = re.sub(r"^https?://[^/]+", "", staff.url)
    assert re.fullmatch(r"/documents/\d+", doc_path), doc_path
    expect(staff.locator(".redhead")).to_contain_text(title)
    expect(staff.locator("#progress .step-current")).to_contain_text("拟稿")
    _press(staff, "btn-submit", "请审核")
    expect(staff.locator(".alert-success")).to_contain_text("已提交。下一环节：部门审核")
    expect(staff.locator("#timeline")).to_contain_text("请审核")

    # ---------------------------------------------------------------- 部门审核 (divhead)
    divhead = people("divhead")
    _open_todo(divhead, f"部门审核：{title}")
    expect(divhead.locator("#actions h2")).to_have_text("待我办理：部门审核")
    _press(divhead, "btn-submit", "同意，请办公厅核稿")
    expect(divhead.locator(".alert-success")).to_contain_text("已同意。下一环节：办公室核稿")
    _no_todo(divhead, f"部门审核：{title}")

    # ---------------------------------------------------------------- 办公室核稿 (clerk)
    clerk = people("clerk")
    _open_todo(clerk, f"办公室核稿：{title}")
    expect(clerk.locator(".choose-fs legend")).to_contain_text("下一环节：会签")
    _press(clerk, "btn-submit", "核稿无误")
    expect(clerk.locator(".alert-success")).to_contain_text(f"下一环节：签发（{leader.name}）")
    expect(clerk.locator("#progress .step-skipped")).to_contain_text("会签")

    # ---------------------------------------------------------------- 签发 (the leader, on a phone)
    phone = people("leader", **PHONE)
    _open_todo(phone, f"签发：{title}")
    expect(phone.locator(".doc-reading")).to_contain_text("一、检查内容")
    expect(phone.locator("#actions h2")).to_have_text("待我办理：签发")
    _no_horizontal_scroll(phone)
    phone.screenshot(path=str(shots / "phone-document-sign-off.png"), full_page=True)
    phone.locator("#actions textarea[name=opinion]").fill("同意印发。")
    with phone.expect_navigation():
        phone.locator("#btn-submit").click()
    expect(phone.locator(".alert-success")).to_contain_text("已签发")
    expect(phone.locator("#timeline .tl-sign_off")).to_contain_text("同意印发。")
    _no_todo(phone, f"签发：{title}")

    # ---------------------------------------------------------------- 复核, 编号 (clerk)
    _open_todo(clerk, f"复核：{title}")
    _press(clerk, "btn-submit", "复核无误")
    _open_todo(clerk, f"编号：{title}")
    _press(clerk, "btn-number")
    expect(clerk.locator(".alert-success")).to_contain_text("已编号，文号 示政办〔")
    number = clerk.locator(".doc-number").text_content()
    expect(clerk.locator(".redhead")).to_contain_text(number)

    # ---------------------------------------------------------------- 用印 (sealkeeper)
    sealkeeper = people("sealkeeper")
    _open_todo(sealkeeper, f"用印：{title}")
    sealkeeper.locator("#action-form input[name=password]").fill(DEMO_PASSWORD)  # the second factor
    _press(sealkeeper, "btn-seal")
    expect(sealkeeper.locator(".alert-success")).to_contain_text("已用印")
    expect(sealkeeper.locator(".tag-frozen")).to_be_visible()

    # ---------------------------------------------------------------- 分发, 归档 (clerk)
    _open_todo(clerk, f"分发：{title}")
    _press(clerk, "btn-distribute")
    expect(clerk.locator(".alert-success")).to_contain_text("已分发至 1 个单位")
    exchange = clerk.locator("#exchange tr", has_text=county_gov)
    expect(exchange).to_contain_text("待签收")
    _open_todo(clerk, f"归档：{title}")
    _press(clerk, "btn-archive")
    expect(clerk.locator(".alert-success")).to_contain_text("已归档")
    expect(clerk.get_by_role("link", name="下载归档包")).to_be_visible()
    clerk.screenshot(path=str(shots / "desktop-document-archived.png"), full_page=True)
    staff.goto("/documents/?box=archived")
    expect(staff.locator("#doc-list tr.doc-row", has_text=title)).to_contain_text(number)

    # ---------------------------------------------------------------- 收文 at 西河县: 签收, 登记, 拟办
    county = people("county")
    _open_todo(county, f"签收：{title}")
    expect(county.locator("#record")).to_contain_text("未签收")
    _press(county, "btn-sign_for")
    expect(county.locator(".alert-success")).to_contain_text("已签收")
    _no_todo(county, f"签收：{title}")
    _open_todo(county, f"登记：{title}")
    _press(county, "btn-register")
    expect(county.locator(".alert-success")).to_contain_text("收文编号 收〔")
    _open_todo(county, f"拟办：{title}")
    county.locator(".choose-fs label.check", has_text=county_head[1]).locator("input").check()
    _press(county, "btn-submit", f"拟请{county_head[1]}县长阅示，由县财政局牵头办理。")
    expect(county.locator(".alert-success")).to_contain_text(f"下一环节：批办（{county_head[1]}）")

    # 批办 (the 县长 names the handler and a deadline)
    head = people(county_head[0])
    _open_todo(head, f"批办：{title}")
    head.locator("#action-form textarea[name=opinion]").fill(f"请{handler[2]}同志牵头办理，按期报告。")
    head.locator("#lead-handler").select_option(str(handler[0]))
    head.locator("input[name=deadline]").fill((date.today() + timedelta(days=7)).isoformat())
    with head.expect_navigation():
        head.locator("#btn-submit").click()
    expect(head.locator(".alert-success")).to_contain_text(f"已批办。下一环节：承办（{handler[2]}）")
    expect(head.locator("#record .instruction")).to_contain_text("牵头办理")
    _no_todo(head, f"批办：{title}")

    # 承办, 传阅完毕, 办结
    worker = people(handler[1], **PHONE)
    _open_todo(worker, f"承办：{title}")
    expect(worker.locator("#record")).to_contain_text(f"请{handler[2]}同志牵头办理")
    _no_horizontal_scroll(worker)
    worker.screenshot(path=str(shots / "phone-incoming-handle.png"), full_page=True)
    _press(worker, "btn-submit", "已部署开展自查，按期报送。")
    expect(worker.locator(".alert-success")).to_contain_text("已办理完毕。下一环节：传阅")
    _open_todo(county, f"传阅：{title}")
    _press(county, "btn-submit")
    expect(county.locator(".alert-success")).to_contain_text(f"传阅完毕。下一环节：办结（{handler[2]}）")
    _open_todo(worker, f"办结：{title}")
    _press(worker, "btn-complete", "已办结")
    expect(worker.locator(".alert-success")).to_contain_text("已办结")
    expect(worker.locator(".doc-badges")).to_contain_text("已办结")
    _no_todo(worker, f"办结：{title}")

    # The sender sees who signed for it.
    clerk.goto(doc_path)
    expect(clerk.locator("#exchange tr", has_text=county_gov)).to_contain_text("已办结")
    county.goto("/documents/incoming")
    expect(county.locator("#incoming-list tr", has_text=title)).to_contain_text("已办结")
    county.screenshot(path=str(shots / "desktop-incoming-list.png"), full_page=True)
