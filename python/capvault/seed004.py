"""Seed 004's ``StrategyBalanceManager``: per (exchange, currency) a book of slots, slot 0 the
account's real total, slot 1 the pool, slots 2.. the strategies; ``total == pool + sum``
exactly after every call."""

from __future__ import annotations

from typing import Any, List, Mapping, NamedTuple, Optional, Union

from ._vault import AmountLike, Commands, Facade, PathLike, Vault, choose
from .errors import Rejected, UnknownName
from .money import Money


def _name(value: Any) -> str:
    """An exchange or currency given as a name or as an enum member (``hft.Currency.USDC``)."""
    name = getattr(value, "name", value)
    if not isinstance(name, str):
        raise TypeError(f"expected a name or an enum member, not {type(value).__name__}")
    return name.upper()


class StrategyBalance(NamedTuple):
    """One currency's slots (seed 004's ``StrategyBalance``), as ``Money``: exact, and usable
    with ``float`` in the seed's arithmetic."""

    exchange: str
    currency: str
    strategy_count: int
    #: ``strategies[0]`` the total, ``[1]`` the pool, ``[2..strategy_count]`` the strategies.
    strategies: List[Money]
    credit_limit: Money

    @property
    def total(self) -> Money:
        return self.strategies[0]

    @property
    def pool(self) -> Money:
        return self.strategies[1]

    @property
    def available(self) -> Money:
        """The pool plus the credit limit: what strategies can still allocate."""
        return self.strategies[1] + self.credit_limit


class Recovery(NamedTuple):
    """What ``recover`` did."""

    #: The exchange's balance minus the old total: what the pool absorbed.
    drift: Money
    #: The pool after the correction (before any reset).
    pool: Money
    credit_limit: Money
    #: ``True`` if the pool plus the credit limit was below zero and the book was reset.
    reset: bool


