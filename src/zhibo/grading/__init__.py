"""Graded management: metrics per streamer, room and partner over rolling windows, credit points,
the scoring model (versioned data: normalisation, weights, gates, levels L0-L5 and what each
unlocks, key-live-room thresholds), batch grading runs with stored, explained results and
level-change notices, what-if counterfactuals, and leaderboards. The streamer's level it sets
decides at once what the product pool lets the streamer sell (``zhibo.catalog.policy``).
"""
