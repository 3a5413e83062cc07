"""Commands that write fixed file names into a folder the user names (``zhibo report --out``,
``zhibo risk scan --out``, ``zhibo simulate --out``) refuse a symbolic link planted where one of
their files goes, instead of overwriting what it points to."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from zhibo.identity.report import Section, write
from zhibo.kit.errors import InvalidInput
from zhibo.kit.files import open_for_writing
from zhibo.risk.scan import write_findings
from zhibo.sim import output


@pytest.fixture
def planted(tmp_path: Path) -> tuple[Path, Path]:
    """An output folder and a precious file elsewhere."""
    out = tmp_path / "out"
    out.mkdir()
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    return out, precious


def test_open_for_writing_refuses_a_link_and_writes_a_plain_file(
    planted: tuple[Path, Path],
) -> None:
    out, precious = planted
    (out / "a.csv").symlink_to(precious)
    with pytest.raises(InvalidInput, match="symbolic link"):
        open_for_writing(out / "a.csv", "--out")
    assert precious.read_text() == "keep me"
    with open_for_writing(out / "b.csv", "--out") as handle:
        handle.write("x,y\n")
    assert (out / "b.csv").read_text() == "x,y\n"


def test_the_report_refuses_a_planted_link(planted: tuple[Path, Path]) -> None:
    out, precious = planted
    (out / "blacklist.csv").symlink_to(precious)
    section = Section("blacklist", "Blacklist", ["id"], [[1]])
    with pytest.raises(InvalidInput, match="--out"):
        write([section], out, date(2026, 11, 1), date(2026, 11, 2))
    assert precious.read_text() == "keep me"


def test_a_risk_scan_refuses_a_planted_link(planted: tuple[Path, Path]) -> None:
    out, precious = planted
    (out / "scan.json").symlink_to(precious)
    with pytest.raises(InvalidInput, match="symbolic link"):
        write_findings([], out, {"rules": "test"})
    assert precious.read_text() == "keep me"


def test_the_simulator_refuses_a_planted_link(planted: tuple[Path, Path]) -> None:
    out, precious = planted
    (out / "manifest.json").symlink_to(precious)
    with pytest.raises(InvalidInput, match="symbolic link"):
        output.write_manifest(out / "manifest.json", {"seed": 1})
    (out / "t.parquet").symlink_to(precious)
    with pytest.raises(InvalidInput, match="symbolic link"):
        output.write(out / "t.parquet", pa.table({"a": [1]}))
    assert precious.read_text() == "keep me"
