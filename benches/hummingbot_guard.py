"""What capvault's hummingbot adapter costs per order: hummingbot's own BudgetChecker sizing one
candidate (plain) against the adapter's whole path for it (guarded: sizing with capvault's free
capital, the reservation, a fill, the completion and the release) through a connection to a
vault served by this process, alternating runs, median of the runs.

    PYTHONPATH=<hummingbot's source> python benches/hummingbot_guard.py [--orders 2000] [--runs 5]

Needs hummingbot's budget checker importable (as .ci/run sets it up)."""

from __future__ import annotations

import argparse
import os
import statistics
import time
from decimal import Decimal

import capvault
from capvault.adapters.hummingbot import CapvaultBudgetChecker, CapvaultOrders
from hummingbot.connector.budget_checker import BudgetChecker
from hummingbot.core.data_type.common import OrderType, TradeType
from hummingbot.core.data_type.order_candidate import OrderCandidate
from hummingbot.core.event.events import BuyOrderCompletedEvent, OrderFilledEvent


class Exchange:
    name = "binance"

    def get_available_balance(self, token):
        return Decimal(1_000_000)

    get_balance = get_available_balance

    def quantize_order_amount(self, trading_pair, amount):
        return Decimal(amount).quantize(Decimal("0.001"), rounding="ROUND_DOWN")


def candidate():
    return OrderCandidate("BTC-USDT", True, OrderType.LIMIT, TradeType.BUY, Decimal(1), Decimal(100))


def plain(checker, orders):
    began = time.perf_counter()
    for _ in range(orders):
        checker.adjust_candidates([candidate()])
    return (time.perf_counter() - began) / orders * 1e6


def guarded(checker, events, orders, run):
    began = time.perf_counter()
    for n in range(orders):
        sized = checker.adjust_candidates([candidate()])
        (held,) = checker.reserve_candidates(sized)
        id = f"B-{run}-{n}"
        events.placed(id, held)
        events.did_fill_order(OrderFilledEvent(0, id, "BTC-USDT", TradeType.BUY, OrderType.LIMIT, Decimal(100),
                                               Decimal(1), None, exchange_trade_id=id))
        events.did_complete_buy_order(BuyOrderCompletedEvent(0, id, "BTC", "USDT", Decimal(1), Decimal(100),
                                                             OrderType.LIMIT))
        events.release(id)
    return (time.perf_counter() - began) / orders * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    service = f"hb-bench-{os.getpid()}"
    vault = capvault.Vault({"books": [{
        "venue": "KRAKEN", "currency": "USDT", "slot_count": 3, "balance": 1000, "decimals": 8,
        "reserve_ratio": 0, "strategies": [{"slot": 2, "label": "bot"}],
    }]}, serve=service)
    exchange = Exchange()
    checker = CapvaultBudgetChecker(exchange, capvault.connect(service, "bot"), "bot", {"USDT": "USDT"})
    events = CapvaultOrders(checker.vault)
    base = BudgetChecker(exchange)
    costs = {"plain": [], "guarded": []}
    for run in range(args.runs):
        costs["plain"].append(plain(base, args.orders))
        costs["guarded"].append(guarded(checker, events, args.orders, run))
    state = vault.snapshot(at_least=checker.vault.seq)
    assert state.orders("USDT") == [] and state.balance("USDT", 1) == 1000
    vault.close()
    p, g = statistics.median(costs["plain"]), statistics.median(costs["guarded"])
    print(f"hummingbot, {args.orders} orders a run, median of {args.runs} runs: hummingbot's sizing {p:.1f} us/order, "
          f"the adapter's path {g:.1f} us/order (5 commands over a served connection); the guard adds "
          f"{g - p:.1f} us per order")


if __name__ == "__main__":
    main()
