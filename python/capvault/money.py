"""``Money``: the exact amounts the seeds' facades return, which also mix with ``float``.

The seeds' own code does float arithmetic on what the managers return (seed 004:
``available + credit_limit < 0`` with ``credit_limit = 5000.0``; seed 000:
``committed + amount > PHYSICAL_POOL * (1 - MIN_RESERVE_RATIO)``). A plain ``Decimal`` refuses
``Decimal + float``; a ``float`` would lose exactness. ``Money`` is a ``Decimal`` that knows its
book's minor unit (``decimals``) and takes ``float`` operands by the package's one rule:

- a ``float`` operand is read as the shortest decimal that round-trips it (``repr``: what was
  typed, ``0.1`` is ``0.1``, not ``0.1000000000000000055...``);
- ``+ - *`` with a ``float``, and every ``/``, give the exact result rounded half to even to the
  minor unit: the rounding a ``float`` amount gets when it goes into the vault, so a figure
  computed here and sent back is the figure the book holds;
- with ``int``, ``Decimal`` or ``Money`` operands ``+ - *`` stay exact (no rounding);
- comparisons with a ``float`` compare against the same shortest decimal (``Money("0.1") ==
  0.1``); with anything else they are ``Decimal``'s;
- a non-finite ``float`` (``nan``, ``inf``) gives the ``float`` result.

Money is hashable as the ``Decimal`` it is; because ``Money("0.1") == 0.1`` while the float
``0.1`` is not exactly one tenth, the two hash differently: do not mix them as keys of one dict.

The core ``Vault`` API keeps plain ``Decimal``; ``float(money)`` and ``Decimal(money)`` give the
others.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Union

__all__ = ["Money"]

_Operand = Union[int, float, Decimal]


def _from_float(value: float) -> Decimal:
    return Decimal(repr(value))


# The minor unit of each number of decimals, made once.
_QUANTUM = {places: Decimal(1).scaleb(-places) for places in range(19)}


class Money(Decimal):
    """An exact amount at a book's minor unit (``decimals`` places) that mixes with ``float``."""

    __slots__ = ("decimals",)

    def __new__(cls, value: Any = "0", decimals: int = 2) -> "Money":
        if isinstance(value, float):
            value = _from_float(value)
        money = super().__new__(cls, value)
        money.decimals = decimals
        return money

    def __reduce__(self):
        return (Money, (str(self), self.decimals))

    def __repr__(self) -> str:
        # As short as a Decimal's: a StrategyBalance of eight slots stays readable.
        return f"Money('{self}')"

    def _make(self, value: Decimal, rounded: bool) -> "Money":
        places = self.decimals
        if rounded and value.is_finite():
            quantum = _QUANTUM.get(places) or Decimal(1).scaleb(-places)
            value = value.quantize(quantum, rounding=ROUND_HALF_EVEN)
        money = Decimal.__new__(Money, value)
        money.decimals = places
        return money

    def _binary(self, other: Any, operate, always_round: bool = False) -> Any:
        # `operate` gets plain Decimals (`Decimal.__add__` and friends on `self` would call
        # back into these overrides).
        plain = Decimal.__new__(Decimal, self)
        if isinstance(other, float):
            if not math.isfinite(other):
                return operate(float(self), other)
            return self._make(operate(plain, _from_float(other)), True)
        if isinstance(other, (int, Decimal)) and not isinstance(other, bool):
            if isinstance(other, Money):
                other = Decimal.__new__(Decimal, other)
            return self._make(operate(plain, other), always_round)
        return NotImplemented

    def __add__(self, other: _Operand) -> Any:
        return self._binary(other, lambda a, b: a + b)

    def __radd__(self, other: _Operand) -> Any:
        return self._binary(other, lambda a, b: b + a)

    def __sub__(self, other: _Operand) -> Any:
        return self._binary(other, lambda a, b: a - b)

    def __rsub__(self, other: _Operand) -> Any:
        return self._binary(other, lambda a, b: b - a)

    def __mul__(self, other: _Operand) -> Any:
        return self._binary(other, lambda a, b: a * b)

    def __rmul__(self, other: _Operand) -> Any:
        return self._binary(other, lambda a, b: b * a)

    def __truediv__(self, other: _Operand) -> Any:
        return self._binary(other, lambda a, b: a / b, always_round=True)

    def __rtruediv__(self, other: _Operand) -> Any:
        return self._binary(other, lambda a, b: b / a, always_round=True)

    def __neg__(self, context: Any = None) -> "Money":
        return Money(-Decimal(self), self.decimals)

    def __pos__(self, context: Any = None) -> "Money":
        return Money(Decimal(self), self.decimals)

    def __abs__(self, round: bool = True, context: Any = None) -> "Money":  # noqa: A002
        return Money(abs(Decimal(self)), self.decimals)

    def _compare(self, other: Any) -> Any:
        if isinstance(other, float):
            if not math.isfinite(other):
                return None
            return _from_float(other)
        if isinstance(other, (int, Decimal)):
            return other
        return NotImplemented

    def __eq__(self, other: Any) -> bool:
        value = self._compare(other)
        if value is None:
            return False
        if value is NotImplemented:
            return NotImplemented
        return Decimal(self) == value

    def __ne__(self, other: Any) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    def __lt__(self, other: Any) -> bool:
        value = self._compare(other)
        if value is None:
            return float(self) < other
        return NotImplemented if value is NotImplemented else Decimal(self) < value

    def __le__(self, other: Any) -> bool:
        value = self._compare(other)
        if value is None:
            return float(self) <= other
        return NotImplemented if value is NotImplemented else Decimal(self) <= value

    def __gt__(self, other: Any) -> bool:
        value = self._compare(other)
        if value is None:
            return float(self) > other
        return NotImplemented if value is NotImplemented else Decimal(self) > value

    def __ge__(self, other: Any) -> bool:
        value = self._compare(other)
        if value is None:
            return float(self) >= other
        return NotImplemented if value is NotImplemented else Decimal(self) >= value

    __hash__ = Decimal.__hash__
