"""The team's task list: callback requests from the web form and voicemails from the voice flow.

* `callback_requests`: the public form's use case, a client's request to be called back, with
  its flood limits.
* `task_list`: both kinds as one list for the team's page, and the dashboard's count.
* `status`: take, done, reopen.
* `voicemail_recordings`: a voicemail's audio stays at Twilio; a counsellor's button deletes it
  there.
* `retention`: the hourly job that deletes what is past its retention.

A callback request holds personal data (a number, perhaps a name and a message): it is stored
encrypted, shown only to the staff of the line's team, and deleted `tasks.retention_days` after
it was done. A voicemail's recording is deleted at Twilio by a counsellor's button or, at the
latest, by the same retention.
"""
