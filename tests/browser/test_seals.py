"""电子印章 in a real browser: a 通知 is taken to 用印 through the API (the browser test of
the whole flow is test_documents); the seal keeper opens it from 待办, a wrong password is
refused on the page (still signed in), the right one seals it; the keeper downloads the
sealed .docx and its .p7s and checks them on 验证签章 (intact), then a copy with one byte
changed (altered). The unit admin creates a seal on 印章管理 and suspends and resumes it."""

from __future__ import annotations

import re
import secrets

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.conftest import DEMO_PASSWORD
from tests.browser.test_documents import People, _open_todo, _query

pytestmark = pytest.mark.browser


class Api:
    """The JSON API as the demo's people (bearer tokens), to set a document up quickly."""

    def __init__(self, server) -> None:
        self.server = server
        self.http = requests.Session()
        self.tokens: dict[str, str] = {}

    def _auth(self, username: str) -> dict[str, str]:
        if username not in self.tokens:
            resp = self.http.post(
                f"{self.server.url}/api/v1/auth/token",
                json={"username": username, "password": DEMO_PASSWORD},
                timeout=30,
            )
            assert resp.status_code == 201, resp.text
            self.tokens[username] = resp.json()["token"]
        return {"Authorization": f"Bearer {self.tokens[username]}"}

    def get(self, username: str, path: str) -> dict:
        resp = self.http.get(f"{self.server.url}{path}", headers=self._auth(username), timeout=30)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def post(self, username: str, path: str, body: dict, status: int = 200) -> dict:
        resp = self.http.post(f"{self.server.url}{path}", json=body, headers=self._auth(username), timeout=60)
        assert resp.status_code == status, resp.text
        return resp.json()


#: The seal image (served by the API with the browser session) has loaded.
_IMAGE_LOADED = "s => { const i = document.querySelector(s); return !!i && i.naturalWidth > 0; }"


@pytest.fixture
def people(browser, server):
    """One signed-in browser context per person (see test_documents); console errors fail."""
    crowd = People(browser, server)
    yield crowd
    crowd.close()


def _username(server, user_id: int) -> str:
    return _query(server, "SELECT username FROM users WHERE id = ?", user_id)[0]


def _to_seal_step(server, title: str) -> int:
    """拟稿 by staff, then each step's first handler acts through the API until 用印."""
    api = Api(server)
    county = _query(server, "SELECT id FROM units WHERE name = '西河县人民政府'")[0]
    leader = _query(server, "SELECT id FROM users WHERE username = 'leader'")[0]
    doc = api.post(
        "staff",
        "/api/v1/documents",
        {
            "title": title,
            "doc_type": "notice",
            "direction": "down",
            "main_unit_ids": [county],
            "signer_ids": [leader],
            "body": "为规范电子印章使用，现就有关事项通知如下。\n一、严格用印审批。\n二、定稿不得改动。",
        },
        status=201,
    )
    doc_id = doc["id"]
    for _ in range(12):
        fl = api.get("staff", f"/api/v1/documents/{doc_id}")["flow"]
        if fl["step"] == "seal":
            return doc_id
        who = _username(server, fl["handlers"][0]["id"])
        action = "number" if fl["step"] == "number" else "submit"
        opinion = "同意印发。" if fl["step"] == "sign_off" else "同意"
        api.post(who, f"/api/v1/documents/{doc_id}/{action}", {"opinion": opinion})
    raise AssertionError(f"document {doc_id} did not reach 用印")


