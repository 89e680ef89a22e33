"""Detached CMS signatures: our verifier and stock OpenSSL must agree (no app, no database)."""

from __future__ import annotations

import random
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import cms as asn1_cms
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7

from seals import cms, pki
from tests.conftest import require

NOW = datetime.now(UTC)
# The command the README shows; see the seals.cms module docstring.
OPENSSL_VERIFY = [
    "openssl", "cms", "-verify", "-binary", "-inform", "DER",
    "-in", "sig.p7s", "-content", "doc.bin", "-CAfile", "root.pem", "-out", "/dev/null",
]  # fmt: skip


@pytest.fixture(scope="module")
def root():
    return pki.make_root_ca(
        "政务协同办公电子印章根证书", "示例省人民政府", not_before=NOW - timedelta(days=365)
    )


@pytest.fixture(scope="module")
def seal(root):
    key = pki.generate_key()
    cert = pki.issue_cert(*root, key.public_key(), common_name="公章", org="省政府办公厅", kind="seal")
    return key, cert


@pytest.fixture(scope="module")
def document() -> bytes:
    """~100 KB with LF and CRLF in it, which a non-binary signer would mangle."""
    return b"\xe7\xa4\xba\xe4\xbe\x8b line\nnext\r\n" + random.Random(20260101).randbytes(100 * 1024)


@pytest.fixture(scope="module")
def signed(root, seal, document) -> bytes:
    return cms.sign_detached(document, *seal, [root[1]])


def _altered(data: bytes, at: int = 5000) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def _openssl(
    tmp_path: Path, data: bytes, p7s: bytes, ca_pem: bytes, *extra: str
) -> subprocess.CompletedProcess:
    require(shutil.which("openssl") is not None, "openssl binary not installed")
    (tmp_path / "doc.bin").write_bytes(data)
    (tmp_path / "sig.p7s").write_bytes(p7s)
    (tmp_path / "root.pem").write_bytes(ca_pem)
    return subprocess.run(
        [*OPENSSL_VERIFY, *extra], cwd=tmp_path, capture_output=True, text=True, timeout=30, check=False
    )


# --- stock OpenSSL -----------------------------------------------------------------------------


def test_openssl_verifies_the_intact_document(tmp_path, root, signed, document):
    done = _openssl(tmp_path, document, signed, pki.cert_to_pem(root[1]))
    assert done.returncode == 0, done.stderr
    assert "Verification successful" in done.stderr


def test_openssl_rejects_a_one_byte_change(tmp_path, root, signed, document):
    done = _openssl(tmp_path, _altered(document), signed, pki.cert_to_pem(root[1]))
    assert done.returncode != 0


def test_openssl_rejects_another_root(tmp_path, signed, document):
    _, other = pki.make_root_ca("另一个根", "别的平台")
    assert _openssl(tmp_path, document, signed, pki.cert_to_pem(other)).returncode != 0


def test_openssl_checks_revocation_from_a_crl_in_the_ca_file(tmp_path, root, seal, signed, document):
    clean = pki.cert_to_pem(root[1]) + pki.crl_to_pem(pki.make_crl(*root, []))
    assert _openssl(tmp_path, document, signed, clean, "-crl_check").returncode == 0
    crl = pki.make_crl(*root, [(seal[1].serial_number, NOW, "keyCompromise")])
    done = _openssl(tmp_path, document, signed, pki.cert_to_pem(root[1]) + pki.crl_to_pem(crl), "-crl_check")
    assert done.returncode != 0
    assert "revoked" in done.stderr


def test_openssl_accepts_an_explicit_signing_time(tmp_path, root, seal, document):
    when = datetime(2026, 1, 2, 9, 30, tzinfo=UTC)
    p7s = cms.sign_detached(document, *seal, signing_time=when)
    assert _openssl(tmp_path, document, p7s, pki.cert_to_pem(root[1])).returncode == 0
    assert cms.verify_detached(document, p7s, root[1]).signing_time == when


# --- our verifier ------------------------------------------------------------------------------


def test_signature_is_detached_sha256_and_carries_the_chain(root, seal, signed, document):
    info = asn1_cms.ContentInfo.load(signed)["content"]
    assert info["encap_content_info"]["content"].native is None
    assert info["signer_infos"][0]["digest_algorithm"]["algorithm"].native == "sha256"
    assert set(pkcs7.load_der_pkcs7_certificates(signed)) == {seal[1], root[1]}


def test_signing_with_a_key_the_certificate_does_not_name_is_refused(seal, document):
    with pytest.raises(ValueError, match="不匹配"):
        cms.sign_detached(document, pki.generate_key(), seal[1])


def test_intact_document_verifies(root, seal, signed, document):
    result = cms.verify_detached(document, signed, root[1], pki.make_crl(*root, []))
    assert result.ok and result.intact and result.chain_ok and not result.revoked
    assert result.failed_check is None
    assert result.signer_cert == seal[1]
    assert abs(result.signing_time - datetime.now(UTC)) < timedelta(minutes=5)
    assert "有效" in result.message


