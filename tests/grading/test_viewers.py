"""The viewer risk ranking: shared devices, refund abuse, new unverified accounts rank first."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from tests import builders as b
from tests.grading.world import AS_OF, build, sell
from zhibo.grading.viewers import rank_viewers, viewer_features
from zhibo.models import Viewer, ViewerDevice


def test_a_refunding_account_on_a_shared_device_ranks_riskiest(db: Session) -> None:
    world = build(db, [10_000], buyers=3)
    ring = [
        Viewer(
            account_created_at=datetime(2026, 11, 20, tzinfo=UTC),
            real_name_verified=False,
        )
        for _ in range(4)
    ]
    db.add_all(ring)
    db.flush()
    db.add_all(ViewerDevice(viewer_id=v.id, device_id="farm-phone-1") for v in ring)
    sell(db, world, world.streamers[0], 5_000, refunded_fen=5_000, buyer=ring[0])
    honest = b.viewer(db)
    db.flush()
    features = viewer_features(db, AS_OF)
    row = features.filter(features["viewer_id"] == ring[0].id).row(0, named=True)
    assert row["shared_device_accounts"] == 3
    assert row["refund_rate_bp_90d"] == 10_000
    assert row["verified"] == 0
    ranked = rank_viewers(features)
    assert ranked["viewer_id"][0] == ring[0].id
    order = ranked["viewer_id"].to_list()
    assert order.index(ring[1].id) < order.index(honest.id)
    assert ranked["risk_bp"].to_list() == sorted(ranked["risk_bp"].to_list(), reverse=True)
