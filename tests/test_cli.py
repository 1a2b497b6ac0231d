"""The `hotline` command, in process and (for serve) as the real program."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.cli import main
from foundation.db import Database, make_engine
from foundation.models import ApiKey, Counsellor, Shift
from tests.helpers import free_port


def count(url: str, model: type[object]) -> int:
    database = Database(make_engine(url))
    try:
        with database.read() as session:
            return session.scalar(select(func.count()).select_from(model)) or 0
    finally:
        database.dispose()


def test_db_upgrade(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert count(env, Shift) == 0


def test_apikey_create_prints_the_key_alone_on_its_last_line(
    env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["apikey", "create", "--name", "rota-script"]) == 0
    last = capsys.readouterr().out.rstrip("\n").splitlines()[-1]
    assert last.startswith("hk_")
    assert " " not in last
    assert len(last) > 40
    assert count(env, ApiKey) == 1


def test_apikey_create_refuses_an_empty_name(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["apikey", "create", "--name", "  "]) == 1
    assert "name" in capsys.readouterr().err
    assert count(env, ApiKey) == 0


def test_demo_loads_once(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    counsellors, shifts = count(env, Counsellor), count(env, Shift)
    assert counsellors >= 8
    assert shifts >= 3 * 28 * 2 - 3 * 2  # primary and backup for each day and team
    assert main(["demo"]) == 1
    assert "already" in capsys.readouterr().err
    assert (count(env, Counsellor), count(env, Shift)) == (counsellors, shifts)


def get(url: str, key: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)  # noqa: S310 - loopback only
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        return response.status, response.read()


def test_quick_start_script_passes_its_arguments_to_serve() -> None:
    """`./scripts/serve --port 8080` once handed "--port" to the installer as extras."""
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        ["bash", str(root / "scripts" / "serve"), "--port", "8080", "--help"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "--port" in done.stdout
    assert "--demo" in done.stdout


def test_serve_demo_answers_health_and_oncall(tmp_path: Path) -> None:
    """What the quick start promises: the service on SQLite under ./var/, demo data, an API key,
    and the on-call counsellor of the islamism team."""
    port = free_port()
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HOTLINE_", "TWILIO_"))
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "hotline", "serve", "--demo", "--port", str(port)],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        output: list[str] = []
        assert process.stdout is not None
        while not any("demo API key" in line for line in output):
            line = process.stdout.readline()
            assert line, f"serve exited early: {process.stderr.read() if process.stderr else ''}"
            output.append(line)
        key = output[-1].rsplit(" ", 1)[-1].strip()
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                status, body = get(f"{base}/healthz")
                break
            except OSError:
                assert time.monotonic() < deadline, "service did not come up"
                time.sleep(0.1)
        assert status == 200
        status, body = get(f"{base}/api/v1/oncall?team=islamism", key)
        on_call = json.loads(body)
        assert status == 200
        assert len(on_call["primary"]) == 1
        assert on_call["primary"][0]["name"]
        assert any("simulation mode" in line for line in output)
        assert any(f"{base}/" in line for line in output)
        # Without HOTLINE_PUBLIC_URL the public URL is the address served (not port 8000).
        assert any(f"Twilio:        {base}/twilio/voice" in line for line in output)
        assert any(f"(fallback: {base}/twilio/fallback)" in line for line in output)
        assert (tmp_path / "var" / "hotline.sqlite3").exists()
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()


def test_simulate_call_walks_the_rota(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    import time_machine

    from tests.conftest import berlin

    with time_machine.travel(berlin(2026, 12, 2, 12), tick=False):
        assert main(["demo"]) == 0
        capsys.readouterr()
        assert main(["simulate", "call", "--line", "islamism"]) == 0
        out = capsys.readouterr().out
        assert "simulated call to Islamismus-Leitung" in out
        assert "whisper" in out
        assert "connected" in out
        assert (
            main(
                [
                    "simulate",
                    "call",
                    "--line",
                    "islamism",
                    "--counsellors",
                    "busy",
                    "--fallback",
                    "busy",
                ]
            )
            == 0
        )
        out = capsys.readouterr().out
        assert "voicemail" in out
        assert "sms (simulated)" in out
        assert "Neue Sprachnachricht" in out
        assert main(["simulate", "call", "--line", "islamism", "--language", "2"]) == 0
        out = capsys.readouterr().out
    assert "say (tr-TR)        Merhaba." in out
    assert "say (de-DE)        Für Deutsch drücken Sie die 1." in out


def test_simulate_unknown_line(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "call", "--line", "nowhere"]) == 2
    assert "known: islamism, right-wing" in capsys.readouterr().err
