"""Seed 004's ``hft`` names, so the seed's code runs with one changed import
(``from capvault import hft`` for ``import hft``; ``from capvault.hft import *`` where the seed
uses the bare names).

- ``Exchange``, ``Currency``, ``DataType``: the seed's enums. Members are ``str``s of their
  name; the managers accept the member or the name, and any venue or currency name works where
  the seed's list lacks it.
- ``SingleQuote(timestamp, localTimestamp, mid)``: one value with its times (microseconds since
  the Unix epoch).
- ``writeSingleQuoteCurrency`` / ``getSingleQuoteCurrency``: the seed's simple case (one
  strategy per account, no split) over a shared-memory quote table. One process writes a table
  (a second live writer is refused with ``MirrorError``); any process reads it. The table is
  ``quotes_path()``: ``$CAPVAULT_QUOTES``, else ``/dev/shm/capvault-quotes``. A table whose
  writer has exited is replaced by the next writer (its quotes start empty).
- ``StrategyBalanceManager``: seed 004's manager (also ``capvault.StrategyBalanceManager``).
"""

from __future__ import annotations

import enum
import os
import threading
from typing import Any, Optional, Tuple

from . import _capvault
from .seed004 import StrategyBalance, StrategyBalanceManager, _name

__all__ = [
    "Currency",
    "DataType",
    "Exchange",
    "SingleQuote",
    "StrategyBalance",
    "StrategyBalanceManager",
    "getSingleQuoteCurrency",
    "quotes_path",
    "writeSingleQuoteCurrency",
]


class Exchange(str, enum.Enum):
    """Venues by name (seed 004's ``Exchange``)."""

    KRAKEN = "KRAKEN"
    BINANCE = "BINANCE"
    OKX = "OKX"
    COINBASE = "COINBASE"
    BYBIT = "BYBIT"
    BITFINEX = "BITFINEX"
    QMT = "QMT"
    SSE = "SSE"
    SZSE = "SZSE"

    def __str__(self) -> str:
        return self.value


class Currency(str, enum.Enum):
    """Currencies by code (seed 004's ``Currency``)."""

    USD = "USD"
    USDT = "USDT"
    USDC = "USDC"
    EUR = "EUR"
    GBP = "GBP"
    JPY = "JPY"
    CNY = "CNY"
    BTC = "BTC"
    ETH = "ETH"
    SOL = "SOL"

    def __str__(self) -> str:
        return self.value


class DataType(str, enum.Enum):
    """What a quote is of (seed 004's ``DataType``)."""

    BALANCE = "BALANCE"
    POSITION = "POSITION"
    PRICE = "PRICE"

    def __str__(self) -> str:
        return self.value


class SingleQuote:
    """One value with its times (seed 004's ``SingleQuote``): ``timestamp`` (the source's),
    ``localTimestamp`` (also ``local_timestamp``; when it was received), both microseconds since
    the Unix epoch, and ``mid`` (a ``float``, as the seed's table holds it)."""

    __slots__ = ("timestamp", "localTimestamp", "mid")

    def __init__(self, timestamp: int, localTimestamp: Optional[int] = None, mid: float = 0.0, *, local_timestamp: Optional[int] = None):  # noqa: N803
        if localTimestamp is not None and local_timestamp is not None and localTimestamp != local_timestamp:
            raise TypeError("give localTimestamp or local_timestamp, not two different values")
        local = localTimestamp if localTimestamp is not None else local_timestamp
        self.timestamp = int(timestamp)
        self.localTimestamp = int(timestamp if local is None else local)
        self.mid = float(mid)

    @property
    def local_timestamp(self) -> int:
        return self.localTimestamp

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, SingleQuote):
            return NotImplemented
        return (self.timestamp, self.localTimestamp, self.mid) == (other.timestamp, other.localTimestamp, other.mid)

    def __repr__(self) -> str:
        return f"SingleQuote(timestamp={self.timestamp}, localTimestamp={self.localTimestamp}, mid={self.mid!r})"


def quotes_path() -> str:
    """The quote table this process uses: ``$CAPVAULT_QUOTES`` or ``/dev/shm/capvault-quotes``."""
    return os.environ.get("CAPVAULT_QUOTES") or _capvault.shm_path("quotes")


class _Tables:
    """This process's writer (made on its first write) and reader (reopened when the file at
    the path is a new one, e.g. after another writer replaced it)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.writer: Optional[_capvault.QuoteWriter] = None
        self.reader: Optional[_capvault.QuoteReader] = None
        self.reader_file: Optional[Tuple[str, int, int]] = None

    def write(self, path: str, key: Tuple[str, str, str], quote: SingleQuote) -> None:
        with self.lock:
            if self.writer is None or self.writer.path != path:
                self.writer = _capvault.QuoteWriter(path)
            self.writer.write(*key, quote.timestamp, quote.localTimestamp, quote.mid)

    def get(self, path: str, key: Tuple[str, str, str]) -> Optional[SingleQuote]:
        with self.lock:
            try:
                stat = os.stat(path)
            except FileNotFoundError:
                return None
            identity = (path, stat.st_dev, stat.st_ino)
            if self.reader is None or self.reader_file != identity:
                self.reader = _capvault.QuoteReader(path)
                self.reader_file = identity
            found = self.reader.get(*key)
        return None if found is None else SingleQuote(found[0], found[1], found[2])


_TABLES = _Tables()


def writeSingleQuoteCurrency(exchange: Any, dataType: Any, currency: Any, quote: SingleQuote) -> None:  # noqa: N802,N803
    """Writes ``quote`` for (exchange, data type, currency) (seed 004's
    ``ShareMemorySingleQuote::write``). Raises ``MirrorError`` if another live process writes the
    table, ``InvalidInput`` for a name that is not a venue or currency code."""
    _TABLES.write(quotes_path(), (_name(exchange), _name(dataType), _name(currency)), quote)


def getSingleQuoteCurrency(exchange: Any, dataType: Any, currency: Any) -> Optional[SingleQuote]:  # noqa: N802,N803
    """The latest quote for (exchange, data type, currency), or ``None`` if none was written
    (seed 004's ``ShareMemorySingleQuote::get``)."""
    return _TABLES.get(quotes_path(), (_name(exchange), _name(dataType), _name(currency)))
