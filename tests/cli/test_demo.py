"""``zhibo demo`` end to end, as a user runs it: a fresh directory, a real process, a real port."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_demo_serves_a_populated_api(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHIBO_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "zhibo.cli", "demo", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        token = None
        deadline = time.monotonic() + 180
        for line in process.stdout:
            found = re.match(r"demo token \(operator\): (zb_\S+)", line)
            if found:
                token = found.group(1)
                break
            assert time.monotonic() < deadline, "demo set-up took over 3 minutes"
        assert token, "the demo printed no token"
        base = f"http://127.0.0.1:{port}"
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the API did not come up"
            time.sleep(0.2)
        headers = {"Authorization": f"Bearer {token}"}
        orders = httpx.get(f"{base}/v1/orders?limit=5", headers=headers, timeout=10)
        assert orders.status_code == 200, orders.text
        assert len(orders.json()["items"]) == 5
        products = httpx.get(f"{base}/v1/products?limit=5", headers=headers, timeout=10)
        assert products.status_code == 200 and len(products.json()["items"]) == 5
        assert httpx.get(f"{base}/v1/orders", timeout=10).status_code == 401
        assert (tmp_path / "var" / "demo" / "zhibo.db").exists()
    finally:
        process.terminate()
        process.wait(timeout=30)
