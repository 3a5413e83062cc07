"""Pydantic building blocks for API schemas: money, rates and UTC times with their rules."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

#: An amount in fen: a JSON integer (floats refused: 1.5 fen does not exist), never negative.
Fen = Annotated[int, Field(strict=True, ge=0, le=10**15, description="Amount in fen (0.01 CNY)")]
#: A rate in basis points, 0..10000 (100 %).
RateBp = Annotated[int, Field(strict=True, ge=0, le=10_000, description="Basis points, 0..10000")]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 currency code")]


def _aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timezone required (RFC 3339 with Z or an offset)")
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_aware_utc)]


def _social_credit_code(value: str) -> str:
    from stdnum.cn import uscc
    from stdnum.exceptions import ValidationError

    try:
        return str(uscc.validate(value))
    except ValidationError as exc:
        raise ValueError(f"not a valid unified social credit code ({exc})") from exc


#: Unified social credit code (统一社会信用代码) of an organisation, checksum-validated.
SocialCreditCode = Annotated[
    str, Field(min_length=18, max_length=18), AfterValidator(_social_credit_code)
]


class InSchema(BaseModel):
    """Input: unknown fields are refused so a typo is an error, not a silent no-op."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OutSchema(BaseModel):
    model_config = ConfigDict(from_attributes=True)
