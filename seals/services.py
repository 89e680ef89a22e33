"""Seals: the platform CA, unit seals and keepers, seal-use approval, signed opinions, verification.

A module whose objects get sealed (documents) registers a :class:`Sealable` for its subject
type; this package never imports it. The flow of one use:

1. the module opens requests when its 用印 step starts (:func:`open_requests`), one per
   issuing unit's seal, and the seal's keepers get the step's to-do;
2. a keeper approves with a second factor (:func:`approve`) or rejects with a reason
   (:func:`reject`); the module moves its flow on through its ``Sealable`` callbacks;
3. when every request of the subject is approved, the module renders the final file with all
   the seal images, each seal signs its SHA-256 (detached CMS), and the file is frozen.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from flask import current_app, url_for
from sqlalchemy import and_, bindparam, func, select, update
from sqlalchemy.orm import aliased

from office.audit.models import AuditEvent
from office.audit.services import record
from office.auth.passwords import verify_password
from office.auth.services import verify_totp
from office.cli import init_hook
from office.context import Actor
from office.db import dialect_insert, utcnow
from office.errors import NotFound, ServiceError
from office.extensions import db
from office.files import services as files
from office.identity.access import can_manage_unit, is_admin, managed_paths, path_filter
from office.identity.models import Unit, User
from office.identity.services import paginate
from seals import cms, image, pki
from seals.models import (
    KIND_LABELS,
    REQUEST_LABELS,
    STATUS_LABELS,
    Authority,
    OpinionSignature,
    PersonalCert,
    RequestStatus,
    Seal,
    SealKeeper,
    SealKind,
    SealRequest,
    SealStatus,
)

#: Wrong second factors allowed per keeper in this window before approval is refused for a while.
FAILURE_WINDOW = timedelta(minutes=15)
MAX_FAILURES = 5
SEAL_YEARS = 5
PERSON_YEARS = 3


def _need(actor: Actor) -> User:
    if actor.user is None:
        raise ServiceError("unauthorized", "请先登录", 401)
    return actor.user


# ---------------------------------------------------------------- the platform CA


_ca_cache: dict[str, Any] = {}
_ca_lock = threading.Lock()


def ensure_authority() -> Authority:
    """The root CA row, made on first call (``init`` calls it; tests and upgrades get it lazily)."""
    ca = db.session.get(Authority, 1)
    if ca is not None:
        return ca
    root = db.session.scalar(select(Unit).where(Unit.parent_id.is_(None)).order_by(Unit.id))
    org = root.name if root else "政务协同办公"
    key, cert = pki.make_root_ca(f"{org} 电子印章根证书", org)
    master = current_app.config["OFFICE_MASTER_KEY"]
    # Two first uses at once: one row wins, the other reads it.
    db.session.execute(
        dialect_insert(Authority)
        .values(
            id=1,
            cert_pem=pki.cert_to_pem(cert).decode(),
            key_enc=pki.encrypt_private_key(key, master),
            next_serial=2,
            revocations=0,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing()
    )
    ca = db.session.get(Authority, 1)
    record(Actor(user=None), "seals:authority:create", object_type="pki_authority", object_id=1,
           details={"subject": cert.subject.rfc4514_string()})  # fmt: skip
    return ca


@init_hook
def _init_authority() -> str | None:
    existed = db.session.get(Authority, 1) is not None
    ca = ensure_authority()
    if existed:
        return None
    return f"已生成电子印章根证书（ECDSA P-256）：{pki.load_cert(ca.cert_pem).subject.rfc4514_string()}"


def authority() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """The root key and certificate, decrypted once per process (keyed by the stored PEM)."""
    ca = ensure_authority()
    with _ca_lock:
        if _ca_cache.get("pem") != ca.cert_pem:
            master = current_app.config["OFFICE_MASTER_KEY"]
            _ca_cache.update(
                pem=ca.cert_pem,
                cert=pki.load_cert(ca.cert_pem),
                key=pki.decrypt_private_key(ca.key_enc, master),
            )
        return _ca_cache["key"], _ca_cache["cert"]


def _ca_state() -> tuple[str, int]:
    """The root certificate's PEM and the revocation counter in one light query (no key, no
    ORM object): what verification needs to know whether its cached root and CRL still hold."""
    q = select(Authority.cert_pem, Authority.revocations).where(Authority.id == 1)
    row = db.session.execute(q).first()
    if row is None:
        ca = ensure_authority()
        return ca.cert_pem, ca.revocations
    return row[0], row[1]


def root_cert() -> x509.Certificate:
    return authority()[1]


def trust_anchors() -> tuple[x509.Certificate, x509.CertificateRevocationList]:
    """The root certificate and the current CRL for verifying, from one query when both are
    cached (the usual case: the root never changes and revocations are rare)."""
    pem, revocations = _ca_state()
    cached = _ca_cache.get("cert") if _ca_cache.get("pem") == pem else None
    root = cached if cached is not None else root_cert()
    return root, current_crl((pem, revocations))


def root_cert_pem() -> bytes:
    return ensure_authority().cert_pem.encode()


def _next_serial() -> int:
    """A serial from the CA's counter, under its row lock (never two certificates with one)."""
    ensure_authority()
    return db.session.execute(
        update(Authority)
        .where(Authority.id == 1)
        .values(next_serial=Authority.next_serial + 1)
        .returning(Authority.next_serial - 1)
    ).scalar_one()


