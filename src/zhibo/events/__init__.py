"""Viewer events: the canonical event schema, ingestion (HTTP batches, files, the bus) with
validation, IP hashing, dead letters and deduplication by ``event_id``; the pipeline that turns
accepted batches into exact per-room metrics (per minute and per session), the Parquet event
lake that other domains read, and the hook through which the risk engine sees every batch.
Everything works on Arrow batches and NumPy/Polars columns, never on one event at a time.
"""
