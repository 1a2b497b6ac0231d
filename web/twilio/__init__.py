"""Twilio's side of the service, one concern per module: `signature` (the check every request
passes first), `webhook` (the runner of call webhooks: time budget, worker threads, fail-open
recovery), `voice` (the call webhooks), `hotpath` (the incoming call answered from memory),
`sms` (messages and their status callbacks), `outbound_calls` (a call-back through the line).

What a step means is decided in `hotline` (`voice_calls`, `relay`, `outbound_calls`) and how
it sounds in `hotline.twiml`; these modules only speak HTTP.
"""
