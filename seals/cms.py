"""Detached CMS (PKCS#7) signatures over documents, and small raw signatures over opinions.

A seal signature is a DER ``.p7s`` beside the untouched document bytes, so anyone can check it
without this system, with stock OpenSSL and the platform's root certificate::

    openssl cms -verify -binary -inform DER -in sig.p7s -content doc.bin -CAfile root.pem -out /dev/null

Exit status 0 and "CMS Verification successful" when intact, 4 when the document or signature
was changed. ``-binary`` is required (else OpenSSL hashes the content with LF turned into CRLF);
no ``-purpose any`` is needed, since seal certificates carry the emailProtection EKU that the
default ``smimesign`` purpose asks for. To check revocation as well, put the CRL in the CA file
(``openssl cms`` has no ``-CRLfile``): ``cat root.pem crl.pem > root+crl.pem`` and use
``-CAfile root+crl.pem -crl_check``; a revoked certificate then fails with status 4.

Signing uses cryptography's ``PKCS7SignatureBuilder``; cryptography has no CMS verifier, so
:func:`verify_detached` parses SignedData with ``asn1crypto`` and checks the digest, the
signature over the signed attributes and the chain (via :func:`seals.pki.verify_chain`) itself.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from asn1crypto import cms as asn1_cms
from asn1crypto import core as asn1_core
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from seals import pki

__all__ = [
    "VerifyResult",
    "canonical_payload",
    "sign_detached",
    "sign_text",
    "verify_detached",
    "verify_text",
]

FailedCheck = Literal["not_cms", "altered", "signature", "chain", "expired", "revoked"]

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
# pki.verify_chain's detailed check -> the coarser one users see here.
_CHAIN_CHECK: dict[str, FailedCheck] = {
    "issuer_mismatch": "chain",
    "signature": "chain",
    "usage": "chain",
    "crl": "chain",
    "expired": "expired",
    "not_yet_valid": "expired",
    "revoked": "revoked",
}


# --- signing -----------------------------------------------------------------------------------


def _cms_time(value: datetime) -> asn1_cms.Time:
    """RFC 5652 §11.3: UTCTime for 1950–2049, GeneralizedTime otherwise."""
    value = (value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)).replace(
        microsecond=0
    )
    name = "utc_time" if 1950 <= value.year < 2050 else "general_time"
    return asn1_cms.Time(name=name, value=value)


def _restamp(der: bytes, key: ec.EllipticCurvePrivateKey, signing_time: datetime) -> bytes:
    """Replace the builder's signingTime (always "now") and re-sign the signed attributes."""
    info = asn1_cms.ContentInfo.load(der)
    signer = info["content"]["signer_infos"][0]
    attrs = [a for a in signer["signed_attrs"] if a["type"].native != "signing_time"]
    attrs.append(asn1_cms.CMSAttribute({"type": "signing_time", "values": [_cms_time(signing_time)]}))
    as_set = asn1_cms.CMSAttributes(attrs).dump()  # SET OF, DER-sorted by asn1crypto
    signer["signed_attrs"] = asn1_cms.CMSAttributes.load(as_set)
    signer["signature"] = key.sign(as_set, ec.ECDSA(hashes.SHA256()))
    return info.dump(force=True)


def sign_detached(
    data: bytes,
    key: ec.EllipticCurvePrivateKey,
    cert: x509.Certificate,
    chain: Sequence[x509.Certificate] = (),
    signing_time: datetime | None = None,
) -> bytes:
    """A DER detached CMS signature (SHA-256) carrying ``cert`` and the ``chain`` certificates.

    cryptography stamps signingTime with the current time and cannot take another; when
    ``signing_time`` is given the attribute is replaced and the attributes re-signed.
    ``Binary`` matters: without it cryptography hashes the data with LF turned into CRLF.
    """
    if not pki.key_matches_cert(key, cert):
        raise ValueError("签名私钥与证书不匹配")
    # Certificates last: set_data() and add_signer() return builders that drop certificates
    # added before them (cryptography 50).
    builder = pkcs7.PKCS7SignatureBuilder().set_data(data).add_signer(cert, key, hashes.SHA256())
    for extra in chain:
        builder = builder.add_certificate(extra)
    options = [
        pkcs7.PKCS7Options.DetachedSignature,
        pkcs7.PKCS7Options.Binary,
        pkcs7.PKCS7Options.NoCapabilities,
    ]
    der = builder.sign(Encoding.DER, options)
    return _restamp(der, key, signing_time) if signing_time is not None else der


