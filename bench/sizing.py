"""Sizing: the memory one web process holds, idle and after load, against a bare uvicorn app.

    python bench/sizing.py [--requests N] [--threads T]

Loads the demo data into a SQLite file in a temporary directory (`hotline demo`, with an admin
and an API key), then starts `hotline serve --no-scheduler` on it as its own process (the
shipped configuration, simulation mode: a production web process, on SQLite), and reads its
resident set size (VmRSS of /proc/PID/status) and its peak (VmHWM):

* idle: 3 s after it answers /healthz (the peak: that of the start, migrations checked);
* signed in: T clients (default 8) sign in as an admin at the same moment (argon2id, whose
  64 MiB per check is the peak);
* loaded: right after N requests (default 3,000) from those T clients: incoming-call webhooks
  (signed, each its own call, through the rota), the JSON API (who is on call, counsellors,
  shifts) with an API key, and the admin's pages (dashboard, rota, counsellors, appointments,
  tasks, calendar), in turn; the peak is the load's;
* settled: 3 s after the load.

The baseline, measured in the same run the same way: a bare Starlette app on uvicorn with one
route, loaded with as many GET requests (its clients sign in to nothing). The ratio is ours /
bare. Linux only (/proc). See bench/README.md for figures.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.voice import PATH as VOICE  # noqa: E402
from bench.voice import config_for_run, signed_requests  # noqa: E402
from config.model import load_config  # noqa: E402
from tests.helpers import free_port  # noqa: E402

SETTLE = 3.0  # seconds before reading an "idle" or "settled" figure
PAGES = ("/", "/rota/islamism", "/counsellors", "/appointments", "/tasks", "/calendar")
API = ("/api/v1/oncall?team=islamism", "/api/v1/counsellors", "/api/v1/shifts?team=islamism")
BARE = """
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

async def ok(request):
    return PlainTextResponse("ok")

uvicorn.run(Starlette(routes=[Route("/", ok)]), host="127.0.0.1", port={port},
            log_level="warning", access_log=False)
