"""The tests' real OpenID provider: npm's oidc-provider (tests/oidc/provider.mjs, installed by
./scripts/test with `npm ci --prefix tests/oidc`) in a node process on a loopback port, and a
client that plays the person at its development sign-in and consent pages.

Its people are a JSON file the provider reads at every sign-in (`Provider.people`), so a test
can change someone's claims between two sign-ins."""

from __future__ import annotations

import json
import re
import selectors
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx2 as httpx
import pytest

from tests.helpers import free_port

FOLDER = Path(__file__).with_name("oidc")
START_TIMEOUT = 30  # seconds for node to say "ready" (about 1 s when the machine is quiet)
CLIENT_ID, CLIENT_SECRET = "hotline", "hotline-test-secret"
_FORM = re.compile(r'<form[^>]*action="([^"]+)"[^>]*>.*?name="prompt" value="(\w+)"', re.S)


def skip_without_node() -> None:
    if shutil.which("node") is None:
        pytest.skip("node is not installed (the tests' OpenID provider runs on it)")
    if not (FOLDER / "node_modules" / "oidc-provider").is_dir():
        pytest.skip("tests/oidc/node_modules is missing: run `npm ci --prefix tests/oidc`")


@dataclass
class Provider:
    issuer: str
    accounts: Path

    def people(self, **claims: dict[str, Any]) -> None:
        """Who may sign in, with their claims (a name: its claims; the name is the subject)."""
        self.accounts.write_text(json.dumps(claims), encoding="utf-8")


@contextmanager
def running(tmp: Path, *redirect_uris: str) -> Iterator[Provider]:
    skip_without_node()
    accounts = tmp / "oidc-accounts.json"
    accounts.write_text("{}", encoding="utf-8")
    # Node has been seen to hang at start-up on a loaded machine (its main thread stuck on a
    # lock before it listens, never to recover): wait for "ready" a bounded time, then try a
    # fresh process, rather than waiting for ever on its first line.
    script, redirects = str(FOLDER / "provider.mjs"), ",".join(redirect_uris)
    for _attempt in range(3):
        process = subprocess.Popen(
            ["node", script, str(free_port()), redirects, str(accounts)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert process.stdout is not None
        line = ""
        with selectors.DefaultSelector() as waiting:
            waiting.register(process.stdout, selectors.EVENT_READ)
            if waiting.select(timeout=START_TIMEOUT):
                line = process.stdout.readline()
        if line.startswith("ready "):
            break
        process.kill()
        process.wait(10)
        process.stdout.close()
    else:
        raise AssertionError("the OpenID provider did not start (three tries)")
    try:
        yield Provider(line.split()[1], accounts)
    finally:
        process.terminate()
        process.wait(10)
        process.stdout.close()


def play(person: httpx.Client, url: str, login: str, until: str) -> str:
    """Follow `url` at the provider as `login` would (signing in, consenting) until it sends
    the browser to an address starting with `until`; that address."""
    for _ in range(20):
        if url.startswith(until):
            return url
        response = person.get(url)
        while response.is_redirect:
            url = urljoin(url, response.headers["location"])
            if url.startswith(until):
                return url
            response = person.get(url)
        found = _FORM.search(response.text)
        assert found, response.text[:500]
        action, prompt = found.groups()
        fields = {"prompt": prompt, "login": login, "password": "anything"}
        response = person.post(urljoin(url, action), data=fields)
        assert response.is_redirect, response.text[:500]
        url = urljoin(url, response.headers["location"])
    raise AssertionError("the provider never sent the browser back")
