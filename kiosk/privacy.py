"""Keep patron identifiers out of logs and statistics.

Identifiers are replaced by a keyed hash: the same card gives the same token
on one device (so a technician can follow one session through the log), but
the token cannot be turned back into the card number without the device key.
"""

from __future__ import annotations

import hashlib
import secrets

_key = secrets.token_bytes(16)


def set_key(key: bytes) -> None:
    """Use a persistent per-device key (kept in the store) instead of a per-process one."""
    global _key
    if len(key) < 16:
        raise ValueError("the privacy key must be at least 16 bytes")
    _key = bytes(key)


def redact(identifier: str) -> str:
    """A short, stable, non-reversible token for a card number or patron id."""
    digest = hashlib.blake2b(identifier.encode(), key=_key, digest_size=6).hexdigest()
    return f"p:{digest}"
