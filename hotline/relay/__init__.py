"""The text relay: SMS and WhatsApp between clients and the on-call counsellor of a line's team,
always through the line's number, so that neither side sees the other's number.

* **A client writes to a line** (`client_message`). The message joins the client's open
  conversation with the line's team, or opens one with a short code ("K7", `codes`), and is
  relayed to the on-call counsellor (primary, else backup) as "[K7] text" from the line's
  number. Outside the line's hours the client gets the configured neutral answer instead, and
  the message waits in the web page.
* **A counsellor of the team writes to a line** (`counsellor_reply`). That is a reply. A
  leading code ("K7 …", "[K7] …", "#K7 …", `parsing`) picks the conversation; without one, the
  conversation last relayed to this counsellor gets it, and the counsellor is told which — but
  only if it is still open and that relay is recent (`[relay] reply_without_code_hours`). It
  goes to the client from the line's number (WhatsApp: `whatsapp:<line number>`). A code that
  names no open conversation, or a code-less reply that cannot be placed safely, gets an
  explanation and sends nothing. Which of the two a message is: `incoming.staff_sender`.
* **A flood** (`flood_limit`): past the per-client or per-team limit a client's message is
  stored for the page but not relayed, and the counsellor is told once.
* **Delivery** (`delivery`, `states`). Every message we send is a row first (`queued`), sent
  after the webhook has answered (`delivery.deliver`, through the provider the webhook hands
  in), and its outcome recorded.
* **Status callbacks** (`status_callbacks`). The status callback URL names the row and the leg
  (primary, backup, client), and is signed by Twilio like every webhook, so status callbacks
  that repeat or overtake each other are matched without a race against the REST answer.
* **Failover** (`failover`). A relay to the primary that fails (refused, `failed`,
  `undelivered`) goes to the backup once: the row remembers that it failed over, under a row
  lock.

Nothing here logs a number or a message body: log lines name conversations and messages by id.
"""