def crl_url() -> str | None:
    try:
        return url_for("seals_pki.crl", _external=True)
    except RuntimeError:  # no request (CLI): the URL is made relative to the configured server
        base = current_app.config.get("PUBLIC_URL")
        return f"{base.rstrip('/')}/pki/crl.der" if base else None


def revoked_entries() -> list[tuple[int, datetime, str | None]]:
    seals = db.session.execute(
        select(Seal.cert_serial, Seal.revoked_at).where(Seal.revoked_at.is_not(None))
    ).all()
    people = db.session.execute(
        select(PersonalCert.cert_serial, PersonalCert.revoked_at).where(PersonalCert.revoked_at.is_not(None))
    ).all()
    return [(s, at, "cessationOfOperation") for s, at in seals] + [(s, at, None) for s, at in people]


_crl_cache: dict[str, Any] = {}


def current_crl(state: tuple[str, int] | None = None) -> x509.CertificateRevocationList:
    """The CRL, re-signed only when a revocation bumped the CA's counter or a day has passed,
    so verifying many files neither queries the revoked set nor signs each time."""
    key = state if state is not None else _ca_state()
    now = utcnow()
    hit = _crl_cache.get("crl")
    if hit is not None and _crl_cache.get("key") == key and now - _crl_cache["at"] < timedelta(days=1):
        return hit
    ca = ensure_authority()
    key = (ca.cert_pem, ca.revocations)
    ca_key, ca_cert = authority()
    entries = revoked_entries()
    crl = pki.make_crl(ca_key, ca_cert, entries, next_update_days=7, crl_number=ca.revocations + 1)
    _crl_cache.update(crl=crl, key=key, at=now)
    return crl


def _revoked() -> None:
    """A certificate was revoked: the next CRL request re-signs."""
    db.session.execute(
        update(Authority).where(Authority.id == 1).values(revocations=Authority.revocations + 1)
    )


# ---------------------------------------------------------------- seals


def _manageable(me: User, unit: Unit) -> bool:
    return is_admin(me) or can_manage_unit(me, unit)


def visible_seals_clause(me: User):
    """Seals a person may see in 印章管理: their managed units' and those they keep."""
    if is_admin(me):
        return True
    kept = select(SealKeeper.seal_id).where(SealKeeper.user_id == me.id)
    paths = managed_paths(me)
    managed = Seal.unit_id.in_(select(Unit.id).where(path_filter(Unit.path, paths))) if paths else False
    return Seal.id.in_(kept) | managed


def list_seals(me: User, *, unit_id: int | None = None, status: str | None = None) -> list[Seal]:
    stmt = select(Seal).where(visible_seals_clause(me)).order_by(Seal.unit_id, Seal.id)
    if unit_id:
        stmt = stmt.where(Seal.unit_id == unit_id)
    if status:
        stmt = stmt.where(Seal.status == SealStatus(status))
    return list(db.session.scalars(stmt).unique())


def get_seal(me: User, seal_id: int) -> Seal:
    seal = db.session.scalar(select(Seal).where(Seal.id == seal_id, visible_seals_clause(me)))
    if seal is None:
        raise NotFound("印章不存在或无权访问")
    return seal


def can_manage(me: User, seal: Seal) -> bool:
    return _manageable(me, seal.unit)


def _need_manager(me: User, seal: Seal) -> None:
    if not can_manage(me, seal):
        raise ServiceError("forbidden", "只有本单位管理员可以管理印章", 403)


def _check_keepers(unit: Unit, keeper_ids: list[int]) -> list[User]:
    from office.identity.models import Post

    ids = list(dict.fromkeys(int(i) for i in keeper_ids))
    if not ids:
        raise ServiceError("keepers_required", "请至少指定一名印章管理员", 422, field="keeper_ids")
    people = db.session.scalars(
        select(User)
        .join(Post, Post.user_id == User.id)
        .join(Unit, Unit.id == Post.unit_id)
        .where(User.id.in_([i for i in ids if 0 < i < 2**31]), User.active.is_(True))
        .where(path_filter(Unit.path, [unit.path]))
    ).unique()
    found = {u.id: u for u in people}
    unknown = [i for i in ids if i not in found]
    if unknown:
        raise ServiceError(
            "invalid_keeper", "印章管理员须为本单位在职人员", 422, {"user_ids": unknown}, field="keeper_ids"
        )
    return [found[i] for i in ids]


def default_keepers(unit: Unit) -> list[int]:
    """People holding the 印章管理员 role in the unit (or its 办公厅/办公室)."""
    from office.workflow.services import users_with_role

    return users_with_role([unit.id], "seal_keeper", children=True)


