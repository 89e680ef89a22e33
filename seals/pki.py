"""The seal PKI: a platform root CA, seal and personal certificates, CRLs, keys at rest.

Pure library (no database, no Flask) so the services layer, the CLI and the tests share it.

The hierarchy is deliberately flat: one self-signed root (``path_length=0``) issues every
end-entity certificate directly, so a chain is always ``leaf -> root`` and checking it is two
signature verifications and a CRL lookup.

End-entity certificates carry ``KeyUsage(digitalSignature, nonRepudiation)`` and
``ExtendedKeyUsage(emailProtection, documentSigning)``: emailProtection is what
``openssl cms -verify`` requires under its default ``smimesign`` purpose, documentSigning
(RFC 9336) says what the key is really for.

Private keys at rest are PKCS#8 DER encrypted with Fernet under a key derived from
``OFFICE_MASTER_KEY`` by HKDF-SHA256 with a seal-specific ``info`` label, so a seal key blob
can never be decrypted by (or confused with) the TOTP secrets that ``office/crypto.py``
encrypts under the raw master key.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "ChainResult",
    "KeyDecryptError",
    "cert_from_der",
    "cert_from_pem",
    "cert_to_der",
    "cert_to_pem",
    "crl_from_der",
    "crl_from_pem",
    "crl_to_der",
    "crl_to_pem",
    "decrypt_private_key",
    "encrypt_private_key",
    "generate_key",
    "issue_cert",
    "key_matches_cert",
    "load_cert",
    "load_crl",
    "make_crl",
    "make_root_ca",
    "verify_chain",
]

CertKind = Literal["seal", "person"]
FailedCheck = Literal["signature", "expired", "not_yet_valid", "revoked", "issuer_mismatch", "usage", "crl"]

BEIJING = ZoneInfo("Asia/Shanghai")
# RFC 9336 id-kp-documentSigning; older cryptography releases lack the named constant.
DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")
_HKDF_INFO = b"gov-office-suite/seals/private-key/v1"
_DEFAULT_LEAF_DAYS = 3 * 365


class KeyDecryptError(Exception):
    """A stored seal key cannot be decrypted: wrong master key or a damaged blob."""

    def __init__(
        self, message: str = "无法解密印章私钥：OFFICE_MASTER_KEY 不正确（是否被更换？）或密钥数据已损坏"
    ) -> None:
        super().__init__(message)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC, matching cryptography's ``*_utc`` properties."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _show(value: datetime) -> str:
    return _utc(value).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


# --- keys --------------------------------------------------------------------------------------


def generate_key() -> ec.EllipticCurvePrivateKey:
    """A fresh ECDSA P-256 key: small signatures, fast verification, accepted everywhere."""
    return ec.generate_private_key(ec.SECP256R1())


_BAD_MASTER_KEY = "OFFICE_MASTER_KEY 格式不正确：应为 Fernet 密钥（32 字节的 URL 安全 Base64）"


def _seal_fernet(master_key: str | bytes) -> Fernet:
    try:
        raw = base64.urlsafe_b64decode(master_key.encode() if isinstance(master_key, str) else master_key)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(_BAD_MASTER_KEY) from exc
    if len(raw) != 32:
        raise ValueError(_BAD_MASTER_KEY)
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(raw)
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt_private_key(key: ec.EllipticCurvePrivateKey, master_key: str | bytes) -> bytes:
    """PKCS#8 DER under a Fernet key HKDF-derived from the master key (see module docstring)."""
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return _seal_fernet(master_key).encrypt(der)


def decrypt_private_key(blob: bytes, master_key: str | bytes) -> ec.EllipticCurvePrivateKey:
    """Inverse of :func:`encrypt_private_key`; any failure is a :class:`KeyDecryptError`."""
    try:
        der = _seal_fernet(master_key).decrypt(blob)
        key = serialization.load_der_private_key(der, password=None)
    except (InvalidToken, ValueError, TypeError) as exc:
        raise KeyDecryptError() from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyDecryptError("印章私钥类型不受支持（应为 ECDSA P-256）")
    return key


# --- certificates ------------------------------------------------------------------------------


