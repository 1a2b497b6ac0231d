"""Shift notices: a counsellor hears of her on-call duty before it starts, the outgoing
counsellor gets a handoff note, and a coordinator's changes are told in one gathered notice.

Every notice is a `ShiftNotice` row, sent by `scheduling.dispatch` exactly once (`jobs`):

* `planning.plan` (every minute) derives the notices the rota calls for (`duties`, the pure
  core) from `shifts.timeline` (stand-ins and absences applied, so the person actually serving
  is told and an absent one is not) and inserts them with a `dedupe_key` that names what a
  notice is about; `INSERT … ON CONFLICT DO NOTHING` (`store`) lets two planners run at once
  and store each notice once. Pending notices whose duty no longer stands (a shift moved or
  deleted, a stand-in entered) are cancelled.
* `changes.watch` gathers the shift changes of a committing transaction (web page, API,
  rotation, swap) into one pending CHANGED notice per counsellor and channel, due
  `change_delay_minutes` after the last change; a change a counsellor makes herself, and the
  demo (`QUIET`), tell nobody.
* `rendering.render` turns a claimed row into the German message (`words`), re-checking that
  the duty still stands.
"""
