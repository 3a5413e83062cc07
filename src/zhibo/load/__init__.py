"""Bulk loading of platform files (the simulator's Parquet output) into the database.

Loads are idempotent: rows keep their ids from the files and rows already present are left
as they are, so loading the same directory twice changes nothing.
"""
