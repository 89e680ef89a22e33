"""Password hashing (Argon2id) and the password policy."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from office.errors import ServiceError

#: OWASP's recommended Argon2id configuration (19 MiB, 2 passes, 1 lane). argon2-cffi's own
#: default (RFC 9106 low-memory: 64 MiB, 3 passes, 4 lanes) cost 75-140 ms of CPU per verify
#: here, and a keeper verifies their password for every seal use: on a 2-core server that
#: alone capped 用印 at about 15 per second and made every login attempt a cheap way to load
#: the CPU. This one costs about 17 ms. Hashes made with other parameters still verify and
#: are re-hashed with these at the next login (``needs_rehash``).
ARGON2_PARAMS = {"time_cost": 2, "memory_cost": 19 * 1024, "parallelism": 1}
_hasher = PasswordHasher(**ARGON2_PARAMS)
#: Verified against when the username is unknown, so both paths cost the same time.
_DUMMY = _hasher.hash("dummy-password-for-timing")


def use_fast_hashing() -> None:
    """Cheap Argon2 parameters for the test suite only (config ``PASSWORD_HASH_FAST``);
    hashes made this way still verify under the default parameters."""
    global _hasher, _DUMMY
    _hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    _DUMMY = _hasher.hash("dummy-password-for-timing")


MIN_LENGTH = 10
T = TypeVar("T")


def _off_the_loop(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn`` on a native thread when gevent drives this process (gunicorn's gevent
    worker). Argon2 releases the GIL while it hashes, so for those ~20 ms the worker's other
    requests and pushes go on instead of all waiting (and locks held in their transactions
    are not held that much longer). Elsewhere it simply runs here."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("threading"):
        import gevent

        return gevent.get_hub().threadpool.apply(fn, args)
    return fn(*args)


def hash_password(password: str) -> str:
    return _off_the_loop(_hasher.hash, password)


def verify_password(stored: str | None, password: str) -> bool:
    try:
        return _off_the_loop(_hasher.verify, stored or _DUMMY, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _hasher.check_needs_rehash(stored)


def check_policy(password: str) -> None:
    """At least 10 characters drawn from at least 3 of: lower, upper, digit, other."""
    classes = sum(
        [
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        ]
    )
    if len(password) < MIN_LENGTH or classes < 3:
        raise ServiceError(
            "weak_password",
            "密码至少10位，且须包含大写字母、小写字母、数字、符号中的至少三类",
            422,
            field="password",
        )
