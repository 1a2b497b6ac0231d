"""/api/v1, for operators' scripts: one module per resource (`counsellors`, `shifts`,
`standins`, `absences`, `oncall`, `appointments`, `clients` (client records and their plans),
`outbound_calls`: the call-backs through the line under `/api/v1/callbacks`, `reports`,
`client_requests`: a client's data-subject export and erasure), and `plumbing`, what every
endpoint does around them (the bearer key, the JSON body, query parameters, one transaction,
errors as JSON).

The API key is a principal of the access policy (foundation.access): every route asks it, and
a record the key may not see is answered like a missing one (404). Today a key sees
everything. The OpenAPI document is `web.openapi`.
"""

from __future__ import annotations

from web.api import (
    absences,
    appointments,
    client_requests,
    clients,
    counsellors,
    oncall,
    outbound_calls,
    reports,
    shifts,
    standins,
)

routes = [
    *counsellors.routes,
    *shifts.routes,
    *standins.routes,
    *absences.routes,
    *oncall.routes,
    *appointments.routes,
    *client_requests.routes,  # before `clients`: GET and DELETE of a client are one route
    *clients.routes,
    *outbound_calls.routes,
    *reports.routes,
]
