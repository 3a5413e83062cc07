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
#: In ``U64Set``, key 1 marks a slot whose key was discarded.
_TOMBSTONE = np.uint64(1)
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

    def compact(self, keep: Bools) -> I64:
        """Keep only the ids where ``keep`` (indexed by id, ``len(keep) == size``) holds,
        renumbered densely in their old order; returns the kept old ids (so ``new id i`` was
        old id ``result[i]``): the caller moves its parallel arrays the same way."""
        used = self._ids >= 0
        keys, ids = self._keys[used], self._ids[used]
        survive = keep[ids]
        keys, ids = keys[survive], ids[survive]
        new_of_old = np.cumsum(keep, dtype=np.int64) - 1
        self._keys = np.zeros(len(self._keys), dtype=np.uint64)
        self._ids = np.full(len(self._keys), -1, dtype=np.int64)
        self._place(keys, new_of_old[ids])
        self.size = int(keep.sum())
        return np.flatnonzero(keep).astype(np.int64)


def first_occurrences(keys: U64) -> Bools:
    """True at the first row of each distinct key (stable)."""
    _, first = np.unique(keys, return_index=True)
    flags = np.zeros(len(keys), dtype=bool)
    flags[first] = True
    return flags


class U64Set:
    """A set of uint64 keys (the seen event ids): like ``U64Index`` without ids, so a probe
    touches one array. Each key carries a tag (its owner: the pipeline tags an event id with
    its session id) so that the keys of some owners can be dropped: their slots become
    tombstones (probes pass over them), purged by the next rebuild."""

    def __init__(self, capacity: int = 1 << 16) -> None:
        capacity = 1 << max(4, int(capacity - 1).bit_length())
        self._keys: U64 = np.zeros(capacity, dtype=np.uint64)
        self._tags: I64 = np.zeros(capacity, dtype=np.int64)
        self.size = 0
        self.tombstones = 0

    def __len__(self) -> int:
        return self.size

    @property
    def nbytes(self) -> int:
        return int(self._keys.nbytes + self._tags.nbytes)

    def _grow(self, needed: int) -> None:
        capacity = len(self._keys)
        if (needed + self.tombstones) * 2 <= capacity:
            return
        # Full of live keys: double; full of tombstones: rebuild at the same size.
        while needed * 2 > capacity:
            capacity *= 2
        used = self._keys > _TOMBSTONE
        keys, tags = self._keys[used], self._tags[used]
        self._keys = np.zeros(capacity, dtype=np.uint64)
        self._tags = np.zeros(capacity, dtype=np.int64)
        self.size = self.tombstones = 0
        self._insert(keys, tags)

    def discard_tagged(self, tags: npt.NDArray[np.integer]) -> int:
        """Drop the keys tagged with any of ``tags`` (one vectorised pass over the table, no
        rebuild); returns how many were dropped."""
        hit = (self._keys > _TOMBSTONE) & np.isin(self._tags, tags)
        count = int(hit.sum())
        self._keys[hit] = _TOMBSTONE
        self.size -= count
        self.tombstones += count
        return count

    def add(self, keys: U64, tags: npt.NDArray[np.integer] | None = None) -> Bools:
        """Add distinct ``keys`` (tagged ``tags``, default 0); True where a key was not in the
        set before."""
        # 0 marks an empty slot and 1 a tombstone: real keys 0 and 1 get stand-ins.
        keys = np.where(keys <= _TOMBSTONE, keys + _ZERO_STAND_IN, keys)
        self._grow(self.size + len(keys))
        if tags is None:
            tags = np.zeros(len(keys), dtype=np.int64)
        return self._insert(keys, tags)

    def _insert(self, keys: U64, tags: npt.NDArray[np.integer]) -> Bools:
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
                winners = pending[empty][won]
                self._tags[claim_pos[won]] = tags[winners]
                absent[winners] = True
                self.size += int(won.sum())
                empty[empty] = won
            move = (slot_keys != wanted) & ~empty
            pending = pending[move]
            pos[pending] = (pos[pending] + 1) & mask
        return absent
