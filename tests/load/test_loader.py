"""``zhibo load``: a simulated platform lands whole, idempotently, with personal data hashed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

from zhibo.load.service import SPECS, BadFile, MissingFile, load_directory
from zhibo.sim.generator import generate
from zhibo.sim.scales import Scale

TINY = Scale(
    name="tiny",
    products=600,
    brands=40,
    streamers=24,
    partners=4,
    viewers=2_000,
    days=2,
    events_target=30_000,
    tactic_factor=0.3,
)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("platform")
    generate(seed=11, scale=TINY, out=out, progress=False)
    return out


def file_rows(directory: Path, name: str) -> int:
    return int(pq.ParquetFile(directory / name).metadata.num_rows)


def test_load_is_complete_and_idempotent(engine: Engine, platform: Path) -> None:
    first = load_directory(engine, platform, progress=False)
    for spec in SPECS:
        if (platform / spec.file).exists():
            assert first[spec.table.name] == file_rows(platform, spec.file), spec.file
    again = load_directory(engine, platform, progress=False)
    assert again == first


def test_personal_data_is_hashed_and_masked(engine: Engine, platform: Path) -> None:
    load_directory(engine, platform, progress=False)
    clear = pq.read_table(
        platform / "streamers.parquet", columns=["id_number", "phone", "real_name"]
    ).to_pylist()
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM streamers")).mappings().all()
    dumped = " ".join(str(value) for row in rows for value in row.values())
    for person in clear:
        assert person["id_number"] not in dumped
        assert person["phone"] not in dumped
    assert all(row["id_number_masked"].count("*") == 10 for row in rows)


def test_new_rows_get_ids_after_loaded_ones(engine: Engine, platform: Path) -> None:
    from tests import builders as b
    from zhibo.kit.db import session_factory
    from zhibo.models import Brand

    load_directory(engine, platform, progress=False)
    with session_factory(engine)() as session:
        highest = session.scalar(select(func.max(Brand.id)))
        brand = b.brand(session)
        session.commit()
        assert highest is not None and brand.id > highest


def test_a_refused_file_leaves_the_database_untouched(
    engine: Engine, platform: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(platform, broken)
    orders = pq.read_table(broken / "orders.parquet")
    amounts = orders.column("amount_fen").to_pylist()
    amounts[0] = -100
    index = orders.schema.get_field_index("amount_fen")
    orders = orders.set_column(index, "amount_fen", pa.array(amounts, pa.int64()))
    pq.write_table(orders, broken / "orders.parquet")
    with pytest.raises(BadFile, match=r"orders\.parquet"):
        load_directory(engine, broken, progress=False)
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT COUNT(*) FROM products")) == 0


def test_missing_files_are_named(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(MissingFile, match=r"categories\.parquet"):
        load_directory(engine, tmp_path, progress=False)