def create_seal(
    actor: Actor,
    *,
    unit_id: int,
    kind: str = SealKind.OFFICIAL.value,
    name: str | None = None,
    label: str | None = None,
    keeper_ids: list[int] | None = None,
    image_png: bytes | None = None,
) -> Seal:
    """A new seal: its own key pair, a certificate naming the unit, the generated image."""
    me = _need(actor)
    unit = db.session.get(Unit, unit_id) if 0 < unit_id < 2**31 else None
    if unit is None or not (_manageable(me, unit)):
        raise NotFound("单位不存在或无权管理")
    try:
        kind_enum = SealKind(kind)
    except ValueError:
        raise ServiceError("invalid_kind", "印章类型无效", 422, field="kind") from None
    name = (name or unit.name).strip()
    if not name or len(name) > 30:
        raise ServiceError("invalid_name", "印章名称须为 1–30 个字", 422, field="name")
    if label is None and kind_enum is not SealKind.OFFICIAL:
        label = KIND_LABELS[kind_enum]
    label = (label or "").strip() or None
    if label and len(label) > 8:
        raise ServiceError("invalid_label", "印章下方文字不超过 8 个字", 422, field="label")
    live = select(Seal.id).where(
        Seal.unit_id == unit.id, Seal.kind == kind_enum, Seal.name == name, Seal.status != SealStatus.REVOKED
    )
    if db.session.scalar(live):
        raise ServiceError("duplicate_seal", "本单位已有同名同类印章", 409, field="name")
    keepers = _check_keepers(unit, keeper_ids if keeper_ids is not None else default_keepers(unit))
    png = _checked_png(image_png) if image_png else _generated(name, label)
    ca_key, ca_cert = authority()
    key = pki.generate_key()
    serial = _next_serial()
    cert = pki.issue_cert(
        ca_key,
        ca_cert,
        key.public_key(),
        common_name=label or KIND_LABELS[kind_enum],
        org=name,
        org_unit=unit.name if unit.name != name else None,
        kind="seal",
        serial=serial,
        days=365 * SEAL_YEARS,
        crl_url=crl_url(),
    )
    seal = Seal(
        unit_id=unit.id,
        kind=kind_enum,
        name=name,
        label=label,
        status=SealStatus.ACTIVE,
        image=png,
        key_enc=pki.encrypt_private_key(key, current_app.config["OFFICE_MASTER_KEY"]),
        cert_pem=pki.cert_to_pem(cert).decode(),
        cert_serial=serial,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        created_by_id=me.id,
        created_at=utcnow(),
        keepers=[SealKeeper(user_id=u.id) for u in keepers],
    )
    db.session.add(seal)
    record(actor, "seals:seal:create", seal, unit_id=unit.id,
           details={"name": name, "kind": kind_enum.value, "serial": serial,
                    "keepers": [u.name for u in keepers]})  # fmt: skip
    return seal


def _generated(name: str, label: str | None) -> bytes:
    try:
        return image.render_seal(name, label)
    except image.NoCJKFont as exc:
        raise ServiceError("no_cjk_font", str(exc), 503) from exc


def _checked_png(data: bytes) -> bytes:
    from io import BytesIO

    from PIL import Image, UnidentifiedImageError

    if len(data) > 2 * 1024 * 1024:
        raise ServiceError("image_too_large", "印章图片不能超过 2 MB", 413, field="image")
    try:
        with Image.open(BytesIO(data)) as im:
            if im.format != "PNG" or im.mode not in ("RGBA", "LA", "P"):
                raise ServiceError("invalid_image", "印章图片须为透明背景的 PNG", 422, field="image")
            if not (100 <= im.width <= 2000 and 100 <= im.height <= 2000):
                raise ServiceError("invalid_image", "印章图片尺寸须在 100–2000 像素之间", 422, field="image")
    except (UnidentifiedImageError, OSError):
        raise ServiceError("invalid_image", "无法识别的图片文件", 422, field="image") from None
    return data


def replace_image(actor: Actor, seal_id: int, png: bytes) -> Seal:
    me = _need(actor)
    seal = get_seal(me, seal_id)
    _need_manager(me, seal)
    if seal.status is SealStatus.REVOKED:
        raise ServiceError("seal_revoked", "印章已注销", 409)
    seal.image = _checked_png(png)
    record(actor, "seals:seal:image", seal, unit_id=seal.unit_id, details={"sha256": _sha(png)})
    return seal


def set_keepers(actor: Actor, seal_id: int, keeper_ids: list[int]) -> Seal:
    me = _need(actor)
    seal = get_seal(me, seal_id)
    _need_manager(me, seal)
    people = _check_keepers(seal.unit, keeper_ids)
    seal.keepers = [SealKeeper(user_id=u.id) for u in people]
    record(
        actor, "seals:seal:keepers", seal, unit_id=seal.unit_id, details={"keepers": [u.name for u in people]}
    )
    return seal


STATUS_ACTIONS = {"suspend": SealStatus.SUSPENDED, "resume": SealStatus.ACTIVE, "revoke": SealStatus.REVOKED}


