"""``Vault`` (embedded) and ``connect`` (a client of a vault in another process): one API."""

from __future__ import annotations

import json
import os
from typing import Any, List, Mapping, Optional, Sequence, Union

from . import _capvault
from ._capvault import Outcome, PoolView, Snapshot, StepPenalty

AmountLike = Union[int, str, float, "decimal.Decimal"]  # noqa: F821
BookLike = Union[int, str]
SlotLike = Union[int, str]
OrderIdLike = Union[str, int, "uuid.UUID"]  # noqa: F821
PathLike = Union[str, "os.PathLike[str]"]


def _config_text(config: Union[None, str, PathLike, Mapping[str, Any]]) -> str:
    """A ledger configuration as JSON text: ``None`` (no books), a dict, JSON text or a path."""
    if config is None:
        return "{}"
    if isinstance(config, Mapping):
        return json.dumps(config)
    if isinstance(config, str) and config.lstrip().startswith("{"):
        return config
    with open(os.fspath(config), encoding="utf-8") as file:
        return file.read()


class Commands:
    """Every command of the ledger, as methods. Each returns an ``Outcome`` (``.kind``, ``.seq``
    and the outcome's figures as attributes, amounts as ``Decimal``) or raises:
    ``Rejected`` (with ``.code`` and ``.figures``; nothing changed), ``InvalidInput`` /
    ``InvalidAmount`` (nothing sent), ``Stopped`` / ``Disconnected`` (the vault went away).

    Arguments:

    - ``book``: a book id (``int``), ``"VENUE:CURRENCY"``, or a currency that one book holds.
    - ``slot``: a slot number (0 the total, 1 the pool, 2.. strategies) or a strategy's label.
    - amounts: ``int``, ``str``, ``decimal.Decimal`` exactly; ``float`` rounded half to even to
      the book's minor unit (``1.153 * 8600`` is 9,915.80). An exact amount finer than the minor
      unit raises ``InvalidAmount``.
    - ``id``: a client order id: 32 hex digits, a UUID, or a decimal snowflake (``str``/``int``).

    Reads see your own writes: ``snapshot()`` waits until it shows every command this object
    had answered.
    """

    _core: "_capvault.Core"
    _seq: int

    def _done(self, outcome: Outcome) -> Outcome:
        if outcome.seq > self._seq:
            self._seq = outcome.seq
        return outcome

    # Books and settings.

    def open_book(
        self,
        venue: str,
        currency: str,
        slot_count: int,
        *,
        decimals: int = 2,
        reserve_ratio: float = 0.15,
        penalty: Optional[Mapping[str, float]] = None,
    ) -> Outcome:
        """Opens a book for (venue, currency) with ``slot_count`` slots (2..=64); its total and
        pool start at zero. ``.book`` of the outcome is its id. ``penalty`` is the step penalty's
        ``enter``/``leave``/``multiplier`` (default 0.90/0.85/1.5)."""
        spec: dict = {
            "venue": venue,
            "currency": currency,
            "slot_count": slot_count,
            "decimals": decimals,
            "reserve_ratio": reserve_ratio,
        }
        spec["penalty"] = dict(penalty) if penalty is not None else {"enter": 0.90, "leave": 0.85, "multiplier": 1.5}
        return self._done(self._core.open_book(json.dumps(spec)))

    def configure_strategy(
        self,
        book: BookLike,
        slot: SlotLike,
        label: Optional[str] = None,
        cap: Optional[AmountLike] = None,
        loss_limit: Optional[AmountLike] = None,
    ) -> Outcome:
        """Sets a strategy's label (the symbol it trades), nominal cap and loss limit."""
        return self._done(self._core.configure_strategy(book, slot, label, cap, loss_limit))

    def set_credit_limit(self, currency: str, limit: AmountLike) -> Outcome:
        """Sets how far below zero the pools of ``currency`` may go (seed 004, borrowing)."""
        return self._done(self._core.set_credit_limit(currency, limit))

    # Seed 004: the slots.

    def reset(self, book: BookLike, balance: AmountLike, force: bool = False) -> Outcome:
        """``total = pool = balance``, strategies to zero. Refused (``live_orders``) while orders
        are live unless ``force``, which drops them and reports what was dropped."""
        return self._done(self._core.reset(book, balance, force))

    def set(self, book: BookLike, slot: SlotLike, amount: AmountLike) -> Outcome:
        """Sets one slot. Slot 0 reconciles the total with the exchange (the pool absorbs the
        drift, reported as ``.drift``); slot 1 sets the pool (the total follows); a strategy
        slot moves its direct allocation to ``amount``."""
        return self._done(self._core.set(book, slot, amount))

    def adjust(self, book: BookLike, slot: SlotLike, delta: AmountLike) -> Outcome:
        """Changes one slot by ``delta``: slots 0 and 1 change the total and the pool together (a
        buy, a sell, a transfer); a strategy slot allocates or releases."""
        return self._done(self._core.adjust(book, slot, delta))

    def allocate(self, book: BookLike, slot: SlotLike, amount: AmountLike) -> Outcome:
        """Moves ``amount`` from the pool to a strategy (refused past the credit limit)."""
        return self._done(self._core.allocate(book, slot, amount))

    def release(self, book: BookLike, slot: SlotLike, amount: AmountLike) -> Outcome:
        """Moves ``amount`` of a strategy's direct allocation back to the pool."""
        return self._done(self._core.release(book, slot, amount))

    def trade(self, book_a: BookLike, delta_a: AmountLike, book_b: BookLike, delta_b: AmountLike) -> Outcome:
        """A two-currency exchange applied atomically: both totals change or neither."""
        return self._done(self._core.trade(book_a, delta_a, book_b, delta_b))

    # Seed 000: orders.

    def reserve(
        self,
        id: OrderIdLike,
        book: BookLike,
        slot: SlotLike,
        amount: AmountLike,
        side: str = "buy",
        layer: int = 0,
    ) -> Outcome:
        """Reserves ``amount`` (frozen) for an order about to be sent. A buy's first layer
        (``layer == 0``) must leave the reserve: ``committed + amount <= total × (1 -
        reserve_ratio)``; the strategy's cap and forced-reduce are checked too. A repeat with the
        same id and fields is answered ``already_reserved`` and changes nothing. A sell is refused
        (``sell_not_reserved``) in a book whose sell rule is ``hold_nothing`` (the default: a
        securities account's cash), and reserved like a buy in a ``spend`` book (an asset a sell
        spends)."""
        return self._done(self._core.reserve(id, book, slot, amount, side, layer))

    def reserve_linked(self, parts: Sequence[Mapping[str, Any]]) -> List[Outcome]:
        """Reserves every order of ``parts`` or none: a ladder of grid layers, a basket, an
        engine's order list. Each part is a dict of ``reserve``'s arguments (``id``, ``book``,
        ``slot``, ``amount``, optionally ``side`` and ``layer``) and is checked by every rule
        against what the parts before it left. A refusal raises ``Rejected`` whose ``figures``
        name the ``part`` (from 0) that failed; nothing changed. A vault, a connection to a
        served one and the NATS client alike."""
        outcomes = self._core.reserve_linked(list(parts))
        for outcome in outcomes:
            self._done(outcome)
        return outcomes

    def fill(self, id: OrderIdLike, amount: AmountLike) -> Outcome:
        """Moves ``amount`` of an order's reservation from frozen to used. Not idempotent: a
        report applied twice fills twice; use ``fill_to`` for broker reports."""
        return self._done(self._core.fill(id, amount))

    def fill_to(self, id: OrderIdLike, filled: AmountLike) -> Outcome:
        """The broker says the order has filled ``filled`` in all (cumulative): moves the
        difference from what the vault holds as filled. Idempotent: a repeated or older report is
        answered ``fill_already_applied`` and changes nothing, also after a restart and after
        the order was released. Feed broker reports through this rather than ``fill``."""
        return self._done(self._core.fill_to(id, filled))

    def expire(self, id: OrderIdLike) -> Outcome:
        """Cancels an order whose broker report never came: its remainder returns to the pool,
        it ends ``expired``, and a late fill is refused (``order_expired``)."""
        return self._done(self._core.expire(id))

    def cancel(self, id: OrderIdLike) -> Outcome:
        """Returns an order's unfilled remainder to the pool."""
        return self._done(self._core.cancel(id))

    def release_order(self, id: OrderIdLike) -> Outcome:
        """Returns exactly what an order used to the pool when its position is closed."""
        return self._done(self._core.release_order(id))

    def record_alpha(self, book: BookLike, slot: SlotLike, amount: AmountLike) -> Outcome:
        """Adds realized alpha (negative for a loss) to a strategy's accumulator."""
        return self._done(self._core.record_alpha(book, slot, amount))

    def mark_loss(self, book: BookLike, slot: SlotLike, loss: AmountLike) -> Outcome:
        """Marks a strategy's single-cycle floating loss; above its loss limit the strategy is in
        forced-reduce (no new buys)."""
        return self._done(self._core.mark_loss(book, slot, loss))

    def submit(self, command: Union[str, Mapping[str, Any]]) -> Outcome:
        """Any command in its JSON form, e.g. ``{"op": "allocate", "book": 0, "slot": 2,
        "amount": "100"}`` (the format of ``capvault submit``)."""
        text = command if isinstance(command, str) else json.dumps(command)
        return self._done(self._core.submit_json(text))

    # Reading.

    def snapshot(self, timeout: float = 5.0, at_least: int = 0) -> Snapshot:
        """The latest snapshot, at least as new as every answer this object received and as the
        sequence number ``at_least`` (another handle's ``seq``: read what it wrote); waits up to
        ``timeout`` seconds for it (``Timeout``)."""
        return self._core.snapshot_at_least(max(self._seq, at_least), timeout)

    def latest(self, timeout: float = 5.0) -> Snapshot:
        """The newest snapshot already published, without waiting for this object's latest
        answers to appear in it: for a view that may lag by a command or two (sizing an order
        whose reservation has the last word). Through a served connection the wait ``snapshot``
        does right after a command is most of its cost (the mirror publishes after the answer)."""
        return self._core.snapshot_at_least(0, timeout)

    @property
    def seq(self) -> int:
        """The sequence number of the newest answer this object received."""
        return self._seq

    def balance(self, book: BookLike, slot: SlotLike = 0):
        """A slot's balance as ``Decimal`` (0 the total, 1 the pool, 2.. a strategy)."""
        return self.snapshot().balance(book, slot)

    def view(self, book: BookLike) -> PoolView:
        """The book's pool view: utilisation and the first-layer rule."""
        return self.snapshot().view(book)

    def penalty(self, book: BookLike) -> StepPenalty:
        """The book's step-penalty gate as the ledger keeps it."""
        return self.snapshot().penalty(book)

    def order(self, id: OrderIdLike):
        """An order as a dict (amounts as ``Decimal``), or ``None``."""
        return self.snapshot().order(id)

    def orders(self, book: Optional[BookLike] = None) -> list:
        """Every live order as a dict (amounts as ``Decimal``), of one book if given."""
        return self.snapshot().orders(book)

    def reconcile_securities(
        self,
        book: BookLike,
        cash: AmountLike,
        holdings: Union[Mapping[str, AmountLike], "list[tuple[str, AmountLike]]"],
        apply: bool = False,
    ) -> dict:
        """Reconciles a securities account with its broker (QMT): the book's total becomes the
        broker's ``cash`` plus what the strategies' positions cost by the vault (their ``used``),
        and the difference (realized profit, fees) goes to the pool. ``holdings`` is the broker's
        positions, ``{code: cost}`` or ``[(code, cost), ...]``, cost lot by lot (the sum of the
        unsold buy fills). A labelled strategy whose ``used`` differs from the cost of its codes
        is a mismatch (a report the vault has not seen); with mismatches the total is left as it
        is unless ``apply``.

        Returns a dict: ``cash``, ``held``, ``capital``, ``drift`` (``Decimal``), ``mismatches``
        (``[{"strategy", "broker", "vault"}]``), ``applied`` (bool) and ``seq`` (of the ``set``,
        or ``None``). Never pass broker cash to ``set``/``StrategyBalanceManager.set`` for a
        securities account: that drops the positions' cost from the total."""
        pairs = list(holdings.items()) if isinstance(holdings, Mapping) else [tuple(pair) for pair in holdings]
        plan = dict(self.snapshot().securities_capital(book, cash, pairs))
        plan["applied"] = False
        plan["seq"] = None
        if not plan["mismatches"] or apply:
            outcome = self.set(book, 0, plan["capital"])
            plan["applied"] = True
            plan["seq"] = outcome.seq
            plan["drift"] = outcome.drift
        return plan

    @property
    def mode(self) -> str:
        """``"embedded"`` or ``"client"``."""
        return self._core.mode

    @property
    def closed(self) -> bool:
        return self._core.closed

    def reconnect(self, timeout: float = 5.0) -> None:
        """A connection: connects again under the same service and client name, giving up its
        old place first; retries for up to ``timeout`` seconds (a vault that is restarting).
        Use it after ``Disconnected`` (the vault restarted) and in a child process made by
        ``os.fork()``, where the parent's connection refuses every call until it reconnects.
        An embedded vault raises ``InvalidInput``: open it again instead."""
        self._core.reconnect(timeout)
        self._seq = 0

    def close(self) -> Optional[Snapshot]:
        """Embedded: stops the vault (everything queued is applied, the mirrors and journal
        write the last state) and returns its last snapshot. Client: disconnects. Idempotent."""
        return self._core.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return repr(self._core)


