"""Seed 000's executor on another host: the pure-Python client (``capvault_remote``, nats-py
only) commanding the vault that ``capvault serve examples/nats/serve.json`` runs, over NATS.

Run: python examples/python/remote_seed000.py [nats://executor:executor-secret@HOST:4222/seed000]
(after ``pip install`` of the capvault_remote wheel: ``docs/distribution.md``).
"""

import sys
import time

import capvault_remote as capvault

SERVICE = sys.argv[1] if len(sys.argv) > 1 else "nats://executor:executor-secret@127.0.0.1:4222/seed000"

vault = capvault.GlobalVault(connect=SERVICE, client="executor")
# Ids unique per run: the vault's journal remembers every id it resolved.
base = time.time_ns() // 1000 * 10

first = vault.request_allocation("159201", 150000, 1, str(base))
print(f"159201 layer 1 150,000: {'approved' if first else 'refused'}")
# A first layer must leave 15% of the pool: 150,000 + 140,000 > 255,000.
refused = vault.request_allocation("512890", 140000, 0, str(base + 1))
print(f"512890 layer 0 140,000: refused {refused.code} {dict(refused.figures)}")
# A float amount by the package's rule: 1.153 × 8600 is 9,915.80.
second = vault.request_allocation("512890", 1.153 * 8600, 1, str(base + 2))
vault.on_fill_report("512890", str(base + 2), "9915.80")
print(f"used {dict(vault.get_used_map())}, frozen {dict(vault.get_frozen_map())}")
view = vault.pool_view()
print(f"pool: total {view.total:,}, committed {view.committed:,}, first-layer limit {view.first_layer_limit:,}")
print(f"cancel 159201: returned {vault.on_cancel('159201', str(base)).returned:,}")
print(f"release 512890: returned {vault.release('512890', str(base + 2)).returned:,}")
vault.close()