def test_keeper_seals_with_password_and_anyone_verifies_the_file(people, server, shots, tmp_path):
    token = secrets.token_hex(2)
    title = f"关于规范电子印章使用的通知（{token}）"
    keeper_name = server.person("sealkeeper").name
    issuer_seal = _query(
        server,
        "SELECT s.name FROM seals s JOIN seal_keepers k ON k.seal_id = s.id JOIN users u ON u.id = k.user_id "
        "JOIN units n ON n.id = s.unit_id WHERE u.username = 'sealkeeper' AND n.short_name = '示政办' "
        "AND s.status = 'active' AND s.kind = 'official'",
    )
    assert issuer_seal, "the demo data has no 公章 kept by sealkeeper for 办公厅"
    doc_id = _to_seal_step(server, title)

    # ---------------------------------------------------------------- 用印: wrong, then right password
    keeper = people("sealkeeper")
    _open_todo(keeper, f"用印：{title}")
    expect(keeper.locator("#actions h2")).to_have_text("待我办理：用印")
    expect(keeper.locator("#actions .seal-use")).to_contain_text(issuer_seal[0])
    keeper.wait_for_function(_IMAGE_LOADED, arg="#actions .seal-use img")
    keeper.screenshot(path=str(shots / "desktop-document-seal.png"), full_page=True)
    keeper.locator("#action-form input[name=password]").fill("not-my-password")
    with keeper.expect_navigation():
        keeper.locator("#action-form #btn-seal").click()
    expect(keeper.locator("#actions .alert-error")).to_contain_text("密码不正确，本次用印未执行")
    expect(keeper.locator(".topbar .me")).to_have_text(keeper_name)  # still signed in
    expect(keeper.locator("#progress .step-current")).to_contain_text("用印")

    keeper.locator("#action-form textarea[name=opinion]").fill("核对无误，同意用印")
    keeper.locator("#action-form input[name=password]").fill(DEMO_PASSWORD)
    with keeper.expect_navigation():
        keeper.locator("#action-form #btn-seal").click()
    expect(keeper.locator(".alert-success")).to_contain_text("已用印")
    expect(keeper.locator(".tag-frozen")).to_be_visible()
    expect(keeper.locator("#progress .step-current")).to_contain_text("分发")
    expect(keeper.locator("#signature")).to_contain_text(issuer_seal[0])
    expect(keeper.locator("#signature")).to_contain_text(keeper_name)
    # 签发 is signed with the leader's own key.
    expect(keeper.locator("#timeline .tl-sign_off .sig-ok")).to_have_text("✓ 签名有效")

    # ---------------------------------------------------------------- download the sealed file and signature
    with keeper.expect_download() as got:
        keeper.locator(".doc-buttons").get_by_role("link", name="下载 .docx").click()
    docx = tmp_path / got.value.suggested_filename
    got.value.save_as(docx)
    with keeper.expect_download() as got:
        keeper.locator("#p7s-link").click()
    p7s = tmp_path / got.value.suggested_filename
    got.value.save_as(p7s)
    assert docx.suffix == ".docx" and p7s.name.endswith(".docx.p7s"), (docx, p7s)
    assert docx.read_bytes()[:2] == b"PK"

    # ---------------------------------------------------------------- 验证签章: intact
    with keeper.expect_navigation():
        keeper.locator(".doc-buttons #verify-link").click()
    expect(keeper.locator(".page-head h1")).to_have_text("验证签章")
    keeper.locator("#verify-file").set_input_files(str(docx))
    keeper.locator("#verify-signature").set_input_files(str(p7s))
    with keeper.expect_navigation():
        keeper.locator("#btn-verify").click()
    verdict = keeper.locator("#verdict")
    expect(verdict).to_have_class(re.compile(r"\bverdict-ok\b"))
    expect(verdict).to_contain_text("文件完整，签章有效")
    details = keeper.locator("#verify-details")
    expect(details).to_contain_text(issuer_seal[0])
    expect(details).to_contain_text(keeper_name)
    expect(details).to_contain_text(title)
    expect(keeper.locator("#openssl")).to_contain_text("openssl cms -verify -binary -inform DER")
    keeper.screenshot(path=str(shots / "desktop-seal-verify-ok.png"), full_page=True)

    # ---------------------------------------------------------------- one byte changed: altered
    data = bytearray(docx.read_bytes())
    data[len(data) // 2] ^= 0x01
    altered = tmp_path / "altered.docx"
    altered.write_bytes(bytes(data))
    keeper.locator("#verify-file").set_input_files(str(altered))
    keeper.locator("#verify-signature").set_input_files(str(p7s))
    with keeper.expect_navigation():
        keeper.locator("#btn-verify").click()
    expect(verdict).to_have_class(re.compile(r"\bverdict-bad\b"))
    expect(verdict).to_contain_text("文件已被修改")
    expect(keeper.locator("#failed-check")).to_contain_text("文件完整性")
    keeper.screenshot(path=str(shots / "desktop-seal-verify-altered.png"), full_page=True)

    # A file that is not a .docx is answered on the page.
    not_docx = tmp_path / "note.docx"
    not_docx.write_bytes(b"just text")
    keeper.locator("#verify-file").set_input_files(str(not_docx))
    with keeper.expect_navigation():
        keeper.locator("#btn-verify").click()
    expect(keeper.locator("#verify-error")).to_contain_text("不是 .docx")

    # ---------------------------------------------------------------- 用印记录
    keeper.goto("/seals/")
    row = keeper.locator("#log-list tr.log-row", has_text=title)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("已用印")
    expect(row).to_contain_text(keeper_name)
    expect(row.get_by_role("link", name=title)).to_have_attribute("href", f"/documents/{doc_id}")


def test_unit_admin_creates_suspends_and_resumes_a_seal(people, server, shots):
    admin = people("unitadmin")
    admin.goto("/")
    admin.locator("#mainnav").get_by_role("link", name="印章").click()
    expect(admin.locator("h1")).to_have_text("印章管理")
    unit = admin.locator("#seal-unit option:checked").text_content().strip()
    admin.locator("#seal-kind").select_option(label="财务专用章")
    keepers = admin.locator("#new-keepers input[name=keeper_ids]")
    if not admin.locator("#new-keepers input[name=keeper_ids]:checked").count():
        keepers.first.check()
    with admin.expect_navigation():
        admin.locator("#btn-create-seal").click()
    expect(admin.locator(".alert-success")).to_contain_text("已新建印章")
    card = admin.locator(".seal-card", has_text="财务专用章").filter(has_text=unit)
    expect(card).to_have_count(1)
    admin.wait_for_function(_IMAGE_LOADED, arg=f"#{card.get_attribute('id')} .seal-img")
    expect(card).to_contain_text("启用")
    admin.screenshot(path=str(shots / "desktop-seals-index.png"), full_page=True)

    card.locator("summary", has_text="管理").click()
    card.locator("input[name=reason]").fill("财务专用章更换保管人期间暂停")
    with admin.expect_navigation():
        card.get_by_role("button", name="暂停使用").click()
    expect(admin.locator(".alert-success")).to_contain_text("已暂停")
    expect(card).to_contain_text("暂停")
    expect(card).to_contain_text("财务专用章更换保管人期间暂停")
    card.locator("summary", has_text="管理").click()
    with admin.expect_navigation():
        card.get_by_role("button", name="恢复使用").click()
    expect(admin.locator(".alert-success")).to_contain_text("已恢复")
    expect(card.locator(".seal-st-active")).to_have_text("启用")


def test_keeper_rejects_on_the_approval_page(people, server):
    title = f"关于报送印章使用情况的通知（{secrets.token_hex(2)}）"
    doc_id = _to_seal_step(server, title)
    keeper = people("sealkeeper")
    keeper.goto("/seals/")
    row = keeper.locator("#pending tr.req-row", has_text=title)
    expect(row).to_have_count(1)
    with keeper.expect_navigation():
        row.get_by_role("link", name="审批").click()
    expect(keeper.locator(".page-head h1")).to_have_text("待审批用印")
    expect(keeper.locator("#request")).to_contain_text(title)
    expect(keeper.locator("#view-subject")).to_have_attribute("href", f"/documents/{doc_id}")
    # The document itself, in the 红头 layout, on the approval screen.
    expect(keeper.locator("#subject-preview .redhead")).to_contain_text(title)
    keeper.wait_for_function(_IMAGE_LOADED, arg="#request .seal-img")

    # A wrong password is a message on the same page, not a sign-out.
    keeper.locator("#approve-form input[name=password]").fill("wrong-password")
    with keeper.expect_navigation():
        keeper.locator("#btn-approve").click()
    expect(keeper.locator(".alert-error")).to_contain_text("密码不正确")
    expect(keeper.locator(".page-head h1")).to_have_text("待审批用印")

    keeper.locator("#reject-form textarea[name=reason]").fill("主送机关有误，请核对后重新报送")
    with keeper.expect_navigation():
        keeper.locator("#btn-reject").click()
    expect(keeper.locator(".alert-success")).to_contain_text("已驳回用印")
    expect(keeper.locator(".page-head")).to_contain_text("已驳回")
    expect(keeper.locator("#request")).to_contain_text("主送机关有误")

    keeper.goto(f"/documents/{doc_id}")
    expect(keeper.locator("#timeline")).to_contain_text("驳回用印：主送机关有误")
    expect(keeper.locator("#progress .step-current")).not_to_contain_text("用印")
