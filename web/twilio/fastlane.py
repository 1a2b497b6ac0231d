"""POST /twilio/voice in front of Starlette: the hot path as a plain ASGI app.

Most incoming calls are answered from the line's snapshot (`web.twilio.hotpath`) with a few
microseconds of our own work; taking them through Starlette's layers (its error and exception
middlewares, the router, request and response wrappers, a wrapper around every message sent)
cost more than the answer (bench/README.md#voice). So the app (`web.app.Service`) hands a POST
to exactly /twilio/voice to `VoiceLane` first, which does what the route does for a call the
snapshot answers, with the route's own functions:

* the same checks in the same order (`web.twilio.signature`): the declared size, the body's
  size and number of parameters, the signature;
* the same answer: `web.twilio.voice.incoming_fast`, the route's fast path, given the same
  `Context` (through `answer_fast`, which turns its failure into "not answered");
* the same edge (`web.health.Edge`): the security headers, and the request counted and timed
  under the route's template. A snapshot's answer (`hotpath.Kept`) has the headers the route
  rendered when it was kept; they are merged with the edge's once per snapshot, not per call.

Whatever it does not answer itself goes to Starlette unchanged, with the messages of the body
it read handed on: a body too large, a bad signature, no snapshot (the first call, a rota
change), somebody on call busy, the line closed, a failure of its own. The route then answers
as it always did (its 413 or 403 and log line, the single-flight refresh, fail open).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.datastructures import QueryParams
from starlette.responses import Response

from web.health import Edge
from web.twilio import hotpath, voice
from web.twilio.signature import MAX_BODY, declared_too_large, form, signed, too_large
from web.twilio.webhook import Context, answer_fast

log = logging.getLogger(__name__)
PATH = "/twilio/voice"  # the path, and the route's template in the metrics
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
MERGED_KEPT = 16  # snapshots whose headers are kept merged with the edge's (a few per line)


def takes(scope: Scope) -> bool:
    """Whether a request is the lane's to try: a POST to /twilio/voice (not below a root path:
    that is the router's to strip)."""
    return (
        scope["type"] == "http"
        and scope["path"] == PATH
        and scope["method"] == "POST"
        and not scope.get("root_path")
    )


class VoiceLane:
    """Answers what the snapshot can; hands everything else to `route` (the Starlette app)."""

    def __init__(self, state: Any, route: ASGIApp, edge: Edge) -> None:
        self.state = state  # the app's state, read at each request (set up by its lifespan)
        self.route = route
        self.edge = edge
        self._merged: dict[Response, list[tuple[bytes, bytes]]] = {}  # by snapshot: `_headers`

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        declared = signature = None
        for name, value in scope["headers"]:  # the first of each, as Starlette's Headers
            if name == b"content-length":
                if declared is None:
                    declared = value.decode("latin-1")
            elif name == b"x-twilio-signature" and signature is None:
                signature = value.decode("latin-1")
        if declared_too_large(declared or ""):
            await self.route(scope, receive, send)
            return
        read: list[Message] = []
        size = 0
        while True:
            message = await receive()
            read.append(message)
            if message["type"] != "http.request":
                break  # the client left: the route sees it as before
            size += len(message.get("body", b""))
            if size > MAX_BODY or not message.get("more_body", False):
                break
        answer = None
        if read[-1]["type"] == "http.request" and not read[-1].get("more_body", False):
            try:
                body = read[0].get("body", b"") if len(read) == 1 else _joined(read)
                answer = self._answer(scope, body, signature)
            except Exception as exc:
                log.error("voice fast lane failed (%s); taking the route", type(exc).__name__)
        if answer is None:
            await self.route(scope, _replay(read, receive), send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": answer.status_code,
                "headers": self._headers(answer),
            }
        )
        await send({"type": "http.response.body", "body": answer.body})
        self.edge.count("POST", PATH, answer.status_code, started)
        if answer.background is not None:
            await answer.background()

    def _headers(self, answer: Response) -> list[tuple[bytes, bytes]]:
        """The edge's headers of `answer`; of a snapshot's, merged once per snapshot."""
        if not isinstance(answer, hotpath.Kept):
            return self.edge.headers(answer.raw_headers)
        merged = self._merged.get(answer.kept)
        if merged is None:
            if len(self._merged) >= MERGED_KEPT:
                self._merged.clear()  # snapshots of the past
            merged = self._merged[answer.kept] = self.edge.headers(answer.raw_headers)
        return list(merged)

    def _answer(self, scope: Scope, raw: bytes, signature: str | None) -> Response | None:
        """The route's answer from the snapshot, or None."""
        if too_large(raw):
            return None
        params = form(raw)
        query = scope["query_string"].decode("latin-1")
        state = self.state
        settings = state["settings"]  # (by item: `web.twilio.webhook.part`)
        if not signed(settings, PATH, query, params, signature or ""):
            return None
        context = Context(
            settings, state["db"], params, dict(QueryParams(query)) if query else {}, state
        )
        answer = answer_fast(voice.incoming_fast, context)
        return answer if isinstance(answer, Response) else None


def _joined(read: list[Message]) -> bytes:
    return b"".join(m.get("body", b"") for m in read)


def _replay(read: list[Message], receive: Receive) -> Receive:
    """`receive`, with the messages already read first."""
    pending = deque(read)

    async def replayed() -> Message:
        if pending:
            return pending.popleft()
        return await receive()

    return replayed
