"""Group commit through the Python package: 1 and 8 Python threads sharing one embedded vault
under `fsync_batch`, each reserving and cancelling in a loop, against what one `fdatasync` of a
batch of N commands' journal bytes allows (N / its time), measured in the same run and folder.
The Rust rows are the latency report's (`cargo run --release --example latency -- --group-commit`).

Prints a table and one JSON line of `group_commit_python_*` keys.

Run: python benches/group_commit.py [--seconds S]   (after `pip install ./python`)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time

import capvault

CONFIG = {
    "limits": {"orders_max": 65536, "resolved_max": 1024},
    "books": [
        {
            "venue": "SSE",
            "currency": "CNY",
            "slot_count": 4,
            "balance": 1_000_000_000,
            "strategies": [{"slot": 2, "label": "159201"}, {"slot": 3, "label": "512890"}],
        }
    ],
}


def dir_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            total += os.path.getsize(os.path.join(root, name))
    return total


def run(threads, seconds):
    """Commands per second, commands per batch and journal bytes per command, and the
    reservations' p50 in µs."""
    data_dir = tempfile.mkdtemp(prefix="capvault-group-")
    with capvault.Vault(CONFIG, data_dir=data_dir, durability="fsync_batch") as vault:
        before = (dir_bytes(data_dir), vault.snapshot().stats)
        stop = threading.Event()
        timings = [[] for _ in range(threads)]
        barrier = threading.Barrier(threads + 1)

        def caller(index):
            barrier.wait()
            n = 0
            while not stop.is_set():
                n += 1
                order = str(((index + 1) << 40) + n)
                started = time.perf_counter_ns()
                vault.reserve(order, 0, 2, 100, layer=1)
                timings[index].append(time.perf_counter_ns() - started)
                vault.cancel(order)

        workers = [threading.Thread(target=caller, args=(i,)) for i in range(threads)]
        for worker in workers:
            worker.start()
        barrier.wait()
        began = time.perf_counter()
        time.sleep(seconds)
        stop.set()
        for worker in workers:
            worker.join()
        elapsed = time.perf_counter() - began
        after = (dir_bytes(data_dir), vault.snapshot().stats)
    commands = after[1]["accepted"] - before[1]["accepted"]
    batches = max(1, after[1]["batches"] - before[1]["batches"])
    every = sorted(t for mine in timings for t in mine)
    return {
        "rate": commands / elapsed,
        "per_batch": commands / batches,
        "bytes_per_command": (after[0] - before[0]) / max(1, commands),
        "p50_us": every[len(every) // 2] / 1e3 if every else 0.0,
    }


def fsync_of(size, rounds=300):
    """The median time of appending `size` bytes to a file and `fdatasync`ing it."""
    folder = tempfile.mkdtemp(prefix="capvault-group-probe-")
    path = os.path.join(folder, "probe")
    buffer = b"\x5a" * max(1, size)
    times = []
    with open(path, "ab") as file:
        for _ in range(rounds):
            started = time.perf_counter_ns()
            file.write(buffer)
            file.flush()
            os.fdatasync(file.fileno())
            times.append(time.perf_counter_ns() - started)
    os.remove(path)
    os.rmdir(folder)
    return statistics.median(times) / 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per row (default 2)")
    args = parser.parse_args()
    keys = {}
    print(f"{'group commit, Python threads':<30} {'cmds/s':>10} {'ideal/s':>10} {'ratio':>6} {'cmds/batch':>10} {'p50 µs':>8}")
    for threads in (1, 8):
        row = run(threads, args.seconds)
        fsync = fsync_of(int(row["bytes_per_command"] * threads) + 1)
        ideal = threads / fsync
        ratio = row["rate"] / ideal
        print(f"{threads} thread(s){'':<20} {row['rate']:>10.0f} {ideal:>10.0f} {ratio:>6.2f} {row['per_batch']:>10.1f} {row['p50_us']:>8.0f}")
        prefix = f"group_commit_python_{threads}"
        keys.update(
            {
                f"{prefix}_cmds_per_s": round(row["rate"]),
                f"{prefix}_ideal_cmds_per_s": round(ideal),
                f"{prefix}_ratio": round(ratio, 2),
                f"{prefix}_cmds_per_batch": round(row["per_batch"], 1),
                f"{prefix}_p50_us": round(row["p50_us"]),
            }
        )
    print(json.dumps(keys))


if __name__ == "__main__":
    main()
