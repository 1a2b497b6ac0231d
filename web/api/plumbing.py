"""What every /api/v1 endpoint does before and around its resource: the bearer key (a
principal of the access policy, `foundation.access`), the JSON body, the query parameters
(times with offset, ids, listing ranges), one transaction, and errors as JSON with the status
that fits (`web.responses`)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import wraps
from typing import TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from foundation import access, apikeys
from foundation.access import Principal
from foundation.clock import FIRST_DAY, LAST_DAY, utcnow
from foundation.db import Database
from foundation.errors import DomainError, NotFound
from foundation.models import MAX_ID
from web.responses import domain_error, error, query_time, validation_error
from web.schemas import Instant

MAX_BODY = 64 * 1024
MAX_LIST_RANGE = timedelta(days=400)
DEFAULT_LIST_RANGE = timedelta(days=28)
_INSTANT: TypeAdapter[datetime] = TypeAdapter(Instant)
M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")

Work = Callable[[Session, Principal], Response]
Endpoint = Callable[[Request], Awaitable[Response]]


class BadRequest(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def not_json(request: Request) -> Response | None:
    """The 415 for a request that carries a body of another type than JSON, also on a route
    that reads no body (a form or a file is never what the API takes)."""
    sent = request.headers.get("content-type")
    carries = sent is not None or request.headers.get("content-length", "0") not in ("", "0")
    if carries and (sent or "").split(";")[0].strip().lower() != "application/json":
        return error(415, "unsupported_media_type", "send application/json")
    return None


async def body(request: Request, model: type[M]) -> M:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise BadRequest(error(415, "unsupported_media_type", "send application/json"))
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise BadRequest(error(413, "too_large", f"the body is limited to {MAX_BODY} bytes"))
    try:
        return model.model_validate(json.loads(raw))
    except ValidationError as exc:
        raise BadRequest(validation_error(exc)) from exc
    except json.JSONDecodeError as exc:
        raise BadRequest(error(400, "invalid_json", f"the body is not JSON: {exc.msg}")) from exc
    except (ValueError, RecursionError) as exc:  # not UTF-8, nested too deep, a 5000-digit number
        raise BadRequest(error(400, "invalid_json", "the body is not JSON we read")) from exc


def instant(raw: str | None, name: str) -> datetime | None:
    """A time of the query, or None if not given (an empty value is not a time: 422)."""
    if raw is None:
        return None
    try:
        return _INSTANT.validate_python(query_time(raw))
    except ValidationError as exc:
        message = (
            "not an ISO 8601 time with offset (e.g. 2026-11-25T14:00:00+01:00) "
            f"between {FIRST_DAY.year} and {LAST_DAY.year}"
        )
        raise BadRequest(error(422, "invalid", f"{name}: {message}")) from exc


@dataclass(frozen=True, slots=True)
class Listing:
    """The query of a listing: its range, and the team and the counsellor it is narrowed to."""

    start: datetime
    end: datetime
    team: str | None
    counsellor_id: int | None


def listing(params: QueryParams) -> Listing:
    """from/to (from now for 28 days unless given, at most 400 days), team, counsellor_id."""
    start = instant(params.get("from"), "from") or utcnow()
    end = instant(params.get("to"), "to") or start + DEFAULT_LIST_RANGE
    if end <= start or end - start > MAX_LIST_RANGE:
        raise BadRequest(error(422, "invalid", "to must be after from, at most 400 days later"))
    counsellor_id = positive_int(params.get("counsellor_id"), "counsellor_id")
    return Listing(start, end, params.get("team"), counsellor_id)


def api(
    prepare: Callable[[Request], Awaitable[Work]],
    *,
    write: bool = False,
) -> Endpoint:
    """An /api/v1 endpoint: bearer key first, then the request is read, then one transaction.
    Every answer is `Cache-Control: no-store`: it is one key's view (appointments, reports),
    for no cache of a proxy or a client library to keep."""

    @wraps(prepare)
    async def endpoint(request: Request) -> Response:
        response = await answer(request)
        response.headers["Cache-Control"] = "no-store"
        return response

    async def answer(request: Request) -> Response:
        db: Database = request.app.state.db
        who = await caller(request)
        if isinstance(who, Response):
            return who
        if write and not who.may_write:
            return error(403, "forbidden", "this API key is read-only")
        refused = not_json(request)
        if refused is not None:
            return refused
        try:
            work = await prepare(request)
        except BadRequest as exc:
            return exc.response
        return await run_in_threadpool(_run, db, who, work, write)

    return endpoint


def one_route(get: Endpoint, **others: Endpoint) -> Endpoint:
    """The endpoint of one Route for GET (and HEAD) and the methods named (`post=`, `delete=`),
    so that another method is answered 405 with all of them allowed."""

    async def endpoint(request: Request) -> Response:
        handler = others.get(request.method.lower(), get)
        return await handler(request)

    return endpoint


def get_or_post(get: Endpoint, post: Endpoint) -> Endpoint:
    """A collection's one route: GET lists, POST adds."""
    return one_route(get, post=post)


