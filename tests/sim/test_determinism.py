"""Same seed, same bytes; another seed, other data."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq

from tests.sim.helpers import TINY
from zhibo.sim import generate
from zhibo.sim.output import FILES, sha256


def _digests(directory: Path) -> dict[str, str]:
    return {name: sha256(directory / f"{name}.parquet") for name in FILES}


def test_same_seed_writes_identical_files_and_another_seed_does_not(tmp_path: Path) -> None:
    first = generate(5, TINY, tmp_path / "a", progress=False)
    second = generate(5, TINY, tmp_path / "b", progress=False)
    assert first == second
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    assert (tmp_path / "a" / "manifest.json").read_bytes() == (
        tmp_path / "b" / "manifest.json"
    ).read_bytes()

    generate(6, TINY, tmp_path / "c", progress=False)
    a, c = _digests(tmp_path / "a"), _digests(tmp_path / "c")
    # The category tree is fixed; everything else is drawn from the seed.
    assert {name for name in FILES if a[name] != c[name]} == set(FILES) - {"categories"}


def test_manifest_lists_every_file_with_rows_and_digest(small_dir: Path) -> None:
    manifest = json.loads((small_dir / "manifest.json").read_text())
    assert manifest["seed"] == 2021
    assert manifest["scale"] == "small"
    assert manifest["start"] == "2026-11-01"
    assert manifest["days"] == 7
    assert set(manifest["files"]) == {f"{name}.parquet" for name in FILES}
    for file_name, info in manifest["files"].items():
        path = small_dir / file_name
        assert info["sha256"] == sha256(path)
        assert info["rows"] == pq.ParquetFile(path).metadata.num_rows
    # No wall-clock time anywhere in the metadata.
    for name in FILES:
        metadata = pq.ParquetFile(small_dir / f"{name}.parquet").metadata.metadata or {}
        assert set(metadata) <= {b"ARROW:schema"}


def test_start_and_days_options_move_the_window(tmp_path: Path) -> None:
    generate(3, TINY, tmp_path, start=date(2027, 3, 1), days=1, progress=False)
    events = pq.read_table(tmp_path / "events.parquet", columns=["ts"]).column("ts")
    first = events[0].as_py()
    last = events[-1].as_py()
    assert first.date() >= date(2027, 3, 1)
    assert last.date() < date(2027, 3, 2)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert (manifest["start"], manifest["days"], manifest["end"]) == ("2027-03-01", 1, "2027-03-02")
