"""Calendar feeds (iCal): a counsellor's shifts and appointments, a team's rota, behind a secret
URL. `events` (what a feed holds, plain data), `queries` (its fingerprint and events from the
database), `rendering` (RFC 5545 text, pure) with `ical` (the few writer functions), `tokens`
(the secret in the URL), `serving` (one poll: token, 304 or body). The HTTP endpoint is
`web.feed`; busy times read back from counsellors' own calendars are `scheduling.busy`.
"""
