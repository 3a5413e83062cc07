"""The people and organisations on the platform: streamers, ecological partners and viewers.

Personal data arrives here once and is kept only as keyed hashes (for matching) and masks (for
showing); real-name verification and the blacklist build on it (issue: identity).
"""
