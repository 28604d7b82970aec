"""capvault after ``os.fork()``: a forked child's copy of a vault or a connection refuses at
once (``Stopped`` / ``Disconnected``), never hangs and never reads the parent's answers; a
connection's ``reconnect()`` makes it the child's own. ``multiprocessing`` works with the
"spawn" and "fork" start methods when each worker opens its own connection."""

from __future__ import annotations

import multiprocessing
import os
import time
from decimal import Decimal

import pytest

import capvault
from conftest import Server


def run_in_child(body) -> int:
    """Forks, runs ``body()`` in the child (its return value is the exit code), and returns the
    child's exit code; a child that has not ended within 30 s is killed (a hang fails)."""
    pid = os.fork()
    if pid == 0:
        code = 99
        try:
            code = body()
        finally:
            os._exit(code)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail("the forked child hung")


def test_a_forked_childs_connection_refuses_until_it_reconnects(config):
    served = Server(config)
    try:
        client = capvault.connect(served.name, "forks")
        client.allocate(0, 2, 1)

        def child():
            try:
                client.allocate(0, 2, 1000)
                return 1  # the parent's place answered the child
            except capvault.Disconnected:
                pass
            try:
                client.snapshot()
                return 2
            except capvault.Disconnected:
                pass
            client.reconnect()
            outcome = client.allocate(0, 3, 7)
            return 0 if outcome.kind == "allocated" else 3

        assert run_in_child(child) == 0
        # The parent's connection was never touched by the child: its answers are its own.
        for _ in range(50):
            assert client.allocate(0, 2, 1).kind == "allocated"
        snapshot = client.snapshot()
        assert snapshot.balance(0, 2) == Decimal(51)
        assert snapshot.balance(0, 3) == Decimal(7)
        client.close()
    finally:
        served.stop()


def test_a_forked_child_cannot_use_or_stop_the_parents_embedded_vault(config):
    vault = capvault.Vault(config)
    vault.allocate(0, 2, 5)

    def child():
        for call in (lambda: vault.allocate(0, 2, 1), vault.snapshot):
            try:
                call()
                return 1
            except capvault.Stopped:
                pass
        vault.close()  # forgets the copy; the parent's vault goes on
        return 0

    assert run_in_child(child) == 0
    assert vault.allocate(0, 2, 1).kind == "allocated"
    assert vault.snapshot().balance(0, 2) == Decimal(6)
    vault.close()


def worker(service: str, n: int) -> None:
    # Each worker opens its own connection: the documented way under any start method.
    with capvault.connect(service, f"worker-{os.getpid()}") as client:
        for _ in range(n):
            client.allocate(0, 2, 1)


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_multiprocessing_workers_each_connect(config, method):
    served = Server(config)
    try:
        context = multiprocessing.get_context(method)
        processes = [context.Process(target=worker, args=(served.name, 25)) for _ in range(3)]
        for process in processes:
            process.start()
        for process in processes:
            process.join(60)
            assert process.exitcode == 0
        with capvault.connect(served.name, "check") as client:
            # A read waits for this object's own last answer (the mirror may lag the vault).
            assert client.allocate(0, 2, 1).kind == "allocated"
            assert client.snapshot().balance(0, 2) == Decimal(76)
    finally:
        served.stop()
