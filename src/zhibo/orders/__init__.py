"""Orders placed in live sessions: attribution to session, room, streamer and partner, the order
lifecycle (paid → shipped → delivered → confirmed → settled) and refunds.

Commission, the ledger and settlement build on these (issue: charging model and settlement).
"""
