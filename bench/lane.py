"""Benchmark: the voice webhook's fast lane in process, per call, against a bare ASGI answer.

    python bench/lane.py [--calls N] [--rounds R] [--against REV]

What `bench/voice.py` cannot show on a shared machine: the CPU our own code spends on one
incoming call the snapshot answers, without HTTP. Builds the rota of bench/voice.py in a
temporary SQLite file once, then in each of R rounds starts one child process per code tree,
in turn. A child builds the app (`web.app.create_app`, its lifespan running), lets the route
answer one call (which keeps the snapshot), and then drives `VoiceLane.__call__` with prepared
ASGI scopes, `receive` and `send` (each call its own CallSid and caller, signed beforehand):
N calls in batches of BATCH, the call records written between two batches, untimed. It then
times a bare ASGI app that sends the same document as a constant (start and body messages,
the same headers) the same way: the floor of any answer, measured in the same process.

* per call: the median over the batches of wall time per call and of the event loop thread's
  CPU time per call (the figure compared: neighbours on a shared machine disturb it least),
  for the lane and for bare;
* each child checks that every call was answered by the lane (none taken to Starlette's route),
  with status 200 and a `<Dial>`, and prints a digest of the answer (status, headers, body
  with the instants in its URLs blanked);
* `--against REV`: the same children also run the code of git revision REV (exported with
  `git archive` into the temporary directory), alternating with the working tree, and the
  digests must be equal: the same answer, byte for byte, from the old and the new code.

See bench/README.md for figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
BATCH = 500
PUBLIC_URL = "http://127.0.0.1:8000"
PATH = "/twilio/voice"
LINE = "islamism"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--calls", type=int, default=20_000, help="timed calls per child (20000)")
    parser.add_argument("--rounds", type=int, default=3, help="children per code tree (3)")
    parser.add_argument("--against", metavar="REV", help="also time git revision REV, alternating")
    parser.add_argument(
        "--child", nargs=3, metavar=("TREE", "DB", "CONFIG"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.child:
        tree, db, config = args.child
        print(json.dumps(child(Path(tree), db, config, args.calls)))
        return 0
    if args.calls < BATCH or args.rounds < 1:
        parser.error(f"--calls must be at least {BATCH}, --rounds at least 1")
    sys.path.insert(0, str(ROOT))
    from datetime import UTC, datetime

    from bench.voice import config_for_run, populate
    from config.model import load_config
    from foundation.db import Database, make_engine

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        config_path, note = config_for_run(workdir, 600)
        url = f"sqlite:///{workdir / 'lane.sqlite3'}"
        db = Database(make_engine(url))
        populate(db, load_config(config_path), datetime.now(UTC))
        db.dispose()
        trees = {"working tree": ROOT}
        if args.against:
            trees = {args.against: export(args.against, workdir / "against"), **trees}
        print(f"{note}; {args.calls} calls per child in batches of {BATCH}, {args.rounds} rounds")
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
        for round_ in range(1, args.rounds + 1):
            for name, tree in trees.items():
                command = [
                    sys.executable, str(Path(__file__).resolve()), "--calls", str(args.calls),
                    "--child", str(tree), url, str(config_path or ""),
                ]  # fmt: skip
                done = subprocess.run(
                    command, cwd=tree, capture_output=True, text=True, check=False,
                    env=os.environ | {"PYTHONPATH": str(tree)},
                )  # fmt: skip
                if done.returncode != 0:
                    raise SystemExit(f"{name}: the child failed:\n{done.stdout}\n{done.stderr}")
                result = json.loads(done.stdout.strip().splitlines()[-1])
                runs[name].append(result)
                print(
                    f"round {round_} {name:>14}: lane {result['lane_us']:6.1f} us/call "
                    f"(CPU {result['lane_cpu_us']:5.1f}), bare {result['bare_us']:4.1f} us "
                    f"(CPU {result['bare_cpu_us']:4.1f}), "
                    f"CPU lane/bare {result['lane_cpu_us'] / result['bare_cpu_us']:5.1f}; "
                    f"answer {result['digest'][:12]} ({result['body_bytes']} bytes); "
                    f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
                )
    report(runs)
    return 0


def export(revision: str, into: Path) -> Path:
    """The files of `revision` in `into` (no checkout, no worktree: `git archive`)."""
    into.mkdir()
    archive = subprocess.run(
        ["git", "archive", "--format=tar", revision], cwd=ROOT, capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def report(runs: dict[str, list[dict[str, Any]]]) -> None:
    print()
    medians = {}
    for name, results in runs.items():
        lane = statistics.median(r["lane_us"] for r in results)
        cpu = statistics.median(r["lane_cpu_us"] for r in results)
        bare = statistics.median(r["bare_us"] for r in results)
        bare_cpu = statistics.median(r["bare_cpu_us"] for r in results)
        medians[name] = cpu
        print(
            f"{name:>14}: lane {lane:6.1f} us/call (CPU {cpu:5.1f}), bare {bare:4.1f} us "
            f"(CPU {bare_cpu:4.1f}), CPU lane/bare {cpu / bare_cpu:5.1f} "
            f"(medians over {len(results)} rounds)"
        )
    digests = {r["digest"] for results in runs.values() for r in results}
    if len(runs) == 2:
        old, new = runs
        print(f"  {new} / {old}: {medians[new] / medians[old]:.3f} of the CPU time per call")
        print(f"  the same answer from both: {'yes' if len(digests) == 1 else 'NO'}")
    if len(digests) != 1:
        raise SystemExit(f"answers differ between runs: {sorted(digests)}")


# --- a child: one code tree, in its own process ----------------------------------------------


def child(tree: Path, db_url: str, config_path: str, calls: int) -> dict[str, Any]:
    sys.path.insert(0, str(tree))
    from starlette.testclient import TestClient

    import web.app
    from config.model import load_config
    from config.settings import DEVELOPMENT_AUTH_TOKEN, Settings
    from foundation.db import Database, make_engine

    if not Path(web.app.__file__ or "").is_relative_to(tree):
        raise SystemExit(f"imported {web.app.__file__}, not the code of {tree}")
    config = load_config(config_path or None)
    settings = Settings(config=config, database_url=db_url, public_url=PUBLIC_URL)
    db = Database(make_engine(db_url))
    app = web.app.create_app(settings, database=db)
    to = str(config.lines[LINE].number)
    prepared = [prepare(DEVELOPMENT_AUTH_TOKEN, to) for _ in range(min(calls, 5_000))]
    with TestClient(app) as client:
        assert client.portal is not None
        lane = app.lane  # type: ignore[attr-defined]
        routed: list[str] = []
        route = lane.route

        async def counting(scope: Any, receive: Any, send: Any) -> None:
            routed.append(scope["path"])
            await route(scope, receive, send)

        lane.route = counting
        first = client.portal.call(drive, app, prepared[:1], 1)  # the route keeps the snapshot
        if routed != [PATH] or first.status != 200:
            raise SystemExit(f"the first call: routed {routed}, status {first.status}")
        routed.clear()
        sample = client.portal.call(drive, app, prepared[1:2], 1)
        lane_us, lane_cpu, answered = [], [], 0
        for start in range(0, calls, BATCH):
            batch = client.portal.call(drive, app, prepared, BATCH, start)
            lane_us.append(batch.wall / BATCH * 1e6)
            lane_cpu.append(batch.cpu / BATCH * 1e6)
            answered += batch.dialled
            app.state.recorder.flush()  # untimed: the flusher's work, not the request's
            client.portal.call(_pause)
        if routed or answered != len(lane_us) * BATCH:
            raise SystemExit(f"{len(routed)} calls took the route, {answered} were answered")
        bare = Bare(sample.start, sample.body)
        bare_us, bare_cpu = [], []
        for start in range(0, calls, BATCH):
            batch = client.portal.call(drive, bare, prepared, BATCH, start)
            bare_us.append(batch.wall / BATCH * 1e6)
            bare_cpu.append(batch.cpu / BATCH * 1e6)
    return {
        "lane_us": statistics.median(lane_us),
        "lane_cpu_us": statistics.median(lane_cpu),
        "bare_us": statistics.median(bare_us),
        "bare_cpu_us": statistics.median(bare_cpu),
        "digest": sample.digest(),
        "body_bytes": len(sample.body),
    }


def prepare(token: str, to: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """An incoming call as Twilio sends it (bench/voice.py's parameters): its ASGI scope and
    its body's message."""
    from twilio.request_validator import RequestValidator

    caller = f"+49170{secrets.randbelow(10**7):07d}"
    params = {
        "AccountSid": "AC" + "0" * 32,
        "ApiVersion": "2010-04-01",
        "CallSid": f"CA{secrets.token_hex(16)}",
        "CallStatus": "ringing",
        "Called": to,
        "CalledCountry": "DE",
        "Caller": caller,
        "CallerCountry": "DE",
        "Direction": "inbound",
        "From": caller,
        "FromCountry": "DE",
        "To": to,
        "ToCountry": "DE",
    }
    signature = str(RequestValidator(token).compute_signature(PUBLIC_URL + PATH, params))
    body = urlencode(params).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": "POST",
        "root_path": "",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"x-twilio-signature", signature.encode()),
            (b"content-length", str(len(body)).encode()),
        ],
        "state": {},
    }
    return scope, {"type": "http.request", "body": body, "more_body": False}


