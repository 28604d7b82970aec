"""capvault: one account's capital, shared exactly among many strategies.

Two ways in, one API:

- ``capvault.Vault(config, data_dir=None, shm=None, json=None, serve=None)``: the vault
  embedded in this process (its owner thread runs in Rust; the GIL is released while waiting);
- ``capvault.connect(service)``: a client of a vault another process serves.

The seeds' own APIs sit on top: ``StrategyBalanceManager`` (seed 004, virtual sub-accounts)
and ``GlobalVault`` (seed 000, reservations per order); they return ``Money`` (an exact
``Decimal`` that mixes with ``float`` as the seeds' code does), and ``capvault.hft`` has seed
004's ``Exchange``/``Currency``/``DataType`` names and its ``SingleQuote`` table. ``ShmReader`` reads a vault's
shared-memory mirror; ``PoolView`` and ``StepPenalty`` give strategy nodes the first-layer rule
and the 90%/85% step penalty.

Amounts go in as ``int``, ``str``, ``Decimal`` (exactly) or ``float`` (rounded half to even to
the book's minor unit: ``1.153 * 8600`` is 9,915.80) and come back as ``Decimal``.
"""

from ._capvault import (
    WIRE_VERSION,
    Outcome,
    QuoteReader,
    QuoteWriter,
    PoolView,
    ShmReader,
    Snapshot,
    StepPenalty,
    order_id_from_text,
    service_dir,
    shm_path,
    to_amount,
)
import os as _os

from . import _capvault
from ._vault import Commands, Connection, Vault, connect
from .errors import (
    ConfigError,
    ConnectError,
    Disconnected,
    Error,
    InDoubt,
    InvalidAmount,
    InvalidInput,
    MirrorError,
    Refused,
    Rejected,
    StartError,
    Stopped,
    Timeout,
    UnknownName,
)
from .money import Money
from .seed000 import Decision, GlobalVault
from .seed004 import Recovery, StrategyBalance, StrategyBalanceManager
from . import hft

# A forked child's copies of vaults and connections refuse at once (Stopped / Disconnected)
# instead of hanging on an owner thread that is not there or reading the parent's answers.
if hasattr(_os, "register_at_fork"):
    _os.register_at_fork(after_in_child=_capvault._after_fork_in_child)

__version__ = "0.1.0"

__all__ = [
    "WIRE_VERSION",
    "Commands",
    "ConfigError",
    "ConnectError",
    "Connection",
    "Decision",
    "Disconnected",
    "Error",
    "GlobalVault",
    "InDoubt",
    "InvalidAmount",
    "InvalidInput",
    "MirrorError",
    "Money",
    "Outcome",
    "PoolView",
    "QuoteReader",
    "QuoteWriter",
    "Recovery",
    "Refused",
    "Rejected",
    "ShmReader",
    "Snapshot",
    "StartError",
    "StepPenalty",
    "Stopped",
    "StrategyBalance",
    "StrategyBalanceManager",
    "Timeout",
    "UnknownName",
    "Vault",
    "connect",
    "hft",
    "order_id_from_text",
    "service_dir",
    "shm_path",
    "to_amount",
]
