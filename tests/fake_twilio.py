"""A Twilio-compatible REST server on loopback: records what the service sends."""

from __future__ import annotations

import base64
import itertools
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl


class FakeTwilio:
    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: list[dict[str, str]] = []
        self.refused = 0
        self.fail_next = 0
        self._ids = itertools.count(1)
        self.url = ""

    def handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:  # keep test output clean
                return

            def do_POST(self) -> None:
                expected = (
                    "Basic "
                    + base64.b64encode(f"{fake.account_sid}:{fake.auth_token}".encode()).decode()
                )
                length = int(self.headers.get("Content-Length", "0"))
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                path = f"/2010-04-01/Accounts/{fake.account_sid}/Messages.json"
                if self.headers.get("Authorization") != expected:
                    fake.refused += 1
                    self._answer(401, {"code": 20003, "message": "Authenticate", "status": 401})
                elif self.path != path:
                    self._answer(404, {"code": 20404, "message": "Not found", "status": 404})
                elif fake.fail_next:
                    fake.fail_next -= 1
                    self._answer(500, {"code": 20500, "message": "Internal", "status": 500})
                else:
                    sid = f"SM{next(fake._ids):032x}"
                    fake.messages.append(form | {"Sid": sid})
                    self._answer(
                        201,
                        {
                            "sid": sid,
                            "account_sid": fake.account_sid,
                            "to": form.get("To"),
                            "from": form.get("From"),
                            "body": form.get("Body"),
                            "status": "queued",
                        },
                    )

            def _answer(self, status: int, body: dict[str, object]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


@contextmanager
def running(account_sid: str, auth_token: str) -> Iterator[FakeTwilio]:
    fake = FakeTwilio(account_sid, auth_token)
    server = ThreadingHTTPServer(("127.0.0.1", 0), fake.handler())
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
