"""E-mail over SMTP against a real SMTP server on loopback: delivered, refused (not sent), or
lost after the message went out (maybe sent); STARTTLS and SMTPS; the outbox without a server."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import cast

import pytest
from starlette.datastructures import Secret

from config.model import HotlineConfig
from config.settings import Settings, SettingsError
from foundation import outbox
from foundation.db import Database
from foundation.models import Channel
from hotline.providers import mail
from hotline.providers.twilio import MaybeSent, NotSent, Outgoing
from tests import fake_smtp
from tests.fake_smtp import PASSWORD, USER
from tests.helpers import free_port

SID, TOKEN = "AC" + "5" * 32, "mail-test-token"
NO_DB = cast(Database, None)  # the SMTP path never touches the database
TO = "jonas.becker@example.org"
MESSAGE = Outgoing(
    Channel.EMAIL,
    TO,
    "Ihre Rufbereitschaft beginnt morgen um 09:00 Uhr.",
    "shift notice upcoming",
    subject="Rufbereitschaft ab Do 26.11. 09:00",
)


def live(config: HotlineConfig, smtp_url: str | None, **extra: str) -> Settings:
    """Settings outside simulation mode (Twilio credentials set), mailing through `smtp_url`."""
    return Settings(
        config=config,
        twilio_account_sid=SID,
        twilio_auth_token=Secret(TOKEN),
        smtp_url=Secret(smtp_url) if smtp_url else None,
        mail_from="konex hotline <hotline@example.org>",
        **extra,  # type: ignore[arg-type]
    )


def test_an_email_arrives_with_its_subject_and_message_id(config: HotlineConfig) -> None:
    with fake_smtp.running(login=True) as server:
        settings = live(config, server.url(user=USER, password=PASSWORD))
        message_id = mail.send(NO_DB, settings, MESSAGE)
    [email] = server.messages
    assert server.logins == 1
    assert server.envelopes == [("hotline@example.org", [TO])]
    assert email["To"] == TO
    assert email["From"] == "konex hotline <hotline@example.org>"
    assert email["Subject"] == "Rufbereitschaft ab Do 26.11. 09:00"
    assert email["Message-ID"] == message_id
    assert message_id.startswith("<")
    assert message_id.endswith("@example.org>")
    assert email.get_content().strip() == MESSAGE.body  # umlauts and all, whatever the encoding


def test_starttls_is_used_and_the_certificate_checked(
    config: HotlineConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    context, trusted = fake_smtp.certificate(tmp_path)
    with fake_smtp.running(login=True, starttls=context) as server:
        settings = live(config, server.url(user=USER, password=PASSWORD))
        with pytest.raises(NotSent) as untrusted:  # a certificate nobody vouches for
            mail.send(NO_DB, settings, MESSAGE)
        assert untrusted.value.retry
        monkeypatch.setenv("SSL_CERT_FILE", str(trusted))
        mail.send(NO_DB, settings, MESSAGE)
    assert len(server.messages) == 1
    assert server.logins == 1


def test_smtps_speaks_tls_from_the_first_byte(
    config: HotlineConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    context, trusted = fake_smtp.certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(trusted))
    with fake_smtp.running(tls=context) as server:
        mail.send(NO_DB, live(config, server.url("smtps")), MESSAGE)
    assert [m["Subject"] for m in server.messages] == [MESSAGE.subject]


def test_a_remote_server_without_starttls_gets_nothing(config: HotlineConfig) -> None:
    """Plain SMTP is accepted only to a relay on this machine (localhost, 127.0.0.1, ::1);
    127.0.0.2 stands in for a server elsewhere."""
    with fake_smtp.running(host="127.0.0.2") as server, pytest.raises(NotSent) as refused:
        mail.send(NO_DB, live(config, f"smtp://127.0.0.2:{server.port}"), MESSAGE)
    assert not refused.value.retry
    assert server.messages == []


@pytest.mark.parametrize(("answer", "retry"), [("550 no such user", False), ("450 busy", True)])
def test_a_refused_recipient_is_not_sent(config: HotlineConfig, answer: str, retry: bool) -> None:
    with fake_smtp.running() as server:
        server.refuse_recipient = answer
        with pytest.raises(NotSent) as refused:
            mail.send(NO_DB, live(config, server.url()), MESSAGE)
    assert refused.value.retry is retry
    assert server.messages == []


def test_wrong_credentials_are_not_retried(config: HotlineConfig) -> None:
    with fake_smtp.running(login=True) as server, pytest.raises(NotSent) as refused:
        mail.send(NO_DB, live(config, server.url(user=USER, password="wrong")), MESSAGE)
    assert not refused.value.retry
    assert server.messages == []


def test_no_server_listening_is_retried(config: HotlineConfig) -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(NotSent) as refused:
        mail.send(NO_DB, live(config, f"smtp://127.0.0.1:{port}"), MESSAGE)
    assert refused.value.retry


def test_a_connection_lost_after_the_message_went_out_may_have_delivered_it(
    config: HotlineConfig,
) -> None:
    with fake_smtp.running() as server:
        server.drop_after_data = 1
        with pytest.raises(MaybeSent):
            mail.send(NO_DB, live(config, server.url()), MESSAGE)
    assert len(server.messages) == 1  # it did arrive: resending would duplicate it


def test_production_without_a_server_sends_nothing(config: HotlineConfig) -> None:
    settings = live(config, None, mode="production")
    with pytest.raises(NotSent) as refused:
        mail.send(NO_DB, settings, MESSAGE)
    assert not refused.value.retry


def test_without_a_server_in_development_the_email_goes_to_the_outbox(
    database: Database, settings: Settings, config: HotlineConfig
) -> None:
    for development in (settings, live(config, None)):  # simulation, and real Twilio
        sid = mail.send(database, replace(development, database_url=settings.database_url), MESSAGE)
        assert sid.startswith("SIM")
    with database.read() as session:
        stored = outbox.recent(session, settings)
    assert [(m.channel, m.to) for m in stored] == [(Channel.EMAIL, TO), (Channel.EMAIL, TO)]
    assert stored[0].body == f"{MESSAGE.subject}\n\n{MESSAGE.body}"


def test_simulation_mode_never_mails_even_with_a_server(
    database: Database, settings: Settings
) -> None:
    with fake_smtp.running() as server:
        simulated = replace(settings, smtp_url=Secret(server.url()))
        mail.send(database, simulated, MESSAGE)
    assert server.messages == []


def test_logs_never_name_the_address_or_the_words(
    config: HotlineConfig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with fake_smtp.running() as server:
        mail.send(NO_DB, live(config, server.url()), MESSAGE)
        server.refuse_recipient = "550 no such user"
        with pytest.raises(NotSent):
            mail.send(NO_DB, live(config, server.url()), MESSAGE)
    ours = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("mail."))
    assert "shift notice upcoming e-mail sent" in ours  # (mail.log is the fake server's own)
    for secret in (TO, "jonas", MESSAGE.subject, "Rufbereitschaft"):
        assert secret not in ours


def test_the_smtp_url_is_checked_and_kept_secret() -> None:
    url = "smtps://hotline:s%40cret@mail.example.org"
    settings = Settings.from_environ({"HOTLINE_SMTP_URL": url, "HOTLINE_MAIL_FROM": "a@b.de"})
    assert settings.smtp_url is not None
    assert str(settings.smtp_url) == url
    assert "cret" not in repr(settings)
    assert settings.mail_from == "a@b.de"
    server = mail.parse_url(url)
    assert (server.scheme, server.host, server.port) == ("smtps", "mail.example.org", 465)
    assert (server.username, server.password) == ("hotline", "s@cret")
    assert mail.parse_url("smtp://relay.example.org").port == 587
    with pytest.raises(SettingsError, match="HOTLINE_SMTP_URL"):
        Settings.from_environ({"HOTLINE_SMTP_URL": "mail.example.org:25"})
