"""E-mail over SMTP, with every failure sorted as `foundation.outgoing` needs it: "certainly not
sent" (`NotSent`) or "may have been sent" (`MaybeSent`), so the scheduler never sends one twice.

`HOTLINE_SMTP_URL` names the server: `smtp://user:password@host:587` speaks STARTTLS (required,
except to a relay on the same machine: localhost, 127.0.0.1, ::1), `smtps://user:password@host:465`
TLS from the first byte. In simulation mode, and in development without an SMTP URL, an e-mail
goes to the outbox instead (subject in the body's first line) and shows in the web page.

Logs name an e-mail by purpose only: never the address, the subject or the body.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from urllib.parse import unquote, urlsplit

from config.settings import Settings
from foundation.clock import utcnow
from foundation.db import Database
from foundation.outgoing import MaybeSent, NotSent, Outgoing
from hotline.providers.simulated import Simulated

log = logging.getLogger(__name__)
TIMEOUT = 10  # seconds, per connection step
PORTS = {"smtp": 587, "smtps": 465}
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True, slots=True)
class Server:
    scheme: str  # smtp (STARTTLS) or smtps (TLS)
    host: str
    port: int
    username: str | None
    password: str | None

    @property
    def local(self) -> bool:
        return self.host in LOOPBACK


def parse_url(url: str) -> Server:
    """smtp://user:password@host:port or smtps://…; user and password percent-encoded."""
    parts = urlsplit(url)
    if parts.scheme not in PORTS or not parts.hostname:
        raise ValueError("must look like smtp://user:password@host:587 or smtps://…@host:465")
    return Server(
        scheme=parts.scheme,
        host=parts.hostname,
        port=parts.port or PORTS[parts.scheme],
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def sender_address(settings: Settings) -> str:
    """HOTLINE_MAIL_FROM, else hotline@ the host of the public URL."""
    if settings.mail_from:
        return settings.mail_from
    host = urlsplit(settings.public_url).hostname or "localhost"
    return f"konex hotline <hotline@{host}>"


def send(db: Database, settings: Settings, message: Outgoing) -> str:
    """Send one e-mail; return its Message-ID. Raises NotSent or MaybeSent."""
    if settings.simulation or (settings.smtp_url is None and not settings.production):
        return Simulated(db, settings).send(message)  # to the outbox
    if settings.smtp_url is None:
        raise NotSent("no SMTP server configured (HOTLINE_SMTP_URL)", retry=False)
    try:
        server = parse_url(str(settings.smtp_url))
    except ValueError as exc:
        raise NotSent("HOTLINE_SMTP_URL is not usable", retry=False) from exc
    email = compose(settings, message)
    _deliver(server, email)
    log.info("%s e-mail sent", message.purpose)
    return str(email["Message-ID"])


def compose(settings: Settings, message: Outgoing) -> EmailMessage:
    sender = sender_address(settings)
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.to
    email["Subject"] = message.subject
    email["Date"] = format_datetime(utcnow())
    email["Message-ID"] = make_msgid(domain=domain)
    email.set_content(message.body)
    return email


def _deliver(server: Server, email: EmailMessage) -> None:
    """Connect, authenticate, name sender and recipient, then send the message. Until the
    message itself goes out nothing can have been delivered; after that, a lost connection
    may hide a delivered message."""
    try:
        smtp = _connect(server)
    except smtplib.SMTPNotSupportedError as exc:
        raise NotSent("the SMTP server offers no STARTTLS", retry=False) from exc
    except (OSError, smtplib.SMTPException) as exc:  # refused, DNS, timeout, TLS handshake
        raise NotSent(f"cannot reach the SMTP server ({type(exc).__name__})", retry=True) from exc
    try:
        _envelope(smtp, server, parseaddr(str(email["From"]))[1], str(email["To"]))
        try:
            code, _ = smtp.data(email.as_bytes(policy=policy.SMTP))
        except smtplib.SMTPDataError as exc:  # DATA itself refused: the message never went
            raise NotSent(
                f"SMTP refused DATA ({exc.smtp_code})", retry=_temporary(exc.smtp_code)
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise MaybeSent(f"SMTP connection lost during DATA ({type(exc).__name__})") from exc
        if code != 250:  # the server answered: it did not take the message
            raise NotSent(f"SMTP refused the message ({code})", retry=_temporary(code))
    finally:
        _close(smtp)


def _connect(server: Server) -> smtplib.SMTP:
    context = ssl.create_default_context()
    if server.scheme == "smtps":
        return smtplib.SMTP_SSL(server.host, server.port, timeout=TIMEOUT, context=context)
    smtp = smtplib.SMTP(server.host, server.port, timeout=TIMEOUT)
    try:
        smtp.ehlo()
        if smtp.has_extn("starttls"):
            smtp.starttls(context=context)
            smtp.ehlo()
        elif not server.local:
            raise smtplib.SMTPNotSupportedError("the server offers no STARTTLS")
    except BaseException:
        _close(smtp)
        raise
    return smtp


def _envelope(smtp: smtplib.SMTP, server: Server, sender: str, recipient: str) -> None:
    """AUTH, MAIL FROM, RCPT TO: every failure here means nothing was sent."""
    try:
        smtp.ehlo_or_helo_if_needed()
        if server.username:
            smtp.login(server.username, server.password or "")
        code, _ = smtp.mail(sender)
        if code != 250:
            raise NotSent(f"SMTP refused the sender ({code})", retry=_temporary(code))
        code, _ = smtp.rcpt(recipient)
        if code not in (250, 251):
            raise NotSent(f"SMTP refused the recipient ({code})", retry=_temporary(code))
    except smtplib.SMTPAuthenticationError as exc:
        raise NotSent(f"SMTP refused the credentials ({exc.smtp_code})", retry=False) from exc
    except smtplib.SMTPNotSupportedError as exc:
        raise NotSent("the SMTP server does not support AUTH", retry=False) from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise NotSent(f"SMTP failed before sending ({type(exc).__name__})", retry=True) from exc


def _temporary(code: int) -> bool:
    """4xx: try again later; 5xx: the server will not take it."""
    return 400 <= code < 500


def _close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()
