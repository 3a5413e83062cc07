"""Running the command line as users do: a real ``zhibo`` process per command."""

from __future__ import annotations

import subprocess
import sys


def zhibo(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zhibo.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
