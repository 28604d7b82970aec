"""A connection comes back after its vault restarts: ``reconnect()`` on a connection and on a
facade built on one takes a new place (the old one is given up first) and goes on."""

from __future__ import annotations

from decimal import Decimal

import pytest

import capvault
from capvault import GlobalVault
from conftest import Server


def test_a_connection_and_a_facade_reconnect_after_the_vault_restarts(config):
    first = Server(config)
    client = capvault.connect(first.name, "ops")
    facade = GlobalVault(connect=first.name, client="grid")
    client.allocate(0, 2, 5)
    first.kill()
    with pytest.raises(capvault.Disconnected):
        client.allocate(0, 2, 1)
    order = "0192a4c3-7d1e-7000-8000-0000000000aa"
    with pytest.raises(capvault.Disconnected):
        facade.request_allocation("159201", 1000, 1, order)
    # A new vault under the same name (no data folder: it starts from the configuration).
    second = Server(config, name=first.name)
    try:
        client.reconnect()
        facade.reconnect()
        assert client.allocate(0, 2, 7).kind == "allocated"
        assert client.snapshot().balance(0, 2) == Decimal(7)
        assert facade.request_allocation("159201", 1000, 1, order)
        assert facade.get_frozen_map() == {"159201": 1000, "512890": 0}
        with pytest.raises(capvault.InvalidInput):
            capvault.Vault(config).reconnect()
    finally:
        client.close()
        facade.close()
        second.stop()
