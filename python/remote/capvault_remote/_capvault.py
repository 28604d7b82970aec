"""The transport under the facades: commands and reads of a vault over NATS, in pure Python.

The native package's ``_capvault`` is the Rust extension; this module offers the same names
(``Core``, ``Outcome``, ``Snapshot``, ``PoolView``, ``StepPenalty``) over the remote encoding of
``docs/wire.md`` ("Remote requests over NATS"), so ``_vault.py``, ``seed000.py`` and
``seed004.py`` run unchanged on either.

Every command is sent under a request number (microseconds since the epoch, increasing per
connection) and resent under the same number until it is answered or ``deadline`` passes: the
vault's request window answers a resend with the original outcome, so a timeout, a NATS
reconnect or a vault restart never applies a command twice.

Amounts go out as exact decimal text by the package's one rule (``int``, ``str``, ``Decimal``
exactly; ``float`` rounded half to even at the book's minor unit, from its exact binary value;
finer than the minor unit refused). They come back as ``Decimal`` read from the JSON number the
vault writes, which is exact for amounts of up to 15 significant digits.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import threading
import time
import urllib.parse
import uuid
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, Dict, List, Optional, Tuple

import nats
import nats.errors

from .errors import ConnectError, Disconnected, Error, InDoubt, InvalidAmount, InvalidInput, Refused
from .errors import Rejected, StartError, Stopped, Timeout, UnknownName

#: The version of the remote encoding (``v`` of every request).
REMOTE_VERSION = 1

_SCALE_DECIMALS = 8
_RAW_MAX = 2**63 - 1
_QUANTUM = {places: Decimal(1).scaleb(-places) for places in range(_SCALE_DECIMALS + 1)}

# JSON integers that count or name things; every other number of a figure is an amount.
_COUNTS = frozenset(
    "seq id book book_a book_b slot slot_count decimals layer orders_live accepted rejected repeated "
    "batches outcomes_dropped books books_unrecoverable dropped_orders orders request watermark "
    "found expected".split()
)
# JSON numbers that are ratios (floats), not amounts.
_RATIOS = frozenset("utilisation reserve_ratio enter leave multiplier".split())


def _figures(value: Any, key: Optional[str] = None) -> Any:
    """JSON figures with amounts as ``Decimal``: the native package's ``to_py`` for JSON."""
    if isinstance(value, dict):
        return {name: _figures(item, name) for name, item in value.items()}
    if isinstance(value, list):
        return [_figures(item, key) for item in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if key in _RATIOS:
        return float(value)
    if isinstance(value, int) and key in _COUNTS:
        return value
    return Decimal(value)


def _loads(data: bytes) -> Any:
    return json.loads(data, parse_float=Decimal)


def to_amount(value: Any, decimals: int = 2) -> Decimal:
    """An amount from a Python value at ``decimals`` places, by the package's one rule."""
    decimals = min(int(decimals), _SCALE_DECIMALS)
    if isinstance(value, bool) or value is None:
        raise InvalidAmount(f"an amount is an int, str, Decimal or float: {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidAmount(f"not a finite amount: {value!r}")
        # The float's exact binary value, rounded as `round(x, decimals)` rounds it.
        exact = Decimal(value).quantize(_QUANTUM[decimals], rounding=ROUND_HALF_EVEN)
    elif isinstance(value, (int, str, Decimal)):
        try:
            exact = Decimal(value.strip() if isinstance(value, str) else value)
        except InvalidOperation:
            raise InvalidAmount(f"not a decimal amount: {value!r}") from None
        if not exact.is_finite():
            raise InvalidAmount(f"not a finite amount: {value!r}")
        if exact != exact.quantize(_QUANTUM[decimals], rounding=ROUND_HALF_EVEN):
            raise InvalidAmount(f"finer than the book's minor unit ({decimals} decimals): {value!r}")
    else:
        raise TypeError(f"an amount is an int, str, Decimal or float, not {type(value).__name__}")
    if abs(exact.scaleb(_SCALE_DECIMALS)) > _RAW_MAX:
        raise InvalidAmount(f"out of range: {value!r}")
    return exact


def _amount_text(value: Any, decimals: int) -> str:
    return format(to_amount(value, decimals), "f")


def order_id_from_text(value: Any) -> str:
    """A client order id's canonical text: a snowflake's decimal digits or 32 lowercase hex
    digits (from 32 hex digits, a hyphenated UUID, ``uuid.UUID`` or an ``int``)."""
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise TypeError(f"a client order id is a str, int or uuid.UUID, not {type(value).__name__}")
    if len(text) == 36 and text.count("-") == 4:
        try:
            return uuid.UUID(text).hex
        except ValueError:
            pass
    if len(text) == 32 and all(c in "0123456789abcdefABCDEF" for c in text):
        return text.lower()
    if text.isdigit() and int(text) < 2**64:
        return str(int(text))
    raise InvalidInput(f"client order id {text!r}: not 32 hex digits, a UUID or a decimal snowflake")


def _side(text: str) -> str:
    side = str(text).lower()
    if side not in ("buy", "sell"):
        raise InvalidInput(f'side {text!r}: expected "buy" or "sell"')
    return side


class Outcome:
    """What the ledger did with a command: ``.kind``, ``.seq`` and the outcome's figures as
    attributes (amounts as ``Decimal``)."""

    __slots__ = ("seq", "_fields")

    def __init__(self, seq: int, fields: Dict[str, Any]):
        self.seq = seq
        self._fields = fields

    @property
    def kind(self) -> str:
        return self._fields["outcome"]

    def to_dict(self) -> Dict[str, Any]:
        return dict(self._fields)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._fields[name]
        except KeyError:
            raise AttributeError(f"outcome {self._fields.get('outcome')!r} has no {name!r}") from None

    def __repr__(self) -> str:
        return f"Outcome({self._fields}, seq={self.seq})"


class PoolView:
    """A book's pool view as the vault computed it: utilisation and the first-layer rule."""

    __slots__ = ("total", "pool", "frozen", "used", "committed", "credit_limit", "reserve_ratio",
                 "utilisation", "first_layer_limit", "decimals")

    def __init__(self, book: Dict[str, Any]):
        self.total = book["total"]
        self.pool = book["pool"]
        self.frozen = sum((s["frozen"] for s in book["strategies"]), Decimal(0))
        self.used = sum((s["used"] for s in book["strategies"]), Decimal(0))
        self.committed = book["committed"]
        self.credit_limit = book["credit_limit"]
        self.reserve_ratio = book["reserve_ratio"]
        self.utilisation = book["utilisation"]
        self.first_layer_limit = book["first_layer_limit"]
        self.decimals = book["decimals"]

    def can_open_first_layer(self, amount: Any) -> bool:
        """Whether a first layer of ``amount`` passes the reserve rule: ``committed + amount <=
        first_layer_limit`` (the limit as the vault's ledger derived it)."""
        return self.committed + to_amount(amount, self.decimals) <= self.first_layer_limit

    def __repr__(self) -> str:
        return (f"PoolView(total={self.total}, committed={self.committed}, "
                f"utilisation={self.utilisation}, first_layer_limit={self.first_layer_limit})")


class StepPenalty:
    """A book's step-penalty gate as the vault keeps it (read only: the vault updates it)."""

    __slots__ = ("active", "enter", "leave", "_multiplier")

    def __init__(self, penalty: Dict[str, Any]):
        self.active = bool(penalty["active"])
        self.enter = penalty["enter"]
        self.leave = penalty["leave"]
        self._multiplier = penalty["multiplier"]

    @property
    def multiplier(self) -> float:
        """The factor for buy grid steps: the multiplier while on, 1.0 while off."""
        return self._multiplier if self.active else 1.0

    def step(self, base_step: float) -> float:
        """``base_step`` times the factor."""
        return base_step * self.multiplier

    def __repr__(self) -> str:
        return f"StepPenalty(active={self.active}, enter={self.enter}, leave={self.leave})"


class Snapshot:
    """The ledger as it was after ``seq`` accepted commands, read from the vault. Immutable."""

    def __init__(self, document: Dict[str, Any]):
        self._document = document
        self._figures = _figures(document)

    @property
    def seq(self) -> int:
        return self._document["seq"]

    @property
    def stats(self) -> Dict[str, Any]:
        return dict(self._figures["stats"])

    @property
    def books(self) -> List[Dict[str, Any]]:
        return list(self._figures["books"])

    def to_dict(self) -> Dict[str, Any]:
        return json.loads(self.to_json())

    def to_json(self) -> str:
        return json.dumps(self._document, default=str)

    def _book(self, book: Any) -> Dict[str, Any]:
        """A book by id, ``"VENUE:CURRENCY"`` or a currency one book holds."""
        books = self._figures["books"]
        if isinstance(book, int) and not isinstance(book, bool):
            for found in books:
                if found["id"] == book:
                    return found
            raise UnknownName(f"no book {book}")
        text = str(book)
        venue, _, currency = text.rpartition(":") if ":" in text else text.rpartition("/")
        found = [b for b in books if b["currency"] == currency and (not venue or b["venue"] == venue)]
        if not found:
            raise UnknownName(f"no book {text!r} is open")
        if len(found) > 1:
            raise UnknownName(f"several books hold {currency!r}: name the venue")
        return found[0]

    @staticmethod
    def _slot(book: Dict[str, Any], slot: Any) -> int:
        if isinstance(slot, int) and not isinstance(slot, bool):
            return slot
        for strategy in book["strategies"]:
            if strategy["label"] == str(slot):
                return strategy["slot"]
        raise UnknownName(f"no strategy labelled {str(slot)!r} in this book")

    def book(self, book: Any) -> Dict[str, Any]:
        """One book as a dict, amounts as ``Decimal``."""
        return dict(self._book(book))

    def slot_of(self, label: str) -> Optional[Tuple[int, int]]:
        """``(book id, slot)`` of the strategy labelled ``label``, or ``None``."""
        for book in self._figures["books"]:
            for strategy in book["strategies"]:
                if strategy["label"] == label:
                    return book["id"], strategy["slot"]
        return None

    def slot_of_security(self, code: str) -> Optional[Tuple[int, int]]:
        """``(book id, slot)`` of the strategy labelled ``code``, else its number (``159201`` for
        ``159201.SZ``); ``None`` if none or several are."""
        for label in dict.fromkeys((code, code.split(".", 1)[0])):
            found = [(b["id"], s["slot"]) for b in self._figures["books"] for s in b["strategies"] if s["label"] == label]
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                return None
        return None

    def balance(self, book: Any, slot: Any = None) -> Decimal:
        """A slot's balance: 0 the total, 1 the pool, 2.. a strategy's committed capital."""
        found = self._book(book)
        index = 0 if slot is None else self._slot(found, slot)
        if index == 0:
            return found["total"]
        if index == 1:
            return found["pool"]
        if not 2 <= index < found["slot_count"]:
            raise InvalidInput(f"slot {index} is outside the book's {found['slot_count']} slots")
        for strategy in found["strategies"]:
            if strategy["slot"] == index:
                return strategy["committed"]
        return Decimal(0)

    def view(self, book: Any) -> PoolView:
        return PoolView(self._book(book))

    def penalty(self, book: Any) -> StepPenalty:
        return StepPenalty(self._book(book)["penalty"])

    def order(self, id: Any) -> Optional[Dict[str, Any]]:
        """An order as a dict, or ``None``."""
        text = order_id_from_text(id)
        for order in self._figures["orders"]:
            if order["client_order_id"] == text:
                return dict(order)
        return None

    def orders(self, book: Any = None) -> List[Dict[str, Any]]:
        """Every order the snapshot holds, of one book if given."""
        wanted = None if book is None else self._book(book)["id"]
        return [dict(o) for o in self._figures["orders"] if wanted is None or o["book"] == wanted]

    def securities_capital(self, book: Any, cash: Any, holdings: Any) -> Dict[str, Any]:
        raise Error(
            "reconcile_securities needs the ledger's securities_capital, which runs in the vault's "
            "process: reconcile beside the vault (capvault's native package) or send the set it plans"
        )

    def __repr__(self) -> str:
        return f"<capvault_remote.Snapshot seq={self.seq} books={len(self._figures['books'])}>"


def _parse_service(service: str, client: str) -> Tuple[List[str], str, str, Optional[str], str]:
    """``nats://[user[:password]@]host[:port][,host:port...]/<vault>[?prefix=P]``: the servers,
    the vault, the user (default: the client's name), its password (default:
    ``$CAPVAULT_NATS_PASSWORD``) and the subject prefix (default ``capvault``)."""
    parts = urllib.parse.urlsplit(service)
    if parts.scheme not in ("nats", "tls") or not parts.path.strip("/"):
        raise InvalidInput(f"service {service!r}: expected nats://[user[:password]@]host:port/<vault>")
    vault = parts.path.strip("/")
    credentials, _, hosts = parts.netloc.rpartition("@")
    user, _, password = credentials.partition(":")
    user = urllib.parse.unquote(user) or client
    password = urllib.parse.unquote(password) or os.environ.get("CAPVAULT_NATS_PASSWORD") or None
    servers = [f"{parts.scheme}://{host}" for host in hosts.split(",") if host]
    prefix = urllib.parse.parse_qs(parts.query).get("prefix", ["capvault"])[0]
    for token, what in ((vault, "vault"), (user, "user"), (prefix, "prefix")):
        if not token or any(c in token for c in ". *>") and what != "prefix":
            raise InvalidInput(f"service {service!r}: the {what} {token!r} is not one subject token")
    return servers, vault, user, password, prefix


class _Loop:
    """An asyncio loop on a thread of its own: nats-py's reads, pings and reconnects run there
    while the caller's thread blocks on one request at a time."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="capvault-remote", daemon=True)
        self.thread.start()

    def run(self, coroutine, timeout: float):
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result(timeout)
        except BaseException:
            future.cancel()
            raise

    def stop(self) -> None:
        """Cancels what still runs on the loop (a connect given up on), then stops it."""

        async def drain() -> None:
            tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(drain(), self.loop).result(2)
        except Exception:  # noqa: BLE001 - stopping is best effort; the thread is a daemon.
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=2)


class Core:
    """A connection to a vault served over NATS (``capvault serve`` with a ``nats`` section).

    ``attempt``: how long one request waits for its answer; ``deadline``: how long a command is
    resent (under its one request number) before ``Disconnected``."""

    mode = "remote"

    @staticmethod
    def embedded(*_args: Any) -> "Core":
        raise StartError(
            "capvault_remote is a client: it cannot embed a vault. Serve one with `capvault serve` and "
            "connect with connect='nats://user:password@host:4222/<vault>'"
        )

    @staticmethod
    def connect(service: str, client: str = "python", wait: Optional[str] = None) -> "Core":
        return Core(service, client)

    def __init__(self, service: str, client: str = "python", attempt: float = 2.0, deadline: float = 30.0):
        self.servers, self.vault, self.user, self._password, prefix = _parse_service(service, client)
        self.attempt = attempt
        self.deadline = deadline
        self._command_subject = f"{prefix}.{self.vault}.cmd.{self.user}"
        self._read_subject = f"{prefix}.{self.vault}.read.{self.user}"
        self._lock = threading.Lock()
        self._last_request = 0
        self._latest: Optional[Snapshot] = None
        # The highest sequence answered here: reads wait for it (this connection reads its writes).
        self._answered = 0
        self._closed = False
        self._errors: List[str] = []
        self._loop = _Loop()
        try:
            self._nc = self._loop.run(self._open(), attempt * len(self.servers) + 3)
        except Exception as error:
            self._loop.stop()
            seen = self._errors + [str(error) or type(error).__name__]
            kind = "permission_denied" if any("authoriz" in text.lower() for text in seen) else "not_served"
            raise ConnectError(f"cannot connect to {', '.join(self.servers)}: {seen[0]}", kind) from None

    async def _open(self):
        async def quiet(error: Exception) -> None:
            # Reconnects are the client's business (requests are resent under their numbers);
            # the errors seen are kept to explain a failed connect.
            self._errors[:] = self._errors[-4:] + [str(error)]

        return await nats.connect(
            servers=self.servers,
            user=self.user if self._password is not None else None,
            password=self._password,
            name=f"capvault-remote-{self.user}",
            connect_timeout=self.attempt,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.25,
            error_cb=quiet,
        )

    # Requests.

    def next_request(self) -> int:
        """A new request number: microseconds since the epoch, above every number used here."""
        with self._lock:
            self._last_request = max(time.time_ns() // 1000, self._last_request + 1)
            return self._last_request

    @property
    def last_request(self) -> int:
        """The last request number sent: resend under it after ``Disconnected`` to learn the
        outcome (``submit_once``)."""
        return self._last_request

    def _request(self, subject: str, body: bytes) -> Optional[Any]:
        """One attempt: the answer's JSON, or ``None`` when none came (timeout, no responder, a
        reconnect under way)."""
        if self._closed:
            raise Disconnected("this connection is closed")
        try:
            message = self._loop.run(self._nc.request(subject, body, timeout=self.attempt), self.attempt + 1)
        except (nats.errors.Error, asyncio.TimeoutError, TimeoutError, OSError):
            return None
        try:
            return _loads(message.data)
        except ValueError:
            raise Error(f"the vault's answer is not JSON: {message.data[:80]!r}") from None

    def submit_once(self, request: int, command: Dict[str, Any]) -> Outcome:
        """Sends ``command`` under request number ``request`` (resent under it until answered):
        a number already applied is answered with its original outcome and applies nothing."""
        if not isinstance(request, int) or request < 1:
            raise InvalidInput(f"request number {request!r}: at least 1")
        with self._lock:
            self._last_request = max(self._last_request, request)
        return self._send(request, {"v": REMOTE_VERSION, "request": request, "command": command})

    def _send(self, request: int, body: Dict[str, Any]) -> Any:
        """Sends ``body`` until it is answered (resent under the same number), or raises
        ``Disconnected`` at the deadline."""
        body = json.dumps(body, separators=(",", ":"))
        deadline = time.monotonic() + self.deadline
        while True:
            answer = self._request(self._command_subject, body.encode())
            if answer is not None:
                outcome = self._decode(answer)
                if outcome is not None:
                    return outcome
            if time.monotonic() >= deadline:
                raise Disconnected(
                    f"no answer to request {request} within {self.deadline:g} s: it may or may not be applied; "
                    f"resend it under the same number (submit_once({request}, ...)) to learn which"
                )
            time.sleep(0.05)

    def _decode(self, answer: Dict[str, Any]) -> Optional[Outcome]:
        """The answer as an outcome, a raised error, or ``None`` (not applied or not known yet:
        resend the same number)."""
        if "outcome" in answer or "outcomes" in answer:
            with self._lock:
                self._answered = max(self._answered, answer["seq"])
            if "outcomes" in answer:  # a linked reservation's: every part's, in order
                return [Outcome(answer["seq"], _figures(outcome)) for outcome in answer["outcomes"]]
            return Outcome(answer["seq"], _figures(answer["outcome"]))
        if "rejection" in answer:
            figures = _figures(answer["rejection"])
            code = figures.pop("rejection")
            if "part" in answer:  # the part of a linked reservation refused
                figures["part"] = answer["part"]
            raise Rejected(answer.get("message") or code, code, figures)
        error = answer.get("error")
        message = answer.get("message") or str(error)
        if error in ("busy", "stopped", "in_doubt"):
            return None
        if error == "version":
            raise Refused(f"wire version: this client writes {REMOTE_VERSION}, the vault reads {answer.get('v')}")
        if error == "too_large":
            raise Refused(f"too large: {message} (the limit is {answer.get('limit')} bytes)")
        if error in ("malformed", "no_grant"):
            raise Refused(f"{error}: {message}")
        raise Stopped(f"the vault answered {answer!r}")

    def submit(self, command: Dict[str, Any]) -> Outcome:
        return self.submit_once(self.next_request(), command)

    def submit_json(self, text: str) -> Outcome:
        try:
            command = json.loads(text)
        except ValueError as error:
            raise InvalidInput(f"command: {error}") from None
        if not isinstance(command, dict):
            raise InvalidInput("command: a JSON object with an \"op\"")
        return self.submit(command)

    # Reads.

    def _read(self, at_least: int) -> Snapshot:
        body = json.dumps({"v": REMOTE_VERSION, "at_least": at_least}).encode()
        answer = self._request(self._read_subject, body)
        if answer is None or "snapshot" not in answer:
            if answer is not None and answer.get("error") not in ("stopped", "busy", None):
                self._decode(answer)
            raise Timeout(f"no snapshot at {at_least} from vault {self.vault!r}")
        snapshot = Snapshot(answer["snapshot"])
        with self._lock:
            if self._latest is None or snapshot.seq >= self._latest.seq:
                self._latest = snapshot
        return snapshot

    def snapshot(self) -> Snapshot:
        """The vault's latest snapshot, at least as new as every answer this connection had."""
        return self.snapshot_at_least(self._answered, self.attempt * 2)

    def snapshot_at_least(self, seq: int, timeout: float = 5.0) -> Snapshot:
        """The first snapshot with ``seq >= seq``, waiting up to ``timeout`` seconds."""
        end = time.monotonic() + timeout
        while True:
            try:
                return self._read(seq)
            except Timeout:
                if time.monotonic() >= end:
                    raise
                time.sleep(0.05)

    def _known(self) -> Snapshot:
        """The last snapshot read, if it shows every answer this connection had; else a new read."""
        latest = self._latest
        if latest is not None and latest.seq >= self._answered:
            return latest
        return self.snapshot()

    def resolve(self, book: Any, slot: Any = None) -> Tuple[int, int, Optional[int]]:
        """``(book id, decimals, slot)`` of a book (id, ``"VENUE:CURRENCY"`` or a currency) and
        optionally a slot (number or label); read again once if the latest read lacks it."""
        try:
            found = self._known()._book(book)
        except UnknownName:
            found = self.snapshot()._book(book)
        index = None
        if slot is not None:
            try:
                index = Snapshot._slot(found, slot)
            except UnknownName:
                found = self.snapshot()._book(book)
                index = Snapshot._slot(found, slot)
        return found["id"], found["decimals"], index

    # Commands: the native Core's signatures.

    def open_book(self, spec: str) -> Outcome:
        try:
            fields = json.loads(spec)
        except ValueError as error:
            raise InvalidInput(f"book spec: {error}") from None
        return self.submit({"op": "open_book", "spec": fields})

    def configure_strategy(self, book, slot, label=None, cap=None, loss_limit=None) -> Outcome:
        book_id, decimals, index = self.resolve(book, slot)
        config: Dict[str, Any] = {"label": label, "loss_limit": _amount_text(0 if loss_limit is None else loss_limit, decimals)}
        if cap is not None:
            config["cap"] = _amount_text(cap, decimals)
        return self.submit({"op": "configure_strategy", "book": book_id, "slot": index, "config": config})

    def set_credit_limit(self, currency: str, limit) -> Outcome:
        books = [b for b in self._known().books if b["currency"] == currency]
        decimals = books[0]["decimals"] if books else _SCALE_DECIMALS
        return self.submit({"op": "set_credit_limit", "currency": currency, "limit": _amount_text(limit, decimals)})

    def reset(self, book, balance, force: bool = False) -> Outcome:
        book_id, decimals, _ = self.resolve(book)
        return self.submit({"op": "reset", "book": book_id, "balance": _amount_text(balance, decimals), "force": bool(force)})

    def _slot_command(self, op: str, field: str, book, slot, amount) -> Outcome:
        book_id, decimals, index = self.resolve(book, slot)
        return self.submit({"op": op, "book": book_id, "slot": index, field: _amount_text(amount, decimals)})

    def set(self, book, slot, amount) -> Outcome:
        return self._slot_command("set", "amount", book, slot, amount)

    def adjust(self, book, slot, delta) -> Outcome:
        return self._slot_command("adjust", "delta", book, slot, delta)

    def allocate(self, book, slot, amount) -> Outcome:
        return self._slot_command("allocate", "amount", book, slot, amount)

    def release(self, book, slot, amount) -> Outcome:
        return self._slot_command("release", "amount", book, slot, amount)

    def record_alpha(self, book, slot, amount) -> Outcome:
        return self._slot_command("record_alpha", "amount", book, slot, amount)

    def mark_loss(self, book, slot, loss) -> Outcome:
        return self._slot_command("mark_loss", "loss", book, slot, loss)

    def trade(self, book_a, delta_a, book_b, delta_b) -> Outcome:
        a, decimals_a, _ = self.resolve(book_a)
        b, decimals_b, _ = self.resolve(book_b)
        return self.submit({
            "op": "trade", "book_a": a, "delta_a": _amount_text(delta_a, decimals_a),
            "book_b": b, "delta_b": _amount_text(delta_b, decimals_b),
        })

    def reserve(self, id, book, slot, amount, side: str = "buy", layer: int = 0) -> Outcome:
        book_id, decimals, index = self.resolve(book, slot)
        if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer < 2**32:
            raise InvalidInput(f"layer {layer!r}: 0..2^32")
        return self.submit({
            "op": "reserve", "id": order_id_from_text(id), "book": book_id, "slot": index,
            "side": _side(side), "layer": layer, "amount": _amount_text(amount, decimals),
        })

    def reserve_linked(self, parts) -> List[Outcome]:
        """Reserves every part or none, as one command; each part a dict of ``reserve``'s
        arguments. Resent until answered: a part already reserved is answered
        ``already_reserved``, so nothing is reserved twice."""
        commands = []
        for n, part in enumerate(parts):
            def field(name, default=None, required=True):
                value = part.get(name) if isinstance(part, dict) else None
                if value is None and required:
                    raise InvalidInput(f"part {n}: no {name!r}")
                return default if value is None else value
            book_id, decimals, index = self.resolve(field("book"), field("slot"))
            layer = field("layer", 0, required=False)
            if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer < 2**32:
                raise InvalidInput(f"part {n}: layer {layer!r}: 0..2^32")
            commands.append({
                "op": "reserve", "id": order_id_from_text(field("id")), "book": book_id, "slot": index,
                "side": _side(field("side", "buy", required=False)), "layer": layer,
                "amount": _amount_text(field("amount"), decimals),
            })
        request = self.next_request()
        return self._send(request, {"v": REMOTE_VERSION, "request": request, "linked": commands})

    def _order_decimals(self, id: str) -> int:
        order = self._known().order(id) or self.snapshot().order(id)
        if order is None:
            return _SCALE_DECIMALS
        return self._known()._book(order["book"])["decimals"]

    def fill(self, id, amount) -> Outcome:
        text = order_id_from_text(id)
        return self.submit({"op": "fill", "id": text, "amount": _amount_text(amount, self._order_decimals(text))})

    def fill_to(self, id, filled) -> Outcome:
        text = order_id_from_text(id)
        return self.submit({"op": "fill_to", "id": text, "filled": _amount_text(filled, self._order_decimals(text))})

    def cancel(self, id) -> Outcome:
        return self.submit({"op": "cancel", "id": order_id_from_text(id)})

    def expire(self, id) -> Outcome:
        return self.submit({"op": "expire", "id": order_id_from_text(id)})

    def release_order(self, id) -> Outcome:
        return self.submit({"op": "release_order", "id": order_id_from_text(id)})

    # The connection.

    @property
    def closed(self) -> bool:
        return self._closed

    def reconnect(self, timeout: float = 5.0) -> None:
        """NATS reconnects by itself; this only checks the vault answers within ``timeout``."""
        self.snapshot_at_least(0, timeout)

    def close(self) -> None:
        """Disconnects (idempotent)."""
        if self._closed:
            return None
        self._closed = True
        try:
            self._loop.run(self._nc.close(), 5)
        except Exception:  # noqa: BLE001 - closing is best effort; the loop stops either way.
            pass
        self._loop.stop()
        return None

    def __repr__(self) -> str:
        return f"<capvault_remote.Core vault={self.vault!r} user={self.user!r} servers={self.servers}>"
