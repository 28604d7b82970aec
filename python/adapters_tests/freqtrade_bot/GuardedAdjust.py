"""A freqtrade strategy for the adapter's test of what skips ``confirm_trade_entry``.

- BTC/USDT enters at the market and adds 100 USDT every candle (``adjust_trade_position``) until
  capvault refuses.
- ETH/USDT bids below the market (never filled), then moves its bid to the market on the next
  candle (``adjust_order_price``: a replacement).
- SOL/USDT bids below the market and keeps its bid until ``unfilledtimeout`` cancels it with
  nothing filled: freqtrade deletes the trade and calls nothing.

At every candle it checks capvault against freqtrade: what the vault holds as used for this bot
is exactly the value its open trades filled, and what it holds in all never exceeds that plus its
open entry orders' value (the most one entry order can still take).
"""

from decimal import ROUND_DOWN, Decimal

from capvault.adapters.freqtrade import CapvaultStrategyMixin
from freqtrade.persistence import Trade
from freqtrade.strategy import IStrategy

_PLACES = Decimal("0.00000001")


def _value(amount, price):
    return (Decimal(str(amount)) * Decimal(str(price))).quantize(_PLACES, rounding=ROUND_DOWN)


class GuardedAdjust(CapvaultStrategyMixin, IStrategy):
    timeframe = "5m"
    minimal_roi = {"0": 100}
    stoploss = -0.99
    can_short = False
    position_adjustment_enable = True
    unfilledtimeout = {"entry": 30, "exit": 30, "unit": "minutes"}
    capvault_book = "USDT"
    capvault_stale_minutes = 60

    def bot_start(self, **kwargs):
        self.checks = []
        self.adjustments = 0

    def bot_loop_start(self, current_time, **kwargs):
        orders = [o for o in self._capvault_vault().orders("USDT") if o["slot"] == self.capvault_slot_number]
        used = sum((o["used"] for o in orders), Decimal(0))
        held = used + sum((o["frozen"] for o in orders), Decimal(0))
        filled = opened = Decimal(0)
        for trade in Trade.get_trades_proxy(is_open=True):
            for order in trade.orders:
                if order.ft_order_side == trade.entry_side:
                    filled += _value(order.safe_filled, order.safe_price)
                    if order.ft_is_open:
                        opened += _value(order.safe_remaining, order.safe_price) + Decimal("0.01")
        self.checks.append({"time": current_time.isoformat(), "used": str(used), "held": str(held),
                            "filled": str(filled), "open": str(opened)})

    def populate_indicators(self, dataframe, metadata):
        return dataframe

    def populate_entry_trend(self, dataframe, metadata):
        dataframe["enter_long"] = int(metadata["pair"] in ("BTC/USDT", "ETH/USDT", "SOL/USDT"))
        return dataframe

    def populate_exit_trend(self, dataframe, metadata):
        dataframe["exit_long"] = 0
        return dataframe

    def custom_entry_price(self, pair, trade, current_time, proposed_rate, entry_tag, side, **kwargs):
        return 90.0 if pair in ("ETH/USDT", "SOL/USDT") else proposed_rate

    def adjust_order_price(self, trade, order, pair, current_time, proposed_rate, current_order_rate, entry_tag,
                           side, is_entry, **kwargs):
        if is_entry and pair == "ETH/USDT":
            return proposed_rate
        return current_order_rate

    def adjust_trade_position(self, trade, current_time, current_rate, current_profit, min_stake, max_stake,
                              **kwargs):
        if trade.pair == "BTC/USDT" and not trade.has_open_orders:
            self.adjustments += 1
            return 100.0
        return None
