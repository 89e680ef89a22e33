"""The sample collection (documents/sample): it loads quickly and idempotently, and every loaded
document opens like a real one (page, API, attachment, incoming records with the 批示)."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from documents.models import Document, DocumentAttachment, IncomingDocument, NumberCounter
from documents.sample import load_corpus, read_corpus
from office.extensions import db
from office.identity.models import User
from office.search.models import SearchOutbox
from tests.conftest import bearer, web_login

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_inline_indexing(app, monkeypatch):
    """The search index is not what these tests are about (tests/office/search loads the
    sample for that): the outbox rows stay queued."""
    monkeypatch.setitem(app.config, "SEARCH_DRAIN", "worker")


def test_sample_documents_load_once_and_open(app, org, client, no_inline_indexing):
    records = {r["key"]: r for r in read_corpus(60)}
    with app.app_context():
        ids = load_corpus(limit=60)
        assert set(ids) == set(records)
        assert load_corpus(limit=60) == ids  # idempotent: nothing added the second time
        assert db.session.scalar(select(func.count()).select_from(Document)) == 60
        sample_people = db.session.scalars(select(User).where(User.username.like("sample-%"))).all()
        assert sample_people and not any(u.active for u in sample_people)
        with_attachment = next(k for k, r in records.items() if r.get("attachment_text"))
        with_instruction = next(k for k, r in records.items() if r.get("instruction"))
        att = db.session.scalar(
            select(DocumentAttachment).where(DocumentAttachment.document_id == ids[with_attachment])
        )
        assert att is not None and att.title == records[with_attachment]["attachment_title"]
        rec = db.session.scalar(
            select(IncomingDocument).where(
                IncomingDocument.document_id == ids[with_instruction], IncomingDocument.instruction != ""
            )
        )
        assert rec is not None and rec.instruction == records[with_instruction]["instruction"]
        incoming_id = rec.id
        # The counters moved past every number the sample used: real numbering never collides.
        doc = db.session.get(Document, ids["s001"])
        counter = db.session.get(
            NumberCounter, {"unit_id": doc.issuer_unit_id, "code": doc.doc_code, "year": doc.year}
        )
        assert counter is not None and counter.last_serial >= doc.serial

    web_login(client, "admin")
    for key in ("s001", with_attachment, with_instruction):
        page = client.get(f"/documents/{ids[key]}")
        assert page.status_code == 200
        assert records[key]["title"] in page.get_data(as_text=True)
    assert client.get(f"/documents/incoming/{incoming_id}").status_code == 200

    api = app.test_client()  # no session cookie: the API takes a bearer token
    auth = bearer(api, "admin")
    data = api.get(f"/api/v1/documents/{ids[with_attachment]}", headers=auth)
    assert data.status_code == 200
    body = data.get_json()
    assert body["doc_number"] == records[with_attachment]["doc_number"]
    url = body["attachments"][0]["url"]
    with_table = next(k for k, r in records.items() if "\n| " in r["body"])
    with api.get(f"/api/v1/documents/{ids[with_table]}/docx", headers=auth) as docx:
        assert docx.status_code == 200 and docx.data[:2] == b"PK"  # GB/T 9704 .docx, table and all
    with api.get(url, headers=auth) as download:
        assert download.status_code == 200
        assert records[with_attachment]["attachment_text"].encode() in download.data


def test_the_corpus_is_what_its_generator_writes():
    spec = importlib.util.spec_from_file_location("make_corpus", ROOT / "scripts" / "make_corpus.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    assert module.render(module.build()) == (ROOT / "documents" / "sample" / "corpus.jsonl").read_text(
        "utf-8"
    )


def test_whole_collection_loads_fast(app, org, no_inline_indexing):
    with app.app_context():
        started = time.perf_counter()
        ids = load_corpus()
        elapsed = time.perf_counter() - started
        assert len(ids) == len(read_corpus()) >= 320
        # every document is queued for the search index in the same transaction
        assert db.session.scalar(select(func.count(func.distinct(SearchOutbox.doc_id)))) == len(ids)
    assert elapsed < 10, f"loading the sample took {elapsed:.1f}s"
