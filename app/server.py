"""The web app as each worker process of `hotline serve --workers N` builds it.

uvicorn starts the workers as new processes (spawned, not forked) and builds the app in each from
the import string `app.server:create`: the settings come from the environment, which the parent
`hotline serve` completed (`HOTLINE_PUBLIC_URL`) before it started them. A worker never runs the
scheduler and never migrates: the parent did both (`app.cli._serve_workers`)."""

from __future__ import annotations

from starlette.applications import Starlette

from app.cli import configure_logging
from config.settings import Settings
from web.app import create_app


def create() -> Starlette:
    """uvicorn's app factory (`factory=True`)."""
    configure_logging()
    return create_app(Settings.from_environ())
