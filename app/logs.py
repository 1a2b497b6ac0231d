"""How every process of the service logs: the `hotline` command and each web worker that
`hotline serve --workers N` starts (its own module, so that both can import it without
importing each other)."""

from __future__ import annotations

import logging


def configure_logging() -> None:
    """INFO and up to standard error, for every command and every web worker process."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # The Twilio library logs a dozen INFO lines (URL, headers) per REST call: noise that cost
    # the scheduler a sixth of its time sending reminders (bench/reminders.py).
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)
