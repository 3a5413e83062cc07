"""Keyed hashes and masks for personal data (ID numbers, phones, IPs, API tokens).

Clear personal data is never stored by this module's callers; they keep a keyed hash to match
on and a masked form to show.
"""

from __future__ import annotations

import hashlib
import hmac

from zhibo.config import get_settings


def keyed_hash(value: str, *, purpose: str) -> str:
    """HMAC-SHA256 of ``value`` under the deployment key, separated by ``purpose``."""
    key = get_settings().secret_key.get_secret_value().encode()
    message = f"{purpose}\x00{value.strip()}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def token_hash(token: str) -> str:
    """API tokens are high-entropy: a plain SHA-256 is enough and survives key rotation."""
    return hashlib.sha256(token.encode()).hexdigest()


def mask(value: str, keep_start: int = 4, keep_end: int = 4) -> str:
    """``330102199001011234`` → ``3301**********1234``; short values are fully masked."""
    value = value.strip()
    if len(value) <= keep_start + keep_end:
        return "*" * len(value)
    return value[:keep_start] + "*" * (len(value) - keep_start - keep_end) + value[-keep_end:]


def mask_phone(phone: str) -> str:
    """``13812345678`` → ``138****5678``."""
    return mask(phone, 3, 4)
