"""The console's password: an scrypt hash in config (``edge console hash-password`` makes it).

Format: ``scrypt$<log2 n>$<r>$<p>$<salt, base64>$<key, base64>``, the key 32 bytes.  scrypt is the standard
library's (OpenSSL); the parameters travel with the hash, so stronger ones later still read old hashes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

__all__ = ["hash_password", "verify_password"]

#: n = 2**15, r = 8, p = 1: about 32 MiB and some 50-100 ms on a station PC, per login attempt.
_LOG2_N, _R, _P = 15, 8, 1
_KEY_BYTES = 32


def _derive(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    n = 1 << log2_n
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=2 * 128 * r * n + (1 << 20),
        dklen=_KEY_BYTES,
    )


def hash_password(password: str) -> str:
    """A new hash of ``password`` with a random salt (for ``console.password_hash``)."""
    if not password:
        raise ValueError("the console password must not be empty")
    salt = os.urandom(16)
    key = _derive(password, salt, _LOG2_N, _R, _P)
    b64 = base64.b64encode
    return f"scrypt${_LOG2_N}${_R}${_P}${b64(salt).decode()}${b64(key).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches the ``stored`` hash (constant-time compare); False for any
    malformed hash."""
    try:
        scheme, log2_n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt" or not 10 <= int(log2_n) <= 20:
            return False
        expected = base64.b64decode(key, validate=True)
        actual = _derive(password, base64.b64decode(salt, validate=True), int(log2_n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)
