"""Brands publish products into the pool: import files (CSV, JSON lines, Parquet) and API
batches of canonical product rows, upserted by (brand, the brand's own product id), with a
reject report naming the row, field and reason of every refused row.

``readers`` streams rows out of files, ``rows`` validates one row, ``service`` resolves brands
and categories and upserts a chunk of rows with set-based SQL, ``report`` writes the reject
report and ``job`` runs a whole file, one transaction per chunk.
"""
