"""The one failure of reading a calendar."""

from __future__ import annotations


class FetchError(Exception):
    """A calendar could not be read; the message is German, for the counsellor's page."""
