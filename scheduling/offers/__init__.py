"""Open shifts: a counsellor (or a coordinator of the team) offers a shift to its team; any
eligible colleague takes it; a coordinator approves, unless the team needs no approval
(`[teams.x] swap_approval = false`, the rule of swaps) or the coordination made the offer
itself, in which case taking it hands the shift over at once. A coordinator who declines a
taker puts the shift back on offer.

Eligible is who a swap could hand the shift to (`scheduling.swaps.applying.check_takers`: an
active member of the team with no overlapping shift in it), who is not its holder and who is not
absent during it. Handing over reassigns the shift *in place*, like a swap: the feeds of both
people change (the shift's `updated_at` and `revision` move its SEQUENCE and the ETag). An offer
whose shift started, was changed or deleted meanwhile expires instead of being applied; the
scheduler also closes such offers every minute (`expiring.expire_job`) and tells the giver.
A shift is on offer or in an open swap request, never both.

Every state change is audited (entity "shift_offer"; the handed-over shift as `offer` of
`shift`) and queues `ShiftNotice` rows of kind `swap`, which the scheduler sends exactly once.
Refusals raise `Invalid`, `Conflict` or `NotFound` with German messages.

* `offering`: offering a shift (`offer`) and taking the offer back (`withdraw`).
* `taking`: who may take a shift (`check_taker`, `may_take`), taking it (`take`), handing it
  over (`hand_over`).
* `deciding`: a coordinator approves (`approve`) or declines (`decline`) a taker; how many
  wait (`waiting_for_approval`).
* `expiring`: whether a live offer can still go ahead (`stale_reason`), closing it when it
  cannot (`expire`), and the scheduler's sweep (`expire_due`).
* `rows`: the offer row, loading and locking it and what it names, its audited state changes.
* `telling`: the notices of each event, to whom; `words` (pure): their German texts, the
  labels of the states and of the reasons an offer expired.
"""
