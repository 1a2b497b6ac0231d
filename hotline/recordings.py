"""Voicemail recordings at Twilio: stream one to a signed-in counsellor, delete one when done.

The audio never rests on our disks: the service fetches it from Twilio's REST API for each
listen (basic auth with the account credentials, `HOTLINE_TWILIO_API_URL` honoured) and passes
the bytes through. In simulation mode there is no recording at Twilio; a second of silence
stands in so the player can be tried.
"""

from __future__ import annotations

import base64
import io
import logging
import re
import struct
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from config.settings import Settings
from hotline.providers import twilio

log = logging.getLogger(__name__)
TWILIO_API = "https://api.twilio.com"
SID = re.compile(r"^RE[0-9a-fA-F]{32}$")
CHUNK = 64 * 1024
TIMEOUT = 10  # seconds, as for messages
# Passed through from Twilio's answer; anything else stays behind.
FORWARDED = ("content-type", "content-length", "content-range", "accept-ranges")


class RecordingGone(Exception):
    """Twilio has no such recording (deleted, or never there)."""


class RecordingUnavailable(Exception):
    """Twilio could not be asked (unreachable, refused, an error): try again later."""


@dataclass(frozen=True, slots=True)
class Media:
    """An open answer from Twilio: status (200, or 206 for a range), headers, the bytes."""

    status: int
    headers: dict[str, str]
    chunks: Iterator[bytes]


def valid_sid(recording_sid: str) -> bool:
    """Only a Twilio recording SID goes into a URL path (the value came from a webhook)."""
    return bool(SID.match(recording_sid))


def media_url(settings: Settings, recording_sid: str) -> str:
    base = (settings.twilio_api_url or TWILIO_API).rstrip("/")
    return (
        f"{base}/2010-04-01/Accounts/{settings.twilio_account_sid}/Recordings/{recording_sid}.mp3"
    )


def _basic_auth(settings: Settings) -> str:
    pair = f"{settings.twilio_account_sid}:{settings.twilio_auth_token}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def _chunks(answer: BinaryIO) -> Iterator[bytes]:
    """The body in pieces, closed at the end (or when the listener goes away)."""
    try:
        while chunk := answer.read(CHUNK):
            yield chunk
    finally:
        answer.close()


def open_media(settings: Settings, recording_sid: str, byte_range: str | None = None) -> Media:
    """Ask Twilio for the MP3 of a recording. A `Range` from the browser is passed on, so the
    player can seek. The credentials go to Twilio only: if Twilio redirects to its storage,
    the Authorization header is not repeated there (an "unredirected" header)."""
    if not valid_sid(recording_sid):
        raise RecordingGone
    url = media_url(settings, recording_sid)
    if not url.startswith(("https://", "http://")):
        raise RecordingUnavailable
    request = urllib.request.Request(url, method="GET")  # noqa: S310 - http(s) checked above
    request.add_unredirected_header("Authorization", _basic_auth(settings))
    if byte_range and len(byte_range) < 100:
        request.add_header("Range", byte_range)
    try:
        answer = urllib.request.urlopen(request, timeout=TIMEOUT)  # noqa: S310
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 404:
            raise RecordingGone from None
        log.warning("recording not fetched: Twilio answered %d", exc.code)
        raise RecordingUnavailable from None
    except OSError as exc:
        log.warning("recording not fetched: %s", type(exc).__name__)
        raise RecordingUnavailable from None
    headers = {name: answer.headers[name] for name in FORWARDED if answer.headers.get(name)}
    if not headers.get("content-type", "").startswith("audio/"):
        headers["content-type"] = "audio/mpeg"
    return Media(answer.status, headers, _chunks(answer))


def delete(settings: Settings, recording_sid: str) -> None:
    """Delete a recording at Twilio. One that is already gone counts as deleted."""
    if not valid_sid(recording_sid):
        return
    if not twilio.delete(settings, "recording", lambda client: client.recordings(recording_sid)):
        raise RecordingUnavailable


def silence(seconds: float = 1.0, rate: int = 8000) -> bytes:
    """A mono 8-bit WAV of silence: the stand-in recording of simulation mode."""
    frames = int(seconds * rate)
    data = b"\x80" * frames  # 8-bit PCM is unsigned: 128 is the zero line
    header = io.BytesIO()
    header.write(b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE")
    header.write(b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate, 1, 8))
    header.write(b"data" + struct.pack("<I", len(data)))
    return header.getvalue() + data
