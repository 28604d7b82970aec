"""What users would pick instead of capvault, side by side in one run: the same reservation and
its cancel done by each.

The operation: reserve `amount` for a new order id in a strategy's slot, refused if the pool
cannot cover it (the pool goes down, the strategy's frozen goes up, the order is recorded), then
cancel it (everything back). Each side does that atomically its own way:
- the seed's way: the seed 000 `GlobalVault` singleton behind `fcntl.flock`, rewriting
  `shared_pool.json` on every operation (`benches/seed_way.py`), its request/fill/release cycle;
- Redis (Debian's `redis-server`, memory only: `save ""`, `appendonly no`; and `appendfsync
  always`, one fsync per write): each operation one Lua script run by `EVALSHA`;
- SQLite in WAL mode: each operation one `BEGIN IMMEDIATE` transaction (`synchronous=NORMAL`:
  no sync per commit; `synchronous=FULL`: one per commit);
- capvault's Python package: embedded in the calling process (no journal; `fsync_batch`), and
  from other processes through the local gateway (`Vault(serve=...)`, `capvault.connect`).

One client (latency of each operation, `time.perf_counter_ns`) and 8 client processes (or 8
threads for the embedded package; throughput). Prints a table and, with `--json`, one JSON line.

Run: python benches/alternatives.py [--ops N] [--json]
(after `pip install ./python redis`; `redis-server` on PATH)
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import seed_way  # noqa: E402  (the seed's way, measured as benches/seed_way.py does)

POOL = 10**9
AMOUNT = 100
CLIENTS = 8

RESERVE_LUA = """
local pool = tonumber(redis.call('GET', KEYS[1]))
local amount = tonumber(ARGV[2])
if pool < amount then return 0 end
if redis.call('HSETNX', KEYS[3], ARGV[1], amount) == 0 then return -1 end
redis.call('DECRBY', KEYS[1], amount)
redis.call('HINCRBY', KEYS[2], ARGV[3], amount)
return 1
"""
CANCEL_LUA = """
local amount = tonumber(redis.call('HGET', KEYS[3], ARGV[1]))
if not amount then return 0 end
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('INCRBY', KEYS[1], amount)
redis.call('HINCRBY', KEYS[2], ARGV[2], -amount)
return 1
"""
KEYS = ("pool", "frozen", "orders")


def percentile(values, share):
    return values[min(len(values) - 1, int(len(values) * share))]


WARM_UP = 200


def warm(pairs, reserve, cancel):
    """`WARM_UP` untimed pairs, numbered after the `pairs` to be timed: a fresh store's or
    connection's first operations touch its memory and files for the first time."""
    for n in range(pairs, pairs + WARM_UP):
        reserve(n)
        cancel(n)


def timed(pairs, reserve, cancel):
    """Runs `pairs` reserve/cancel pairs; returns every operation's time in ns."""
    timings = []
    for n in range(pairs):
        for call, argument in ((reserve, n), (cancel, n)):
            start = time.perf_counter_ns()
            call(argument)
            timings.append(time.perf_counter_ns() - start)
    return timings


# ----- Redis -----


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Redis:
    """A redis-server this run starts on a free port and stops."""

    def __init__(self, fsync: bool):
        self.dir = tempfile.mkdtemp(prefix="capvault-redis-")
        self.port = free_port()
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if fsync else ["--appendonly", "no"]
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--dir", self.dir, *persistence],
            stdout=subprocess.DEVNULL,
        )
        import redis

        deadline = time.monotonic() + 10
        while True:
            try:
                client = redis.Redis(port=self.port)
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.set("pool", POOL)
        self.reserve_sha = client.script_load(RESERVE_LUA)
        self.cancel_sha = client.script_load(CANCEL_LUA)

    def close(self):
        self.process.terminate()
        self.process.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


def redis_ops(port, reserve_sha, cancel_sha, prefix):
    import redis

    client = redis.Redis(port=port)

    def reserve(n):
        if client.evalsha(reserve_sha, 3, *KEYS, f"{prefix}-{n}", AMOUNT, "159201") != 1:
            raise RuntimeError("redis refused a reservation")

    def cancel(n):
        client.evalsha(cancel_sha, 3, *KEYS, f"{prefix}-{n}", "159201")

    return reserve, cancel


def redis_worker(port, reserve_sha, cancel_sha, prefix, pairs, start):
    reserve, cancel = redis_ops(port, reserve_sha, cancel_sha, prefix)
    warm(pairs, reserve, cancel)
    start.wait()
    timed(pairs, reserve, cancel)


# ----- SQLite -----


