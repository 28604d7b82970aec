"""Two hummingbot bots sizing buys on one 1,000 USDT account through capvault: hummingbot's own
BudgetChecker sizes each bot as if it were alone; `CapvaultBudgetChecker` sizes against what
capvault has free and reserves before the orders go out; `CapvaultOrders` follows the fills.

    PYTHONPATH=<hummingbot's source> python examples/python/adapters/hummingbot_two_bots.py

(.ci/run downloads hummingbot's release source for this; a full hummingbot install works too.)"""

import os
from decimal import Decimal

import capvault
from capvault.adapters.hummingbot import CapvaultBudgetChecker, CapvaultOrders
from hummingbot.connector.budget_checker import BudgetChecker
from hummingbot.core.data_type.common import OrderType, TradeType
from hummingbot.core.data_type.order_candidate import OrderCandidate
from hummingbot.core.event.events import BuyOrderCompletedEvent, OrderFilledEvent


class Exchange:
    """What a BudgetChecker reads of a connector: the account's balances."""

    name = "binance"

    def get_available_balance(self, token):
        return {"USDT": Decimal(1000)}.get(token, Decimal(0))

    get_balance = get_available_balance

    def quantize_order_amount(self, trading_pair, amount):
        return Decimal(amount).quantize(Decimal("0.001"), rounding="ROUND_DOWN")


def ladder():
    return [OrderCandidate("BTC-USDT", True, OrderType.LIMIT, TradeType.BUY, Decimal(2), Decimal(price))
            for price in ("100", "99", "98")]


service = f"hummingbot-example-{os.getpid()}"
vault = capvault.Vault({"books": [{
    "venue": "KRAKEN", "currency": "USDT", "slot_count": 4, "balance": 1000, "decimals": 8, "reserve_ratio": 0,
    "strategies": [{"slot": 2, "label": "mm_a"}, {"slot": 3, "label": "mm_b"}],
}]}, serve=service)
exchange = Exchange()
alone = BudgetChecker(exchange)
print("hummingbot alone sizes each bot's three-layer ladder at",
      [str(c.amount) for c in alone.adjust_candidates(ladder())], "BTC: both bots would spend 1,188")
for slot in ("mm_a", "mm_b"):
    checker = CapvaultBudgetChecker(exchange, capvault.connect(service, slot), slot, {"USDT": "USDT"})
    orders = CapvaultOrders(checker.vault)
    sized = checker.adjust_candidates(ladder(), all_or_none=False)
    print(f"{slot}: capvault sizes the ladder at {[str(c.amount) for c in sized]} BTC")
    for n, (candidate, held) in enumerate(zip(sized, checker.reserve_candidates(sized))):
        if held is None:
            continue
        id = f"{slot}-{n}"  # what connector.buy would return
        orders.placed(id, held)
        orders.did_fill_order(OrderFilledEvent(0, id, "BTC-USDT", TradeType.BUY, OrderType.LIMIT, candidate.price,
                                               candidate.amount, None, exchange_trade_id=f"t-{id}"))
        orders.did_complete_buy_order(BuyOrderCompletedEvent(0, id, "BTC", "USDT", candidate.amount,
                                                             candidate.amount * candidate.price, OrderType.LIMIT))
    state = checker.vault.snapshot()
    print(f"{slot}: holds {state.balance('USDT', slot)} USDT; pool {state.balance('USDT', 1)}")
vault.close()
