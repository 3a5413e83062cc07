"""What comes in and out of accounts. Personal data goes in clear and comes out masked."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field, field_validator

from zhibo.kit.schemas import InSchema, OutSchema, RateBp, SocialCreditCode
from zhibo.models.partner import PartnerKind
from zhibo.models.streamer import StreamerStatus


class PartnerCreate(InSchema):
    name: str = Field(min_length=1, max_length=200)
    kind: PartnerKind
    social_credit_code: SocialCreditCode | None = None


class PartnerOut(OutSchema):
    id: int
    name: str
    kind: PartnerKind
    social_credit_code: str | None
    created_at: datetime


class StreamerCreate(InSchema):
    display_name: str = Field(min_length=1, max_length=100)
    real_name: str | None = Field(default=None, min_length=1, max_length=50)
    #: Resident identity number (18 characters); stored only hashed and masked.
    id_number: str | None = Field(default=None, min_length=18, max_length=18)
    phone: str | None = Field(default=None, pattern=r"^1[3-9]\d{9}$")
    partner_id: int | None = None
    partner_share_bp: RateBp | None = None
    is_virtual: bool = False

    @field_validator("id_number")
    @classmethod
    def _valid_id(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from stdnum.cn import ric
        from stdnum.exceptions import ValidationError

        try:
            return str(ric.validate(value))
        except ValidationError as exc:
            # The message must never echo the number itself.
            raise ValueError(f"not a valid resident identity number ({exc})") from None


class StreamerOut(OutSchema):
    id: int
    display_name: str
    real_name_masked: str | None
    id_number_masked: str | None
    phone_masked: str | None
    birth_date: date | None
    partner_id: int | None
    status: StreamerStatus
    is_virtual: bool
    followers: int
    verified_at: datetime | None
    created_at: datetime


class ViewerOut(OutSchema):
    id: int
    account_created_at: datetime
    real_name_verified: bool
    is_minor: bool
