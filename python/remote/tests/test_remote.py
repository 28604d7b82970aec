"""capvault_remote against a real nats-server and `capvault serve`, in a virtual environment
that holds no native capvault module."""

from __future__ import annotations

import importlib.util
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest

import capvault_remote as capvault


def test_the_package_is_pure_python_and_the_native_one_is_absent():
    folder = Path(capvault.__file__).parent
    assert sorted(p.suffix for p in folder.iterdir() if p.is_file()) == [".py"] * 7 + [".typed"]
    assert importlib.util.find_spec("capvault") is None, "this venv must not hold the native package"


def test_seed000_global_vault_over_nats(served, nats_server):
    vault = capvault.GlobalVault(connect=nats_server.url("executor"), client="executor")
    try:
        view = vault.pool_view("159201")
        assert view.total == 300000 and view.first_layer_limit == 255000
        assert vault.can_open_new_layer("159201", 255000) and not vault.can_open_new_layer("159201", 255000.01)

        first = vault.request_allocation("159201", 120000, 0, "1790000000000000001")
        assert first and not first.repeated
        again = vault.request_allocation("159201", 120000, 0, "1790000000000000001")
        assert again and again.repeated and again.seq == first.seq
        # The 15% line: 120,000 + 140,000 > 255,000.
        refused = vault.request_allocation("512890", 140000, 0, "1790000000000000002")
        assert not refused and refused.code == "exceeds_reserve_ratio"
        assert refused.figures == {"committed": Decimal(120000), "amount": Decimal(140000), "limit": Decimal(255000)}
        # The float rule: 1.153 * 8600 is 9,915.80.
        assert vault.request_allocation("512890", 1.153 * 8600, 1, "1790000000000000003")

        vault.on_fill_report("159201", "1790000000000000001", 50000)
        assert vault.on_fill_report("159201", "1790000000000000001", 50000).kind == "fill_already_applied"
        cancelled = vault.on_cancel("159201", "1790000000000000001")
        assert cancelled.returned == 70000
        assert vault.get_used_map() == {"159201": 50000, "512890": 0}
        assert vault.get_frozen_total() == Decimal("9915.80")
        assert vault.release("159201", "1790000000000000001").returned == 50000

        with pytest.raises(capvault.Rejected) as unknown:
            vault.on_cancel("159201", "1790000000000000099")
        assert unknown.value.code == "unknown_order"
        with pytest.raises(capvault.InvalidAmount):
            vault.request_allocation("159201", "0.001", 1, "1790000000000000004")
        with pytest.raises(capvault.UnknownName):
            vault.request_allocation("600000", 1, 1, "1790000000000000005")
    finally:
        vault.close()


def test_seed004_manager_over_nats(served, nats_server):
    manager = capvault.StrategyBalanceManager("KRAKEN", 4, connect=nats_server.url("kraken"), client="kraken")
    try:
        manager.reset("USD", 10000)
        manager.allocate("USD", 2, 2500.5)
        manager.release("USD", 2, "500.5")
        balance = manager.get("USD")
        assert (balance.total, balance.pool, balance.strategies[2]) == (10000, 8000, 2000)
        manager.set_credit_limit("USD", 1000)
        with pytest.raises(capvault.Rejected) as refused:
            manager.allocate("USD", 3, 9001)
        assert refused.value.code == "exceeds_credit_limit"
        recovery = manager.recover("USD", 9500)
        assert recovery.drift == -500 and not recovery.reset and recovery.pool == 7500
        assert manager.get_balance("USD", 1) == 7500
    finally:
        manager.close()


def test_a_resend_under_the_same_number_applies_nothing(served, nats_server):
    vault = capvault.connect(nats_server.url("executor"), "executor")
    core = vault._core
    try:
        number = core.next_request()
        command = {"op": "adjust", "book": 0, "slot": 1, "delta": "100"}
        first = core.submit_once(number, command)
        second = core.submit_once(number, command)
        assert (second.seq, second.kind) == (first.seq, first.kind)
        assert vault.snapshot().balance(0, 0) == 300100
        # The vault killed and restarted from its journal: the same answer, still applied once.
        served.kill()
        served.start()
        third = core.submit_once(number, command)
        assert third.seq == first.seq
        assert vault.snapshot().balance(0, 0) == 300100
    finally:
        vault.close()


