"""One amount rule for every method: a float rounds half to even at the book's minor unit, an
exact value finer than it is refused, ``Decimal("1E+3")`` is 1000, and ``True`` or ``None`` is
an ``InvalidAmount``; a refused amount changes nothing. The methods that once built their
command as JSON text (``fill_to``, ``GlobalVault.on_fill_report``) included."""

from __future__ import annotations

from decimal import Decimal

import pytest

import capvault
from capvault import GlobalVault, InvalidAmount

ID = "0192a4c3-7d1e-7000-8000-000000000001"


def reserved(vault, amount="20000"):
    vault.reserve(ID, 0, 2, amount, layer=1)
    return vault


def used(vault):
    return vault.snapshot().order(ID)["used"]


def test_fill_to_rounds_a_float_and_refuses_what_is_finer_than_the_minor_unit(vault):
    reserved(vault)
    vault.fill_to(ID, 1.153 * 8600)
    assert used(vault) == Decimal("9915.80")
    before = vault.snapshot().order(ID)
    for bad in ("9915.801", Decimal("0.001"), True, None, float("nan")):
        with pytest.raises(InvalidAmount):
            vault.fill_to(ID, bad)
    assert vault.snapshot().order(ID) == before, "a refused amount changed the order"
    vault.fill_to(ID, Decimal("1E+4"))
    assert used(vault) == Decimal("10000")


def test_every_amount_method_refuses_a_bool_or_none_as_an_amount(vault):
    reserved(vault)
    calls = [
        lambda bad: vault.allocate(0, 2, bad),
        lambda bad: vault.release(0, 2, bad),
        lambda bad: vault.adjust(0, 1, bad),
        lambda bad: vault.set_credit_limit("CNY", bad),
        lambda bad: vault.set(0, 1, bad),
        lambda bad: vault.reserve("0192a4c3-7d1e-7000-8000-000000000002", 0, 2, bad, layer=1),
        lambda bad: vault.fill(ID, bad),
        lambda bad: vault.fill_to(ID, bad),
        lambda bad: vault.record_alpha(0, 2, bad),
        lambda bad: vault.mark_loss(0, 2, bad),
    ]
    seq = vault.snapshot().seq
    for call in calls:
        for bad in (True, False, None):
            with pytest.raises(InvalidAmount):
                call(bad)
    assert vault.snapshot().seq == seq, "a refused amount reached the ledger"


@pytest.fixture(params=["embedded", "client"])
def gv(request, config):
    from conftest import Server

    if request.param == "embedded":
        made = GlobalVault(config)
        yield made
        made.close()
    else:
        served = Server(config)
        made = GlobalVault(connect=served.name)
        yield made
        made.close()
        served.stop()


def test_on_fill_report_takes_the_amount_rule(gv):
    assert gv.request_allocation("159201", 20_000, 1, ID)
    assert gv.on_fill_report("159201", ID, 1.153 * 8600).remaining == Decimal("10084.20")
    assert gv.on_fill_report("159201", ID, Decimal("1E+4")).remaining == Decimal("10000")
    for bad in ("10000.001", True, None):
        with pytest.raises(InvalidAmount):
            gv.on_fill_report("159201", ID, bad)
    assert gv.get_used_map()["159201"] == 10000
