"""The tests' real OpenID provider: npm's oidc-provider (tests/oidc/provider.mjs, installed by
./scripts/test with `npm ci --prefix tests/oidc`) in a node process on a loopback port, and a
client that plays the person at its development sign-in and consent pages.

Its people are a JSON file the provider reads at every sign-in (`Provider.people`), so a test
can change someone's claims between two sign-ins."""

from __future__ import annotations

import json
import re
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
    port = free_port()
    accounts = tmp / "oidc-accounts.json"
    accounts.write_text("{}", encoding="utf-8")
    process = subprocess.Popen(
        ["node", str(FOLDER / "provider.mjs"), str(port), ",".join(redirect_uris), str(accounts)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("ready "), "the OpenID provider did not start"
        yield Provider(line.split()[1], accounts)
    finally:
        process.terminate()
        process.wait(10)
        if process.stdout is not None:
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
