"""Issue 16's additions attacked from outside (review attack16): the fallback host's
signatures, the routed fallback under hostile input and a failing database, /metrics and
/readyz, `hotline backup`, `hotline twilio`, `serve --workers`, the rota signal."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
import time_machine
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from app.cli import MAX_WORKERS_PER_CORE, main
from config.model import SHIPPED, load_config
from config.settings import Settings
from foundation.db import Database
from hotline import voice_calls
from tests.conftest import berlin
from tests.helpers import TWILIO_SID, TWILIO_TOKEN, post_signed
from web.app import create_app
from web.twilio import signature as signature_module
from web.twilio.signature import MAX_BODY, valid_signature
from web.twilio.voice import FALLBACK_BUDGET_SECONDS

PRIMARY, FALLBACK = "https://a.hotline.example", "https://b.hotline.example"
CONFIG = load_config(SHIPPED)
ISLAMISM = CONFIG.lines["islamism"].number
RIGHT_WING = CONFIG.lines["right-wing"].number
WEDNESDAY_NOON = berlin(2026, 12, 2, 12)  # within service hours


def test_nothing_mis_signed_passes_on_the_fallback_host(
    settings: Settings, database: Database
) -> None:
    settings = replace(settings, public_url=PRIMARY, fallback_public_url=FALLBACK)
    call = {"CallSid": "CA" + "7" * 32, "To": ISLAMISM, "From": "anonymous"}
    sms = {"MessageSid": "SM" + "7" * 32, "To": ISLAMISM, "From": "+4917612345678", "Body": "x"}
    with TestClient(create_app(settings, database=database)) as client:
        refused = [
            # signed for one path, sent to another
            (FALLBACK + "/twilio/fallback", "/twilio/sms", sms),
            (FALLBACK + "/twilio/sms", "/twilio/fallback", call),
            (FALLBACK + "/twilio/fallback", "/twilio/voice", call),
            (FALLBACK + "/twilio/voice", "/twilio/voice", call),
            (FALLBACK + "/twilio/voice/dialed", "/twilio/voice/dialed", call),
            # another scheme, port, a trailing slash, a prefix
            ("http://b.hotline.example/twilio/fallback", "/twilio/fallback", call),
            ("https://b.hotline.example:8443/twilio/fallback", "/twilio/fallback", call),
            (FALLBACK + "//twilio/fallback", "/twilio/fallback", call),
            (FALLBACK + "/twilio/fallback/", "/twilio/fallback", call),
            ("https://b.hotline.example.evil/twilio/fallback", "/twilio/fallback", call),
            ("https://testserver/twilio/fallback", "/twilio/fallback", call),
            ("http://testserver/twilio/fallback", "/twilio/fallback", call),
            # a query signed but not sent, or sent but not signed
            (FALLBACK + "/twilio/fallback?line=islamism", "/twilio/fallback", call),
            (FALLBACK + "/twilio/fallback", "/twilio/fallback?line=right-wing", call),
        ]
        for url, path, params in refused:
            response = post_signed(client, settings, url, params, path=path)
            assert response.status_code == 403, (url, path)
        # Port 443 spelled out is Twilio's own inconsistency, accepted on purpose.
        ok = post_signed(
            client,
            settings,
            "https://b.hotline.example:443/twilio/fallback",
            call,
            path="/twilio/fallback",
        )
        assert ok.status_code == 200
        # A body altered after signing: a value changed, a parameter added or removed.
        validator = RequestValidator(settings.webhook_tokens()[0])
        signature = validator.compute_signature(FALLBACK + "/twilio/fallback", call)
        for body in (
            call | {"To": RIGHT_WING},
            call | {"Extra": "1"},
            {k: v for k, v in call.items() if k != "From"},
            {},
        ):
            response = client.post(
                "/twilio/fallback", data=body, headers={"X-Twilio-Signature": signature}
            )
            assert response.status_code == 403, body
        for raw in (b"\xff\xfe", b"CallSid=CA&CallSid=CB"):
            response = client.post(
                "/twilio/fallback",
                content=raw,
                headers={
                    "X-Twilio-Signature": signature,
                    "Content-Type": "application/x-www-form-urlencoded",
                },
            )
            assert response.status_code == 403, raw
        for host in ("b.hotline.example", "a.hotline.example", "evil.example"):
            response = client.post(
                "/twilio/fallback",
                data=call | {"To": RIGHT_WING},
                headers={
                    "X-Twilio-Signature": signature,
                    "Host": host,
                    "X-Forwarded-Host": "b.hotline.example",
                    "X-Forwarded-Proto": "https",
                },
            )
            assert response.status_code == 403, host


def test_a_forged_signature_over_many_tiny_parameters_is_refused_cheaply(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Finding: the signature is checked on the event loop, and twilio's RequestValidator
    concatenates the parameters quadratically: a 32 KiB body of ~6,000 empty parameters with
    any signature took ~45 ms per token and URL (x2 on the fallback paths, x2 while rotating),
    so a few unsigned requests a second stalled every call. The check must stay linear."""
    raw = "&".join(f"{i:x}=" for i in range(20_000))[:MAX_BODY]
    params = dict(parse_qsl(raw, keep_blank_values=True))
    tokens = ("token-one", "token-two")
    # Not timed (speed is the benchmarks' business): the parameters are joined once per check,
    # whatever the number of tokens and URL variants (each of those is one HMAC).
    joined = []
    real = signature_module._signed_params

    def counting(values: dict[str, str]) -> str:
        joined.append(len(values))
        return real(values)

    monkeypatch.setattr(signature_module, "_signed_params", counting)
    assert not valid_signature(tokens, PRIMARY + "/twilio/fallback", params, "A" * 28)
    assert joined == [len(params)]
    # and the answer is Twilio's own: a request signed with the second token passes
    url = PRIMARY + "/twilio/fallback"
    good = RequestValidator(tokens[1]).compute_signature(url, params)
    assert valid_signature(tokens, url, params, good)


