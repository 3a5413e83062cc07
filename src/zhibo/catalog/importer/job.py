"""Import one file: read it in chunks, one unit of work per chunk, rejects into the report.

Committing per chunk keeps memory and lock times flat on large files; a file interrupted
half-way can simply be imported again, since the upsert is idempotent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import islice

from sqlalchemy.engine import Engine

from zhibo.catalog.importer.readers import Record, Source
from zhibo.catalog.importer.report import RejectReport
from zhibo.catalog.importer.service import Counts, Importer
from zhibo.kit.db import unit_of_work
from zhibo.kit.errors import ZhiboError

#: Rows per chunk (one lookup query, a few bulk writes and a commit each).
CHUNK_ROWS = 2_000


class ImportFailed(ZhiboError):
    """The import stopped part-way (the database refused or went away); the chunks before
    were committed, and importing the file again is safe."""

    status_code = 500


def chunks(records: Iterator[Record], size: int) -> Iterator[list[Record]]:
    while chunk := list(islice(records, size)):
        yield chunk


def run_import(
    engine: Engine,
    source: Source,
    report: RejectReport,
    *,
    create_missing: bool = False,
    chunk_rows: int = CHUNK_ROWS,
    on_chunk: Callable[[tuple[int, int]], None] | None = None,
) -> Counts:
    importer = Importer(create_missing=create_missing)
    counts = Counts()
    for chunk in chunks(iter(source), chunk_rows):
        with unit_of_work(engine) as session:
            result = importer.apply(session, chunk)
        report.write(result.rejects)
        counts.add(result.counts)
        if on_chunk is not None:
            on_chunk(source.progress())
    return counts
