"""capvault's hummingbot adapter against hummingbot's own BudgetChecker and OrderCandidate (the
release's source, `.ci/run` puts it on the path) and its order event classes: two bots on one
exchange account, sizing and reserving through one served vault."""

from __future__ import annotations

import os
import threading
from decimal import Decimal

import pytest

if not os.environ.get("CAPVAULT_REQUIRE_HUMMINGBOT"):
    pytest.importorskip("hummingbot.connector.budget_checker")

import capvault
from capvault.adapters.hummingbot import CapvaultBudgetChecker, CapvaultOrders
from hummingbot.connector.budget_checker import BudgetChecker
from hummingbot.core.data_type.common import OrderType, TradeType
from hummingbot.core.data_type.order_candidate import OrderCandidate
from hummingbot.core.event.events import (
    BuyOrderCompletedEvent,
    MarketOrderFailureEvent,
    OrderCancelledEvent,
    OrderFilledEvent,
    SellOrderCompletedEvent,
)


class Exchange:
    """The part of a hummingbot connector a BudgetChecker reads: one account's balances."""

    name = "binance"

    def __init__(self, balances):
        self.balances = {token: Decimal(amount) for token, amount in balances.items()}

    def get_available_balance(self, token):
        return self.balances.get(token, Decimal(0))

    get_balance = get_available_balance

    def quantize_order_amount(self, trading_pair, amount):
        return Decimal(amount).quantize(Decimal("0.001"), rounding="ROUND_DOWN")

    def get_price(self, trading_pair, is_buy):
        raise AssertionError("no cross pair in these tests")


def buy(amount, price="100", pair="BTC-USDT"):
    return OrderCandidate(pair, True, OrderType.LIMIT, TradeType.BUY, Decimal(amount), Decimal(price))


def sell(amount, price="100", pair="BTC-USDT"):
    return OrderCandidate(pair, True, OrderType.LIMIT, TradeType.SELL, Decimal(amount), Decimal(price))


def filled(order_id, trade, amount, price="100", side=TradeType.BUY):
    return OrderFilledEvent(0, order_id, "BTC-USDT", side, OrderType.LIMIT, Decimal(price), Decimal(amount), None,
                            exchange_trade_id=trade)


@pytest.fixture
def desk():
    service = f"hb-test-{os.getpid()}-{threading.get_ident()}"
    vault = capvault.Vault({
        "books": [
            {"venue": "KRAKEN", "currency": "USDT", "slot_count": 4, "balance": 1000, "decimals": 8,
             "reserve_ratio": 0, "strategies": [{"slot": 2, "label": "bot_a"}, {"slot": 3, "label": "bot_b"}]},
            {"venue": "KRAKEN", "currency": "BTC", "slot_count": 4, "balance": 1, "decimals": 8, "sells": "spend",
             "reserve_ratio": 0, "strategies": [{"slot": 2, "label": "bot_a"}, {"slot": 3, "label": "bot_b"}]},
        ],
    }, serve=service)
    exchange = Exchange({"USDT": 1000, "BTC": 1})
    bots = {
        slot: CapvaultBudgetChecker(exchange, capvault.connect(service, slot), slot, {"USDT": "USDT", "BTC": "BTC"})
        for slot in ("bot_a", "bot_b")
    }
    yield vault, bots
    vault.close()


def test_sizing_sees_the_other_bots_reservations(desk):
    vault, bots = desk
    a, b = bots["bot_a"], bots["bot_b"]
    # bot_a sizes three 300 buys: hummingbot's own checker lets all three through (900 of 1,000).
    sized = a.adjust_candidates([buy(3), buy(3), buy(3)], all_or_none=True)
    assert [c.amount for c in sized] == [3, 3, 3]
    held = a.reserve_candidates(sized)
    assert [r.amount for r in held] == [Decimal(300)] * 3
    assert a.vault.balance("USDT", 1) == 100 and a.vault.balance("USDT", "bot_a") == 900
    b.vault.snapshot(at_least=a.vault.seq)  # bot_b's view includes bot_a's reservations
    # The exchange still shows 1,000 USDT (nothing is placed yet): hummingbot alone would size
    # bot_b's two 300 buys whole. capvault's free 100 sizes them as hummingbot's own checker
    # sizes them on an account of 100: to nothing (all or none), or the first to what 100 buys.
    assert [c.amount for c in BudgetChecker(b._exchange).adjust_candidates([buy(3), buy(3)])] == [3, 3]
    assert [c.amount for c in b.adjust_candidates([buy(3), buy(3)], all_or_none=True)] == [0, 0]
    on_100 = BudgetChecker(Exchange({"USDT": 100})).adjust_candidates([buy(3), buy(3)], all_or_none=False)
    sized = b.adjust_candidates([buy(3), buy(3)], all_or_none=False)
    assert [c.amount for c in sized] == [c.amount for c in on_100] and 0 < sized[0].amount <= 1
    # Reserving unsized candidates is refused whole, in one linked command over the connection:
    # the refusal names the second candidate, and nothing was held for either, even briefly.
    seq = vault.snapshot(at_least=max(a.vault.seq, b.vault.seq)).seq
    with pytest.raises(capvault.Rejected) as refused:
        b.reserve_candidates([buy("0.5"), buy(3)])
    assert refused.value.figures["part"] == 1
    assert vault.snapshot().seq == seq
    state = vault.snapshot(at_least=max(a.vault.seq, b.vault.seq))
    assert state.balance("USDT", 1) == 100 and state.balance("USDT", "bot_b") == 0
    assert len(state.orders("USDT")) == 3


