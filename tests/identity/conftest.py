"""Identity tests: a fresh identity key and data directory per test, settings re-read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from stdnum.cn import ric

from zhibo.config import get_settings
from zhibo.identity.crypto import new_key


def make_id(birth: str, region: str = "110101", sequence: str = "123") -> str:
    """A well-formed number for a made-up person: the check digit is computed, not copied."""
    body = region + birth + sequence
    return body + ric.calc_check_digit(body + "0")


@pytest.fixture(autouse=True)
def identity_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("ZHIBO_IDENTITY_KEY", new_key())
    monkeypatch.setenv("ZHIBO_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Set ``ZHIBO_<NAME>`` settings for one test."""

    def apply(**values: object) -> None:
        for name, value in values.items():
            monkeypatch.setenv(f"ZHIBO_{name.upper()}", str(value))
        get_settings.cache_clear()

    return apply
