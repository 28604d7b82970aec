"""capvault's nautilus_trader adapter in a real backtest: two strategies on one 15,000 USD cash
account, each order reserved in capvault before it reaches the RiskEngine."""

from __future__ import annotations

import os
from decimal import Decimal

import pytest

if not os.environ.get("CAPVAULT_REQUIRE_NAUTILUS"):
    pytest.importorskip("nautilus_trader")

import capvault
from capvault.adapters.nautilus import CapvaultActor, CapvaultActorConfig, CapvaultGuard
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.currencies import USD
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.enums import AccountType, OmsType, OrderSide
from nautilus_trader.model.identifiers import InstrumentId, Venue
from nautilus_trader.model.objects import Money, Price, Quantity
from nautilus_trader.test_kit.providers import TestInstrumentProvider
from nautilus_trader.trading.strategy import Strategy

VENUE = Venue("XNAS")


class BuyerConfig(StrategyConfig, frozen=True):
    instrument_id: str
    # (tick number, quantity, limit price) of each buy.
    buys: tuple = ()
    # (tick number, ((quantity, limit price), ...)) of each order list of buys.
    lists: tuple = ()
    # (tick number, quantity, limit price) of each sell.
    sells: tuple = ()


class Buyer(Strategy):
    """Buys what its config says, at the ticks it says."""

    def __init__(self, config: BuyerConfig):
        super().__init__(config)
        self.ticks = 0
        self.denied = []

    def on_start(self):
        self.instrument = InstrumentId.from_str(self.config.instrument_id)
        self.subscribe_quote_ticks(self.instrument)

    def on_quote_tick(self, tick):
        self.ticks += 1
        for at, quantity, price in self.config.buys:
            if at == self.ticks:
                order = self.order_factory.limit(
                    self.instrument, OrderSide.BUY, Quantity.from_int(quantity), Price.from_str(price)
                )
                self.submit_order(order)
        for at, legs in self.config.lists:
            if at == self.ticks:
                orders = [
                    self.order_factory.limit(
                        self.instrument, OrderSide.BUY, Quantity.from_int(quantity), Price.from_str(price)
                    )
                    for quantity, price in legs
                ]
                self.submit_order_list(self.order_factory.create_list(orders))
        for at, quantity, price in self.config.sells:
            if at == self.ticks:
                self.submit_order(self.order_factory.limit(
                    self.instrument, OrderSide.SELL, Quantity.from_int(quantity), Price.from_str(price)))

    def on_order_denied(self, event):
        self.denied.append(event.reason)


class GuardedBuyer(CapvaultGuard, Buyer):
    pass


def quotes(instrument, ticks, asks):
    """`ticks` quotes one second apart; `asks` maps a tick number to its (ask, size)."""
    return [
        QuoteTick(
            instrument_id=instrument.id,
            bid_price=Price.from_str("99.00"),
            ask_price=Price.from_str(asks.get(n, ("100.00", 10_000))[0]),
            bid_size=Quantity.from_int(10_000),
            ask_size=Quantity.from_int(asks.get(n, ("100.00", 10_000))[1]),
            ts_event=n * 1_000_000_000,
            ts_init=n * 1_000_000_000,
        )
        for n in range(1, ticks + 1)
    ]


