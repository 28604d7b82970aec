"""Seed 000's own flow, run on capvault's GlobalVault: two ETF grid strategies (159201 and
512890) sharing a 300,000 CNY pool, the executor's calls in the seed's order (section 3.2):
request_allocation before sending, on_fill on a fill report, on_cancel on a cancel, release by
client_order_id after a sell; the 15% first-layer rule and the 90%/85% step penalty as a
strategy node reads them from the pool; shared_pool.json written by the vault.

Run: python examples/python/seed_000.py   (after `pip install ./python`)
"""

import json
import os
import tempfile
import time
import uuid

from capvault import GlobalVault, StepPenalty

SHARED_DIR = tempfile.mkdtemp(prefix="capvault-seed000-")
SHARED_POOL_PATH = os.path.join(SHARED_DIR, "shared_pool.json")

vault = GlobalVault(json=SHARED_POOL_PATH)  # 300,000 physical pool, caps of 200,000 each
penalty = StepPenalty()  # the strategy node's own gate: on above 90%, off below 85%


def send(symbol, amount, layer_index):
    """The executor: ask the vault before sending an order (seed 000 section 3.4)."""
    client_order_id = uuid.uuid4().hex
    decision = vault.request_allocation(symbol, amount, layer_index, client_order_id)
    print(f"  {symbol} layer {layer_index} {amount:>7,}: {'approved' if decision else 'refused (' + decision.code + ')'}")
    return client_order_id if decision else None


print("159201 opens its first layer and adds two; 512890 opens its first layer:")
a0 = send("159201.SZ", 100_000, 0)
a1 = send("159201.SZ", 40_000, 1)
b0 = send("512890.SH", 100_000, 0)
print("  can_open_new_layer(512890, 20,000):", vault.can_open_new_layer("512890", 20_000))
refused = send("512890.SH", 20_000, 0)  # 240,000 + 20,000 > 255,000: the 15% rule
assert refused is None

vault.on_fill("159201", a0)  # filled completely
vault.on_fill("159201", a1, 15_000)  # a partial fill...
vault.on_cancel("159201", a1)  # ...and the rest cancelled: 25,000 back to the pool
vault.on_fill("512890", b0)
print("used", vault.get_used_map(), "frozen", vault.get_frozen_map())

a2 = send("159201.SZ", 60_000, 2)  # a later layer: allowed above the 85% line
vault.on_fill("159201", a2)
view = vault.pool_view()
print(f"utilisation {view.utilisation:.1%}; penalty {'on' if penalty.update(view) else 'off'}; buy step x{penalty.multiplier}")
assert penalty.active

vault.record_alpha("159201", 3_500.50)
print(f"159201 sells its first layer: release returns {vault.release('159201', a0).returned}")
view = vault.pool_view()
print(f"utilisation {view.utilisation:.1%}; penalty {'on' if penalty.update(view) else 'off'}; buy step x{penalty.multiplier}")
assert not penalty.active

vault.close()  # the last shared_pool.json is written on close
with open(SHARED_POOL_PATH, encoding="utf-8") as file:
    pool = json.load(file)
print("shared_pool.json:", {key: pool[key] for key in sorted(pool) if key.startswith(("used_", "frozen_", "acc_alpha_"))})
assert pool["used_159201"] == 75_000 and pool["used_512890"] == 100_000 and pool["acc_alpha_159201"] == 3500.5
