"""Settlement owns the money side of an order after payment: the commission in force and its
split (platform fee, partner share, streamer share, tax withheld), refunds against it, slot fees,
the settlement policies that decide when commission becomes payable, settlement runs with
payout batches and statements, and the what-if replay that compares policies. It moves money
only through ``zhibo.ledger`` postings; see docs/settlement.md.
"""

from zhibo.ledger import register_order_check
from zhibo.settlement.checks import order_traces

register_order_check(order_traces)
