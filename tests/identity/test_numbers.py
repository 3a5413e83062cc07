from __future__ import annotations

import json
from datetime import date

import pytest
from typer.testing import CliRunner

from tests.identity.conftest import make_id
from zhibo.cli import app
from zhibo.identity.numbers import (
    InvalidCreditCode,
    InvalidPhone,
    age_on,
    check_id_number,
    normalise_phone,
    validate_credit_code,
)

TODAY = date(2026, 11, 26)


def test_a_computed_number_is_valid_with_birth_date_and_age() -> None:
    result = check_id_number(make_id("19900101"), TODAY)
    assert result.valid and result.birth_date == date(1990, 1, 1) and result.age == 36
    assert result.region_code == "110101"


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        (make_id("19900101")[:-1] + ("0" if make_id("19900101")[-1] != "0" else "1"), "check"),
        (make_id("19900230"), "birth date does not exist"),
        (make_id("19901301"), "birth date does not exist"),
        (make_id("19900101", region="999999"), "region"),
        (make_id("20300101"), "future"),
        ("11010119900101123", "length"),
        ("11010119900101ABCD", "format"),
    ],
)
def test_invalid_numbers_say_why_without_the_number(number: str, reason: str) -> None:
    result = check_id_number(number, TODAY)
    assert not result.valid
    assert result.reason is not None and reason in result.reason
    assert number not in result.reason


def test_age_counts_whole_years_and_leap_birthdays() -> None:
    assert age_on(date(2010, 11, 26), TODAY) == 16
    assert age_on(date(2010, 11, 27), TODAY) == 15
    assert age_on(date(2008, 2, 29), date(2026, 2, 28)) == 17
    assert age_on(date(2008, 2, 29), date(2026, 3, 1)) == 18


def _check(*args: str) -> dict[str, object]:
    result = CliRunner().invoke(app, ["identity", "check-id", *args, "--json"])
    assert result.exit_code == 0, result.output
    out: dict[str, object] = json.loads(result.stdout)
    assert set(out) == {"valid", "birth_date", "age", "reason"}
    return out


def test_cli_check_id_prints_exactly_the_four_keys() -> None:
    assert _check(make_id("19900101"), "--as-of", "2026-11-26") == {
        "valid": True,
        "birth_date": "1990-01-01",
        "age": 36,
        "reason": None,
    }
    bad = _check(make_id("19900230"), "--as-of", "2026-11-26")
    assert bad["valid"] is False and bad["reason"] == "birth date does not exist"


def test_cli_streamer_age_rule_under_16_and_16_17_with_and_without_consent() -> None:
    under = _check(make_id("20101127"), "--as-of", "2026-11-26", "--streamer")
    assert under["valid"] is False and under["age"] == 15 and "16" in str(under["reason"])
    sixteen = make_id("20101126")
    assert _check(sixteen, "--as-of", "2026-11-26", "--streamer")["valid"] is False
    assert _check(sixteen, "--as-of", "2026-11-26", "--streamer", "--consent")["valid"] is True
    assert _check(make_id("20081126"), "--as-of", "2026-11-26", "--streamer")["valid"] is True


def test_phones_and_credit_codes() -> None:
    assert normalise_phone("+86 138-1234-5678") == "13812345678"
    for bad in ("12812345678", "1381234567", "phone"):
        with pytest.raises(InvalidPhone):
            normalise_phone(bad)
    assert validate_credit_code("91110000600037341L") == "91110000600037341L"
    with pytest.raises(InvalidCreditCode):
        validate_credit_code("91110000600037341X")
