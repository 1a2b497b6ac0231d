"""The composition root: the `hotline` command and the call simulator, which put together
the whole service (web, scheduler, telephony, scheduling) from settings."""
