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