def test_a_flood_of_parameters_is_refused_before_it_is_parsed(
    settings: Settings, database: Database
) -> None:
    """Finding: parsing is on the event loop too, and parse_qsl takes ~40 ms for a 32 KiB
    body of 11,000 empty parameters: unsigned, such requests stalled every call. Twilio sends
    a few dozen parameters; a body with more than MAX_PARAMS is refused unread (413)."""
    flood = "&".join(["a="] * 11_000)[:MAX_BODY]
    with TestClient(create_app(settings, database=database)) as client:
        for path in ("/twilio/fallback", "/twilio/voice", "/twilio/sms"):
            for _ in range(3):
                response = client.post(
                    path,
                    content=flood,
                    headers={
                        "X-Twilio-Signature": "A" * 28,
                        "Content-Type": "application/x-www-form-urlencoded",
                    },
                )
                assert response.status_code == 413, path


def test_hostile_or_slow_fallback_requests_are_answered_with_twiml(
    settings: Settings, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/twilio/fallback, routed (this host's own public URL), fails open: whatever the signed
    parameters, the query, or a database that hangs, a 200 with TwiML that dials someone."""
    sid = "CA" + "8" * 32
    hostile: list[tuple[str, dict[str, str]]] = [
        ("", {}),
        ("", {"CallSid": sid}),
        ("", {"CallSid": "C" * 20_000, "To": ISLAMISM, "From": "+4917612345678"}),
        ("", {"CallSid": sid, "To": "9" * 20_000, "From": "\x00\x1b[2J" * 1000}),
        ("", {"CallSid": "\x00\r\n<Hangup/>", "To": ISLAMISM + "\x00", "From": "<&>"}),
        ("", {"CallSid": sid, "To": "+19999999999", "From": "anonymous"}),
        ("?line=../../etc&t=abc&step=-1&rel=x", {"CallSid": sid, "To": ISLAMISM}),
        ("?line=islamism&line=right-wing", {"CallSid": sid, "To": "x"}),
    ]
    with (
        TestClient(create_app(settings, database=database)) as client,
        time_machine.travel(WEDNESDAY_NOON, tick=False),
    ):
        for query, params in hostile:
            url = settings.public_url + "/twilio/fallback" + query
            response = post_signed(client, settings, url, params, path="/twilio/fallback" + query)
            assert response.status_code == 200, (query, list(params))
            assert response.headers["content-type"].startswith("application/xml")
            assert "<Dial" in response.text, response.text
            assert "<Hangup/>" not in response.text

        if database.engine.dialect.name != "sqlite":
            return  # the budget is the same on either backend: timed once

        def hangs(*_args: object, **_kwargs: object) -> None:
            time.sleep(3)

        monkeypatch.setattr(voice_calls, "open_call", hangs)
        started = time.perf_counter()
        # A line no request above answered: no snapshot, the slow path.
        params = {"CallSid": "CA" + "9" * 32, "To": RIGHT_WING, "From": "anonymous"}
        url = settings.public_url + "/twilio/fallback"
        response = post_signed(client, settings, url, params, path="/twilio/fallback")
        assert response.status_code == 200
        assert "<Dial" in response.text
        spent = time.perf_counter() - started
        # well inside the 15 s Twilio waits (a loaded machine may add a little to the budget)
        assert FALLBACK_BUDGET_SECONDS - 0.1 < spent < FALLBACK_BUDGET_SECONDS + 3


def test_made_up_http_methods_do_not_grow_the_metrics(
    settings: Settings, database: Database
) -> None:
    """Finding: requests were counted by their method as sent: anyone could add a series to
    hotline_http_requests_total (kept in memory, and in every scrape) with every request
    (`XKCD1 /`, `XKCD2 /`, ...). Methods outside HTTP's own count as one label, "other"."""
    with TestClient(create_app(settings, database=database)) as client:
        for n in range(50):
            client.request(f"X{n:03d}", "/healthz")
        client.get("/healthz")
        text = client.get("/metrics").text
    methods = set(re.findall(r'hotline_http_requests_total\{method="([^"]*)"', text))
    assert methods <= {"GET", "POST", "other"}, methods
    assert 'method="other"' in text


def test_backup_over_symlinks_and_the_databases_own_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A symlink at PATH is replaced, never followed (--force over one to another file leaves
    that file alone); the database itself is refused, and (finding) so are the files SQLite
    keeps beside it: --force onto `-wal` swapped the write-ahead log of the running service
    for a database file, losing what it held."""
    live = tmp_path / "live.sqlite3"
    monkeypatch.setenv("HOTLINE_DATABASE_URL", f"sqlite:///{live}")
    monkeypatch.delenv("HOTLINE_CONFIG", raising=False)
    assert main(["db", "upgrade"]) == 0
    victim = tmp_path / "passwd"
    victim.write_text("root:x:0:0\n", encoding="utf-8")
    link = tmp_path / "copy.sqlite3"
    link.symlink_to(victim)
    assert main(["backup", str(link)]) == 1  # exists
    assert main(["backup", "--force", str(link)]) == 0
    assert victim.read_text(encoding="utf-8") == "root:x:0:0\n"
    assert not link.is_symlink()
    assert link.stat().st_mode & 0o777 == 0o600
    to_live = tmp_path / "to-live.sqlite3"
    to_live.symlink_to(live)
    writer = sqlite3.connect(live)  # the service, its write-ahead log open
    try:
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute("CREATE TABLE kept (x)")
        writer.commit()
        capsys.readouterr()
        for target in (to_live, live, Path(f"{live}-wal"), Path(f"{live}-shm")):
            before = target.read_bytes()
            assert main(["backup", "--force", str(target)]) == 1, target
            assert "the database" in capsys.readouterr().err
            assert target.read_bytes() == before, target
    finally:
        writer.close()


class _Hostile(BaseHTTPRequestHandler):
    """A Twilio API that answers every request with `answer` (the class attribute)."""

    answer: object = None
    seen: list[str] = []  # noqa: RUF012 - one test's record, reset by it

    def log_message(self, *_args: object) -> None:
        pass

    def _reply(self) -> None:
        self.seen.append(f"{self.command} {self.path}")
        answer = type(self).answer  # (a function as it is, not bound)
        if callable(answer):
            answer = answer(self.server.server_address[1])
        data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _reply


def _page(numbers: object, next_page: str | None = None) -> dict[str, object]:
    meta = {"key": "incoming_phone_numbers", "next_page_url": next_page}
    return {"incoming_phone_numbers": numbers, "meta": meta}


def _itself(port: int) -> dict[str, object]:
    """An empty page whose next page is itself, for ever."""
    url = f"http://127.0.0.1:{port}/2010-04-01/Accounts/{TWILIO_SID}/IncomingPhoneNumbers.json"
    return _page([], f"{url}?Page=1")


def test_hostile_twilio_answers_are_clear_errors(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Finding: `hotline twilio check/configure` trusted Twilio's answers: one that was not
    JSON, or JSON of the wrong shape, ended in a traceback; pages that named a next page for
    ever were followed for ever; and a number's SID went into the URL of the update unchecked
    ("../../x" updated another resource). Each is now a clear error, exit 1, nothing set."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    for name in ("HOTLINE_CONFIG", "HOTLINE_FALLBACK_PUBLIC_URL", "HOTLINE_MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", TWILIO_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TWILIO_TOKEN)
    monkeypatch.setenv("HOTLINE_TWILIO_API_URL", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("HOTLINE_PUBLIC_URL", PRIMARY)
    wrong = {"sid": "PN" + "1" * 32, "phone_number": ISLAMISM, "voice_url": ["x"], "sms_url": {}}
    try:
        for answer in (
            b"<html>a captive portal</html>",
            _page("abc"),
            _page([5, None]),
            _page({"sid": 1}),
            _itself,
            _page([{"sid": "../../../evil?x=", "phone_number": ISLAMISM}]),
            _page([{"sid": None, "phone_number": ISLAMISM}]),
            _page([wrong | {"sid": "PN" + "1" * 31 + "/"}]),
        ):
            _Hostile.answer, _Hostile.seen = answer, []
            started = time.monotonic()
            status = main(["twilio", "configure"])
            out, err = capsys.readouterr()
            assert status == 1, (answer, out, err)
            assert "hotline twilio configure: " in err, err
            assert "Traceback" not in err, err[-1500:]
            assert time.monotonic() - started < 10
            assert not [request for request in _Hostile.seen if request.startswith("POST")]
        # Values of the wrong type are only shown, as what differs.
        _Hostile.answer = _page([wrong])
        assert main(["twilio", "check"]) == 1
        assert "VoiceUrl is \"['x']\", needs" in capsys.readouterr().out
    finally:
        server.shutdown()
        server.server_close()


def test_serve_refuses_hostile_worker_counts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Finding: `--workers 1000000000` on PostgreSQL started processes until the machine or
    the database's connections gave out. More than MAX_WORKERS_PER_CORE a core is refused
    (exit 2) before anything starts; 0, -1 and "abc" were refused already."""
    # Port 1: were it to connect or start anything, it would fail otherwise.
    monkeypatch.setenv("HOTLINE_DATABASE_URL", "postgresql+psycopg://hotline@127.0.0.1:1/hotline")
    monkeypatch.delenv("HOTLINE_CONFIG", raising=False)
    for count in ("0", "-1", str(10**9), str(MAX_WORKERS_PER_CORE * (os.cpu_count() or 1) + 1)):
        assert main(["serve", "--workers", count]) == 2, count
        assert "--workers" in capsys.readouterr().err, count
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--workers", "abc"])
    assert exited.value.code == 2
