"""Seed 000's GlobalVault done the seed's way, measured beside the capvault package in one run.

The seed's way (standard-library Python only): a singleton behind a file lock (`fcntl.flock`)
that reads `shared_pool.json`, changes it and rewrites it on every operation, keeping
`client_order_id -> amount` in the file. The package: `capvault.GlobalVault`, embedded.

Same durability on both sides:
- without fsync: the seed's rewrite (to the page cache) beside `Durability::None` (no journal)
  and `Durability::Write` (journalled, not synced);
- with fsync: the seed's rewrite + `fsync` beside `Durability::FsyncBatch` (one `fdatasync` per
  batch), with 8 concurrent Python callers on each side (8 processes sharing the seed's file; 8
  threads sharing one embedded vault).

Each operation cycle is the executor's: request_allocation (first layer, checked against the
15% rule), on_fill, release. Per-operation latency is timed around each call
(`time.perf_counter_ns`); throughput is operations over wall time.

Run: python benches/seed_way.py [--ops N] [--callers 8] [--json]   (after `pip install ./python`)
"""

from __future__ import annotations

import argparse
import fcntl
import json
import multiprocessing
import os
import statistics
import tempfile
import threading
import time
import uuid

PHYSICAL_POOL = 300_000
MIN_RESERVE_RATIO = 0.15
CAPS = {"159201": 200_000, "512890": 200_000}


class SeedGlobalVault:
    """The seed's GlobalVault: one instance per process, the file lock across processes."""

    _instance = None

    def __new__(cls, shared_dir: str, fsync: bool):
        if cls._instance is None or cls._instance.shared_dir != shared_dir:
            instance = super().__new__(cls)
            instance.shared_dir = shared_dir
            instance.path = os.path.join(shared_dir, "shared_pool.json")
            instance.lock_path = instance.path + ".lock"
            instance.fsync = fsync
            cls._instance = instance
        return cls._instance

    def _update(self, change):
        with open(self.lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                try:
                    with open(self.path, encoding="utf-8") as file:
                        state = json.load(file)
                except FileNotFoundError:
                    state = {}
                for symbol in CAPS:
                    for key in ("used_", "frozen_", "acc_alpha_"):
                        state.setdefault(key + symbol, 0)
                    state.setdefault("allocations_" + symbol, {})
                result = change(state)
                state["updated_at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
                with open(self.path, "w", encoding="utf-8") as file:
                    json.dump(state, file)
                    if self.fsync:
                        file.flush()
                        os.fsync(file.fileno())
                return result
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def request_allocation(self, symbol, amount, layer_index, client_order_id):
        def change(state):
            committed = sum(state["used_" + s] + state["frozen_" + s] for s in CAPS)
            mine = state["used_" + symbol] + state["frozen_" + symbol]
            if mine + amount > CAPS[symbol]:
                return False
            if layer_index == 0 and committed + amount > PHYSICAL_POOL * (1 - MIN_RESERVE_RATIO):
                return False
            state["frozen_" + symbol] += amount
            state["allocations_" + symbol][client_order_id] = amount
            return True

        return self._update(change)

    def on_fill(self, symbol, client_order_id):
        def change(state):
            amount = state["allocations_" + symbol][client_order_id]
            state["frozen_" + symbol] -= amount
            state["used_" + symbol] += amount

        self._update(change)

    def release(self, symbol, client_order_id):
        def change(state):
            amount = state["allocations_" + symbol].pop(client_order_id)
            state["used_" + symbol] -= amount

        self._update(change)


def cycle(vault, symbol, order_id, timings=None):
    """One executor cycle: three operations."""
    calls = (
        lambda: vault.request_allocation(symbol, 1_000, 0, order_id),
        lambda: vault.on_fill(symbol, order_id),
        lambda: vault.release(symbol, order_id),
    )
    for call in calls:
        start = time.perf_counter_ns()
        result = call()
        if timings is not None:
            timings.append(time.perf_counter_ns() - start)
        if result is False:
            raise RuntimeError("a request was refused; the benchmark keeps the pool empty")


def percentile(sorted_values, share):
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * share))]


def latency(make_vault, ops):
    vault = make_vault()
    cycles = ops // 3
    for n in range(min(200, cycles)):  # warm up
        cycle(vault, "159201", uuid.uuid4().hex)
    timings = []
    for n in range(cycles):
        cycle(vault, "159201" if n % 2 else "512890", uuid.uuid4().hex, timings)
    close = getattr(vault, "close", None)
    if close is not None:
        close()
    timings.sort()
    return {"p50_ns": percentile(timings, 0.50), "p99_ns": percentile(timings, 0.99), "mean_ns": int(statistics.fmean(timings)), "ops": len(timings)}


def seed_caller(shared_dir, cycles, fsync, start):
    vault = SeedGlobalVault(shared_dir, fsync)
    start.wait()
    for n in range(cycles):
        cycle(vault, "159201" if n % 2 else "512890", uuid.uuid4().hex)


