"""Busy times read back from counsellors' own calendars (an ICS URL each), apart from the
feeds we publish (`scheduling.feeds`).

* `calendars`: registering a calendar (the URL, often a secret itself, stored encrypted; only
  its host is shown again) and removing it.
* `fetching`: one GET of a calendar over http(s) only, within one deadline for the whole
  fetch, a size limit and the last ETag, never from a loopback or private address, nor an
  IPv6 one that embeds such an IPv4 address, nor https -> http (SSRF;
  `feeds.external_allow_private` lifts the address check outside production, for tests).
* `parsing` (pure): the body read into busy [start, end) intervals. Recurring events are
  expanded (`recurring-ical-events`) over the feed window series by series, lazily, and
  refused beyond MAX_INTERVALS or when a rule recurs more often than hourly; only intervals
  are kept, never a title. Transparent ("free") and cancelled events are not busy, and neither
  are the events of our own feeds, should a counsellor's calendar hold them.
* `refreshing`: the scheduler's `busy.fetch` job, about every 15 minutes, storing each
  calendar's intervals (the ETag only counts while the stored intervals cover today's
  window). A failure is written to the calendar's row (German, for the counsellor's page) and
  changes nothing else: the intervals of the last good fetch stay.
* `times`: what the stored intervals are used for: `conflicts` and `warning` (booking over a
  busy time warns) and `busy_as_absences` (the rota page).
"""
