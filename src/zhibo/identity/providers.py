"""Verification providers: who confirms, before each session goes live, that the person
behind a streamer account is who they registered as. One protocol, chosen by the setting
``ZHIBO_IDENTITY_PROVIDER``: ``attestation`` (built in: an operator's recorded attestation
that they checked the person's ID document) or ``test`` (answers what a test tells it to).
The same providers confirm viewers' real-name verification (``verify_viewer``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhibo.config import Settings, get_settings
from zhibo.models import Streamer, Viewer
from zhibo.models.identity import CheckPurpose, IdentityCheck


@dataclass(frozen=True, slots=True)
class ProviderAnswer:
    passed: bool
    reason: str = ""
    #: What the provider relied on (e.g. the attestation's check id); stored with the check.
    evidence: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PersonClaim:
    """Who a viewer says they are, as a provider may check it: never kept, never logged (the
    clear number is excluded from ``repr``)."""

    id_number: str = field(repr=False)
    birth_date: date
    real_name: str | None = field(default=None, repr=False)
    #: The operator who checked the person against the document (``None``: the viewer's own
    #: submission).
    attested_by: str | None = None
    document_ref: str | None = None


class VerificationProvider(Protocol):
    name: str

    def verify(self, session: Session, streamer: Streamer, at: datetime) -> ProviderAnswer:
        """Whether the identity behind ``streamer`` is confirmed at ``at``."""
        ...

    def verify_viewer(
        self, session: Session, viewer: Viewer, claim: PersonClaim, at: datetime
    ) -> ProviderAnswer:
        """Whether ``claim`` is the real identity of the person behind ``viewer``."""
        ...


class AttestationProvider:
    """Passes while the streamer's latest registration check is a passed operator attestation.

    Streamers verified before identity records existed (``verified_at`` set, loaded or
    registered earlier) count as attested at ``verified_at``.
    """

    name = "attestation"

    def verify(self, session: Session, streamer: Streamer, at: datetime) -> ProviderAnswer:
        latest = session.scalar(
            select(IdentityCheck)
            .where(
                IdentityCheck.streamer_id == streamer.id,
                IdentityCheck.purpose == CheckPurpose.REGISTRATION,
                IdentityCheck.checked_at <= at,
            )
            .order_by(IdentityCheck.checked_at.desc(), IdentityCheck.id.desc())
            .limit(1)
        )
        if latest is not None:
            if latest.passed and latest.attested_by:
                return ProviderAnswer(True, evidence={"attestation_check_id": latest.id})
            return ProviderAnswer(
                False,
                f"the latest identity verification (check {latest.id}) did not pass",
                {"attestation_check_id": latest.id},
            )
        if streamer.verified_at is not None:
            return ProviderAnswer(True, evidence={"verified_at": streamer.verified_at.isoformat()})
        return ProviderAnswer(False, "no operator attestation of the real-name identity")

    def verify_viewer(
        self, session: Session, viewer: Viewer, claim: PersonClaim, at: datetime
    ) -> ProviderAnswer:
        """An operator's attestation (who checked the document, and its reference) passes. A
        viewer's own submission passes on the number's own checks (check digit, region, birth
        date): this built-in provider has no register to compare the person with, so a
        deployment that lets viewers verify themselves plugs in a real-name service."""
        if claim.attested_by:
            if not claim.document_ref:
                return ProviderAnswer(False, "an attestation names the checked document")
            return ProviderAnswer(
                True,
                evidence={
                    "basis": "operator attestation",
                    "attested_by": claim.attested_by,
                    "document_ref": claim.document_ref,
                },
            )
        return ProviderAnswer(
            True, evidence={"basis": "number checks (check digit, region, birth date)"}
        )


@dataclass
class TestProvider:
    """Answers ``failures[streamer_id]`` (``viewer_failures[viewer_id]`` for viewers) as a
    failure reason, and passes everyone else."""

    __test__ = False  # not a pytest test class

    name: str = "test"
    failures: dict[int, str] = field(default_factory=dict)
    calls: list[int] = field(default_factory=list)
    viewer_failures: dict[int, str] = field(default_factory=dict)
    viewer_calls: list[int] = field(default_factory=list)

    def verify_viewer(
        self, session: Session, viewer: Viewer, claim: PersonClaim, at: datetime
    ) -> ProviderAnswer:
        self.viewer_calls.append(viewer.id)
        reason = self.viewer_failures.get(viewer.id)
        return ProviderAnswer(reason is None, reason or "")

    def verify(self, session: Session, streamer: Streamer, at: datetime) -> ProviderAnswer:
        self.calls.append(streamer.id)
        reason = self.failures.get(streamer.id)
        return ProviderAnswer(reason is None, reason or "")


_test_provider = TestProvider()
_override: VerificationProvider | None = None


def provider_for(settings: Settings | None = None) -> VerificationProvider:
    if _override is not None:
        return _override
    settings = settings or get_settings()
    if settings.identity_provider == "test":
        return _test_provider
    return AttestationProvider()


@contextmanager
def using(provider: VerificationProvider) -> Iterator[VerificationProvider]:
    """Use ``provider`` for the block (tests)."""
    global _override
    previous, _override = _override, provider
    try:
        yield provider
    finally:
        _override = previous
