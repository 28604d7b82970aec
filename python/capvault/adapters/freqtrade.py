"""capvault inside freqtrade: several bots (separate processes) trading one exchange account,
each entry's stake reserved in a served capvault vault before freqtrade places it.

``CapvaultStrategyMixin`` goes before ``IStrategy`` in a strategy's bases
(``class Grid(CapvaultStrategyMixin, IStrategy)``). Set ``capvault_service`` (the served vault's
name, ``capvault serve`` or ``capvault.Vault(..., serve=...)``), ``capvault_book`` and
``capvault_slot`` (this bot's slot or label), or assign ``capvault`` to any ``capvault.Commands``.

- ``confirm_trade_entry``: reserves amount x rate (rounded up to 8 decimal places) under an id
  made from the bot's slot, the pair and the candle time; a refusal returns ``False``, so
  freqtrade does not place the entry.
- ``order_filled``: an entry fill becomes ``fill_to`` (the trade's cumulative filled value); an
  entry filled for less than reserved gives the rest back (``cancel``); the exit that closes the
  trade releases what it held (``release_order``).
- ``bot_loop_start``: a sweep. An entry confirmed but never filled gets no callback from
  freqtrade (cancelled by ``unfilledtimeout``, or refused by the exchange), so a reservation not
  filled within ``capvault_stale_minutes`` is cancelled.

What it does not guard (``docs/adapters/freqtrade.md``): position adjustments and order
replacements (they skip ``confirm_trade_entry``), shorts, and the proceeds of an exit (they come
back to the pool through reconciliation, as in seed 000).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Any, Dict, Tuple

import capvault
from capvault import Rejected, order_id_from_text

__all__ = ["CapvaultStrategyMixin"]

logger = logging.getLogger(__name__)

_PLACES = Decimal("0.00000001")


def _value(amount: float, price: float, rounding) -> Decimal:
    return (Decimal(str(amount)) * Decimal(str(price))).quantize(_PLACES, rounding=rounding)


class CapvaultStrategyMixin:
    capvault: Any = None
    capvault_service: str = ""
    capvault_client: str = "freqtrade"
    capvault_book: Any = None
    capvault_slot: Any = None
    capvault_stale_minutes: int = 60

    def _capvault_vault(self):
        if self.capvault is None:
            self.capvault = capvault.connect(self.capvault_service, self.capvault_client)
        return self.capvault

    def _capvault_pending(self) -> Dict[str, Tuple[str, Decimal, datetime]]:
        pending = self.__dict__.get("_capvault_pending_entries")
        if pending is None:
            pending = self.__dict__["_capvault_pending_entries"] = {}
        return pending

    def confirm_trade_entry(self, pair, order_type, amount, rate, time_in_force, current_time, entry_tag, side, **kwargs) -> bool:
        if side != "long":
            return True
        id = order_id_from_text(f"{self.capvault_slot}:{pair}:{current_time.isoformat()}")
        value = _value(amount, rate, ROUND_UP)
        try:
            self._capvault_vault().reserve(id, self.capvault_book, self.capvault_slot, str(value), layer=1)
        except Rejected as refused:
            self.capvault_refused = getattr(self, "capvault_refused", 0) + 1
            logger.info("capvault refused the %s entry on %s: %s (%s)", pair, current_time, refused.code, refused)
            return False
        self._capvault_pending()[pair] = (id, value, current_time)
        return True

    def order_filled(self, pair, trade, order, current_time, **kwargs) -> None:
        vault = self._capvault_vault()
        id = trade.get_custom_data("capvault_id")
        if order.ft_order_side == trade.entry_side:
            if id is None:
                pending = self._capvault_pending().pop(pair, None)
                if pending is None:
                    return  # not reserved (a short, or an adjustment)
                id, reserved, _ = pending
                trade.set_custom_data("capvault_id", id)
                trade.set_custom_data("capvault_reserved", str(reserved))
            reserved = Decimal(trade.get_custom_data("capvault_reserved"))
            filled = sum(
                (_value(o.safe_filled, o.safe_price, ROUND_DOWN) for o in trade.orders
                 if o.ft_order_side == trade.entry_side and o.safe_filled),
                Decimal(0),
            )
            filled = min(filled, reserved)
            if filled > 0:
                vault.fill_to(id, str(filled))
            if not order.safe_remaining and filled < reserved:
                vault.cancel(id)
        elif id is not None and (not trade.is_open or order.safe_filled >= trade.amount):
            # The exit that closes the trade (freqtrade may call this before it marks the trade
            # closed): what the entry holds goes back. A partial exit releases nothing yet.
            vault.release_order(id)

    def bot_loop_start(self, current_time: datetime, **kwargs) -> None:
        stale = current_time - timedelta(minutes=self.capvault_stale_minutes)
        pending = self._capvault_pending()
        for pair, (id, _, confirmed) in list(pending.items()):
            if confirmed < stale:
                self._capvault_vault().cancel(id)
                del pending[pair]
