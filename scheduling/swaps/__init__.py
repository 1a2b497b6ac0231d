"""Shift swaps: a counsellor asks a colleague to take a shift (optionally taking one of the
colleague's shifts back); the colleague accepts or declines; a coordinator of the team approves
or rejects, unless the team switched approval off (`[teams.x] swap_approval = false`), in which
case the acceptance applies the swap at once.

Applying reassigns the shift(s) *in place* (ids stay, so links and notices keep pointing at them)
with the rules of `scheduling.shifts.create_shift`: the new holder is an active member of the
team and has no overlapping shift in it; the two moves of an exchange are checked together, so
two overlapping shifts of different tiers can be traded. A request whose shift was changed,
deleted or has ended since it was made becomes `obsolete` instead of being applied.

Every state change is audited (entity "swap_request") and queues `ShiftNotice` rows of kind
`swap`, which the scheduler sends exactly once. Refusals raise `Invalid`, `Conflict` or
`NotFound` with German messages: the pages show them as they are.

One module per step, the use cases first:

* `asking`: the requester asks (`request_swap`) or takes the request back (`withdraw`).
* `answering`: the colleague accepts (`accept`, which applies the swap at once when the team
  needs no approval) or declines (`decline`).
* `deciding`: a coordinator approves (`approve`) or rejects (`reject`); how many swaps wait
  for one (`waiting_for_approval`).

and what they share:

* `rows`: the request row and the shifts it names: loading and locking them, its audited
  state changes, its open states.
* `applying`: the moves of a swap, the checks of their new holders, reassigning the shifts.
* `obsolete`: whether an open request can still go ahead as asked (`stale_reason`), and
  closing it when it cannot.
* `telling`: the notices queued for each event, to whom; `words` (pure): their German texts,
  the labels of the states and of the reasons a request became obsolete.
"""
