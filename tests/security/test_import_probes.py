"""``zhibo catalog import`` with hostile files: formula cells, NUL bytes, 10 MB fields, many rows,
nested JSON, odd Parquet. Every file is imported or refused cleanly (exit 0 or 2, a message,
no traceback), bad rows land in the reject report with formulas marked as text, and nothing is
written anywhere but the reject report beside the file (or through a planted symlink)."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from tests import builders as b
from zhibo.catalog.cli import catalog_app
from zhibo.config import get_settings
from zhibo.kit import migrate
from zhibo.kit.db import clear_engines, make_engine, session_factory

FORMULA = "=cmd|' /C calc'!A0"
HEADER = ["product_id", "brand", "category", "title", "price_fen", "commission_rate_bp", "stock"]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A migrated SQLite database with brand Acme and category beauty, as the CLI's settings;
    the files go to ``tmp_path/in``."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    with session_factory(engine)() as session:
        b.brand(session, name="Acme")
        b.category(session, name="beauty")
        session.commit()
    engine.dispose()
    monkeypatch.setenv("ZHIBO_DATABASE_URL", url)
    monkeypatch.setenv("ZHIBO_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    folder = tmp_path / "in"
    folder.mkdir()
    yield folder
    get_settings.cache_clear()
    clear_engines()


def _import(path: Path, *options: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(catalog_app, ["import", str(path), "--json", *options])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    return result.exit_code, result.stdout, result.stderr


def _files(folder: Path) -> set[str]:
    """Every file under the test's folder but the database's."""
    return {
        str(p.relative_to(folder.parent))
        for p in folder.parent.rglob("*")
        if p.is_file() and not p.name.startswith("cli.db")
    }


def _report(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_hostile_csv_cells_are_refused_or_kept_as_text(workdir: Path) -> None:
    path = workdir / "hostile.csv"
    rows = [
        HEADER,
        ["ok-1", "Acme", "beauty", FORMULA, "100", "100", "1"],  # a formula is only a title
        ["bad-1", "Acme", "beauty", "Cream", FORMULA, "100", "1"],  # a formula as a price
        ["bad-2", '=HYPERLINK("http://evil")', "beauty", "Cream", "100", "100", "1"],
        ["bad-3", "Acme", "beauty", "Cre\x00am", "100", "100", "1"],  # NUL
        ["bad-4", "Acme", "../../etc/passwd", "Cream", "100", "100", "1"],
        ["bad-5'; DROP TABLE products; --", "Acme", "beauty", "x" * 600, "100", "100", "1"],
        ["bad-6", "Acme", "beauty", "Cream", "-100", "100", "1"],
    ]
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    # A 10 MB field: past the CSV reader's field limit, its row is refused as a whole.
    with path.open("a", encoding="utf-8") as handle:
        handle.write("bad-7,Acme,beauty," + "y" * 10_000_000 + ",100,100,1\n")
    before = _files(workdir)
    code, out, err = _import(path)
    assert code == 0, err
    assert json.loads(out) == {"imported": 1, "updated": 0, "unchanged": 0, "rejected": 7}
    assert _files(workdir) - before == {"in/hostile.rejects.csv"}
    report = _report(workdir / "hostile.rejects.csv")
    values = {line["field"]: line["value"] for line in report}
    # Formulas come back marked as text; plain negative numbers stay numbers.
    assert values["price_fen"] in ("'" + FORMULA, "-100")
    assert all(not v.startswith(("=", "+", "@")) for v in values.values())
    assert any(line["value"] == "-100" for line in report)
    assert any("\\x00" in line["value"] for line in report)
    assert all(len(line["value"]) <= 201 for line in report)
    assert any(line["field"] == "_row" and "larger than" in line["reason"] for line in report)
    assert os.path.getsize(workdir / "hostile.rejects.csv") < 20_000


def test_hostile_json_lines_are_refused_row_by_row(workdir: Path) -> None:
    path = workdir / "hostile.jsonl"
    nested = "[" * 5_000 + '"x"' + "]" * 5_000  # deeper than the JSON parsers' limits
    lines = [
        json.dumps(
            dict(zip(HEADER, ["ok-1", "Acme", "beauty", "Cream", 100, 100, 1], strict=True))
        ),
        '{"product_id": "n", "brand": "Acme", "category": "beauty", "title": ' + nested + "}",
        json.dumps({"product_id": 10**40, "brand": "Acme", "price_fen": 10**40}),
        json.dumps({"__proto__": {"admin": True}, "product_id": "p", "constructor": 1}),
        '{"product_id": "half',
        "\x00\x00\x00",
        json.dumps({"product_id": "nul\x00", "brand": "Acme", "title": "t\x00"}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, out, err = _import(path)
    assert code == 0, err
    assert json.loads(out)["imported"] == 1
    assert json.loads(out)["rejected"] == len(lines) - 1


def test_hostile_parquet_is_refused_row_by_row(workdir: Path) -> None:
    path = workdir / "hostile.parquet"
    table = pa.table(
        {
            "product_id": ["ok-1", "bad-1", "bad-2", "bad-3"],
            "brand": ["Acme", "Acme", "@SUM(1+1)*cmd|' /C calc'!A0", "Acme"],
            "category": ["beauty", "beauty", "beauty", "/etc/passwd"],
            "title": ["Cream", "z" * 2_000_000, "Cream", "\x00"],
            "price_fen": [100, -1, 100, 100],
            "commission_rate_bp": [100, 100, 100, 100],
            "stock": [1, 1, 1, 1],
        }
    )
    pq.write_table(table, path)
    code, out, err = _import(path)
    assert code == 0, err
    assert json.loads(out) == {"imported": 1, "updated": 0, "unchanged": 0, "rejected": 3}
    values = [line["value"] for line in _report(workdir / "hostile.rejects.csv")]
    assert "'@SUM(1+1)*cmd|' /C calc'!A0" in values


def test_a_huge_row_count_streams_in_bounded_chunks(workdir: Path) -> None:
    path = workdir / "many.csv"
    with path.open("w", encoding="utf-8") as handle:
        handle.write(",".join(HEADER) + "\n")
        for i in range(40_000):
            handle.write(f"m{i},Nobody,beauty,T,100,100,1\n")
    code, out, err = _import(path, "--chunk-rows", "5000")
    assert code == 0, err
    assert json.loads(out)["rejected"] == 40_000
    assert sum(1 for _ in (workdir / "many.rejects.csv").open()) == 40_001


def test_the_reject_report_is_not_written_through_a_planted_symlink(workdir: Path) -> None:
    victim = workdir.parent / "victim.txt"
    victim.write_text("precious\n", encoding="utf-8")
    path = workdir / "p.csv"
    path.write_text(",".join(HEADER) + "\nx,Nobody,beauty,T,100,100,1\n", encoding="utf-8")
    (workdir / "p.rejects.csv").symlink_to(victim)
    code, _out, err = _import(path)
    assert code == 2
    assert "UnwritableReport" in err and "symbolic link" in err
    assert victim.read_text(encoding="utf-8") == "precious\n"
    code, _out, err = _import(path, "--rejects", str(workdir / "p.rejects.csv"))
    assert code == 2
    assert victim.read_text(encoding="utf-8") == "precious\n"


@pytest.mark.parametrize("target", ["/etc/passwd", "/proc/self/environ"])
def test_a_system_file_is_not_importable(workdir: Path, target: str) -> None:
    if not Path(target).exists():
        pytest.skip(f"{target} does not exist here")
    link = workdir / "products.csv"
    link.symlink_to(target)
    code, out, err = _import(link)
    assert code == 2, (out, err)
    assert out == ""
    assert "MissingColumns" in err or "UnreadableFile" in err
