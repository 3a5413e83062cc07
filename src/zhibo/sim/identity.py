"""Identifiers that must look and validate like real ones: resident ID numbers (GB 11643, the
check digit of ISO 7064 MOD 11-2), unified social credit codes (GB 32100), mobile numbers, and
opaque hashed ids (devices, IPs, addresses)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from zhibo.sim.vocab import PHONE_PREFIXES, REGION_CODES

_RIC_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_RIC_CHECK = "10X98765432"

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# Organisation code body characters: digits mostly, and letters the USCC alphabet allows.
_ORG_CHARS = "0123456789" * 3 + "ABCDEFGHJKLMNPQRTUWXY"
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def ric_check_digit(first17: str) -> str:
    """The 18th character of a resident ID number."""
    total = sum(int(c) * int(w) for c, w in zip(first17, _RIC_WEIGHTS, strict=True))
    return _RIC_CHECK[total % 11]


def resident_ids(rng: np.random.Generator, birth_days: np.ndarray, male: np.ndarray) -> list[str]:
    """Resident ID numbers for people born on ``birth_days`` (datetime64[D]): a region code,
    the birth date, an order code whose parity gives the sex, and the check digit."""
    n = len(birth_days)
    regions = rng.integers(0, len(REGION_CODES), n)
    order = rng.integers(0, 500, n) * 2 + male.astype(np.int64)
    dates = np.datetime_as_string(birth_days.astype("datetime64[D]"), unit="D")
    out: list[str] = []
    for i in range(n):
        body = f"{REGION_CODES[regions[i]]}{dates[i].replace('-', '')}{order[i]:03d}"
        out.append(body + ric_check_digit(body))
    return out


def _org_code(rng: np.random.Generator) -> str:
    body = [_ORG_CHARS[j] for j in rng.integers(0, len(_ORG_CHARS), 8)]
    total = sum(
        (int(c) if c.isdigit() else ord(c) - 55) * w
        for c, w in zip(body, _ORG_WEIGHTS, strict=True)
    )
    check = 11 - total % 11
    last = "X" if check == 10 else "0" if check == 11 else str(check)
    return "".join(body) + last


def uscc_check_char(first17: str) -> str:
    """The 18th character of a unified social credit code."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total) % 31]


def social_credit_codes(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` distinct codes: registered by market regulation (9), enterprise (1), a region code,
    a 9-character organisation code with its own check, and the code's check character."""
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        region = REGION_CODES[int(rng.integers(0, len(REGION_CODES)))]
        body = "91" + region + _org_code(rng)
        code = body + uscc_check_char(body)
        if code not in seen:
            seen.add(code)
            out.append(code)
    return out


def phones(rng: np.random.Generator, n: int, exclude: set[str] | None = None) -> list[str]:
    """``n`` distinct 11-digit mainland mobile numbers (13x-19x prefixes)."""
    seen: set[str] = set(exclude or ())
    out: list[str] = []
    while len(out) < n:
        need = n - len(out)
        prefixes = rng.integers(0, len(PHONE_PREFIXES), need)
        rest = rng.integers(0, 100_000_000, need)
        for p, r in zip(prefixes, rest, strict=True):
            phone = f"{PHONE_PREFIXES[p]}{r:08d}"
            if phone not in seen:
                seen.add(phone)
                out.append(phone)
    return out


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_SHIFTS = np.arange(60, -4, -4, dtype=np.uint64)


def _mix64(values: np.ndarray, salt: int) -> np.ndarray:
    """SplitMix64 finaliser: a bijection on 64-bit integers, so distinct inputs stay distinct."""
    with np.errstate(over="ignore"):
        z = values.astype(np.uint64) + np.uint64(salt & 0xFFFFFFFFFFFFFFFF)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def hashed_ids(prefix: str, values: np.ndarray, salt: int) -> pa.StringArray:
    """Opaque, distinct 16-hex-digit strings for distinct ``values`` (a keyed hash stand-in)."""
    mixed = _mix64(values, salt)
    nibbles = ((mixed[:, None] >> _SHIFTS[None, :]) & np.uint64(0xF)).astype(np.intp)
    chars = np.ascontiguousarray(_HEX[nibbles])
    raw = chars.view("S16").reshape(-1)
    hexes = pa.array(raw, type=pa.binary()).cast(pa.string())
    if not prefix:
        return hexes
    joined = pc.binary_join_element_wise(pa.scalar(prefix), hexes, "")
    return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined
