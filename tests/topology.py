"""A deployment on one machine, for tests/test_failover.py: hosts that are network namespaces on
a bridge, each with its own address, a PostgreSQL cluster of its own on one of them, and the
project's processes (`hotline serve`, `hotline scheduler`) on the others.

Needs root (namespaces, veth pairs, a bridge), iproute2's `ip`, PostgreSQL 15's server binaries
and the `postgres` OS user (the server refuses to run as root); `unavailable()` says which is
missing. Everything it creates is named after the process id (`hf<pid>…`) and removed by
`close()`, which first ends the processes in the namespaces it made (they are all its own).

Hand-written rather than a library: what it needs is a handful of `ip` and `pg_ctl` calls, and
the container tools that could build such a network want a daemon this machine does not run.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_PORT = 5432
TIMEOUT = 30.0  # seconds any one step (a command, a start) may take


def unavailable() -> str | None:
    """Why the topology cannot be built on this machine, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, veth pairs, a bridge)"
    if shutil.which("ip") is None:
        return "needs iproute2's `ip`"
    if shutil.which("runuser") is None:
        return "needs `runuser` (PostgreSQL refuses to run as root)"
    if not (PG_BIN / "initdb").exists():
        return f"needs PostgreSQL 15's initdb ({PG_BIN / 'initdb'})"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "needs the `postgres` OS user"
    probe = f"hf{os.getpid()}-probe"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"`ip netns add` is not available here: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def ip(*args: str) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=TIMEOUT)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def _free_subnet() -> str:
    """A 10.213.N.0/24 that no interface or route of this machine uses (another run's)."""
    taken = ip("-4", "-o", "addr") + ip("-4", "route")
    start = os.getpid() % 200
    for step in range(200):
        prefix = f"10.213.{(start + step) % 200 + 20}"
        if f"{prefix}." not in taken:
            return prefix
    raise RuntimeError("no free 10.213.N.0/24 subnet")


class Network:
    """A bridge in the root namespace (address `gateway`: the test's own servers listen there)
    and hosts on it, each a namespace with one veth link (`eth0`) and its own address."""

    def __init__(self) -> None:
        self.tag = f"hf{os.getpid()}"
        self.prefix = _free_subnet()
        self.gateway = f"{self.prefix}.1"
        self.bridge = f"{self.tag}br"
        self.hosts: dict[str, str] = {}
        self.processes: list[subprocess.Popen[bytes]] = []
        ip("link", "add", self.bridge, "type", "bridge")
        try:
            ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
            ip("link", "set", self.bridge, "up")
        except RuntimeError:
            self.close()
            raise

    def namespace(self, host: str) -> str:
        return f"{self.tag}-{host}"

    def add_host(self, host: str, number: int) -> str:
        """The host `host` at address `prefix.number`."""
        ns, outside = self.namespace(host), f"{self.tag}{host}"
        ip("netns", "add", ns)
        self.hosts[host] = address = f"{self.prefix}.{number}"
        ip("link", "add", outside, "type", "veth", "peer", "name", f"{outside}p")
        ip("link", "set", f"{outside}p", "netns", ns)
        ip("-n", ns, "link", "set", f"{outside}p", "name", "eth0")
        ip("-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
        ip("-n", ns, "link", "set", "eth0", "up")
        ip("-n", ns, "link", "set", "lo", "up")
        ip("link", "set", outside, "master", self.bridge, "up")
        return address

    def run(self, host: str, argv: list[str], cwd: Path = ROOT) -> None:
        """`argv` on `host`, to its end; its output in the error if it fails."""
        done = subprocess.run(
            ["ip", "netns", "exec", self.namespace(host), *argv],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            cwd=cwd,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} on {host}: {done.stdout}{done.stderr}")

    def spawn(
        self, host: str, argv: list[str], env: dict[str, str], log: Path
    ) -> subprocess.Popen[bytes]:
        """`argv` on `host`, its output in `log` (`ip netns exec` execs it: the pid is its)."""
        with log.open("wb") as sink:
            process = subprocess.Popen(
                ["ip", "netns", "exec", self.namespace(host), *argv],
                cwd=ROOT,
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(process)
        return process

    def close(self) -> None:
        """End every process in the hosts' namespaces (by pid), remove namespaces and bridge."""
        for process in self.processes:
            if process.poll() is None:
                process.kill()
        for host in self.hosts:
            pids = subprocess.run(
                ["ip", "netns", "pids", self.namespace(host)], capture_output=True, text=True
            ).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
        for host in self.hosts:
            subprocess.run(["ip", "netns", "del", self.namespace(host)], capture_output=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)


class Postgres:
    """A PostgreSQL cluster of the test's own (never the machine's shared one) on `host`:
    initdb into a temporary directory, run as the `postgres` OS user, listening on the host's
    address only, trust authentication for the test subnet; fsync off (a test's data)."""

    def __init__(self, network: Network, host: str) -> None:
        self.network, self.host = network, host
        self.address = network.hosts[host]
        self.dir = Path(tempfile.mkdtemp(prefix="hotline-failover-pg-"))
        user = pwd.getpwnam("postgres")
        os.chown(self.dir, user.pw_uid, user.pw_gid)
        self.data = self.dir / "data"
        initdb = [str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust"]
        self._as_postgres([*initdb, "--no-sync", "-E", "UTF8", "--locale", "C"])
        settings = {
            "listen_addresses": f"'{self.address}'",
            "port": str(PG_PORT),
            "unix_socket_directories": f"'{self.dir}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "100",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
        with (self.data / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {network.prefix}.0/24 trust\n")
        self.url = f"postgresql+psycopg://postgres@{self.address}:{PG_PORT}/postgres"

    def _as_postgres(self, argv: list[str]) -> None:
        command = ["runuser", "-u", "postgres", "--", *argv]
        self.network.run(self.host, command, cwd=self.dir)

    def _ctl(self, *args: str) -> None:
        log = self.dir / "server.log"
        self._as_postgres(
            [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(log), "-w", "-t", "20", *args]
        )

    def start(self) -> None:
        self._ctl("start")

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast")

    def close(self) -> None:
        # (not running: Network.close ends whatever is left in the namespace)
        with contextlib.suppress(RuntimeError, subprocess.SubprocessError, OSError):
            self._ctl("stop", "-m", "immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


def hotline(*args: str) -> list[str]:
    """The command line of `hotline ARGS` with this interpreter and this checkout."""
    return [sys.executable, "-m", "hotline", *args]


def service_env(**values: str) -> dict[str, str]:
    """This process's environment without its HOTLINE_/TWILIO_ settings, this checkout first on
    the path, and `values` (HOTLINE_DATABASE_URL=…, …)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "TWILIO_"))}
    return env | {"PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"} | values