class Vault(Commands):
    """The vault embedded in this process: the ledger's owner thread runs in Rust; the GIL is
    released while a command waits for its answer, so Python threads submit concurrently.

    - ``config``: the ledger configuration (``LedgerConfig``'s JSON: ``credit_limits``,
      ``books`` with their strategies), as a dict, JSON text or a file path; ``None`` for no
      books.
    - ``data_dir``: journal every accepted command there and recover from it at start.
    - ``durability``: ``"none"``, ``"write"`` or ``"fsync_batch"`` (the default with a
      ``data_dir``: one ``fdatasync`` per batch).
    - ``shm``: mirror into this shared-memory file (read with ``ShmReader``).
    - ``json``: mirror into seed 000's ``shared_pool.json`` at this path.
    - ``serve``: serve other processes (``capvault.connect``) under this service name (any
      client name of this user, every command), or a dict in ``ServeConfig``'s JSON (grants per
      client).
    - ``wait``: how a command waits for its answer: ``"spin_park"`` (spin 50 µs, then park; the
      default without a journal that syncs), ``"spin_yield"``, ``"busy_spin"`` or ``"blocking"``
      (parks at once; the default with ``durability="fsync_batch"``: threads waiting on fsyncs
      leave the cores to the vault).
    """

    def __init__(
        self,
        config: Union[None, str, PathLike, Mapping[str, Any]] = None,
        data_dir: Optional[PathLike] = None,
        shm: Optional[PathLike] = None,
        json: Optional[PathLike] = None,
        serve: Union[None, str, Mapping[str, Any]] = None,
        durability: Optional[str] = None,
        wait: Optional[str] = None,
    ):
        import json as json_module

        serve_text = None
        if serve is not None:
            serve_text = serve if isinstance(serve, str) else json_module.dumps(serve)
        self._seq = 0
        self._core = _capvault.Core.embedded(
            _config_text(config),
            None if data_dir is None else os.fspath(data_dir),
            None if shm is None else os.fspath(shm),
            None if json is None else os.fspath(json),
            serve_text,
            durability,
            wait,
        )
        self._seq = self._core.snapshot().seq