def change_status(actor: Actor, seal_id: int, action: str, reason: str) -> Seal:
    """暂停 / 恢复 / 注销. Revocation is final and puts the certificate on the CRL."""
    me = _need(actor)
    seal = get_seal(me, seal_id)
    _need_manager(me, seal)
    target = STATUS_ACTIONS.get(action)
    if target is None:
        raise ServiceError("invalid_action", f"不支持的操作：{action}", 404)
    reason = (reason or "").strip()
    if target is not SealStatus.ACTIVE and not reason:
        raise ServiceError("reason_required", "请填写原因", 422, field="reason")
    if len(reason) > 200:
        raise ServiceError("reason_too_long", "原因不超过 200 字", 422, field="reason")
    if seal.status is SealStatus.REVOKED:
        raise ServiceError("seal_revoked", "印章已注销，不能再变更状态", 409)
    if seal.status is target:
        raise ServiceError("no_change", f"印章已是「{STATUS_LABELS[target]}」状态", 409)
    before = seal.status
    seal.status = target
    seal.status_reason = reason or None
    if target is SealStatus.REVOKED:
        seal.revoked_at = utcnow()
        _revoked()
    record(actor, f"seals:seal:{action}", seal, unit_id=seal.unit_id,
           details={"from": before.value, "to": target.value, "reason": reason})  # fmt: skip
    return seal


def usable_seal(seal: Seal) -> None:
    """409 with the reason when a seal may not be used now."""
    if seal.status is not SealStatus.ACTIVE:
        why = f"：{seal.status_reason}" if seal.status_reason else ""
        raise ServiceError(
            f"seal_{seal.status.value}",
            f"印章「{seal.name}」已{STATUS_LABELS[seal.status]}{why}",
            409,
            {"seal_id": seal.id, "status": seal.status.value, "reason": seal.status_reason},
        )
    if seal.not_after <= utcnow():
        raise ServiceError("seal_expired", f"印章「{seal.name}」的证书已过期", 409, {"seal_id": seal.id})


def seal_for_unit(unit_id: int, kind: SealKind = SealKind.OFFICIAL) -> Seal | None:
    """The unit's seal of this kind: the active one, else the newest (whose state is then the reason
    it cannot be used)."""
    seals = list(
        db.session.scalars(
            select(Seal).where(Seal.unit_id == unit_id, Seal.kind == kind).order_by(Seal.id.desc())
        )
    )
    return next((s for s in seals if s.status is SealStatus.ACTIVE), seals[0] if seals else None)


def keepers_of_units(unit_ids: list[int]) -> list[int]:
    """Keepers of the units' active 公章 (the 用印 step's handlers)."""
    if not unit_ids:
        return []
    rows = db.session.execute(
        select(Seal.unit_id, SealKeeper.user_id)
        .join(SealKeeper, SealKeeper.seal_id == Seal.id)
        .join(User, User.id == SealKeeper.user_id)
        .where(Seal.unit_id.in_(unit_ids), Seal.kind == SealKind.OFFICIAL, Seal.status == SealStatus.ACTIVE)
        .where(User.active.is_(True))
        .order_by(Seal.unit_id, SealKeeper.user_id)
    ).all()
    order = {u: n for n, u in enumerate(unit_ids)}
    return list(dict.fromkeys(uid for _, uid in sorted(rows, key=lambda r: order.get(r[0], 0))))


# ---------------------------------------------------------------- what can be sealed


@dataclass(frozen=True)
class Sealable:
    """How a module takes part: lock the subject (taken before the request, in that order
    everywhere, so two keepers never deadlock), render the final file with the seals' images (in issuing
    order), and move its flow on when the seals are applied or a request is rejected."""

    lock: Callable[[int], None]
    render: Callable[[int, list[bytes]], tuple[bytes, str]]
    on_sealed: Callable[[Actor, int, Any, str], None]
    on_rejected: Callable[[Actor, int, str], None]
    on_partial: Callable[[Actor, int, list[int], str], None]
    url: Callable[[int], str]
    #: The subject as the keeper should check it before sealing (HTML, e.g. the 红头 preview).
    preview: Callable[[int], str] | None = None


SEALABLES: dict[str, Sealable] = {}


def sealable(subject_type: str, spec: Sealable) -> None:
    SEALABLES[subject_type] = spec


def open_requests(
    actor: Actor, subject_type: str, subject_id: int, *, unit_ids: list[int], version: int, title: str
) -> list[SealRequest]:
    """One pending request per issuing unit's 公章 (a unit without a usable seal gets one for its
    newest seal, so the keeper sees why it cannot be used; a unit with none is an error)."""
    cancel_requests(actor, subject_type, subject_id, reason="重新申请")
    out = []
    for unit_id in unit_ids:
        seal = seal_for_unit(unit_id)
        if seal is None:
            unit = db.session.get(Unit, unit_id)
            raise ServiceError(
                "no_seal",
                f"{unit.name if unit else '发文单位'}尚未设置公章，请单位管理员先在「印章管理」中创建",
                409,
            )
        req = SealRequest(
            seal=seal,
            subject_type=subject_type,
            subject_id=subject_id,
            title=title[:300],
            version=version,
            status=RequestStatus.PENDING,
            requester_id=actor.user.id if actor.user else None,
            created_at=utcnow(),
        )
        db.session.add(req)
        out.append(req)
    db.session.flush()
    return out


