"""Batch risk detectors beyond text and the concentration rule: buyer rings, fast refunds and
self-purchases (``rings``), fake traffic (``traffic``), fake engagement (``engagement``), price
fraud (``pricing``), minors and tipping caps (``minors``), blacklist evasion (``evasion``).

Importing this package registers each detector's parameter model (for rule files) and its
runner (for scans); see :mod:`zhibo.risk.detectors.base`.
"""

from zhibo.risk.detectors import engagement, evasion, minors, pricing, rings, traffic
from zhibo.risk.detectors.base import RUNNERS, ScanInputs

__all__ = [
    "RUNNERS",
    "ScanInputs",
    "engagement",
    "evasion",
    "minors",
    "pricing",
    "rings",
    "traffic",
]
