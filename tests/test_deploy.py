"""The deployment files in deploy/: the systemd units pass `systemd-analyze verify` (and a broken
one does not), their hardening keeps systemd's exposure score low, and the environment file
example names every variable the service reads, with its secrets left empty."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from config.settings import ENVIRONMENT
from tests import fake_smtp

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNITS = DEPLOY / "systemd"
INSTALLED = "/opt/hotline/bin/hotline"  # where the units expect the command
# What to verify: the template as one of its instances, the scheduler, the target.
NAMES = ("hotline-web@8001.service", "hotline-scheduler.service", "hotline.target")
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed"
)


def installed(tmp_path: Path, edit: tuple[str, str] | None = None, *, bare: bool = False) -> Path:
    """The units copied to `tmp_path`, their ExecStart pointing at this environment's `hotline`
    command instead of /opt/hotline/bin/hotline (verify checks that it is executable; without
    the copy it would fail for that alone). `edit` replaces one text in every unit; `bare`
    leaves out the hardening (from StateDirectory= to the [Install] section)."""
    command = Path(sys.executable).with_name("hotline")
    assert command.exists(), command
    for unit in UNITS.iterdir():
        text = unit.read_text(encoding="utf-8").replace(INSTALLED, str(command))
        if edit is not None:
            text = text.replace(*edit)
        if bare:
            text = re.sub(r"^StateDirectory=.*?(?=^\[Install\])", "", text, flags=re.M | re.S)
        (tmp_path / unit.name).write_text(text, encoding="utf-8")
    return tmp_path


def analyze(directory: Path, *argv: str) -> tuple[int, str]:
    """`systemd-analyze ARGV` with `directory` first in the unit search path: exit status and
    all it printed (it warns, and still exits 0, for a misspelt key or a value it ignores)."""
    assert SYSTEMD_ANALYZE is not None
    done = subprocess.run(
        [SYSTEMD_ANALYZE, *argv],
        cwd=directory,
        env={**os.environ, "SYSTEMD_UNIT_PATH": f"{directory}:", "SYSTEMD_LOG_COLOR": "0"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, (done.stdout + done.stderr).strip()


def test_the_units_are_the_ones_the_check_reads() -> None:
    assert sorted(p.name for p in UNITS.iterdir()) == sorted(
        ["hotline-web@.service", "hotline-scheduler.service", "hotline.target"]
    )
    for name in ("hotline-web@.service", "hotline-scheduler.service"):
        assert f"ExecStart={INSTALLED} " in (UNITS / name).read_text(encoding="utf-8")


@needs_systemd
def test_systemd_units_verify(tmp_path: Path) -> None:
    assert analyze(installed(tmp_path), "verify", *NAMES) == (0, "")


@needs_systemd
@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (("Restart=always", "Restart=allways"), "allways"),  # a warning, and exit status 0
        (("ProtectSystem=strict", "ProtectSytem=strict"), "ProtectSytem"),  # likewise
        (("[Service]", "[Servcie]"), "Servcie"),
    ],
    ids=["value", "key", "section"],
)
def test_a_broken_unit_fails_the_check(tmp_path: Path, edit: tuple[str, str], named: str) -> None:
    status, output = analyze(installed(tmp_path, edit), "verify", *NAMES)
    assert (status, output) != (0, "")
    assert named in output


@needs_systemd
def test_a_missing_command_fails_the_check(tmp_path: Path) -> None:
    """Why the check installs the units with a real command: verify refuses a missing one."""
    directory = installed(tmp_path, (str(Path(sys.executable).with_name("hotline")), INSTALLED))
    status, output = analyze(directory, "verify", *NAMES)
    assert status != 0
    assert INSTALLED in output


@needs_systemd
@pytest.mark.parametrize("name", NAMES[:2])
def test_systemd_units_are_hardened(tmp_path: Path, name: str) -> None:
    """systemd's own assessment: exposure at most 2.0 of 10 ("OK"; without its hardening
    the same unit scores 9.2, "UNSAFE"). The threshold is in tenths."""
    arguments = ("security", "--offline=yes", "--threshold=20", name)
    status, output = analyze(installed(tmp_path), *arguments)
    assert status == 0, output.splitlines()[-1]
    status, output = analyze(installed(tmp_path, bare=True), *arguments)
    assert status != 0, "the threshold lets a unit without its hardening pass"
    assert "UNSAFE" in output


def environment_example() -> dict[str, str]:
    """NAME → value of each variable the example sets, or mentions commented out."""
    text = (DEPLOY / "hotline.env.example").read_text(encoding="utf-8")
    return dict(re.findall(r"^#?([A-Z][A-Z0-9_]*)=(.*)$", text, re.MULTILINE))


def test_the_environment_example_names_every_variable_and_no_secret() -> None:
    example = environment_example()
    missing = set(ENVIRONMENT) - set(example)
    assert not missing, f"not in deploy/hotline.env.example: {sorted(missing)}"
    assert example["HOTLINE_MODE"] == "production"
    assert example["HOTLINE_PUBLIC_URL"].startswith("https://")
    secrets = [name for name in example if re.search(r"TOKEN|KEY|SECRET|SMTP_URL", name)]
    assert len(secrets) >= 6
    assert {name: example[name] for name in secrets if example[name]} == {}
    assert not re.search(r"://[^/@\s]*:[^/@\s]*@", "\n".join(example.values()))  # no password


# --- the reverse proxy --------------------------------------------------------------------------

NGINX = shutil.which("nginx") or next(
    (path for path in ("/usr/sbin/nginx",) if Path(path).exists()), None
)


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install nginx-light)")
def test_the_nginx_example_is_a_valid_configuration(tmp_path: Path) -> None:
    """`nginx -t` on deploy/nginx/hotline.conf inside a minimal http block, with a throwaway
    certificate where the example names Let's Encrypt's."""
    assert NGINX is not None
    _, certificate = fake_smtp.certificate(tmp_path)  # any self-signed one will do
    key = tmp_path / "smtp-key.pem"
    site = (DEPLOY / "nginx" / "hotline.conf").read_text(encoding="utf-8")
    live = "/etc/letsencrypt/live/hotline.konex.example"
    assert f"{live}/fullchain.pem" in site
    site = site.replace(f"{live}/fullchain.pem", str(certificate))
    site = site.replace(f"{live}/privkey.pem", str(key))
    (tmp_path / "hotline.conf").write_text(site, encoding="utf-8")

    def check(conf: str) -> subprocess.CompletedProcess[str]:
        main = tmp_path / "nginx.conf"
        main.write_text(
            f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
            f"http {{\n{conf}\n}}\n",
            encoding="utf-8",
        )
        return subprocess.run(
            [NGINX, "-t", "-q", "-p", str(tmp_path), "-c", str(main)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    done = check(f"include {tmp_path}/hotline.conf;")
    assert done.returncode == 0, done.stderr
    broken = check("upstream hotline { server 127.0.0.1:8001; }\n" + site)  # defined twice
    assert broken.returncode != 0
    assert "duplicate upstream" in broken.stderr