def cancel_requests(actor: Actor, subject_type: str, subject_id: int, *, reason: str) -> int:
    """The subject left its 用印 step another way (send-back, recall, withdrawal)."""
    pending = list(
        db.session.scalars(
            select(SealRequest).where(
                SealRequest.subject_type == subject_type,
                SealRequest.subject_id == subject_id,
                SealRequest.status.in_([RequestStatus.PENDING, RequestStatus.AGREED]),
            )
        )
    )
    for req in pending:
        req.status = RequestStatus.CANCELLED
        req.reason = reason[:500]
        req.decided_at = utcnow()
    return len(pending)


def sealed_uses(subject_type: str, subject_id: int, file_id: int | None) -> list[SealRequest]:
    """The applied requests whose signatures cover this final file (one per issuing seal)."""
    if file_id is None:
        return []
    return [r for r in requests_of(subject_type, subject_id) if r.signature and r.file_id == file_id]


def requests_of(subject_type: str, subject_id: int) -> list[SealRequest]:
    return list(
        db.session.scalars(
            select(SealRequest)
            .where(SealRequest.subject_type == subject_type, SealRequest.subject_id == subject_id)
            .order_by(SealRequest.id)
        )
    )


def _kept_by(me: User) -> Any:
    return select(SealKeeper.seal_id).where(SealKeeper.user_id == me.id)


def requests_clause(me: User):
    """Requests a person may see: their seals' (keeper) and their managed units' (usage log)."""
    return SealRequest.seal_id.in_(select(Seal.id).where(visible_seals_clause(me)))


def list_requests(
    me: User,
    *,
    status: str | None = None,
    seal_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    q: str | None = None,
    page: int = 1,
    per_page: int = 20,
):
    stmt = select(SealRequest).where(requests_clause(me)).order_by(SealRequest.id.desc())
    if status:
        stmt = stmt.where(SealRequest.status == RequestStatus(status))
    if seal_id:
        stmt = stmt.where(SealRequest.seal_id == seal_id)
    if since:
        stmt = stmt.where(SealRequest.created_at >= since)
    if until:
        stmt = stmt.where(SealRequest.created_at < until)
    if q:
        stmt = stmt.where(SealRequest.title.contains(q.strip()[:50]))
    return paginate(stmt, page, per_page)


def get_request(me: User, request_id: int) -> SealRequest:
    req = (
        db.session.scalar(select(SealRequest).where(SealRequest.id == request_id, requests_clause(me)))
        if 0 < request_id < 2**31
        else None
    )
    if req is None:
        raise NotFound("用印申请不存在或无权访问")
    return req


def my_pending_request(me: User, subject_type: str, subject_id: int) -> SealRequest | None:
    return db.session.scalar(
        select(SealRequest)
        .where(
            SealRequest.subject_type == subject_type,
            SealRequest.subject_id == subject_id,
            SealRequest.status == RequestStatus.PENDING,
            SealRequest.seal_id.in_(_kept_by(me)),
        )
        .order_by(SealRequest.id)
    )


def _is_keeper(me: User, seal: Seal) -> bool:
    return any(k.user_id == me.id for k in seal.keepers)


def check_second_factor(actor: Actor, me: User, *, password: str | None, otp: str | None, what: str) -> None:
    """A second factor for every seal use: the TOTP code when the person has one, else the
    password. A wrong one is logged (committed even though the request fails) and answered 401;
    too many in a row lock approvals for a while."""
    since = utcnow() - FAILURE_WINDOW
    failures = db.session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(
            AuditEvent.action == "seals:second_factor:fail",
            AuditEvent.actor_id == me.id,
            AuditEvent.created_at >= since,
        )
    )
    if failures >= MAX_FAILURES:
        raise ServiceError("too_many_attempts", "验证失败次数过多，请 15 分钟后再试", 429)
    if me.totp_enabled:
        ok = bool(otp) and verify_totp(me, otp or "")
        field, label = "otp", "动态验证码"
    else:
        ok = bool(password) and verify_password(me.password_hash, password or "")
        field, label = "password", "密码"
    if ok:
        return
    db.session.rollback()
    record(actor, "seals:second_factor:fail", object_type="user", object_id=me.id, details={"for": what})
    db.session.commit()
    raise ServiceError("second_factor_failed", f"{label}不正确，本次用印未执行", 401, field=field)


