"""Product-pool search at scale: index build rate, bytes per product, query latency per query
kind, resident memory, and queries/s with 2 worker processes.

`make bench` runs it at 1M products (quick). The big runs:

    .venv/bin/python -m bench.catalog_search --products 10000000
    .venv/bin/python -m bench.catalog_search --products 100000000 --work /var/tmp/zhibo-pool

Method: products come from the simulator's vocabulary (``zhibo.sim.pool``), generated into
Parquet shards first (not timed), then indexed through ``ProductIndex.add_table`` with one
Tantivy indexing thread (timed: wall and process CPU). Queries run in a fresh process that
opens the index, one query at a time on one thread: ``WARMUP`` unmeasured queries, then
``QUERIES`` per kind, drawn from the pool's own words so most have hits. The baseline is the
same query answered without an index (a Polars scan of the Parquet shards), measured in the same
run on a few queries per kind.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

BATCH_ROWS = 1_000_000
QUERIES = 1_000
WARMUP = 200
SEED = 7
KINDS = ("kw_category_relevance", "kw_category_sales", "browse_commission", "price_commission_kw")


def _shards(work: Path, products: int) -> list[Path]:
    """Parquet shards of the pool, made once per (seed, size) and reused by later runs."""
    from zhibo.sim.pool import pool_batch, vocabulary

    folder = work / f"pool-{SEED}-{products}"
    done = folder / "done.json"
    count = (products + BATCH_ROWS - 1) // BATCH_ROWS
    paths = [folder / f"part-{i:05d}.parquet" for i in range(count)]
    if done.exists():
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    vocab = vocabulary(SEED)
    started = time.perf_counter()
    for i, path in enumerate(paths):
        if path.exists():
            continue
        table = pool_batch(vocab, SEED, i, BATCH_ROWS)
        rows = min(BATCH_ROWS, products - i * BATCH_ROWS)
        pq.write_table(table.slice(0, rows), path)
        if (i + 1) % 10 == 0:
            print(f"  generated {i + 1}/{count} shards ({time.perf_counter() - started:.0f} s)")
    done.write_text(json.dumps({"products": products, "seed": SEED}))
    return paths


def _build(index_dir: Path, shards: list[Path]) -> dict[str, float]:
    from zhibo.catalog.search.index import ProductIndex

    shutil.rmtree(index_dir, ignore_errors=True)
    cpu0 = time.process_time()
    started = time.perf_counter()
    index = ProductIndex.create(index_dir, heap_bytes=1_000_000_000, threads=1)
    docs = 0
    for i, shard in enumerate(shards):
        table = pq.read_table(shard)
        index.add_table(table)
        docs += table.num_rows
        if len(shards) >= 10 and (i + 1) % 10 == 0:
            rate = docs / (time.perf_counter() - started)
            print(f"  indexed {docs:,} ({rate:,.0f} docs/s)", flush=True)
    index.commit()
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu0
    size = sum(f.stat().st_size for f in index_dir.rglob("*") if f.is_file())
    return {
        "docs": docs,
        "wall_s": wall,
        "cpu_s": cpu,
        "docs_per_s": docs / wall,
        "docs_per_cpu_s": docs / cpu,
        "bytes": size,
        "bytes_per_product": size / docs,
        "build_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _query_plan(shards: list[Path], count: int, rng: random.Random) -> dict[str, list[dict]]:
    """Queries per kind, from products sampled in the pool (their words, categories, prices)."""
    from zhibo.catalog.search.analysis import tokens

    sample = pq.read_table(shards[rng.randrange(len(shards))]).to_pylist()
    picks = [sample[rng.randrange(len(sample))] for _ in range(count)]
    plan: dict[str, list[dict]] = {kind: [] for kind in KINDS}
    for row in picks:
        words = [w for w in tokens(row["title"]) if len(w) >= 2 and not w.isdigit()]
        words = [w for w in words if w not in tokens(row["brand"])] or words
        chosen = words[rng.randrange(len(words))] if words else row["brand"]
        query = chosen
        if len(words) > 1 and rng.random() < 0.5:
            other = words[rng.randrange(len(words))]
            if other != chosen:
                query = f"{chosen} {other}"
        category = row["category_ids"][0 if rng.random() < 0.5 else -1]
        plan["kw_category_relevance"].append(
            {"query": query, "category_id": category, "sort": "relevance"}
        )
        plan["kw_category_sales"].append({"query": query, "category_id": category, "sort": "sales"})
        plan["browse_commission"].append({"category_id": category, "sort": "commission"})
        price = row["price_fen"]
        plan["price_commission_kw"].append(
            {
                "query": chosen,
                "min_price_fen": price // 2,
                "max_price_fen": price * 2,
                "min_commission_bp": max(0, row["commission_rate_bp"] - 500),
                "sort": "relevance",
            }
        )
    return plan


def _run_queries(index_dir: str, plan: dict[str, list[dict]]) -> dict[str, Any]:
    """In a fresh process: latency per kind, one query at a time."""
    from zhibo.catalog.search.index import ProductIndex
    from zhibo.catalog.search.schemas import SearchRequest

    index = ProductIndex.open(Path(index_dir))
    out: dict[str, Any] = {}
    for kind, queries in plan.items():
        requests = [SearchRequest(limit=20, **q) for q in queries]
        for request in requests[:WARMUP]:
            index.search(request)
        times, hits = [], []
        for request in requests[WARMUP:]:
            started = time.perf_counter()
            result = index.search(request)
            times.append(time.perf_counter() - started)
            hits.append(len(result.hits))
        times.sort()
        out[kind] = {
            "p50_ms": 1000 * times[len(times) // 2],
            "p99_ms": 1000 * times[min(len(times) - 1, int(len(times) * 0.99))],
            "max_ms": 1000 * times[-1],
            "mean_hits": statistics.fmean(hits),
        }
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(("VmHWM", "VmRSS")):
                out[line.split(":")[0]] = line.split(":")[1].strip()
    return out


def _worker(index_dir: str, requests: list[dict], seconds: float, results: Any) -> None:
    from zhibo.catalog.search.index import ProductIndex
    from zhibo.catalog.search.schemas import SearchRequest

    index = ProductIndex.open(Path(index_dir))
    parsed = [SearchRequest(limit=20, **q) for q in requests]
    for request in parsed[:100]:
        index.search(request)
    done = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        index.search(parsed[done % len(parsed)])
        done += 1
    results.put(done / seconds)


def _throughput(index_dir: Path, plan: dict[str, list[dict]], processes: int) -> float:
    mixed = [q for kind in KINDS for q in plan[kind]]
    random.Random(1).shuffle(mixed)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [
        context.Process(target=_worker, args=(str(index_dir), mixed, 10.0, results))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    rates = [results.get() for _ in workers]
    for worker in workers:
        worker.join()
    return sum(rates)


def _baseline(shards: list[Path], plan: dict[str, list[dict]], per_kind: int) -> dict[str, float]:
    """The same queries without an index: a Polars scan of every shard (median ms per kind)."""
    import polars as pl

    from zhibo.catalog.search.analysis import tokens

    lazy = pl.scan_parquet([str(s) for s in shards])
    sort_column = {"relevance": None, "sales": "sales_30d", "commission": "commission_rate_bp"}
    out: dict[str, float] = {}
    for kind, queries in plan.items():
        times = []
        for q in queries[:per_kind]:
            frame = lazy
            text = pl.concat_str(
                [pl.col("brand"), pl.col("title"), pl.col("description")], separator=" "
            )
            for word in tokens(q.get("query", ""), query=True):
                frame = frame.filter(text.str.to_lowercase().str.contains(word, literal=True))
            if "category_id" in q:
                frame = frame.filter(pl.col("category_ids").list.contains(q["category_id"]))
            if "min_price_fen" in q:
                frame = frame.filter(
                    pl.col("price_fen").is_between(q["min_price_fen"], q["max_price_fen"])
                )
            if "min_commission_bp" in q:
                frame = frame.filter(pl.col("commission_rate_bp") >= q["min_commission_bp"])
            column = sort_column[q["sort"]]
            if column:
                frame = frame.sort([column, "id"], descending=[True, False])
            started = time.perf_counter()
            frame.select("id").head(20).collect()
            times.append(time.perf_counter() - started)
        out[kind] = 1000 * statistics.median(times)
    return out


def run(
    products: int,
    work: Path,
    keep: bool = False,
    baseline_queries: int = 5,
    reuse_index: bool = False,
) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    print(f"pool of {products:,} products in {work}", flush=True)
    shards = _shards(work, products)
    index_dir = work / f"index-{products}"
    figures_file = work / f"figures-{products}.json"
    if reuse_index and index_dir.exists() and figures_file.exists():
        # Queries only (e.g. after a planner change): the build figures of the run that made it.
        build = json.loads(figures_file.read_text())["build"]
        keep = True
    else:
        build = _build(index_dir, shards)
    print(
        f"build: {build['docs']:,} docs in {build['wall_s']:.1f} s = {build['docs_per_s']:,.0f} "
        f"docs/s wall, {build['docs_per_cpu_s']:,.0f} docs per CPU-second (1 indexing thread); "
        f"{build['bytes_per_product']:.1f} bytes/product; "
        f"peak RSS {build['build_peak_rss_mb']:,.0f} MB",
        flush=True,
    )
    rng = random.Random(SEED)
    plan = _query_plan(shards, WARMUP + QUERIES, rng)
    plan_file = work / "plan.json"
    plan_file.write_text(json.dumps(plan))
    # A fresh process, so its memory figures are the searcher's alone.
    probe = subprocess.run(
        [sys.executable, "-m", "bench.catalog_search", "--latency", str(index_dir), str(plan_file)],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    latency = json.loads(probe.stdout.strip().splitlines()[-1])
    for kind in KINDS:
        figures = latency[kind]
        print(
            f"{kind:<24} p50 {figures['p50_ms']:7.2f} ms  p99 {figures['p99_ms']:7.2f} ms  "
            f"max {figures['max_ms']:7.1f} ms  mean hits {figures['mean_hits']:.1f}"
        )
    print(f"query process memory: peak {latency.get('VmHWM')}, now {latency.get('VmRSS')}")
    qps1 = _throughput(index_dir, plan, 1)
    qps2 = _throughput(index_dir, plan, 2)
    print(f"mixed queries/s: 1 process {qps1:,.0f}, 2 processes {qps2:,.0f}", flush=True)
    base = _baseline(shards, plan, baseline_queries)
    for kind in KINDS:
        ratio = base[kind] / latency[kind]["p50_ms"]
        print(
            f"baseline (Polars scan, median of {baseline_queries}) {kind:<24} "
            f"{base[kind]:9.1f} ms = {ratio:,.0f}x the index's p50"
        )
    if not keep:
        shutil.rmtree(index_dir, ignore_errors=True)
    return {"build": build, "latency": latency, "qps": [qps1, qps2], "baseline_ms": base}


def main() -> None:
    """`make bench`: the quick 1M run in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="zhibo-pool-") as tmp:
        run(1_000_000, Path(tmp), baseline_queries=5)


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--products", type=int, default=1_000_000)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "zhibo-pool")
    parser.add_argument("--keep", action="store_true", help="Keep the index afterwards")
    parser.add_argument(
        "--reuse-index",
        action="store_true",
        help="Query the index a previous --keep run left (its build figures are reported)",
    )
    parser.add_argument("--baseline-queries", type=int, default=5)
    parser.add_argument("--latency", nargs=2, metavar=("INDEX", "PLAN"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.latency:
        plan = json.loads(Path(args.latency[1]).read_text())
        print(json.dumps(_run_queries(args.latency[0], plan)))
        return
    figures = run(
        args.products, args.work, args.keep, args.baseline_queries, reuse_index=args.reuse_index
    )
    (args.work / f"figures-{args.products}.json").write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    os.environ.setdefault("POLARS_MAX_THREADS", "1")
    cli()
