"""Commission arithmetic: pure integer functions, tested without a database.

Rounding rule (the only one in settlement):

* The commission is ``apply_bp(amount, rate)``: half away from zero, to the fen.
* The platform fee is ``apply_bp(commission, platform_fee_bp)``; the partner's share is
  ``apply_bp(commission - fee, partner_share_bp)``; the streamer's share is the **remainder**
  ``commission - fee - partner``, so the three parts always add up to the commission exactly.
  Tax is ``apply_bp(streamer_share, tax_bp)``, withheld from the streamer's share.
* Refunds are pro rata on **cumulative** amounts: after refunds totalling ``R`` of an order of
  ``A``, each part's refunded total is ``round_half_away(part * R / A)`` (the streamer's share,
  again, is the remainder). A refund's adjustment is the difference between the cumulative
  totals after and before it, so any sequence of partial refunds that adds up to the full
  amount gives back exactly the full parts: no fen is created or lost.
"""

from __future__ import annotations

from dataclasses import dataclass

from zhibo.kit.errors import InvalidInput
from zhibo.kit.money import apply_bp, check_rate_bp


def ratio_round(value: int, numerator: int, denominator: int) -> int:
    """``value * numerator / denominator`` rounded half away from zero, in integers only."""
    if denominator <= 0:
        raise InvalidInput(f"denominator: must be positive, got {denominator}")
    product = value * numerator
    quotient, remainder = divmod(abs(product), denominator)
    if remainder * 2 >= denominator:
        quotient += 1
    return quotient if product >= 0 else -quotient


@dataclass(frozen=True, slots=True)
class Split:
    """One order's commission in parts, all in fen. ``fee + partner + streamer == commission``;
    ``tax`` is part of ``streamer`` (withheld from it)."""

    commission_fen: int
    platform_fee_fen: int
    partner_fen: int
    streamer_fen: int
    tax_fen: int

    @property
    def streamer_net_fen(self) -> int:
        """What the streamer is paid: its share less the tax withheld."""
        return self.streamer_fen - self.tax_fen

    def __sub__(self, other: Split) -> Split:
        return Split(
            self.commission_fen - other.commission_fen,
            self.platform_fee_fen - other.platform_fee_fen,
            self.partner_fen - other.partner_fen,
            self.streamer_fen - other.streamer_fen,
            self.tax_fen - other.tax_fen,
        )


ZERO = Split(0, 0, 0, 0, 0)


def split_commission(
    amount_fen: int,
    commission_rate_bp: int,
    *,
    platform_fee_bp: int,
    partner_share_bp: int,
    tax_bp: int,
) -> Split:
    """Commission on ``amount_fen`` and its split (see the module's rounding rule)."""
    if amount_fen < 0:
        raise InvalidInput(f"amount_fen: must not be negative, got {amount_fen}")
    check_rate_bp(commission_rate_bp, "commission_rate_bp")
    check_rate_bp(platform_fee_bp, "platform_fee_bp")
    check_rate_bp(partner_share_bp, "partner_share_bp")
    check_rate_bp(tax_bp, "tax_bp")
    commission = apply_bp(amount_fen, commission_rate_bp)
    fee = apply_bp(commission, platform_fee_bp)
    partner = apply_bp(commission - fee, partner_share_bp)
    streamer = commission - fee - partner
    return Split(commission, fee, partner, streamer, apply_bp(streamer, tax_bp))


def refunded_part(full: Split, amount_fen: int, refunded_fen: int) -> Split:
    """The cumulative part of ``full`` given back after refunds totalling ``refunded_fen``."""
    if not 0 <= refunded_fen <= amount_fen:
        raise InvalidInput(
            f"refunded_fen: {refunded_fen} is outside 0..{amount_fen} (the amount paid)"
        )
    if refunded_fen == 0:
        return ZERO
    if refunded_fen == amount_fen:
        return full
    commission = ratio_round(full.commission_fen, refunded_fen, amount_fen)
    fee = ratio_round(full.platform_fee_fen, refunded_fen, amount_fen)
    partner = ratio_round(full.partner_fen, refunded_fen, amount_fen)
    streamer = commission - fee - partner
    tax = ratio_round(full.tax_fen, refunded_fen, amount_fen)
    return Split(commission, fee, partner, streamer, tax)


def refund_adjustment(full: Split, amount_fen: int, before_fen: int, after_fen: int) -> Split:
    """What one refund takes back: cumulative refunded part after it, less before it."""
    return refunded_part(full, amount_fen, after_fen) - refunded_part(full, amount_fen, before_fen)


def slot_fee_refund(fee_fen: int, sales_target_fen: int | None, sales_fen: int) -> int:
    """The part of a slot fee (坑位费) the brand gets back.

    A fixed fee (no target) is kept whole. A fee agreed against a sales target is refunded
    pro rata to the shortfall: ``fee * (target - sales) / target``, half away from zero, and
    nothing once the target is met.
    """
    if fee_fen < 0:
        raise InvalidInput(f"slot_fee_fen: must not be negative, got {fee_fen}")
    if sales_fen < 0:
        raise InvalidInput(f"sales_fen: must not be negative, got {sales_fen}")
    if sales_target_fen is None:
        return 0
    if sales_target_fen <= 0:
        raise InvalidInput(f"sales_target_fen: must be positive, got {sales_target_fen}")
    shortfall = max(0, sales_target_fen - sales_fen)
    return ratio_round(fee_fen, shortfall, sales_target_fen)
