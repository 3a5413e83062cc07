"""A 3-node NATS JetStream cluster on loopback ports, zhibo's stream replicated on all three
(``ZHIBO_BUS_REPLICAS=3``), API and pipeline worker given the three URLs: the node leading the
stream is killed (SIGKILL) while events flow, and every accepted event still ends up exactly
once in the lake and the metrics, with no zhibo process restarted."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.production.faults.conftest import (
    NatsCluster,
    Processes,
    assert_exactly_once,
    seed,
    stack_env,
    start_stack,
)
from tests.production.faults.load import Load
from zhibo.kit.bus import STREAM_NAME
from zhibo.kit.db import make_engine


async def stream_state(cluster: NatsCluster) -> tuple[str, int]:
    """The stream's leader node and its replica count."""
    import nats

    connection = await nats.connect(cluster.url.split(","))
    try:
        info = await connection.jetstream().stream_info(STREAM_NAME)
        assert info.cluster is not None
        return str(info.cluster.leader), int(info.config.num_replicas or 1)
    finally:
        await connection.close()


@pytest.mark.postgres
@pytest.mark.timeout(90)
def test_a_nats_node_stops_while_events_flow(
    shared_pg_url: str, nats_cluster: NatsCluster, processes: Processes, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    env = stack_env(shared_pg_url, nats_cluster.url, data_dir, ZHIBO_BUS_REPLICAS="3")
    engine = make_engine(shared_pg_url)
    try:
        target = seed(engine)
        base_url, api, worker = start_stack(processes, env, api_workers=1)
        stopped: list[str] = []

        async def kill_the_stream_leader() -> None:
            leader, replicas = await stream_state(nats_cluster)
            assert replicas == 3
            node = nats_cluster.nodes[int(leader.removeprefix("node"))]
            node.kill()
            await asyncio.to_thread(node.wait)
            stopped.append(leader)

        load = Load(base_url, target, orders_wanted=0, batches=40)
        asyncio.run(load.run(kill_the_stream_leader))

        leader, _ = asyncio.run(stream_state(nats_cluster))
        assert leader != stopped[0], "the stream did not elect a new leader"
        assert api.poll() is None, processes.log("api")
        assert worker.poll() is None, processes.log("worker")
        assert_exactly_once(engine, data_dir, load)
    finally:
        engine.dispose()
