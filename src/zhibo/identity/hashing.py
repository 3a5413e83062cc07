"""The keyed hashes identity matches on: the same purposes accounts registration uses, so a
hash made here matches the one on a streamer row."""

from __future__ import annotations

from zhibo.kit.hashing import keyed_hash


def id_number_hash(id_number: str) -> str:
    return keyed_hash(id_number.strip().upper(), purpose="resident-id")


def phone_hash(phone: str) -> str:
    return keyed_hash(phone.strip(), purpose="phone")


def device_hash(device_id: str) -> str:
    return keyed_hash(device_id, purpose="device")
