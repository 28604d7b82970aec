#!/usr/bin/env python3
"""The pure-Python client's round trip against a raw nats-py request/reply echo, in one run.

Starts nats-server on loopback, `capvault serve` with a NATS front (no journal, as the Rust
remote rows) and a raw nats-py echo responder in a process of its own, then times, in
interleaved blocks: a `capvault_remote` command (an allocation or its release), a raw
`nats-py` request to the echo from asyncio, and the same raw request made synchronously
through a loop thread, as `capvault_remote` makes it (which separates the client's thread
hand-off from the vault's own cost). Prints one JSON line of `remote_py_*` keys.

Run from an environment with capvault_remote installed:
    python benches/remote_python.py [--samples 2000]
(`NATS_SERVER` and `CAPVAULT_BIN` name the binaries; default: PATH, then target/release.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nats

import capvault_remote

ROOT = Path(__file__).resolve().parents[1]
BODY = b'{"v":1,"request":1790000000000000,"command":{"op":"allocate","book":0,"slot":3,"amount":1}}'
ANSWER = b'{"v":1,"seq":123456,"outcome":{"outcome":"allocated","balance":1}}'

ECHO = """
import asyncio, sys, nats
async def main():
    nc = await nats.connect(sys.argv[1])
    async def answer(msg):
        await msg.respond(%r)
    await nc.subscribe("bench.echo", cb=answer)
    await nc.flush()
    print("ready", flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
""" % ANSWER


def binary(variable: str, name: str) -> str:
    found = os.environ.get(variable) or shutil.which(name) or str(ROOT / "target" / "release" / name)
    if not Path(found).exists():
        sys.exit(f"{name} not found: set {variable}")
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_port(port: int) -> None:
    for _ in range(200):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    sys.exit("nats-server did not open its port")


def percentile(samples: list, q: float) -> int:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000, help="per kind, in 4 interleaved blocks")
    args = parser.parse_args()
    port = free_port()
    url = f"nats://127.0.0.1:{port}"
    children = [subprocess.Popen([binary("NATS_SERVER", "nats-server"), "-a", "127.0.0.1", "-p", str(port)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        wait_port(port)
        folder = Path(tempfile.mkdtemp(prefix="capvault-remote-bench-"))
        config = folder / "serve.json"
        config.write_text(json.dumps({
            "name": "bench",
            "ledger": {"books": [{"venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000,
                                  "strategies": [{"slot": 3, "label": "512890", "cap": 200000}]}]},
            "durability": "none", "gateway": False,
            "nats": {"servers": [url], "kv": False, "clients": {},
                     "others": {"kinds": ["allocate", "release"]}},
        }))
        serve = subprocess.Popen([binary("CAPVAULT_BIN", "capvault"), "serve", str(config)],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        children.append(serve)
        assert serve.stdout.readline().startswith("ready bench")
        echo = subprocess.Popen([sys.executable, "-c", ECHO, url], stdout=subprocess.PIPE, text=True)
        children.append(echo)
        assert echo.stdout.readline().startswith("ready")
        print(json.dumps(measure(url, args.samples)))
    finally:
        for child in reversed(children):
            child.kill()
            child.wait()


def measure(url: str, samples: int) -> dict:
    core = capvault_remote._capvault.Core(f"{url}/bench", "bench")
    raw_loop = asyncio.new_event_loop()
    raw = raw_loop.run_until_complete(nats.connect(url))
    threaded_loop = core._loop

    async def raw_once():
        await raw.request("bench.echo", BODY, timeout=2)

    times = {"remote": [], "raw": [], "raw_threaded": []}
    threaded_nc = threaded_loop.run(nats.connect(url), 5)
    block = max(samples // 4, 50)
    n = 0
    for round_ in range(4):
        order = ["remote", "raw", "raw_threaded"] if round_ % 2 == 0 else ["raw_threaded", "raw", "remote"]
        for kind in order:
            for _ in range(block):
                start = time.perf_counter_ns()
                if kind == "remote":
                    op = "allocate" if n % 2 == 0 else "release"
                    core.submit({"op": op, "book": 0, "slot": 3, "amount": "1"})
                    n += 1
                elif kind == "raw":
                    raw_loop.run_until_complete(raw_once())
                else:
                    threaded_loop.run(threaded_nc.request("bench.echo", BODY, timeout=2), 3)
                times[kind].append(time.perf_counter_ns() - start)
    raw_loop.run_until_complete(raw.close())
    threaded_loop.run(threaded_nc.close(), 5)
    core.close()
    p50 = {kind: percentile(values, 0.5) for kind, values in times.items()}
    return {
        "remote_py_p50_ns": p50["remote"],
        "remote_py_p99_ns": percentile(times["remote"], 0.99),
        "remote_py_echo_p50_ns": p50["raw"],
        "remote_py_echo_p99_ns": percentile(times["raw"], 0.99),
        "remote_py_echo_threaded_p50_ns": p50["raw_threaded"],
        "remote_py_vs_echo_p50": round(p50["remote"] / max(p50["raw"], 1), 3),
        "remote_py_vs_threaded_echo_p50": round(p50["remote"] / max(p50["raw_threaded"], 1), 3),
        "samples_per_kind": block * 4,
    }


if __name__ == "__main__":
    main()