def test_one_changed_byte_is_altered(root, signed, document):
    result = cms.verify_detached(_altered(document), signed, root[1])
    assert (result.ok, result.intact, result.failed_check) == (False, False, "altered")
    assert "修改" in result.message


def test_forged_signature_value_is_a_signature_failure(root, signed, document):
    info = asn1_cms.ContentInfo.load(signed)
    signer = info["content"]["signer_infos"][0]
    signer["signature"] = pki.generate_key().sign(b"something else", ec.ECDSA(hashes.SHA256()))
    result = cms.verify_detached(document, info.dump(force=True), root[1])
    assert (result.intact, result.failed_check) == (False, "signature")


def test_revoked_certificate(root, seal, signed, document):
    crl = pki.make_crl(*root, [(seal[1].serial_number, NOW - timedelta(minutes=1), "keyCompromise")])
    result = cms.verify_detached(document, signed, root[1], crl)
    assert result.intact and not result.chain_ok and result.revoked
    assert result.failed_check == "revoked"
    assert "吊销" in result.message


def test_expired_certificate(root, document):
    key = pki.generate_key()
    cert = pki.issue_cert(
        *root,
        key.public_key(),
        common_name="旧公章",
        org="省政府办公厅",
        kind="seal",
        not_before=NOW - timedelta(days=100),
        days=30,
    )
    p7s = cms.sign_detached(document, key, cert, signing_time=NOW - timedelta(days=90))
    result = cms.verify_detached(document, p7s, root[1])
    assert result.intact and not result.chain_ok
    assert result.failed_check == "expired"
    assert "过期" in result.message
    assert cms.verify_detached(document, p7s, root[1], at=NOW - timedelta(days=80)).ok


def test_wrong_root(root, signed, document):
    _, other = pki.make_root_ca("另一个根", "别的平台")
    result = cms.verify_detached(document, signed, other)
    assert not result.ok and result.failed_check == "chain"
    assert "不可信" in result.message
    # Same name, different key.
    _, twin = pki.make_root_ca(
        "政务协同办公电子印章根证书", "示例省人民政府", not_before=NOW - timedelta(days=1)
    )
    assert cms.verify_detached(document, signed, twin).failed_check == "chain"


def test_self_made_certificate_with_the_real_names_is_not_trusted(root, seal, document):
    """A forger re-signs a changed document with a look-alike root and seal certificate."""
    fake_ca = pki.make_root_ca(
        "政务协同办公电子印章根证书", "示例省人民政府", not_before=NOW - timedelta(days=1)
    )
    key = pki.generate_key()
    fake = pki.issue_cert(
        *fake_ca,
        key.public_key(),
        common_name="公章",
        org="省政府办公厅",
        kind="seal",
        serial=seal[1].serial_number,
    )
    result = cms.verify_detached(
        _altered(document), cms.sign_detached(_altered(document), key, fake), root[1]
    )
    assert not result.ok and result.failed_check == "chain"
    assert "无法确认" in result.message


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"not a signature",
        b"\x30\x03\x02\x01",
        b"-----BEGIN PKCS7-----\n",
        random.Random(7).randbytes(600),
    ],
)
def test_garbage_is_not_cms(root, document, garbage):
    result = cms.verify_detached(document, garbage, root[1])
    assert (result.ok, result.failed_check) == (False, "not_cms")
    assert "签名" in result.message


def test_other_der_is_not_cms(root, signed, document):
    for p7s in (pki.cert_to_der(root[1]), signed[: len(signed) // 2]):
        assert cms.verify_detached(document, p7s, root[1]).failed_check == "not_cms"


def test_verifying_is_fast(root, signed, document):
    """The target is 500/s for 100 KB in-process; assert a tenth of it to stay robust on CI."""
    crl = pki.make_crl(*root, [(n, NOW, None) for n in range(1, 500)])
    started = time.perf_counter()
    for _ in range(100):
        assert cms.verify_detached(document, signed, root[1], crl).ok
    assert time.perf_counter() - started < 2.0


# --- raw signatures over opinions --------------------------------------------------------------


def test_text_signature_round_trip(seal):
    key, cert = seal
    payload = cms.canonical_payload(
        {"opinion": "同意。请办公厅按程序办理。", "user_id": 7, "document_id": 12}
    )
    assert payload == cms.canonical_payload(
        {"user_id": 7, "document_id": 12, "opinion": "同意。请办公厅按程序办理。"}
    )
    assert "同意".encode() in payload
    signature = cms.sign_text(payload, key)
    assert cms.verify_text(payload, signature, cert)
    assert cms.verify_text(payload, signature.encode(), key.public_key())
    assert not cms.verify_text(payload.replace("同意".encode(), "不同意".encode()), signature, cert)
    assert not cms.verify_text(payload, signature, pki.generate_key().public_key())
    assert not cms.verify_text(payload, "not base64!", cert)
    assert not cms.verify_text(payload, "", cert)
