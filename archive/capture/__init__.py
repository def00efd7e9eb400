"""One capture from fetched exchange to committed record: prepare, record, manifest,
the in-process scheduler and the worker processes that run it in parallel.
"""