def approve(
    actor: Actor, request_id: int, *, password: str | None = None, otp: str | None = None, opinion: str = ""
) -> SealRequest:
    """A keeper approves one request with a second factor. When it was the last pending one of
    its subject, the final file is rendered with every seal, signed by each, and the subject
    moves on; otherwise the subject waits for the other units' keepers."""
    me = _need(actor)
    req = _lock_request(me, request_id)
    if not _is_keeper(me, req.seal):
        raise NotFound("用印申请不存在或无权访问")  # another unit's keeper, or a manager only
    if req.status is not RequestStatus.PENDING:
        raise ServiceError("not_pending", f"该申请{_req_label(req)}，不能再审批", 409)
    usable_seal(req.seal)
    check_second_factor(actor, me, password=password, otp=otp, what=f"seal_request:{req.id}")
    spec = SEALABLES[req.subject_type]
    req.decided_by_id = me.id
    req.decided_at = utcnow()
    req.reason = opinion[:500] or None
    batch = [
        r
        for r in requests_of(req.subject_type, req.subject_id)
        if r.status in (RequestStatus.PENDING, RequestStatus.AGREED)
    ]
    waiting = [r.seal.name for r in batch if r.status is RequestStatus.PENDING and r.id != req.id]
    if waiting:
        req.status = RequestStatus.AGREED
        spec.on_partial(actor, req.subject_id, [k.user_id for k in req.seal.keepers], opinion)
        record(actor, "seals:request:agree", req, unit_id=req.seal.unit_id,
               details={"seal": req.seal.name, "waiting_for": waiting})  # fmt: skip
        return req
    _apply(actor, req, batch, spec, opinion)
    return req


def _req_label(req: SealRequest) -> str:
    return REQUEST_LABELS[req.status]


def _lock_request(me: User, request_id: int) -> SealRequest:
    """The request, locked, if the person may see it; its subject is locked first (the order
    every path takes, so two keepers never deadlock)."""
    found = db.session.get(SealRequest, request_id) if 0 < request_id < 2**31 else None
    if found is None:
        raise NotFound("用印申请不存在或无权访问")
    SEALABLES[found.subject_type].lock(found.subject_id)
    req = db.session.scalar(
        select(SealRequest)
        .where(SealRequest.id == request_id, requests_clause(me))
        .with_for_update(of=SealRequest)
        .execution_options(populate_existing=True)
    )
    if req is None:
        raise NotFound("用印申请不存在或无权访问")
    return req


def _apply(actor: Actor, req: SealRequest, batch: list[SealRequest], spec: Sealable, opinion: str) -> None:
    """Render once with every seal image, then each seal signs the file's SHA-256."""
    for r in batch:
        usable_seal(r.seal)
    data, name = spec.render(req.subject_id, [r.seal.image for r in batch])
    stored = files.store(data, name, user=actor.user)
    _, ca_cert = authority()
    master = current_app.config["OFFICE_MASTER_KEY"]
    now = utcnow()
    for r in batch:
        key = pki.decrypt_private_key(r.seal.key_enc, master)
        r.signature = cms.sign_detached(
            data, key, pki.load_cert(r.seal.cert_pem), [ca_cert], signing_time=now
        )
        r.sha256 = stored.sha256
        r.file_id = stored.id
        r.status = RequestStatus.APPROVED
    db.session.flush()
    spec.on_sealed(actor, req.subject_id, stored, opinion)
    record(actor, "seals:request:approve", req, unit_id=req.seal.unit_id,
           details={"seals": [r.seal.name for r in batch], "sha256": stored.sha256, "version": req.version,
                    "subject": f"{req.subject_type}:{req.subject_id}"})  # fmt: skip


def reject(actor: Actor, request_id: int, reason: str) -> SealRequest:
    me = _need(actor)
    req = _lock_request(me, request_id)
    if not _is_keeper(me, req.seal):
        raise NotFound("用印申请不存在或无权访问")
    if req.status is not RequestStatus.PENDING:
        raise ServiceError("not_pending", f"该申请{_req_label(req)}，不能再审批", 409)
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError("reason_required", "驳回必须填写理由", 422, field="reason")
    req.status = RequestStatus.REJECTED
    req.reason = reason[:500]
    req.decided_by_id = me.id
    req.decided_at = utcnow()
    cancel_requests(actor, req.subject_type, req.subject_id, reason=f"{req.seal.name}驳回：{reason}")
    SEALABLES[req.subject_type].on_rejected(actor, req.subject_id, reason)
    record(actor, "seals:request:reject", req, unit_id=req.seal.unit_id, details={"reason": reason[:200]})
    return req


def signed_file(subject_type: str, subject_id: int) -> SealRequest | None:
    """The newest applied request (its file and signature are the subject's sealed copy)."""
    return db.session.scalar(
        select(SealRequest)
        .where(
            SealRequest.subject_type == subject_type,
            SealRequest.subject_id == subject_id,
            SealRequest.status == RequestStatus.APPROVED,
        )
        .order_by(SealRequest.id)
    )


# ---------------------------------------------------------------- signed opinions


