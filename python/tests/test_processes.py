"""Several Python processes against one vault: concurrent allocations with an exact final
state, and a vault killed under a client (a clear exception, no hang)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from decimal import Decimal

import pytest

import capvault

from conftest import Server

WORKER = textwrap.dedent(
    """
    import sys, capvault
    service, slot, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    vault = capvault.connect(service, f"worker-{slot}")
    refused = 0
    for n in range(rounds):
        vault.allocate(0, slot, "1.01")
        if n % 3 == 0:
            vault.release(0, slot, 0.5)
        try:
            vault.release(0, slot, 1_000_000)       # always refused: more than allocated
        except capvault.Rejected as error:
            assert error.code == "exceeds_allocation", error.code
            refused += 1
        order = f"{slot}{n:018d}"
        vault.reserve(order, 0, slot, 2, layer=1)
        vault.fill(order, 1)
        vault.cancel(order)
        vault.release_order(order)
    print(refused, flush=True)
    """
)


def test_two_processes_allocate_concurrently(config):
    served = Server(config)
    rounds = 1500
    try:
        workers = [
            subprocess.Popen([sys.executable, "-c", WORKER, served.name, str(slot), str(rounds)], stdout=subprocess.PIPE, text=True)
            for slot in (2, 3)
        ]
        refused = [int(worker.communicate(timeout=300)[0]) for worker in workers]
        assert [worker.returncode for worker in workers] == [0, 0]
        assert refused == [rounds, rounds]
        client = capvault.connect(served.name, "checker")
        snapshot = client.snapshot()
        releases = len(range(0, rounds, 3))
        per_slot = Decimal("1.01") * rounds - Decimal("0.5") * releases
        assert [snapshot.balance(0, slot) for slot in range(4)] == [300000, 300000 - 2 * per_slot, per_slot, per_slot]
        assert snapshot.stats["rejected"] == 2 * rounds
        assert snapshot.stats["accepted"] == 2 * (rounds * 5 + releases)
        assert snapshot.seq == snapshot.stats["accepted"]
        client.close()
    finally:
        served.kill()


def test_vault_killed_under_a_client(config):
    served = Server(config)
    client = capvault.connect(served.name, "survivor")
    client.allocate(0, 2, 10)
    served.kill()
    result = {}

    def submit():
        try:
            client.allocate(0, 2, 10)
        except BaseException as error:  # noqa: BLE001 (the test looks at whatever it is)
            result["error"] = error

    thread = threading.Thread(target=submit, daemon=True)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), "a submit to a killed vault hung"
    assert isinstance(result.get("error"), capvault.Disconnected), result
    with pytest.raises(capvault.Disconnected):
        client.allocate(0, 2, 10)
    client.close()
    with pytest.raises(capvault.ConnectError) as refused:
        capvault.connect(served.name, "late")
    assert refused.value.kind == "not_served"


def test_connect_errors(config):
    with pytest.raises(capvault.ConnectError) as refused:
        capvault.connect("pytest-nobody-serves-this", "x")
    assert refused.value.kind == "not_served"
    granted = {"name": f"pytest-grants-{id(config)}", "clients": {"only": {"kinds": ["allocate"], "books": None, "slots": [2]}}}
    with capvault.Vault(config, serve=granted) as vault:
        with pytest.raises(capvault.ConnectError) as refused:
            capvault.connect(granted["name"], "stranger")
        assert refused.value.kind == "no_grant"
        client = capvault.connect(granted["name"], "only")
        assert client.allocate(0, 2, 5).balance == 5
        with pytest.raises(capvault.Rejected) as denied:
            client.allocate(0, 3, 5)
        assert denied.value.code == "not_granted" and denied.value.figures["slot"] == 3
        client.close()
        assert vault.balance(0, 3) == 0
