"""capvault's freqtrade adapter: two bots, two processes, one account. Each bot backtests
offline (a synthetic market and candles, `freqtrade_bot/run_bot.py`) and reserves every entry in
one served vault; together they want more than the account holds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

if not os.environ.get("CAPVAULT_REQUIRE_FREQTRADE"):
    pytest.importorskip("freqtrade")

import capvault

BOT = Path(__file__).parent / "freqtrade_bot" / "run_bot.py"


def test_two_bots_share_one_account_without_spending_it_twice(tmp_path):
    service = f"ft-test-{os.getpid()}"
    vault = capvault.Vault({
        "books": [{
            "venue": "BINANCE", "currency": "USDT", "slot_count": 4, "balance": 1000, "decimals": 8,
            "reserve_ratio": 0, "strategies": [{"slot": 2, "label": "bot_a"}, {"slot": 3, "label": "bot_b"}],
        }],
    }, serve=service)
    barrier = tmp_path / "barrier"
    barrier.touch()
    bots = [
        subprocess.Popen(
            [sys.executable, str(BOT), service, slot, str(tmp_path / slot), str(barrier)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for slot in ("bot_a", "bot_b")
    ]
    # Both connected and loaded: let them go together.
    deadline = time.monotonic() + 120
    while not all((tmp_path / slot / "ready").exists() for slot in ("bot_a", "bot_b")):
        assert time.monotonic() < deadline and all(bot.poll() is None for bot in bots), "a bot did not get ready"
        time.sleep(0.05)
    barrier.unlink()
    results = []
    for bot in bots:
        out, err = bot.communicate(timeout=300)
        assert bot.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    # Each bot wants six entries of 100 (600) and holds them to its backtest's end; the account
    # holds 1,000. While both held trades, capvault refused the later bot's entries beyond the
    # 1,000 (freqtrade never placed them): at least ten trades in all, none below four (six of one
    # and four of the other fit together); once one bot's backtest ended and released its
    # capital, the other could fill the rest of its six before its own end.
    trades = [r["trades"] for r in results]
    assert sum(trades) >= 10 and all(4 <= t <= 6 for t in trades), results
    assert sum(r["refused"] for r in results) >= 1, results
    # Every trade closed at its backtest's end and released what it held: the pool is whole.
    assert vault.balance("USDT", 1) == Decimal(1000)
    assert vault.balance("USDT", "bot_a") == vault.balance("USDT", "bot_b") == 0
    assert vault.orders("USDT") == []
    vault.close()


def test_adjustments_replacements_and_entries_that_never_fill(tmp_path):
    """What skips confirm_trade_entry: a position adjusted every candle until the pool runs
    out, an entry order replaced at a new price, and an entry cancelled with nothing filled
    (freqtrade deletes the trade and calls nothing). At every candle capvault's holdings for the
    bot agree with freqtrade's trades."""
    service = f"ft-adjust-{os.getpid()}"
    vault = capvault.Vault({
        "books": [{
            "venue": "BINANCE", "currency": "USDT", "slot_count": 3, "balance": 1000, "decimals": 8,
            "reserve_ratio": 0, "strategies": [{"slot": 2, "label": "dca"}],
        }],
    }, serve=service)
    barrier = tmp_path / "barrier"
    bot = subprocess.run(
        [sys.executable, str(BOT), service, "dca", str(tmp_path / "dca"), str(barrier), "GuardedAdjust", "2"],
        capture_output=True, text=True, timeout=300,
    )
    assert bot.returncode == 0, bot.stderr[-3000:]
    result = json.loads(bot.stdout.strip().splitlines()[-1])
    checks = result.pop("checks")
    # freqtrade replaced ETH's entry once and timed SOL's out; BTC asked to add 100 at every
    # candle and capvault let through only what the pool held.
    assert result["replaced"] >= 1 and result["timed_out"] >= 1, result
    assert result["adjustments"] > 20 and result["refused"] >= result["adjustments"] - 10, result
    # Every candle: used is exactly what the open trades filled; the rest held is at most what
    # their open entry orders can still take (the replacement reserved nothing more, and SOL's
    # reservation was swept once freqtrade deleted its trade, or this bound would break there).
    assert len(checks) > 100
    for check in checks:
        assert Decimal(check["used"]) == Decimal(check["filled"]), check
        assert Decimal(check["held"]) <= Decimal(check["filled"]) + Decimal(check["open"]), check
    # While ETH's first bid stood, the pool held BTC's entry, ETH's and SOL's reservations; the
    # pool ran out under BTC's adjustments (held reached the 1,000).
    assert max(Decimal(c["held"]) for c in checks) > Decimal("999"), checks[:12]
    # At the end every trade closed and released what it held: the pool is whole.
    assert vault.balance("USDT", 1) == Decimal(1000)
    assert vault.balance("USDT", "dca") == 0
    assert vault.orders("USDT") == []
    vault.close()
