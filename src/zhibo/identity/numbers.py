"""Identity numbers: resident identity numbers (python-stdnum ``cn.ric``: length, checksum,
region and birth date), unified social credit codes (``cn.uscc``) and mainland mobile phone
numbers, and ages from birth dates. Reasons never repeat the number itself."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from stdnum.cn import ric, uscc
from stdnum.exceptions import (
    InvalidChecksum,
    InvalidComponent,
    InvalidFormat,
    InvalidLength,
    ValidationError,
)

from zhibo.kit.errors import InvalidInput

#: Mainland mobile numbers: 11 digits starting 13-19, optionally written with +86 / 86.
_MOBILE = re.compile(r"^(?:\+?86)?(1[3-9]\d{9})$")


class InvalidIdNumber(InvalidInput):
    """Not a valid resident identity number (the detail says why, never the number)."""


class InvalidPhone(InvalidInput):
    """Not a mainland mobile phone number."""


class InvalidCreditCode(InvalidInput):
    """Not a valid unified social credit code."""


@dataclass(frozen=True, slots=True)
class IdCheck:
    valid: bool
    number: str | None = None
    birth_date: date | None = None
    age: int | None = None
    region_code: str | None = None
    reason: str | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "valid": self.valid,
            "birth_date": self.birth_date.isoformat() if self.birth_date else None,
            "age": self.age,
            "reason": self.reason,
        }


def age_on(birth: date, day: date) -> int:
    """Whole years from ``birth`` to ``day`` (a 29 February birthday counts on 1 March in
    other years)."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def check_id_number(number: str, as_of: date) -> IdCheck:
    """Validate a resident identity number as of ``as_of``; never raises."""
    compact = ric.compact(number or "")
    reason: str | None = None
    try:
        ric.validate(compact)
    except InvalidLength:
        reason = "wrong length: 18 characters required"
    except InvalidFormat:
        reason = "wrong format: 17 digits and a check digit (0-9 or X) required"
    except InvalidChecksum:
        reason = "check digit does not match"
    except InvalidComponent:
        # Either the date does not exist or the region code was not in use.
        try:
            ric.get_birth_date(compact)
        except (InvalidComponent, ValueError):
            reason = "birth date does not exist"
        else:
            reason = "unknown region code for the birth year"
    except ValidationError as exc:  # pragma: no cover - stdnum's other errors
        reason = f"invalid ({exc})"
    if reason is not None:
        return IdCheck(valid=False, reason=reason)
    birth = ric.get_birth_date(compact)
    if birth > as_of:
        return IdCheck(valid=False, birth_date=birth, reason="birth date is in the future")
    return IdCheck(
        valid=True,
        number=compact,
        birth_date=birth,
        age=age_on(birth, as_of),
        region_code=compact[:6],
    )


def validate_id_number(number: str, as_of: date, field: str = "id_number") -> IdCheck:
    """Like ``check_id_number`` but raises ``InvalidIdNumber`` naming ``field``."""
    result = check_id_number(number, as_of)
    if not result.valid:
        raise InvalidIdNumber(f"{field}: not a valid resident identity number ({result.reason})")
    return result


def normalise_phone(phone: str, field: str = "phone") -> str:
    """``+86 138-1234-5678`` → ``13812345678``; anything else raises ``InvalidPhone``."""
    digits = re.sub(r"[\s\-()]", "", phone or "")
    match = _MOBILE.match(digits)
    if match is None:
        raise InvalidPhone(f"{field}: not a mainland mobile number (11 digits starting 13-19)")
    return match.group(1)


def validate_credit_code(code: str, field: str = "social_credit_code") -> str:
    try:
        return str(uscc.validate(code))
    except ValidationError as exc:
        raise InvalidCreditCode(
            f"{field}: not a valid unified social credit code ({exc})"
        ) from None
