"""Identity and compliance: real-name verification (resident ID numbers, credit codes, phones),
the identity re-check before each session goes live, guardian consents for 16-17-year-old
streamers, virtual-host labels, personal data encrypted at rest with audited clear reads, the
blacklist, tipping limits, the retention purge and the regulator report.

Importing the package installs the registration guard: a blacklisted identity cannot be
registered as a new streamer account, whatever path creates it through the ORM.
"""

from zhibo.identity import guards as _guards

_guards.install()