class Batch:
    def __init__(self) -> None:
        self.wall = self.cpu = 0.0
        self.dialled = 0
        self.status = 0
        self.start: dict[str, Any] = {}
        self.body = b""

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.start = message
            self.status = message["status"]
        elif message["type"] == "http.response.body":
            self.body = message.get("body", b"")
            if self.status == 200 and b"<Dial" in self.body:
                self.dialled += 1

    def digest(self) -> str:
        headers = [(k.decode(), v.decode()) for k, v in self.start.get("headers", ())]
        body = re.sub(rb"t=\d+", b"t=", self.body)  # the snapshot's instant, in its URLs
        return hashlib.sha256(repr((self.status, headers, body)).encode()).hexdigest()


async def drive(
    app: Any, prepared: list[tuple[dict[str, Any], dict[str, Any]]], count: int, start: int = 0
) -> Batch:
    """`count` calls to `app` in a row, from `prepared[start]` on (cycling): one batch."""
    batch = Batch()
    send = batch.send
    calls = [prepared[(start + i) % len(prepared)] for i in range(count)]
    began_cpu, began = time.thread_time(), time.perf_counter()
    for scope, message in calls:

        async def receive(message: dict[str, Any] = message) -> dict[str, Any]:
            return message

        await app(dict(scope), receive, send)
    batch.wall, batch.cpu = time.perf_counter() - began, time.thread_time() - began_cpu
    return batch


async def _pause() -> None:
    import anyio

    await anyio.sleep(0.002)  # the app's own tasks (a snapshot's refresh) get their turn


class Bare:
    """The floor: an ASGI app sending a constant answer (the lane's own, headers and body)."""

    def __init__(self, start: dict[str, Any], body: bytes) -> None:
        self.start = {"type": "http.response.start", "status": 200, "headers": start["headers"]}
        self.body = {"type": "http.response.body", "body": body}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send(self.start)
        await send(self.body)


if __name__ == "__main__":
    sys.exit(main())
