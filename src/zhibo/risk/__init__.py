"""Risk control: detectors of illegal marketing tactics (false advertising, off-platform lures,
order brushing ...) driven by rules that are versioned data (``rules.py``, ``data/rules.toml``)
and a maintained lexicon (``data/lexicon.toml``); findings that carry the rule version and the
evidence to replay them; batch detectors (``detectors/``) and scans over files (``scan.py``)
with a backtest against labels (``backtest.py``); the real-time hook on the live pipeline and on
orders (``realtime.py``); graduated measures, cases, notices, appeals and an append-only audit
log (``measures.py``, ``cases.py``, ``notices.py``, ``audit.py``); and the product pool's text
screen (``screens.py``).
"""
