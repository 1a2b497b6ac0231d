"""The web app as each worker process of `hotline serve --workers N` builds it.

uvicorn starts the workers as new processes (spawned, not forked) and builds the app in each from
the import string `app.server:create`: the settings come from the environment, which the parent
`hotline serve` completed (`HOTLINE_PUBLIC_URL`) before it started them. A worker never runs the
scheduler and never migrates: the parent did both (`app.cli._serve_workers`)."""

from __future__ import annotations

import contextlib
import socket

import uvicorn
from starlette.applications import Starlette
from uvicorn.supervisors import Multiprocess

from app.logs import configure_logging
from config.settings import Settings
from web.app import create_app


def create() -> Starlette:
    """uvicorn's app factory (`factory=True`)."""
    configure_logging()
    return create_app(Settings.from_environ())


def listening_socket(config: uvicorn.Config) -> socket.socket:
    """The socket the supervisor binds for its workers, as `uvicorn.run` binds it, but with its
    protocol set. uvicorn leaves it at 0, every accepted connection inherits that, and asyncio
    then never sets TCP_NODELAY (it does so only for IPPROTO_TCP sockets): Nagle's algorithm
    holds a response's body back until the client's delayed ACK of its headers, about 40 ms for
    every request after the first on a keep-alive connection (uvicorn issue 3149; one worker,
    bound by asyncio itself, is not affected)."""
    sock = config.bind_socket()
    if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.proto == 0:
        sock = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
    return sock


def run_workers(config: uvicorn.Config) -> None:
    """`uvicorn.run` with config.workers > 1: the supervisor and its workers, on the socket of
    `listening_socket`."""
    with contextlib.suppress(KeyboardInterrupt):
        Multiprocess(config, sockets=[listening_socket(config)]).run()
