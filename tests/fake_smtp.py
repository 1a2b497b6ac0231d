"""An SMTP server on loopback (aiosmtpd) that records what the service sends, and can refuse a
recipient, ask for a login, insist on STARTTLS, speak TLS from the first byte, or drop the
connection after the message was transmitted (so nobody knows whether it was delivered)."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.helpers import free_port

USER, PASSWORD = "hotline", "smtp-secret"


@dataclass
class FakeSMTP:
    host: str = "127.0.0.1"
    port: int = 0
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    refuse_recipient: str | None = None  # "550 …" to answer RCPT with
    drop_after_data: int = 0  # this many messages: received, then the connection is cut
    logins: int = 0

    def url(self, scheme: str = "smtp", *, user: str | None = None, password: str = "") -> str:
        credentials = f"{user}:{password}@" if user else ""
        return f"{scheme}://{credentials}{self.host}:{self.port}"

    # aiosmtpd handler hooks
    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.refuse_recipient:
            return self.refuse_recipient
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        parsed = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        if self.drop_after_data:
            self.drop_after_data -= 1
            server.transport.close()  # the reply never arrives
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            USER.encode(),
            PASSWORD.encode(),
        )
        if ok:
            self.logins += 1
        return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535


@contextmanager
def running(
    *,
    host: str = "127.0.0.1",
    login: bool = False,
    starttls: ssl.SSLContext | None = None,
    tls: ssl.SSLContext | None = None,
) -> Iterator[FakeSMTP]:
    """`starttls`: offer and require STARTTLS with this context; `tls`: TLS from the start."""
    fake = FakeSMTP(host=host, port=free_port(host))
    options: dict[str, Any] = {}
    if login:
        options |= {"authenticator": fake.authenticate, "auth_require_tls": starttls is not None}
    if starttls is not None:
        options |= {"tls_context": starttls, "require_starttls": True}
    controller = Controller(
        fake,
        hostname=host,
        port=fake.port,
        ssl_context=tls,
        server_hostname="localhost",
        **options,
    )
    controller.start()
    try:
        yield fake
    finally:
        controller.stop()


def certificate(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A self-signed certificate for localhost and 127.0.0.1: the server's context, and the
    file a client trusts it by (`SSL_CERT_FILE`)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file
