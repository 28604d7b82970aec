"""What capvault's nautilus guard costs per order: the same backtest (two strategies, each
buying one share at every quote) with plain strategies and with guarded ones (reserve before
submit, the actor's fill_to per fill), run alternately, median of the runs.

    python benches/nautilus_guard.py [--orders 2000] [--runs 5]

Needs nautilus_trader (``pip install './python[nautilus]'``)."""

from __future__ import annotations

import argparse
import statistics
import time

import capvault
from capvault.adapters.nautilus import CapvaultActor, CapvaultActorConfig, CapvaultGuard
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig, StrategyConfig
from nautilus_trader.model.currencies import USD
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.enums import AccountType, OmsType, OrderSide
from nautilus_trader.model.identifiers import InstrumentId, Venue
from nautilus_trader.model.objects import Money, Price, Quantity
from nautilus_trader.test_kit.providers import TestInstrumentProvider
from nautilus_trader.trading.strategy import Strategy


class EveryTickConfig(StrategyConfig, frozen=True):
    instrument_id: str


class EveryTick(Strategy):
    def on_start(self):
        self.instrument = InstrumentId.from_str(self.config.instrument_id)
        self.subscribe_quote_ticks(self.instrument)

    def on_quote_tick(self, tick):
        order = self.order_factory.limit(self.instrument, OrderSide.BUY, Quantity.from_int(1), Price.from_str("100.00"))
        self.submit_order(order)


class GuardedEveryTick(CapvaultGuard, EveryTick):
    pass


def run(kind, ticks: int) -> float:
    instrument = TestInstrumentProvider.equity(symbol="AAPL", venue="XNAS")
    engine = BacktestEngine(config=BacktestEngineConfig(
        trader_id="BENCH-001", logging=LoggingConfig(log_level="ERROR"),
    ))
    engine.add_venue(venue=Venue("XNAS"), oms_type=OmsType.NETTING, account_type=AccountType.CASH,
                     base_currency=USD, starting_balances=[Money(10_000_000, USD)])
    engine.add_instrument(instrument)
    engine.add_data([
        QuoteTick(instrument_id=instrument.id, bid_price=Price.from_str("99.99"), ask_price=Price.from_str("100.00"),
                  bid_size=Quantity.from_int(1_000_000), ask_size=Quantity.from_int(1_000_000),
                  ts_event=n * 1_000_000_000, ts_init=n * 1_000_000_000)
        for n in range(1, ticks + 1)
    ])
    vault = None
    if kind is GuardedEveryTick:
        vault = capvault.Vault({"books": [{
            "venue": "XNAS", "currency": "USD", "slot_count": 4, "balance": 10_000_000, "reserve_ratio": 0,
            "strategies": [{"slot": 2, "label": "A"}, {"slot": 3, "label": "B"}],
        }]})
        actor = CapvaultActor(CapvaultActorConfig())
        actor.capvault = vault
        engine.add_actor(actor)
    for n, label in ((1, "A"), (2, "B")):
        strategy = kind(EveryTickConfig(instrument_id=str(instrument.id), strategy_id=f"S-00{n}", order_id_tag=f"00{n}"))
        if vault is not None:
            strategy.capvault, strategy.capvault_book, strategy.capvault_slot = vault, "USD", label
        engine.add_strategy(strategy)
    start = time.perf_counter()
    engine.run()
    elapsed = time.perf_counter() - start
    if vault is not None:
        # Every order reserved and filled: 2 per tick, one share at 100 each.
        assert vault.balance("USD", "A") + vault.balance("USD", "B") == 2 * ticks * 100
        vault.close()
    engine.dispose()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=2000, help="orders per run (both strategies)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    ticks = args.orders // 2
    plain, guarded = [], []
    run(EveryTick, 50)  # warm up imports and caches
    for n in range(args.runs):
        for kind, times in ((EveryTick, plain), (GuardedEveryTick, guarded)) if n % 2 == 0 else ((GuardedEveryTick, guarded), (EveryTick, plain)):
            times.append(run(kind, ticks))
    orders = 2 * ticks
    p, g = statistics.median(plain), statistics.median(guarded)
    print(f"nautilus backtest, {orders} orders, median of {args.runs} runs: plain {p * 1e6 / orders:.1f} us/order, "
          f"guarded {g * 1e6 / orders:.1f} us/order; the guard costs {(g - p) * 1e6 / orders:.1f} us per order ({g / p:.2f}x)")


if __name__ == "__main__":
    main()
