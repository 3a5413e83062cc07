"""Viewer events through HTTP batch ingestion: ``zhibo serve`` (one process, embedded bus,
SQLite) receiving the simulated week through the client SDK's Arrow IPC fast path, in requests
of 50,000 events; each request is validated (IP hashing included), published, applied to
metrics and lake and committed before it is answered. The same events as NDJSON (100,000 rows
per request... of the first 200,000 events) show what JSON decoding costs. Baseline in the same
run: the plain Python dict loop of ``bench/events_pipeline.py`` (orjson + counting)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson
import pyarrow.parquet as pq

from zhibo.client import ZhiboClient
from zhibo.sim.generator import generate

ROWS_PER_REQUEST = 50_000


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="zhibo-bench-http-") as tmp:
        folder = Path(tmp)
        generate(seed=3, scale="small", out=folder / "sim", progress=False)
        events = pq.read_table(folder / "sim" / "events.parquet").drop(["currency"])
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("ZHIBO_")},
            "ZHIBO_DATABASE_URL": f"sqlite:///{folder / 'zhibo.db'}",
            "ZHIBO_DATA_DIR": str(folder / "data"),
            "ZHIBO_MAX_REQUEST_BYTES": str(64 * 1024 * 1024),
            "POLARS_MAX_THREADS": "1",
        }
        zhibo = str(Path(sys.executable).parent / "zhibo")
        token = subprocess.run(
            [zhibo, "token", "create", "--role", "operator"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        port = _free_port()
        server = subprocess.Popen(
            [zhibo, "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    httpx.get(f"{base}/healthz", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            with ZhiboClient(base, token=token, timeout=300) as client:
                started = time.perf_counter()
                result = client.send_events(events, rows_per_request=ROWS_PER_REQUEST)
                arrow_s = time.perf_counter() - started
                assert result["accepted"] == events.num_rows, result
                print(
                    f"HTTP Arrow IPC, {events.num_rows:,} events in requests of "
                    f"{ROWS_PER_REQUEST:,}: {events.num_rows / arrow_s:,.0f} events/s "
                    f"({arrow_s:.1f} s, one server process)"
                )
                again_started = time.perf_counter()
                again = client.send_events(events, rows_per_request=ROWS_PER_REQUEST)
                again_s = time.perf_counter() - again_started
                assert again["duplicates"] == events.num_rows
                print(f"HTTP Arrow IPC, all duplicates: {events.num_rows / again_s:,.0f} events/s")
                sample = events.slice(0, 200_000).to_pylist()
                for row in sample:
                    row["ts"] = int(row["ts"].timestamp() * 1000)
                    row["event_id"] = "j" + row["event_id"]
                bodies = [
                    b"\n".join(orjson.dumps(row) for row in sample[i : i + 100_000])
                    for i in range(0, len(sample), 100_000)
                ]
                started = time.perf_counter()
                for body in bodies:
                    response = client.http.post(
                        "/v1/events",
                        content=body,
                        headers={**client.headers, "Content-Type": "application/x-ndjson"},
                    )
                    response.raise_for_status()
                ndjson_s = time.perf_counter() - started
                print(
                    f"HTTP NDJSON, {len(sample):,} events: {len(sample) / ndjson_s:,.0f} events/s"
                )
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
