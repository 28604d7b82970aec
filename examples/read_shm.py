#!/usr/bin/env python3
"""Read a capvault shared-memory ledger from Python, with the standard library only.

Follows docs/shm-layout.md: validates the header, then copies the books and live orders under the
seqlock (sequence even and unchanged across the copy, at most TRIES tries), checks every field and
each book's invariant exactly as the Rust reader does, and prints them.

    python3 examples/read_shm.py /dev/shm/capvault-example [--json]
    python3 examples/read_shm.py --check FILE...    one verdict per file: "ok" or "corrupt"
"""

import json
import mmap
import os
import struct
import sys
import time

MAGIC = b"CAPVAULT"
LAYOUT_VERSION = 4
HEADER_SIZE = 448
# The latency summary after the header's counters: per metric count, p50, p99, p999, max
# (nanoseconds; commands for batch and depth), in this order.
LATENCY_OFFSET = 128
LATENCY_METRICS = ("queue", "apply", "journal", "publish", "shm", "round_trip", "batch", "depth")
LATENCY_FIELDS = ("count", "p50", "p99", "p999", "max")
STRATEGIES_PER_BOOK = 62
STRATEGY_SIZE = 80
BOOK_SIZE = 80 + STRATEGIES_PER_BOOK * STRATEGY_SIZE  # 5040
ORDER_SIZE = 64
SEQ_OFFSET = 40
TRIES = 10_000
SCALE = 10**8  # amounts are signed 64-bit counts of 1e-8 units
AMOUNT_MAX = 10**18  # |amount| <= 1e10 units, as in the ledger
CODE_BYTES = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
LABEL_BYTES = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.")
ORDERS_MAX_MAX = 1 << 22
STATES = {1: "pending", 2: "partially_filled", 3: "filled", 4: "cancelled", 5: "released", 6: "dropped", 7: "expired"}


class LayoutError(Exception):
    pass


class Corrupt(ValueError):
    pass


def code(raw, alphabet):
    """A zero-padded code: 1.. bytes of its alphabet, then only zeros."""
    body = raw.split(b"\0", 1)[0]
    if not body or any(b not in alphabet for b in body) or any(raw[len(body):]):
        raise Corrupt("not a valid code")
    return body.decode("ascii")


def in_range(raw):
    if not -AMOUNT_MAX <= raw <= AMOUNT_MAX:
        raise Corrupt("amount out of range")
    return raw


def money(raw):
    """Amounts as the Rust side writes them in JSON: an integer when whole, else the nearest
    float (Python's int / int is correctly rounded, as Rust's decimal-text conversion is)."""
    return raw // SCALE if raw % SCALE == 0 else raw / SCALE


def ratio(ppm):
    return ppm / 1e6


def open_ledger(path):
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as f:
        if os.fstat(f.fileno()).st_uid != os.geteuid():
            raise LayoutError(f"{path}: refused: owned by another user")
        size = f.seek(0, 2)
        if size == 0:
            raise LayoutError(f"{path}: the file is empty")
        if size < HEADER_SIZE:
            raise LayoutError(f"{path}: truncated: {size} bytes, expected at least {HEADER_SIZE}")
        m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    if m[0:8] != MAGIC:
        raise LayoutError(f"{path}: not a capvault shared-memory file (bad magic)")
    version, header_size = struct.unpack_from("<II", m, 8)
    if version != LAYOUT_VERSION:
        raise LayoutError(f"{path}: layout version {version}, this reader reads {LAYOUT_VERSION}")
    (total_size,) = struct.unpack_from("<Q", m, 16)
    books_max, strategies = struct.unpack_from("<II", m, 48)
    (orders_max,) = struct.unpack_from("<Q", m, 56)
    if strategies != STRATEGIES_PER_BOOK or books_max > 0xFFFF or orders_max > ORDERS_MAX_MAX:
        raise LayoutError(f"{path}: header field out of range")
    expected = HEADER_SIZE + books_max * BOOK_SIZE + orders_max * ORDER_SIZE
    if total_size != expected or size < expected:
        raise LayoutError(f"{path}: truncated or inconsistent: {size} bytes, header says {total_size}, expected {expected}")
    return m, books_max, orders_max


def id_order(id_high, id_low):
    """The order snapshots list orders in: by a fixed 64-bit hash of the id (splitmix64's
    finalizer over both words, as `src/runtime/orders.rs`), then by the id's words."""
    mask = (1 << 64) - 1
    x = id_low ^ (((id_high << 29) | (id_high >> 35)) & mask) ^ 0x9E3779B97F4A7C15
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & mask
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & mask
    return (x ^ (x >> 31), id_high, id_low)


