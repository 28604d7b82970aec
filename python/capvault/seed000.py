"""Seed 000's ``GlobalVault``: one physical pool shared by grid strategies, reserved per order
(frozen), moved to used on fill, returned on cancel, released by client order id."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Dict, Mapping, Optional, Union

from ._vault import AmountLike, Commands, Facade, OrderIdLike, PathLike, Vault, choose
from ._capvault import PoolView, StepPenalty
from .errors import InvalidInput, Rejected, UnknownName
from .money import Money

# Larger than any order can hold: a fill of this size is refused with the order's true state
# (`fill_exceeds_frozen` with what is still frozen, `order_filled`, `unknown_order`, ...).
_PROBE = "10000000000"


def symbol_label(symbol: str) -> str:
    """The strategy label of a symbol: ``"159201.SZ"`` and ``"159201"`` are both ``"159201"``."""
    return str(symbol).split(".", 1)[0]


class Decision:
    """The vault's answer to ``request_allocation``: true when approved.

    ``approved``; ``code`` (``None`` when approved, else the rejection's code such as
    ``"exceeds_reserve_ratio"``); ``reason`` (a sentence); ``figures`` (the numbers behind a
    refusal, amounts as ``Decimal``); ``repeated`` (the same request was already approved: it
    changed nothing).
    """

    __slots__ = ("approved", "code", "reason", "figures", "repeated", "seq")

    def __init__(self, approved: bool, code: Optional[str], reason: str, figures: Dict[str, Any], repeated: bool, seq: Optional[int]):
        self.approved = approved
        self.code = code
        self.reason = reason
        self.figures = figures
        self.repeated = repeated
        self.seq = seq

    def __bool__(self) -> bool:
        return self.approved

    def __repr__(self) -> str:
        if self.approved:
            return f"Decision(approved, repeated={self.repeated}, seq={self.seq})"
        return f"Decision(refused {self.code!r}: {self.reason}; {self.figures})"


class GlobalVault(Facade):
    """Seed 000's global capital manager.

    By default a 300,000 CNY physical pool (``physical_pool``) shared by the symbols in ``caps``
    (159201 and 512890, nominal caps of 200,000 each), a 15% reserve for first layers
    (``reserve_ratio``), the step penalty on above 90% and off below 85%, and a loss limit of
    15,000 per strategy. ``config`` replaces all of that with a ledger configuration whose
    strategies are labelled by symbol. Where it lives: embedded (``data_dir``, ``json`` for
    ``shared_pool.json``, ``shm``, ``serve``), ``connect="name"`` as a client, or ``vault=``.

    ``request_allocation`` returns a ``Decision`` (false when the rules refuse, as the seed's
    executor expects); the other calls raise ``capvault.Rejected`` when the ledger refuses them.
    """

    def __init__(
        self,
        config: Union[None, PathLike, Mapping[str, Any]] = None,
        *,
        physical_pool: AmountLike = 300_000,
        caps: Optional[Mapping[str, AmountLike]] = None,
        reserve_ratio: float = 0.15,
        loss_limit: AmountLike = 15_000,
        venue: str = "QMT",
        currency: str = "CNY",
        data_dir: Optional[PathLike] = None,
        durability: Optional[str] = None,
        wait: Optional[str] = None,
        json: Optional[PathLike] = None,
        shm: Optional[PathLike] = None,
        serve: Optional[str] = None,
        connect: Optional[str] = None,
        client: str = "python",
        vault: Optional[Commands] = None,
    ):
        self._places: Dict[str, Any] = {}
        if config is None:
            caps = {"159201": 200_000, "512890": 200_000} if caps is None else caps
            config = {
                "books": [
                    {
                        "venue": venue,
                        "currency": currency,
                        "slot_count": 2 + len(caps),
                        "balance": str(physical_pool),
                        "reserve_ratio": reserve_ratio,
                        "strategies": [
                            {"slot": 2 + index, "label": symbol_label(symbol), "cap": str(cap), "loss_limit": str(loss_limit)}
                            for index, (symbol, cap) in enumerate(caps.items())
                        ],
                    }
                ]
            }
        self.vault = choose(
            vault,
            connect,
            client,
            lambda: Vault(config, data_dir=data_dir, shm=shm, json=json, serve=serve, durability=durability, wait=wait),
        )

    def _where(self, symbol: str):
        """``(book, slot)`` of a symbol's strategy (looked up once per symbol: labels are set
        by configuration, not by trading). ``159201.SZ`` finds a strategy labelled
        ``159201.SZ``, else one labelled ``159201``."""
        found = self._places.get(symbol)
        if found is not None:
            return found
        found = self.vault.snapshot().slot_of_security(str(symbol))
        if found is None:
            raise UnknownName(f"no strategy is labelled {symbol_label(symbol)!r} or {str(symbol)!r}")
        self._places[symbol] = found
        return found

    def request_allocation(self, symbol: str, amount: AmountLike, layer_index: int, client_order_id: OrderIdLike) -> Decision:
        """Reserves ``amount`` for a buy order about to be sent (frozen until its fill or cancel).

        Approved only if every rule passes, checked in this order: the strategy is not in
        forced-reduce (its single-cycle loss is within its limit); ``committed + amount`` stays
        within the strategy's nominal cap (200,000); for a first layer (``layer_index == 0``) the
        physical pool keeps its 15% reserve: ``used + frozen + amount <= pool × 0.85`` over both
        symbols (255,000 of 300,000); and the pool stays above minus the credit limit. A
        refusal changes nothing and is a false ``Decision`` with ``.code`` and ``.figures``.

        The same ``client_order_id`` with the same fields again is approved with ``repeated``
        and changes nothing (safe to resend after a lost answer); with other fields it is refused
        (``id_conflict``).
        """
        book, slot = self._where(symbol)
        try:
            outcome = self.vault.reserve(client_order_id, book, slot, amount, "buy", layer_index)
        except Rejected as refusal:
            return Decision(False, refusal.code, str(refusal), refusal.figures, False, None)
        return Decision(True, None, "approved", {}, outcome.kind == "already_reserved", outcome.seq)

    def _order(self, client_order_id: OrderIdLike) -> Optional[dict]:
        """The order as the latest snapshot shows it, without waiting for this object's own
        last answer: an order's book and slot never change, and its frozen amount only falls
        (a stale one is corrected by the ledger's answer). Waits only if it is not there yet."""
        order = self.vault._core.snapshot().order(client_order_id)
        return order if order is not None else self.vault.order(client_order_id)

    def _check_symbol(self, symbol: str, order: Optional[dict]) -> None:
        if order is None:
            return
        book, slot = self._where(symbol)
        if (order["book"], order["slot"]) != (book, slot):
            raise InvalidInput(f"order {order['client_order_id']} is not {symbol_label(symbol)}'s (slot {order['slot']})")

    def on_fill(self, symbol: str, client_order_id: OrderIdLike, filled_amount: Optional[AmountLike] = None):
        """A fill report: moves ``filled_amount`` of the order from frozen to used; ``None``
        moves everything still frozen (the order filled completely). Partial fills add up, so a
        report applied twice fills twice: for broker callbacks use ``on_fill_report``.
        Raises ``Rejected`` (``fill_exceeds_frozen``, ``unknown_order``, ``order_cancelled``, ...)."""
        order = self._order(client_order_id)
        self._check_symbol(symbol, order)
        if filled_amount is not None:
            return self.vault.fill(client_order_id, filled_amount)
        amount = order["frozen"] if order is not None and order["frozen"] > 0 else _PROBE
        for _ in range(3):
            try:
                return self.vault.fill(client_order_id, amount)
            except Rejected as refusal:
                # The order changed since it was read (another process filled part of it): fill
                # what the ledger says is still frozen.
                if refusal.code != "fill_exceeds_frozen" or refusal.figures["frozen"] <= 0:
                    raise
                amount = refusal.figures["frozen"]
        return self.vault.fill(client_order_id, amount)

    def on_fill_report(self, symbol: str, client_order_id: OrderIdLike, filled_total: AmountLike):
        """A broker fill report with the order's cumulative filled amount: idempotent, so a
        report delivered twice (a reconnect, a replayed callback) changes nothing the second
        time (``fill_already_applied``). Prefer it to ``on_fill`` for broker callbacks."""
        self._check_symbol(symbol, self._order(client_order_id))
        return self.vault.fill_to(client_order_id, filled_total)

    def on_cancel(self, symbol: str, client_order_id: OrderIdLike):
        """A cancel or broker reject: returns the order's unfilled remainder to the pool (what
        already filled stays used). Raises ``Rejected`` for an unknown or finished order."""
        self._check_symbol(symbol, self._order(client_order_id))
        return self.vault.cancel(client_order_id)

    def release(self, symbol: str, client_order_id: OrderIdLike):
        """The position bought by ``client_order_id`` was sold: returns exactly what that order
        used to the pool (not its current market value). ``.returned`` is the amount."""
        self._check_symbol(symbol, self._order(client_order_id))
        return self.vault.release_order(client_order_id)

    def _per_symbol(self, field: str) -> Dict[str, Money]:
        snapshot = self.vault.snapshot()
        result: Dict[str, Money] = {}
        for book in snapshot.books:
            for strategy in book["strategies"]:
                if strategy["label"] is not None:
                    result[strategy["label"]] = Money(strategy[field], book["decimals"])
        return result

    def _total(self, field: str) -> Money:
        figures = self._per_symbol(field).values()
        places = max((figure.decimals for figure in figures), default=2)
        return Money(sum(figures, Decimal(0)), places)

    def get_used_map(self) -> Dict[str, Money]:
        """``{symbol: used}``: capital of filled orders, per symbol (``Money``: exact, and
        usable with ``float`` as the seed's code does)."""
        return self._per_symbol("used")

    def get_frozen_map(self) -> Dict[str, Money]:
        """``{symbol: frozen}``: capital reserved by working orders, per symbol."""
        return self._per_symbol("frozen")

    def get_used_total(self) -> Money:
        """The used capital of every symbol together (seed 000's ``get_used_total()``)."""
        return self._total("used")

    def get_frozen_total(self) -> Money:
        """The frozen capital of every symbol together (seed 000's ``get_frozen_total()``)."""
        return self._total("frozen")

    def get_alpha_map(self) -> Dict[str, Money]:
        """``{symbol: acc_alpha}``: realized alpha per symbol."""
        return self._per_symbol("acc_alpha")

    def pool_view(self, symbol: Optional[str] = None) -> PoolView:
        """The physical pool's view (of the book ``symbol`` trades in; the first book if ``None``)."""
        book = 0 if symbol is None else self._where(symbol)[0]
        return self.vault.view(book)

    def step_penalty(self, symbol: Optional[str] = None) -> StepPenalty:
        """The pool's step-penalty gate as the vault keeps it (on above 90%, off below 85%)."""
        book = 0 if symbol is None else self._where(symbol)[0]
        return self.vault.penalty(book)

    def can_open_new_layer(self, symbol: str, amount: AmountLike) -> bool:
        """Seed 000's ``can_open_new_layer``: ``used + frozen + amount <= pool × (1 - 0.15)``
        over every symbol of the pool. A read-only check; ``request_allocation`` applies it (and
        the other rules) atomically."""
        book, _ = self._where(symbol)
        return self.vault.view(book).can_open_first_layer(amount)

    def record_alpha(self, symbol: str, amount: AmountLike):
        """Adds realized alpha (negative for a loss) to the symbol's accumulator."""
        book, slot = self._where(symbol)
        return self.vault.record_alpha(book, slot, amount)

    def mark_loss(self, symbol: str, loss: AmountLike):
        """Marks the symbol's single-cycle floating loss; above 15,000 its strategy is in
        forced-reduce: new buys are refused until the loss is marked below the limit."""
        book, slot = self._where(symbol)
        return self.vault.mark_loss(book, slot, loss)
