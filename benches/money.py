#!/usr/bin/env python3
"""What `capvault.Money` costs against the alternatives the seeds' facades could have returned:
a plain `Decimal` (exact, but `Decimal + float` raises) and a `float` (mixes, loses exactness).

Prints, per operation, the median of 7 repeats of `timeit` (nanoseconds per operation):
making the figure from the `Decimal` the native module returns, `figure + 5000.0` (seed 004's
recovery check), `figure * 0.15`, `figure > float`, and a facade call end to end
(`StrategyBalanceManager.get_balance` against `Vault.balance`).

    python benches/money.py
"""

from __future__ import annotations

import statistics
import timeit
from decimal import Decimal

import capvault
from capvault import Money


def per_op(statement, number: int = 200_000, repeat: int = 7, **names) -> float:
    timer = timeit.Timer(statement, globals=names)
    runs = timer.repeat(repeat=repeat, number=number)
    return statistics.median(runs) / number * 1e9


def main() -> None:
    exact = Decimal("100.125")
    money = Money(exact, 8)
    as_float = float(exact)
    rows = [
        ("make from the native Decimal", per_op("Money(d, 8)", Money=Money, d=exact), per_op("d", d=exact), per_op("float(d)", d=exact)),
        ("x + 5000.0", per_op("x + 5000.0", x=money), None, per_op("x + 5000.0", x=as_float)),
        ("x + Decimal", per_op("x + y", x=money, y=exact), per_op("x + y", x=exact, y=exact), None),
        ("x * 0.15", per_op("x * 0.15", x=money), None, per_op("x * 0.15", x=as_float)),
        ("x > 100.12", per_op("x > 100.12", x=money), per_op("x > 100.12", x=exact), per_op("x > 100.12", x=as_float)),
    ]
    manager = capvault.StrategyBalanceManager("KRAKEN", strategy_count=4)
    manager.reset("USDT", "100.125")
    vault = manager.vault
    facade = per_op("m.get_balance('USDT', 1)", number=20_000, m=manager)
    core = per_op("v.balance('KRAKEN:USDT', 1)", number=20_000, v=vault)
    vault.close()
    print(f"{'ns per operation (median of 7)':<32} {'Money':>8} {'Decimal':>8} {'float':>8}")
    for name, m, d, f in rows:
        cell = lambda value: "raises" if value is None else f"{value:8.0f}"  # noqa: E731
        print(f"{name:<32} {cell(m):>8} {cell(d):>8} {cell(f):>8}")
    print(f"{'get_balance (Money) / balance':<32} {facade:8.0f} {core:8.0f}   ratio {facade / core:.2f}")


if __name__ == "__main__":
    main()