def decode(m, books_max, orders_max):
    """One pass over the seqlock-protected words. May see a torn state: the caller checks."""
    books_count, orders_count = struct.unpack_from("<II", m, 64)
    if books_count > books_max or orders_count > orders_max:
        raise Corrupt("counts out of range")
    snapshot_seq, accepted, rejected, batches = struct.unpack_from("<QQQQ", m, 72)
    repeated, outcomes_dropped = struct.unpack_from("<QQ", m, 112)
    books = []
    for b in range(books_count):
        base = HEADER_SIZE + b * BOOK_SIZE
        venue = code(m[base:base + 16], CODE_BYTES)
        currency = code(m[base + 16:base + 24], CODE_BYTES)
        slot_count, flags = struct.unpack_from("<II", m, base + 24)
        total, pool, credit = (in_range(v) for v in struct.unpack_from("<qqq", m, base + 32))
        reserve_ppm, enter_ppm, leave_ppm, multiplier_ppm = struct.unpack_from("<IIII", m, base + 56)
        (orders_live,) = struct.unpack_from("<Q", m, base + 72)
        if not 2 <= slot_count <= 64:
            raise Corrupt("slot count out of range")
        decimals = (flags >> 8) & 0xFF
        if decimals > 8:
            raise Corrupt("minor unit out of range")
        strategies = []
        committed = 0
        for i in range(slot_count - 2):
            s = base + 80 + i * STRATEGY_SIZE
            label = None if not any(m[s:s + 16]) else code(m[s:s + 16], LABEL_BYTES)
            frozen, used, direct, alpha, loss, cap, loss_limit = struct.unpack_from("<qqqqqqq", m, s + 16)
            if cap != -(2**63):
                in_range(cap)
            for value in (loss_limit, frozen, used, direct, alpha, loss):
                in_range(value)
            if frozen < 0 or used < 0 or direct < 0:
                raise Corrupt("negative frozen, used or direct")
            if direct > used:
                raise Corrupt("direct above used")
            committed += frozen + used
            s_flags, s_orders = struct.unpack_from("<II", m, s + 72)
            strategies.append({
                "slot": i + 2, "label": label, "frozen": money(frozen), "used": money(used),
                "direct": money(direct), "committed": money(frozen + used),
                "cap": None if cap == -(2**63) else money(cap), "loss_limit": money(loss_limit),
                "acc_alpha": money(alpha), "float_loss": money(loss),
                "forced_reduce": bool(s_flags & 1), "orders_live": s_orders,
            })
        if total != pool + committed:
            raise Corrupt("total != pool + committed")
        health = {"state": "sound"}
        if flags & 2:
            health = {"state": "unrecoverable", "pool": money(pool), "credit_limit": money(credit)}
        books.append({
            "id": b, "venue": venue, "currency": currency, "slot_count": slot_count, "decimals": decimals,
            "total": money(total), "pool": money(pool), "committed": money(committed),
            "utilisation": (committed / SCALE) / (total / SCALE) if total > 0 else None,
            "credit_limit": money(credit), "reserve_ratio": ratio(reserve_ppm),
            # floor(total × (1 - reserve_ratio)) in raw units, as the ledger's view derives it.
            "first_layer_limit": money((total * (1_000_000 - reserve_ppm)) // 1_000_000),
            "penalty": {"active": bool(flags & 1), "enter": ratio(enter_ppm), "leave": ratio(leave_ppm),
                        "multiplier": ratio(multiplier_ppm)},
            "health": health, "strategies": strategies,
        })
    orders = []
    for o in range(orders_count):
        base = HEADER_SIZE + books_max * BOOK_SIZE + o * ORDER_SIZE
        tag, id_high, id_low, layer, amount, frozen, used = struct.unpack_from("<QQQQqqq", m, base)
        kind, side, state, slot, book = tag & 0xFF, (tag >> 8) & 0xFF, (tag >> 16) & 0xFF, (tag >> 24) & 0xFF, (tag >> 32) & 0xFFFF
        if kind == 1 and (id_high or id_low):
            order_id = f"{(id_high << 64) | id_low:032x}"
        elif kind == 2 and id_low:
            order_id = str(id_low)
        else:
            raise Corrupt("bad order tag or id")
        if side not in (1, 2) or state not in STATES or book >= books_count:
            raise Corrupt("bad order tag or id")
        for value in (amount, frozen, used):
            in_range(value)
        orders.append((id_order(id_high, id_low), {
            "client_order_id": order_id, "book": book, "slot": slot,
            "side": {1: "buy", 2: "sell"}.get(side, "?"), "layer": layer,
            "amount": money(amount), "frozen": money(frozen), "used": money(used),
            "state": STATES.get(state, "?"),
        }))
    # The records are in no particular order; list the orders as the Rust snapshot does.
    orders = [order for _, order in sorted(orders, key=lambda pair: pair[0])]
    stats = {"accepted": accepted, "rejected": rejected, "repeated": repeated, "batches": batches,
             "outcomes_dropped": outcomes_dropped}
    latency = {}
    for index, metric in enumerate(LATENCY_METRICS):
        values = struct.unpack_from("<5Q", m, LATENCY_OFFSET + index * 40)
        latency[metric] = dict(zip(LATENCY_FIELDS, values))
    return {"seq": snapshot_seq, "stats": stats, "books": books, "orders": orders, "latency": latency}


def writer_state(path, m, heartbeat_age):
    """As the Rust reader says it: closed or failed by the flags, else alive (or stale) while a
    process holds the writer lock, dead when none does."""
    import fcntl
    (flags,) = struct.unpack_from("<Q", m, 104)
    if flags & 2:
        return "failed"
    if flags & 1:
        return "closed"
    try:
        with open(path + ".lock", "rb") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return "stale" if heartbeat_age > 2.0 else "alive"
            fcntl.flock(lock, fcntl.LOCK_UN)
            return "dead"
    except FileNotFoundError:
        return "dead"


def read_consistent(m, books_max, orders_max):
    """The seqlock reader: sequence even before, unchanged after, or try again (bounded)."""
    for _ in range(TRIES):
        (before,) = struct.unpack_from("<Q", m, SEQ_OFFSET)
        if before & 1:
            time.sleep(0)
            continue
        try:
            view, problem = decode(m, books_max, orders_max), None
        except Corrupt as error:
            view, problem = None, str(error)  # perhaps torn; the sequence check decides
        (after,) = struct.unpack_from("<Q", m, SEQ_OFFSET)
        if before == after:
            if view is None:
                raise LayoutError(f"corrupt: {problem}")
            return view
    raise LayoutError(f"no consistent read in {TRIES} tries")


def check(paths):
    """One verdict per file, as the Rust reader would give it: ok, or corrupt."""
    for path in paths:
        try:
            m, books_max, orders_max = open_ledger(path)
            decode(m, books_max, orders_max)
            print("ok")
        except (Corrupt, LayoutError):
            print("corrupt")
    return 0


def main():
    if sys.argv[1:2] == ["--check"]:
        return check(sys.argv[2:])
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        m, books_max, orders_max = open_ledger(args[0])
        view = read_consistent(m, books_max, orders_max)
    except FileNotFoundError:
        print(f"{args[0]}: no such file", file=sys.stderr)
        return 1
    except LayoutError as error:
        print(error, file=sys.stderr)
        return 1
    (pid,) = struct.unpack_from("<Q", m, 24)
    (heartbeat_ns,) = struct.unpack_from("<Q", m, 32)
    age = max(0.0, time.time() - heartbeat_ns / 1e9)
    view["path"] = args[0]
    view["writer"] = {"state": writer_state(args[0], m, age), "pid": pid, "heartbeat_age_s": age}
    if "--json" in sys.argv:
        print(json.dumps(view))
        return 0
    print(f"{args[0]}: seq {view['seq']}, writer pid {pid} {view['writer']['state']}, heartbeat {age:.1f} s ago")
    for book in view["books"]:
        # decode() has checked total == pool + committed exactly, in integers.
        print(f"{book['venue']}/{book['currency']}: total {book['total']:,.2f} pool {book['pool']:,.2f} "
              f"committed {book['committed']:,.2f} ({book['utilisation'] or 0.0:.1%}) "
              f"penalty {'ON' if book['penalty']['active'] else 'off'}")
        for s in book["strategies"]:
            print(f"  slot {s['slot']:>2} {s['label'] or '-':<10} frozen {s['frozen']:>14,.2f} used {s['used']:>14,.2f} "
                  f"acc_alpha {s['acc_alpha']:>12,.2f}{'  FORCED-REDUCE' if s['forced_reduce'] else ''}")
    for o in view["orders"]:
        print(f"  order {o['client_order_id']} slot {o['slot']} {o['side']} layer {o['layer']} "
              f"amount {o['amount']:,.2f} frozen {o['frozen']:,.2f} used {o['used']:,.2f} {o['state']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