async def caller(request: Request) -> Principal | Response:
    """The principal of the request's API key, or the 401 to answer."""
    token = _bearer(request)
    who = await run_in_threadpool(_authenticate, request.app.state.db, token) if token else None
    if who is None:
        return error(
            401,
            "unauthorized",
            "a valid API key is required (Authorization: Bearer ...)",
            headers={"WWW-Authenticate": 'Bearer realm="api"'},
        )
    return who


def _authenticate(db: Database, token: str) -> Principal | None:
    """The principal of a live key, or None; refreshes last_used_at now and then."""
    with db.read() as session:
        key = apikeys.find_live_key(session, token)
        if key is None:
            return None
        key_id, who, due = key.id, apikeys.principal(key), apikeys.touch_due(key)
    if due:
        with db.write() as session:
            apikeys.touch(session, key_id)
    return who


def _run(db: Database, who: Principal, work: Work, write: bool) -> Response:
    try:
        with db.write() if write else db.read() as session:
            return work(session, who)
    except DomainError as exc:
        return domain_error(exc)
    except BadRequest as exc:
        return exc.response


def must_coordinate(who: Principal, team: str) -> None:
    """Changing a team's data needs its coordination (an unknown team is the use case's 422)."""
    if not access.may_coordinate(who, team):
        raise BadRequest(error(403, "forbidden", f"this API key may not change team {team!r}"))


def must_see(who: Principal, team: str | None) -> None:
    """A listing narrowed to a team the key may not see is refused, not answered empty."""
    if team is not None and not access.may_see_team(who, team):
        raise BadRequest(error(403, "forbidden", f"this API key may not see team {team!r}"))


def positive_int(raw: str | None, name: str) -> int | None:
    """An id of the query or the path, 1 to MAX_ID (the database's INTEGER), or None if not given;
    anything else (an empty value too) is a 422."""
    if raw is None:
        return None
    digits = raw.isascii() and raw.isdigit() and len(raw) <= len(str(MAX_ID))
    if not digits or not 1 <= int(raw) <= MAX_ID:
        raise BadRequest(error(422, "invalid", f"{name}: not an id (1 to {MAX_ID})"))
    return int(raw)


def path_id(request: Request, name: str) -> int:
    """The positive id a route's path names (`{shift_id}`, …), or 422."""
    value = positive_int(request.path_params[name], name)
    assert value is not None  # a path parameter is never empty
    return value


def own(
    session: Session, model: type[R], row_id: int, noun: str, allowed: Callable[[R], bool]
) -> R:
    """The row with that id if the principal may (`allowed`): a row she may not is answered
    like a missing one (404)."""
    row = session.get(model, row_id)
    if row is None or not allowed(row):
        raise NotFound(f"no {noun} with id {row_id}")
    return row
