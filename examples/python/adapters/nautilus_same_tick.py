"""Two nautilus_trader strategies on one 15,000 USD cash account, each buying 99 shares at 100
(9,900) on the same tick: without capvault nautilus accepts both and the account goes negative;
with `CapvaultGuard` the second is denied by capvault before it reaches the RiskEngine.

    pip install './python[nautilus]'
    python examples/python/adapters/nautilus_same_tick.py
"""

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


class OneBuyConfig(StrategyConfig, frozen=True):
    instrument_id: str


class OneBuy(Strategy):
    """Buys 99 shares at 100 on the first quote."""

    def on_start(self):
        self.denied = []
        self.instrument = InstrumentId.from_str(self.config.instrument_id)
        self.subscribe_quote_ticks(self.instrument)

    def on_quote_tick(self, tick):
        if not self.cache.orders(strategy_id=self.id):
            self.submit_order(self.order_factory.limit(
                self.instrument, OrderSide.BUY, Quantity.from_int(99), Price.from_str("100.00")))

    def on_order_denied(self, event):
        self.denied.append(event.reason)


class GuardedOneBuy(CapvaultGuard, OneBuy):
    pass


def run(kind):
    instrument = TestInstrumentProvider.equity(symbol="AAPL", venue="XNAS")
    engine = BacktestEngine(config=BacktestEngineConfig(logging=LoggingConfig(log_level="ERROR")))
    engine.add_venue(venue=Venue("XNAS"), oms_type=OmsType.NETTING, account_type=AccountType.CASH,
                     base_currency=USD, starting_balances=[Money(15_000, USD)])
    engine.add_instrument(instrument)
    engine.add_data([
        QuoteTick(instrument_id=instrument.id, bid_price=Price.from_str("99.00"), ask_price=Price.from_str("100.00"),
                  bid_size=Quantity.from_int(10_000), ask_size=Quantity.from_int(10_000),
                  ts_event=n * 1_000_000_000, ts_init=n * 1_000_000_000)
        for n in range(1, 4)
    ])
    vault = None
    if kind is GuardedOneBuy:
        vault = capvault.Vault({"books": [{
            "venue": "XNAS", "currency": "USD", "slot_count": 4, "balance": 15000, "reserve_ratio": 0,
            "strategies": [{"slot": 2, "label": "OneBuy-001"}, {"slot": 3, "label": "OneBuy-002"}],
        }]})
    strategies = []
    for n in (1, 2):
        strategy = kind(OneBuyConfig(instrument_id=str(instrument.id), strategy_id=f"OneBuy-00{n}",
                                     order_id_tag=f"00{n}"))
        if vault is not None:
            strategy.capvault, strategy.capvault_book, strategy.capvault_slot = vault, "USD", f"OneBuy-00{n}"
        engine.add_strategy(strategy)
        strategies.append(strategy)
    if vault is not None:
        actor = CapvaultActor(CapvaultActorConfig())
        actor.capvault = vault
        engine.add_actor(actor)
    try:
        engine.run()
    except Exception as stopped:  # nautilus stops the backtest on a negative cash balance
        print(f"  nautilus stopped the backtest: {type(stopped).__name__}: {stopped}")
    account = engine.portfolio.account(Venue("XNAS"))
    print(f"  account total {account.balance_total(USD)}, free {account.balance_free(USD)}")
    for strategy in strategies:
        filled = sum(o.filled_qty.as_double() for o in engine.cache.orders(strategy_id=strategy.id))
        print(f"  {strategy.id}: filled {filled:g} shares; denied: {strategy.denied or 'none'}")
    if vault is not None:
        print(f"  capvault: pool {vault.balance('USD', 1)}, "
              + ", ".join(f"{s.capvault_slot} holds {vault.balance('USD', s.capvault_slot)}" for s in strategies))
    engine.dispose()


print("without capvault:")
run(OneBuy)
print("with CapvaultGuard:")
run(GuardedOneBuy)