"""


@dataclass
class Memory:
    rss: int  # KiB, now
    peak: int  # KiB, the most since the start or the last reset_peak


def memory(pid: int) -> Memory:
    """VmRSS and VmHWM of a process."""
    status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    found = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", status, re.M))
    return Memory(int(found["VmRSS"]), int(found["VmHWM"]))


def reset_peak(pid: int) -> None:
    """VmHWM back to the current RSS (Linux 4.0+), so the next peak is of what follows."""
    Path(f"/proc/{pid}/clear_refs").write_text("5", encoding="ascii")


@dataclass
class Figures:
    idle: Memory  # after start; its peak is the start's
    prepared: Memory  # the clients signed in (all at once); its peak is theirs
    loaded: Memory  # right after the load; its peak is the load's
    settled: Memory
    requests: int
    seconds: float


class Client:
    """One keep-alive connection; remembers cookies itself (the service's are `__Host-` and
    Secure, which http.cookiejar keeps for https only)."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, path: str, body: str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        sent = dict(headers or {})
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
        try:
            self.connection.request(method, path, body=body, headers=sent)
            response = self.connection.getresponse()
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            # uvicorn closed the idle connection (keep-alive 5 s) before this request was read
            self.connection.close()
            self.connection.request(method, path, body=body, headers=sent)
            response = self.connection.getresponse()
        text = response.read().decode("utf-8", "replace")
        for value in response.headers.get_all("set-cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, text

    def sign_in(self, username: str, password: str) -> None:
        _, page = self.request("GET", "/login")
        found = re.search(r'name="csrf" value="([^"]+)"', page)
        assert found, "no csrf field on the sign-in page"
        form = {"csrf": found.group(1), "username": username, "password": password}
        status, _ = self.request("POST", "/login", urlencode(form))
        assert status == 303, f"sign-in answered {status}"
        status, _ = self.request("GET", "/")
        assert status == 200, f"the dashboard answered {status} after signing in"


def load(
    child: subprocess.Popen[str],
    port: int,
    count: int,
    threads: int,
    make: Callable[[Client], Callable[[int], None]],
) -> Figures:
    """Memory idle; `threads` clients prepared at once (`make` signs one in, say, and returns
    what its request i sends): memory then; `count` requests shared among them: memory after,
    and again once settled."""
    time.sleep(SETTLE)
    idle = memory(child.pid)
    reset_peak(child.pid)
    share = [count // threads + (1 if t < count % threads else 0) for t in range(threads)]
    ready = threading.Barrier(threads + 1)
    go = threading.Barrier(threads + 1)
    failures: list[BaseException] = []

    def work(n: int) -> None:
        send: Callable[[int], None] | None = None
        try:
            send = make(Client(port))
        except BaseException as exc:  # reported after the join
            failures.append(exc)
        ready.wait()
        go.wait()
        if send is None:
            return
        try:
            for i in range(n):
                send(i)
        except BaseException as exc:
            failures.append(exc)

    workers = [threading.Thread(target=work, args=(n,)) for n in share]
    for worker in workers:
        worker.start()
    ready.wait()
    prepared = memory(child.pid)
    reset_peak(child.pid)
    started = time.monotonic()
    go.wait()
    for worker in workers:
        worker.join()
    seconds = time.monotonic() - started
    if failures:
        raise failures[0]
    loaded = memory(child.pid)
    time.sleep(SETTLE)
    return Figures(idle, prepared, loaded, memory(child.pid), count, seconds)


@contextmanager
def process(
    command: list[str], env: dict[str, str], cwd: Path, port: int
) -> Iterator[subprocess.Popen[str]]:
    """The server, until it answers on `port`; stopped with SIGTERM (then SIGKILL) afterwards."""
    child = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            if child.poll() is not None:
                output = child.stdout.read() if child.stdout else ""
                raise SystemExit(f"{command[2:4]} exited:\n{output}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                connection.request("GET", "/healthz" if "hotline" in command else "/")
                connection.getresponse().read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("no server after 120 s") from None
                time.sleep(0.1)
        yield child
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        if child.stdout:
            child.stdout.close()


def prepare(workdir: Path, env: dict[str, str]) -> tuple[str, str]:
    """The demo data, an API key and an admin, made by the `hotline` command before the server
    starts (so its peak is its own: a production web process loads no demo). (key, password)"""
    password = secrets.token_urlsafe(12)

    def hotline(*argv: str, stdin: str = "") -> str:
        done = subprocess.run(
            [sys.executable, "-m", "hotline", *argv],
            cwd=workdir, env=env, input=stdin, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"hotline {argv[0]}: {done.stderr}")
        return done.stdout

    hotline("demo")
    hotline("user", "add", "--username", "sizing", "--password-stdin", stdin=password + "\n")
    key = hotline("apikey", "create", "--name", "sizing").splitlines()[-1]
    return key, password


def ours(workdir: Path, count: int, threads: int) -> Figures:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "TWILIO_"))}
    env["HOTLINE_DATABASE_URL"] = f"sqlite:///{workdir / 'hotline.sqlite3'}"
    config, note = config_for_run(workdir, 120)
    if config is not None:
        env["HOTLINE_CONFIG"] = str(config)
    print(f"ours: {note}")
    env |= {"PYTHONPATH": str(ROOT)}
    key, password = prepare(workdir, env)
    command = [sys.executable, "-m", "hotline", "serve", "--no-scheduler", "--port", str(port)]
    with process(command, env, workdir, port) as child:
        assert child.stdout is not None
        threading.Thread(target=child.stdout.read, daemon=True).start()  # keep the pipe drained
        line = load_config(str(config) if config else None).lines["islamism"]
        calls = signed_requests(f"http://127.0.0.1:{port}", line.number, count // 3 + 1)
        numbers = itertools.count()  # each call its own CallSid, across the threads

        def make(client: Client) -> Callable[[int], None]:
            client.sign_in("sizing", password)
            bearer = {"Authorization": f"Bearer {key}"}

            def send(i: int) -> None:
                kind = i % 3
                if kind == 0:
                    signature, body = calls[next(numbers) % len(calls)]
                    headers = {"X-Twilio-Signature": signature}
                    status, _ = client.request("POST", VOICE, body, headers)
                elif kind == 1:
                    status, _ = client.request("GET", API[i % len(API)], headers=bearer)
                else:
                    status, _ = client.request("GET", PAGES[i % len(PAGES)])
                assert status == 200, f"{status} for request {i}"

            return send

        return load(child, port, count, threads, make)


def bare(workdir: Path, count: int, threads: int) -> Figures:
    port = free_port()
    command = [sys.executable, "-c", BARE.replace("{port}", str(port))]
    with process(command, dict(os.environ), workdir, port) as child:

        def make(client: Client) -> Callable[[int], None]:
            def send(i: int) -> None:
                status, _ = client.request("GET", "/")
                assert status == 200, f"{status} for request {i}"

            return send

        return load(child, port, count, threads, make)


def report(results: dict[str, Figures]) -> None:
    def mib(kib: int) -> str:
        return f"{kib / 1024:.1f}"

    print("MiB      idle (start peak)  signed in (peak)  loaded (peak)  settled   req/s")
    for name, f in results.items():
        print(
            f"{name:8} {mib(f.idle.rss):>6} ({mib(f.idle.peak):>6})   "
            f"{mib(f.prepared.rss):>6} ({mib(f.prepared.peak):>6})  "
            f"{mib(f.loaded.rss):>6} ({mib(f.loaded.peak):>6}) {mib(f.settled.rss):>8} "
            f"{f.requests / f.seconds:7.0f}"
        )
    ours, bare = results["ours"], results["bare"]
    ratios = {
        "idle": ours.idle.rss / bare.idle.rss,
        "settled": ours.settled.rss / bare.settled.rss,
        "load peak": ours.loaded.peak / bare.loaded.peak,
    }
    print("ours/bare RSS: " + ", ".join(f"{when} {value:.2f}×" for when, value in ratios.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    if not 1 <= args.threads <= 64 or not 1 <= args.requests <= 100_000:
        parser.error("--threads 1..64, --requests 1..100000")
    with tempfile.TemporaryDirectory(prefix="hotline-sizing-") as temporary:
        workdir = Path(temporary)
        results = {
            "ours": ours(workdir, args.requests, args.threads),
            "bare": bare(workdir, args.requests, args.threads),
        }
    report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
