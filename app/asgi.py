"""Call an ASGI app in process, synchronously: for the simulator behind `hotline simulate`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

import anyio


def post_form(
    app: Any, path: str, params: Mapping[str, str], headers: Mapping[str, str]
) -> tuple[int, str]:
    """POST `params` form-encoded to `path` (may carry a query) and return (status, body)."""
    return anyio.run(_post, app, path, dict(params), dict(headers))


async def _post(
    app: Any, path: str, params: dict[str, str], headers: dict[str, str]
) -> tuple[int, str]:
    body = urlencode(params).encode()
    parts = urlsplit(path)
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    raw_headers += [(b"content-length", str(len(body)).encode()), (b"host", b"127.0.0.1")]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": parts.path,
        "raw_path": parts.path.encode(),
        "query_string": parts.query.encode(),
        "root_path": "",
        "headers": raw_headers,
        "client": ("127.0.0.1", 0),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    status = 500
    chunks: list[bytes] = []
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await anyio.sleep_forever()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks).decode()
