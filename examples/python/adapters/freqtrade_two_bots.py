"""Two freqtrade bots, two processes, one 1,000 USDT account shared through a served vault: each
bot backtests offline (synthetic market and candles) and wants six 100 USDT entries held to its
end; capvault refuses the entries beyond the 1,000 while both hold.

    pip install './python[freqtrade]'
    python examples/python/adapters/freqtrade_two_bots.py

The bots are python/adapters_tests/freqtrade_bot/run_bot.py with the GuardedHold strategy
(`CapvaultStrategyMixin` before `IStrategy`)."""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import capvault

BOT = Path(__file__).resolve().parents[3] / "python" / "adapters_tests" / "freqtrade_bot" / "run_bot.py"

service = f"freqtrade-example-{os.getpid()}"
vault = capvault.Vault({"books": [{
    "venue": "BINANCE", "currency": "USDT", "slot_count": 4, "balance": 1000, "decimals": 8, "reserve_ratio": 0,
    "strategies": [{"slot": 2, "label": "bot_a"}, {"slot": 3, "label": "bot_b"}],
}]}, serve=service)
with tempfile.TemporaryDirectory() as scratch:
    scratch = Path(scratch)
    barrier = scratch / "barrier"
    barrier.touch()
    bots = {
        slot: subprocess.Popen([sys.executable, str(BOT), service, slot, str(scratch / slot), str(barrier)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for slot in ("bot_a", "bot_b")
    }
    while not all((scratch / slot / "ready").exists() for slot in bots):
        if any(bot.poll() is not None for bot in bots.values()):
            sys.exit("a bot stopped before it was ready:\n" + "".join(b.stderr.read()[-2000:] for b in bots.values()))
        time.sleep(0.05)
    barrier.unlink()  # both start together
    for slot, bot in bots.items():
        out, err = bot.communicate()
        if bot.returncode != 0:
            sys.exit(err[-3000:])
        result = json.loads(out.strip().splitlines()[-1])
        print(f"{slot}: {result['trades']} trades, {result['refused']} entries refused by capvault")
print(f"at the end: pool {vault.balance('USDT', 1)} USDT, reservations left {len(vault.orders('USDT'))}")
vault.close()