def test_order_events_move_the_reservation(desk):
    vault, bots = desk
    a = bots["bot_a"]
    orders = CapvaultOrders(a.vault)
    first, second, third = a.reserve_candidates(a.adjust_candidates([buy(3), buy(3), buy(3)]))
    for client_id, r in zip(("B-1", "B-2", "B-3"), (first, second, third)):
        orders.placed(client_id, r)
    # B-1 fills in two trades, the first reported twice, then completes: 300 used.
    orders.did_fill_order(filled("B-1", "t1", 1))
    orders.did_fill_order(filled("B-1", "t1", 1))
    assert a.vault.order(first.id)["used"] == 100
    orders.did_fill_order(filled("B-1", "t2", 2))
    orders.did_complete_buy_order(BuyOrderCompletedEvent(0, "B-1", "BTC", "USDT", Decimal(3), Decimal(300),
                                                         OrderType.LIMIT))
    assert a.vault.order(first.id)["used"] == 300 and a.vault.order(first.id)["frozen"] == 0
    # B-2 fills half a BTC and is cancelled: 50 stays used, 250 goes back.
    orders.did_fill_order(filled("B-2", "t3", "0.5"))
    orders.did_cancel_order(OrderCancelledEvent(0, "B-2"))
    assert a.vault.order(second.id)["used"] == 50 and a.vault.order(second.id)["frozen"] == 0
    # B-3 is refused by the exchange: all of it goes back.
    orders.did_fail_order(MarketOrderFailureEvent(0, "B-3", OrderType.LIMIT))
    assert a.vault.balance("USDT", 1) == 1000 - 300 - 50
    # The bot closes B-1's position: its 300 goes back. Again: nothing more.
    orders.release("B-1")
    orders.release("B-1")
    orders.release("B-2")
    assert a.vault.balance("USDT", 1) == 1000 and a.vault.balance("USDT", "bot_a") == 0


def test_a_sell_spends_the_asset_book(desk):
    vault, bots = desk
    b = bots["bot_b"]
    orders = CapvaultOrders(b.vault)
    # Selling 0.6 BTC spends BTC (the candidate's collateral): reserved in the BTC book, whose
    # sell rule is `spend`. A second 0.6 is sized to the 0.4 left, or refused whole.
    (held,) = b.reserve_candidates(b.adjust_candidates([sell("0.6")]))
    assert (held.book, held.side, held.amount) == ("BTC", "sell", Decimal("0.6"))
    assert b.vault.balance("BTC", 1) == Decimal("0.4") and b.vault.balance("USDT", 1) == 1000
    assert b.adjust_candidates([sell("0.6")], all_or_none=False)[0].amount == Decimal("0.4")
    with pytest.raises(capvault.Rejected):
        b.reserve_candidates([sell("0.6")])
    orders.placed("S-1", held)
    orders.did_fill_order(filled("S-1", "t9", "0.6", side=TradeType.SELL))
    orders.did_complete_sell_order(SellOrderCompletedEvent(0, "S-1", "BTC", "USDT", Decimal("0.6"), Decimal(60),
                                                           OrderType.LIMIT))
    assert b.vault.order(held.id)["used"] == Decimal("0.6")


def test_two_bots_racing_never_hold_more_than_the_account(desk):
    vault, bots = desk
    won = {"bot_a": 0, "bot_b": 0}

    def run(slot):
        bot = bots[slot]
        for _ in range(10):
            sized = bot.adjust_candidates([buy(1)], all_or_none=True)
            try:
                bot.reserve_candidates(sized)
            except capvault.Rejected:
                continue
            if sized[0].amount:
                won[slot] += 1

    threads = [threading.Thread(target=run, args=(slot,)) for slot in bots]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Twenty tries of 100 on 1,000: exactly ten held, whoever won them.
    assert sum(won.values()) == 10, won
    state = vault.snapshot(at_least=max(bot.vault.seq for bot in bots.values()))
    assert state.balance("USDT", 1) == 0
    assert state.balance("USDT", "bot_a") + state.balance("USDT", "bot_b") == 1000
