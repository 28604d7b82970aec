"""capvault_remote: a client of a capvault vault served over NATS, in pure Python.

The native ``capvault`` package's API, on another host: ``connect(service, client)`` and the
seeds' facades ``GlobalVault`` (seed 000) and ``StrategyBalanceManager`` (seed 004), with the
same commands, exceptions and rejection codes. ``service`` is
``nats://[user[:password]@]host:port/<vault>``; the NATS user is the client's identity (its
grant is the vault's ``nats.clients`` entry of that name), the password defaults to
``$CAPVAULT_NATS_PASSWORD``::

    import capvault_remote as capvault
    vault = capvault.GlobalVault(connect="nats://executor@10.0.0.2:4222/seed000")

Every command is sent under a request number and resent under it until answered, so a timeout,
a reconnect or a vault restart never applies it twice (``docs/distribution.md``).
"""

from ._capvault import (
    REMOTE_VERSION,
    Outcome,
    PoolView,
    Snapshot,
    StepPenalty,
    order_id_from_text,
    to_amount,
)
from ._vault import Commands, Connection, connect
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

__version__ = "0.1.0"

__all__ = [
    "REMOTE_VERSION",
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
    "Recovery",
    "Refused",
    "Rejected",
    "Snapshot",
    "StartError",
    "StepPenalty",
    "Stopped",
    "StrategyBalance",
    "StrategyBalanceManager",
    "Timeout",
    "UnknownName",
    "connect",
    "order_id_from_text",
    "to_amount",
]
