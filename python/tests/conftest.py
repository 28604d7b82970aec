"""Fixtures: a seed 000 configuration, an embedded vault, and a vault served by another
process (for client mode), each test with its own service name."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap

import pytest

import capvault

CONFIG = {
    "limits": {"books_max": 4, "orders_max": 1024},
    "credit_limits": {"USDT": 500},
    "books": [
        {
            "venue": "SSE",
            "currency": "CNY",
            "slot_count": 4,
            "balance": 300000,
            "reserve_ratio": 0.15,
            "strategies": [
                {"slot": 2, "label": "159201", "cap": 200000, "loss_limit": 15000},
                {"slot": 3, "label": "512890", "cap": 200000, "loss_limit": 15000},
            ],
        },
        {"venue": "KRAKEN", "currency": "USDT", "slot_count": 4, "balance": 10000, "decimals": 8},
        {"venue": "KRAKEN", "currency": "BTC", "slot_count": 4, "balance": 2, "decimals": 8},
    ],
}

_names = itertools.count()


def service_name() -> str:
    return f"pytest-{os.getpid()}-{next(_names)}"


SERVER = textwrap.dedent(
    """
    import json, sys, capvault
    config, name = json.loads(sys.argv[1]), sys.argv[2]
    vault = capvault.Vault(config, serve=name)
    print("ready", flush=True)
    sys.stdin.read()          # serve until the test closes our stdin (or kills us)
    vault.close()
    """
)


class Server:
    """A vault served by a child Python process."""

    def __init__(self, config: dict, name: str | None = None):
        self.name = service_name() if name is None else name
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVER, json.dumps(config), self.name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.process.stdout.readline()
        assert line.strip() == "ready", f"the server did not start: {line!r}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait(timeout=30)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=30)


@pytest.fixture
def config() -> dict:
    return json.loads(json.dumps(CONFIG))


@pytest.fixture
def server(config):
    served = Server(config)
    yield served
    served.kill()


@pytest.fixture(params=["embedded", "client"])
def vault(request, config):
    """The same vault, embedded in this process or served by another one."""
    if request.param == "embedded":
        embedded = capvault.Vault(config)
        yield embedded
        embedded.close()
    else:
        served = Server(config)
        client = capvault.connect(served.name, "tests")
        yield client
        client.close()
        served.stop()
