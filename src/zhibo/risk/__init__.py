"""Risk control: detectors of illegal marketing tactics (false advertising, off-platform lures,
order brushing ...) driven by rules that are versioned data (``rules.py``, ``data/rules.toml``)
and a maintained lexicon (``data/lexicon.toml``); findings that carry the rule version and the
evidence to replay them; batch scans over order and event files (``scan.py``); and the product
pool's text screen (``screens.py``). Measures, cases and appeals come in later slices.
"""
