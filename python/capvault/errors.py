"""The package's exceptions.

Every error is a ``capvault.Error``. A command the ledger refuses raises ``Rejected`` and
changed nothing; a bad argument raises ``InvalidInput`` (a ``ValueError``) before anything is
sent; a vault that went away raises ``Stopped`` (embedded) or ``Disconnected`` (client).
"""

from __future__ import annotations

from typing import Any, Dict


class Error(Exception):
    """Base class of every capvault error."""


class InvalidInput(Error, ValueError):
    """An argument is malformed (an id, a side, a name); nothing was sent."""


class InvalidAmount(InvalidInput):
    """An amount is out of range, not a number, or finer than the book's minor unit."""


class UnknownName(InvalidInput, LookupError):
    """A book or strategy label that no open book carries; nothing was sent."""


class ConfigError(Error, ValueError):
    """A ledger or serve configuration that does not parse or is inconsistent."""


class StartError(Error):
    """The vault could not start (its data directory, journal, mirrors or service)."""


class Rejected(Error):
    """The ledger refused the command; it changed nothing.

    ``code`` is the rejection's stable name, as in Rust and JSON (``"exceeds_reserve_ratio"``);
    ``figures`` is a dict of the numbers that explain it, amounts as ``Decimal`` (for
    ``exceeds_reserve_ratio``: ``committed``, ``amount`` and ``limit``).
    """

    def __init__(self, message: str, code: str, figures: Dict[str, Any]):
        super().__init__(message)
        self.code = code
        self.figures = figures

    def __reduce__(self):
        return (type(self), (str(self), self.code, self.figures))


class Stopped(Error):
    """The vault stopped before the command was applied; nothing changed."""


class InDoubt(Error):
    """The vault stopped while making the command durable: it may or may not be in the
    recovered state. Look before resending."""


class Disconnected(Error):
    """A client lost its vault (the vault's process stopped or closed the service). A command
    already sent may or may not have been applied: reconnect and resend; a repeated reservation
    is answered "already reserved"."""


class Refused(Error):
    """The vault's gateway refused the request before the ledger saw it; nothing changed."""


class ConnectError(Error):
    """``connect`` failed. ``kind`` says why: ``not_served``, ``permission_denied``,
    ``version``, ``full``, ``no_grant``, ``wrong_user``, ``invalid_name``."""

    def __init__(self, message: str, kind: str = "other"):
        super().__init__(message)
        self.kind = kind

    def __reduce__(self):
        return (type(self), (str(self), self.kind))


class MirrorError(Error):
    """The shared-memory mirror could not be opened or read."""


class Timeout(Error, TimeoutError):
    """A wait for a snapshot ran out of time."""


__all__ = [
    "Error",
    "InvalidInput",
    "InvalidAmount",
    "UnknownName",
    "ConfigError",
    "StartError",
    "Rejected",
    "Stopped",
    "InDoubt",
    "Disconnected",
    "Refused",
    "ConnectError",
    "MirrorError",
    "Timeout",
]
