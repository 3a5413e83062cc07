"""The 2021 ecosystem goals (DOMAIN.md §1): how many live rooms and ecological partners sold
over 100 million yuan this year, how many paid professional streamers and new brands the
platform has, each against its target, with its trend, a projection to year end and the list
behind the number. The targets and definitions are an operator-edited, versioned document.
"""
