"""bcrypt password hashing (cost 12), run off the event loop in a bounded worker pool."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import bcrypt

from sv_common.errors import Invalid

BCRYPT_ROUNDS = 12
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_BYTES = 72

# How much lower the bcrypt threads' CPU priority is than the rest of the process (nice steps).
BCRYPT_NICENESS = 10


def _lower_priority() -> None:
    """Runs once in each bcrypt thread: on Linux a thread has its own nice value, so hashing
    yields the CPU to the event loop (and to PostgreSQL on the same host) whenever they have
    work, and takes what is left. Elsewhere, or when not permitted, priorities stay as they are."""
    with contextlib.suppress(AttributeError, OSError):
        thread_id = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, thread_id)
        os.setpriority(os.PRIO_PROCESS, thread_id, min(19, current + BCRYPT_NICENESS))


# One core is always left to the event loop, and the pool's threads run at a lower priority: a
# login storm queues here instead of starving other requests (20 §1: /api/health keeps at least
# half its rate under a 4-connection login storm).
_pool = ThreadPoolExecutor(
    max_workers=max(1, (os.cpu_count() or 2) - 1),
    thread_name_prefix="bcrypt",
    initializer=_lower_priority,
)
# Verified against when the account does not exist, so timing does not reveal it (20 §1).
DUMMY_HASH = bcrypt.hashpw(b"not-a-real-password", bcrypt.gensalt(BCRYPT_ROUNDS)).decode()


def check_password_rules(password: str) -> None:
    """Raise Invalid when the password breaks the length rules (20 §1)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid("Password must be at least 8 characters.")
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise Invalid("Password is too long.")


_rounds = BCRYPT_ROUNDS


def set_rounds(rounds: int) -> None:
    """Change the bcrypt cost for new hashes (the test suite lowers it to keep tests fast)."""
    global _rounds
    _rounds = rounds


def hash_password(plain: str, rounds: int | None = None) -> str:
    """bcrypt hash with a fresh salt (cost 12 unless changed with `set_rounds`)."""
    return bcrypt.hashpw(plain.encode("utf-8"), bcrypt.gensalt(rounds or _rounds)).decode("ascii")


def verify_password(plain: str, hashed: str) -> bool:
    """True when `plain` matches; False (never raises) for wrong, empty or malformed input."""
    if not plain or not hashed:
        return False
    try:
        return bcrypt.checkpw(plain.encode("utf-8"), hashed.encode("ascii"))
    except (ValueError, TypeError, UnicodeError):
        return False


async def hash_password_async(plain: str, rounds: int | None = None) -> str:
    """`hash_password` in the bcrypt worker pool."""
    return await asyncio.get_running_loop().run_in_executor(_pool, hash_password, plain, rounds)


async def verify_password_async(plain: str, hashed: str | None) -> bool:
    """`verify_password` in the bcrypt worker pool; a missing hash checks the dummy and fails."""
    loop = asyncio.get_running_loop()
    if hashed is None:
        await loop.run_in_executor(_pool, verify_password, plain, DUMMY_HASH)
        return False
    return await loop.run_in_executor(_pool, verify_password, plain, hashed)
