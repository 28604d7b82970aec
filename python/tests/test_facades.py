"""The seeds' facades: every method of StrategyBalanceManager (seed 004) and GlobalVault
(seed 000), embedded and as clients of a vault in another process; the seeds' examples."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from enum import Enum
from pathlib import Path

import pytest

import capvault
from capvault import GlobalVault, Rejected, StepPenalty, StrategyBalanceManager

from conftest import Server

ROOT = Path(__file__).resolve().parents[2]


class Currency(Enum):
    USDC = 1
    USD = 2


@pytest.fixture(params=["embedded", "client"])
def manager(request, tmp_path):
    config = tmp_path / "ledger.json"
    config.write_text(json.dumps({"credit_limits": {"USDC": 5000}}))
    if request.param == "embedded":
        made = StrategyBalanceManager("KRAKEN", strategy_count=8, config=config)
        yield made
        made.close()
    else:
        served = Server(json.loads(config.read_text()))
        made = StrategyBalanceManager("KRAKEN", strategy_count=8, connect=served.name)
        yield made
        made.close()
        served.stop()


def test_manager(manager):
    manager.reset(Currency.USDC, 10000.0)
    manager.reset("USD", 5000)
    assert manager.credit_limit(Currency.USDC) == 5000
    manager.adjust(Currency.USD, -1000.0)
    manager.adjust(Currency.USDC, 1000.0)
    manager.allocate(Currency.USDC, index=2, amount=2000.0)
    manager.allocate(Currency.USDC, 3, "3000")
    manager.release(Currency.USDC, index=2, amount=500.0)
    balance = manager.get(Currency.USDC)
    assert balance.strategies == [11000, 6500, 1500, 3000, 0, 0, 0, 0]
    assert (balance.total, balance.pool, balance.available, balance.strategy_count) == (11000, 6500, 11500, 8)
    assert manager.get_balance("USDC") == 11000 and manager.get_balance("usdc", 3) == 3000
    assert isinstance(manager.get_balance(Currency.USD, 1), Decimal)
    manager.set(Currency.USDC, 2500, index=3)  # a strategy set through the pool
    assert manager.get(Currency.USDC).strategies[:4] == [11000, 7000, 1500, 2500]
    manager.set(Currency.USDC, 7000, index=1)  # the pool set: the total follows
    assert manager.get_balance(Currency.USDC) == 11000
    with pytest.raises(Rejected) as refused:
        manager.allocate(Currency.USDC, 2, 12001)  # 7000 + 5000 credit
    assert refused.value.code == "exceeds_credit_limit"
    manager.allocate(Currency.USDC, 2, 12000)  # borrowing up to the credit limit
    assert manager.get_balance(Currency.USDC, 1) == -5000
    with pytest.raises(capvault.UnknownName):
        manager.get("EUR")


def test_recovery(manager):
    manager.reset(Currency.USDC, 10000)
    manager.allocate(Currency.USDC, 2, 4000)
    manager.allocate(Currency.USDC, 3, 4000)
    # The exchange says 3,000: the strategies keep 8,000, the pool goes to -5,000 (= -credit).
    recovery = manager.recover(Currency.USDC, 3000)
    assert recovery == (Decimal(-7000), Decimal(-5000), Decimal(5000), False)
    assert manager.get(Currency.USDC).strategies[:4] == [3000, -5000, 4000, 4000]
    # 2,999: one unit past the credit limit, the seed's "无法修复": reset to the real balance.
    recovery = manager.recover(Currency.USDC, 2999)
    assert (recovery.pool, recovery.reset) == (Decimal(-5001), True)
    assert manager.get(Currency.USDC).strategies[:4] == [2999, 2999, 0, 0]


def test_manager_two_processes_share_books():
    served = Server({})
    try:
        first = StrategyBalanceManager("KRAKEN", 4, connect=served.name, client="a")
        second = StrategyBalanceManager("KRAKEN", 4, connect=served.name, client="b")
        first.reset("USDT", 1000)  # opens the book in the served vault
        second.allocate("USDT", 2, 400)  # the other process finds it
        assert second.get("USDT").strategies == [1000, 600, 400, 0]  # reads see their own writes
        # ...and another process's writes once the mirror has them (its interval, milliseconds).
        deadline = time.monotonic() + 10
        while first.get("USDT").strategies != [1000, 600, 400, 0]:
            assert time.monotonic() < deadline, first.get("USDT")
            time.sleep(0.001)
        first.close()
        second.close()
    finally:
        served.stop()


@pytest.fixture(params=["embedded", "client"])
def gv(request, tmp_path):
    if request.param == "embedded":
        made = GlobalVault(json=tmp_path / "shared_pool.json")
        yield made
        made.close()
    else:
        # The served vault is the seed's default made by a GlobalVault in another process.
        served = Server(_default_config())
        made = GlobalVault(connect=served.name)
        yield made
        made.close()
        served.stop()


def _default_config():
    probe = GlobalVault()
    books = probe.vault.snapshot().to_dict()["books"]
    probe.close()
    book = books[0]
    return {
        "books": [
            {
                "venue": book["venue"],
                "currency": book["currency"],
                "slot_count": book["slot_count"],
                "balance": book["total"],
                "reserve_ratio": book["reserve_ratio"],
                "strategies": [
                    {"slot": s["slot"], "label": s["label"], "cap": s["cap"], "loss_limit": s["loss_limit"]}
                    for s in book["strategies"]
                ],
            }
        ]
    }


A = "9f1c2a3b4c5d4e6f8a9b0c1d2e3f4a5b"
B = "0d9c8b7a6f5e4d3c8b2a1f0e9d8c7b6a"
C = "1790000000000000003"


def test_global_vault(gv):
    approved = gv.request_allocation("159201.SZ", 120_000, 0, A)
    assert approved and approved.code is None and not approved.repeated
    assert gv.request_allocation("159201.SZ", 120_000, 0, A).repeated
    refused = gv.request_allocation("512890.SH", 140_000, 0, B)
    assert not refused
    assert (refused.code, refused.figures) == ("exceeds_reserve_ratio", {"committed": 120000, "amount": 140000, "limit": 255000})
    assert gv.can_open_new_layer("512890", 135_000) and not gv.can_open_new_layer("512890", 135_001)
    capped = gv.request_allocation("159201", 90_000, 1, B)
    assert (bool(capped), capped.code) == (False, "exceeds_nominal_cap")
    assert gv.get_frozen_map() == {"159201": 120000, "512890": 0}
    assert gv.on_fill("159201", A, 20_000).remaining == 100_000
    assert gv.on_fill("159201.SZ", A).remaining == 0  # the rest
    with pytest.raises(Rejected) as again:
        gv.on_fill("159201", A)
    assert again.value.code == "order_filled"
    assert gv.get_used_map() == {"159201": 120000, "512890": 0}
    # A cumulative report delivered again changes nothing.
    assert gv.on_fill_report("159201", A, 120_000).kind == "fill_already_applied"
    assert gv.get_used_map() == {"159201": 120000, "512890": 0}
    assert gv.request_allocation("512890", 100_000, 0, C)
    with pytest.raises(capvault.InvalidInput):
        gv.on_cancel("159201", C)  # not 159201's order
    cancelled = gv.on_cancel("512890", C)
    assert (cancelled.returned, cancelled.held) == (100_000, 0)
    assert gv.release("159201", A).returned == 120_000
    assert gv.get_used_map() == {"159201": 0, "512890": 0}
    with pytest.raises(Rejected) as unknown:
        gv.on_fill("159201", B)
    assert unknown.value.code == "unknown_order"
    with pytest.raises(capvault.UnknownName):
        gv.request_allocation("510300", 1, 0, B)


def test_global_vault_penalty_loss_alpha(gv):
    penalty = StepPenalty()
    ids = [f"17900000000000001{n:02d}" for n in range(10)]
    assert gv.request_allocation("159201", 150_000, 0, ids[0])
    assert gv.request_allocation("512890", 100_000, 0, ids[1])
    assert gv.request_allocation("512890", 21_000, 1, ids[2])  # 271,000: above 90%
    assert penalty.update(gv.pool_view()) and penalty.step(0.0012) == pytest.approx(0.0018)
    assert gv.step_penalty().active  # the vault's own gate agrees
    gv.on_cancel("512890", ids[2])  # 250,000: 83.3%, below 85%
    assert not penalty.update(gv.pool_view()) and penalty.multiplier == 1.0
    assert gv.mark_loss("512890", 15_001).forced_reduce
    decision = gv.request_allocation("512890", 1_000, 2, ids[3])
    assert (bool(decision), decision.code) == (False, "forced_reduce")
    assert not gv.mark_loss("512890", 0).forced_reduce
    assert gv.request_allocation("512890", 1_000, 2, ids[3])
    gv.record_alpha("159201", 3500.50)
    gv.record_alpha("512890", -100)
    assert gv.get_alpha_map() == {"159201": Decimal("3500.50"), "512890": -100}


def test_shared_pool_json(tmp_path):
    path = tmp_path / "shared_pool.json"
    with GlobalVault(json=path) as gv:
        gv.request_allocation("159201", 120_000, 0, A)
        gv.on_fill("159201", A)
        gv.request_allocation("512890", 22_000, 0, B)
        gv.record_alpha("159201", 3500.5)
    pool = json.loads(path.read_text())
    assert {k: pool[k] for k in ("used_159201", "used_512890", "frozen_159201", "frozen_512890", "acc_alpha_159201")} == {
        "used_159201": 120000,
        "used_512890": 0,
        "frozen_159201": 0,
        "frozen_512890": 22000,
        "acc_alpha_159201": 3500.5,
    }
    assert "updated_at" in pool


def test_pool_view_from_shared_pool():
    view = capvault.PoolView(300_000, frozen=22_000, used=200_000)
    assert (view.pool, view.committed, view.first_layer_limit) == (78_000, 222_000, 255_000)
    assert view.can_open_first_layer(33_000) and not view.can_open_first_layer(33_001)
    assert view.utilisation == pytest.approx(0.74)
    gate = StepPenalty(enter=0.9, leave=0.85, multiplier=1.5)
    assert not gate.update(capvault.PoolView(300_000, used=270_000))  # exactly 90%: not above
    assert gate.update(capvault.PoolView(300_000, used="270000.01"))
    assert gate.update(capvault.PoolView(300_000, used=255_000))  # exactly 85%: stays on
    assert not gate.update(capvault.PoolView(300_000, used="254999.99"))
    with pytest.raises(capvault.InvalidInput):
        StepPenalty(enter=0.8, leave=0.85)


def test_shm_reader(config):
    path = capvault.shm_path(f"pytest-shm-{os.getpid()}")
    with capvault.Vault(config, shm=path) as vault:
        vault.allocate(0, 2, 77)
        reader = capvault.ShmReader(path)
        snapshot = reader.wait_for(1, timeout=10)
        assert snapshot.balance(0, 2) == 77 and reader.seq() >= 1
        assert snapshot.to_dict()["books"][0]["strategies"][0]["committed"] == 77
    with pytest.raises(capvault.MirrorError):
        capvault.ShmReader("/nonexistent/capvault")


@pytest.mark.parametrize("example", ["seed_004.py", "seed_000.py"])
def test_seed_examples(example):
    run = subprocess.run([sys.executable, str(ROOT / "examples" / "python" / example)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("\n") >= 4


def test_help_explains_the_rule():
    doc = GlobalVault.request_allocation.__doc__
    assert "15%" in doc and "255,000" in doc and "nominal cap" in doc


def test_a_symbol_finds_a_label_with_or_without_its_exchange_suffix():
    config = {
        "books": [
            {
                "venue": "QMT",
                "currency": "CNY",
                "slot_count": 4,
                "balance": 300000,
                "strategies": [{"slot": 2, "label": "159201.SZ"}, {"slot": 3, "label": "512890"}],
            }
        ]
    }
    vault = capvault.GlobalVault(config)
    assert vault.request_allocation("159201.SZ", 1000, 1, "1790000000000000001")
    assert vault.request_allocation("512890.SH", 1000, 1, "1790000000000000002")
    with pytest.raises(capvault.UnknownName):
        vault.request_allocation("159201.SH", 1000, 1, "1790000000000000003")
    vault.vault.close()
