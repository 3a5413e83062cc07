"""Money is an integer number of fen (1/100 yuan) beside its ISO currency; never a float.

Rates are integer basis points (1 bp = 0.01 %, 10,000 bp = 100 %).
"""

from __future__ import annotations

from dataclasses import dataclass

from zhibo.kit.errors import InvalidInput

BP_PER_UNIT = 10_000
FEN_PER_YUAN = 100


class CurrencyMismatch(InvalidInput):
    """Two amounts in different currencies were combined."""


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in minor units (fen for CNY)."""

    fen: int
    currency: str = "CNY"

    def __post_init__(self) -> None:
        if not isinstance(self.fen, int) or isinstance(self.fen, bool):
            raise InvalidInput(f"amount must be an integer number of fen, got {self.fen!r}")
        if len(self.currency) != 3 or not self.currency.isupper():
            raise InvalidInput(f"currency must be a 3-letter ISO code, got {self.currency!r}")

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(f"{self.currency} and {other.currency} cannot be combined")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.fen + other.fen, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.fen - other.fen, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.fen, self.currency)

    def times_bp(self, rate_bp: int) -> Money:
        """This amount times a basis-point rate, rounded half away from zero to the fen."""
        return Money(apply_bp(self.fen, rate_bp), self.currency)

    def __str__(self) -> str:
        sign = "-" if self.fen < 0 else ""
        whole, cents = divmod(abs(self.fen), FEN_PER_YUAN)
        return f"{sign}{whole:,}.{cents:02d} {self.currency}"


def check_rate_bp(rate_bp: int, field: str = "rate_bp") -> int:
    if not 0 <= rate_bp <= BP_PER_UNIT:
        raise InvalidInput(f"{field}: {rate_bp} is outside 0..10000 basis points")
    return rate_bp


def apply_bp(fen: int, rate_bp: int) -> int:
    """``fen * rate_bp / 10000`` rounded half away from zero, in integers only."""
    product = fen * rate_bp
    quotient, remainder = divmod(abs(product), BP_PER_UNIT)
    if remainder * 2 >= BP_PER_UNIT:
        quotient += 1
    return quotient if product >= 0 else -quotient


def yuan(fen: int) -> str:
    """Human form of a fen amount: ``123456`` → ``"1,234.56"``."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), FEN_PER_YUAN)
    return f"{sign}{whole:,}.{cents:02d}"
