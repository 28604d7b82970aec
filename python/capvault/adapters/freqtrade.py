"""capvault inside freqtrade: several bots (separate processes) trading one exchange account,
each entry's stake reserved in a served capvault vault before freqtrade places it.

``CapvaultStrategyMixin`` goes before ``IStrategy`` in a strategy's bases
(``class Grid(CapvaultStrategyMixin, IStrategy)``). Set ``capvault_service`` (the served vault's
name, ``capvault serve`` or ``capvault.Vault(..., serve=...)``), ``capvault_book`` and
``capvault_slot`` (this bot's slot or label), or assign ``capvault`` to any ``capvault.Commands``.
A strategy may define the callbacks below itself: the mixin wraps the strategy's own
``confirm_trade_entry``, ``adjust_trade_position``, ``order_filled`` and ``bot_loop_start``, so the
guard runs with them: the strategy's own entry confirmation and position adjustment answer
first (capvault reserves what they let through), and its ``order_filled`` and ``bot_loop_start``
run after capvault settled, so they see the vault in line with freqtrade.

- ``confirm_trade_entry`` (a new trade): reserves amount x rate (rounded up to 8 decimal places);
  a refusal returns ``False``, so freqtrade does not place the entry. An entry freqtrade
  confirms again for a pair with an open trade (backtesting's order replacement) is the same
  stake at a new price: nothing more is reserved.
- ``adjust_trade_position`` (DCA: freqtrade skips ``confirm_trade_entry`` for it): a positive stake
  is reserved as one more order of the trade; a refusal turns the adjustment into none.
- Order replacements (``adjust_order_price``) keep the stake (freqtrade re-places the remainder's
  value at the new price), so the reservation stands as it is.
- ``order_filled`` and every ``bot_loop_start`` settle each open trade from its orders: the value
  filled goes to ``fill_to`` of the trade's reservations in order (cumulative, so a repeated
  report applies nothing), and once no entry order is open what was not filled goes back
  (``cancel``). The exit that closes a trade releases what it held (``release_order``).
- ``bot_loop_start`` also sweeps: a reservation whose trade is gone (an entry cancelled with nothing
  filled: freqtrade deletes the trade and calls nothing) is cancelled, and one confirmed but never
  placed is cancelled after ``capvault_stale_minutes``.

What it does not guard (``docs/adapters/freqtrade.md``): shorts, the proceeds of an exit (they
come back to the pool through reconciliation, as in seed 000), and a partial exit (the trade's
reservations are released whole when it closes).
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Any, Dict, List, Optional

import capvault
from capvault import Rejected, order_id_from_text

__all__ = ["CapvaultStrategyMixin"]

logger = logging.getLogger(__name__)

_PLACES = Decimal("0.00000001")
# The trade's custom data key holding its reservations: a list of
# {"id": hex, "reserved": str, "filled": str, "open": bool}, in the order they were made.
_KEY = "capvault"
# Answers that mean "already done": a settle or a release repeated after a restart.
_DONE = {"fill_already_applied", "order_cancelled", "order_released", "order_filled", "order_expired", "unknown_order"}


def _value(amount: float, price: float, rounding) -> Decimal:
    return (Decimal(str(amount)) * Decimal(str(price))).quantize(_PLACES, rounding=rounding)


def _guarded(name: str, own):
    """Wraps the strategy's own ``name`` so capvault's guard runs with it."""
    guard = getattr(CapvaultStrategyMixin, "_capvault_" + name)

    @functools.wraps(own)
    def wrapper(self, *args, **kwargs):
        return guard(self, own, *args, **kwargs)

    wrapper._capvault_guarded = True
    return wrapper


class CapvaultStrategyMixin:
    capvault: Any = None
    capvault_service: str = ""
    capvault_client: str = "freqtrade"
    capvault_book: Any = None
    capvault_slot: Any = None
    capvault_stale_minutes: int = 60

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in ("confirm_trade_entry", "adjust_trade_position", "order_filled", "bot_loop_start"):
            own = cls.__dict__.get(name)
            if own is not None and not getattr(own, "_capvault_guarded", False):
                setattr(cls, name, _guarded(name, own))

    # freqtrade's callbacks, when the strategy does not define them itself.

    def confirm_trade_entry(self, *args, **kwargs) -> bool:
        return self._capvault_confirm_trade_entry(None, *args, **kwargs)

    def adjust_trade_position(self, *args, **kwargs):
        return self._capvault_adjust_trade_position(None, *args, **kwargs)

    def order_filled(self, *args, **kwargs) -> None:
        return self._capvault_order_filled(None, *args, **kwargs)

    def bot_loop_start(self, *args, **kwargs) -> None:
        return self._capvault_bot_loop_start(None, *args, **kwargs)

    # State.

    def _capvault_vault(self):
        if self.capvault is None:
            self.capvault = capvault.connect(self.capvault_service, self.capvault_client)
        return self.capvault

    def _capvault_state(self, name: str) -> dict:
        # Per instance, made on first use: freqtrade builds strategies without calling a mixin's
        # __init__.
        state = self.__dict__.get(name)
        if state is None:
            state = self.__dict__[name] = {}
        return state

    def _capvault_pending(self) -> Dict[str, dict]:
        """Reservations of new trades not yet seen as a trade, by pair."""
        return self._capvault_state("_capvault_pending_entries")

    def _capvault_tracked(self) -> Dict[int, tuple]:
        """Trades holding reservations, by trade id: their pair and their reservations (a copy
        that outlives a trade freqtrade deletes)."""
        return self._capvault_state("_capvault_tracked_trades")

    def _capvault_store(self, trade, records: List[dict]) -> None:
        trade.set_custom_data(_KEY, records)
        self._capvault_tracked()[trade.id] = (trade.pair, records)

    def _capvault_reserve(self, text: str, value: Decimal) -> Optional[str]:
        id = order_id_from_text(text)
        try:
            self._capvault_vault().reserve(id, self.capvault_book, self.capvault_slot, str(value), layer=1)
        except Rejected as refused:
            self.capvault_refused = getattr(self, "capvault_refused", 0) + 1
            logger.info("capvault refused %s (%s): %s (%s)", text, value, refused.code, refused)
            return None
        return id

    def _capvault_quietly(self, command, *args) -> None:
        try:
            command(*args)
        except Rejected as answer:
            if answer.code not in _DONE:
                raise

    @staticmethod
    def _capvault_records(trade) -> List[dict]:
        return list(trade.get_custom_data(_KEY) or [])

    # The guard.

    def _capvault_confirm_trade_entry(self, own, pair, order_type, amount, rate, time_in_force, current_time,
                                      entry_tag, side, **kwargs) -> bool:
        if own is not None and not own(self, pair, order_type, amount, rate, time_in_force, current_time,
                                       entry_tag, side, **kwargs):
            return False
        if side != "long":
            return True
        from freqtrade.persistence import Trade

        if Trade.get_trades_proxy(pair=pair, is_open=True):
            return True  # a replacement: the trade's reservation holds its stake already
        pending = self._capvault_pending()
        earlier = pending.pop(pair, None)
        if earlier is not None:  # confirmed before, never became a trade
            self._capvault_quietly(self._capvault_vault().cancel, earlier["id"])
        value = _value(amount, rate, ROUND_UP)
        id = self._capvault_reserve(f"{self.capvault_slot}:{pair}:{current_time.isoformat()}", value)
        if id is None:
            return False
        pending[pair] = {"id": id, "reserved": str(value), "filled": "0", "open": True, "at": current_time}
        return True

    def _capvault_adjust_trade_position(self, own, trade, current_time, *args, **kwargs):
        answer = own(self, trade, current_time, *args, **kwargs) if own is not None else None
        stake, tag = (answer[0], answer[1:]) if isinstance(answer, tuple) else (answer, None)
        if not stake or stake < 0 or trade.is_short:
            return answer  # nothing more to hold (a partial exit releases nothing until the close)
        self._capvault_settle(trade)
        records = self._capvault_records(trade)
        value = Decimal(str(stake)).quantize(_PLACES, rounding=ROUND_UP)
        id = self._capvault_reserve(
            f"{self.capvault_slot}:{trade.pair}:{trade.open_date_utc.isoformat()}:{len(records)}", value)
        if id is None:
            return None
        records.append({"id": id, "reserved": str(value), "filled": "0", "open": True})
        self._capvault_store(trade, records)
        return answer

    def _capvault_order_filled(self, own, pair, trade, order, current_time, **kwargs) -> None:
        if order.ft_order_side == trade.entry_side:
            self._capvault_settle(trade)
        elif not trade.is_open or order.safe_filled >= trade.amount:
            # The exit that closes the trade (freqtrade may call this before it marks the trade
            # closed). A partial exit releases nothing yet.
            self._capvault_close(trade)
        if own is not None:
            own(self, pair, trade, order, current_time, **kwargs)

    def _capvault_bot_loop_start(self, own, current_time: datetime, **kwargs) -> None:
        from freqtrade.persistence import Trade

        open_trades = {t.id: t for t in Trade.get_trades_proxy(is_open=True) if not t.is_short}
        for trade in open_trades.values():
            self._capvault_settle(trade)
        tracked = self._capvault_tracked()
        for trade_id in [id for id in tracked if id not in open_trades]:
            # Gone without a closing exit we saw: deleted (an entry cancelled with nothing
            # filled) or closed another way. What it held goes back.
            self._capvault_release(tracked.pop(trade_id)[1])
        stale = current_time - timedelta(minutes=self.capvault_stale_minutes)
        pending = self._capvault_pending()
        for pair, record in list(pending.items()):
            if record["at"] < stale:
                self._capvault_quietly(self._capvault_vault().cancel, record["id"])
                del pending[pair]
        if own is not None:
            own(self, current_time, **kwargs)

    def _capvault_settle(self, trade) -> None:
        """Brings the trade's reservations in line with its orders: the value its entry orders
        filled goes to its reservations in order, and with no entry order open, what was not
        filled goes back."""
        records = self._capvault_records(trade)
        if not records:
            record = self._capvault_pending().pop(trade.pair, None)
            if record is None:
                return  # not reserved by capvault (opened before the guard, or a short)
            records = [{key: record[key] for key in ("id", "reserved", "filled", "open")}]
            self._capvault_store(trade, records)
        vault = self._capvault_vault()
        entries = [o for o in trade.orders if o.ft_order_side == trade.entry_side]
        left = sum((_value(o.safe_filled, o.safe_price, ROUND_DOWN) for o in entries if o.safe_filled), Decimal(0))
        entry_open = any(o.ft_is_open for o in entries)
        changed = False
        for record in records:
            filled, reserved = Decimal(record["filled"]), Decimal(record["reserved"])
            if record["open"]:
                take = min(left, reserved)
                if take > filled:
                    self._capvault_quietly(vault.fill_to, record["id"], str(take))
                    record["filled"], filled, changed = str(take), take, True
                if not entry_open:
                    if filled < reserved:
                        self._capvault_quietly(vault.cancel, record["id"])
                    record["open"], changed = False, True
            left -= filled
        if changed or trade.id not in self._capvault_tracked():
            self._capvault_store(trade, records)

    def _capvault_close(self, trade) -> None:
        """The trade closed: its last fills are settled, then every reservation it made goes
        back whole."""
        self._capvault_settle(trade)
        records = self._capvault_records(trade)
        if records:
            self._capvault_release(records)
            trade.set_custom_data(_KEY, [])
        self._capvault_tracked().pop(trade.id, None)

    def _capvault_release(self, records: List[dict]) -> None:
        vault = self._capvault_vault()
        for record in records:
            if record["open"] and Decimal(record["filled"]) < Decimal(record["reserved"]):
                self._capvault_quietly(vault.cancel, record["id"])
            if Decimal(record["filled"]) > 0:
                self._capvault_quietly(vault.release_order, record["id"])
