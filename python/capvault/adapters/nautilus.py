"""capvault inside nautilus_trader: several strategies on one account, each order's capital
reserved in capvault before the order reaches nautilus's RiskEngine.

- ``CapvaultGuard``: a mixin put before ``Strategy`` in a strategy's bases. Its ``submit_order``
  (and ``submit_order_list``, whose buys are reserved all or none) reserves the order's capital (a limit order: quantity x price; a market order: quantity x the
  best price on its side, plus ``slippage``) in the strategy's slot; a refusal becomes a nautilus
  ``OrderDenied`` for that strategy, with capvault's reason, and the order never reaches the
  RiskEngine.
- ``CapvaultActor``: an actor that turns every guarded strategy's order events into capvault's
  idempotent commands: fills into ``fill_to`` (the cumulative filled value), a closed order's
  unfilled rest back to the pool (``cancel``), a cancel, expiry, rejection or denial into
  ``cancel``; and a closed position (``PositionClosed``) into ``release_order`` of each guarded
  order that filled into it.

Sells hold nothing in a securities account's cash book (capvault's default ``hold_nothing``
rule): a guarded sell is not reserved, unless the strategy names ``capvault_sell_book``, a book
of the asset it sells whose sell rule is ``spend`` (a crypto venue: selling BTC spends BTC), where
a sell reserves its quantity. Order ids are nautilus's text ids, mapped by
``capvault.order_id_from_text``. ``docs/adapters/nautilus.md`` gives the exact mapping and what
the guard cannot see. Tested against nautilus_trader 1.221.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Dict, Optional

from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig
from nautilus_trader.core.uuid import UUID4
from nautilus_trader.model.enums import OrderSide, OrderType
from nautilus_trader.model.events import (
    OrderCanceled,
    OrderDenied,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    PositionClosed,
)

from .. import Rejected, order_id_from_text

__all__ = ["CapvaultGuard", "CapvaultActor", "CapvaultActorConfig", "order_value"]

# The nautilus versions this adapter is tested against.
TESTED = ("1.221",)


def order_value(order, best: Optional[Decimal], slippage: Decimal) -> Decimal:
    """The capital an order may spend: a limit order's quantity x its price; any other order's
    quantity x ``best`` (the best price on the side it takes) x (1 + ``slippage``)."""
    quantity = order.quantity.as_decimal()
    if order.order_type == OrderType.LIMIT:
        return quantity * order.price.as_decimal()
    if best is None:
        raise ValueError(f"{order.client_order_id}: no price to bound a {order.order_type} order by")
    return quantity * best * (Decimal(1) + slippage)


def _reserved(vault) -> Dict[int, Decimal]:
    """The orders guards reserved in `vault` and not yet closed, by capvault id: their reserved
    value. Kept beside the vault, so the actor needs no read of the vault per event."""
    reserved = getattr(vault, "_nautilus_reserved", None)
    if reserved is None:
        reserved = {}
        vault._nautilus_reserved = reserved
    return reserved


def _sells(vault) -> set:
    """The capvault ids of reserved sells (their fills spend quantity, not value)."""
    sells = getattr(vault, "_nautilus_sells", None)
    if sells is None:
        sells = vault._nautilus_sells = set()
    return sells


class CapvaultGuard:
    """Reserve before submit. Set ``capvault`` (a ``capvault.Commands``), ``capvault_book`` and
    ``capvault_slot`` (the strategy's slot or label) before the strategy starts; optionally
    ``capvault_slippage`` (a ``Decimal``, default 0.01) for market orders, and
    ``capvault_sell_book``: the book of the asset the strategy sells, with the ``spend`` sell
    rule, where each sell reserves its quantity (``None``: sells are not reserved)."""

    capvault: Any = None
    capvault_book: Any = None
    capvault_slot: Any = None
    capvault_slippage: Decimal = Decimal("0.01")
    capvault_sell_book: Any = None

    def submit_order(self, order, position_id=None, client_id=None, params=None):
        if order.side == OrderSide.SELL and self.capvault_sell_book is not None:
            try:
                amount = order.quantity.as_decimal()
                id = order_id_from_text(order.client_order_id.value)
                self.capvault.reserve(id, self.capvault_sell_book, self.capvault_slot, str(amount), "sell", 1)
                _reserved(self.capvault)[id] = amount
                _sells(self.capvault).add(id)
            except Rejected as refused:
                self._capvault_deny(order, f"capvault {refused.code}: {refused}")
                return
        elif order.side == OrderSide.BUY:
            quote = self.cache.quote_tick(order.instrument_id)
            best = quote.ask_price.as_decimal() if quote is not None else None
            try:
                amount = order_value(order, best, self.capvault_slippage)
                id = order_id_from_text(order.client_order_id.value)
                self.capvault.reserve(id, self.capvault_book, self.capvault_slot, str(amount), layer=1)
                _reserved(self.capvault)[id] = amount
            except (Rejected, ValueError) as refused:
                code = getattr(refused, "code", "no_price")
                self._capvault_deny(order, f"capvault {code}: {refused}")
                return
        super().submit_order(order, position_id, client_id, params)

    def submit_order_list(self, order_list, position_id=None, client_id=None, params=None):
        """The list's buys reserved all or none (`reserve_linked`); a refusal denies every order
        of the list, naming the part that failed."""
        buys = [order for order in order_list.orders if order.side == OrderSide.BUY]
        if buys:
            quote = self.cache.quote_tick(buys[0].instrument_id)
            best = quote.ask_price.as_decimal() if quote is not None else None
            try:
                parts = [
                    {
                        "id": order_id_from_text(order.client_order_id.value),
                        "book": self.capvault_book,
                        "slot": self.capvault_slot,
                        "amount": order_value(order, best, self.capvault_slippage),
                        "layer": 1,
                    }
                    for order in buys
                ]
                self.capvault.reserve_linked([dict(part, amount=str(part["amount"])) for part in parts])
            except (Rejected, ValueError) as refused:
                code = getattr(refused, "code", "no_price")
                part = getattr(refused, "figures", {}).get("part")
                reason = f"capvault {code} (order {part} of the list): {refused}"
                for order in order_list.orders:
                    self._capvault_deny(order, reason)
                return
            reserved = _reserved(self.capvault)
            for part in parts:
                reserved[part["id"]] = part["amount"]
        super().submit_order_list(order_list, position_id, client_id, params)

    def _capvault_deny(self, order, reason: str) -> None:
        """What ``Strategy`` does for an order it denies itself: the order is initialized,
        cached, denied, and both events are published to the strategy."""
        topic = f"events.order.{order.strategy_id.value}"
        self.msgbus.publish(topic, order.init_event)
        if not self.cache.order_exists(order.client_order_id):
            self.cache.add_order(order)
        now = self.clock.timestamp_ns()
        denied = OrderDenied(
            trader_id=order.trader_id,
            strategy_id=order.strategy_id,
            instrument_id=order.instrument_id,
            client_order_id=order.client_order_id,
            reason=reason,
            event_id=UUID4(),
            ts_init=now,
        )
        order.apply(denied)
        self.cache.update_order(order)
        self.msgbus.publish(topic, denied)


class CapvaultActorConfig(ActorConfig, frozen=True):
    """The strategies the actor follows: their ids as nautilus writes them (``str``, the
    configured id and the order id tag: ``"Grid-001-001"``); empty follows every strategy whose
    orders capvault holds."""

    strategies: tuple = ()


class CapvaultActor(Actor):
    """Turns the guarded strategies' order events into capvault commands. Set ``capvault``
    before the engine starts."""

    capvault: Any = None

    def __init__(self, config: CapvaultActorConfig):
        super().__init__(config)
        # Each open order's filled value so far, for the cumulative `fill_to`.
        self._filled: Dict[int, Decimal] = {}
        # Guarded orders that filled something, until their position closes: capvault ids by
        # nautilus client order id.
        self._held: Dict[str, Any] = {}

    def on_start(self) -> None:
        self.msgbus.subscribe(topic="events.order.*", handler=self._on_order_event)
        self.msgbus.subscribe(topic="events.position.*", handler=self._on_position_event)

    def _on_position_event(self, event) -> None:
        """A closed position gives back what the guarded orders that filled into it used. A
        position only reduced releases nothing (capvault releases an order whole)."""
        if not isinstance(event, PositionClosed):
            return
        if self.config.strategies and event.strategy_id.value not in self.config.strategies:
            return
        position = self.cache.position(event.position_id)
        if position is None:
            return
        for client_order_id in position.client_order_ids:
            id = self._held.pop(client_order_id.value, None)
            if id is None:
                continue
            if id in _reserved(self.capvault):  # still open: its unfilled rest goes back first
                self.capvault.cancel(id)
                del _reserved(self.capvault)[id]
                self._filled.pop(id, None)
            try:
                self.capvault.release_order(id)
            except Rejected as answer:
                if answer.code != "order_released":
                    raise
            _sells(self.capvault).discard(id)

    def _on_order_event(self, event) -> None:
        if self.config.strategies and event.strategy_id.value not in self.config.strategies:
            return
        filled = isinstance(event, OrderFilled)
        if not filled and not isinstance(event, (OrderCanceled, OrderExpired, OrderRejected, OrderDenied)):
            return
        reserved = _reserved(self.capvault)
        id = order_id_from_text(event.client_order_id.value)
        amount = reserved.get(id)
        if amount is None:
            return  # not reserved by a guard (a sell, or denied before its reservation)
        value = self._filled.get(id, Decimal(0))
        if filled:
            spent = event.last_qty.as_decimal()
            value += spent if id in _sells(self.capvault) else spent * event.last_px.as_decimal()
            self._filled[id] = value
            self.capvault.fill_to(id, str(value))
            self._held[event.client_order_id.value] = id
            order = self.cache.order(event.client_order_id)
            if order is None or not order.is_closed:
                return
        # Closed: filled for less than reserved (a better price), cancelled, expired, rejected
        # or denied: what is still frozen goes back to the pool; what filled stays held.
        if value < amount:
            self.capvault.cancel(id)
        del reserved[id]
        self._filled.pop(id, None)