def test_nats_killed_and_restarted_under_a_command(served, nats_server):
    vault = capvault.connect(nats_server.url("executor"), "executor")
    try:
        nats_server.kill()
        answers = []
        worker = threading.Thread(target=lambda: answers.append(vault.adjust(0, 1, 7)))
        worker.start()
        time.sleep(1.0)
        nats_server.start()
        worker.join(timeout=40)
        assert not worker.is_alive(), "the command hung past its deadline"
        assert answers and answers[0].kind == "adjusted"
        assert vault.snapshot().balance(0, 0) == 300007
    finally:
        vault.close()


def test_identity_and_grants_come_from_nats(served, nats_server):
    with pytest.raises(capvault.ConnectError) as wrong:
        capvault.connect(nats_server.url("executor").replace("pw-executor", "guess"), "executor")
    assert wrong.value.kind == "permission_denied"

    nobody = capvault.connect(nats_server.url("nobody"), "nobody")
    try:
        with pytest.raises(capvault.Refused, match="no_grant"):
            nobody.adjust(0, 1, 1)
    finally:
        nobody.close()

    node = capvault.GlobalVault(connect=nats_server.url("executor"), client="executor")
    grid = capvault.connect(nats_server.url("grid-159201"), "grid-159201")
    try:
        # Its own slot: allowed. The other strategy's slot or a pool move: refused, nothing changed.
        assert grid.reserve("1790000000000000010", 0, 2, 1000, "buy", 1).kind == "reserved"
        with pytest.raises(capvault.Rejected) as other:
            grid.reserve("1790000000000000011", 0, 3, 1000, "buy", 1)
        assert other.value.code == "not_granted"
        with pytest.raises(capvault.Rejected):
            grid.adjust(0, 1, 1)
        assert node.get_frozen_map() == {"159201": 1000, "512890": 0}
        # Bad requests are refused for this client only.
        with pytest.raises(capvault.Refused, match="malformed"):
            grid.submit({"op": "steal", "book": 0})
        with pytest.raises(capvault.Refused, match="too large"):
            grid.submit({"op": "cancel", "id": "1790000000000000010", "pad": "x" * 10000})
        assert grid.cancel("1790000000000000010").returned == 1000
    finally:
        grid.close()
        node.close()


def test_linked_reservations_over_nats(served, nats_server):
    grid = capvault.connect(nats_server.url("grid-159201"), "grid-159201")
    executor = capvault.connect(nats_server.url("executor"), "executor")
    try:
        ladder = [{"id": 1790000000000000100 + n, "book": "CNY", "slot": "159201", "amount": 10000, "layer": 1}
                  for n in range(3)]
        outcomes = grid.reserve_linked(ladder)
        assert [o.kind for o in outcomes] == ["reserved"] * 3 and len({o.seq for o in outcomes}) == 1
        # Sent again: nothing reserved twice.
        assert [o.kind for o in grid.reserve_linked(ladder)] == ["already_reserved"] * 3
        # A part in another strategy's slot: the chain is refused whole, naming the part.
        with pytest.raises(capvault.Rejected) as refused:
            grid.reserve_linked([{"id": 1790000000000000110, "book": 0, "slot": 2, "amount": 1},
                                 {"id": 1790000000000000111, "book": 0, "slot": 3, "amount": 1}])
        assert (refused.value.code, refused.value.figures["part"]) == ("not_granted", 1)
        # A rule of the ledger: 512890's cap of 200,000.
        with pytest.raises(capvault.Rejected) as refused:
            executor.reserve_linked([{"id": 1790000000000000120, "book": 0, "slot": "512890", "amount": 150000},
                                     {"id": 1790000000000000121, "book": 0, "slot": "512890", "amount": 60000}])
        assert (refused.value.code, refused.value.figures["part"]) == ("exceeds_nominal_cap", 1)
        state = grid.snapshot()  # at least as new as its own answers
        assert state.order("1790000000000000110") is None and state.order("1790000000000000120") is None
        assert state.balance("CNY", 1) == 270000
        with pytest.raises(capvault.InvalidInput):
            grid.reserve_linked([{"id": 1790000000000000130, "book": 0, "slot": 2}])
    finally:
        grid.close()
        executor.close()
