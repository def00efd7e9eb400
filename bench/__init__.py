"""Benchmarks side by side with peers: ``python -m bench`` (see bench/__main__.py).

Benchmarks print figures; they never assert timings.
"""
