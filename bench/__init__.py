"""zhibo's benchmarks: ``python -m bench`` (``make bench``) runs every ``bench/*.py`` module."""
