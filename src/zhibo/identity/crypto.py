"""Field encryption for personal data at rest: AES-256-GCM (``cryptography``), one random
nonce per value, the row and field bound in as associated data so a ciphertext copied onto
another person's row does not decrypt.

The key comes from the setting ``ZHIBO_IDENTITY_KEY``; without it a development key is
generated once into ``{data_dir}/keys/identity.key`` (mode 0600) and a warning is logged.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from zhibo.config import Settings, get_settings
from zhibo.kit.errors import Conflict, InvalidInput

logger = logging.getLogger("zhibo.identity")

VERSION = "v1"
NONCE_BYTES = 12


class InvalidIdentityKey(InvalidInput):
    """The configured identity key is not 32 bytes of urlsafe base64."""


class CannotDecrypt(Conflict):
    """A stored value does not decrypt under the configured key (a different key, or the value
    was moved to another row)."""


def new_key() -> str:
    """A fresh key for ``ZHIBO_IDENTITY_KEY``."""
    return base64.urlsafe_b64encode(AESGCM.generate_key(bit_length=256)).decode()


def _decode(text: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip().encode())
    except ValueError as exc:
        raise InvalidIdentityKey("ZHIBO_IDENTITY_KEY: not urlsafe base64") from exc
    if len(key) != 32:
        raise InvalidIdentityKey(f"ZHIBO_IDENTITY_KEY: {len(key)} bytes, 32 required")
    return key


def _development_key(data_dir: Path) -> bytes:
    path = Path(data_dir) / "keys" / "identity.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(new_key() + "\n")
            logger.warning(
                "no ZHIBO_IDENTITY_KEY set: generated a development key at %s "
                "(set a key of your own in production)",
                path,
            )
    return _decode(path.read_text())


class FieldCipher:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)
        #: Names the key a value was written under, so a wrong key fails with a clear error.
        self.key_id = hashlib.sha256(key).hexdigest()[:8]

    def encrypt(self, clear: str, *, context: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, clear.encode(), context.encode())
        payload = base64.urlsafe_b64encode(nonce + sealed).decode()
        return f"{VERSION}.{self.key_id}.{payload}"

    def decrypt(self, token: str, *, context: str) -> str:
        version, _, rest = token.partition(".")
        key_id, _, payload = rest.partition(".")
        if version != VERSION or not payload:
            raise CannotDecrypt("stored value: unknown format")
        if key_id != self.key_id:
            raise CannotDecrypt(f"stored value: written under key {key_id}, not the current key")
        raw = base64.urlsafe_b64decode(payload.encode())
        try:
            clear = self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
        except InvalidTag as exc:
            raise CannotDecrypt("stored value: does not decrypt for this record") from exc
        return clear.decode()


_ciphers: dict[bytes, FieldCipher] = {}


def cipher(settings: Settings | None = None) -> FieldCipher:
    settings = settings or get_settings()
    configured = settings.identity_key
    if configured is not None and configured.get_secret_value().strip():
        key = _decode(configured.get_secret_value())
    else:
        key = _development_key(settings.data_dir)
    if key not in _ciphers:
        _ciphers[key] = FieldCipher(key)
    return _ciphers[key]
