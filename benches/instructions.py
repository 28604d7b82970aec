#!/usr/bin/env python3
"""Instructions per command, counted by callgrind: a guard that does not drift.

Runs `examples/instructions.rs` (seed 000's book, both mirrors on, latency recording off, one
synchronous caller, blocking waits) under `valgrind --tool=callgrind --separate-threads=yes` with
0 and 16,000 live orders, each at two cycle counts; instructions per command are the difference
between the two runs divided by the commands between them (setup, the resting orders and
shutdown cancel out).

Guarded (repeats to a fraction of a percent): `owner_process`, the owner's work on each command
(`Owner::process`: the ledger's apply with its checks and assertions, the order table, the
answer queued). Reported, not guarded, because they move by 10-20% between runs with thread
timing: the owner's whole batch (`owner`: also the stages, the answer sent and the snapshot
published, where which thread drops the last reference to an old snapshot depends on the mirror
thread), its idle wait (`owner_idle`: crossbeam's receive spins before it blocks), and the
caller's `Handle::submit` (`caller`).

    python3 benches/instructions.py                 # print the figures beside the baseline
    python3 benches/instructions.py --check         # exit 1 if one grew more than 5%
    python3 benches/instructions.py --write         # replace the baseline (say why in the commit)

The baseline is `benches/instructions.json`. Counts repeat for the same binary and inputs;
they move with the compiler, so a toolchain change is a reason to rewrite the baseline.
"""

from __future__ import annotations

import glob
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "benches" / "instructions.json"
BINARY = ROOT / "target" / "release" / "examples" / "instructions"
MIX = 5  # reserve, fill, cancel, release_order, allocate
CYCLES = (200, 1200)
RESTING = (0, 16_000)
TOLERANCE = 0.05


def inclusive(path: str, function: str) -> int:
    """The inclusive instruction count of `function` (its own entry, with its object) in one
    thread's callgrind file; 0 if the thread never ran it."""
    text = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", "--threshold=100", path],
        check=True, capture_output=True, text=True,
    ).stdout
    found = re.search(rf"^\s*([\d,]+) .*:{re.escape(function)} \[", text, re.M)
    return int(found.group(1).replace(",", "")) if found else 0


def run(resting: int, cycles: int) -> dict[str, int]:
    """Instructions in one run: the owner's batches (`Owner::run` less its idle wait, where it
    also folds its latency histograms), the owner's idle wait, and the caller's `submit`s. Whole
    threads are not counted: startup and shutdown waits, and the mirror and collector threads,
    depend on timing."""
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(
            [
                "valgrind", "--tool=callgrind", "--separate-threads=yes",
                f"--callgrind-out-file={out}/cg.out", str(BINARY), str(resting), str(cycles),
            ],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        roles = {"owner_process": 0, "owner": 0, "owner_idle": 0, "caller": 0}
        for path in glob.glob(f"{out}/cg.out-*"):
            served = inclusive(path, "capvault::runtime::owner::Owner::run")
            if served:
                idle = inclusive(path, "capvault::runtime::wait::recv_idle")
                roles["owner_process"] += inclusive(path, "capvault::runtime::owner::Owner::process")
                roles["owner"] += served - idle
                roles["owner_idle"] += idle
            roles["caller"] += inclusive(path, "capvault::runtime::handle::Handle::submit")
        return roles


def measure() -> dict[str, float]:
    figures = {}
    for resting in RESTING:
        low, high = (run(resting, cycles) for cycles in CYCLES)
        commands = (CYCLES[1] - CYCLES[0]) * MIX
        for role in ("owner_process", "owner", "caller", "owner_idle"):
            figures[f"{role}_per_command_{resting}"] = round((high[role] - low[role]) / commands, 1)
    figures["owner_process_16k_over_0"] = round(
        figures["owner_process_per_command_16000"] / figures["owner_process_per_command_0"], 3
    )
    return figures


def main() -> None:
    subprocess.run(["cargo", "build", "--release", "--example", "instructions"], cwd=ROOT, check=True)
    figures = measure()
    baseline = json.loads(BASELINE.read_text()) if BASELINE.exists() else {}
    worse = []
    print(f"{'figure':<28} {'now':>10} {'baseline':>10} {'ratio':>7}")
    for key, value in figures.items():
        base = baseline.get(key)
        ratio = value / base if base else float("nan")
        print(f"{key:<28} {value:>10} {base if base is not None else '-':>10} {ratio:>7.3f}")
        guarded = key.startswith("owner_process_per")
        if base and guarded and ratio > 1 + TOLERANCE:
            worse.append(f"{key}: {value} against {base} ({ratio:.3f}x)")
    print(json.dumps(figures))
    if "--write" in sys.argv:
        kept = {key: value for key, value in figures.items() if key.startswith("owner_process")}
        BASELINE.write_text(json.dumps(kept, indent=2) + "\n")
        print(f"wrote {BASELINE.relative_to(ROOT)}")
    elif "--check" in sys.argv and worse:
        sys.exit("instructions per command grew more than 5% (update benches/instructions.json in the same "
                 "commit, saying why, if it is meant):\n  " + "\n  ".join(worse))


if __name__ == "__main__":
    main()
