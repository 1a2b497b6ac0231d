"""Encryption at rest: AES-256-GCM with a key id, rotation, `hotline rekey`, old Fernet tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import select, update
from starlette.datastructures import Secret

from app import cli
from config.model import HotlineConfig
from config.settings import Settings
from foundation import crypto
from foundation.crypto import Box, DecryptionError
from foundation.db import Database, make_engine, upgrade
from foundation.models import Appointment, AppointmentMode, AuditEntry, Channel, OutboxMessage
from foundation.teams import sync_teams
from scheduling import appointments
from scheduling.appointments import Client, NewAppointment
from tests.conftest import add_counsellor, berlin

KEY_A = "schluessel-a-7f3c9e1d2b4a6f8e0c1d3b5a7e9f2c4d"
KEY_B = "schluessel-b-0a2c4e6f8b1d3f5a7c9e2b4d6f8a1c3e"
PHONE = "+4915123456789"


def test_round_trip_and_format() -> None:
    box = Box(KEY_A)
    sealed = box.seal("Grüße aus Stuttgart")
    assert box.open(sealed) == "Grüße aus Stuttgart"
    assert sealed[:2] == b"v1"
    assert sealed[2:10] == crypto.key_id(KEY_A)
    assert len(sealed) == 2 + 8 + 12 + len("Grüße aus Stuttgart".encode()) + 16
    # A fresh nonce every time: equal plain texts do not give equal sealed values.
    assert box.seal("x") != box.seal("x")
    assert b"Stuttgart" not in sealed


def test_key_id_is_the_start_of_sha256_of_the_derived_key() -> None:
    derived = crypto._derive(KEY_A)
    assert len(derived) == 32  # AES-256
    assert crypto.key_id(KEY_A) == hashlib.sha256(derived).digest()[:8]
    assert crypto.key_id(KEY_A) != crypto.key_id(KEY_B)
    # Any string is a key, even a short one (HKDF stretches it).
    assert Box("x").open(Box("x").seal("ok")) == "ok"


@pytest.mark.parametrize("where", [0, 1, 5, 12, 25, -1])
def test_any_changed_byte_is_detected(where: int) -> None:
    box = Box(KEY_A)
    sealed = bytearray(box.seal("+4915123456789"))
    sealed[where] ^= 0x01
    with pytest.raises(DecryptionError):
        box.open(bytes(sealed))


def test_truncated_values_are_refused() -> None:
    box = Box(KEY_A)
    with pytest.raises(DecryptionError, match="truncated"):
        box.open(box.seal("abc")[:20])


def test_unknown_key_id_is_named_not_tried() -> None:
    sealed = Box(KEY_A).seal("geheim")
    with pytest.raises(DecryptionError, match=crypto.key_id(KEY_A).hex()):
        Box(KEY_B).open(sealed)


def test_first_key_seals_all_keys_open() -> None:
    old = Box(KEY_A).seal("alt")
    both = Box(f"{KEY_B}, {KEY_A}")
    assert both.open(old) == "alt"
    fresh = both.seal("neu")
    assert both.key_of(fresh) == crypto.key_id(KEY_B)
    assert Box(KEY_B).open(fresh) == "neu"
    with pytest.raises(DecryptionError):
        Box(KEY_A).open(fresh)


def test_reseal_only_what_the_current_key_did_not_seal() -> None:
    both = Box(f"{KEY_B},{KEY_A}")
    current = both.seal("x")
    assert both.reseal(current) is None
    moved = both.reseal(Box(KEY_A).seal("y"))
    assert moved is not None
    assert Box(KEY_B).open(moved) == "y"


def _fernet_token(key: str, plain: str) -> bytes:
    """What earlier versions stored: Fernet with the SHA-256 of the key string."""
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest())).encrypt(
        plain.encode()
    )


def test_fernet_tokens_of_earlier_versions_still_open_and_are_resealed() -> None:
    token = _fernet_token(KEY_A, "von früher")
    assert Box(KEY_A).open(token) == "von früher"
    assert Box(f"{KEY_B},{KEY_A}").open(token) == "von früher"
    resealed = Box(KEY_A).reseal(token)  # same key, new format
    assert resealed is not None
    assert resealed.startswith(b"v1")
    assert Box(KEY_A).open(resealed) == "von früher"
    with pytest.raises(DecryptionError):
        Box(KEY_B).open(token)


def test_development_key_without_configuration() -> None:
    assert Box(None).open(Box("").seal("dev")) == "dev"


# --- rotation in the database ---------------------------------------------------------------------


def _settings(config: HotlineConfig, url: str, keys: str) -> Settings:
    return Settings(config=config, database_url=url, encryption_key=Secret(keys))


def _store(database: Database, config: HotlineConfig, settings: Settings) -> tuple[int, int]:
    with database.write() as session:
        person = add_counsellor(session, config, "islamism")
        appointment = appointments.book(
            session,
            settings,
            NewAppointment(
                person.id,
                Client("Fuchs", PHONE, True),
                berlin(2027, 2, 1, 10),
                berlin(2027, 2, 1, 11),
                AppointmentMode.PHONE,
            ),
            actor="tests",
        )
        message = OutboxMessage(
            channel=Channel.SMS,
            purpose="test",
            from_number="+497112794555",
            to_enc=_fernet_token(KEY_A, PHONE),  # a row written by an earlier version
            body_enc=crypto.box(settings).seal("Hallo"),
        )
        session.add(message)
        session.flush()
        return appointment.id, message.id


def _open_all(database: Database, box: Box, ids: tuple[int, int]) -> tuple[str, str, str]:
    with database.read() as session:
        appointment = session.get(Appointment, ids[0])
        message = session.get(OutboxMessage, ids[1])
        assert appointment is not None
        assert message is not None
        assert appointment.client_phone_enc is not None
        return (
            box.open(appointment.client_phone_enc),
            box.open(message.to_enc),
            box.open(message.body_enc),
        )


def test_rotation_with_rekey(database: Database, config: HotlineConfig, db_url: str) -> None:
    """Encrypt with A; configure "B,A": everything still opens; rekey; configure "B": opens."""
    ids = _store(database, config, _settings(config, db_url, KEY_A))
    expected = (PHONE, PHONE, "Hallo")
    assert _open_all(database, Box(f"{KEY_B},{KEY_A}"), ids) == expected
    with pytest.raises(DecryptionError):
        _open_all(database, Box(KEY_B), ids)

    counts = crypto.rekey(database, Box(f"{KEY_B},{KEY_A}"), batch=1)
    assert {c.table for c in counts} == {model.__tablename__ for model, _ in crypto.ENCRYPTED}
    found = {(c.table, c.rows, c.resealed) for c in counts if c.rows}
    assert found == {("outbox_messages", 1, 2), ("appointments", 1, 1)}
    assert _open_all(database, Box(KEY_B), ids) == expected
    # Nothing left to do the second time.
    again = crypto.rekey(database, Box(f"{KEY_B},{KEY_A}"))
    assert sum(c.resealed for c in again) == 0
    with database.read() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "rekey")).all()
    assert [e.after["resealed"]["appointments"] for e in entries if e.after] == [1, 0]
    assert all(e.after and e.after["key_id"] == crypto.key_id(KEY_B).hex() for e in entries)


def test_rekey_stops_at_a_value_no_key_opens(
    database: Database, config: HotlineConfig, db_url: str
) -> None:
    _store(database, config, _settings(config, db_url, KEY_A))
    with pytest.raises(DecryptionError):
        crypto.rekey(database, Box(KEY_B))


def test_rekey_command(
    db_url: str,
    config: HotlineConfig,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    upgrade(db_url)
    database = Database(make_engine(db_url))
    try:
        with database.write() as session:
            sync_teams(session, config)
        ids = _store(database, config, _settings(config, db_url, KEY_A))
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("HOTLINE_DATABASE_URL", db_url)
        monkeypatch.setenv("HOTLINE_ENCRYPTION_KEY", f"{KEY_B},{KEY_A}")
        assert cli.main(["rekey", "--batch-size", "1"]) == 0
        out = capsys.readouterr().out
        assert "outbox_messages: 1 rows, 2 values re-encrypted" in out
        assert "appointments: 1 rows, 1 values re-encrypted" in out
        assert _open_all(database, Box(KEY_B), ids) == (PHONE, PHONE, "Hallo")
        with database.read() as session:
            raw = session.scalars(select(Appointment.client_phone_enc)).one()
        assert raw is not None
        assert PHONE.encode() not in raw

        monkeypatch.setenv("HOTLINE_ENCRYPTION_KEY", KEY_A)  # B is unknown: nothing opens
        assert cli.main(["rekey"]) == 1
        assert "no configured key" in capsys.readouterr().err
    finally:
        database.dispose()


def test_rekey_never_writes_over_a_value_deleted_meanwhile(
    database: Database, config: HotlineConfig, db_url: str
) -> None:
    """The retention sets a number to NULL while rekey reads its batch: rekey waits for it and
    leaves the NULL (it used to write the old number back, re-sealed)."""
    if not db_url.startswith("postgresql"):
        pytest.skip("two writers at once: PostgreSQL (SQLite has one writer)")
    appointment_id, _ = _store(database, config, _settings(config, db_url, KEY_A))
    rekey = threading.Thread(target=crypto.rekey, args=(database, Box(f"{KEY_B},{KEY_A}")))
    with database.write() as retention:
        retention.execute(
            update(Appointment)
            .where(Appointment.id == appointment_id)
            .values(client_phone_enc=None)
        )
        rekey.start()
        rekey.join(1.0)
        assert rekey.is_alive()  # waiting for the row the retention holds
    rekey.join(10)
    assert not rekey.is_alive()
    with database.read() as session:
        appointment = session.get(Appointment, appointment_id)
        assert appointment is not None
        assert appointment.client_phone_enc is None


@hypothesis_settings(max_examples=200, deadline=None, database=None)
@given(
    key=st.sampled_from([KEY_A, KEY_B, "", "ä" * 100]) | st.text(max_size=80),
    messages=st.lists(st.binary(max_size=300), min_size=1, max_size=4),
    digest=st.sampled_from(["sha1", "sha256"]),
)
def test_mac_is_hmacs(key: str, messages: list[bytes], digest: str) -> None:
    """`crypto.mac` keeps the key's part per key: each message under a key, one after the
    other, gets the HMAC it would get alone (a key longer than the block size too)."""
    for message in messages:
        expected = hmac.new(key.encode(), message, digest).digest()
        assert crypto.mac(key, message, digest) == expected