class StrategyBalanceManager(Facade):
    """Virtual sub-accounts for one exchange (seed 004).

    ``StrategyBalanceManager(hft.Exchange.KRAKEN, strategy_count=8)`` manages, for each
    currency, a book of ``strategy_count`` slots (2..=64) on the exchange: slot 0 the real total,
    slot 1 the pool, 2.. the strategies. Every call is one exact command of the vault; a call the
    ledger refuses raises ``capvault.Rejected`` and changes nothing.

    Where the vault lives:

    - by default, embedded in this process (``config``: a ledger configuration file or dict,
      whose ``credit_limits`` set each currency's credit limit; ``data_dir`` journals it;
      ``shm``/``serve`` share it);
    - ``serve="name"``: embedded and served to other processes;
    - ``connect="name"``: a client of the vault another process serves (the seed's users call it
      from several processes: one serves, the others connect);
    - ``vault=``: an existing ``Vault`` or connection.

    ``decimals`` is each currency's minor unit (default 8, an exchange's precision); a float
    amount is rounded half to even to it. ``credit_limits`` sets limits on top of the config.

    Balances come back as ``capvault.Money``: an exact ``Decimal`` that also mixes with
    ``float`` (``available + 5000.0 < 0`` works as the seed writes it), rounding a float
    operation half to even to the currency's minor unit.
    """

    def __init__(
        self,
        exchange: Any,
        strategy_count: int = 8,
        *,
        config: Union[None, PathLike, Mapping[str, Any]] = None,
        credit_limits: Optional[Mapping[Any, AmountLike]] = None,
        decimals: Union[int, Mapping[Any, int]] = 8,
        data_dir: Optional[PathLike] = None,
        durability: Optional[str] = None,
        shm: Optional[PathLike] = None,
        serve: Optional[str] = None,
        connect: Optional[str] = None,
        client: str = "python",
        vault: Optional[Commands] = None,
    ):
        if not 2 <= strategy_count <= 64:
            raise ValueError(f"strategy_count {strategy_count}: a book has 2..=64 slots")
        self.exchange = _name(exchange)
        self.strategy_count = strategy_count
        self._decimals = decimals
        self.vault = choose(
            vault, connect, client, lambda: Vault(config, data_dir=data_dir, shm=shm, serve=serve, durability=durability)
        )
        for currency, limit in (credit_limits or {}).items():
            self.vault.set_credit_limit(_name(currency), limit)

    def _book(self, currency: Any, open_missing: bool = True) -> str:
        return self._resolve(currency, open_missing)[0]

    def _resolve(self, currency: Any, open_missing: bool = True):
        """The currency's book name and decimals, opening the book on first use."""
        name = f"{self.exchange}:{_name(currency)}"
        try:
            return name, self.vault._core.resolve(name)[1]
        except UnknownName:
            if not open_missing:
                raise
            decimals = self._decimals
            if not isinstance(decimals, int):
                decimals = {_name(key): value for key, value in decimals.items()}.get(_name(currency), 8)
            try:
                self.vault.open_book(self.exchange, _name(currency), self.strategy_count, decimals=decimals)
            except Rejected as refusal:
                # Another process may have opened it first.
                if refusal.code != "book_exists":
                    raise
            return name, self.vault._core.resolve(name)[1]

    def reset(self, currency: Any, balance: AmountLike, force: bool = True):
        """Resets: total = pool = ``balance``, every strategy to 0 (seed 004 ``reset``). Opens
        the currency's book on first use. ``force`` (the seed's meaning) drops live orders too;
        with ``force=False`` a book with live orders is refused (``live_orders``)."""
        return self.vault.reset(self._book(currency), balance, force)

    def set(self, currency: Any, amount: AmountLike, index: int = 0):
        """Sets one slot (seed 004 ``set``). ``index=0`` reconciles the total with the exchange
        and the pool absorbs the difference (the recovery step); ``index=1`` sets the pool and
        the total follows; a strategy's slot is moved to ``amount`` through the pool."""
        return self.vault.set(self._book(currency), index, amount)

    def adjust(self, currency: Any, delta: AmountLike, index: int = 0):
        """Adds ``delta`` (+/-) to one slot (seed 004 ``adjust``). Slots 0 and 1 change the total
        and the pool together: a buy, a sell, a transfer in or out."""
        return self.vault.adjust(self._book(currency), index, delta)

    def allocate(self, currency: Any, index: int, amount: AmountLike):
        """Strategy ``index`` takes ``amount`` from the pool (seed 004 ``allocate``); refused
        with ``exceeds_credit_limit`` if the pool would go below minus the credit limit."""
        return self.vault.allocate(self._book(currency), index, amount)

    def release(self, currency: Any, index: int, amount: AmountLike):
        """Strategy ``index`` gives ``amount`` back to the pool (seed 004 ``release``)."""
        return self.vault.release(self._book(currency), index, amount)

    def get(self, currency: Any) -> StrategyBalance:
        """The currency's slots (seed 004 ``get``)."""
        name = self._book(currency, open_missing=False)
        book = self.vault.snapshot().book(name)
        places = book["decimals"]
        slots = [Money(book["total"], places), Money(book["pool"], places)]
        slots += [Money(0, places)] * (book["slot_count"] - 2)
        for strategy in book["strategies"]:
            slots[strategy["slot"]] = Money(strategy["committed"], places)
        return StrategyBalance(self.exchange, _name(currency), book["slot_count"], slots, Money(book["credit_limit"], places))

    def get_balance(self, currency: Any, index: int = 0) -> Money:
        """One slot's balance, by default the total (seed 004 ``get_balance``)."""
        name, places = self._resolve(currency, open_missing=False)
        return Money(self.vault.balance(name, index), places)

    def credit_limit(self, currency: Any) -> Money:
        """The currency's credit limit (from the configuration or ``set_credit_limit``)."""
        name, places = self._resolve(currency, open_missing=False)
        return Money(self.vault.snapshot().book(name)["credit_limit"], places)

    def set_credit_limit(self, currency: Any, limit: AmountLike):
        """Sets the currency's credit limit for every book in it."""
        return self.vault.set_credit_limit(_name(currency), limit)

    def recover(self, currency: Any, real_balance: AmountLike) -> Recovery:
        """Seed 004's "错误恢复" recipe in one call: set the total to the exchange's balance
        (strategies untouched, the pool absorbs the difference); if then ``pool + credit_limit <
        0`` the error cannot be repaired and the currency is reset to ``real_balance`` (the
        strategies must allocate again)."""
        outcome = self.set(currency, real_balance, 0)
        balance = self.get(currency)
        drift = Money(outcome.drift, balance.pool.decimals)
        if balance.available < 0:
            self.reset(currency, real_balance)
            return Recovery(drift, balance.pool, balance.credit_limit, True)
        return Recovery(drift, balance.pool, balance.credit_limit, False)
