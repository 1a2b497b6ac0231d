"""Encryption at rest and keyed hashes.

`HOTLINE_ENCRYPTION_KEY` may hold several comma-separated keys: the first encrypts, all decrypt,
so keys can be rotated. Any string works as a key (it is stretched with SHA-256 into a Fernet
key); use a long random one (`python -c "import secrets; print(secrets.token_urlsafe(32))"`).
Without a key (development only; production refuses to start) a fixed development key is used.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from config.settings import Settings

_DEVELOPMENT_KEY = "konex-development-encryption-key"
_DEVELOPMENT_SECRET = "konex-development-secret-key"  # noqa: S105 - development only


class DecryptionError(Exception):
    """Stored data cannot be decrypted with any configured key."""


def _fernet(key: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()))


class Box:
    def __init__(self, keys: str | None) -> None:
        parts = [part.strip() for part in (keys or _DEVELOPMENT_KEY).split(",") if part.strip()]
        self._fernet = MultiFernet([_fernet(part) for part in parts])

    def seal(self, plain: str) -> bytes:
        return self._fernet.encrypt(plain.encode())

    def open(self, sealed: bytes) -> str:
        try:
            return self._fernet.decrypt(sealed).decode()
        except InvalidToken as exc:
            raise DecryptionError(
                "cannot decrypt: wrong or missing HOTLINE_ENCRYPTION_KEY"
            ) from exc


def box(settings: Settings) -> Box:
    return Box(str(settings.encryption_key) if settings.encryption_key else None)


def keyed_hash(settings: Settings, purpose: str, value: str) -> str:
    """HMAC-SHA256 of `value`, separated by `purpose`: lets equal values be recognised (a repeat
    caller) without storing them."""
    key = str(settings.secret_key) if settings.secret_key else _DEVELOPMENT_SECRET
    message = f"{purpose}\x00{value}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()