def run(kind, buys_a, buys_b, ticks=6, asks=None, lists_a=(), lists_b=(), sells_a=()):
    """A backtest of two buyers of `kind` on one 15,000 USD account; the vault (or None)."""
    instrument = TestInstrumentProvider.equity(symbol="AAPL", venue="XNAS")
    engine = BacktestEngine(config=BacktestEngineConfig(trader_id="TESTER-001"))
    engine.add_venue(
        venue=VENUE,
        oms_type=OmsType.NETTING,
        account_type=AccountType.CASH,
        base_currency=USD,
        starting_balances=[Money(15_000, USD)],
    )
    engine.add_instrument(instrument)
    engine.add_data(quotes(instrument, ticks, asks or {}))
    vault = None
    if kind is GuardedBuyer:
        vault = capvault.Vault({
            "books": [{
                "venue": "XNAS", "currency": "USD", "slot_count": 4, "balance": 15000, "reserve_ratio": 0,
                "strategies": [{"slot": 2, "label": "Buyer-001"}, {"slot": 3, "label": "Buyer-002"}],
            }],
        })
    strategies = []
    for n, buys, lists, sells in ((1, buys_a, lists_a, sells_a), (2, buys_b, lists_b, ())):
        strategy = kind(BuyerConfig(
            instrument_id=str(instrument.id), buys=tuple(buys), lists=tuple(lists), sells=tuple(sells),
            strategy_id=f"Buyer-00{n}", order_id_tag=f"00{n}",
        ))
        if vault is not None:
            strategy.capvault, strategy.capvault_book, strategy.capvault_slot = vault, "USD", f"Buyer-00{n}"
        engine.add_strategy(strategy)
        strategies.append(strategy)
    if vault is not None:
        actor = CapvaultActor(CapvaultActorConfig(strategies=("Buyer-001-001", "Buyer-002-002")))
        actor.capvault = vault
        engine.add_actor(actor)
    engine.run()
    return engine, strategies, vault


def balance(engine):
    account = engine.portfolio.account(VENUE)
    return account.balance_total(USD).as_decimal(), account.balance_free(USD).as_decimal()


def holdings(engine, strategy):
    """What a strategy's open position cost: quantity x average open price."""
    positions = engine.cache.positions_open(strategy_id=strategy.id)
    return sum((p.quantity.as_decimal() * Decimal(str(p.avg_px_open)) for p in positions), Decimal(0))


def test_same_tick_buys_over_commit_without_the_guard_and_not_with_it():
    # Two 9,900 buys on 15,000 in the same tick: nautilus accepts both, and the account goes
    # negative (the backtest stops on it).
    engine, strategies, _ = run(Buyer, [(1, 99, "100.00")], [(1, 99, "100.00")])
    total, _ = balance(engine)
    assert total < 0 or all(not s.denied for s in strategies)
    engine.dispose()

    engine, (a, b), vault = run(GuardedBuyer, [(1, 99, "100.00")], [(1, 99, "100.00")])
    assert not a.denied
    assert len(b.denied) == 1 and "capvault exceeds_credit_limit" in b.denied[0]
    total, _ = balance(engine)
    assert total == Decimal(15_000) - Decimal(9_900)
    assert vault.balance("USD", "Buyer-001") == Decimal(9_900)
    assert vault.balance("USD", "Buyer-002") == 0
    assert vault.balance("USD", 1) == Decimal(5_100)
    engine.dispose()
    vault.close()


def test_the_shared_pool_runs_out_and_each_strategy_holds_exactly_its_positions():
    buys_a = [(1, 30, "100.00"), (2, 30, "100.00"), (3, 30, "100.00")]
    buys_b = [(1, 20, "100.00"), (2, 20, "100.00"), (3, 20, "100.00"), (4, 20, "100.00")]
    engine, (a, b), vault = run(GuardedBuyer, buys_a, buys_b)
    # 15,000 buys 150 shares at 100: a gets 3 x 30, b 3 x 20, and b's fourth (2,000 > 0 left) is
    # refused by capvault before nautilus sees it.
    assert not a.denied
    assert len(b.denied) == 1
    assert vault.balance("USD", 1) == 0
    # Reconciliation: capvault's per-strategy holdings equal nautilus's positions, exactly.
    assert vault.balance("USD", "Buyer-001") == holdings(engine, a) == Decimal(9_000)
    assert vault.balance("USD", "Buyer-002") == holdings(engine, b) == Decimal(6_000)
    total, _ = balance(engine)
    assert total == vault.balance("USD", 1)
    snapshot = vault.snapshot()
    assert all(order["frozen"] == 0 for order in snapshot.orders())
    engine.dispose()
    vault.close()


