"""Seed 000's two machines for real: the vault and nats-server on this host, a strategy node on a
second host (a network namespace with its own address, joined by a veth pair). The node reaches
the vault through NATS only: it has no route to this host's loopback, and it is a separate
process reading no file and no shared memory of the vault's."""

from __future__ import annotations

import json
import sys
import textwrap

from conftest import Nats, Served, binary

NODE = textwrap.dedent('''
    import json, sys
    import capvault_remote as capvault
    vault = capvault.GlobalVault(connect=sys.argv[1], client="grid-159201")
    try:
        view = vault.pool_view("159201")
        taken = vault.request_allocation("159201", 12000, 0, "1790000000000000101")
        refused = vault.request_allocation("512890", 1, 0, "1790000000000000102")
        vault.on_fill_report("159201", "1790000000000000101", 5000)
        print(json.dumps({"first_layer_limit": float(view.first_layer_limit), "taken": bool(taken),
                          "refused_code": refused.code, "frozen": float(vault.get_frozen_total()),
                          "used": {k: float(v) for k, v in vault.get_used_map().items()}}))
    finally:
        vault.close()
''')


def test_a_strategy_node_on_a_second_host_trades_over_nats_only(second_host, tmp_path):
    nats = Nats(tmp_path, host=second_host.here)
    vault = Served(tmp_path, nats)
    try:
        node = second_host.run(sys.executable, "-c", NODE, nats.url("grid-159201"))
        assert node.returncode == 0, node.stderr
        seen = json.loads(node.stdout)
        assert seen["first_layer_limit"] == 255000 and seen["taken"]
        # Its grant covers slot 2 (159201) only: 512890's slot is not its to spend.
        assert seen["refused_code"] == "not_granted"
        assert seen["frozen"] == 7000 and seen["used"] == {"159201": 5000, "512890": 0}

        # The operator's CLI on the second host sees the same vault, over NATS.
        capvault_bin = binary("CAPVAULT_BIN", "capvault")
        inspect = second_host.run(capvault_bin, "inspect", "seed000", "--nats", nats.url("executor").rsplit("/", 1)[0],
                                  "--json")
        assert inspect.returncode == 0, inspect.stderr
        book = json.loads(inspect.stdout)["books"][0]
        assert (book["pool"], book["committed"]) == (288000, 12000)

        # The second host is another host: this side's loopback is not reachable from there.
        loopback = nats.url("executor").replace(second_host.here, "127.0.0.1").rsplit("/", 1)[0]
        unreachable = second_host.run(capvault_bin, "inspect", "seed000", "--nats", loopback, timeout=30)
        assert unreachable.returncode != 0
    finally:
        vault.kill()
        nats.kill()
