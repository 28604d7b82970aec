"""Every command of `Vault` and `connect`, in both modes: outcomes, rejections with their codes
and figures, amounts in and out."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

import capvault
from capvault import InvalidAmount, InvalidInput, Rejected, UnknownName

ID1 = "9f1c2a3b4c5d4e6f8a9b0c1d2e3f4a5b"
ID2 = "1790000000000000002"


def invariant(vault, book=0):
    book = vault.snapshot().book(book)
    strategies = sum((s["committed"] for s in book["strategies"]), Decimal(0))
    assert book["total"] == book["pool"] + strategies


def test_mode(vault):
    assert vault.mode in ("embedded", "client")
    assert vault.snapshot().seq == 0


def test_slots_commands(vault):
    outcome = vault.allocate("CNY", "159201", 1000)
    assert (outcome.kind, outcome.balance, outcome.seq) == ("allocated", Decimal(1000), 1)
    assert isinstance(outcome.balance, Decimal)
    assert vault.release("SSE:CNY", 2, "250.50").balance == Decimal("749.50")
    assert vault.adjust(0, 0, Decimal("-0.50")).kind == "adjusted"
    assert vault.balance(0, 0) == Decimal("299999.50")
    assert vault.set(0, 3, 2000).kind == "set"
    assert vault.balance(0, "512890") == 2000
    outcome = vault.set(0, 0, 300100)
    assert (outcome.kind, outcome.drift) == ("set", Decimal("100.50"))
    assert vault.reset("CNY", 300000).kind == "reset"
    assert [vault.balance(0, slot) for slot in range(4)] == [300000, 300000, 0, 0]
    invariant(vault)


def test_trade_and_credit(vault):
    assert vault.trade("USDT", -1000, "BTC", Decimal("0.01")).kind == "traded"
    assert vault.balance("USDT") == 9000 and vault.balance("BTC") == Decimal("2.01")
    assert vault.set_credit_limit("USDT", 700).books == 1
    assert vault.allocate("USDT", 2, 9700).kind == "allocated"
    with pytest.raises(Rejected) as refused:
        vault.allocate("USDT", 2, 1)
    assert refused.value.code == "exceeds_credit_limit"
    assert refused.value.figures == {"pool": Decimal(-700), "amount": Decimal(1), "credit_limit": Decimal(700)}
    invariant(vault, "USDT")


def test_orders(vault):
    assert vault.reserve(ID1, 0, "159201", 50000, layer=0).kind == "reserved"
    assert vault.reserve(ID1, 0, "159201", 50000, layer=0).kind == "already_reserved"
    with pytest.raises(Rejected) as refused:
        vault.reserve(ID1, 0, "159201", 40000, layer=0)
    assert refused.value.code == "id_conflict"
    filled = vault.fill(ID1, 20000)
    assert (filled.kind, filled.remaining) == ("filled", Decimal(30000))
    cancelled = vault.cancel(ID1)
    assert (cancelled.returned, cancelled.held) == (Decimal(30000), Decimal(20000))
    order = vault.order(ID1)
    assert (order["state"], order["used"], order["frozen"]) == ("cancelled", Decimal(20000), 0)
    assert vault.release_order(ID1).returned == Decimal(20000)
    # A sell holds no cash: refused, nothing changed.
    before = vault.balance("CNY", 1)
    with pytest.raises(Rejected) as refused:
        vault.reserve(int(ID2), "CNY", 3, "1000.25", side="SELL", layer=2)
    assert refused.value.code == "sell_not_reserved"
    assert vault.balance("CNY", 1) == before
    assert vault.reserve(int(ID2), "CNY", 3, "1000.25", layer=2).kind == "reserved"
    with pytest.raises(Rejected) as refused:
        vault.fill(ID2, 2000)
    assert refused.value.code == "fill_exceeds_frozen"
    assert refused.value.figures["frozen"] == Decimal("1000.25")
    # Cumulative reports are idempotent; above the amount they are refused.
    assert vault.fill_to(int(ID2), "400").kind == "filled"
    again = vault.fill_to(int(ID2), "400")
    assert (again.kind, again.filled) == ("fill_already_applied", Decimal(400))
    with pytest.raises(Rejected) as refused:
        vault.fill_to(int(ID2), "1000.26")
    assert refused.value.code == "fill_exceeds_amount"
    expired = vault.expire(int(ID2))
    assert (expired.returned, expired.held) == (Decimal("600.25"), Decimal(400))
    with pytest.raises(Rejected) as refused:
        vault.fill_to(int(ID2), "500")
    assert refused.value.code == "order_expired"
    assert vault.order(ID2)["state"] == "expired"
    assert vault.release_order(ID2).returned == Decimal(400)
    invariant(vault)


def test_linked_reservations(vault):
    ladder = [{"id": 7001 + n, "book": "CNY", "slot": "159201", "amount": 10000, "layer": 1} for n in range(3)]
    outcomes = vault.reserve_linked(ladder)
    assert [o.kind for o in outcomes] == ["reserved"] * 3
    assert vault.balance("CNY", 1) == Decimal(270000)
    # Sent again: nothing reserved twice.
    assert [o.kind for o in vault.reserve_linked(ladder)] == ["already_reserved"] * 3
    # One part over the strategy's cap refuses the whole chain, naming its part.
    before = vault.balance("CNY", 1)
    with pytest.raises(Rejected) as refused:
        vault.reserve_linked([
            {"id": 7101, "book": "CNY", "slot": "512890", "amount": 5000, "layer": 1},
            {"id": 7102, "book": "CNY", "slot": "159201", "amount": 180000, "layer": 1},
        ])
    assert (refused.value.code, refused.value.figures["part"]) == ("exceeds_nominal_cap", 1)
    assert vault.balance("CNY", 1) == before
    assert vault.order(7101) is None
    with pytest.raises(InvalidInput):
        vault.reserve_linked([{"id": 7201, "book": "CNY", "slot": "159201"}])
    invariant(vault)


def test_rules_and_figures(vault):
    with pytest.raises(Rejected) as refused:
        vault.reserve(ID1, 0, 2, 260000)
    assert refused.value.code == "exceeds_nominal_cap"
    assert refused.value.figures == {"committed": 0, "amount": 260000, "cap": 200000}
    vault.reserve(ID2, 0, 2, 150000)
    with pytest.raises(Rejected) as refused:
        vault.reserve(ID1, 0, 3, 120000, layer=0)
    assert refused.value.code == "exceeds_reserve_ratio"
    assert refused.value.figures == {"committed": 150000, "amount": 120000, "limit": 255000}
    assert "255000" in str(refused.value)
    # A later layer is not held to the reserve.
    assert vault.reserve(ID1, 0, 3, 120000, layer=1).kind == "reserved"
    assert vault.mark_loss(0, 3, 15001).forced_reduce is True
    with pytest.raises(Rejected) as refused:
        vault.reserve("1790000000000000009", 0, 3, 1, layer=2)
    assert refused.value.code == "forced_reduce"
    assert vault.record_alpha(0, 2, "3500.50").acc_alpha == Decimal("3500.50")
    assert vault.snapshot().stats["rejected"] == 3


def test_configure_and_open(vault):
    assert vault.configure_strategy(0, 3, label="510300", cap=1000, loss_limit=100).kind == "strategy_configured"
    assert vault.snapshot().slot_of("510300") == (0, 3)
    with pytest.raises(Rejected) as refused:
        vault.reserve(ID1, 0, "510300", 1001)
    assert refused.value.code == "exceeds_nominal_cap"
    opened = vault.open_book("OKX", "USDC", 6, decimals=6)
    assert opened.book == 3
    assert vault.reset("OKX:USDC", "123.456789").kind == "reset"
    assert vault.balance("USDC") == Decimal("123.456789")
    with pytest.raises(Rejected) as refused:
        vault.open_book("OKX", "USDC", 6)
    assert refused.value.code == "book_exists"


def test_submit_json(vault):
    outcome = vault.submit({"op": "allocate", "book": 0, "slot": 2, "amount": "12.5"})
    assert outcome.to_dict() == {"outcome": "allocated", "balance": Decimal("12.5"), "seq": 1}
    with pytest.raises(InvalidInput):
        vault.submit('{"op": "allocate", "book": 0}')


def test_amounts(vault):
    # A float is rounded half to even at the book's minor unit: 1.153 * 8600 is 9915.799999...
    assert vault.allocate(0, 2, 1.153 * 8600).balance == Decimal("9915.80")
    assert vault.allocate("BTC", 2, 0.1 + 0.2).balance == Decimal("0.3")
    with pytest.raises(InvalidAmount):
        vault.allocate(0, 2, Decimal("0.001"))
    with pytest.raises(InvalidAmount):
        vault.allocate(0, 2, "1e3x")
    with pytest.raises(InvalidAmount):
        vault.allocate(0, 2, float("nan"))
    with pytest.raises(InvalidAmount):
        vault.allocate(0, 2, 10**30)
    with pytest.raises(InvalidAmount):
        vault.allocate(0, 2, True)
    with pytest.raises(TypeError):
        vault.allocate(0, 2, [1])
    assert vault.allocate(0, 2, Decimal("1E+3")).balance == Decimal("10915.80")
    with pytest.raises(Rejected) as refused:
        vault.allocate(0, 2, 0)
    assert (refused.value.code, refused.value.figures["rule"]) == ("invalid_amount", "Positive")
    assert vault.snapshot().seq == 3


def test_bad_names(vault):
    with pytest.raises(UnknownName):
        vault.allocate("EUR", 2, 1)
    with pytest.raises(UnknownName):
        vault.allocate(0, "999999", 1)
    with pytest.raises(InvalidInput):
        vault.reserve("not-an-id", 0, 2, 1)
    with pytest.raises(InvalidInput):
        vault.reserve(ID1, 0, 2, 1, side="hold")
    with pytest.raises(Rejected) as refused:
        vault.allocate(9, 2, 1)
    assert refused.value.code == "unknown_book"
    assert vault.snapshot().seq == 0


def test_snapshot_schema(vault):
    vault.reserve(ID1, 0, 2, 1000)
    snapshot = vault.snapshot()
    data = snapshot.to_dict()
    assert set(data) == {"seq", "stats", "books", "orders"}
    assert data == json.loads(snapshot.to_json())
    assert data["books"][0]["strategies"][0]["frozen"] == 1000
    assert data["orders"][0]["client_order_id"] == ID1
    assert snapshot.books[0]["strategies"][0]["frozen"] == Decimal(1000)
    view = snapshot.view("CNY")
    assert (view.total, view.committed, view.first_layer_limit) == (300000, 1000, 255000)
    assert view.can_open_first_layer(254000) and not view.can_open_first_layer(254001)
    assert snapshot.penalty(0).active is False


def test_closed(config):
    vault = capvault.Vault(config)
    vault.allocate(0, 2, 5)
    last = vault.close()
    assert last.balance(0, 2) == 5
    assert vault.close() is None and vault.closed
    with pytest.raises(capvault.Stopped):
        vault.allocate(0, 2, 5)


def test_journal_recovers(config, tmp_path):
    with capvault.Vault(config, data_dir=tmp_path, durability="fsync_batch") as vault:
        vault.reserve(ID1, 0, 2, 1000)
    with capvault.Vault(config, data_dir=tmp_path) as vault:
        assert vault.reserve(ID1, 0, 2, 1000).kind == "already_reserved"
        assert vault.order(ID1)["frozen"] == 1000
    with pytest.raises(capvault.InvalidInput):
        capvault.Vault(config, durability="sometimes")


def test_config_errors(tmp_path):
    with pytest.raises(capvault.ConfigError):
        capvault.Vault({"books": [{"venue": "SSE"}]})
    path = tmp_path / "ledger.json"
    path.write_text(json.dumps({"credit_limits": {"CNY": 100}}))
    with capvault.Vault(path) as vault:
        assert vault.snapshot().books == []


def test_text_ids_order_listing_and_securities_reconcile(vault):
    # A platform's text order id maps to one id, the same in every process and run.
    order = capvault.order_id_from_text("QMT-20261204-000017")
    assert order == capvault.order_id_from_text("QMT-20261204-000017") != capvault.order_id_from_text("QMT-20261204-000018")
    assert capvault.order_id_from_text("1790000000000000009") == "1790000000000000009"
    vault.reserve(order, 0, "159201", "69180", layer=0)
    vault.fill_to(order, "69180")
    vault.reserve("1790000000000000009", 0, "512890", "1000.50", layer=0)
    listed = vault.orders(0)
    assert sorted((o["slot"], o["frozen"], o["used"]) for o in listed) == [(2, 0, Decimal("69180")), (3, Decimal("1000.50"), 0)]
    assert vault.orders("USDT") == []
    # Cash after the buy (300,000 - 69,180) plus a 100 dividend; the position cost 69,180.
    cash = Decimal("300000") - Decimal("69180") + 100
    wrong = vault.reconcile_securities(0, cash, {"159201.SZ": "69000"})
    assert not wrong["applied"] and wrong["mismatches"][0]["broker"] == Decimal("69000")
    assert vault.balance(0, 0) == 300000, "a mismatch holds the total back"
    done = vault.reconcile_securities(0, cash, [("159201.SZ", "69180")])
    assert done["applied"] and (done["capital"], done["drift"]) == (Decimal("300100"), Decimal("100"))
    assert vault.balance(0, 0) == Decimal("300100")
    invariant(vault)
