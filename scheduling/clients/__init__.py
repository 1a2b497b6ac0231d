"""Clients as cases: one pseudonymous record per client and team, everything linked to it, and
an exit plan (docs/clients.md).

* `records`: create, change, change the status of a client; the team's list; who may see or
  change one (`foundation.access.may_see_client`: the team's staff and API keys of its scope;
  an admin as such sees none).
* `links`: staff link an appointment, a conversation, a callback request, a voicemail or a
  call-back through the line to a client, and undo it; never by the number by itself (with
  `[clients] match_caller_hash` a matching client is offered, not linked).
* `timeline`: everything linked, in time order.
* `plan`: the steps of the exit plan, the notes of steps and sessions, the next review date.
* `reviews`: the review reminder to the responsible counsellors, a shift notice of kind
  `review`, sent once by the notice queue on the review date.

All free text (the plan's steps and notes) and the number are encrypted at rest
(`foundation.crypto`, `hotline rekey`); the audit log records what changed, never the text.
"""