def test_a_partial_fill_holds_exactly_what_it_filled_and_what_is_still_working():
    # A buys 100 at 100 and only 51 are offered: 5,100 used, 4,900 still frozen for the rest,
    # 5,000 free for B (nautilus itself locks the order's whole 10,000 after a partial fill).
    asks = {1: ("100.00", 51)} | {n: ("101.00", 10_000) for n in range(2, 7)}
    engine, (a, b), vault = run(GuardedBuyer, [(1, 100, "100.00")], [(2, 9, "101.00")], asks=asks)
    order = vault.orders("USD")
    a_order = next(o for o in order if o["slot"] == 2)
    assert (a_order["used"], a_order["frozen"], a_order["state"]) == (Decimal(5_100), Decimal(4_900), "partially_filled")
    assert vault.balance("USD", "Buyer-001") == Decimal(10_000)
    # B's 909 passed capvault (5,000 is free), then nautilus's own RiskEngine denied it: it
    # counts A's whole 10,000 as locked and the rest of its cash, 9,900 - 10,000, as nothing free.
    # The actor gave B's reservation back.
    assert len(b.denied) == 1 and b.denied[0].startswith("NOTIONAL_EXCEEDS_FREE_BALANCE"), b.denied
    assert vault.balance("USD", 1) == Decimal(5_000)
    assert holdings(engine, a) == Decimal(5_100)
    assert vault.balance("USD", "Buyer-002") == holdings(engine, b)
    assert vault.balance("USD", 1) == Decimal(15_000) - Decimal(10_000) - holdings(engine, b)
    total, _ = balance(engine)
    assert total == Decimal(15_000) - Decimal(5_100) - holdings(engine, b)
    engine.dispose()
    vault.close()


def test_an_order_list_is_reserved_all_or_none():
    # A's ladder of three 4,000 layers fits; B's two 2,000 layers do not fit the 3,000 left and
    # are denied together, nothing reserved; B's single 3,000 buy then fits exactly.
    ladder = ((1, ((40, "100.00"), (40, "100.00"), (40, "100.00"))),)
    pair = ((2, ((20, "100.00"), (20, "100.00"))),)
    engine, (a, b), vault = run(GuardedBuyer, [], [(3, 30, "100.00")], lists_a=ladder, lists_b=pair)
    assert not a.denied
    assert len(b.denied) == 2 and all("order 1 of the list" in reason for reason in b.denied), b.denied
    assert vault.balance("USD", "Buyer-001") == holdings(engine, a) == Decimal(12_000)
    assert vault.balance("USD", "Buyer-002") == holdings(engine, b) == Decimal(3_000)
    assert vault.balance("USD", 1) == 0
    engine.dispose()
    vault.close()


def test_a_closed_position_gives_its_capital_back():
    # A buys 30 at 100 twice (6,000) and sells all 60 at tick 3, which closes its position: the
    # actor releases both buys, so B's 14,000 at tick 4 fits (it would not while A held 6,000).
    # The sale's loss (60 at 99) reaches capvault by reconciliation, not here. (nautilus checks a
    # cash account's sell against its free cash too: the sizes keep the sale under it.)
    engine, (a, b), vault = run(GuardedBuyer, [(1, 30, "100.00"), (2, 30, "100.00")], [(4, 140, "100.00")],
                                sells_a=[(3, 60, "99.00")])
    assert not a.denied and not b.denied, (a.denied, b.denied)
    assert engine.cache.positions_open(strategy_id=a.id) == []
    assert vault.balance("USD", "Buyer-001") == 0
    assert vault.balance("USD", "Buyer-002") == holdings(engine, b) == Decimal(14_000)
    assert vault.balance("USD", 1) == Decimal(1_000)
    assert all(order["slot"] == 3 for order in vault.orders("USD"))
    engine.dispose()
    vault.close()


