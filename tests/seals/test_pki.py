"""Seal PKI: root and leaf certificates, CRLs, keys at rest, chain checks (no app, no database)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from seals import pki
from tests.conftest import require

NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def root():
    return pki.make_root_ca(
        "政务协同办公电子印章根证书", "示例省人民政府", not_before=NOW - timedelta(days=365)
    )


@pytest.fixture(scope="module")
def seal(root):
    ca_key, ca_cert = root
    key = pki.generate_key()
    cert = pki.issue_cert(
        ca_key,
        ca_cert,
        key.public_key(),
        common_name="合同专用章",
        org="省政府办公厅",
        kind="seal",
        crl_url="https://office.example.gov.cn/seals/crl.der",
    )
    return key, cert


def _name(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str | None:
    attrs = cert.subject.get_attributes_for_oid(oid)
    return str(attrs[0].value) if attrs else None


def test_root_is_a_self_signed_ca_for_leaves_only(root):
    key, cert = root
    cert.verify_directly_issued_by(cert)
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign and not usage.digital_signature
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    assert cert.not_valid_after_utc - cert.not_valid_before_utc > timedelta(days=365 * 19)
    assert _name(cert, NameOID.ORGANIZATION_NAME) == "示例省人民政府"


def test_seal_certificate_names_the_unit_and_may_only_sign(root, seal):
    ca_cert = root[1]
    key, cert = seal
    assert _name(cert, NameOID.COMMON_NAME) == "合同专用章"
    assert _name(cert, NameOID.ORGANIZATION_NAME) == "省政府办公厅"
    assert cert.issuer == ca_cert.subject
    cert.verify_directly_issued_by(ca_cert)
    ext = cert.extensions
    assert ext.get_extension_for_class(x509.BasicConstraints).value.ca is False
    usage = ext.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment and not usage.key_cert_sign
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in ext.get_extension_for_class(x509.ExtendedKeyUsage).value
    aki = ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    root_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == root_ski.digest
    assert ext.get_extension_for_class(x509.SubjectKeyIdentifier).value == (
        x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    )
    points = ext.get_extension_for_class(x509.CRLDistributionPoints).value
    assert points[0].full_name[0].value == "https://office.example.gov.cn/seals/crl.der"


def test_personal_certificate_names_the_person(root):
    ca_key, ca_cert = root
    key = pki.generate_key()
    cert = pki.issue_cert(
        ca_key,
        ca_cert,
        key.public_key(),
        common_name="李省长",
        org="示例省人民政府",
        kind="person",
        serial=4242,
    )
    assert _name(cert, NameOID.COMMON_NAME) == "李省长"
    assert _name(cert, NameOID.ORGANIZATION_NAME) == "示例省人民政府"
    assert cert.serial_number == 4242
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.CRLDistributionPoints)


def test_issue_rejects_bad_requests(root):
    ca_key, ca_cert = root
    public = pki.generate_key().public_key()
    with pytest.raises(ValueError, match="证书类型"):
        pki.issue_cert(ca_key, ca_cert, public, common_name="公章", org="某单位", kind="robot")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="所属单位"):
        pki.issue_cert(ca_key, ca_cert, public, common_name="公章", kind="seal")
    with pytest.raises(ValueError, match="不匹配"):
        pki.issue_cert(pki.generate_key(), ca_cert, public, common_name="公章", org="某单位", kind="seal")


def test_key_matches_cert(root, seal):
    assert pki.key_matches_cert(*seal)
    assert pki.key_matches_cert(*root)
    assert not pki.key_matches_cert(seal[0], root[1])


def test_leaf_never_outlives_the_root():
    ca_key, ca_cert = pki.make_root_ca("短期根", "测试", years=1)
    cert = pki.issue_cert(
        ca_key,
        ca_cert,
        pki.generate_key().public_key(),
        common_name="公章",
        org="某单位",
        kind="seal",
        days=3650,
    )
    assert cert.not_valid_after_utc == ca_cert.not_valid_after_utc


def test_openssl_accepts_the_leaf_for_smime_signing(root, seal, tmp_path):
    """The default purpose of ``openssl cms -verify`` is smimesign; check it on the chain alone."""
    require(shutil.which("openssl") is not None, "openssl binary not installed")
    (tmp_path / "root.pem").write_bytes(pki.cert_to_pem(root[1]))
    (tmp_path / "leaf.pem").write_bytes(pki.cert_to_pem(seal[1]))
    done = subprocess.run(
        ["openssl", "verify", "-purpose", "smimesign", "-CAfile", "root.pem", "leaf.pem"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_pem_der_round_trips(root, seal):
    cert = seal[1]
    assert pki.cert_from_pem(pki.cert_to_pem(cert)) == cert
    assert pki.cert_from_der(pki.cert_to_der(cert)) == cert
    assert pki.load_cert(pki.cert_to_pem(cert).decode()) == cert
    assert pki.load_cert(pki.cert_to_der(cert)) == cert
    crl = pki.make_crl(*root, [(cert.serial_number, NOW, "keyCompromise")])
    assert pki.load_crl(pki.crl_to_pem(crl)) == crl
    assert pki.load_crl(pki.crl_to_der(crl)) == crl
    assert pki.crl_from_pem(pki.crl_to_pem(crl).decode()) == crl
    assert pki.crl_from_der(pki.crl_to_der(crl)) == crl


def test_crl_lists_serials_with_reasons(root):
    ca_key, ca_cert = root
    when = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    crl = pki.make_crl(
        ca_key,
        ca_cert,
        [(11, when, "keyCompromise"), (12, when, x509.ReasonFlags.superseded), (13, when, None)],
    )
    assert crl.is_signature_valid(ca_cert.public_key())
    assert crl.issuer == ca_cert.subject
    assert crl.next_update_utc - crl.last_update_utc == timedelta(days=7)
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number > 0
    entry = crl.get_revoked_certificate_by_serial_number(11)
    assert entry is not None and entry.revocation_date_utc == when
    assert (
        entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        is x509.ReasonFlags.key_compromise
    )
    reason = crl.get_revoked_certificate_by_serial_number(12).extensions.get_extension_for_class(
        x509.CRLReason
    )
    assert reason.value.reason is x509.ReasonFlags.superseded
    assert len(crl.get_revoked_certificate_by_serial_number(13).extensions) == 0
    assert crl.get_revoked_certificate_by_serial_number(14) is None


# --- keys at rest ------------------------------------------------------------------------------


def test_private_key_round_trips_under_the_master_key():
    master = Fernet.generate_key().decode()
    key = pki.generate_key()
    blob = pki.encrypt_private_key(key, master)
    assert b"PRIVATE" not in blob
    back = pki.decrypt_private_key(blob, master)
    assert back.private_numbers() == key.private_numbers()


def test_wrong_master_key_or_damaged_blob_is_a_key_decrypt_error():
    master = Fernet.generate_key().decode()
    blob = pki.encrypt_private_key(pki.generate_key(), master)
    with pytest.raises(pki.KeyDecryptError, match="OFFICE_MASTER_KEY"):
        pki.decrypt_private_key(blob, Fernet.generate_key().decode())
    with pytest.raises(pki.KeyDecryptError):
        pki.decrypt_private_key(blob[:-3] + b"AAA", master)
    with pytest.raises(pki.KeyDecryptError):
        pki.decrypt_private_key(blob, "not a fernet key")


def test_seal_keys_use_a_derived_key_not_the_raw_master_key():
    """Domain separation: a TOTP-style Fernet(master) cannot open a seal key blob."""
    master = Fernet.generate_key().decode()
    blob = pki.encrypt_private_key(pki.generate_key(), master)
    with pytest.raises(InvalidToken):
        Fernet(master.encode()).decrypt(blob)
    der = pki.generate_key().private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(pki.KeyDecryptError):
        pki.decrypt_private_key(Fernet(master.encode()).encrypt(der), master)


def test_malformed_master_key_is_refused_on_encrypt():
    with pytest.raises(ValueError, match="Fernet"):
        pki.encrypt_private_key(pki.generate_key(), "short")


# --- chain checks ------------------------------------------------------------------------------


def test_verify_chain_accepts_a_good_leaf(root, seal):
    result = pki.verify_chain(seal[1], root[1], pki.make_crl(*root, []))
    assert result.ok and result.failed_check is None and result.message


def test_verify_chain_expired_and_not_yet_valid(root):
    ca_key, ca_cert = root
    public = pki.generate_key().public_key()
    old = pki.issue_cert(
        ca_key,
        ca_cert,
        public,
        common_name="旧章",
        org="某单位",
        kind="seal",
        not_before=NOW - timedelta(days=40),
        days=30,
    )
    result = pki.verify_chain(old, ca_cert)
    assert (result.ok, result.failed_check) == (False, "expired")
    assert "过期" in result.message
    assert pki.verify_chain(old, ca_cert, at=NOW - timedelta(days=20)).ok
    future = pki.issue_cert(
        ca_key,
        ca_cert,
        public,
        common_name="新章",
        org="某单位",
        kind="seal",
        not_before=NOW + timedelta(days=1),
    )
    result = pki.verify_chain(future, ca_cert)
    assert (result.ok, result.failed_check) == (False, "not_yet_valid")
    assert "尚未生效" in result.message


def test_verify_chain_revoked(root, seal):
    revoked_at = NOW - timedelta(hours=1)
    crl = pki.make_crl(*root, [(seal[1].serial_number, revoked_at, "keyCompromise")])
    result = pki.verify_chain(seal[1], root[1], crl)
    assert (result.ok, result.failed_check) == (False, "revoked")
    assert result.revoked_at == revoked_at.replace(microsecond=0)
    assert "吊销" in result.message
    # Served from the per-CRL cache the second time: same answer.
    assert pki.verify_chain(seal[1], root[1], crl).failed_check == "revoked"


def test_verify_chain_other_root(root, seal):
    _, other = pki.make_root_ca("另一个根", "别的平台")
    result = pki.verify_chain(seal[1], other)
    assert (result.ok, result.failed_check) == (False, "issuer_mismatch")
    # Same name, different key: only the signature check can tell.
    _, twin = pki.make_root_ca("政务协同办公电子印章根证书", "示例省人民政府")
    result = pki.verify_chain(seal[1], twin)
    assert (result.ok, result.failed_check) == (False, "signature")


def test_verify_chain_refuses_crl_from_another_key_or_stale(root, seal):
    ca_key, ca_cert = root
    twin_key, twin = pki.make_root_ca("政务协同办公电子印章根证书", "示例省人民政府")
    forged = pki.make_crl(twin_key, twin, [])
    assert pki.verify_chain(seal[1], ca_cert, forged).failed_check == "crl"
    stale = pki.make_crl(ca_key, ca_cert, [], last_update=NOW - timedelta(days=10), next_update_days=7)
    result = pki.verify_chain(seal[1], ca_cert, stale)
    assert result.failed_check == "crl" and "更新" in result.message


def test_verify_chain_refuses_a_ca_as_signer(root):
    result = pki.verify_chain(root[1], root[1])
    assert (result.ok, result.failed_check) == (False, "usage")
