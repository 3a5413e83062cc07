"""The platform simulator: ``zhibo simulate`` writes a deterministic, seeded, believable platform
(catalogue, brands, partners, streamers, viewers, live sessions, the viewer event stream, orders
and refunds) as Parquet files, with a few labelled illegal tactics (order brushing, bot viewers,
like storms, banned absolute terms, fake original prices, minors tipping, blacklist evasion,
off-platform lures, duplicate comments) injected and recorded only in ``labels.parquet``, so that
detectors, the loader and the console can be developed and measured against known answers."""

from zhibo.sim.generator import generate
from zhibo.sim.scales import SCALES, Scale

__all__ = ["SCALES", "Scale", "generate"]
