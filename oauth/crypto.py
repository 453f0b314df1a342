"""Encryption of tokens at rest: Fernet, with key rotation through ``MultiFernet``.

Keys come from ``TOKEN_ENCRYPTION_KEYS`` (comma-separated Fernet keys, the first one
encrypts) or, when that is empty, are derived from ``SECRET_KEY`` and each of
``SECRET_KEY_FALLBACKS``. Every write encrypts with the first key, so records written
under a retired key are re-encrypted the next time they are stored.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_HKDF_INFO = b"flow-switch token store v1"
#: records whose plaintext a process keeps: every request reads a portal record and a user's
#: pair, and each decryption (an HMAC and AES) cost about a tenth of a switch's own time
DECRYPTED_KEPT = 1024


class UndecryptableRecord(Exception):
    """No configured key opens this record (keys rotated away or data corrupted)."""


def derive_key(secret: str) -> bytes:
    """A Fernet key derived from an application secret (HKDF-SHA256)."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(secret.encode())
    return base64.urlsafe_b64encode(raw)


class TokenCipher:
    """Encrypts with the first key, decrypts with any of them.

    A ciphertext decrypted once is not decrypted again while it is among the last
    ``DECRYPTED_KEPT``: a record that changes gets a new ciphertext (a fresh IV every
    write), so the kept plaintext is always the record's own. The process holds the keys
    anyway; what it keeps adds no reach to a reader of its memory.
    """

    def __init__(self, keys: Iterable[bytes | str]) -> None:
        fernets = [Fernet(key) for key in keys]
        if not fernets:
            raise ValueError("TokenCipher needs at least one key")
        self._fernet = MultiFernet(fernets)
        # A failure raises, so lru_cache never keeps it: a key added later is tried next time.
        self._decrypt = functools.lru_cache(maxsize=DECRYPTED_KEPT)(self._fernet.decrypt)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TokenCipher:
        if config.get("TOKEN_ENCRYPTION_KEYS"):
            return cls(config["TOKEN_ENCRYPTION_KEYS"])
        secrets = [config["SECRET_KEY"], *config.get("SECRET_KEY_FALLBACKS", [])]
        return cls(derive_key(secret) for secret in secrets if secret)

    def encrypt(self, plaintext: bytes) -> str:
        return self._fernet.encrypt(plaintext).decode("ascii")

    def decrypt(self, ciphertext: str) -> bytes:
        try:
            return self._decrypt(ciphertext.encode("ascii"))
        except InvalidToken:
            raise UndecryptableRecord("no configured key decrypts this record") from None
