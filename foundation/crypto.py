"""Encryption at rest, key rotation and keyed hashes.

Sealed values are AES-256-GCM, in a binary format that names its key:

    b"v1" | key id (8 bytes) | nonce (12 bytes) | ciphertext with the 16-byte GCM tag

The key id is the first 8 bytes of the SHA-256 of the key, so a value says which key opens it
and nothing is ever decrypted by trial. The version and key id are authenticated as associated
data: changing any byte of a sealed value makes `open` fail.

`HOTLINE_ENCRYPTION_KEY` holds one or more comma-separated keys: the first seals, all open. Any
string works as a key (HKDF-SHA256 derives the 256-bit AES key from it); use a long random one
(`python -c "import secrets; print(secrets.token_urlsafe(32))"`). To rotate: put the new key
first ("new,old"), run `hotline rekey` (re-seals every stored value with the new key), then drop
the old one. Values written by earlier versions (Fernet tokens) still open with the same keys,
and `hotline rekey` converts them. Without a key (development only; production refuses to
start) a fixed development key is used.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import inspect, select

from config.settings import Settings
from foundation import audit
from foundation.db import Database
from foundation.models import (
    Appointment,
    Base,
    CallbackRequest,
    Client,
    Conversation,
    ConversationMessage,
    ExternalCalendar,
    OutboxMessage,
    PlanNote,
    PlanStep,
    SecondFactor,
    Voicemail,
)

_DEVELOPMENT_KEY = "konex-development-encryption-key"
_DEVELOPMENT_SECRET = "konex-development-secret-key"  # noqa: S105 - development only

VERSION = b"v1"
KEY_ID_BYTES = 8
NONCE_BYTES = 12
TAG_BYTES = 16
_HEADER = len(VERSION) + KEY_ID_BYTES
_HKDF_INFO = b"konex-hotline encryption at rest v1"


class DecryptionError(Exception):
    """Stored data cannot be decrypted with any configured key."""


@dataclass(frozen=True, slots=True)
class _Key:
    id: bytes
    aead: AESGCM


def _derive(secret: str) -> bytes:
    """A 256-bit AES key from any string. (No salt: the same string must give the same key in
    every process; the strings are meant to be long random secrets, not passwords.)"""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
        secret.encode()
    )


def key_id(secret: str) -> bytes:
    """The 8-byte id a sealed value carries: the first bytes of SHA-256 of the derived key."""
    return hashlib.sha256(_derive(secret)).digest()[:KEY_ID_BYTES]


def _legacy_fernet(secret: str) -> Fernet:
    """The key earlier versions sealed with (SHA-256 of the string as a Fernet key)."""
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()))


def _secrets(keys: str | None) -> list[str]:
    parts = [part.strip() for part in (keys or "").split(",") if part.strip()]
    return parts or [_DEVELOPMENT_KEY]


class Box:
    """Seals and opens values with the configured keys: the first seals, all open."""

    def __init__(self, keys: str | None) -> None:
        secrets = _secrets(keys)
        self._keys: dict[bytes, _Key] = {}
        for secret in reversed(secrets):  # the first last: it is the current one
            derived = _derive(secret)
            ident = hashlib.sha256(derived).digest()[:KEY_ID_BYTES]
            self._current = self._keys.setdefault(ident, _Key(ident, AESGCM(derived)))
        self._legacy = MultiFernet([_legacy_fernet(secret) for secret in secrets])

    @property
    def current_key_id(self) -> bytes:
        return self._current.id

    def seal(self, plain: str) -> bytes:
        header = VERSION + self._current.id
        nonce = os.urandom(NONCE_BYTES)
        return header + nonce + self._current.aead.encrypt(nonce, plain.encode(), header)

    def open(self, sealed: bytes) -> str:
        sealed = bytes(sealed)
        if not sealed.startswith(VERSION):
            return self._open_legacy(sealed)
        if len(sealed) < _HEADER + NONCE_BYTES + TAG_BYTES:
            raise DecryptionError("cannot decrypt: the value is truncated")
        header, ident = sealed[:_HEADER], sealed[len(VERSION) : _HEADER]
        key = self._keys.get(ident)
        if key is None:
            raise DecryptionError(
                f"cannot decrypt: no configured key has id {ident.hex()} "
                "(HOTLINE_ENCRYPTION_KEY lacks the key this value was sealed with)"
            )
        nonce, body = sealed[_HEADER : _HEADER + NONCE_BYTES], sealed[_HEADER + NONCE_BYTES :]
        try:
            return key.aead.decrypt(nonce, body, header).decode()
        except InvalidTag as exc:
            raise DecryptionError("cannot decrypt: the value was altered or is damaged") from exc

    def _open_legacy(self, sealed: bytes) -> str:
        """Fernet tokens of earlier versions (they start with b"gAAAAA", never with b"v1")."""
        try:
            return self._legacy.decrypt(sealed).decode()
        except InvalidToken as exc:
            raise DecryptionError(
                "cannot decrypt: wrong or missing HOTLINE_ENCRYPTION_KEY"
            ) from exc

    def key_of(self, sealed: bytes) -> bytes | None:
        """The key id a value was sealed with (None for a legacy Fernet token)."""
        sealed = bytes(sealed)
        return sealed[len(VERSION) : _HEADER] if sealed.startswith(VERSION) else None

    def reseal(self, sealed: bytes) -> bytes | None:
        """The value sealed with the current key, or None if it already is: what `hotline
        rekey` writes back so that an old key can be dropped."""
        if self.key_of(sealed) == self._current.id:
            return None
        return self.seal(self.open(sealed))


def box(settings: Settings) -> Box:
    """The box for the configured keys, built once per key set (a Box is immutable; building
    one derives every key)."""
    return _box(str(settings.encryption_key) if settings.encryption_key else None)


@functools.lru_cache(maxsize=8)
def _box(keys: str | None) -> Box:
    return Box(keys)


def keyed_hash(settings: Settings, purpose: str, value: str) -> str:
    """HMAC-SHA256 of `value`, separated by `purpose`: lets equal values be recognised (a repeat
    caller) without storing them."""
    key = str(settings.secret_key) if settings.secret_key else _DEVELOPMENT_SECRET
    return mac(key, f"{purpose}\x00{value}".encode(), "sha256").hex()


def mac(key: str, message: bytes, digest: str) -> bytes:
    """`hmac.new(key.encode(), message, digest).digest()` ("sha1", "sha256"), the key's part
    worked out once per key: every incoming call computes two (its signature, its caller's
    hash), and that part is half the work of a short message."""
    keyed = _keyed(key, digest).copy()
    keyed.update(message)
    return keyed.digest()


@functools.lru_cache(maxsize=16)
def _keyed(key: str, digest: str) -> hmac.HMAC:
    return hmac.new(key.encode(), digestmod=digest)


def same(sent: str, expected: str) -> bool:
    """Constant-time equality of a token, signature or key someone sent with the one expected.
    `hmac.compare_digest` raises on a str with non-ASCII characters (a 500 for anyone who types
    an umlaut into a token); compared as bytes, such a token is just wrong."""
    return hmac.compare_digest(
        sent.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


# --- rotation -----------------------------------------------------------------------------------

# Every encrypted column there is: (model, column names). A new `*_enc` column belongs here.
ENCRYPTED: tuple[tuple[type[Base], tuple[str, ...]], ...] = (
    (OutboxMessage, ("to_enc", "body_enc")),
    (Appointment, ("client_phone_enc",)),
    (CallbackRequest, ("name_enc", "phone_enc", "message_enc")),
    (ExternalCalendar, ("url_enc",)),
    (Conversation, ("client_enc",)),
    (ConversationMessage, ("body_enc",)),
    (Voicemail, ("caller_phone_enc",)),
    (SecondFactor, ("secret_enc",)),
    (Client, ("phone_enc",)),
    (PlanStep, ("title_enc", "notes_enc")),
    (PlanNote, ("text_enc",)),
)
REKEY_BATCH = 500


@dataclass
class RekeyCount:
    table: str
    rows: int = 0  # rows looked at
    resealed: int = 0  # values sealed again with the current key


def rekey(
    db: Database, sealer: Box, *, batch: int = REKEY_BATCH, actor: str = "cli"
) -> list[RekeyCount]:
    """Seal every stored value with the current (first) key, in batches of `batch` rows, each
    batch its own short transaction (a running service keeps working meanwhile). Idempotent:
    values already sealed with the current key are left alone. Raises DecryptionError (after
    the batches before it were saved) if a value opens with none of the keys."""
    counts = []
    for model, columns in ENCRYPTED:
        count = RekeyCount(model.__tablename__)
        last = 0
        key = inspect(model).primary_key[0]
        attribute = str(key.key)
        while True:
            with db.write() as session:
                # Locked: a value another transaction changes meanwhile (the retention setting
                # it to NULL) is read as committed, never overwritten with its old contents.
                query = select(model).where(key > last).order_by(key).limit(batch)
                rows = list(session.scalars(query.with_for_update()))
                for row in rows:
                    for column in columns:
                        value = getattr(row, column)
                        fresh = sealer.reseal(value) if value is not None else None
                        if fresh is not None:
                            setattr(row, column, fresh)
                            count.resealed += 1
            count.rows += len(rows)
            if len(rows) < batch:
                break
            last = getattr(rows[-1], attribute)
        counts.append(count)
    with db.write() as session:
        audit.record(
            session,
            actor,
            "rekey",
            "encryption",
            None,
            after={
                "key_id": sealer.current_key_id.hex(),
                "resealed": {count.table: count.resealed for count in counts},
            },
        )
    return counts
