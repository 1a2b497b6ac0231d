"""Call-backs through the line: a counsellor calls a client back without either seeing the
other's number.

Twilio first rings the counsellor, from the line's number (REST `Calls.create`); when she
answers, the service's TwiML whispers the line's name and waits for a 1 (a mailbox that answers
presses nothing and is hung up on); on the 1 the client is dialled, again from the line's
number. The target is a callback request, a voicemail that kept the caller's number, or an
appointment with a client phone (`targets`); its number is opened only when the client is
dialled.

* `placing`: starting a call-back (who may, through which line: `lines`) and asking the
  provider to place it; every call-back is a row of `outbound_calls` and an audit entry (who,
  which target, when; never a number).
* `references`: the TwiML URLs carry nothing but a reference, the call-back's id and when it
  was started, signed with HOTLINE_SECRET_KEY. It is good for BRIDGE_WITHIN to reach the
  client, and for FOLLOW_UP to report how the call ended.
* `webhooks`: what each of Twilio's requests during the call means; `states`: the counsellor
  leg's status, which only moves forward.
* `summaries`: the latest call-back of a target, for pages and the API.
"""