# --- verification ------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of :func:`verify_detached`; ``message`` is shown to users as is.

    ``intact``: the document matches the signature and the signature is the certificate's.
    ``chain_ok``: that certificate comes from the trusted root, is in date and not revoked.
    Only ``ok`` (both) is a verdict: with ``failed_check == "chain"`` an intact signature
    proves nothing, since anyone can sign with a certificate they made themselves.
    """

    intact: bool
    chain_ok: bool
    revoked: bool
    failed_check: FailedCheck | None
    message: str
    signer_cert: x509.Certificate | None = None
    signing_time: datetime | None = None
    chain: pki.ChainResult | None = None

    @property
    def ok(self) -> bool:
        return self.intact and self.chain_ok


def _bad(check: FailedCheck, message: str, **extra: Any) -> VerifyResult:
    return VerifyResult(
        intact=False, chain_ok=False, revoked=False, failed_check=check, message=message, **extra
    )


@dataclass(frozen=True)
class _Parsed:
    cert_der: bytes | None
    digest_name: str
    signature_hash: str | None
    signed_attrs: bytes | None  # re-tagged as SET OF, ready to verify
    message_digest: bytes | None
    content_type_ok: bool
    signing_time: datetime | None
    signature: bytes


def _single(attrs: Mapping[str, list[Any]], name: str) -> Any:
    values = attrs.get(name)
    if values is None:
        return None
    if len(values) != 1:
        raise ValueError(f"attribute {name} must have exactly one value")
    return values[0]


def _parse(p7s: bytes) -> _Parsed | str:
    """Pull out what verification needs, or return a Chinese reason it is not a usable CMS."""
    info = asn1_cms.ContentInfo.load(p7s, strict=True)
    if info["content_type"].native != "signed_data":
        return "该文件不是 CMS/PKCS#7 签名数据"
    signed = info["content"]
    signers = signed["signer_infos"]
    if len(signers) != 1:
        return "仅支持包含一个签名者的签名文件"
    signer = signers[0]
    sid = signer["sid"]
    cert_der = None
    for choice in signed["certificates"] or []:
        if choice.name != "certificate":
            continue
        cert = choice.chosen
        if sid.name == "issuer_and_serial_number":
            # Exact bytes, not asn1crypto's Name equality: that runs LDAP stringprep (slow), and
            # signers copy the issuer from the certificate verbatim.
            match = (
                cert.serial_number == sid.chosen["serial_number"].native
                and cert["tbs_certificate"]["issuer"].dump() == sid.chosen["issuer"].dump()
            )
        else:
            match = cert.key_identifier == sid.chosen.native
        if match:
            cert_der = cert.dump()
            break
    algorithm = signer["signature_algorithm"]
    try:
        signature_hash = algorithm.hash_algo
    except ValueError:  # bare rsaEncryption/ecPublicKey: the digest algorithm applies
        signature_hash = None
    encapsulated_type = signed["encap_content_info"]["content_type"].native
    raw_attrs = signer["signed_attrs"]
    if isinstance(raw_attrs, asn1_core.Void):
        return _Parsed(
            cert_der=cert_der,
            digest_name=signer["digest_algorithm"]["algorithm"].native,
            signature_hash=signature_hash,
            signed_attrs=None,
            message_digest=None,
            content_type_ok=encapsulated_type == "data",
            signing_time=None,
            signature=signer["signature"].native,
        )
    attrs = {a["type"].native: list(a["values"]) for a in raw_attrs}
    digest = _single(attrs, "message_digest")
    content_type = _single(attrs, "content_type")
    when = _single(attrs, "signing_time")
    encoded = raw_attrs.dump()
    return _Parsed(
        cert_der=cert_der,
        digest_name=signer["digest_algorithm"]["algorithm"].native,
        signature_hash=signature_hash,
        signed_attrs=b"\x31" + encoded[1:],  # [0] IMPLICIT -> SET OF, same length octets (RFC 5652 §5.4)
        message_digest=digest.native if digest is not None else None,
        content_type_ok=content_type is not None and content_type.native == encapsulated_type,
        signing_time=when.native if when is not None else None,
        signature=signer["signature"].native,
    )


def _check_signature(public_key: object, signature: bytes, payload: bytes, hash_name: str) -> bool:
    algorithm = _HASHES[hash_name]()
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, payload, ec.ECDSA(algorithm))
        elif isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, payload, padding.PKCS1v15(), algorithm)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def verify_detached(
    data: bytes,
    p7s: bytes,
    root_cert: x509.Certificate,
    crl: x509.CertificateRevocationList | None = None,
    *,
    at: datetime | None = None,
) -> VerifyResult:
    """Check a detached signature over ``data`` against the trusted root (and CRL) at ``at``.

    Never raises for bad input: anything that is not a usable CMS signature is ``not_cms``.
    ``at`` defaults to now. signingTime is reported but not trusted for validity: it is the
    signer's own claim (no timestamp authority), so the certificate must be valid at ``at``.
    Pass the same loaded root and CRL objects each time (see :func:`seals.pki.verify_chain`).
    """
    try:
        parsed = _parse(bytes(p7s))
    except Exception:  # asn1crypto parses lazily and raises many types on garbage
        parsed = "无法解析签名文件：不是有效的 CMS/PKCS#7 签名数据"
    if isinstance(parsed, str):
        return _bad("not_cms", parsed)
    when = parsed.signing_time
    if parsed.cert_der is None:
        return _bad("signature", "签名文件中没有签名者的证书，无法验证", signing_time=when)
    try:
        signer_cert = x509.load_der_x509_certificate(parsed.cert_der)
    except ValueError:
        return _bad("not_cms", "签名文件中的签名者证书无法解析", signing_time=when)
    hash_name = parsed.signature_hash or parsed.digest_name
    if parsed.digest_name not in _HASHES or hash_name not in _HASHES:
        return _bad("signature", "签名使用了不支持的摘要算法", signer_cert=signer_cert, signing_time=when)
    public_key = signer_cert.public_key()
    if parsed.signed_attrs is None:
        if not parsed.content_type_ok or not _check_signature(public_key, parsed.signature, data, hash_name):
            return _bad("altered", "文件内容与签名不符：文件已被修改", signer_cert=signer_cert)
    else:
        actual = hashlib.new(parsed.digest_name, data).digest()
        if parsed.message_digest is None or not hmac.compare_digest(parsed.message_digest, actual):
            return _bad(
                "altered", "文件内容与签名不符：文件已被修改", signer_cert=signer_cert, signing_time=when
            )
        if not parsed.content_type_ok or not _check_signature(
            public_key, parsed.signature, parsed.signed_attrs, hash_name
        ):
            return _bad(
                "signature",
                "签名值无效：签名数据被篡改或不是该证书的私钥所签",
                signer_cert=signer_cert,
                signing_time=when,
            )
    chain = pki.verify_chain(signer_cert, root_cert, crl, at)
    if not chain.ok:
        assert chain.failed_check is not None
        return VerifyResult(
            intact=True,
            chain_ok=False,
            revoked=chain.failed_check == "revoked",
            failed_check=_CHAIN_CHECK[chain.failed_check],
            message=(
                f"签名证书不可信，无法确认文件的来源与完整性：{chain.message}"
                if _CHAIN_CHECK[chain.failed_check] == "chain"
                else f"文件内容与签名一致，但签名证书未通过验证：{chain.message}"
            ),
            signer_cert=signer_cert,
            signing_time=when,
            chain=chain,
        )
    return VerifyResult(
        intact=True,
        chain_ok=True,
        revoked=False,
        failed_check=None,
        message="签名有效：文件自签名后未被修改，签名证书由受信任的根证书签发且有效",
        signer_cert=signer_cert,
        signing_time=when,
        chain=chain,
    )


# --- raw signatures over small payloads (leaders' opinions) ------------------------------------


def canonical_payload(fields: Mapping[str, Any]) -> bytes:
    """One byte string per content: sorted keys, no spaces, UTF-8 (JSON-native values only)."""
    return json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def sign_text(text_bytes: bytes, key: ec.EllipticCurvePrivateKey) -> str:
    """Base64 of a DER ECDSA-SHA256 signature: small enough for a text column beside the opinion."""
    return base64.b64encode(key.sign(text_bytes, ec.ECDSA(hashes.SHA256()))).decode()


def verify_text(
    text_bytes: bytes,
    signature: str | bytes,
    signer: x509.Certificate | ec.EllipticCurvePublicKey,
) -> bool:
    """True when ``signature`` (from :func:`sign_text`) is the signer's over exactly ``text_bytes``.

    Only the signature is checked; check the certificate with :func:`seals.pki.verify_chain`.
    """
    public_key = signer.public_key() if isinstance(signer, x509.Certificate) else signer
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        return False
    try:
        raw = base64.b64decode(signature, validate=True)
        public_key.verify(raw, text_bytes, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True
