"""One freqtrade bot's backtest, offline:
`python run_bot.py SERVICE SLOT WORKDIR BARRIER [STRATEGY SLOT_NUMBER]` (GuardedHold by default).

freqtrade loads the exchange's markets at start (ccxt `load_markets`, over the network); this
runner gives it one synthetic spot market instead, as freqtrade's own tests do, and synthetic
5-minute candles for six pairs (freqtrade holds one trade per pair). It waits at BARRIER (a file the test removes) so that both bots start
together, and prints one JSON line: its trades and capvault's refusals."""

import json
import sys
import time
from pathlib import Path
from unittest import mock

import pandas as pd
from freqtrade.enums import RunMode
from freqtrade.exchange.exchange import Exchange
from freqtrade.optimize.backtesting import Backtesting

PAIRS = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "ADA/USDT", "XRP/USDT", "DOT/USDT"]


def market(pair):
    base, quote = pair.split("/")
    return {
        "id": base + quote, "symbol": pair, "base": base, "quote": quote, "baseId": base, "quoteId": quote,
        "active": True, "spot": True, "type": "spot", "swap": False, "future": False, "option": False,
        "contract": False, "linear": None, "inverse": None,
        "precision": {"amount": 0.00001, "price": 0.01},
        "limits": {"amount": {"min": 0.00001, "max": 9000}, "cost": {"min": 5, "max": None},
                   "price": {"min": 0.01, "max": None}, "leverage": {"min": 1, "max": 1}},
        "maker": 0.001, "taker": 0.001, "info": {},
    }


def reload_markets(self, force=False, *, load_leverage_tiers=True):
    self._markets = {pair: market(pair) for pair in PAIRS}
    self._api.set_markets(self._markets)
    self._api_async.set_markets(self._markets)
    self._last_markets_refresh = 1


def main():
    service, slot, workdir, barrier = sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
    name = sys.argv[5] if len(sys.argv) > 5 else "GuardedHold"
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    start = pd.Timestamp("2026-01-01", tz="UTC")
    for pair in PAIRS:
        pd.DataFrame({
            "date": [start + pd.Timedelta(minutes=5 * n) for n in range(2000)],
            "open": 100.0, "high": 100.5, "low": 99.5, "close": 100.0, "volume": 1000.0,
        }).to_feather(data / f"{pair.replace('/', '_')}-5m.feather")
    config = {
        "exchange": {"name": "binance", "key": "", "secret": "", "pair_whitelist": PAIRS, "pair_blacklist": []},
        "stake_currency": "USDT", "stake_amount": 100, "dry_run": True, "dry_run_wallet": 10_000,
        "max_open_trades": 6, "timeframe": "5m", "strategy": name,
        "strategy_path": str(Path(__file__).parent), "user_data_dir": workdir, "datadir": data,
        "dataformat_ohlcv": "feather", "runmode": RunMode.BACKTEST, "timerange": None,
        "pairlists": [{"method": "StaticPairList"}], "entry_pricing": {"price_side": "same"},
        "exit_pricing": {"price_side": "same"}, "export": "none", "trading_mode": "spot", "margin_mode": "",
        "internals": {}, "fee": 0.0, "candle_type_def": "spot", "original_config": {},
    }
    with mock.patch.object(Exchange, "reload_markets", reload_markets), \
            mock.patch.object(Exchange, "validate_config", lambda self, config: None):
        backtesting = Backtesting(config)
        strategy = backtesting.strategylist[0]
        strategy.capvault_service, strategy.capvault_slot, strategy.capvault_client = service, slot, slot
        if len(sys.argv) > 6:
            strategy.capvault_slot_number = int(sys.argv[6])
        if hasattr(strategy, "_capvault_vault"):
            strategy._capvault_vault()
        candles, timerange = backtesting.load_bt_data()
        (workdir / "ready").touch()
        while barrier.exists():
            time.sleep(0.001)
        began = time.perf_counter()
        backtesting.backtest_one_strategy(strategy, candles, timerange)
        seconds = time.perf_counter() - began
    trades = backtesting.all_bt_content[name]["results"]
    print(json.dumps({
        "trades": len(trades), "seconds": seconds, "refused": getattr(strategy, "capvault_refused", 0),
        "replaced": backtesting.replaced_entry_orders, "timed_out": backtesting.timedout_entry_orders,
        "adjustments": getattr(strategy, "adjustments", 0), "checks": getattr(strategy, "checks", []),
    }))


if __name__ == "__main__":
    main()
