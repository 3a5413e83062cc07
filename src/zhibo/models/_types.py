"""Column helpers shared by the models."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Enum, String

from zhibo.kit.db import BigId

__all__ = ["BigId", "Currency", "enum_column"]

#: ISO 4217 code stored beside every money column.
Currency = String(3)


def enum_column(enum_cls: type[StrEnum], name: str) -> Enum:
    """A VARCHAR holding the enum's *values*, with a CHECK constraint on every database."""
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=24,
        validate_strings=True,
        values_callable=lambda members: [member.value for member in members],
    )
