"""Password hashes: argon2id, computed in a thread, never in the event loop.

Parameters are OWASP's recommendation for argon2id (19 MiB, 2 passes, 1 lane): about 50 ms per hash on a
2-core machine; logins are rate-limited, so guessing stays slow and the CPU a login may burn is bounded.
"""

from __future__ import annotations

import asyncio
import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


@functools.cache
def _decoy_hash() -> str:
    """Checked when the username is unknown, so a wrong username costs as long as a wrong password and
    response times do not tell which usernames exist."""
    return _hasher.hash("decoy: no user has this password")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _decoy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches; `password_hash` None (no such user) spends the same time and is False."""
    return await asyncio.to_thread(_verify, password_hash, password)


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(password_hash)
