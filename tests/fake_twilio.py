"""A Twilio-compatible REST server on loopback: records what the service sends (the tests' and
bench/reminders.py's)."""

from __future__ import annotations

import base64
import itertools
import json
import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

# A number as Twilio sets it up when it is bought: its demo URLs, nothing of the service's.
NEW_NUMBER = {
    "voice_url": "https://demo.twilio.com/welcome/voice/",
    "voice_method": "POST",
    "voice_fallback_url": "",
    "voice_fallback_method": "POST",
    "status_callback": "",
    "status_callback_method": "POST",
    "voice_application_sid": "",
    "trunk_sid": None,
    "sms_url": "https://demo.twilio.com/welcome/sms/reply",
    "sms_method": "POST",
    "sms_fallback_url": "",
    "sms_fallback_method": "POST",
    "sms_application_sid": "",
}


class FakeTwilio:
    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: list[dict[str, str]] = []
        self.refused = 0
        self.fail_next = 0
        self.rate_limit_next = 0  # the next POSTs answered 429 (Too Many Requests)
        self._ids = itertools.count(1)
        self.url = ""
        # Recordings (voicemails): their audio by SID; GET .../Recordings/{sid}.mp3 serves it,
        # DELETE .../Recordings/{sid}.json deletes it. With `redirect_media`, the GET answers
        # 302 to a storage URL that, like a pre-signed one, refuses requests with credentials.
        self.recordings: dict[str, bytes] = {}
        self.deleted: list[str] = []
        self.media_requests: list[dict[str, str]] = []
        self.redirect_media = False
        # Calls placed (POST .../Calls.json: To, From, Url, StatusCallback, ...); the next
        # `refuse_calls` are refused with a 400, as Twilio refuses an invalid number.
        self.calls: list[dict[str, str]] = []
        self.refuse_calls = 0
        # DELETE .../Messages/{sid}.json deletes a message it sent or one in `received` (the
        # SIDs of incoming messages, added by a test); any other SID, or a second time, is a 404.
        self.received: set[str] = set()
        self.deleted_messages: list[str] = []
        # DELETE .../Calls/{sid}.json likewise: a call it placed, or one in `received_calls` (the
        # CallSids of incoming calls and of the legs Twilio dialled for them, added by a test).
        self.received_calls: set[str] = set()
        self.deleted_calls: list[str] = []
        # A slower Twilio: each accepted message or call is answered `delay` seconds after it
        # came (and recorded then, as Twilio would have taken it even if the sender is gone by
        # then). `senders`: the address each message or call came from, by its SID.
        self.delay = 0.0
        self.senders: dict[str, str] = {}
        # The account's numbers (IncomingPhoneNumbers) by their PN SID, in Twilio's JSON fields
        # (`add_number`). GET .../IncomingPhoneNumbers.json?PhoneNumber=… lists those whose
        # number contains it (Twilio matches partial numbers), in pages; GET and POST
        # .../IncomingPhoneNumbers/{sid}.json fetch and update one; every update's form is kept.
        self.numbers: dict[str, dict[str, object]] = {}
        self.number_updates: list[dict[str, str]] = []

    def add_number(self, phone_number: str, **fields: object) -> str:
        """A number of the account, set up as Twilio sets up a new one, but for `fields`."""
        sid = f"PN{next(self._ids):032x}"
        self.numbers[sid] = {
            "sid": sid,
            "account_sid": self.account_sid,
            "phone_number": phone_number,
            "friendly_name": phone_number,
            "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/IncomingPhoneNumbers/{sid}.json",
            **NEW_NUMBER,
            **fields,
        }
        return sid

    def log(self) -> set[str]:
        """Every SID still in the account's logs: messages and calls sent or received, and
        recordings, that were not deleted."""
        messages = self.received | {message["Sid"] for message in self.messages}
        calls = self.received_calls | {call["Sid"] for call in self.calls}
        return (
            (messages - set(self.deleted_messages))
            | (calls - set(self.deleted_calls))
            | set(self.recordings)
        )

    def authorized(self, header: str | None) -> bool:
        pair = f"{self.account_sid}:{self.auth_token}".encode()
        return header == "Basic " + base64.b64encode(pair).decode()

    def handler(self, keep_alive: bool = False) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.1 keeps a connection open for the next request, as Twilio's servers do;
            # every answer below says its length, which that needs.
            protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

            def log_message(self, *_args: object) -> None:  # keep test output clean
                return

            def do_POST(self) -> None:
                expected = (
                    "Basic "
                    + base64.b64encode(f"{fake.account_sid}:{fake.auth_token}".encode()).decode()
                )
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length).decode()
                form = dict(parse_qsl(body))
                path = f"/2010-04-01/Accounts/{fake.account_sid}/Messages.json"
                calls = f"/2010-04-01/Accounts/{fake.account_sid}/Calls.json"
                numbers = f"/2010-04-01/Accounts/{fake.account_sid}/IncomingPhoneNumbers"
                if self.headers.get("Authorization") != expected:
                    fake.refused += 1
                    self._answer(401, {"code": 20003, "message": "Authenticate", "status": 401})
                elif self.path.startswith(f"{numbers}/"):
                    # An empty value clears a setting (VoiceApplicationSid=): kept.
                    blanks = dict(parse_qsl(body, keep_blank_values=True))
                    self._update_number(self.path.removeprefix(f"{numbers}/"), blanks)
                elif self.path not in (path, calls):
                    self._answer(404, {"code": 20404, "message": "Not found", "status": 404})
                elif fake.fail_next:
                    fake.fail_next -= 1
                    self._answer(500, {"code": 20500, "message": "Internal", "status": 500})
                elif fake.rate_limit_next:
                    fake.rate_limit_next -= 1
                    self._answer(429, {"code": 20429, "message": "Too many", "status": 429})
                elif self.path == calls and fake.refuse_calls:
                    fake.refuse_calls -= 1
                    self._answer(400, {"code": 21211, "message": "Invalid 'To'", "status": 400})
                else:
                    if fake.delay:
                        time.sleep(fake.delay)
                    placed = self.path == calls
                    sid = f"{'CA' if placed else 'SM'}{next(fake._ids):032x}"
                    fake.senders[sid] = self.client_address[0]
                    (fake.calls if placed else fake.messages).append(form | {"Sid": sid})
                    self._answer(
                        201,
                        {
                            "sid": sid,
                            "account_sid": fake.account_sid,
                            "to": form.get("To"),
                            "from": form.get("From"),
                            "body": None if placed else form.get("Body"),
                            "status": "queued",
                        },
                    )

            def do_GET(self) -> None:
                prefix = f"/2010-04-01/Accounts/{fake.account_sid}/Recordings/"
                numbers = f"/2010-04-01/Accounts/{fake.account_sid}/IncomingPhoneNumbers"
                fake.media_requests.append(
                    {
                        "path": self.path,
                        "authorization": self.headers.get("Authorization", ""),
                        "range": self.headers.get("Range", ""),
                    }
                )
                if self.path.startswith("/storage/") and self.path.endswith(".mp3"):
                    if self.headers.get("Authorization"):
                        self._answer(400, {"message": "only one auth mechanism allowed"})
                    else:
                        self._media(self.path.removeprefix("/storage/").removesuffix(".mp3"))
                elif not fake.authorized(self.headers.get("Authorization")):
                    fake.refused += 1
                    self._answer(401, {"code": 20003, "message": "Authenticate", "status": 401})
                elif self.path.startswith(f"{numbers}.json"):
                    self._list_numbers(numbers)
                elif self.path.startswith(f"{numbers}/"):
                    number = fake.numbers.get(self.path.removeprefix(f"{numbers}/")[:-5])
                    if number is None:
                        self._answer(404, {"code": 20404, "message": "Not found", "status": 404})
                    else:
                        self._answer(200, number)
                elif self.path.startswith(prefix) and self.path.endswith(".mp3"):
                    sid = self.path.removeprefix(prefix).removesuffix(".mp3")
                    if fake.redirect_media:
                        self.send_response(302)
                        self.send_header("Location", f"{fake.url}/storage/{sid}.mp3")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                    else:
                        self._media(sid)
                else:
                    self._answer(404, {"code": 20404, "message": "Not found", "status": 404})

            def do_DELETE(self) -> None:
                messages = f"/2010-04-01/Accounts/{fake.account_sid}/Messages/"
                if self.path.startswith(messages):
                    self._delete_message(self.path.removeprefix(messages).removesuffix(".json"))
                    return
                calls = f"/2010-04-01/Accounts/{fake.account_sid}/Calls/"
                if self.path.startswith(calls):
                    self._delete_call(self.path.removeprefix(calls).removesuffix(".json"))
                    return
                prefix = f"/2010-04-01/Accounts/{fake.account_sid}/Recordings/"
                sid = self.path.removeprefix(prefix).removesuffix(".json")
                if not fake.authorized(self.headers.get("Authorization")):
                    fake.refused += 1
                    self._answer(401, {"code": 20003, "message": "Authenticate", "status": 401})
                elif not self.path.startswith(prefix) or sid not in fake.recordings:
                    self._answer(404, {"code": 20404, "message": "Not found", "status": 404})
                elif fake.fail_next:
                    fake.fail_next -= 1
                    self._answer(500, {"code": 20500, "message": "Internal", "status": 500})
                else:
                    del fake.recordings[sid]
                    fake.deleted.append(sid)
                    self.send_response(204)
                    self.end_headers()

            def _delete_message(self, sid: str) -> None:
                held = fake.received | {message["Sid"] for message in fake.messages}
                if not fake.authorized(self.headers.get("Authorization")):
                    fake.refused += 1
                    self._answer(401, {"code": 20003, "message": "Authenticate", "status": 401})
                elif sid not in held or sid in fake.deleted_messages:
                    self._answer(404, {"code": 20404, "message": "Not found", "status": 404})
                elif fake.fail_next:
                    fake.fail_next -= 1
                    self._answer(500, {"code": 20500, "message": "Internal", "status": 500})
                else:
                    fake.deleted_messages.append(sid)
                    self.send_response(204)
                    self.end_headers()

            def _delete_call(self, sid: str) -> None:
                held = fake.received_calls | {call["Sid"] for call in fake.calls}
                if not fake.authorized(self.headers.get("Authorization")):
                    fake.refused += 1
                    self._answer(401, {"code": 20003, "message": "Authenticate", "status": 401})
                elif sid not in held or sid in fake.deleted_calls:
                    self._answer(404, {"code": 20404, "message": "Not found", "status": 404})
                elif fake.fail_next:
                    fake.fail_next -= 1
                    self._answer(500, {"code": 20500, "message": "Internal", "status": 500})
                else:
                    fake.deleted_calls.append(sid)
                    self.send_response(204)
                    self.end_headers()

            def _list_numbers(self, numbers: str) -> None:
                query = dict(parse_qsl(urlsplit(self.path).query))
                wanted = query.get("PhoneNumber", "")
                size, page = int(query.get("PageSize", "50")), int(query.get("Page", "0"))
                matching = [n for n in fake.numbers.values() if wanted in str(n["phone_number"])]
                start = page * size
                records = matching[start : start + size]

                def uri(to: int) -> str:
                    return f"{numbers}.json?" + urlencode(query | {"Page": to, "PageSize": size})

                more = start + size < len(matching)
                self._answer(
                    200,
                    {
                        "incoming_phone_numbers": records,
                        "start": start,
                        "end": start + max(len(records) - 1, 0),
                        "page": page,
                        "page_size": size,
                        "uri": uri(page),
                        "first_page_uri": uri(0),
                        "previous_page_uri": uri(page - 1) if page else None,
                        "next_page_uri": uri(page + 1) if more else None,
                    },
                )

            def _update_number(self, resource: str, form: dict[str, str]) -> None:
                number = fake.numbers.get(resource.removesuffix(".json"))
                if number is None or not resource.endswith(".json"):
                    self._answer(404, {"code": 20404, "message": "Not found", "status": 404})
                    return
                fake.number_updates.append(form | {"Sid": str(number["sid"])})
                for name, value in form.items():  # VoiceFallbackUrl -> voice_fallback_url
                    field = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
                    if field in NEW_NUMBER:
                        number[field] = value
                self._answer(200, number)

            def _media(self, sid: str) -> None:
                data = fake.recordings.get(sid)
                if data is None:
                    self._answer(404, {"code": 20404, "message": "Not found", "status": 404})
                    return
                status, headers = 200, {"Accept-Ranges": "bytes"}
                wanted = self.headers.get("Range", "")
                if wanted.startswith("bytes=") and "-" in wanted:
                    first, _, last = wanted.removeprefix("bytes=").partition("-")
                    start, end = int(first or 0), int(last) if last else len(data) - 1
                    headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
                    data, status = data[start : end + 1], 206
                self.send_response(status)
                self.send_header("Content-Type", "audio/mpeg")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def _answer(self, status: int, body: dict[str, object]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


class _Server(ThreadingHTTPServer):
    # Schedulers send from many threads at once. With the default listen backlog of 5, a busy
    # machine overflows the accept queue and a connection dies after the request went out: the
    # sender then rightly reports "may have been sent", which Twilio's servers never provoke.
    request_queue_size = 1024
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # A sender that died mid-request (tests/test_failover.py kills one) resets its
        # connection: that is the test's point, not a traceback worth printing.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


@contextmanager
def running(
    account_sid: str, auth_token: str, *, keep_alive: bool = False, host: str = "127.0.0.1"
) -> Iterator[FakeTwilio]:
    """The fake, serving on a free port of `host` (default loopback; a test network's address
    for tests/topology.py) at `fake.url` until the block ends; `keep_alive` answers in HTTP/1.1
    with persistent connections (a benchmark's load), else one request per connection."""
    fake = FakeTwilio(account_sid, auth_token)
    server = _Server((host, 0), fake.handler(keep_alive))
    fake.url = f"http://{host}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
