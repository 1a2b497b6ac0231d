"""One GET of an external calendar, guarded: http(s) only, every address of the host public
(no loopback, private or link-local address, nor an IPv6 one that carries such an IPv4
address: SSRF), never https -> http on a redirect, at most MAX_REDIRECTS redirects (each
checked again), one deadline for the whole fetch (a server that trickles bytes cannot stretch
it) and a size limit."""

from __future__ import annotations

import base64
import http.client
import io
import ipaddress
import socket
import ssl
import time as clock
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from foundation.i18n import N_
from scheduling.busy.errors import FetchError

MAX_REDIRECTS = 3
USER_AGENT = "konex-hotline calendar reader"
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # an IPv4 address in the last 32 bits
NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d


@dataclass(frozen=True, slots=True)
class Fetched:
    status: int  # 200 or 304
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class Limits:
    timeout: float
    max_bytes: int
    allow_private: bool = False


def public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """A global unicast address, and so is any IPv4 address an IPv6 one carries (IPv4-mapped,
    IPv4-compatible, 6to4, NAT64: each can reach an internal IPv4 host); never the
    deprecated site-local fec0::/10."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.is_site_local or ip in NAT64_LOCAL:
            return False
        inner = ip.ipv4_mapped or ip.sixtofour
        if inner is None and (ip in NAT64 or ip in IPV4_COMPATIBLE):
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
        if inner is not None and not public(inner):
            return False
    return ip.is_global and not ip.is_multicast


def _addresses(host: str, port: int, allow_private: bool) -> list[str]:
    """The host's addresses, all of which must be public (unless allowed): a name that also
    resolves to an internal address is refused as a whole."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(N_("Den Server dieser Adresse gibt es nicht.")) from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not allow_private:
        for address in addresses:
            if not public(ipaddress.ip_address(address.split("%", 1)[0])):
                raise FetchError(
                    N_("Diese Adresse zeigt auf ein internes Netz; sie wird nicht abgerufen.")
                )
    if not addresses:
        raise FetchError(N_("Den Server dieser Adresse gibt es nicht."))
    return addresses


class _Deadline(io.RawIOBase):
    """Reads from a socket within an overall deadline: every receive may wait only for the
    time left, so a server that trickles bytes cannot stretch a fetch (a plain socket
    timeout starts again with every byte)."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self.sock.settimeout(_left(self.deadline))
        return self.sock.recv_into(buffer)


class _DeadlineSocket:
    """What http.client needs of a socket (sendall, makefile, close), under a deadline."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline

    def sendall(self, data: bytes) -> None:
        self.sock.settimeout(_left(self.deadline))  # sendall: the timeout is for all of it
        self.sock.sendall(data)

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(_Deadline(self.sock, self.deadline))

    def close(self) -> None:
        """Nothing yet: http.client closes its connection as soon as the headers say it will
        end, before the body is read (a real socket waits for its files); `fetch` closes
        the socket itself when done."""


def _left(deadline: float) -> float:
    """The seconds left before `deadline`; TimeoutError once it has passed."""
    left = deadline - clock.monotonic()
    if left <= 0:
        raise TimeoutError("deadline passed")
    return left


def _connect(
    scheme: str, host: str, port: int, addresses: list[str], deadline: float
) -> tuple[http.client.HTTPConnection, socket.socket]:
    """A connection to one of the checked addresses (never a second DNS lookup), with TLS
    verified against the host name for https; every step within `deadline`. The socket is
    the caller's to close."""
    last: OSError | None = None
    for address in addresses:
        try:
            sock = socket.create_connection((address, port), timeout=_left(deadline))
        except OSError as exc:
            last = exc
            continue
        if scheme == "https":
            context = ssl.create_default_context()
            try:
                sock.settimeout(_left(deadline))  # the handshake: the timeout is for all of it
                sock = context.wrap_socket(sock, server_hostname=host)
            except TimeoutError as exc:
                sock.close()
                raise FetchError(N_("Der Kalender hat nicht rechtzeitig geantwortet.")) from exc
            except (ssl.SSLError, OSError) as exc:
                sock.close()
                raise FetchError(
                    N_("Die sichere Verbindung (TLS) zum Kalender ist gescheitert.")
                ) from exc
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(host, port)
        else:
            connection = http.client.HTTPConnection(host, port)
        connection.sock = _DeadlineSocket(sock, deadline)
        return connection, sock
    if isinstance(last, TimeoutError):
        raise FetchError(N_("Der Kalender hat nicht rechtzeitig geantwortet.")) from last
    raise FetchError(N_("Der Kalender ist nicht erreichbar.")) from last


