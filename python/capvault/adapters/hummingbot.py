"""capvault inside hummingbot: several bots (each its own hummingbot, or several strategies in
one) sizing and placing orders against one exchange account whose capital capvault shares.

Two pieces, both plain Python over any ``capvault.Commands`` (an embedded ``Vault`` or a
``capvault.connect`` to a served one):

- ``CapvaultBudgetChecker``: hummingbot's ``BudgetChecker`` (a subclass of it; install it on a
  connector as ``connector._budget_checker``) that sizes order candidates against the smaller of
  the exchange's balance and what capvault's book for the collateral token has free for this bot.
  hummingbot's own sizing is hypothetical (it locks collateral only within one call);
  ``reserve_candidates`` then reserves the candidates for real, all or none, before they are sent.
- ``CapvaultOrders``: hummingbot's order events, under the hook names of a script strategy
  (``did_fill_order``, ``did_complete_buy_order``, ``did_complete_sell_order``,
  ``did_cancel_order``, ``did_fail_order``, ``did_expire_order``), turned into capvault's
  idempotent commands; ``placed`` ties hummingbot's client order id (made inside
  ``connector.buy``) to the reservation made before it, and ``release`` gives back what a
  position held when the bot closes it.

Which book a candidate spends from is its collateral token's (the quote for a buy, the base for a
sell): ``books`` maps tokens to capvault books. A sell reserves only in a book whose sell rule is
``spend`` (a crypto asset's book, seed 004's Kraken); tokens with no book are not guarded.
See ``docs/adapters/hummingbot.md``.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Any, Dict, List, Mapping, Optional, Sequence

from capvault import order_id_from_text

try:
    from hummingbot.connector.budget_checker import BudgetChecker
except ImportError as missing:  # pragma: no cover - the adapter needs hummingbot
    raise ImportError(
        "capvault.adapters.hummingbot needs hummingbot (its connector.budget_checker module)"
    ) from missing

__all__ = ["CapvaultBudgetChecker", "CapvaultOrders", "Reservation"]

logger = logging.getLogger(__name__)

# Answers that mean the command was applied before: a repeated event, or one after a restart.
_DONE = {"fill_already_applied", "order_cancelled", "order_released", "order_filled", "order_expired"}


@dataclass
class Reservation:
    """What capvault holds for one candidate: the capvault order id, its book, the token and
    amount reserved (rounded up to the book's places), and the side."""

    id: str
    book: Any
    token: str
    amount: Decimal
    side: str


class CapvaultBudgetChecker(BudgetChecker):
    """hummingbot's ``BudgetChecker`` for one bot's share of an account held in capvault.

    - ``vault``: a ``capvault.Commands``; ``slot``: this bot's strategy slot or label.
    - ``books``: collateral token -> capvault book (name or index), e.g. ``{"USDT": "USDT"}``;
      ``places``: decimal places per token for the amounts sent to capvault (8 by default).
    """

    def __init__(self, exchange, vault, slot, books: Mapping[str, Any], places: Optional[Mapping[str, int]] = None):
        super().__init__(exchange)
        self.vault = vault
        self.slot = slot
        self.books = dict(books)
        self._places = {token: Decimal(1).scaleb(-(places or {}).get(token, 8)) for token in self.books}
        self._ids = itertools.count()
        self._prefix = f"hb:{slot}:{os.getpid()}:{time.time_ns()}"

    # Sizing: hummingbot's rules, with capvault's free capital as a bound.

    def _get_available_balances(self, order_candidate) -> Dict[str, Decimal]:
        balances = super()._get_available_balances(order_candidate)
        # The newest published view, not one that waits for this bot's last command: sizing
        # is advice, and the reservation that follows is checked against the ledger itself.
        snapshot = self.vault.latest()
        for token in balances:
            book = self.books.get(token)
            if book is not None:
                free = snapshot.balance(book, 1) - self._locked_collateral[token]
                balances[token] = min(balances[token], max(free, Decimal(0)))
        return balances

    # Reserving.

    def reservations(self, order_candidates: Sequence[Any]) -> List[Optional[Reservation]]:
        """The reservation each candidate needs (None for a token with no book or a zero
        order): its order collateral plus a percent fee charged on top, in the collateral
        token's book."""
        out: List[Optional[Reservation]] = []
        for candidate in order_candidates:
            if candidate.order_collateral is None:
                candidate = self.populate_collateral_entries(candidate)
            if candidate.is_zero_order:
                out.append(None)
                continue
            token = candidate.order_collateral.token
            book = self.books.get(token)
            if book is None:
                out.append(None)
                continue
            amount = candidate.collateral_dict[token].quantize(self._places[token], rounding=ROUND_UP)
            side = "buy" if candidate.order_side.name == "BUY" else "sell"
            id = order_id_from_text(f"{self._prefix}:{next(self._ids)}")
            out.append(Reservation(id, book, token, amount, side))
        return out

    def reserve_candidates(self, order_candidates: Sequence[Any]) -> List[Optional[Reservation]]:
        """Reserves every guarded candidate or none, in one linked command (an embedded vault
        and a served connection alike); raises ``capvault.Rejected`` on a refusal, whose
        ``figures["part"]`` names the guarded candidate refused (nothing is held then)."""
        reservations = self.reservations(order_candidates)
        parts = [r for r in reservations if r is not None]
        if not parts:
            return reservations
        self.vault.reserve_linked([
            {"id": r.id, "book": r.book, "slot": self.slot, "amount": str(r.amount), "side": r.side, "layer": 1}
            for r in parts
        ])
        return reservations


class CapvaultOrders:
    """hummingbot's order events as capvault commands, for the reservations of one bot.

    A script strategy forwards its hooks: ``def did_fill_order(self, event):
    self.capvault.did_fill_order(event)``, and so on for each hook below. Amounts are reported
    cumulatively (``fill_to``), so an event delivered twice applies nothing the second time.
    """

    def __init__(self, vault):
        self.vault = vault
        self._lock = threading.Lock()
        self._orders: Dict[str, Reservation] = {}
        self._filled: Dict[str, Decimal] = {}
        self._sent: Dict[str, Decimal] = {}  # the last fill_to sent: a repeat is not sent again
        self._closed: set = set()  # orders with nothing frozen left (completed or cancelled)
        self._trades: Dict[str, set] = {}

    def placed(self, client_order_id: str, reservation: Optional[Reservation]) -> None:
        """Ties hummingbot's client order id (what ``buy``/``sell`` returned) to the
        reservation made for it."""
        if reservation is not None:
            with self._lock:
                self._orders[client_order_id] = reservation
                self._filled.setdefault(client_order_id, Decimal(0))
                self._trades.setdefault(client_order_id, set())

    def reservation(self, client_order_id: str) -> Optional[Reservation]:
        return self._orders.get(client_order_id)

    def _quietly(self, command, *args) -> None:
        try:
            command(*args)
        except Rejected as answer:
            if answer.code not in _DONE:
                raise

    def did_fill_order(self, event) -> None:
        """``OrderFilledEvent``: the collateral the fill spent (a buy: amount x price; a sell:
        amount) is added to the order's cumulative fill, once per exchange trade id."""
        with self._lock:
            r = self._orders.get(event.order_id)
            if r is None:
                return
            trades = self._trades[event.order_id]
            trade = getattr(event, "exchange_trade_id", None) or (event.amount, event.price, event.timestamp)
            if trade in trades:
                return
            trades.add(trade)
            spent = Decimal(event.amount) * Decimal(event.price) if r.side == "buy" else Decimal(event.amount)
            filled = min(self._filled[event.order_id] + spent, r.amount)
            self._filled[event.order_id] = filled
        self._fill_to(event.order_id, r, filled)

    def _fill_to(self, order_id: str, r: Reservation, filled: Decimal) -> None:
        filled = filled.quantize(Decimal(1).scaleb(-8), rounding=ROUND_DOWN)
        if filled > self._sent.get(order_id, Decimal(0)):
            self._quietly(self.vault.fill_to, r.id, str(filled))
            self._sent[order_id] = filled
        if filled >= r.amount:
            self._closed.add(order_id)

    def _complete(self, order_id: str, spent) -> None:
        with self._lock:
            r = self._orders.get(order_id)
            if r is None:
                return
            filled = min(max(Decimal(spent), self._filled.get(order_id, Decimal(0))), r.amount)
            self._filled[order_id] = filled
        self._fill_to(order_id, r, filled)
        self._cancel(order_id)  # what the order did not spend goes back

    def did_complete_buy_order(self, event) -> None:
        """``BuyOrderCompletedEvent``: the order spent ``quote_asset_amount``; the rest of its
        reservation goes back."""
        self._complete(event.order_id, event.quote_asset_amount)

    def did_complete_sell_order(self, event) -> None:
        """``SellOrderCompletedEvent``: the order spent ``base_asset_amount``."""
        self._complete(event.order_id, event.base_asset_amount)

    def _cancel(self, order_id: str) -> None:
        r = self._orders.get(order_id)
        if r is not None and order_id not in self._closed:
            self._quietly(self.vault.cancel, r.id)
            self._closed.add(order_id)

    def did_cancel_order(self, event) -> None:
        """``OrderCancelledEvent``: the unfilled remainder goes back."""
        self._cancel(event.order_id)

    def did_fail_order(self, event) -> None:
        """``MarketOrderFailureEvent`` (the exchange refused the order): all of it goes back."""
        self._cancel(event.order_id)

    def did_expire_order(self, event) -> None:
        """``OrderExpiredEvent``: the unfilled remainder goes back."""
        self._cancel(event.order_id)

    def release(self, client_order_id: str) -> None:
        """The position the order opened is closed: what it used goes back to the pool."""
        self._cancel(client_order_id)
        r = self._orders.pop(client_order_id, None)
        if r is not None:
            if self._sent.get(client_order_id):
                self._quietly(self.vault.release_order, r.id)
            for state in (self._filled, self._sent, self._trades):
                state.pop(client_order_id, None)
            self._closed.discard(client_order_id)
