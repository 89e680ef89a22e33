"""Search through the service and the API: what is found, who may see it (not even counts
leak), the query language, bad input, and the outbox that keeps the index in step."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from office.extensions import db
from office.search import analysis
from office.search import query as qp
from office.search import services as search
from office.search.models import SearchOutbox, SearchState
from tests.documents.conftest import api, docorg, notice_payload  # noqa: F401  (fixtures)
from tests.documents.helpers import act, advance, create

YEAR = datetime.now(ZoneInfo("Asia/Shanghai")).year


def find(api, who: str, q: str, **params):  # noqa: F811
    resp = api.get(who, "/api/v1/search", query_string={"q": q, **params})
    return resp


def hits(api, who: str, q: str, **params) -> list[int]:  # noqa: F811
    resp = find(api, who, q, **params)
    assert resp.status_code == 200, resp.get_json()
    return [h["id"] for h in resp.get_json()["items"]]


# ---------------------------------------------------------------- the query language


def test_query_language():
    q = qp.parse('数字政府 "协同办公" 通知 OR 通报 -试点', mode="both")
    assert len(q.must) == 3
    words, phrase, either = q.must
    # a plain word: rjieba's words (its bigrams would add nothing they do not match)
    assert {t.terms for t in words} == {("数字", "政府")}
    # a quoted phrase: the words side by side, or the bigrams side by side
    assert {t.terms for t in phrase} == {("协同", "办公"), ("协同", "同办", "办公")}
    assert all(t.phrase for t in phrase)
    # a word rjieba keeps whole is also found by its bigrams
    assert {t.terms for t in qp.parse("示政办").must[0]} == {("示政办",), ("示政", "政办")}
    assert {t.terms for t in either} == {("通知",), ("通报",)}
    assert {t.terms for t in q.must_not} == {("试点",)}
    # a document number, typed with any brackets, is recognised and normalised
    assert qp.parse("示政办[2026]12").number == "示政办〔2026〕12号"
    assert qp.parse("示政办（2026）012号 通知").number == "示政办〔2026〕12号"
    # punctuation separates words and is nothing on its own
    assert len(qp.parse("数字政府，协同办公").must) == 2
    assert qp.parse("，。！？、“”").empty
    assert not analysis.has_words("，。！？")


def test_snippet_marks_matches_and_escapes_the_rest():
    text = "前言" * 80 + "推进<b>数字政府</b>建设，数字政府是重点。" + "结尾" * 80
    out = str(search.snippet(text, ["数字政府"], ["数字", "政府"]))
    assert "<mark>数字政府</mark>" in out and "&lt;b&gt;" in out and "<b>" not in out
    assert out.startswith("…") and out.endswith("…") and len(out) < 400
    assert str(search.highlight("a<script>", ["a"], [])) == "<mark>a</mark>&lt;script&gt;"


def test_snippet_finds_words_written_in_full_width():
    """The window is placed on the first match even when the text spells it in full-width
    digits (the plain lower-case scan misses it, the NFKC scan finds it)."""
    text = "前言" * 80 + "本通知自２０２６年起施行。" + "结尾" * 80
    out = str(search.snippet(text, ["2026"], ["2026"]))
    assert "２０２６年起施行" in out and out.startswith("…")


def test_among_matches_the_same_rows_as_in(app, docorg, api):  # noqa: F811
    """``among`` (one array parameter on PostgreSQL) selects exactly what ``IN`` does."""
    from documents.models import Document
    from office.db import among

    ids = [
        create(api, notice_payload(docorg["units"], title=f"关于第{n}项工作的通知"))["id"] for n in range(4)
    ]
    wanted = [*ids[::2], 10**6]
    with app.app_context():
        got = set(db.session.scalars(select(Document.id).where(among(Document.id, wanted))))
        none = list(db.session.scalars(select(Document.id).where(among(Document.id, []))))
    assert got == set(ids[::2]) and none == []


# ---------------------------------------------------------------- finding and permissions


def test_a_new_document_is_found_with_its_snippet(docorg, api):  # noqa: F811
    did = create(api, notice_payload(docorg["units"]))["id"]
    resp = find(api, "zhangsan", "数字政府 协同办公")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["total"] == 1 and body["page"] == 1 and body["per_page"] == 20
    hit = body["items"][0]
    assert hit["id"] == did and hit["title"].startswith("关于做好2026年数字政府")
    assert {"id", "title", "doc_number", "issuing_unit", "date", "snippet", "score"} <= set(hit)
    assert "<mark>数字政府</mark>" in hit["snippet"] and hit["issuing_unit"]
    # a word from the body alone, and one in no document
    assert hits(api, "zhangsan", "抓好落实") == [did]
    assert hits(api, "zhangsan", "防汛抗旱") == []


def test_nothing_leaks_to_people_who_may_not_read(docorg, api, factory):  # noqa: F811
    u = docorg["units"]
    colleague = factory.user("lisi", name="李四", unit=u["division"], roles=("staff",))
    assert colleague is not None
    public = create(api, notice_payload(u, title="关于数字政府试点的通知"))["id"]
    internal = create(api, notice_payload(u, title="关于数字政府内部事项的通知", secret_level="internal"))[
        "id"
    ]
    assert sorted(hits(api, "zhangsan", "数字政府")) == sorted([public, internal])
    # a colleague of the same division reads the ordinary document, not the 内部 one
    resp = find(api, "lisi", "数字政府").get_json()
    assert [h["id"] for h in resp["items"]] == [public] and resp["total"] == 1
    assert sum(f["count"] for f in resp["facets"]["doc_type"]) == 1
    assert "内部事项" not in str(resp)
    # a county that has not received anything finds nothing, not even a count
    resp = find(api, "county_a", "数字政府").get_json()
    assert resp["items"] == [] and resp["total"] == 0
    assert resp["facets"] == {"doc_type": [], "unit": [], "year": []}
    assert find(api, "county_a", "内部事项").get_json()["total"] == 0


def test_a_document_number_finds_that_document_first(docorg, api):  # noqa: F811
    u = docorg["units"]
    did = create(api, notice_payload(u))["id"]
    advance(api, did, "seal")  # numbered on the way
    other = create(api, notice_payload(u, title=f"关于转发示政办〔{YEAR}〕1号文件的通知"))["id"]
    for typed in (f"示政办〔{YEAR}〕1号", f"示政办[{YEAR}]1号", f"示政办({YEAR})1"):
        ids = hits(api, "zhangsan", typed)
        assert ids[0] == did, (typed, ids)
    assert other in hits(api, "zhangsan", f"示政办〔{YEAR}〕1号 转发")


def test_filters_sorting_and_facets(docorg, api):  # noqa: F811
    u = docorg["units"]
    a = create(api, notice_payload(u, title="关于数字政府建设的通知"))["id"]
    b = create(api, notice_payload(u, title="关于数字政府建设的报告", doc_type="report", direction="up",
                                   signer_ids=[docorg["people"]["leader"].id]))["id"]  # fmt: skip
    body = find(api, "zhangsan", "数字政府").get_json()
    assert sorted(h["id"] for h in body["items"]) == sorted([a, b])
    assert {f["value"]: f["count"] for f in body["facets"]["doc_type"]} == {"notice": 1, "report": 1}
    assert hits(api, "zhangsan", "数字政府", doc_type="report") == [b]
    # the counts stay those of the whole result while a filter is on
    filtered = find(api, "zhangsan", "数字政府", doc_type="report").get_json()
    assert filtered["total"] == 1 and len(filtered["facets"]["doc_type"]) == 2
    assert hits(api, "zhangsan", "数字政府", unit_id=u["province"].id + 10**6) == []
    assert sorted(hits(api, "zhangsan", "数字政府", year=YEAR)) == sorted([a, b])
    assert hits(api, "zhangsan", "数字政府", year=YEAR - 3) == []
    assert sorted(hits(api, "zhangsan", "数字政府", sort="date")) == sorted([a, b])
    assert hits(api, "zhangsan", "数字政府 -报告") == [a]
    assert sorted(hits(api, "zhangsan", "通知 OR 报告")) == sorted([a, b])
    assert len(hits(api, "zhangsan", "数字政府", per_page=1)) == 1
    assert len(hits(api, "zhangsan", "数字政府", per_page=1, page=2)) == 1
    assert hits(api, "zhangsan", "数字政府", per_page=1, page=3) == []


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"q": ""}, 422, "query_required"),
        ({"q": "   "}, 422, "query_required"),
        ({"q": "字" * 201}, 422, "query_too_long"),
        ({"q": "数字", "sort": "random"}, 422, None),
        ({"q": "数字", "from": "2026-13-01"}, 422, None),
        ({"q": "数字", "from": "2026-05-01", "to": "2026-01-01"}, 422, "invalid_date_range"),
        ({"q": "数字", "doc_type": "poem"}, 422, "invalid_doc_type"),
        ({"q": "数字", "year": "1066"}, 422, "invalid_year"),
        ({"q": "数字", "per_page": "1000"}, 422, None),
        ({"q": "数字", "unit_id": "abc"}, 422, None),
    ],
)
def test_bad_input_gets_422_with_the_error_shape(docorg, api, params, status, code):  # noqa: F811
    resp = api.get("zhangsan", "/api/v1/search", query_string=params)
    assert resp.status_code == status, resp.get_json()
    err = resp.get_json()["error"]
    assert err["message"] and (code is None or err["code"] == code)


def test_punctuation_only_is_an_empty_result_and_200_characters_are_fine(docorg, api):  # noqa: F811
    create(api, notice_payload(docorg["units"]))
    body = find(api, "zhangsan", "，。！？……").get_json()
    assert body["items"] == [] and body["total"] == 0
    assert find(api, "zhangsan", "字" * 200).status_code == 200


def test_search_needs_a_token(client):
    assert client.get("/api/v1/search?q=数字").status_code == 401


# ---------------------------------------------------------------- the outbox


def _outbox(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(SearchOutbox)) or 0


def test_edits_are_queued_in_the_same_transaction_and_status_moves_are_not(app, docorg, api):  # noqa: F811
    did = create(api, notice_payload(docorg["units"]))["id"]
    before = _outbox(app)
    assert before >= 1
    api.ok(api.patch("zhangsan", f"/api/v1/documents/{did}", {"title": "关于防汛抗旱工作的通知"}))
    assert _outbox(app) == before + 1
    act(api, "zhangsan", did, "submit", {"opinion": "请审核"})
    assert _outbox(app) == before + 1  # a flow step moves the status only: nothing to index
    assert hits(api, "zhangsan", "防汛抗旱") == [did]
    assert hits(api, "zhangsan", "数字政府协同办公推广") == []  # the old title is gone


def test_a_failed_apply_loses_nothing(app, docorg, api, monkeypatch):  # noqa: F811
    """The change commits; the index update waits in the outbox until the next drain."""
    with app.app_context():
        engine = search.engine()

    def broken(docs):
        raise OSError("disk full")

    monkeypatch.setattr(engine, "index", broken)
    did = create(api, notice_payload(docorg["units"], title="关于应急管理演练的通知"))["id"]
    monkeypatch.undo()
    assert hits(api, "zhangsan", "应急管理演练") == []
    with app.app_context():
        assert search.pending() >= 1
        assert search.drain() >= 1
        assert search.pending() == 0
    assert hits(api, "zhangsan", "应急管理演练") == [did]


def test_reindex_switches_generations_and_verify_reports_gaps(app, docorg, api):  # noqa: F811
    u = docorg["units"]
    ids = [create(api, notice_payload(u, title=f"关于第{i}批数字政府项目的通知"))["id"] for i in range(3)]
    with app.app_context():
        assert search.verify()["ok"]
        live = search._state(search.backend_name())[0]
        search.engine().delete([ids[0]])
        report = search.verify()
        assert report["missing"] == [ids[0]] and not report["ok"]
        seen: list[tuple[int, int]] = []
        during: list[list[int]] = []

        def progress(done: int, total: int) -> None:
            seen.append((done, total))
            during.append(hits(api, "zhangsan", "数字政府项目"))  # readers keep the old index

        assert search.reindex(progress=progress) == 3
        assert sorted(during[0]) == sorted(ids[1:])
        assert seen[-1] == (3, 3)
        state = db.session.get(SearchState, search.backend_name())
        assert state.generation == live + 1 and state.building is None
        assert search.verify()["ok"]
    assert sorted(hits(api, "zhangsan", "数字政府项目")) == sorted(ids)


def test_reindex_with_analysis_workers_gives_the_same_index(app, docorg, api, monkeypatch):  # noqa: F811
    """A large rebuild analyses in worker processes, batches in flight while the next is read:
    the result is the index the in-process rebuild gives, in the same order of batches."""
    u = docorg["units"]
    ids = [create(api, notice_payload(u, title=f"关于数字政府第{n}批试点的通知"))["id"] for n in range(7)]
    monkeypatch.setattr(search, "POOL_MIN_DOCS", 1)
    monkeypatch.setattr(search, "POOL_CHUNK", 2)
    monkeypatch.setattr(search, "REINDEX_BATCH", 3)  # three batches, the last one short
    monkeypatch.setitem(app.config, "SEARCH_REINDEX_WORKERS", 2)
    with app.app_context():
        seen: list[int] = []
        assert search.reindex(progress=lambda done, total: seen.append(done)) == 7
        assert seen == [3, 6, 7]
        report = search.verify()
        assert report["ok"] and report["indexed"] == 7, report
    assert sorted(hits(api, "zhangsan", "数字政府 试点")) == sorted(ids)


# ---------------------------------------------------------------- what is indexed


def test_attachment_text_is_searchable(docorg, api):  # noqa: F811
    import io

    import docx

    did = create(api, notice_payload(docorg["units"]))["id"]
    d = docx.Document()
    d.add_paragraph("附件：试点县名单")
    table = d.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "青松镇"
    table.rows[0].cells[1].text = "智慧农业示范园"
    buf = io.BytesIO()
    d.save(buf)
    for name, data in (("名单.docx", buf.getvalue()), ("说明.txt", "填报口径以统计年鉴为准".encode())):
        resp = api.client.post(
            f"/api/v1/documents/{did}/attachments",
            data={"file": (io.BytesIO(data), name)},
            headers=api.auth("zhangsan"),
            content_type="multipart/form-data",
        )
        assert resp.status_code == 201, resp.get_json()
    assert hits(api, "zhangsan", "智慧农业示范园") == [did]  # a table cell of the .docx
    assert hits(api, "zhangsan", "统计年鉴") == [did]  # the .txt


def test_a_leaders_instruction_is_searchable_by_the_unit_that_received_it(docorg, api):  # noqa: F811
    from tests.documents.helpers import doc, run_outgoing

    p = docorg["people"]
    did = run_outgoing(api.client.application, docorg, notice_payload(docorg["units"]))
    rid = next(
        e["incoming_id"] for e in doc(api, did, "clerk")["exchange"] if e["unit"]["name"] == "东山县人民政府"
    )
    base = f"/api/v1/incoming/{rid}"
    api.ok(api.post("county_a", f"{base}/sign_for", {}))
    api.ok(api.post("county_a", f"{base}/register", {}))
    api.ok(api.post("county_a", f"{base}/submit", {"opinion": "拟请县长阅示"}))
    body = {"opinion": "请农业农村局牵头抓好秋粮收储", "lead_handler": p["county_staff"].id}
    api.ok(api.post("county_leader", f"{base}/submit", body))
    assert did in hits(api, "county_leader", "秋粮收储")
    assert hits(api, "county_b", "秋粮收储") in ([], [did])  # the other county reads the document itself


def test_worker_mode_leaves_changes_to_the_drain(app, docorg, api, monkeypatch):  # noqa: F811
    """Scale-out: the request only writes the outbox; `search drain` applies it."""
    monkeypatch.setitem(app.config, "SEARCH_DRAIN", "worker")
    did = create(api, notice_payload(docorg["units"], title="关于森林防火的通知"))["id"]
    assert hits(api, "zhangsan", "森林防火") == []
    result = app.test_cli_runner().invoke(args=["search", "drain"])
    assert result.exit_code == 0 and "已应用" in result.output
    assert hits(api, "zhangsan", "森林防火") == [did]


def test_cli_verify_and_reindex(app, docorg, api):  # noqa: F811
    create(api, notice_payload(docorg["units"]))
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["search", "verify"])
    assert ok.exit_code == 0 and "索引与数据库一致" in ok.output, ok.output
    with app.app_context():
        search.engine().clear()
    bad = runner.invoke(args=["search", "verify"])
    assert bad.exit_code == 1 and "缺失 1" in bad.output, bad.output
    rebuilt = runner.invoke(args=["search", "reindex"])
    assert rebuilt.exit_code == 0 and "1 件公文" in rebuilt.output, rebuilt.output
    assert runner.invoke(args=["search", "verify"]).exit_code == 0
    unknown = runner.invoke(args=["search", "reindex", "--backend", "lucene"])
    assert unknown.exit_code == 1 and "未知的检索引擎" in unknown.output, unknown.output
