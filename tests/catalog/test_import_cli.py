"""``zhibo catalog import`` as users call it: one JSON object on stdout, the reject report beside
the file, exit 2 with ``Name: detail`` for unusable input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests import builders as b
from tests.processes import zhibo
from zhibo.catalog.cli import catalog_app
from zhibo.kit import migrate
from zhibo.kit.db import make_engine, session_factory

HEADER = (
    "sku,brand,category,title,description,price_fen,reference_price_fen,"
    "commission_rate_bp,stock,notes"
)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    with session_factory(engine)() as session:
        b.brand(session, name="Acme")
        b.category(session, name="skincare", parent=b.category(session, name="beauty"))
        session.commit()
    engine.dispose()
    return {**os.environ, "ZHIBO_DATABASE_URL": url, "ZHIBO_DATA_DIR": str(tmp_path / "data")}


def test_import_prints_exactly_the_counts_and_writes_the_report(
    env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "products.csv"
    lines = [
        HEADER,
        "A1,Acme,beauty/skincare,Cream,,9900,,2000,5,hello",
        "A2,Acme,beauty/skincare,Serum,,12.5,,2000,5,",
        "A3,Nobody,beauty/skincare,Toner,,100,,2000,5,",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args = ("catalog", "import", str(path), "--map", "sku=product_id", "--json")
    first = zhibo(*args, env=env)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {"imported": 1, "updated": 0, "unchanged": 0, "rejected": 2}
    assert first.stdout.count("\n") == 1  # one JSON object, nothing else
    assert "notes" in first.stderr  # the ignored column is named
    report = (tmp_path / "products.rejects.csv").read_text(encoding="utf-8").splitlines()
    assert report == [
        "row,field,reason,value",
        "2,price_fen,must be an integer number of fen,12.5",
        "3,brand,no brand with id or name 'Nobody',Nobody",
    ]

    custom = tmp_path / "out" / "r.csv"
    custom.parent.mkdir()
    second = zhibo(*args[:-1], "--rejects", str(custom), env=env)  # and without --json
    assert second.returncode == 0, second.stderr
    assert second.stdout == "imported 0, updated 0, unchanged 1, rejected 2\n"
    assert custom.read_text(encoding="utf-8").splitlines() == report


def test_unusable_input_exits_2_with_name_and_detail(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "thin.csv"
    path.write_text("product_id,brand\nA1,Acme\n", encoding="utf-8")
    result = zhibo("catalog", "import", str(path), "--json", env=env)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "MissingColumns: thin.csv: missing required field(s): category, title" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "thin.rejects.csv").exists()


@pytest.mark.parametrize(
    ("name", "content", "options", "message"),
    [
        ("absent.csv", None, [], "MissingFile: "),
        ("products.xlsx", "x", [], "UnsupportedFormat: products.xlsx: unknown format '.xlsx'"),
        ("p.csv", HEADER, ["--map", "sku"], "BadMapping: --map: 'sku' is not FILE_COLUMN=FIELD"),
        ("p.csv", HEADER, ["--map", "sku=code"], "UnknownField: --map: 'code' is not an import"),
        ("p.csv", HEADER, [], "MissingColumns: p.csv: missing required field(s): product_id"),
        ("p.csv", "", [], "UnreadableFile: p.csv: empty file"),
        ("p.parquet", "PAR1", [], "UnreadableFile: p.parquet: not a readable Parquet file"),
        ("[bold]x[/].csv", None, [], "[bold]x[/].csv: no such file"),  # no markup
    ],
)
def test_unusable_input_is_refused_in_process(
    tmp_path: Path, name: str, content: str | None, options: list[str], message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")
    result = CliRunner().invoke(catalog_app, ["import", str(path), *options, "--json"])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.stderr.split())
    assert result.stdout == ""


def test_rejects_may_not_overwrite_the_input(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text(HEADER.replace("sku", "product_id") + "\n", encoding="utf-8")
    result = CliRunner().invoke(catalog_app, ["import", str(path), "--rejects", str(path)])
    assert result.exit_code == 2
    assert "UnwritableReport" in result.stderr
    assert path.read_text(encoding="utf-8").startswith("product_id")
