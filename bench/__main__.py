"""Run every benchmark module in this folder (or those named on the command line)."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path


def main(names: list[str]) -> int:
    here = Path(__file__).parent
    modules = sorted(
        info.name
        for info in pkgutil.iter_modules([str(here)])
        if not info.name.startswith("_") and info.name != "common"
    )
    selected = [name for name in modules if not names or name in names]
    for name in selected:
        print(f"\n=== bench/{name}.py ===", flush=True)
        started = time.monotonic()
        module = importlib.import_module(f"bench.{name}")
        module.main()
        print(f"--- {name}: {time.monotonic() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