def seed_throughput(callers, ops, fsync):
    with tempfile.TemporaryDirectory(prefix="seed-way-", dir=os.environ.get("SEED_WAY_DIR")) as shared_dir:
        cycles = max(1, ops // 3 // callers)
        start = multiprocessing.Event()
        processes = [multiprocessing.Process(target=seed_caller, args=(shared_dir, cycles, fsync, start)) for _ in range(callers)]
        for process in processes:
            process.start()
        time.sleep(0.5)
        began = time.perf_counter()
        start.set()
        for process in processes:
            process.join()
        elapsed = time.perf_counter() - began
        assert all(process.exitcode == 0 for process in processes)
        return callers * cycles * 3 / elapsed


def threads_elapsed(works):
    """Runs each of `works` on its own thread, all started together behind a barrier; returns the
    seconds until the last finished, or raises the first error one of them raised."""
    barrier = threading.Barrier(len(works) + 1)
    errors = []

    def run(work):
        barrier.wait()
        try:
            work()
        except Exception as error:  # noqa: BLE001 (raised below)
            errors.append(error)

    threads = [threading.Thread(target=run, args=(work,)) for work in works]
    for thread in threads:
        thread.start()
    barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise errors[0]
    return elapsed


def package_throughput(callers, ops, data_dir, wait):
    import capvault

    vault = capvault.GlobalVault(data_dir=data_dir, wait=wait)
    cycles = max(1, ops // 3 // callers)

    def caller():
        for n in range(cycles):
            cycle(vault, "159201" if n % 2 else "512890", uuid.uuid4().hex)

    try:
        elapsed = threads_elapsed([caller] * callers)
    finally:
        vault.close()
    return callers * cycles * 3 / elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=30_000, help="operations per latency row (default 30,000)")
    parser.add_argument("--fsync-ops", type=int, default=6_000, help="operations per fsync row (default 6,000)")
    parser.add_argument("--callers", type=int, default=8)
    args = parser.parse_args()

    import capvault

    scratch = tempfile.mkdtemp(prefix="seed-way-", dir=os.environ.get("SEED_WAY_DIR"))
    rows = {}
    rows["seed_no_fsync"] = latency(lambda: SeedGlobalVault(tempfile.mkdtemp(dir=scratch), fsync=False), args.ops)
    rows["capvault_none"] = latency(lambda: capvault.GlobalVault(), args.ops)
    rows["capvault_write"] = latency(
        lambda: capvault.GlobalVault(data_dir=tempfile.mkdtemp(dir=scratch), durability="write"), args.ops
    )
    rows["seed_fsync"] = latency(lambda: SeedGlobalVault(tempfile.mkdtemp(dir=scratch), fsync=True), args.fsync_ops)
    rows["capvault_fsync_batch"] = latency(lambda: capvault.GlobalVault(data_dir=tempfile.mkdtemp(dir=scratch)), args.fsync_ops)
    throughput = {
        "seed_fsync_ops_per_s": seed_throughput(args.callers, args.fsync_ops, fsync=True),
        "capvault_fsync_batch_ops_per_s": package_throughput(args.callers, args.fsync_ops * 4, tempfile.mkdtemp(dir=scratch), None),
        "capvault_fsync_batch_blocking_ops_per_s": package_throughput(
            args.callers, args.fsync_ops * 4, tempfile.mkdtemp(dir=scratch), "blocking"
        ),
    }

    print(f"{'way':<24}{'p50':>12}{'p99':>12}{'mean':>12}{'ops':>9}")
    for name, row in rows.items():
        print(f"{name:<24}{row['p50_ns'] / 1000:>10.1f}us{row['p99_ns'] / 1000:>10.1f}us{row['mean_ns'] / 1000:>10.1f}us{row['ops']:>9}")
    ratios = {
        "p50_seed_over_none": rows["seed_no_fsync"]["p50_ns"] / rows["capvault_none"]["p50_ns"],
        "p50_seed_over_write": rows["seed_no_fsync"]["p50_ns"] / rows["capvault_write"]["p50_ns"],
        "p50_seed_fsync_over_fsync_batch": rows["seed_fsync"]["p50_ns"] / rows["capvault_fsync_batch"]["p50_ns"],
        "throughput_fsync_batch_over_seed": throughput["capvault_fsync_batch_ops_per_s"] / throughput["seed_fsync_ops_per_s"],
        "throughput_fsync_batch_blocking_over_seed": throughput["capvault_fsync_batch_blocking_ops_per_s"]
        / throughput["seed_fsync_ops_per_s"],
    }
    print(f"{args.callers} callers with fsync: seed {throughput['seed_fsync_ops_per_s']:,.0f} ops/s, "
          f"capvault FsyncBatch {throughput['capvault_fsync_batch_ops_per_s']:,.0f} ops/s (spin-park), "
          f"{throughput['capvault_fsync_batch_blocking_ops_per_s']:,.0f} ops/s (blocking)")
    print("ratios: " + ", ".join(f"{key} {value:.1f}x" for key, value in ratios.items()))
    print(json.dumps({"rows": rows, "throughput": throughput, "ratios": ratios, "callers": args.callers}))


if __name__ == "__main__":
    main()
