"""Encryption at rest under the master key (TOTP secrets now; seal keys later)."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app


def _fernet() -> Fernet:
    return Fernet(current_app.config["OFFICE_MASTER_KEY"].encode())


def encrypt(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:  # wrong master key: a deployment error, not user input
        raise RuntimeError("cannot decrypt with OFFICE_MASTER_KEY; was the key changed?") from exc
