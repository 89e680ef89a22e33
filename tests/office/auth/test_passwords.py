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


GEVENT_PROBE = """
from gevent import monkey
monkey.patch_all()
import sys, time, gevent
from office.auth import passwords

stored = passwords.hash_password("Correct-Horse-9")
ticks = []

def ticker():
    while True:
        ticks.append(time.perf_counter())
        gevent.sleep(0.001)

def during(check):
    t = gevent.spawn(ticker)
    gevent.sleep(0.005)
    ticks.clear()
    ok = check()
    n = len(ticks)
    t.kill()
    return ok, n

direct = during(lambda: passwords._hasher.verify(stored, "Correct-Horse-9"))
offloaded = during(lambda: passwords.verify_password(stored, "Correct-Horse-9"))
wrong = passwords.verify_password(stored, "wrong-horse-9")
print(direct[1], offloaded[0], offloaded[1], wrong)
"""


def test_under_gevent_argon2_runs_off_the_event_loop():
    """In a gevent worker other greenlets keep running while a password is verified (a
    direct call stalls them all for the whole hash); the answers are the same."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    out = subprocess.run(
        [sys.executable, "-c", GEVENT_PROBE], cwd=root, capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    direct_ticks, ok, offloaded_ticks, wrong = int(out[0]), out[1], int(out[2]), out[3]
    assert ok == "True" and wrong == "False"
    assert direct_ticks <= 1  # the probe itself: a blocking verify lets nothing else run
    assert offloaded_ticks >= 5, offloaded_ticks
