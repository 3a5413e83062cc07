"""Named, independent random streams derived from one seed.

Every part of the simulation draws from its own stream, keyed by a stable name (CRC-32, never
Python's salted ``hash``), so adding draws to one part does not shift the numbers of another."""

from __future__ import annotations

import zlib

import numpy as np


class Streams:
    def __init__(self, seed: int) -> None:
        if seed < 0:
            raise ValueError("seed must be non-negative")
        self.seed = seed

    def get(self, name: str) -> np.random.Generator:
        """A fresh generator for ``name``: the same seed and name always give the same numbers."""
        key = zlib.crc32(name.encode("utf-8"))
        return np.random.Generator(np.random.PCG64(np.random.SeedSequence([self.seed, key])))
