"""The OpenAPI 3.1 document of /api/v1, built from the same pydantic models that validate."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from config.model import HotlineConfig
from foundation.clock import FIRST_DAY, LAST_DAY
from foundation.models import MAX_ID
from web import schemas

REF = "#/components/schemas/{model}"


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "the body is not JSON",
        401: "missing, invalid, expired or revoked API key",
        403: "outside the API key's scope: another team's data, or a write with a read-only key",
        404: "not found",
        409: "conflicts with existing data",
        413: "body too large",
        415: "not application/json",
        422: "invalid input; `details` names the fields",
        502: "Twilio did not place the call (`not_placed`) or may have (`uncertain`)",
    }
    return {str(code): _json(schemas.ErrorOut, text[code]) for code in (401, 403, *codes)}


# A report's day: a local day, or an instant with offset (its local day in Europe/Berlin).
_DAY: dict[str, Any] = {
    "type": "string",
    "anyOf": [{"format": "date"}, {"format": "date-time"}],
}


def _query(name: str, description: str, *, required: bool = False, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema or {"type": "string"},
    }


_TIME: dict[str, Any] = {"type": "string", "format": "date-time"}
_YEARS = f"; between {FIRST_DAY.year} and {LAST_DAY.year}"
_ID: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
_BODY_ERRORS = (400, 413, 415, 422)


def _path_id(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": dict(_ID)}


def _window(what: str) -> list[dict[str, Any]]:
    """The query of a listing (`web.api.plumbing.listing`)."""
    return [
        _query("team", "team slug"),
        _query("counsellor_id", what, **_ID),
        _query("from", f"window start (default: now){_YEARS}", **_TIME),
        _query(
            "to",
            f"window end, after from (default: from + 28 days; at most 400 days){_YEARS}",
            **_TIME,
        ),
    ]


def _created(model: type[BaseModel]) -> dict[str, Any]:
    location = {"description": "the URL of the new record", "schema": {"type": "string"}}
    return {**_json(model, "created"), "headers": {"Location": location}}


def _record_paths(
    path: str, key: str, noun: str, models: tuple[type[BaseModel], ...], *, listed: str, who: str
) -> dict[str, Any]:
    """A collection whose records are entered, read and deleted (stand-ins, absences); `models`:
    in, out, list."""
    new, one, many = models
    name = noun.title().replace("-", "")
    return {
        path: {
            "get": {
                "summary": f"List {noun}s overlapping a window",
                "description": listed,
                "operationId": f"list{name}s",
                "parameters": _window(who),
                "responses": {"200": _json(many, f"{noun}s in start order"), **_errors(422)},
            },
            "post": {
                "summary": f"Enter a {noun} (as the rota page does)",
                "operationId": f"create{name}",
                "requestBody": _body(new),
                "responses": {"201": _created(one), **_errors(*_BODY_ERRORS)},
            },
        },
        f"{path}/{{{key}}}": {
            "get": {
                "summary": f"One {noun}",
                "operationId": f"get{name}",
                "parameters": [_path_id(key)],
                "responses": {"200": _json(one, f"the {noun}"), **_errors(404, 422)},
            },
            "delete": {
                "summary": f"Delete a {noun}",
                "operationId": f"delete{name}",
                "parameters": [_path_id(key)],
                "responses": {"204": {"description": "deleted"}, **_errors(404, 422)},
            },
        },
    }


def _cover_paths() -> dict[str, Any]:
    stand_ins = (schemas.StandInIn, schemas.StandInOut, schemas.StandInList)
    absences = (schemas.AbsenceIn, schemas.AbsenceOut, schemas.AbsenceList)
    return {
        **_record_paths(
            "/api/v1/standins",
            "stand_in_id",
            "stand-in",
            stand_ins,
            listed="Of the team (of every team the key may see without one).",
            who="only those naming this counsellor (absent or substitute)",
        ),
        **_record_paths(
            "/api/v1/absences",
            "absence_id",
            "absence",
            absences,
            listed="An absence is a person's, in every team: `team` lists those of its members.",
            who="only this counsellor's",
        ),
    }


def _body(model: type[BaseModel]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(model)}}}


def _overlap() -> dict[str, Any]:
    return {
        "409": _json(
            schemas.OverlapOut,
            "the counsellor has a booked appointment at that time (`existing`), "
            "or the appointment's status forbids the change",
        )
    }


def _appointment_paths() -> dict[str, Any]:
    one = _json(schemas.AppointmentOut, "the appointment")
    return {
        "/api/v1/appointments": {
            "get": {
                "summary": "List appointments overlapping a window",
                "operationId": "listAppointments",
                "parameters": _window("only this counsellor's"),
                "responses": {
                    "200": _json(schemas.AppointmentList, "appointments in start order"),
                    **_errors(422),
                },
            },
            "post": {
                "summary": "Book an appointment (and its reminders)",
                "operationId": "bookAppointment",
                "requestBody": _body(schemas.AppointmentIn),
                "responses": {
                    "201": _json(schemas.AppointmentOut, "booked"),
                    **_errors(*_BODY_ERRORS),
                    **_overlap(),
                },
            },
        },
        "/api/v1/appointments/{appointment_id}": {
            "get": {
                "summary": "One appointment",
                "operationId": "getAppointment",
                "parameters": [_path_id("appointment_id")],
                "responses": {"200": one, **_errors(404, 422)},
            },
        },
        "/api/v1/appointments/{appointment_id}/cancel": {
            "post": {
                "summary": "Cancel an appointment (and its pending reminders); repeatable",
                "operationId": "cancelAppointment",
                "parameters": [_path_id("appointment_id")],
                "responses": {"200": one, **_errors(404, 409, 422)},
            },
        },
        "/api/v1/appointments/{appointment_id}/reschedule": {
            "post": {
                "summary": "Move a booked appointment (its pending reminders move with it)",
                "operationId": "rescheduleAppointment",
                "parameters": [_path_id("appointment_id")],
                "requestBody": _body(schemas.RescheduleIn),
                "responses": {"200": one, **_errors(404, *_BODY_ERRORS), **_overlap()},
            },
        },
        "/api/v1/appointments/{appointment_id}/status": {
            "post": {
                "summary": "Mark an appointment that has begun as done or no-show",
                "operationId": "setAppointmentStatus",
                "parameters": [_path_id("appointment_id")],
                "requestBody": _body(schemas.StatusIn),
                "responses": {"200": one, **_errors(404, 409, *_BODY_ERRORS)},
            },
        },
    }


def _client_paths() -> dict[str, Any]:
    step = _json(schemas.PlanStepOut, "the step")
    client_id = _path_id("client_id")
    return {
        "/api/v1/clients": {
            "post": {
                "summary": "Create a client record of a team (status first_contact)",
                "description": "The pseudonym is unique in the team (regardless of case; 409) "
                "and never looks like a phone number (422). A key whose scope lacks the team: "
                "403.",
                "operationId": "createClient",
                "requestBody": _body(schemas.NewClientIn),
                "responses": {
                    "201": _created(schemas.ClientRecordOut),
                    **_errors(*_BODY_ERRORS, 409),
                },
            },
        },
        "/api/v1/clients/{client_id}": {
            "get": {
                "summary": "One client with its timeline (everything linked, oldest first)",
                "description": "Another team's client is answered like a missing one (404). "
                "Reading it is written to the access log.",
                "operationId": "getClient",
                "parameters": [client_id],
                "responses": {
                    "200": _json(schemas.ClientRecordOut, "the client"),
                    **_errors(404, 422),
                },
            },
            "patch": {
                "summary": "Change a client: its details, status or next review date (what is "
                "given)",
                "description": "As the client's page does, with its refusals: a pseudonym the "
                "team has (regardless of case; 409) or one that looks like a phone number, a bad "
                "number, SMS consent without a mobile number, a counsellor outside the team, a "
                "review date outside the years the service plans for (422). Each change is in "
                "the audit log (what changed, never the pseudonym or the number); the answer, "
                "the client with its timeline, is in the access log. Another team's client: 404; "
                "a read-only key: 403.",
                "operationId": "changeClient",
                "parameters": [client_id],
                "requestBody": _body(schemas.ClientChangeIn),
                "responses": {
                    "200": _json(schemas.ClientRecordOut, "the client as changed"),
                    **_errors(404, 409, *_BODY_ERRORS),
                },
            },
        },
        "/api/v1/clients/{client_id}/plan": {
            "get": {
                "summary": "The client's exit plan: its steps in order and the next review date",
                "operationId": "getPlan",
                "parameters": [client_id],
                "responses": {"200": _json(schemas.PlanOut, "the plan"), **_errors(404, 422)},
            },
            "post": {
                "summary": "Add a step to the client's plan (it goes last)",
                "operationId": "addPlanStep",
                "parameters": [client_id],
                "requestBody": _body(schemas.PlanStepIn),
                "responses": {"201": _created(schemas.PlanStepOut), **_errors(404, *_BODY_ERRORS)},
            },
        },
        "/api/v1/clients/{client_id}/plan/{step_id}": {
            "patch": {
                "summary": "Change a step: its title, notes, status or position (what is given)",
                "operationId": "changePlanStep",
                "parameters": [client_id, _path_id("step_id")],
                "requestBody": _body(schemas.PlanStepChangeIn),
                "responses": {"200": step, **_errors(404, *_BODY_ERRORS)},
            },
        },
    }


def _call_back_paths() -> dict[str, Any]:
    return {
        "/api/v1/callbacks": {
            "post": {
                "summary": "Call a client back through the line: the counsellor's phone rings "
                "first, from the line's number; on a pressed 1 the client is dialled",
                "description": "`line` chooses the line whose number both phones see: for an "
                "appointment whose counsellor belongs to several teams with a line, any of "
                "those lines (422 with field `line` for another one); a task is always called "
                "back through its own line. A task is taken (in progress) only once Twilio "
                "accepted the call; not after `not_placed` or `uncertain` (502).",
                "operationId": "startCallBack",
                "requestBody": _body(schemas.CallBackIn),
                "responses": {
                    "201": _json(schemas.CallBackOut, "the counsellor's phone is being rung"),
                    **_errors(*_BODY_ERRORS, 409, 502),
                },
            },
        },
        "/api/v1/callbacks/{call_id}": {
            "get": {
                "summary": "One call-back and how it went",
                "operationId": "getCallBack",
                "parameters": [_path_id("call_id")],
                "responses": {
                    "200": _json(schemas.CallBackOut, "the call-back"),
                    **_errors(404, 422),
                },
            },
        },
    }


def _subject_request_paths(beside: dict[str, Any]) -> dict[str, Any]:
    """A client's data-subject requests (web.api.client_requests), each path with the methods
    `beside` has for it (the client records': the same path, other methods)."""
    client_id = [_path_id("client_id")]
    paths: dict[str, Any] = {
        "/api/v1/clients/{client_id}": {
            "delete": {
                "summary": "Erase a client now (data-subject request, Art. 17 GDPR)",
                "description": (
                    "Deletes the client with its plan and the client data of everything linked "
                    "to it, here and at Twilio, as the retention does (docs/retention.md); the "
                    "counts the reports need stay. Every id that pointed at the client answers "
                    "404 or shows no client data afterwards. Needs a writable key of the "
                    "client's team."
                ),
                "operationId": "eraseClient",
                "parameters": client_id,
                "responses": {"204": {"description": "erased"}, **_errors(404, 422)},
            },
        },
        "/api/v1/clients/{client_id}/export": {
            "get": {
                "summary": "Everything held about a client (data-subject request, Art. 15 GDPR)",
                "description": (
                    "In full, decrypted: the record, the plan and its notes, appointments with "
                    "their reminders, conversations with their messages, voicemails, callback "
                    "requests and call-backs through the line. In the access log."
                ),
                "operationId": "exportClient",
                "parameters": client_id,
                "responses": {
                    "200": _json(schemas.ClientExportOut, "the export"),
                    **_errors(404, 422),
                },
            },
        },
    }
    return {path: {**beside.get(path, {}), **methods} for path, methods in paths.items()}


def document(version: str, config: HotlineConfig | None = None) -> dict[str, Any]:
    """The document; with the configuration, the known team and line slugs as enums."""
    spec = _document(version)
    # Every write refuses a body of another type than JSON (web.api.plumbing.not_json), also
    # where it reads none: each says so.
    for operations in spec["paths"].values():
        for method, operation in operations.items():
            if method in ("post", "patch", "delete") and "415" not in operation["responses"]:
                operation["responses"].update(_errors(415))
    if config is not None:
        _known_slugs(spec, sorted(config.teams), sorted(config.lines))
    return spec


# Where the document names a team or a line: (component, property) of the bodies.
_TEAM_PROPERTIES = (
    ("ShiftIn", "team"),
    ("StandInIn", "team"),
    ("CounsellorIn", "teams"),
    ("NewClientIn", "team"),
)
_LINE_PROPERTIES = (("CallBackIn", "line"),)


def _known_slugs(spec: dict[str, Any], teams: list[str], lines: list[str]) -> None:
    """A slug that is not configured is refused (422): the document lists those that are."""

    def narrow(node: dict[str, Any], slugs: list[str]) -> None:
        if node.get("type") == "string":
            node.pop("pattern", None)
            node["enum"] = slugs
        for child in (*node.get("anyOf", ()), *([node["items"]] if "items" in node else [])):
            narrow(child, slugs)

    shapes = spec["components"]["schemas"]
    for slugs, places in ((teams, _TEAM_PROPERTIES), (lines, _LINE_PROPERTIES)):
        for model, name in places:
            narrow(shapes[model]["properties"][name], slugs)
    for operations in spec["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", ()):
                if parameter["name"] == "team":
                    parameter["schema"] = {"type": "string", "enum": teams}


def _document(version: str) -> dict[str, Any]:
    _, definitions = models_json_schema(
        [(model, "validation") for model in schemas.ALL], ref_template=REF
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "konex hotline API",
            "version": version,
            "description": "Times are ISO 8601 with offset; answers are in Europe/Berlin.",
        },
        "security": [{"apiKey": []}],
        "paths": {
            "/api/v1/counsellors": {
                "get": {
                    "summary": "List counsellors",
                    "operationId": "listCounsellors",
                    "parameters": [
                        _query("team", "only members of this team (slug)"),
                        _query(
                            "active",
                            "only active (true) or inactive (false)",
                            enum=["true", "false"],
                            type="string",
                        ),
                    ],
                    "responses": {
                        "200": _json(schemas.CounsellorList, "counsellors by name"),
                        **_errors(422),
                    },
                },
                "post": {
                    "summary": "Create a counsellor",
                    "operationId": "createCounsellor",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref(schemas.CounsellorIn)}},
                    },
                    "responses": {
                        "201": _json(schemas.CounsellorOut, "created"),
                        **_errors(*_BODY_ERRORS),
                    },
                },
            },
            "/api/v1/shifts": {
                "get": {
                    "summary": "List shifts overlapping a window",
                    "operationId": "listShifts",
                    "parameters": _window("only this counsellor's"),
                    "responses": {
                        "200": _json(schemas.ShiftList, "shifts in start order"),
                        **_errors(422),
                    },
                },
                "post": {
                    "summary": "Create a shift",
                    "operationId": "createShift",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref(schemas.ShiftIn)}},
                    },
                    "responses": {
                        "201": _json(schemas.ShiftOut, "created"),
                        **_errors(*_BODY_ERRORS, 409),
                    },
                },
            },
            "/api/v1/shifts/{shift_id}": {
                "delete": {
                    "summary": "Delete a shift",
                    "operationId": "deleteShift",
                    "parameters": [_path_id("shift_id")],
                    "responses": {"204": {"description": "deleted"}, **_errors(404, 422)},
                },
            },
            **_cover_paths(),
            "/api/v1/oncall": {
                "get": {
                    "summary": "Who is on call for a team at an instant",
                    "operationId": "onCall",
                    "parameters": [
                        _query("team", "team slug", required=True),
                        _query("at", f"instant (default: now){_YEARS}", **_TIME),
                    ],
                    "responses": {
                        "200": _json(schemas.OnCallOut, "the tiers in calling order"),
                        **_errors(422),
                    },
                },
            },
            "/api/v1/reports": {
                "get": {
                    "summary": "A team's report for a period, compared with the previous one",
                    "operationId": "report",
                    "parameters": [
                        _query("team", "team slug", required=True),
                        _query(
                            "from",
                            "first local day, e.g. 2026-10-01 (or an instant with offset)",
                            required=True,
                            **_DAY,
                        ),
                        _query(
                            "to",
                            "last local day (included), at most five years on",
                            required=True,
                            **_DAY,
                        ),
                    ],
                    "responses": {
                        "200": _json(schemas.ReportOut, 'counts; "<5" where suppressed'),
                        **_errors(403, 422),
                    },
                },
            },
            **_appointment_paths(),
            **_client_paths(),
            **_call_back_paths(),
            **_subject_request_paths(_client_paths()),
        },
        "components": {
            "schemas": definitions["$defs"],
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": (
                        "create one with `hotline apikey create --name N [--team SLUG]... "
                        "[--read-only] [--expires-days D]` or on the page /apikeys"
                    ),
                },
            },
        },
    }
