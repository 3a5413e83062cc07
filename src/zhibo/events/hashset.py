"""A vectorised hash index of 64-bit keys: NumPy open addressing, one probe round per array
operation, so looking up or inserting a batch of keys costs a few array passes, not a Python
loop. The pipeline uses it for seen event ids, (session, user) state and (session, minute) rows.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

#: Key 0 marks an empty slot; a real key 0 is stored as this constant instead.
_ZERO_STAND_IN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def mix(*columns: npt.NDArray[np.integer]) -> U64:
    """A 64-bit key from integer columns (splitmix64 finaliser over a running combination)."""
    acc = np.zeros(len(columns[0]), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for column in columns:
            acc = acc * np.uint64(0x100000001B3) + column.astype(np.uint64, copy=False)
            acc ^= acc >> np.uint64(30)
            acc *= _M1
            acc ^= acc >> np.uint64(27)
            acc *= _M2
            acc ^= acc >> np.uint64(31)
    return acc


class U64Index:
    """Maps distinct uint64 keys to dense ids ``0..len-1`` in insertion order."""

    def __init__(self, capacity: int = 1 << 12) -> None:
        capacity = 1 << max(4, int(capacity - 1).bit_length())
        self._keys: U64 = np.zeros(capacity, dtype=np.uint64)
        self._ids: I64 = np.full(capacity, -1, dtype=np.int64)
        self.size = 0

    def __len__(self) -> int:
        return self.size

    @property
    def nbytes(self) -> int:
        return int(self._keys.nbytes + self._ids.nbytes)

    def _grow(self, needed: int) -> None:
        capacity = len(self._keys)
        if needed * 2 <= capacity:
            return
        while needed * 2 > capacity:
            capacity *= 2
        used = self._keys != 0
        keys, ids = self._keys[used], self._ids[used]
        self._keys = np.zeros(capacity, dtype=np.uint64)
        self._ids = np.full(capacity, -1, dtype=np.int64)
        self._place(keys, ids)

    def _place(self, keys: U64, ids: I64) -> None:
        """Insert keys known to be absent and distinct, with their ids."""
        mask = np.uint64(len(self._keys) - 1)
        pos = (keys & mask).astype(np.int64)
        pending = np.arange(len(keys))
        while pending.size:
            p = pos[pending]
            free = self._keys[p] == 0
            claim, claim_pos = pending[free], p[free]
            self._keys[claim_pos] = keys[claim]
            won = self._keys[claim_pos] == keys[claim]
            self._ids[claim_pos[won]] = ids[claim[won]]
            lost = np.concatenate([pending[~free], claim[~won]])
            pos[lost] = (pos[lost] + 1) & int(mask)
            pending = lost

    def lookup(self, keys: U64, *, insert: bool) -> tuple[I64, Bools]:
        """Ids of ``keys`` (distinct), inserting absent ones when ``insert``; absent and not
        inserted gives -1. Also returns which keys were absent before the call."""
        keys = np.where(keys == 0, _ZERO_STAND_IN, keys)
        if insert:
            self._grow(self.size + len(keys))
        return self._lookup(keys, insert)

    def _lookup(self, keys: U64, insert: bool) -> tuple[I64, Bools]:
        table = self._keys
        mask = len(table) - 1
        pos = (keys & np.uint64(mask)).astype(np.int64)
        result = np.full(len(keys), -1, dtype=np.int64)
        absent = np.zeros(len(keys), dtype=bool)
        pending = np.arange(len(keys))
        while pending.size:
            p = pos[pending]
            wanted = keys[pending]
            slot_keys = table[p]
            found = slot_keys == wanted
            if found.any():
                result[pending[found]] = self._ids[p[found]]
            empty = slot_keys == 0
            if empty.any():
                claim, claim_pos = pending[empty], p[empty]
                if insert:
                    # Distinct keys racing for one free slot: the last write wins, the others
                    # see a foreign key there next round and probe on.
                    table[claim_pos] = keys[claim]
                    won = table[claim_pos] == keys[claim]
                    winners, winner_pos = claim[won], claim_pos[won]
                    new_ids = np.arange(self.size, self.size + len(winners), dtype=np.int64)
                    self._ids[winner_pos] = new_ids
                    self.size += len(winners)
                    result[winners] = new_ids
                    absent[winners] = True
                    empty[empty] = won
                else:
                    absent[claim] = True
            move = ~found & ~empty
            pending = pending[move]
            pos[pending] = (pos[pending] + 1) & mask
        return result, absent


def first_occurrences(keys: U64) -> Bools:
    """True at the first row of each distinct key (stable)."""
    _, first = np.unique(keys, return_index=True)
    flags = np.zeros(len(keys), dtype=bool)
    flags[first] = True
    return flags


class U64Set:
    """A set of uint64 keys (the seen event ids): like ``U64Index`` without ids, so a probe
    touches one array."""

    def __init__(self, capacity: int = 1 << 16) -> None:
        capacity = 1 << max(4, int(capacity - 1).bit_length())
        self._keys: U64 = np.zeros(capacity, dtype=np.uint64)
        self.size = 0

    def __len__(self) -> int:
        return self.size

    @property
    def nbytes(self) -> int:
        return int(self._keys.nbytes)

    def _grow(self, needed: int) -> None:
        capacity = len(self._keys)
        if needed * 2 <= capacity:
            return
        while needed * 2 > capacity:
            capacity *= 2
        keys = self._keys[self._keys != 0]
        self._keys = np.zeros(capacity, dtype=np.uint64)
        self.size = 0
        self.add(keys)

    def add(self, keys: U64) -> Bools:
        """Add distinct ``keys``; True where a key was not in the set before."""
        keys = np.where(keys == 0, _ZERO_STAND_IN, keys)
        self._grow(self.size + len(keys))
        table = self._keys
        mask = len(table) - 1
        pos = (keys & np.uint64(mask)).astype(np.int64)
        absent = np.zeros(len(keys), dtype=bool)
        pending = np.arange(len(keys))
        while pending.size:
            p = pos[pending]
            wanted = keys[pending]
            slot_keys = table[p]
            empty = slot_keys == 0
            if empty.any():
                claim_pos = p[empty]
                table[claim_pos] = wanted[empty]
                won = table[claim_pos] == wanted[empty]
                absent[pending[empty][won]] = True
                self.size += int(won.sum())
                empty[empty] = won
            move = (slot_keys != wanted) & ~empty
            pending = pending[move]
            pos[pending] = (pos[pending] + 1) & mask
        return absent