class Trader(Strategy):
    """Sells or buys what its config says (``sells`` and ``buys``: (tick, quantity, price))."""

    def __init__(self, config: BuyerConfig):
        super().__init__(config)
        self.ticks = 0
        self.denied = []

    def on_start(self):
        self.instrument = InstrumentId.from_str(self.config.instrument_id)
        self.subscribe_quote_ticks(self.instrument)

    def on_quote_tick(self, tick):
        self.ticks += 1
        for side, orders in ((OrderSide.SELL, self.config.sells), (OrderSide.BUY, self.config.buys)):
            for at, quantity, price in orders:
                if at == self.ticks:
                    self.submit_order(self.order_factory.limit(
                        self.instrument, side, Quantity.from_str(quantity), Price.from_str(price)))

    def on_order_denied(self, event):
        self.denied.append(event.reason)


class GuardedTrader(CapvaultGuard, Trader):
    pass


def test_crypto_sells_spend_the_asset_book():
    # Seed 004's venue: an account of 1 BTC and 10,000 USDT. A sells 0.6 BTC and B sells 0.6 BTC
    # in the same tick: the sells spend BTC, a book of its own (`"sells": "spend"`), so capvault
    # refuses B's (0.4 left). A buys its 0.6 back at tick 3, which closes its position: both of
    # its orders are released.
    from nautilus_trader.model.currencies import BTC, USDT

    instrument = TestInstrumentProvider.btcusdt_binance()
    engine = BacktestEngine(config=BacktestEngineConfig(trader_id="TESTER-001"))
    engine.add_venue(venue=Venue("BINANCE"), oms_type=OmsType.NETTING, account_type=AccountType.CASH,
                     base_currency=None, starting_balances=[Money(1, BTC), Money(10_000, USDT)])
    engine.add_instrument(instrument)
    engine.add_data([
        QuoteTick(instrument_id=instrument.id, bid_price=Price.from_str("100.00"), ask_price=Price.from_str("100.00"),
                  bid_size=Quantity.from_str("10.000000"), ask_size=Quantity.from_str("10.000000"),
                  ts_event=n * 1_000_000_000, ts_init=n * 1_000_000_000)
        for n in range(1, 6)
    ])
    labels = [{"slot": 2, "label": "Trader-001"}, {"slot": 3, "label": "Trader-002"}]
    vault = capvault.Vault({"books": [
        {"venue": "BINANCE", "currency": "USDT", "slot_count": 4, "balance": 10000, "reserve_ratio": 0,
         "strategies": labels},
        {"venue": "BINANCE", "currency": "BTC", "slot_count": 4, "balance": 1, "decimals": 8, "sells": "spend",
         "reserve_ratio": 0, "strategies": labels},
    ]})
    strategies = []
    for n, sells, buys in ((1, [(1, "0.600000", "100.00")], [(3, "0.600000", "100.00")]),
                           (2, [(1, "0.600000", "100.00")], [])):
        strategy = GuardedTrader(BuyerConfig(instrument_id=str(instrument.id), buys=tuple(buys), sells=tuple(sells),
                                             strategy_id=f"Trader-00{n}", order_id_tag=f"00{n}"))
        strategy.capvault, strategy.capvault_book, strategy.capvault_sell_book = vault, "USDT", "BTC"
        strategy.capvault_slot = f"Trader-00{n}"
        engine.add_strategy(strategy)
        strategies.append(strategy)
    actor = CapvaultActor(CapvaultActorConfig())
    actor.capvault = vault
    engine.add_actor(actor)
    engine.run()
    a, b = strategies
    assert not a.denied
    assert len(b.denied) == 1 and "capvault" in b.denied[0], b.denied
    # A's position opened by the sell and closed by the buy: nothing held in either book.
    assert engine.cache.positions_open(strategy_id=a.id) == []
    assert vault.balance("BTC", "Trader-001") == 0 and vault.balance("USDT", "Trader-001") == 0
    assert vault.balance("BTC", 1) == 1 and vault.balance("USDT", 1) == 10_000
    assert vault.orders("BTC") == [] and vault.orders("USDT") == []
    account = engine.portfolio.account(Venue("BINANCE"))
    assert account.balance_total(BTC).as_decimal() == 1
    engine.dispose()
    vault.close()