def _personal_cert(user: User) -> tuple[PersonalCert, ec.EllipticCurvePrivateKey]:
    master = current_app.config["OFFICE_MASTER_KEY"]
    pc = db.session.scalar(select(PersonalCert).where(PersonalCert.user_id == user.id))
    if pc is not None and pc.revoked_at is None and pc.not_after > utcnow():
        return pc, pki.decrypt_private_key(pc.key_enc, master)
    ca_key, ca_cert = authority()
    key = pki.generate_key()
    serial = _next_serial()
    unit = user.primary_unit if hasattr(user, "primary_unit") else None
    cert = pki.issue_cert(
        ca_key,
        ca_cert,
        key.public_key(),
        common_name=user.name,
        org=unit.name if unit else None,
        kind="person",
        serial=serial,
        days=365 * PERSON_YEARS,
        crl_url=crl_url(),
    )
    if pc is None:
        pc = PersonalCert(user_id=user.id)
        db.session.add(pc)
    pc.key_enc = pki.encrypt_private_key(key, master)
    pc.cert_pem = pki.cert_to_pem(cert).decode()
    pc.cert_serial = serial
    pc.not_after = cert.not_valid_after_utc
    pc.revoked_at = None
    pc.created_at = utcnow()
    db.session.flush()
    return pc, key


def sign_opinion(
    user: User,
    *,
    action_id: int,
    subject_type: str,
    subject_id: int,
    version_sha256: str,
    opinion: str,
    kind: str,
) -> OpinionSignature:
    """Sign an opinion with the person's own key over the opinion and the version's hash, so it
    cannot be altered or moved to another document. Part of the caller's change (no audit)."""
    pc, key = _personal_cert(user)
    now = utcnow()
    payload = cms.canonical_payload(
        {
            "kind": kind,
            "subject": f"{subject_type}:{subject_id}",
            "version_sha256": version_sha256,
            "opinion": opinion,
            "signer": user.name,
            "signer_id": user.id,
            "cert_serial": pc.cert_serial,
            "action_id": action_id,
            "signed_at": now.isoformat(timespec="seconds"),
        }
    )
    sig = OpinionSignature(
        action_id=action_id,
        cert_id=pc.id,
        subject_type=subject_type,
        subject_id=subject_id,
        payload=payload.decode(),
        signature=cms.sign_text(payload, key).encode(),
        signed_at=now,
    )
    db.session.add(sig)
    return sig


def check_opinions(
    subject_type: str, subject_id: int, current: Callable[[], dict[int, tuple[str, str | None]]]
) -> dict[int, dict]:
    """Each signed opinion of a subject checked: the signature, the certificate chain, and that
    the signed text and version hash are those now shown (``current()``: action id → (opinion,
    hash of the document the action was on); asked only when something was signed)."""
    import json

    sigs = list(
        db.session.scalars(
            select(OpinionSignature).where(
                OpinionSignature.subject_type == subject_type, OpinionSignature.subject_id == subject_id
            )
        )
    )
    if not sigs:
        return {}
    shown_now = current()
    root, crl = trust_anchors()
    out = {}
    for s in sigs:
        cert = pki.load_cert(s.cert.cert_pem)
        payload = s.payload.encode()
        fields = json.loads(s.payload)
        good_sig = cms.verify_text(payload, s.signature.decode(), cert)
        chain = pki.verify_chain(cert, root, crl, at=s.signed_at)
        shown = shown_now.get(s.action_id)
        matches = (
            shown is not None
            and shown[0] == fields.get("opinion")
            and shown[1] == fields.get("version_sha256")
        )
        matches = matches and fields.get("subject") == f"{subject_type}:{subject_id}"
        ok = good_sig and chain.ok and matches
        out[s.action_id] = {
            "valid": ok,
            "signer": fields.get("signer"),
            "signed_at": s.signed_at.isoformat(),
            "cert_serial": s.cert.cert_serial,
            "message": "签名有效"
            if ok
            else ("签名与意见或文稿不符" if not (good_sig and matches) else chain.message),
        }
    return out


# ---------------------------------------------------------------- verification


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _looks_like_docx(data: bytes) -> bool:
    import zipfile
    from io import BytesIO

    if not data.startswith(b"PK\x03\x04"):
        return False
    try:
        with zipfile.ZipFile(BytesIO(data)) as z:
            return "word/document.xml" in z.namelist()
    except zipfile.BadZipFile:
        return False


def _pem_body(data: bytes) -> bytes:
    """``openssl cms -outform PEM`` output back to DER (anything else is left to fail as not CMS)."""
    import base64
    import binascii

    lines = [ln for ln in data.decode("ascii", "replace").splitlines() if ln and not ln.startswith("-----")]
    try:
        return base64.b64decode("".join(lines), validate=True)
    except (binascii.Error, ValueError):
        return data