def _read(response: http.client.HTTPResponse, limits: Limits, deadline: float) -> bytes:
    declared = response.getheader("Content-Length")
    if declared and declared.isascii() and declared.isdigit() and int(declared) > limits.max_bytes:
        raise FetchError(_too_big(limits))
    chunks: list[bytes] = []
    size = 0
    while True:
        if clock.monotonic() > deadline:
            raise FetchError(N_("Der Kalender hat nicht rechtzeitig geantwortet."))
        chunk = response.read1(65536)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limits.max_bytes:
            raise FetchError(_too_big(limits))
        chunks.append(chunk)


def _too_big(limits: Limits) -> str:
    return f"Der Kalender ist größer als {limits.max_bytes / 1_000_000:g} MB."


@dataclass
class _Request:
    url: str
    etag: str | None
    last_modified: str | None

    def for_host(self) -> dict[str, str]:
        parts = urlsplit(self.url)
        headers = {
            "User-Agent": USER_AGENT,
            "Accept": "text/calendar, */*;q=0.5",
            "Accept-Encoding": "identity",
        }
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        if parts.username is not None and parts.scheme.lower() == "https":
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        return headers


def fetch(url: str, etag: str | None, last_modified: str | None, limits: Limits) -> Fetched:
    """GET the calendar: http(s) only, checked addresses only, at most MAX_REDIRECTS
    redirects (each checked again), `limits.timeout` in all, `limits.max_bytes` at most."""
    deadline = clock.monotonic() + limits.timeout
    request = _Request(url, etag, last_modified)
    was_secure = False
    for _ in range(MAX_REDIRECTS + 1):
        parts = urlsplit(request.url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise FetchError(N_("Der Kalender leitet auf eine Adresse um, die nicht http(s) ist."))
        if was_secure and scheme == "http":
            raise FetchError(N_("Der Kalender leitet von https auf unverschlüsseltes http um."))
        if scheme == "http" and parts.username is not None:
            raise FetchError(N_("Benutzername und Passwort werden nur über https gesendet."))
        was_secure = scheme == "https"
        port = parts.port or (443 if scheme == "https" else 80)
        addresses = _addresses(parts.hostname, port, limits.allow_private)
        try:
            connection, connection_socket = _connect(
                scheme, parts.hostname, port, addresses, deadline
            )
        except TimeoutError as exc:
            raise FetchError(N_("Der Kalender hat nicht rechtzeitig geantwortet.")) from exc
        try:
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            connection.request("GET", target, headers=request.for_host())
            response = connection.getresponse()
            if response.status in (301, 302, 303, 307, 308):
                location = response.getheader("Location")
                if not location:
                    raise FetchError(N_("Der Kalender leitet um, aber nennt kein Ziel."))
                request = _Request(urljoin(request.url, location), None, None)
                continue
            if response.status == 304:
                return Fetched(304, etag=etag, last_modified=last_modified)
            if response.status != 200:
                raise FetchError(f"Der Kalender antwortet mit dem HTTP-Status {response.status}.")
            body = _read(response, limits, deadline)
            return Fetched(
                200,
                body,
                (response.getheader("ETag") or "")[:200] or None,
                (response.getheader("Last-Modified") or "")[:100] or None,
            )
        except TimeoutError as exc:
            raise FetchError(N_("Der Kalender hat nicht rechtzeitig geantwortet.")) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise FetchError(N_("Die Verbindung zum Kalender brach ab.")) from exc
        finally:
            connection.close()
            connection_socket.close()
    raise FetchError(N_("Der Kalender leitet zu oft weiter."))
