"""Graded management: metrics per streamer, room and partner over rolling windows, credit points,
the scoring model (versioned data: normalisation, weights, gates, levels L0-L5 and what each
unlocks, key-live-room thresholds), batch grading runs with stored, explained results and
level-change notices, what-if counterfactuals, and leaderboards. The level it sets decides at
once what the streamer may do: which categories and how many products the pool lets it shelve
(``zhibo.catalog.policy``), recommendation traffic and traffic limits (``recommendation``),
campaign enrolment (``campaigns``), settlement acceleration and tipping caps (``service``), all
summarised by ``permissions``.
"""
