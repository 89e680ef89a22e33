"""Password hashing parameters (the suite itself hashes with cheap ones, PASSWORD_HASH_FAST)."""

from __future__ import annotations

from argon2 import PasswordHasher

from office.auth import passwords


def test_production_parameters_are_owasps_argon2id():
    """19 MiB, 2 passes, 1 lane: what a new hash under the production hasher encodes."""
    stored = PasswordHasher(**passwords.ARGON2_PARAMS).hash("Correct-Horse-9")
    assert stored.startswith("$argon2id$") and "m=19456,t=2,p=1" in stored


def test_hashes_made_with_other_parameters_still_verify():
    """Accounts hashed under the earlier RFC 9106 default log in (and are re-hashed)."""
    old = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4).hash("Correct-Horse-9")
    assert passwords.verify_password(old, "Correct-Horse-9")
    assert not passwords.verify_password(old, "wrong-horse-9")
    assert passwords.needs_rehash(old)
