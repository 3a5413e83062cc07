"""Account codes: what a valid code looks like, and the kind and owner parsed from it.

A code is lower-case segments joined by ``:``: the first segment is the account's *kind*
(``brand_payable``, ``commission_payable``, ``cash``), the rest its *owner* (``17``,
``streamer:5``). The chart of accounts zhibo uses:

======================================  =====================================================
``buyer_payments_held``                 money buyers paid, held until settlement (liability)
``brand_payable:<brand>``               owed to a brand for goods sold (liability)
``commission_payable:streamer:<id>``    commission earned, not yet paid (liability)
``commission_payable:partner:<id>``     a partner's share of commission (liability)
``platform_fee_revenue``                the platform's service fee (revenue)
``tax_withheld``                        tax withheld for the authorities (liability)
``slot_fees_held``                      brands' slot fees, held until settled (liability)
``reserve:streamer:<id>``               commission held back as a refund reserve
``payouts:streamer:<id>``               cash paid out to a payee (clearing)
``cash``                                the platform's bank balance (asset)
``tips_held:streamer:<id>``             viewers' tips held for a streamer until credited
``tips_payable:streamer:<id>``          tips credited to a streamer, not yet paid (liability;
                                        in debit after a claw-back of a refunded tip)
``platform_tip_revenue``                the platform's share of credited tips (revenue)
======================================  =====================================================

The ledger does not restrict kinds to this list: settlement may add accounts without a
migration, as long as codes follow the pattern.
"""

from __future__ import annotations

import re
from functools import lru_cache

MAX_CODE_LENGTH = 200
CODE_PATTERN = re.compile(r"[a-z][a-z0-9_]*(?::[a-z0-9_]+)*")


def valid_code(code: object) -> bool:
    return (
        isinstance(code, str)
        and 0 < len(code) <= MAX_CODE_LENGTH
        and CODE_PATTERN.fullmatch(code) is not None
    )


@lru_cache(maxsize=65_536)
def parse_code(code: str) -> tuple[str, str | None]:
    """``commission_payable:streamer:5`` → ``("commission_payable", "streamer:5")``."""
    kind, _, owner = code.partition(":")
    return kind, owner or None