def verify(data: bytes, p7s: bytes | None) -> dict[str, Any]:
    """Answer for a file (and its .p7s, or the stored signature found by the file's hash):
    intact or changed, who sealed it, whether the certificate is trusted, in date, not revoked."""
    if not data:
        raise ServiceError("file_required", "请上传要验证的 .docx 文件", 422, field="file")
    if not _looks_like_docx(data):
        raise ServiceError("not_docx", "上传的文件不是 .docx 文档", 422, field="file")
    sha = _sha(data)
    if p7s is None:
        rows = _use_rows(sha)
        if not rows:
            return {
                "intact": False,
                "valid": False,
                "sha256": sha,
                "failed_check": "no_record",
                "message": "没有找到与该文件一致的用印记录：文件可能已被修改，或并非本平台签章的文件。"
                "如有签名文件（.p7s），请一并上传。",
            }
        p7s = rows[0].signature
    elif p7s.lstrip().startswith(b"-----BEGIN"):
        p7s = _pem_body(p7s)
    root, crl = trust_anchors()
    result = cms.verify_detached(data, p7s, root, crl)
    if result.failed_check == "not_cms":
        raise ServiceError(
            "not_cms", f"签名文件不是有效的 CMS/PKCS#7 签名（.p7s）：{result.message}", 422, field="signature"
        )
    out: dict[str, Any] = {
        "intact": result.intact,
        "valid": result.ok,
        "sha256": sha,
        "failed_check": result.failed_check,
        "message": result.message,
        "signing_time": result.signing_time.isoformat() if result.signing_time else None,
        "chain": {
            "ok": result.chain_ok,
            "revoked": result.revoked,
            "message": result.chain.message if result.chain else None,
        },
    }
    if result.signer_cert is None:
        return out
    cert = result.signer_cert
    out["certificate"] = {
        "subject": cert.subject.rfc4514_string(),
        "serial": cert.serial_number,
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
    }
    # The signer's seal and its recorded use of exactly this file (if any), in one query.
    row = next(iter(_use_rows(sha, cert.serial_number)), None)
    if row is not None:
        kind = KIND_LABELS[row.kind]
        out["seal"] = {"id": row.seal_id, "name": row.seal_name, "kind": kind, "unit": row.unit}
    if row is not None and row.request_id is not None:
        out["use"] = {
            "request_id": row.request_id,
            "title": row.title,
            "version": row.version,
            "approved_by": row.approved_by,
            "approved_at": row.decided_at.isoformat() if row.decided_at else None,
            "requested_by": row.requested_by,
        }
    return out


_USE_QUERIES: dict[str, Any] = {}


def _use_queries() -> dict[str, Any]:
    """The two lookups of :func:`_use_rows`, built once with bound parameters (building a
    statement costs more than running it on this path)."""
    if _USE_QUERIES:
        return _USE_QUERIES
    approver, requester = aliased(User), aliased(User)
    cols = (
        Seal.id.label("seal_id"),
        Seal.name.label("seal_name"),
        Seal.kind,
        Unit.name.label("unit"),
        SealRequest.id.label("request_id"),
        SealRequest.title,
        SealRequest.version,
        SealRequest.decided_at,
        SealRequest.signature,
        approver.name.label("approved_by"),
        requester.name.label("requested_by"),
    )
    of_file = and_(SealRequest.sha256 == bindparam("sha"), SealRequest.status == RequestStatus.APPROVED)

    def people(q: Any) -> Any:
        return (
            q.join(Unit, Unit.id == Seal.unit_id)
            .outerjoin(approver, approver.id == SealRequest.decided_by_id)
            .outerjoin(requester, requester.id == SealRequest.requester_id)
            .order_by(SealRequest.id)
        )

    by_file = select(*cols).select_from(SealRequest).join(Seal, Seal.id == SealRequest.seal_id).where(of_file)
    by_serial = (
        select(*cols)
        .select_from(Seal)
        .outerjoin(SealRequest, and_(SealRequest.seal_id == Seal.id, of_file))
        .where(Seal.cert_serial == bindparam("serial"))
    )
    _USE_QUERIES.update(by_file=people(by_file), by_serial=people(by_serial))
    return _USE_QUERIES


def _use_rows(sha: str, serial: int | None = None) -> list[Any]:
    """Plain rows (no ORM objects: verification is the hot path) of the approved uses of the
    file with this hash, each with its seal, unit and people. With ``serial``: the seal with
    that certificate, outer-joined to its use of this file, so a seal with no recorded use of
    the file still answers."""
    queries = _use_queries()
    if serial is None:
        return list(db.session.execute(queries["by_file"], {"sha": sha}))
    return list(db.session.execute(queries["by_serial"], {"sha": sha, "serial": serial}))


def request_json(req: SealRequest, viewer: User | None = None) -> dict[str, Any]:
    spec = SEALABLES.get(req.subject_type)
    return {
        "id": req.id,
        "seal": {
            "id": req.seal.id,
            "name": req.seal.name,
            "kind": req.seal.kind_label,
            "unit": req.seal.unit.name,
        },
        "subject": {
            "type": req.subject_type,
            "id": req.subject_id,
            "url": spec.url(req.subject_id) if spec else None,
        },
        "title": req.title,
        "version": req.version,
        "status": req.status.value,
        "status_label": REQUEST_LABELS[req.status],
        "requested_by": req.requester.name if req.requester else None,
        "decided_by": req.decided_by.name if req.decided_by else None,
        "decided_at": req.decided_at.isoformat() if req.decided_at else None,
        "reason": req.reason,
        "sha256": req.sha256,
        "created_at": req.created_at.isoformat(),
        "may_decide": bool(viewer and req.status is RequestStatus.PENDING and _is_keeper(viewer, req.seal)),
    }