class Connection(Commands):
    """A client of a vault served by another process (``Vault(serve=...)`` or
    ``Builder::serve`` in Rust). Made by ``capvault.connect``."""

    def __init__(self, service: str, client: str = "python", wait: Optional[str] = None):
        self._seq = 0
        self._core = _capvault.Core.connect(service, client, wait)
        self.service = service
        self.client = client


def connect(service: str, client: str = "python", wait: Optional[str] = None) -> Connection:
    """Connects to the vault serving ``service`` as the client ``client`` (the name its grant
    is under); ``wait`` as for ``Vault``. Raises ``ConnectError`` (``.kind``) if it cannot."""
    return Connection(service, client, wait)


class Facade:
    """What the seeds' facades share: the vault they stand on, reconnecting and closing it."""

    vault: Commands

    def reconnect(self, timeout: float = 5.0) -> None:
        """Connects the facade's connection again (see ``Commands.reconnect``)."""
        self.vault.reconnect(timeout)

    def close(self):
        """Stops an embedded vault (its mirrors write the last state), or disconnects."""
        return self.vault.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def choose(vault: Optional[Commands], service: Optional[str], client: str, embedded) -> Commands:
    """A facade's vault: the one given, a connection to ``service``, or ``embedded()``."""
    if vault is not None:
        return vault
    if service is not None:
        return connect(service, client)
    return embedded()
