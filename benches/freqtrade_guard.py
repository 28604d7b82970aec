"""What capvault's freqtrade guard costs per trade: the same offline backtest (six pairs, a trade
entered on every other candle and exited on the next, python/adapters_tests/freqtrade_bot/Churn.py) with a plain
strategy and with the guarded one (reserve in confirm_trade_entry, fill_to and release_order
through order_filled, a settle of the open trades at every candle) against a vault served by this
process, run alternately in fresh processes, median of the runs. Only the backtest loop is timed.

    python benches/freqtrade_guard.py [--runs 5]

Needs freqtrade (``pip install './python[freqtrade]'``)."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import capvault

BOT = Path(__file__).resolve().parent.parent / "python" / "adapters_tests" / "freqtrade_bot" / "run_bot.py"


def run(service: str, strategy: str, workdir: Path) -> dict:
    bot = subprocess.run(
        [sys.executable, str(BOT), service, "bench", str(workdir), str(workdir / "no-barrier"), strategy],
        capture_output=True, text=True, check=False,
    )
    if bot.returncode != 0:
        raise SystemExit(bot.stderr[-3000:])
    return json.loads(bot.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    service = f"ft-bench-{os.getpid()}"
    vault = capvault.Vault({
        "books": [{
            "venue": "BINANCE", "currency": "USDT", "slot_count": 3, "balance": 100000, "decimals": 8,
            "reserve_ratio": 0, "strategies": [{"slot": 2, "label": "bench"}],
        }],
    }, serve=service)
    per_trade = {"ChurnPlain": [], "ChurnGuarded": []}
    with tempfile.TemporaryDirectory() as scratch:
        for n in range(args.runs):
            for strategy in per_trade:
                result = run(service, strategy, Path(scratch) / f"{strategy}-{n}")
                per_trade[strategy].append(result["seconds"] / result["trades"] * 1e6)
    assert vault.orders("USDT") == [], "the guard left reservations behind"
    vault.close()
    plain, guarded = (statistics.median(per_trade[s]) for s in ("ChurnPlain", "ChurnGuarded"))
    print(f"freqtrade backtest, {result['trades']} trades a run, median of {args.runs} runs: plain {plain:.1f} us/trade, "
          f"guarded {guarded:.1f} us/trade; the guard costs {guarded - plain:.1f} us per trade ({guarded / plain:.2f}x)")


if __name__ == "__main__":
    main()
