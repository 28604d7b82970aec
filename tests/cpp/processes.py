"""A C++ process, a Python process and a Rust process (`capvault submit`) command one served
vault at once; the final state is exact. Then a C++ client killed mid-stream: the vault and the
other clients go on, and its place is freed. Run by `.ci/cpp.sh` with the package installed and
`target/cpp-worker` built."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from decimal import Decimal
from pathlib import Path

import capvault

ROOT = Path(__file__).resolve().parents[2]
WORKER = ROOT / "target" / "cpp-worker"
CLI = ROOT / "target" / "release" / "capvault"
CONFIG = {
    "books": [
        {
            "venue": "SSE",
            "currency": "CNY",
            "slot_count": 5,
            "balance": 300000,
            "strategies": [{"slot": 2, "label": "cpp"}, {"slot": 3, "label": "python"}, {"slot": 4, "label": "rust"}],
        }
    ]
}
PYTHON_WORKER = textwrap.dedent(
    """
    import sys, capvault
    service, rounds = sys.argv[1], int(sys.argv[2])
    vault = capvault.connect(service, "python-worker")
    refused = 0
    for n in range(rounds):
        vault.allocate(0, 3, "1.01")
        if n % 3 == 0:
            vault.release(0, 3, "0.5")
        try:
            vault.release(0, 3, 1_000_000)
        except capvault.Rejected as error:
            assert error.code == "exceeds_allocation", error.code
            refused += 1
        order = capvault.order_id_from_text(f"python-worker-{n}")
        vault.reserve(order, 0, 3, 2, layer=1)
        vault.fill(order, 1)
        vault.cancel(order)
        vault.release_order(order)
    print(refused)
    """
)


def expected(rounds: int) -> Decimal:
    return Decimal("1.01") * rounds - Decimal("0.5") * len(range(0, rounds, 3))


def three_languages(service: str, vault: capvault.Vault) -> None:
    rounds, rust_rounds = 1500, 60
    cpp = subprocess.Popen([str(WORKER), service, "cpp-worker", "2", str(rounds)], stdout=subprocess.PIPE, text=True)
    python = subprocess.Popen([sys.executable, "-c", PYTHON_WORKER, service, str(rounds)], stdout=subprocess.PIPE, text=True)
    for _ in range(rust_rounds):
        command = '{"op":"allocate","book":0,"slot":4,"amount":"1.01"}'
        subprocess.run([str(CLI), "submit", service, command, "--client", "rust-cli"], check=True, capture_output=True)
    outputs = [cpp.communicate(timeout=300)[0], python.communicate(timeout=300)[0]]
    assert [cpp.returncode, python.returncode] == [0, 0], outputs
    cpp_refused, cpp_balance = outputs[0].split()
    assert [int(cpp_refused), int(outputs[1])] == [rounds, rounds], outputs
    # The C++ client reads its own writes back through the mirror, exactly.
    assert Decimal(cpp_balance) == expected(rounds), outputs
    # The serving process's own snapshot: current (another process's mirror may lag by its gap).
    snapshot = vault.snapshot()
    slots = [snapshot.balance(0, slot) for slot in range(5)]
    rust = Decimal("1.01") * rust_rounds
    assert slots[2] == slots[3] == expected(rounds), slots
    assert slots[4] == rust, slots
    assert slots[0] == 300000 and slots[1] == 300000 - 2 * expected(rounds) - rust, slots
    print(f"three languages, one vault: slots {slots[1:]}, exact")


def killed_client(service: str) -> None:
    cpp = subprocess.Popen([str(WORKER), service, "doomed", "2", "0"], stdout=subprocess.PIPE, text=True)
    assert cpp.stdout.readline().strip() == "ready"
    time.sleep(0.05)
    os.kill(cpp.pid, signal.SIGKILL)
    cpp.wait()
    # The others go on; the killed client's place is freed; the identity holds.
    other = capvault.connect(service, "after-kill")
    other.allocate(0, 3, 1)
    deadline = time.monotonic() + 10
    while any(client["name"] == "doomed" for client in clients(service)):
        assert time.monotonic() < deadline, "the killed client's place was never freed"
        time.sleep(0.02)
    book = other.snapshot().books[0]
    assert book["total"] == book["pool"] + sum(s["committed"] for s in book["strategies"]), book
    print("a C++ client killed mid-stream: the vault and the others went on, its place freed")


def clients(service: str) -> list:
    import json

    done = subprocess.run([str(CLI), "clients", service, "--json"], check=True, capture_output=True, text=True)
    return [json.loads(line) for line in done.stdout.splitlines()]


def main() -> None:
    service = f"capvault-cpp-{os.getpid()}"
    vault = capvault.Vault(CONFIG, serve=service)
    try:
        three_languages(service, vault)
        killed_client(service)
    finally:
        vault.close()


if __name__ == "__main__":
    main()