def sqlite_open(path, synchronous):
    db = sqlite3.connect(path, timeout=60, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    return db


def sqlite_create(path):
    db = sqlite_open(path, "NORMAL")
    db.execute("CREATE TABLE book (id INTEGER PRIMARY KEY, pool INTEGER NOT NULL)")
    db.execute("CREATE TABLE strategy (label TEXT PRIMARY KEY, frozen INTEGER NOT NULL)")
    db.execute("CREATE TABLE orders (id TEXT PRIMARY KEY, label TEXT NOT NULL, amount INTEGER NOT NULL)")
    db.execute("INSERT INTO book VALUES (0, ?)", (POOL,))
    db.execute("INSERT INTO strategy VALUES ('159201', 0)")
    db.close()


def sqlite_ops(path, synchronous, prefix):
    db = sqlite_open(path, synchronous)

    def reserve(n):
        db.execute("BEGIN IMMEDIATE")
        (pool,) = db.execute("SELECT pool FROM book WHERE id = 0").fetchone()
        if pool < AMOUNT:
            db.execute("ROLLBACK")
            raise RuntimeError("sqlite refused a reservation")
        db.execute("INSERT INTO orders VALUES (?, '159201', ?)", (f"{prefix}-{n}", AMOUNT))
        db.execute("UPDATE book SET pool = pool - ? WHERE id = 0", (AMOUNT,))
        db.execute("UPDATE strategy SET frozen = frozen + ? WHERE label = '159201'", (AMOUNT,))
        db.execute("COMMIT")

    def cancel(n):
        db.execute("BEGIN IMMEDIATE")
        row = db.execute("SELECT amount FROM orders WHERE id = ?", (f"{prefix}-{n}",)).fetchone()
        if row is not None:
            db.execute("DELETE FROM orders WHERE id = ?", (f"{prefix}-{n}",))
            db.execute("UPDATE book SET pool = pool + ? WHERE id = 0", (row[0],))
            db.execute("UPDATE strategy SET frozen = frozen - ? WHERE label = '159201'", (row[0],))
        db.execute("COMMIT")

    return reserve, cancel


def sqlite_worker(path, synchronous, prefix, pairs, start):
    reserve, cancel = sqlite_ops(path, synchronous, prefix)
    warm(pairs, reserve, cancel)
    start.wait()
    timed(pairs, reserve, cancel)


# ----- capvault -----


def capvault_config():
    return {
        "limits": {"orders_max": 65536, "resolved_max": 1024},
        "books": [
            {
                "venue": "SSE",
                "currency": "CNY",
                "slot_count": 4,
                "balance": POOL,
                "strategies": [{"slot": 2, "label": "159201"}, {"slot": 3, "label": "512890"}],
            }
        ],
    }


def order_id(prefix, n):
    # Snowflake-shaped decimal ids, unique per client.
    return str((prefix << 40) + n + 1)


def capvault_ops(commands, prefix):
    def reserve(n):
        commands.reserve(order_id(prefix, n), 0, 2, AMOUNT, layer=1)

    def cancel(n):
        commands.cancel(order_id(prefix, n))

    return reserve, cancel


def gateway_worker(service, prefix, pairs, start):
    import capvault

    connection = capvault.connect(service, f"bench-{prefix}")
    reserve, cancel = capvault_ops(connection, prefix)
    warm(pairs, reserve, cancel)
    start.wait()
    timed(pairs, reserve, cancel)
    connection.close()


# ----- driving -----


def processes_rate(target, argument_sets, pairs):
    """Operations per second of one process per argument set, started together."""
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    processes = [context.Process(target=target, args=(*arguments, pairs, start)) for arguments in argument_sets]
    for process in processes:
        process.start()
    time.sleep(1.0)  # every process connected and waiting
    began = time.perf_counter()
    start.set()
    for process in processes:
        process.join()
    elapsed = time.perf_counter() - began
    if any(process.exitcode != 0 for process in processes):
        raise RuntimeError(f"a {target.__name__} process failed")
    return 2 * pairs * len(processes) / elapsed


def threads_rate(make_ops, threads, pairs):
    def caller(prefix):
        reserve, cancel = make_ops(prefix)
        warm(pairs, reserve, cancel)
        return lambda: timed(pairs, reserve, cancel)

    elapsed = seed_way.threads_elapsed([caller(prefix + 1) for prefix in range(threads)])
    return 2 * pairs * threads / elapsed


def row(name, timings, rate, clients):
    timings = sorted(timings)
    return {
        "name": name,
        "p50_ns": percentile(timings, 0.5),
        "p99_ns": percentile(timings, 0.99),
        "one_client_ops_per_s": round(1e9 * len(timings) / sum(timings)),
        f"{CLIENTS}_clients_ops_per_s": round(rate),
        "clients": clients,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=20_000, help="operations per one-client row (default 20,000)")
    parser.add_argument("--fsync-ops", type=int, default=2_000, help="operations per row that syncs (default 2,000)")
    parser.add_argument("--json", action="store_true", help="print one JSON line at the end")
    args = parser.parse_args()
    import capvault

    rows = []
    scratch = tempfile.mkdtemp(prefix="capvault-alternatives-")
    try:
        for fsync in (False, True):
            ops = args.fsync_ops if fsync else args.ops
            pairs = ops // 2
            per_client = max(1, pairs // CLIENTS)
            sync = "fsync" if fsync else "no fsync"

            # The seed's way: its own cycle of three operations.
            seed_dir = tempfile.mkdtemp(dir=scratch)
            seed = seed_way.latency(lambda: seed_way.SeedGlobalVault(seed_dir, fsync), ops)
            seed_rate = seed_way.seed_throughput(CLIENTS, ops, fsync)
            rows.append(
                {
                    "name": f"seed's way: flock + JSON rewrite ({sync})",
                    "p50_ns": seed["p50_ns"],
                    "p99_ns": seed["p99_ns"],
                    "one_client_ops_per_s": round(1e9 / seed["mean_ns"]),
                    f"{CLIENTS}_clients_ops_per_s": round(seed_rate),
                    "clients": "processes",
                }
            )

            server = Redis(fsync)
            try:
                reserve, cancel = redis_ops(server.port, server.reserve_sha, server.cancel_sha, "one")
                warm(pairs, reserve, cancel)
                timings = timed(pairs, reserve, cancel)
                rate = processes_rate(
                    redis_worker,
                    [(server.port, server.reserve_sha, server.cancel_sha, f"p{c}") for c in range(CLIENTS)],
                    per_client,
                )
                mode = "appendfsync always" if fsync else "memory only"
                rows.append(row(f"Redis Lua EVALSHA ({mode})", timings, rate, "processes"))
            finally:
                server.close()

            synchronous = "FULL" if fsync else "NORMAL"
            path = os.path.join(tempfile.mkdtemp(dir=scratch), "book.db")
            sqlite_create(path)
            reserve, cancel = sqlite_ops(path, synchronous, "one")
            warm(pairs, reserve, cancel)
            timings = timed(pairs, reserve, cancel)
            rate = processes_rate(sqlite_worker, [(path, synchronous, f"p{c}") for c in range(CLIENTS)], per_client)
            rows.append(row(f"SQLite WAL transaction (synchronous={synchronous})", timings, rate, "processes"))

            durability = "fsync_batch" if fsync else "none"
            data_dir = tempfile.mkdtemp(dir=scratch) if fsync else None
            with capvault.Vault(capvault_config(), data_dir=data_dir, durability=durability if fsync else None) as vault:
                reserve, cancel = capvault_ops(vault, 0)
                warm(pairs, reserve, cancel)
                timings = timed(pairs, reserve, cancel)
                rate = threads_rate(lambda prefix: capvault_ops(vault, prefix), CLIENTS, per_client)
            rows.append(row(f"capvault package, embedded ({durability})", timings, rate, "threads"))

            service = f"capvault-alternatives-{os.getpid()}-{int(fsync)}"
            data_dir = tempfile.mkdtemp(dir=scratch) if fsync else None
            with capvault.Vault(capvault_config(), data_dir=data_dir, serve=service, durability=durability if fsync else None):
                connection = capvault.connect(service, "one")
                reserve, cancel = capvault_ops(connection, 100)
                warm(pairs, reserve, cancel)
                timings = timed(pairs, reserve, cancel)
                connection.close()
                rate = processes_rate(gateway_worker, [(service, 200 + c) for c in range(CLIENTS)], per_client)
            rows.append(row(f"capvault package, gateway ({durability})", timings, rate, "processes"))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    print(f"{'one reservation or cancel':<52} {'p50 µs':>9} {'p99 µs':>9} {'1 client/s':>11} {f'{CLIENTS} clients/s':>12}")
    for r in rows:
        print(
            f"{r['name']:<52} {r['p50_ns'] / 1e3:>9.1f} {r['p99_ns'] / 1e3:>9.1f} "
            f"{r['one_client_ops_per_s']:>11,} {r[f'{CLIENTS}_clients_ops_per_s']:>12,}"
        )
    print(f"(the seed's way times its own request/fill/release operations; {CLIENTS} clients are processes, threads for the embedded package)")
    if args.json:
        print(json.dumps({"rows": rows}))


if __name__ == "__main__":
    main()