def _name(common_name: str, org: str | None, org_unit: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "CN")]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    if org_unit:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, org_unit))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def make_root_ca(
    common_name: str,
    org: str,
    years: int = 20,
    *,
    key: ec.EllipticCurvePrivateKey | None = None,
    not_before: datetime | None = None,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A self-signed root that may only issue end-entity certificates (``path_length=0``)."""
    key = key or generate_key()
    start = _utc(not_before) if not_before else _now()
    name = _name(common_name, org)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=round(365.25 * years)))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def key_matches_cert(key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> bool:
    """Whether ``cert`` certifies ``key``: guards against pairing a decrypted key with the wrong row."""
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    public = cert.public_key()
    return isinstance(public, ec.EllipticCurvePublicKey) and key.public_key().public_bytes(
        serialization.Encoding.DER, spki
    ) == public.public_bytes(serialization.Encoding.DER, spki)


def issue_cert(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    subject_key_public: ec.EllipticCurvePublicKey,
    *,
    common_name: str,
    org_unit: str | None = None,
    org: str | None = None,
    kind: CertKind,
    serial: int | None = None,
    days: int = _DEFAULT_LEAF_DAYS,
    not_before: datetime | None = None,
    crl_url: str | None = None,
) -> x509.Certificate:
    """An end-entity signing certificate issued directly by the root.

    A seal certificate names the unit (O = unit, CN = seal name, e.g. "合同专用章"); a personal
    one names the person (CN = person, O = unit). Validity is clipped to the root's, so a leaf
    never outlives the root that vouches for it.
    """
    if kind not in ("seal", "person"):
        raise ValueError(f"证书类型无效：{kind!r}（应为 seal 或 person）")
    if not common_name or not common_name.strip():
        raise ValueError("证书名称（CN）不能为空")
    if kind == "seal" and not (org and org.strip()):
        raise ValueError("印章证书必须写明所属单位（O）")
    if not key_matches_cert(ca_key, ca_cert):
        raise ValueError("根证书与根私钥不匹配")
    start = _utc(not_before) if not_before else _now()
    end = min(start + timedelta(days=days), ca_cert.not_valid_after_utc)
    if end <= start:
        raise ValueError("证书有效期无效（根证书已过期或天数不为正）")
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name.strip(), org.strip() if org else None, org_unit))
        .issuer_name(ca_cert.subject)
        .public_key(subject_key_public)
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION, DOCUMENT_SIGNING]), critical=False
        )
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(subject_key_public), critical=False)
    )
    if crl_url:
        point = x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(crl_url)],
            relative_name=None,
            reasons=None,
            crl_issuer=None,
        )
        builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def cert_to_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def cert_to_der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def cert_from_pem(data: bytes | str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(data.encode() if isinstance(data, str) else data)


def cert_from_der(data: bytes) -> x509.Certificate:
    return x509.load_der_x509_certificate(data)


def load_cert(data: bytes | str) -> x509.Certificate:
    """PEM or DER, whichever it is (uploads and stored columns come in both)."""
    raw = data.encode() if isinstance(data, str) else data
    return cert_from_pem(raw) if raw.lstrip().startswith(b"-----BEGIN") else cert_from_der(raw)


# --- revocation --------------------------------------------------------------------------------


def make_crl(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    revoked: list[tuple[int, datetime, x509.ReasonFlags | str | None]],
    *,
    next_update_days: int = 7,
    last_update: datetime | None = None,
    crl_number: int | None = None,
) -> x509.CertificateRevocationList:
    """A v2 CRL signed by the root; ``reason`` may be a ReasonFlags or its value ("keyCompromise").

    ``crl_number`` defaults to the issue time in seconds, which only ever grows.
    """
    issued = _utc(last_update) if last_update else _now()
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(issued)
        .next_update(issued + timedelta(days=next_update_days))
        .add_extension(
            x509.CRLNumber(crl_number if crl_number is not None else int(issued.timestamp())), False
        )
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), False)
    )
    for serial, revoked_at, reason in revoked:
        entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(_utc(revoked_at))
        if reason is not None:
            flag = reason if isinstance(reason, x509.ReasonFlags) else x509.ReasonFlags(reason)
            entry = entry.add_extension(x509.CRLReason(flag), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    return builder.sign(ca_key, hashes.SHA256())


def crl_to_der(crl: x509.CertificateRevocationList) -> bytes:
    return crl.public_bytes(serialization.Encoding.DER)


def crl_to_pem(crl: x509.CertificateRevocationList) -> bytes:
    return crl.public_bytes(serialization.Encoding.PEM)


def crl_from_der(data: bytes) -> x509.CertificateRevocationList:
    return x509.load_der_x509_crl(data)


def crl_from_pem(data: bytes | str) -> x509.CertificateRevocationList:
    return x509.load_pem_x509_crl(data.encode() if isinstance(data, str) else data)


def load_crl(data: bytes | str) -> x509.CertificateRevocationList:
    raw = data.encode() if isinstance(data, str) else data
    return crl_from_pem(raw) if raw.lstrip().startswith(b"-----BEGIN") else crl_from_der(raw)


# --- verification ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainResult:
    """Outcome of :func:`verify_chain`; ``message`` is shown to users as is."""

    ok: bool
    failed_check: FailedCheck | None
    message: str
    revoked_at: datetime | None = None


def _fail(check: FailedCheck, message: str, revoked_at: datetime | None = None) -> ChainResult:
    return ChainResult(False, check, message, revoked_at)


# (id(crl), id(root)) -> (crl, root, signed_by_root, {serial: revoked_at}). The entry holds the
# objects themselves so their ids cannot be reused while cached (CRLs are neither hashable nor
# weak-referenceable). Checking a CRL's signature re-encodes it (~0.5 ms for 1,000 entries) and
# a serial lookup scans it, so each loaded CRL is checked and indexed once.
_CRL_CACHE: dict[tuple[int, int], tuple[object, object, bool, dict[int, datetime]]] = {}
_CRL_CACHE_SIZE = 8


def _crl_index(
    crl: x509.CertificateRevocationList, root_cert: x509.Certificate
) -> tuple[bool, dict[int, datetime]]:
    key = (id(crl), id(root_cert))
    hit = _CRL_CACHE.get(key)
    if hit is not None and hit[0] is crl and hit[1] is root_cert:
        return hit[2], hit[3]
    signed = crl.issuer == root_cert.subject and crl.is_signature_valid(root_cert.public_key())
    revoked = {entry.serial_number: entry.revocation_date_utc for entry in crl} if signed else {}
    if len(_CRL_CACHE) >= _CRL_CACHE_SIZE:
        _CRL_CACHE.pop(next(iter(_CRL_CACHE)), None)
    _CRL_CACHE[key] = (crl, root_cert, signed, revoked)
    return signed, revoked


def verify_chain(
    cert: x509.Certificate,
    root_cert: x509.Certificate,
    crl: x509.CertificateRevocationList | None = None,
    at: datetime | None = None,
) -> ChainResult:
    """Check ``cert`` was issued by ``root_cert``, is a signing leaf, valid at ``at`` and not revoked.

    Hand-rolled rather than ``x509.verification.PolicyBuilder``: its client verifier only
    accepts these certificates with a permissive end-entity ``ExtensionPolicy`` (the default
    demands the clientAuth EKU, which seal certificates must not have), it has no CRL support,
    and its errors are strings we would have to parse to say which check failed.

    Pass the same loaded ``root_cert``/``crl`` objects on every call: the CRL's signature is
    checked and its serials indexed once per object.

    Two checks go beyond issuer/signature/validity/revocation: ``usage`` (a CA certificate, or
    one without a signing key usage, presented as the signer) and ``crl`` (CRL not signed by
    this root, or past its nextUpdate — a stale CRL would silently hide a recent revocation).
    """
    when = _utc(at) if at else datetime.now(UTC)
    if cert.issuer != root_cert.subject:
        return _fail("issuer_mismatch", "证书不是由受信任的根证书签发的（签发者不符）")
    try:
        cert.verify_directly_issued_by(root_cert)
    except (InvalidSignature, ValueError, TypeError):
        return _fail("signature", "证书签名无效：证书不是由受信任的根证书签发，或已被篡改")
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        is_ca = constraints.ca
    except x509.ExtensionNotFound:
        is_ca = False
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        can_sign = usage.digital_signature or usage.content_commitment
    except x509.ExtensionNotFound:
        can_sign = True
    if is_ca or not can_sign:
        return _fail("usage", "该证书不能用于签名（是 CA 证书或未授权数字签名用途）")
    if when < root_cert.not_valid_before_utc:
        return _fail("not_yet_valid", f"根证书尚未生效（生效时间：{_show(root_cert.not_valid_before_utc)}）")
    if when > root_cert.not_valid_after_utc:
        return _fail("expired", f"根证书已过期（到期时间：{_show(root_cert.not_valid_after_utc)}）")
    if when < cert.not_valid_before_utc:
        return _fail("not_yet_valid", f"证书尚未生效（生效时间：{_show(cert.not_valid_before_utc)}）")
    if when > cert.not_valid_after_utc:
        return _fail("expired", f"证书已过期（到期时间：{_show(cert.not_valid_after_utc)}）")
    if crl is not None:
        signed_by_root, revoked = _crl_index(crl, root_cert)
        if not signed_by_root:
            return _fail("crl", "证书吊销列表（CRL）不是由受信任的根证书签发的，无法确认吊销状态")
        if crl.next_update_utc is not None and when > crl.next_update_utc:
            return _fail(
                "crl",
                f"证书吊销列表（CRL）已过期（应于 {_show(crl.next_update_utc)} 前更新），请更新后再验证",
            )
        revoked_at = revoked.get(cert.serial_number)
        if revoked_at is not None:
            return _fail("revoked", f"证书已被吊销（吊销时间：{_show(revoked_at)}）", revoked_at)
    return ChainResult(True, None, "证书有效：由受信任的根证书签发，在有效期内且未被吊销")
