"""JSON responses and the mapping of errors to HTTP statuses for /api/v1."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError
from starlette.responses import JSONResponse, Response

from foundation.errors import Conflict, DomainError, NotFound
from web.schemas import ErrorDetail, ErrorOut


def json_response(
    model: BaseModel, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return JSONResponse(model.model_dump(mode="json"), status_code=status_code, headers=headers)


def created(model: BaseModel, location: str) -> Response:
    """201 with the new record, and where it is (`Location`)."""
    return json_response(model, 201, headers={"Location": location})


def error(
    status_code: int,
    code: str,
    message: str,
    details: list[ErrorDetail] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = ErrorOut(error=code, message=message, details=details or [])
    return JSONResponse(body.model_dump(mode="json"), status_code=status_code, headers=headers)


def domain_error(exc: DomainError) -> Response:
    details = [ErrorDetail(field=exc.field, message=exc.message)] if exc.field else []
    if isinstance(exc, NotFound):
        return error(404 if exc.field is None else 422, "not_found", exc.message, details)
    if isinstance(exc, Conflict):
        return error(409, "conflict", exc.message, details)
    return error(422, "invalid", exc.message, details)


def validation_error(exc: ValidationError) -> Response:
    details = []
    for problem in exc.errors(include_url=False, include_input=False, include_context=False):
        field = ".".join(str(part) for part in problem["loc"]) or None
        details.append(ErrorDetail(field=field, message=problem["msg"]))
    return error(422, "invalid", "the request does not match the schema", details)


def local(moment: datetime, zone: ZoneInfo) -> datetime:
    """Instants leave the API in the organisation's zone, with their offset."""
    return moment.astimezone(zone)


def query_time(raw: str) -> str:
    """An ISO time from a query string, where an unencoded '+' of the offset arrived as ' '."""
    return raw.replace(" ", "+")


__all__ = [
    "created",
    "domain_error",
    "error",
    "json_response",
    "local",
    "query_time",
    "validation_error",
]
